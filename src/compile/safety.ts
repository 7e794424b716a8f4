/**
 * Defence in depth: the compiler re-checks every lab value it places into an argv, an option
 * string, a host path or XML, with the schema's own shapes. Validation already refused anything
 * else; a model built by hand (tests, another front-end, a bug in validate) is refused here with
 * COMPILE_UNSAFE_VALUE before any artifact exists. No value that was not validated reaches QEMU,
 * OVS, sysfs or libvirt.
 */
import {VirtlabError} from '../errors.js'
import {checkEalArgs} from '../lab/eal.js'
import type {LabModel} from '../lab/model.js'
import {hugetlbfsMountProblem} from '../lab/rules.js'

const NAME = /^[a-z][a-z0-9-]{0,22}$/
const IFNAME = /^(?!\.{1,2}$)[A-Za-z0-9_.][A-Za-z0-9_.-]{0,14}$/
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/
const BDF = /^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/
const CIDR = /^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}\/([0-9]|[12][0-9]|3[0-2])$/
const CPU_LIST = /^[0-9]{1,4}(-[0-9]{1,4})?(,[0-9]{1,4}(-[0-9]{1,4})?)*$/
const HEX_MASK = /^0x[0-9a-fA-F]{1,64}$/
const SOCKET_MEM = /^[0-9]{1,6}(,[0-9]{1,6}){0,7}$/
const HOST_PATH = /^(?!.*\/\.{1,2}(\/|$))(?!.*\/\/)\/[A-Za-z0-9_./+@:-]{0,4095}$/
const DEVICE = /^\/dev\/(kvm|net\/tun|vhost-net|vhost-vsock|vhost-vdpa-[0-9]{1,4}|vfio\/vfio|vfio\/[0-9]{1,4}|vduse\/control|uio[0-9]{1,4})$/
const MODULE = /^[a-z0-9_-]{1,56}$/
const VDPA_NAME = /^[a-z][a-z0-9_-]{0,30}$/
const MGMTDEV = /^(vdpasim_net|vduse|(pci\/[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])|(auxiliary\/mlx5_core\.sf\.[0-9]{1,6}))$/
const USER = /^[a-z_][a-z0-9_-]{0,31}$/
// eslint-disable-next-line no-control-regex -- control characters are exactly what this looks for
const TEXT = /^[^\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069\ufffe\uffff]*$/

function unsafe(what: string, value: unknown): VirtlabError {
  const shown = typeof value === 'string' ? JSON.stringify(value.length > 80 ? `${value.slice(0, 76)}...` : value) : String(value)
  return new VirtlabError('COMPILE_UNSAFE_VALUE', `${what} ${shown} cannot be compiled: it is not a value the lab schema accepts`, {
    hint: 'Only models built by validate (virtlab validate <lab>) are compiled.',
  })
}

function pattern(what: string, value: string | undefined, re: RegExp): void {
  if (value === undefined) return
  if (typeof value !== 'string' || !re.test(value)) throw unsafe(what, value)
}

function integer(what: string, value: number | undefined, min: number, max: number): void {
  if (value === undefined) return
  if (!Number.isSafeInteger(value) || value < min || value > max) throw unsafe(what, value)
}

function oneOf<T extends string>(what: string, value: T | undefined, allowed: readonly T[]): void {
  if (value === undefined) return
  if (!allowed.includes(value)) throw unsafe(what, value)
}

/** A value placed into a QEMU option string (key=value,key=value): a "," would start a new option. */
export function assertQemuOptionValue(what: string, value: string): void {
  if (value.includes(',') || value.includes('\n') || value === '') throw unsafe(`${what} (a QEMU option value)`, value)
}

/** Every string of the model: no apply-time token syntax (tokens come from the compiler only). */
function noTokens(value: unknown, where: string): void {
  if (typeof value === 'string') {
    if (value.includes('@{')) throw unsafe(`${where} (contains "@{")`, value)
    return
  }
  if (Array.isArray(value)) value.forEach((v, i) => noTokens(v, `${where}[${i}]`))
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) noTokens(v, where === '' ? k : `${where}.${k}`)
}

