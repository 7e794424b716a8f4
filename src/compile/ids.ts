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

/** 4 hex characters that identify a lab inside 15-byte interface names. */
export function labTag(lab: string): string {
  return sha256(`lab:${lab}`).slice(0, 4)
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
