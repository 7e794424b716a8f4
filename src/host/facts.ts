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