export function assertModelSafe(lab: LabModel): void {
  noTokens({...lab, file: undefined, params: undefined}, '')
  pattern('lab name', lab.name, NAME)
  pattern('description', lab.description, TEXT)
  pattern('reference', lab.reference, TEXT)
  const h = lab.host
  oneOf('host.isolation', h.isolation, ['netns', 'host'])
  oneOf('host.iommu', h.iommu, ['required', 'optional'])
  for (const m of h.modules) pattern('module', m, MODULE)
  for (const d of h.devices) pattern('device', d, DEVICE)
  if (h.hugepages !== undefined) {
    oneOf('hugepage size', h.hugepages.size, ['2M', '1G'])
    integer('hugepage size in KiB', h.hugepages.sizeKiB, 2048, 1024 * 1024)
    integer('hugepage count', h.hugepages.count, 1, 65536)
    integer('hugepage NUMA node', h.hugepages.node, 0, 63)
    pattern('hugetlbfs mount', h.hugepages.mount, HOST_PATH)
    if (hugetlbfsMountProblem(h.hugepages.mount, lab.name) !== undefined) throw unsafe('hugetlbfs mount', h.hugepages.mount)
  }
  for (const sw of lab.switches) {
    pattern('switch name', sw.name, IFNAME)
    oneOf(`switch ${sw.name} type`, sw.type, ['linux-bridge', 'ovs'])
    oneOf(`switch ${sw.name} datapath`, sw.datapath, ['system', 'netdev'])
    oneOf(`switch ${sw.name} ovs`, sw.ovs, ['auto', 'system', 'private'])
    pattern(`switch ${sw.name} address`, sw.address, CIDR)
    pattern(`switch ${sw.name} uplink`, sw.uplink, IFNAME)
    for (const p of sw.physicalPorts) {
      pattern('physical port name', p.name, IFNAME)
      pattern('physical port PCI address', p.pci, BDF)
      integer('physical port nRxq', p.nRxq, 1, 64)
    }
    const d = sw.dpdk
    if (d !== undefined) {
      pattern('dpdk socketMem', d.socketMem, SOCKET_MEM)
      pattern('dpdk lcoreMask', d.lcoreMask, HEX_MASK)
      pattern('dpdk pmdCpuMask', d.pmdCpuMask, HEX_MASK)
      pattern('dpdk hugepageDir', d.hugepageDir, HOST_PATH)
      if (d.hugepageDir !== undefined && hugetlbfsMountProblem(d.hugepageDir, lab.name) !== undefined) throw unsafe('dpdk hugepageDir', d.hugepageDir)
      const eal = checkEalArgs(d.extraArgs)[0]
      if (eal !== undefined) throw unsafe(`EAL argument (${eal.message})`, d.extraArgs[eal.index])
    }
  }
  for (const s of lab.sriov) {
    pattern('SR-IOV name', s.name, NAME)
    if (!IFNAME.test(s.pf) && !BDF.test(s.pf)) throw unsafe('SR-IOV pf', s.pf)
    integer(`SR-IOV ${s.name} vfs`, s.vfs, 1, 256)
    for (const vf of s.vf) {
      integer('VF index', vf.index, 0, 255)
      pattern('VF mac', vf.mac, MAC)
      pattern('VF switch', vf.switch, IFNAME)
      integer('VF vlan', vf.vlan?.id, 0, 4095)
      integer('VF vlan qos', vf.vlan?.qos, 0, 7)
      integer('VF minTxRate', vf.minTxRate, 0, 400000)
      integer('VF maxTxRate', vf.maxTxRate, 0, 400000)
    }
  }
  for (const d of lab.vdpa) {
    pattern('vDPA name', d.name, VDPA_NAME)
    pattern('vDPA mgmtdev', d.mgmtdev, MGMTDEV)
    pattern('vDPA mac', d.mac, MAC)
    pattern('vDPA address', d.address, CIDR)
    integer('vDPA maxVqp', d.maxVqp, 1, 256)
    integer('vDPA mtu', d.mtu, 68, 9216)
  }
  for (const vm of lab.vms) {
    pattern('VM name', vm.name, NAME)
    integer(`${vm.name} vcpus`, vm.vcpus, 1, 256)
    integer(`${vm.name} memory (MiB)`, vm.memoryMiB, 64, 1024 * 1024)
    oneOf(`${vm.name} machine`, vm.machine, ['q35', 'pc'])
    oneOf(`${vm.name} accel`, vm.accel, ['auto', 'kvm', 'tcg'])
    oneOf(`${vm.name} memoryBacking`, vm.memoryBacking, ['default', 'memfd', 'hugepages'])
    pattern(`${vm.name} cpuset`, vm.cpuset, CPU_LIST)
    integer(`${vm.name} numaNode`, vm.numaNode, 0, 63)
    if (vm.image.type === 'cloud') {
      pattern(`${vm.name} image path`, vm.image.path, HOST_PATH)
      pattern(`${vm.name} image user`, vm.image.user, USER)
    }
    for (const nic of vm.nics) {
      pattern(`${vm.name} NIC ${nic.index} mac`, nic.mac, MAC)
      pattern(`${vm.name} NIC ${nic.index} address`, nic.address, CIDR)
      pattern(`${vm.name} NIC ${nic.index} switch`, nic.switch, IFNAME)
      integer(`${vm.name} NIC ${nic.index} queues`, nic.queues, 1, 16)
      integer(`${vm.name} NIC ${nic.index} rxQueueSize`, nic.rxQueueSize, 256, 1024)
      integer(`${vm.name} NIC ${nic.index} txQueueSize`, nic.txQueueSize, 256, 1024)
      if (nic.sriov !== undefined) {
        pattern('NIC sriov pf', nic.sriov.pf, NAME)
        integer('NIC sriov vf', nic.sriov.vf, 0, 255)
      }
      if (nic.vdpa !== undefined) pattern('NIC vdpa device', nic.vdpa.device, VDPA_NAME)
    }
  }
}
