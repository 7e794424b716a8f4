/**
 * A NIC backend: how one virtio-networking architecture reaches a guest. Each backend is one file
 * in this folder and says, for one NIC: what the host needs first (taps, OVS ports), its libvirt
 * <interface>/<hostdev>, and its QEMU -netdev/-device arguments. Adding a backend means adding a
 * file here, an entry in index.ts, and the name in the schema's NicBackendName enum.
 */
import type {NicBackendKind} from '../lab/schema.js'
import type {Step} from '../plan/step.js'
import type {NicSite} from '../compile/context.js'
import type {XmlElement} from '../compile/xml.js'

export interface NicBackend {
  readonly kind: NicBackendKind
  /** One line for plan notes and docs. */
  readonly description: string
  /** Guest memory must be shared with another process (vhost-user): memfd or hugepages. */
  readonly sharedMemory: boolean
  /** The device pins guest memory (vfio, vhost-vdpa): QEMU needs RLIMIT_MEMLOCK raised. */
  readonly locksMemory: boolean
  /**
   * Validate the NIC against the rest of the lab and the options; record degraded labels and
   * waived host requirements in site.env. Throws a VirtlabError for a lab this backend cannot run.
   */
  prepare(site: NicSite): void
  /** The MAC the guest will see when the backend's device fixes it (a VF's or vDPA device's MAC). */
  guestMac?(site: NicSite): string | undefined
  /** Host steps this NIC needs before its VM starts (phase 'switch' or 'host'). */
  hostSteps(site: NicSite): Step[]
  /** libvirt: the elements this NIC adds under <devices>. */
  domainDevices(site: NicSite): XmlElement[]
  /** libvirt: extra QEMU arguments (<qemu:commandline>) this NIC needs; deduplicated per domain. */
  domainQemuArgs(site: NicSite): string[][]
  /** QEMU: the arguments this NIC adds to the command line. */
  qemuArgs(site: NicSite): string[]
}

/** The QEMU ids of a NIC's netdev and chardev. */
export function netdevId(site: NicSite): string {
  return `n${site.nic.index}`
}
