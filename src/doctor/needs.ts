/**
 * What a lab needs from the host, derived from its LabModel: which checks apply and which of them
 * are hard requirements. Without a lab every check applies; then only what every lab needs is
 * required, and hardware features are optional (reported as "unavailable here", not failures).
 */
import type {HugepagesModel, LabModel, SriovModel, VmModel} from '../lab/model.js'
import {moduleSysName} from '../host/probe.js'

export type Need = 'required' | 'optional'

export interface LabNeeds {
  /** undefined: no lab given (all checks). */
  lab: string | undefined
  kvm: Need
  tun: Need | undefined
  vhostNet: Need | undefined
  /** Hugepages the lab needs (undefined with 'optional': just report). */
  hugepages: {need: Need; want: HugepagesModel | undefined} | undefined
  sharedMemoryVms: VmModel[]
  iommu: Need | undefined
  vfio: Need | undefined
  sriov: SriovModel[]
  /** No lab: scan for any SR-IOV PF. */
  sriovScan: boolean
  vdpa: Need | undefined
  vdpaMgmtdevs: string[]
  /** Modules without a dedicated check ('-' kept as written). */
  modules: {name: string; need: Need}[]
  devices: {path: string; need: Need}[]
  ovsTools: Need | undefined
  ovsSystem: Need | undefined
  ovsKernelDatapath: Need | undefined
  ovsDpdk: Need | undefined
  qemuDevices: {name: string; need: Need}[]
  qemuNetdevs: {name: string; need: Need}[]
  libvirt: Need
  xmlValidate: Need | undefined
  iperf3: Need | undefined
  guestTools: Need | undefined
}

/** Modules and devices that have a dedicated check (which reports them with a better message). */
const COVERED_MODULES: Record<string, string> = {vhost_net: 'vhost-net', tun: 'tun', vfio_pci: 'vfio-pci', vfio: 'vfio-pci', vdpa: 'vdpa-bus', openvswitch: 'ovs-kernel-datapath'}
const COVERED_DEVICES: Record<string, string> = {'/dev/vhost-net': 'vhost-net', '/dev/net/tun': 'tun', '/dev/vfio/vfio': 'vfio-pci'}

export function allNeeds(): LabNeeds {
  return {
    lab: undefined,
    kvm: 'optional',
    tun: 'required',
    vhostNet: 'optional',
    hugepages: {need: 'optional', want: undefined},
    sharedMemoryVms: [],
    iommu: 'optional',
    vfio: 'optional',
    sriov: [],
    sriovScan: true,
    vdpa: 'optional',
    vdpaMgmtdevs: [],
    modules: [{name: 'vhost_vdpa', need: 'optional'}],
    devices: [],
    ovsTools: 'optional',
    ovsSystem: 'optional',
    ovsKernelDatapath: 'optional',
    ovsDpdk: 'optional',
    qemuDevices: [{name: 'virtio-net-pci', need: 'required'}, {name: 'vfio-pci', need: 'optional'}],
    qemuNetdevs: [{name: 'tap', need: 'required'}, {name: 'vhost-user', need: 'optional'}, {name: 'vhost-vdpa', need: 'optional'}],
    libvirt: 'optional',
    xmlValidate: 'optional',
    iperf3: 'required',
    guestTools: 'required',
  }
}

/** MiB in a DPDK socket-mem list ("512" or "512,512"). */
function socketMemMiB(text: string): number {
  return text.split(',').reduce((sum, part) => sum + (Number.parseInt(part, 10) || 0), 0)
}

