/**
 * What the planner needs to know about the host. Gathered once by probing (doctor), passed into
 * the pure buildPlan. ASSUMED_FACTS stands in when nothing was probed (render, tests).
 */
export interface HostFacts {
  /** Was this gathered from a real host (false: assumed)? */
  probed: boolean
  root: boolean
  /** usable: KVM boots guests at hardware speed; unusable: /dev/kvm exists but is slower than TCG. */
  kvm: 'usable' | 'unusable' | 'absent'
  vhostNet: boolean
  tun: boolean
  ovs: {installed: boolean; systemRunning: boolean; dpdkBinary: string | undefined}
  libvirt: {installed: boolean; reachable: boolean}
  /** Hugepages per page size in KiB ('2048', '1048576'). */
  hugepages: Record<string, {total: number; free: number}>
  hugetlbfsMounts: {path: string; pagesizeKiB: number}[]
  // ---- optional details filled by gatherFacts (src/host/probe.ts); absent in ASSUMED_FACTS ----
  /** /proc/sys/kernel/osrelease. */
  kernelRelease?: string | undefined
  /** QEMU version number ("7.2.22"), undefined when qemu-system-x86_64 is missing. */
  qemuVersion?: string | undefined
  /** How `kvm` was decided (the measured probe, src/host/kvm-probe.ts); measured: false when no measurement exists (a dry run uses only the cache). */
  kvmProbe?: {reason: string; cached: boolean; measured?: boolean; kvmMs?: number | undefined; tcgMs?: number | undefined} | undefined
  /** Hugepages per NUMA node ('0') and page size in KiB ('2048'). */
  hugepagesByNode?: Record<string, Record<string, {total: number; free: number}>>
  /** Entries in /sys/kernel/iommu_groups (0: no IOMMU). */
  iommuGroups?: number
  /** Does /sys/bus/vdpa exist? */
  vdpaBus?: boolean
}

export const ASSUMED_FACTS: HostFacts = {
  probed: false,
  root: true,
  kvm: 'absent',
  vhostNet: true,
  tun: true,
  ovs: {installed: true, systemRunning: false, dpdkBinary: '/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk'},
  libvirt: {installed: true, reachable: true},
  hugepages: {'2048': {total: 0, free: 0}},
  hugetlbfsMounts: [{path: '/dev/hugepages', pagesizeKiB: 2048}],
}
