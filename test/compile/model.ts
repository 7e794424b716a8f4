/** Hand-built LabModels for compiler unit tests (every default spelled out, as src/lab/defaults.ts would). */
import type {CompileOptions} from '../../src/compile/artifacts.js'
import {deriveMac} from '../../src/compile/ids.js'
import type {LabModel, NicModel, SwitchModel, VmModel} from '../../src/lab/model.js'

export function nic(partial: Partial<NicModel> & Pick<NicModel, 'backend'>, lab = 'lab', vm = 'vm1', index = 0): NicModel {
  return {
    index,
    switch: undefined,
    mac: deriveMac(lab, vm, index),
    address: undefined,
    queues: 1,
    rxQueueSize: undefined,
    txQueueSize: undefined,
    vhostUserQemuMode: 'server',
    sriov: undefined,
    vdpa: undefined,
    guestDriver: 'virtio-net',
    ...partial,
  }
}

export function vm(name: string, nics: NicModel[], partial: Partial<VmModel> = {}): VmModel {
  return {
    name,
    image: {type: 'builtin'},
    vcpus: 1,
    memoryMiB: 512,
    memoryBacking: 'default',
    cpuset: undefined,
    numaNode: undefined,
    accel: 'auto',
    machine: 'q35',
    nics: nics.map((n, i) => ({...n, index: i})),
    ...partial,
  }
}

export function bridge(name: string, partial: Partial<SwitchModel> = {}): SwitchModel {
  return {name, type: 'linux-bridge', datapath: 'system', ovs: 'auto', dpdk: undefined, address: undefined, uplink: undefined, physicalPorts: [], ...partial}
}

export function ovsSwitch(name: string, partial: Partial<SwitchModel> = {}): SwitchModel {
  const netdev = (partial.datapath ?? 'netdev') === 'netdev'
  return {
    name,
    type: 'ovs',
    datapath: 'netdev',
    ovs: 'private',
    dpdk: netdev ? {socketMem: '512', lcoreMask: undefined, pmdCpuMask: '0x2', perPortMemory: true, extraArgs: [], hugepageDir: undefined} : undefined,
    address: undefined,
    uplink: undefined,
    physicalPorts: [],
    ...partial,
  }
}

export function lab(partial: Partial<LabModel> & Pick<LabModel, 'vms'>): LabModel {
  return {
    name: 'lab',
    description: 'test lab',
    reference: undefined,
    file: '/labs/lab.yaml',
    params: {},
    host: {hugepages: undefined, modules: [], devices: [], iommu: 'optional', isolation: 'netns'},
    switches: [],
    sriov: [],
    vdpa: [],
    tests: [],
    ...partial,
  }
}

export function options(partial: Partial<CompileOptions> = {}): CompileOptions {
  return {
    driver: 'libvirt',
    runDir: '/run/virtlab/lab',
    autoAccel: 'tcg',
    guest: {kernel: '/var/lib/virtlab/images/builtin/vmlinuz', initrd: '/var/lib/virtlab/images/builtin/initrd.gz'},
    allowDegraded: false,
    hostHasVhostNet: undefined,
    autoOvs: 'private',
    ...partial,
  }
}