export function labNeeds(model: LabModel, driver: 'libvirt' | 'qemu' | undefined): LabNeeds {
  const nics = model.vms.flatMap((vm) => vm.nics)
  const backends = new Set(nics.map((n) => n.backend))
  const modules = model.host.modules.map(moduleSysName)
  const devices = model.host.devices
  const ovsSwitches = model.switches.filter((s) => s.type === 'ovs')
  const dpdk = ovsSwitches.some((s) => s.dpdk !== undefined) || backends.has('vhost-user')
  const hugepageVms = model.vms.filter((vm) => vm.memoryBacking === 'hugepages')
  const physicalPorts = model.switches.some((s) => s.physicalPorts.length > 0)
  const vfioVfs = model.sriov.some((pf) => pf.vf.some((vf) => vf.driver === 'vfio-pci'))

  let hugepages: LabNeeds['hugepages']
  if (model.host.hugepages !== undefined) {
    hugepages = {need: 'required', want: model.host.hugepages}
  } else if (dpdk || hugepageVms.length > 0) {
    // DPDK's socket memory (or hugepage-backed guests) come from 2 MiB pages when the lab names none.
    const socketMem = Math.max(0, ...ovsSwitches.map((s) => (s.dpdk ? socketMemMiB(s.dpdk.socketMem) : 0)))
    const vmMem = hugepageVms.reduce((sum, vm) => sum + vm.memoryMiB, 0)
    const count = Math.max(1, Math.ceil((socketMem + vmMem) / 2))
    hugepages = {need: 'required', want: {size: '2M', sizeKiB: 2048, count, node: undefined, mount: '/dev/hugepages'}}
  }

  const need = (cond: boolean): Need | undefined => (cond ? 'required' : undefined)
  const qemuDevices: LabNeeds['qemuDevices'] = []
  if (nics.some((n) => n.backend !== 'sriov-vf')) qemuDevices.push({name: 'virtio-net-pci', need: 'required'})
  if (backends.has('sriov-vf')) qemuDevices.push({name: 'vfio-pci', need: 'required'})
  const qemuNetdevs: LabNeeds['qemuNetdevs'] = []
  if (backends.has('virtio-qemu') || backends.has('vhost-net')) qemuNetdevs.push({name: 'tap', need: 'required'})
  if (backends.has('vhost-user')) qemuNetdevs.push({name: 'vhost-user', need: 'required'})
  if (backends.has('vdpa')) qemuNetdevs.push({name: 'vhost-vdpa', need: 'required'})

  const extraModules = new Set(modules.filter((m) => COVERED_MODULES[m] === undefined))
  for (const dev of model.vdpa) extraModules.add(dev.driver)
  const anyOvsSystem = ovsSwitches.some((s) => s.ovs === 'system')
  const anyOvsAuto = ovsSwitches.some((s) => s.ovs === 'auto')

  return {
    lab: model.name,
    kvm: model.vms.some((vm) => vm.accel === 'kvm') ? 'required' : 'optional',
    tun: need(backends.has('virtio-qemu') || backends.has('vhost-net') || modules.includes('tun') || devices.includes('/dev/net/tun')),
    vhostNet: need(backends.has('vhost-net') || modules.includes('vhost_net') || devices.includes('/dev/vhost-net')),
    hugepages,
    sharedMemoryVms: model.vms.filter((vm) => vm.nics.some((n) => n.backend === 'vhost-user')),
    iommu: need(backends.has('sriov-vf') || model.host.iommu === 'required' || vfioVfs || physicalPorts),
    vfio: need(backends.has('sriov-vf') || vfioVfs || physicalPorts || modules.includes('vfio_pci') || modules.includes('vfio') || devices.includes('/dev/vfio/vfio')),
    sriov: model.sriov,
    sriovScan: false,
    vdpa: need(model.vdpa.length > 0 || backends.has('vdpa') || modules.includes('vdpa')),
    vdpaMgmtdevs: [...new Set(model.vdpa.map((d) => d.mgmtdev))],
    modules: [...extraModules].map((name) => ({name, need: 'required' as const})),
    devices: devices.filter((p) => COVERED_DEVICES[p] === undefined).map((path) => ({path, need: 'required' as const})),
    ovsTools: need(ovsSwitches.length > 0),
    ovsSystem: anyOvsSystem ? 'required' : anyOvsAuto ? 'optional' : undefined,
    ovsKernelDatapath: need(ovsSwitches.some((s) => s.datapath === 'system') || modules.includes('openvswitch')),
    ovsDpdk: need(dpdk),
    qemuDevices,
    qemuNetdevs,
    libvirt: driver === 'libvirt' ? 'required' : 'optional',
    xmlValidate: driver === 'qemu' ? undefined : 'optional',
    iperf3: need(model.tests.length > 0),
    guestTools: need(model.vms.some((vm) => vm.image.type === 'builtin')),
  }
}
