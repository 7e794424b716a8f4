/**
 * Deterministic names and identifiers. No clock, no randomness: the same lab always yields the
 * same MACs, UUIDs and interface names, so compiled artifacts can be golden-tested and `up` can
 * find what an earlier `up` created.
 */
import {sha256} from '../util/hash.js'

/** Prefix of every interface, namespace and bridge virtlab creates ("find by tag"). */
export const NAME_PREFIX = 'vl'

/** The network namespace a lab owns: vl-<lab>. */
export function netnsName(lab: string): string {
  return `${NAME_PREFIX}-${lab}`
}

/** Linux's IFNAMSIZ: an interface name is at most IFNAMSIZ - 1 = 15 bytes. */
export const IFNAMSIZ = 16
/** The schema's bounds on indexes that appear in derived link names (src/lab/schema.ts maxItems). */
export const MAX_VMS = 64
export const MAX_NICS_PER_VM = 8
export const MAX_SWITCHES = 16

/** The longest suffix after the tag: t<vm>n<nic> / u<vm>n<nic> (taps, vhost-user ports), h<switch> (veths). */
const LONGEST_SUFFIX = Math.max(
  `t${MAX_VMS - 1}n${MAX_NICS_PER_VM - 1}`.length,
  `u${MAX_VMS - 1}n${MAX_NICS_PER_VM - 1}`.length,
  `h${MAX_SWITCHES - 1}`.length,
)

/**
 * Characters of the lab tag: whatever the longest derived name leaves of the 15 bytes
 * (15 - "vl" - "t63n7" = 8 characters of base32, 40 bits: two labs share a tag with probability
 * about n^2 / 2^41; `up` refuses a lab whose names collide with a lab already up anyway).
 */
export const LAB_TAG_LENGTH = IFNAMSIZ - 1 - NAME_PREFIX.length - LONGEST_SUFFIX

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

/** LAB_TAG_LENGTH base32 characters (a-z, 2-7) that identify a lab inside 15-byte interface names. */
export function labTag(lab: string): string {
  const digest = sha256(`lab:${lab}`)
  let bits = 0n
  for (let i = 0; i < 16; i++) bits = (bits << 4n) | BigInt(Number.parseInt(digest[i] as string, 16))
  let out = ''
  for (let i = 0; i < LAB_TAG_LENGTH; i++) out += BASE32[Number((bits >> BigInt(59 - 5 * i)) & 31n)]
  return out
}

/**
 * The lab tag of a link name virtlab derives (tap, vhost-user port, host veth), or undefined for
 * any other name. `down --force` matches on this exact tag, never on a prefix.
 */
export function derivedLinkTag(name: string): string | undefined {
  const m = new RegExp(`^${NAME_PREFIX}([a-z2-7]{${LAB_TAG_LENGTH}})(?:[tu]\\d{1,2}n\\d{1,2}|h\\d{1,2})$`).exec(name)
  return m?.[1]
}

/** The tap of a VM's NIC: vl<tag>t<vm>n<nic>, at most 15 bytes. */
export function tapName(lab: string, vmIndex: number, nicIndex: number): string {
  return `${NAME_PREFIX}${labTag(lab)}t${vmIndex}n${nicIndex}`
}

/** The OVS vhost-user port of a VM's NIC. */
export function vhostUserPortName(lab: string, vmIndex: number, nicIndex: number): string {
  return `${NAME_PREFIX}${labTag(lab)}u${vmIndex}n${nicIndex}`
}

/** A locally administered unicast MAC in QEMU's 52:54:00 range derived from lab, VM and NIC. */
export function deriveMac(lab: string, vm: string, nicIndex: number): string {
  const h = sha256(`mac:${lab}:${vm}:${nicIndex}`)
  return `52:54:00:${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4, 6)}`
}

/** An RFC 4122 version-5-shaped UUID derived from lab and VM names. */
export function deriveUuid(lab: string, vm: string): string {
  const h = sha256(`uuid:${lab}:${vm}`)
  const variant = ((Number.parseInt(h.slice(16, 17), 16) & 0x3) | 0x8).toString(16)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`
}

/** The libvirt domain / QEMU -name of a VM: vl-<lab>-<vm>. */
export function domainName(lab: string, vm: string): string {
  return `${NAME_PREFIX}-${lab}-${vm}`
}

/** The bridge-side end of a switch's host veth (in the host namespace): vl<tag>h<switch>. */
export function hostVethName(lab: string, switchIndex: number): string {
  return `${NAME_PREFIX}${labTag(lab)}h${switchIndex}`
}

/** The lab's host-side endpoint of a switch, inside the lab's namespace: host<switch>. */
export function hostEndpointName(switchIndex: number): string {
  return `host${switchIndex}`
}

/**
 * The ifalias of a link virtlab created under a name the lab chose (a Linux bridge, an OVS netdev
 * bridge's tap): `down --force` finds it by this tag when the journal is gone.
 */
export function linkAliasTag(lab: string): string {
  return `virtlab-lab=${lab}`
}
