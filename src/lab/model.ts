/**
 * The lab model: a lab after parameters are substituted, the schema and the semantic rules have
 * passed, and every default is applied. The compiler only ever sees this shape.
 */
import type {LabTest, NicBackendKind} from './schema.js'

export type ParamValue = string | number | boolean

export interface HugepagesModel {
  size: '2M' | '1G'
  /** Page size in KiB (2048 or 1048576). */
  sizeKiB: number
  count: number
  node: number | undefined
  /** Where hugetlbfs is (or will be) mounted. */
  mount: string
}

export interface HostModel {
  hugepages: HugepagesModel | undefined
  modules: string[]
  devices: string[]
  iommu: 'required' | 'optional'
  isolation: 'netns' | 'host'
}

export interface DpdkModel {
  socketMem: string
  lcoreMask: string | undefined
  pmdCpuMask: string | undefined
  perPortMemory: boolean
  extraArgs: string[]
  hugepageDir: string | undefined
}

export interface SwitchModel {
  name: string
  type: 'linux-bridge' | 'ovs'
  /** OVS only. */
  datapath: 'system' | 'netdev'
  /** OVS only: which ovsdb-server/ovs-vswitchd to use. */
  ovs: 'auto' | 'system' | 'private'
  dpdk: DpdkModel | undefined
  address: string | undefined
  uplink: string | undefined
  physicalPorts: {name: string; pci: string; nRxq: number | undefined}[]
}

export interface VfModel {
  index: number
  mac: string | undefined
  vlan: {id: number; qos: number | undefined; proto: '802.1Q' | '802.1ad' | undefined} | undefined
  spoofchk: boolean | undefined
  trust: boolean | undefined
  state: 'auto' | 'enable' | 'disable' | undefined
  minTxRate: number | undefined
  maxTxRate: number | undefined
  driver: 'vfio-pci' | 'host'
  switch: string | undefined
}

export interface SriovModel {
  name: string
  /** As written: a netdev name or a PCI address. */
  pf: string
  vfs: number
  driversAutoprobe: boolean
  eswitchMode: 'legacy' | 'switchdev'
  /** One entry per configured VF, sorted by index. */
  vf: VfModel[]
}

export interface VdpaModel {
  name: string
  mgmtdev: string
  mac: string | undefined
  maxVqp: number | undefined
  mtu: number | undefined
  driver: 'vhost_vdpa' | 'virtio_vdpa'
  address: string | undefined
}

export interface NicModel {
  /** Position in the VM's nics list. */
  index: number
  backend: NicBackendKind
  switch: string | undefined
  /** Always set: given in the lab or derived from the lab, VM and NIC index. */
  mac: string
  address: string | undefined
  queues: number
  rxQueueSize: number | undefined
  txQueueSize: number | undefined
  vhostUserQemuMode: 'server' | 'client'
  sriov: {pf: string; vf: number; attach: 'interface' | 'hostdev'} | undefined
  vdpa: {device: string} | undefined
  guestDriver: 'virtio-net' | 'virtio-pmd'
}

export type ImageModel = {type: 'builtin'} | {type: 'cloud'; path: string; user: string}

export interface VmModel {
  name: string
  image: ImageModel
  vcpus: number
  memoryMiB: number
  memoryBacking: 'default' | 'memfd' | 'hugepages'
  cpuset: string | undefined
  numaNode: number | undefined
  accel: 'auto' | 'kvm' | 'tcg'
  machine: 'q35' | 'pc'
  nics: NicModel[]
}

export type TestModel = Required<Omit<LabTest, 'sizes' | 'bitrate'>> & {sizes: number[]; bitrate: string | undefined}

export interface LabModel {
  name: string
  description: string
  reference: string | undefined
  /** The lab file it came from. */
  file: string
  /** Effective parameter values (defaults overridden by --set). */
  params: Record<string, ParamValue>
  host: HostModel
  switches: SwitchModel[]
  sriov: SriovModel[]
  vdpa: VdpaModel[]
  vms: VmModel[]
  tests: TestModel[]
}
