/**
 * Defaults: a validated Lab becomes the LabModel the compiler sees. Every optional field gets its
 * value here, in one place; nothing downstream guesses a default.
 */
import {deriveMac} from '../compile/ids.js'
import type {DpdkModel, HostModel, ImageModel, LabModel, NicModel, ParamValue, SriovModel, SwitchModel, TestModel, VdpaModel, VmModel} from './model.js'
import type {Lab, LabNic, LabSwitch, LabTest, LabVm} from './schema.js'
import {memoryMiB, normalizeMac} from './units.js'

export const DEFAULT_MEMORY = '512M'
/** The user cloud images get when the lab does not name one. */
export const DEFAULT_CLOUD_USER = 'virtlab'

export function hugepageMount(size: '2M' | '1G'): string {
  return size === '1G' ? '/dev/hugepages1G' : '/dev/hugepages'
}

export function dpdkDefaults(): DpdkModel {
  return {socketMem: '512', lcoreMask: undefined, pmdCpuMask: undefined, perPortMemory: true, extraArgs: [], hugepageDir: undefined}
}

function hostModel(lab: Lab): HostModel {
  const host = lab.host ?? {}
  const hp = host.hugepages
  return {
    hugepages: hp === undefined ? undefined : {
      size: hp.size ?? '2M',
      sizeKiB: hp.size === '1G' ? 1024 * 1024 : 2048,
      count: hp.count,
      node: hp.node,
      mount: hp.mount ?? hugepageMount(hp.size ?? '2M'),
    },
    modules: [...(host.modules ?? [])],
    devices: [...(host.devices ?? [])],
    iommu: host.iommu ?? 'optional',
    isolation: host.isolation ?? 'netns',
  }
}

function switchModel(sw: LabSwitch): SwitchModel {
  const datapath = sw.datapath ?? 'system'
  const isDpdk = sw.type === 'ovs' && datapath === 'netdev'
  const dpdk = sw.dpdk
  return {
    name: sw.name,
    type: sw.type,
    datapath,
    ovs: sw.ovs ?? 'auto',
    dpdk: isDpdk ? {
      ...dpdkDefaults(),
      ...(dpdk?.socketMem === undefined ? {} : {socketMem: dpdk.socketMem}),
      lcoreMask: dpdk?.lcoreMask,
      pmdCpuMask: dpdk?.pmdCpuMask,
      perPortMemory: dpdk?.perPortMemory ?? true,
      extraArgs: [...(dpdk?.extraArgs ?? [])],
      hugepageDir: dpdk?.hugepageDir,
    } : undefined,
    address: sw.address,
    uplink: sw.uplink,
    physicalPorts: (sw.physicalPorts ?? []).map((p) => ({name: p.name, pci: p.pci, nRxq: p.nRxq})),
  }
}

function sriovModel(pf: NonNullable<Lab['sriov']>[number]): SriovModel {
  return {
    name: pf.name,
    pf: pf.pf,
    vfs: pf.vfs,
    driversAutoprobe: pf.driversAutoprobe ?? false,
    eswitchMode: pf.eswitchMode ?? 'legacy',
    vf: [...(pf.vf ?? [])].sort((a, b) => a.index - b.index).map((vf) => ({
      index: vf.index,
      mac: vf.mac === undefined ? undefined : normalizeMac(vf.mac),
      vlan: vf.vlan === undefined ? undefined : {id: vf.vlan.id, qos: vf.vlan.qos, proto: vf.vlan.proto},
      spoofchk: vf.spoofchk,
      trust: vf.trust,
      state: vf.state,
      minTxRate: vf.minTxRate,
      maxTxRate: vf.maxTxRate,
      driver: vf.driver ?? 'vfio-pci',
      switch: vf.switch,
    })),
  }
}

function vdpaModel(device: NonNullable<Lab['vdpa']>[number]): VdpaModel {
  return {
    name: device.name,
    mgmtdev: device.mgmtdev,
    mac: device.mac === undefined ? undefined : normalizeMac(device.mac),
    maxVqp: device.maxVqp,
    mtu: device.mtu,
    driver: device.driver ?? 'vhost_vdpa',
    address: device.address,
  }
}

function nicModel(lab: Lab, vm: LabVm, nic: LabNic, index: number): NicModel {
  return {
    index,
    backend: nic.backend,
    switch: nic.switch,
    mac: nic.mac === undefined ? deriveMac(lab.name, vm.name, index) : normalizeMac(nic.mac),
    address: nic.address,
    queues: nic.queues ?? 1,
    rxQueueSize: nic.rxQueueSize,
    txQueueSize: nic.txQueueSize,
    vhostUserQemuMode: nic.vhostUser?.qemuMode ?? 'server',
    sriov: nic.sriov === undefined ? undefined : {pf: nic.sriov.pf, vf: nic.sriov.vf, attach: nic.sriov.attach ?? 'interface'},
    vdpa: nic.vdpa === undefined ? undefined : {device: nic.vdpa.device},
    guestDriver: nic.guestDriver ?? 'virtio-net',
  }
}

function imageModel(vm: LabVm): ImageModel {
  const image = vm.image
  if (image === undefined || image.type === 'builtin') return {type: 'builtin'}
  return {type: 'cloud', path: image.path, user: image.user ?? DEFAULT_CLOUD_USER}
}

function vmModel(lab: Lab, vm: LabVm): VmModel {
  const hasVhostUser = vm.nics.some((n) => n.backend === 'vhost-user')
  const memory = vm.memory ?? DEFAULT_MEMORY
  const mib = memoryMiB(memory)
  if (mib === undefined) throw new Error(`internal: memory ${memory} passed validation but does not parse`)
  return {
    name: vm.name,
    image: imageModel(vm),
    vcpus: vm.vcpus ?? 1,
    memoryMiB: mib,
    memoryBacking: vm.memoryBacking ?? (hasVhostUser ? 'memfd' : 'default'),
    cpuset: vm.cpuset,
    numaNode: vm.numaNode,
    accel: vm.accel ?? 'auto',
    machine: vm.machine ?? 'q35',
    nics: vm.nics.map((nic, index) => nicModel(lab, vm, nic, index)),
  }
}

function testModel(test: LabTest): TestModel {
  return {
    name: test.name,
    tool: test.tool ?? 'iperf3',
    client: test.client,
    server: test.server,
    protocol: test.protocol ?? 'tcp',
    direction: test.direction ?? 'tx',
    duration: test.duration ?? 10,
    warmup: test.warmup ?? 1,
    streams: test.streams ?? 1,
    trials: test.trials ?? 3,
    sizes: [...(test.sizes ?? [])],
    bitrate: test.bitrate,
  }
}

/** Apply every default. The lab must have passed the schema and the semantic rules. */
export function buildModel(lab: Lab, file: string, params: Record<string, ParamValue>): LabModel {
  return {
    name: lab.name,
    description: lab.description,
    reference: lab.reference,
    file,
    params,
    host: hostModel(lab),
    switches: (lab.switches ?? []).map(switchModel),
    sriov: (lab.sriov ?? []).map(sriovModel),
    vdpa: (lab.vdpa ?? []).map(vdpaModel),
    vms: lab.vms.map((vm) => vmModel(lab, vm)),
    tests: (lab.tests ?? []).map(testModel),
  }
}
