/**
 * Semantic rules: what the JSON Schema cannot say. Unique names, references that must resolve,
 * fields that belong to one NIC backend, switch/backend compatibility, host requirements
 * (hugepages for OVS-DPDK), value ranges (memory, CPU lists), MAC and address sanity, test
 * endpoints. The rules run on the value even when the schema failed, so all problems are reported
 * at once; every rule therefore reads values defensively and skips what the schema already rejects.
 */
import {deriveMac} from '../compile/ids.js'
import type {PathSegment} from './locate.js'
import {type ProblemSink, show, suggestion} from './problems.js'
import {checkEalArgs} from './eal.js'
import {cpuRanges, type Ipv4Cidr, isMulticastMac, isZeroMac, MAX_MEMORY_MIB, memoryKiB, memoryMiB, MIN_MEMORY_MIB, networkOf, normalizeMac, parseCidr, sameSubnet} from './units.js'

type Obj = Record<string, unknown>

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The mapping items of a list, with their indices (non-mappings skipped). */
function items(value: unknown): [Obj, number][] {
  if (!Array.isArray(value)) return []
  return value.flatMap((item, index) => (isObj(item) ? [[item, index] as [Obj, number]] : []))
}

function str(o: Obj, key: string): string | undefined {
  const v = o[key]
  return typeof v === 'string' ? v : undefined
}

function int(o: Obj, key: string): number | undefined {
  const v = o[key]
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined
}

function where(path: readonly PathSegment[]): string {
  let out = ''
  for (const s of path) out += typeof s === 'number' ? `[${s}]` : out === '' ? s : `.${s}`
  return out
}

const BACKENDS = ['virtio-qemu', 'vhost-net', 'vhost-user', 'sriov-vf', 'vdpa'] as const
type Backend = typeof BACKENDS[number]

/** NIC fields that only one family of backends uses. */
const FIELD_OWNERS: Record<string, readonly Backend[]> = {
  switch: ['virtio-qemu', 'vhost-net', 'vhost-user'],
  vhostUser: ['vhost-user'],
  sriov: ['sriov-vf'],
  vdpa: ['vdpa'],
  queues: ['virtio-qemu', 'vhost-net', 'vhost-user', 'vdpa'],
  rxQueueSize: ['virtio-qemu', 'vhost-net', 'vhost-user', 'vdpa'],
  txQueueSize: ['virtio-qemu', 'vhost-net', 'vhost-user', 'vdpa'],
}

/** The field a backend cannot work without. */
const REQUIRED_FIELD: Record<Backend, string> = {
  'virtio-qemu': 'switch',
  'vhost-net': 'switch',
  'vhost-user': 'switch',
  'sriov-vf': 'sriov',
  'vdpa': 'vdpa',
}

function isBackend(value: unknown): value is Backend {
  return typeof value === 'string' && (BACKENDS as readonly string[]).includes(value)
}

interface SwitchInfo {
  index: number
  type: string | undefined
  datapath: string
  address: Ipv4Cidr | undefined
}

export function checkRules(lab: Obj, sink: ProblemSink): void {
  const labName = str(lab, 'name')
  const host = isObj(lab.host) ? lab.host : undefined
  const hasHugepages = host !== undefined && isObj(host.hugepages)
  const vms = items(lab.vms)
  const switches = items(lab.switches)
  const sriov = items(lab.sriov)
  const vdpa = items(lab.vdpa)
  const tests = items(lab.tests)

  // ---- unique names ------------------------------------------------------------------------------
  const unique = (section: string, kind: string, list: [Obj, number][]) => {
    const seen = new Map<string, number>()
    for (const [item, index] of list) {
      const name = str(item, 'name')
      if (name === undefined) continue
      const first = seen.get(name)
      if (first === undefined) seen.set(name, index)
      else sink.add([section, index, 'name'], `duplicate ${kind} name ${show(name)} (also ${section}[${first}])`, `${kind} names must be unique`)
    }
    return seen
  }
  const vmNames = unique('vms', 'VM', vms)
  const switchNames = unique('switches', 'switch', switches)
  const pfNames = unique('sriov', 'SR-IOV', sriov)
  const vdpaNames = unique('vdpa', 'vDPA device', vdpa)
  unique('tests', 'test', tests)

  // ---- switches ----------------------------------------------------------------------------------
  const switchInfo = new Map<string, SwitchInfo>()
  for (const [sw, index] of switches) {
    const path = ['switches', index]
    const type = str(sw, 'type')
    const datapath = str(sw, 'datapath') ?? 'system'
    const name = str(sw, 'name')
    const address = str(sw, 'address')
    if (name !== undefined && !switchInfo.has(name)) switchInfo.set(name, {index, type, datapath, address: address === undefined ? undefined : parseCidr(address)})
    if (type === 'linux-bridge') {
      for (const key of ['datapath', 'ovs', 'dpdk', 'physicalPorts']) {
        if (key in sw) sink.add([...path, key], `${show(key)} applies to ovs switches, not linux-bridge`, 'remove it, or use type: ovs', 'key')
      }
    }
    if (type === 'ovs' && datapath !== 'netdev') {
      for (const key of ['dpdk', 'physicalPorts']) {
        if (key in sw) sink.add([...path, key], `${show(key)} applies to OVS switches with datapath netdev (OVS-DPDK)`, 'add datapath: netdev, or remove it', 'key')
      }
    }
    if (type === 'ovs' && datapath === 'netdev' && !hasHugepages) {
      sink.add([...path, 'datapath'], `OVS switch ${show(name ?? `switches[${index}]`)} uses datapath netdev (OVS-DPDK), which needs hugepages`, 'add host.hugepages (e.g. host: {hugepages: {size: 2M, count: 512}})')
    }
  }

  // ---- SR-IOV ------------------------------------------------------------------------------------
  const pfVfs = new Map<string, number | undefined>()
  for (const [pf, index] of sriov) {
    const name = str(pf, 'name')
    const vfs = int(pf, 'vfs')
    if (name !== undefined && !pfVfs.has(name)) pfVfs.set(name, vfs)
    const seen = new Map<number, number>()
    for (const [vf, j] of items(pf.vf)) {
      const vfPath = ['sriov', index, 'vf', j]
      const vfIndex = int(vf, 'index')
      if (vfIndex !== undefined) {
        if (vfs !== undefined && vfIndex >= vfs) {
          sink.add([...vfPath, 'index'], `VF index ${vfIndex} is out of range: ${show(name ?? 'this PF')} has vfs: ${vfs} (indices 0-${vfs - 1})`, 'raise vfs or use a lower index')
        }
        const first = seen.get(vfIndex)
        if (first !== undefined) sink.add([...vfPath, 'index'], `VF ${vfIndex} is configured twice (also sriov[${index}].vf[${first}])`, 'merge the two entries')
        else seen.set(vfIndex, j)
      }
      const vfSwitch = str(vf, 'switch')
      if (vfSwitch !== undefined) {
        if (!switchNames.has(vfSwitch)) {
          sink.add([...vfPath, 'switch'], `switch ${show(vfSwitch)} is not defined${suggestion(vfSwitch, [...switchNames.keys()])}`, definedHint('switches', [...switchNames.keys()]))
        }
        if ((str(vf, 'driver') ?? 'vfio-pci') === 'vfio-pci') {
          sink.add([...vfPath, 'switch'], 'a VF bound to vfio-pci has no host netdev to plug into a switch', 'set driver: host, or remove switch', 'key')
        }
      }
    }
  }

  // ---- VMs and NICs ------------------------------------------------------------------------------
  const usedVfs = new Map<string, string>()
  const usedVdpa = new Map<string, string>()
  /** VM name -> switches its NICs are attached to, and whether it has an address. */
  const vmSwitches = new Map<string, {switches: string[]; hasAddress: boolean}>()
  for (const [vm, vmIndex] of vms) {
    const vmPath = ['vms', vmIndex]
    const vmName = str(vm, 'name')
    const memory = str(vm, 'memory')
    if (memory !== undefined) {
      const kib = memoryKiB(memory)
      if (kib !== undefined) {
        if (kib % 1024 !== 0) sink.add([...vmPath, 'memory'], `memory ${show(memory)} is not a whole number of MiB`, 'use M or G, e.g. 512M')
        else if (kib / 1024 < MIN_MEMORY_MIB) sink.add([...vmPath, 'memory'], `memory ${show(memory)} is too small (at least ${MIN_MEMORY_MIB}M)`, 'a guest needs at least 64M; 512M is a good default')
        else if (kib / 1024 > MAX_MEMORY_MIB) sink.add([...vmPath, 'memory'], `memory ${show(memory)} is too large (at most 1T)`, 'use a size such as 512M or 4G')
      }
    }
    const cpuset = str(vm, 'cpuset')
    if (cpuset !== undefined) {
      for (const range of cpuRanges(cpuset) ?? []) {
        if (range.from > range.to) sink.add([...vmPath, 'cpuset'], `CPU range ${show(range.text)} is descending`, `write ${range.to}-${range.from}`)
        else if (range.to >= 4096) sink.add([...vmPath, 'cpuset'], `CPU ${range.to} in ${show(range.text)} is out of range (CPUs are numbered below 4096)`, 'use the CPU numbers from lscpu')
      }
    }
    const nics = items(vm.nics)
    const hasVhostUser = nics.some(([nic]) => nic.backend === 'vhost-user')
    const backing = str(vm, 'memoryBacking')
    if (hasVhostUser && backing === 'default') {
      sink.add([...vmPath, 'memoryBacking'], 'a VM with a vhost-user NIC needs shared memory; memoryBacking: default is private', 'use memoryBacking: memfd (the default for vhost-user VMs) or hugepages')
    }
    if (backing === 'hugepages' && !hasHugepages) {
      sink.add([...vmPath, 'memoryBacking'], 'memoryBacking: hugepages needs host.hugepages', 'add host.hugepages (e.g. host: {hugepages: {size: 2M, count: 512}}) or use memfd')
    }
    const attached: string[] = []
    let hasAddress = false
    for (const [nic, nicIndex] of nics) {
      const nicPath = [...vmPath, 'nics', nicIndex]
      const backend = nic.backend
      if (str(nic, 'address') !== undefined) hasAddress = true
      // The built-in guest (the default image) has no DPDK: virtio-pmd would be a promise it cannot keep.
      const image = vm.image
      if (str(nic, 'guestDriver') === 'virtio-pmd' && (image === undefined || (isObj(image) && image.type === 'builtin'))) {
        sink.add([...nicPath, 'guestDriver'], 'guestDriver: virtio-pmd needs DPDK in the guest, and the built-in guest image has no DPDK', 'use guestDriver: virtio-net (the kernel driver), or a cloud image with DPDK installed')
      }
      const known = isBackend(backend)
      /** Does this NIC's backend use `field`? (Unknown backends: check the field anyway.) */
      const uses = (field: string) => !known || (FIELD_OWNERS[field]?.includes(backend) ?? true)
      if (known) {
        for (const [field, owners] of Object.entries(FIELD_OWNERS)) {
          if (field in nic && !owners.includes(backend)) {
            sink.add([...nicPath, field], `${show(field)} does not apply to backend ${backend} (it is for ${owners.join(', ')})`, `remove ${field}, or change backend`, 'key')
          }
        }
        const required = REQUIRED_FIELD[backend]
        if (!(required in nic)) {
          sink.add(nicPath, `backend ${backend} needs ${show(required)}`, requiredHint(backend), 'missing', [...nicPath, required])
        }
      }
      const switchName = str(nic, 'switch')
      if (switchName !== undefined && uses('switch')) {
        const info = switchInfo.get(switchName)
        if (info === undefined) {
          sink.add([...nicPath, 'switch'], `switch ${show(switchName)} is not defined${suggestion(switchName, [...switchNames.keys()])}`, definedHint('switches', [...switchNames.keys()]))
        } else {
          attached.push(switchName)
          const nicAddress = str(nic, 'address')
          const parsed = nicAddress === undefined ? undefined : parseCidr(nicAddress)
          if (parsed !== undefined && info.address !== undefined && !sameSubnet(info.address, parsed)) {
            sink.add([...nicPath, 'address'], `address ${nicAddress} is not in the subnet of switch ${switchName} (${info.address.ip}/${info.address.prefix})`, 'put the NIC in the switch\'s subnet')
          }
          if (backend === 'vhost-user' && info.type !== undefined && !(info.type === 'ovs' && info.datapath === 'netdev')) {
            const what = info.type === 'ovs' ? 'an OVS switch with datapath system' : `a ${info.type}`
            sink.add([...nicPath, 'switch'], `backend vhost-user needs an OVS switch with datapath netdev; ${show(switchName)} is ${what}`, 'set type: ovs and datapath: netdev on the switch (and host.hugepages)')
          }
          if ((backend === 'virtio-qemu' || backend === 'vhost-net') && info.type === 'ovs' && info.datapath === 'netdev') {
            sink.add([...nicPath, 'switch'], `backend ${backend} needs a linux-bridge or an OVS switch with datapath system; ${show(switchName)} uses datapath netdev`, 'use backend vhost-user on a netdev (OVS-DPDK) switch')
          }
        }
      }
      const vf = isObj(nic.sriov) ? nic.sriov : undefined
      if (vf !== undefined && uses('sriov')) {
        const pf = str(vf, 'pf')
        const vfIndex = int(vf, 'vf')
        if (pf !== undefined && !pfNames.has(pf)) {
          sink.add([...nicPath, 'sriov', 'pf'], `SR-IOV PF ${show(pf)} is not defined${suggestion(pf, [...pfNames.keys()])}`, definedHint('sriov', [...pfNames.keys()]))
        } else if (pf !== undefined && vfIndex !== undefined) {
          const vfs = pfVfs.get(pf)
          if (vfs !== undefined && vfIndex >= vfs) {
            sink.add([...nicPath, 'sriov', 'vf'], `VF ${vfIndex} is out of range: ${show(pf)} has vfs: ${vfs} (indices 0-${vfs - 1})`, 'raise vfs on the PF or use a lower VF index')
          }
          const key = `${pf}/${vfIndex}`
          const user = usedVfs.get(key)
          if (user !== undefined) sink.add([...nicPath, 'sriov', 'vf'], `VF ${vfIndex} of ${show(pf)} is already used by ${user}`, 'a VF can be given to one NIC only; use another VF index')
          else usedVfs.set(key, where(nicPath))
        }
      }
      const vd = isObj(nic.vdpa) ? nic.vdpa : undefined
      if (vd !== undefined && uses('vdpa')) {
        const device = str(vd, 'device')
        if (device !== undefined && !vdpaNames.has(device)) {
          sink.add([...nicPath, 'vdpa', 'device'], `vDPA device ${show(device)} is not defined${suggestion(device, [...vdpaNames.keys()])}`, definedHint('vdpa', [...vdpaNames.keys()]))
        } else if (device !== undefined) {
          const user = usedVdpa.get(device)
          if (user !== undefined) sink.add([...nicPath, 'vdpa', 'device'], `vDPA device ${show(device)} is already used by ${user}`, 'a vhost-vdpa device can be opened by one NIC only; add another device under vdpa:')
          else usedVdpa.set(device, where(nicPath))
        }
      }
    }
    if (vmName !== undefined && !vmSwitches.has(vmName)) vmSwitches.set(vmName, {switches: attached, hasAddress})
  }

  // ---- MACs --------------------------------------------------------------------------------------
  const macs: {mac: string; path: PathSegment[]; given: boolean; vm?: string}[] = []
  for (const [vm, vmIndex] of vms) {
    const vmName = str(vm, 'name')
    for (const [nic, nicIndex] of items(vm.nics)) {
      const path = ['vms', vmIndex, 'nics', nicIndex, 'mac']
      const mac = str(nic, 'mac')
      if (mac !== undefined) macs.push({mac, path, given: true})
      else if (labName !== undefined && vmName !== undefined) macs.push({mac: deriveMac(labName, vmName, nicIndex), path: path.slice(0, -1), given: false, vm: vmName})
    }
  }
  for (const [pf, index] of sriov) {
    for (const [vf, j] of items(pf.vf)) {
      const mac = str(vf, 'mac')
      if (mac !== undefined) macs.push({mac, path: ['sriov', index, 'vf', j, 'mac'], given: true})
    }
  }
  for (const [device, index] of vdpa) {
    const mac = str(device, 'mac')
    if (mac !== undefined) macs.push({mac, path: ['vdpa', index, 'mac'], given: true})
  }
  const macSeen = new Map<string, {path: PathSegment[]; given: boolean; vm?: string}>()
  for (const entry of macs) {
    if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(entry.mac)) continue
    const mac = normalizeMac(entry.mac)
    if (entry.given && isZeroMac(mac)) sink.add(entry.path, `MAC ${mac} is the all-zero address`, 'use a locally administered unicast MAC such as 52:54:00:12:34:56')
    else if (entry.given && isMulticastMac(mac)) sink.add(entry.path, `MAC ${mac} is a multicast address (the first octet is odd)`, 'a NIC needs a unicast MAC: the first octet must be even, e.g. 52:54:00:12:34:56')
    const first = macSeen.get(mac)
    if (first === undefined) {
      macSeen.set(mac, entry)
      continue
    }
    if (!entry.given && !first.given) {
      // Two derived MACs (24 bits of a hash) can collide between VMs with different names.
      if (entry.vm !== first.vm) {
        sink.add(entry.path, `the derived MAC ${mac} of this NIC is also derived for ${where(first.path)}`, 'derived MACs are 24 bits of a hash of lab, VM and NIC: give one of these NICs an explicit mac: (e.g. mac: 52:54:00:12:34:56), or rename a VM')
      }
      continue // same VM name: reported as a duplicate VM
    }
    const [at, other] = entry.given || !first.given ? [entry, first] : [first, entry]
    sink.add(at.path, `MAC ${mac} is also used by ${where(other.path)}${other.given ? '' : ' (derived)'}`, 'every NIC, VF and vDPA device needs its own MAC')
  }

  // ---- addresses ---------------------------------------------------------------------------------
  const addresses: {text: string; path: PathSegment[]}[] = []
  for (const [sw, index] of switches) {
    const a = str(sw, 'address')
    if (a !== undefined) addresses.push({text: a, path: ['switches', index, 'address']})
  }
  for (const [vm, vmIndex] of vms) {
    for (const [nic, nicIndex] of items(vm.nics)) {
      const a = str(nic, 'address')
      if (a !== undefined) addresses.push({text: a, path: ['vms', vmIndex, 'nics', nicIndex, 'address']})
    }
  }
  for (const [device, index] of vdpa) {
    const a = str(device, 'address')
    if (a !== undefined) addresses.push({text: a, path: ['vdpa', index, 'address']})
  }
  const ipSeen = new Map<string, PathSegment[]>()
  for (const {text, path} of addresses) {
    const cidr = parseCidr(text)
    if (cidr === undefined) continue
    if (cidr.prefix <= 30) {
      const network = networkOf(cidr)
      const broadcast = network + 2 ** (32 - cidr.prefix) - 1
      if (cidr.address === network) sink.add(path, `address ${text} is the network address of its subnet`, 'use a host address, e.g. .1 or .2')
      else if (cidr.address === broadcast) sink.add(path, `address ${text} is the broadcast address of its subnet`, 'use a host address, e.g. .1 or .2')
    }
    const first = ipSeen.get(cidr.ip)
    if (first !== undefined) sink.add(path, `address ${cidr.ip} is also used by ${where(first)}`, 'every switch, NIC and vDPA device needs its own address')
    else ipSeen.set(cidr.ip, path)
  }

  // ---- tests -------------------------------------------------------------------------------------
  const endpoints = ['host', ...vmNames.keys()]
  for (const [test, index] of tests) {
    const path = ['tests', index]
    const client = str(test, 'client')
    const server = str(test, 'server')
    for (const [role, endpoint] of [['client', client], ['server', server]] as const) {
      if (endpoint === undefined || endpoint === 'host' || vmNames.has(endpoint)) continue
      sink.add([...path, role], `test ${role} ${show(endpoint)} is not "host" or a VM of this lab${suggestion(endpoint, endpoints)}`, `endpoints: ${endpoints.join(', ')}`)
    }
    if (client !== undefined && client === server) {
      sink.add([...path, 'server'], `test client and server are the same (${show(client)})`, 'measure between two different endpoints')
    } else {
      for (const [role, endpoint, other] of [['client', client, server], ['server', server, client]] as const) {
        if (endpoint !== 'host' || other === undefined) continue
        const peer = vmSwitches.get(other)
        if (peer === undefined) continue
        const reachable = peer.switches.some((s) => switchInfo.get(s)?.address !== undefined)
        if (!reachable) {
          const target = peer.switches[0]
          sink.add([...path, role], `test endpoint "host" needs a switch with an address that ${show(other)} is attached to`, target === undefined ? `attach ${other} to a switch that has an address` : `add address: (e.g. 10.99.0.1/24) to switch ${target}`)
        }
      }
    }
    for (const [role, endpoint] of [['client', client], ['server', server]] as const) {
      if (endpoint === undefined || endpoint === 'host') continue
      const info = vmSwitches.get(endpoint)
      if (info !== undefined && !info.hasAddress) sink.add([...path, role], `test endpoint ${show(endpoint)} has no NIC with an address`, `add address: to one of ${endpoint}'s nics`)
    }
    const duration = int(test, 'duration') ?? 10
    const warmup = int(test, 'warmup') ?? 1
    if (warmup >= duration && ('warmup' in test || 'duration' in test)) {
      sink.add([...path, 'warmup' in test ? 'warmup' : 'duration'], `warmup (${warmup}s) must be shorter than duration (${duration}s)`, 'the warm-up seconds are excluded from each trial')
    }
  }

  checkNoTokens(lab, sink)
  checkLabName(lab, sink)
  checkHostValues(lab, sink, {switches, vms, hasHugepages})
  checkDevicesAndSwitches(lab, sink, {switches, vms, sriov, vdpa, switchInfo})
}

/** Apply-time tokens (@{kind:...}) come from the compiler only: no lab value may contain "@{". */
function checkNoTokens(lab: Obj, sink: ProblemSink): void {
  const visit = (value: unknown, path: PathSegment[]): void => {
    if (typeof value === 'string') {
      if (value.includes('@{')) sink.add(path, `${label(path)} contains "@{"`, '"@{" starts an apply-time token, which only virtlab itself writes; remove it')
      return
    }
    if (Array.isArray(value)) value.forEach((item, index) => visit(item, [...path, index]))
    else if (isObj(value)) for (const [key, item] of Object.entries(value)) if (!(path.length === 0 && key === 'parameters')) visit(item, [...path, key])
  }
  visit(lab, [])
}

function label(path: readonly PathSegment[]): string {
  const last = [...path].reverse().find((s) => typeof s === 'string')
  return typeof last === 'string' ? last : 'the value'
}

/**
 * Entries of virtlab's state directory (/var/lib/virtlab): per-lab state lives in <stateDir>/<lab>,
 * so a lab may not be named after one of virtlab's own entries (the image cache, the KVM probe's
 * scratch directory) or a name kept for them.
 */
export const RESERVED_LAB_NAMES = ['images', 'cache', 'kvm-probe', 'downloads', 'locks', 'lock', 'journals', 'journal', 'results', 'tmp', 'hosts', 'state', 'run'] as const

export function isReservedLabName(name: string): boolean {
  return (RESERVED_LAB_NAMES as readonly string[]).includes(name)
}

function checkLabName(lab: Obj, sink: ProblemSink): void {
  const name = str(lab, 'name')
  if (name !== undefined && (RESERVED_LAB_NAMES as readonly string[]).includes(name)) {
    sink.add(['name'], `lab name ${show(name)} is reserved (virtlab keeps its own ${show(name)} entry in its state directory)`, `reserved names: ${RESERVED_LAB_NAMES.join(', ')}; choose another name`)
  }
}

const EAL_ITEM = /^(--?)?[A-Za-z0-9][A-Za-z0-9_=.,:*/-]{0,127}$/

/** Standard hugetlbfs mount points (a lab may also mount under its own run directory). */
const STANDARD_HUGETLBFS = /^\/(dev\/hugepages(1G|2M|-1G|-2M|_1G|_2M)?|mnt\/huge(pages)?([-_]?[A-Za-z0-9]{1,16})?)$/
/** Hugepage memory a lab may reserve at most (MiB): the largest VM virtlab accepts. */
export const MAX_HUGEPAGES_MIB = MAX_MEMORY_MIB

/** Where a lab may mount hugetlbfs: a standard location, or under its own run directory (/run/virtlab/<lab>/...). */
export function hugetlbfsMountProblem(mount: string, lab: string | undefined): string | undefined {
  if (STANDARD_HUGETLBFS.test(mount)) return undefined
  if (lab !== undefined && new RegExp(`^/run/virtlab/${lab}/[A-Za-z0-9_-]{1,32}$`).test(mount)) return undefined
  return `hugetlbfs mount point ${show(mount)} is not a standard hugetlbfs location or under the lab's run directory`
}

function mountHint(lab: string | undefined): string {
  return `use /dev/hugepages (2M), /dev/hugepages1G (1G), /mnt/huge...${lab === undefined ? '' : `, or /run/virtlab/${lab}/<dir>`}`
}

function checkHostValues(lab: Obj, sink: ProblemSink, ctx: {switches: [Obj, number][]; vms: [Obj, number][]; hasHugepages: boolean}): void {
  const name = str(lab, 'name')
  const host = isObj(lab.host) ? lab.host : undefined
  const hp = host !== undefined && isObj(host.hugepages) ? host.hugepages : undefined
  const size = hp === undefined ? undefined : (str(hp, 'size') ?? '2M')
  const pageMiB = size === '1G' ? 1024 : 2
  if (hp !== undefined) {
    const mount = str(hp, 'mount')
    if (mount !== undefined) {
      const problem = hugetlbfsMountProblem(mount, name)
      if (problem !== undefined) sink.add(['host', 'hugepages', 'mount'], problem, mountHint(name))
      else if ((mount === '/dev/hugepages' && size === '1G') || (mount === '/dev/hugepages1G' && size === '2M')) {
        sink.add(['host', 'hugepages', 'mount'], `${mount} is the standard mount for ${size === '1G' ? '2M' : '1G'} pages, not ${size}`, size === '1G' ? 'use /dev/hugepages1G for 1G pages' : 'use /dev/hugepages for 2M pages')
      }
    }
    const count = int(hp, 'count')
    if (count !== undefined && count <= 65536 && count * pageMiB > MAX_HUGEPAGES_MIB) {
      sink.add(['host', 'hugepages', 'count'], `${count} x ${size} hugepages is ${formatMiB(count * pageMiB)}, more than virtlab reserves for a lab (at most ${formatMiB(MAX_HUGEPAGES_MIB)})`, 'reserve what the lab\'s VMs and OVS-DPDK need')
    }
  }
  for (const [sw, index] of ctx.switches) {
    const dpdk = isObj(sw.dpdk) ? sw.dpdk : undefined
    if (dpdk === undefined) continue
    const dir = str(dpdk, 'hugepageDir')
    if (dir !== undefined) {
      const problem = hugetlbfsMountProblem(dir, name)
      if (problem !== undefined) sink.add(['switches', index, 'dpdk', 'hugepageDir'], problem, mountHint(name))
    }
    for (const key of ['lcoreMask', 'pmdCpuMask']) {
      const mask = str(dpdk, key)
      if (mask !== undefined && /^0x0+$/.test(mask)) sink.add(['switches', index, 'dpdk', key], `${key} ${mask} selects no CPU`, 'set at least one bit, e.g. 0x2')
    }
    const extra = dpdk.extraArgs
    // Only lists the schema accepted item by item (its pattern rejects shell characters first).
    if (Array.isArray(extra) && extra.every((a) => typeof a === 'string')) {
      for (const problem of checkEalArgs(extra as string[])) {
        if (EAL_ITEM.test(extra[problem.index] as string)) sink.add(['switches', index, 'dpdk', 'extraArgs', problem.index], problem.message, problem.hint)
      }
    }
  }
  // Enough hugepages for what uses them: hugepage-backed VMs and OVS-DPDK's socket memory.
  if (hp !== undefined) {
    const count = int(hp, 'count')
    let need = 0
    const users: string[] = []
    for (const [vm, index] of ctx.vms) {
      if (str(vm, 'memoryBacking') !== 'hugepages') continue
      const memory = str(vm, 'memory') ?? '512M'
      const mib = memoryMiB(memory)
      if (mib === undefined) continue
      if (size === '1G' && mib % 1024 !== 0) {
        sink.add(['vms', index, 'memory'], `memory ${show(memory)} is not a whole number of 1G hugepages`, 'use a multiple of 1G (e.g. 1G, 2G), or size: 2M pages')
      }
      need += Math.ceil(mib / pageMiB) * pageMiB
      users.push(`${str(vm, 'name') ?? `vms[${index}]`} ${memory}`)
    }
    const socketMem = ctx.switches.flatMap(([sw]) => {
      if (str(sw, 'type') !== 'ovs' || str(sw, 'datapath') !== 'netdev') return []
      const text = isObj(sw.dpdk) ? str(sw.dpdk, 'socketMem') ?? '512' : '512'
      return /^[0-9]{1,6}(,[0-9]{1,6}){0,7}$/.test(text) ? [text.split(',').reduce((a, b) => a + Number(b), 0)] : []
    })
    if (socketMem.length > 0) {
      const most = Math.max(...socketMem)
      need += most
      users.push(`OVS-DPDK socket-mem ${most}M`)
    }
    if (count !== undefined && count * pageMiB < need) {
      sink.add(['host', 'hugepages', 'count'], `${count} x ${size} hugepages (${formatMiB(count * pageMiB)}) are fewer than the lab uses (${formatMiB(need)}: ${users.join(', ')})`, `raise count to at least ${Math.ceil(need / pageMiB)}`)
    }
  }
}

function formatMiB(mib: number): string {
  if (mib >= 1024 * 1024 && mib % (1024 * 1024) === 0) return `${mib / (1024 * 1024)} TiB`
  if (mib >= 1024 && mib % 1024 === 0) return `${mib / 1024} GiB`
  return `${mib} MiB`
}

/** Link names the host or OVS already has, which a lab's switch may never take. */
const HOST_LINK_NAMES = new Set(['lo', 'ovs-system', 'ovs-netdev'])

function checkDevicesAndSwitches(lab: Obj, sink: ProblemSink, ctx: {switches: [Obj, number][]; vms: [Obj, number][]; sriov: [Obj, number][]; vdpa: [Obj, number][]; switchInfo: Map<string, SwitchInfo>}): void {
  const switchNames = new Set(ctx.switches.flatMap(([sw]) => (str(sw, 'name') === undefined ? [] : [str(sw, 'name') as string])))
  const uplinks = new Map<string, number>()
  const pcis = new Map<string, string>()
  const dpdkSeen: {mode: string; json: string; index: number}[] = []
  for (const [sw, index] of ctx.switches) {
    const path = ['switches', index]
    const name = str(sw, 'name')
    const type = str(sw, 'type')
    const datapath = str(sw, 'datapath') ?? 'system'
    if (name !== undefined && HOST_LINK_NAMES.has(name)) sink.add([...path, 'name'], `switch name ${show(name)} is a link the host or OVS owns`, 'choose another name')
    if (type === 'ovs' && datapath === 'netdev' && str(sw, 'address') !== undefined) {
      sink.add([...path, 'address'], 'an address on a netdev (OVS-DPDK) switch is not supported', 'put the address on a linux-bridge or an OVS switch with datapath system, or remove it')
    }
    const uplink = str(sw, 'uplink')
    if (uplink !== undefined) {
      if (uplink === name) sink.add([...path, 'uplink'], `switch ${show(name)} cannot be its own uplink`, 'name a host interface')
      else if (switchNames.has(uplink)) sink.add([...path, 'uplink'], `uplink ${show(uplink)} is a switch of this lab`, 'an uplink is a host interface the lab does not create')
      else if (HOST_LINK_NAMES.has(uplink)) sink.add([...path, 'uplink'], `uplink ${show(uplink)} cannot be enslaved to a switch`, 'name a physical or virtual host interface')
      const first = uplinks.get(uplink)
      if (first !== undefined) sink.add([...path, 'uplink'], `uplink ${show(uplink)} is also the uplink of switches[${first}]`, 'an interface can join one switch only')
      else uplinks.set(uplink, index)
    }
    for (const [port, j] of items(sw.physicalPorts)) {
      const pci = str(port, 'pci')?.toLowerCase()
      const portName = str(port, 'name')
      if (portName !== undefined && switchNames.has(portName)) sink.add([...path, 'physicalPorts', j, 'name'], `physical port name ${show(portName)} is a switch of this lab`, 'give the port its own name')
      if (pci === undefined) continue
      const first = pcis.get(pci)
      if (first !== undefined) sink.add([...path, 'physicalPorts', j, 'pci'], `PCI device ${pci} is also used by ${first}`, 'a device can be one port only')
      else pcis.set(pci, where([...path, 'physicalPorts', j]))
    }
    if (type === 'ovs' && datapath === 'netdev') {
      const dpdk = isObj(sw.dpdk) ? sw.dpdk : {}
      const effective = {socketMem: str(dpdk, 'socketMem') ?? '512', lcoreMask: str(dpdk, 'lcoreMask'), pmdCpuMask: str(dpdk, 'pmdCpuMask'), perPortMemory: dpdk.perPortMemory ?? true, extraArgs: dpdk.extraArgs ?? [], hugepageDir: str(dpdk, 'hugepageDir')}
      const mode = str(sw, 'ovs') ?? 'auto'
      const json = JSON.stringify(effective)
      const clash = dpdkSeen.find((d) => d.json !== json && (d.mode === mode || d.mode === 'auto' || mode === 'auto'))
      if (clash !== undefined) sink.add('dpdk' in sw ? [...path, 'dpdk'] : [...path, 'datapath'], `switches[${clash.index}] and this switch may share one OVS-DPDK instance but give different dpdk settings`, 'give the same dpdk block on each netdev switch (or put them on different OVS instances: ovs: system / private)')
      dpdkSeen.push({mode, json, index})
    }
  }

  // SR-IOV
  const pfs = new Map<string, number>()
  const vfDriver = new Map<string, string>()
  const vfMacs = new Map<string, string>()
  for (const [pf, index] of ctx.sriov) {
    const device = str(pf, 'pf')
    if (device !== undefined) {
      const key = device.toLowerCase()
      const first = pfs.get(key)
      if (first !== undefined) sink.add(['sriov', index, 'pf'], `PF ${show(device)} is also configured by sriov[${first}]`, 'configure all VFs of a PF in one sriov entry')
      else pfs.set(key, index)
      if (switchNames.has(device)) sink.add(['sriov', index, 'pf'], `PF ${show(device)} is a switch of this lab`, 'name the physical function of an SR-IOV NIC')
    }
    const pfName = str(pf, 'name')
    for (const [vf, j] of items(pf.vf)) {
      const vfPath = ['sriov', index, 'vf', j]
      const min = int(vf, 'minTxRate')
      const max = int(vf, 'maxTxRate')
      if (min !== undefined && max !== undefined && max !== 0 && min > max) {
        sink.add([...vfPath, 'minTxRate'], `minTxRate ${min} is above maxTxRate ${max}`, 'min_tx_rate must not exceed max_tx_rate (ip-link(8)); 0 means no limit')
      }
      const vfSwitch = str(vf, 'switch')
      const info = vfSwitch === undefined ? undefined : ctx.switchInfo.get(vfSwitch)
      if (info !== undefined && info.type !== undefined && info.type !== 'ovs' && str(vf, 'driver') === 'host') {
        sink.add([...vfPath, 'switch'], `a VF can join an OVS switch only (${show(vfSwitch)} is a ${info.type})`, 'use type: ovs for the switch')
      }
      const vfIndex = int(vf, 'index')
      if (pfName !== undefined && vfIndex !== undefined) {
        vfDriver.set(`${pfName}/${vfIndex}`, str(vf, 'driver') ?? 'vfio-pci')
        const mac = str(vf, 'mac')
        if (mac !== undefined) vfMacs.set(`${pfName}/${vfIndex}`, mac)
      }
    }
  }

  // vDPA
  const vdpaDriver = new Map<string, string>()
  const vdpaMacs = new Map<string, string>()
  for (const [device, index] of ctx.vdpa) {
    const path = ['vdpa', index]
    const mgmtdev = str(device, 'mgmtdev')
    const driver = str(device, 'driver') ?? 'vhost_vdpa'
    const maxVqp = int(device, 'maxVqp')
    if (mgmtdev === 'vdpasim_net' && maxVqp !== undefined && maxVqp > 1) {
      sink.add([...path, 'maxVqp'], `the vdpasim_net simulator has one queue pair; maxVqp ${maxVqp} is refused by the kernel`, 'use maxVqp: 1 (or leave it out) with vdpasim_net; multiqueue needs a hardware mgmtdev')
    }
    if (driver === 'vhost_vdpa' && str(device, 'address') !== undefined) {
      sink.add([...path, 'address'], 'address is for driver virtio_vdpa (a host netdev); a vhost_vdpa device belongs to a guest', 'put the address on the VM\'s NIC, or use driver: virtio_vdpa')
    }
    const name = str(device, 'name')
    if (name !== undefined) vdpaDriver.set(name, driver)
    const mac = str(device, 'mac')
    if (name !== undefined && mac !== undefined) vdpaMacs.set(name, mac)
  }

  for (const [vm, vmIndex] of ctx.vms) {
    const image = isObj(vm.image) ? vm.image : undefined
    const imagePath = image !== undefined && image.type === 'cloud' ? str(image, 'path') : undefined
    if (imagePath !== undefined && /^\/(?!.*\/\.{1,2}(\/|$))/.test(imagePath)) {
      // qemu-img reads it as the overlay's qcow2 backing file, as root.
      if (/^\/(proc|sys|dev|etc|run|boot)(\/|$)/.test(imagePath) || /^\/var\/lib\/virtlab(\/|$)/.test(imagePath)) {
        sink.add(['vms', vmIndex, 'image', 'path'], `cloud image ${show(imagePath)} is in a system or virtlab directory`, 'keep cloud images in a directory of their own, e.g. /var/lib/images/debian.qcow2')
      } else if (!/\.(qcow2|img)$/.test(imagePath)) {
        sink.add(['vms', vmIndex, 'image', 'path'], `cloud image ${show(imagePath)} is not a .qcow2 or .img file`, 'virtlab boots qcow2 cloud images (e.g. debian-12-genericcloud-amd64.qcow2)')
      }
    }
    for (const [nic, nicIndex] of items(vm.nics)) {
      const nicPath = ['vms', vmIndex, 'nics', nicIndex]
      const vd = isObj(nic.vdpa) ? str(nic.vdpa, 'device') : undefined
      const driver = vd === undefined ? undefined : vdpaDriver.get(vd)
      if (nic.backend === 'vdpa' && driver !== undefined && driver !== 'vhost_vdpa') {
        sink.add([...nicPath, 'vdpa', 'device'], `vDPA device ${show(vd)} is bound to ${driver}, so the host kernel owns it`, 'set driver: vhost_vdpa on the device to give it to a VM')
      }
      const nicMac = str(nic, 'mac')
      const vdpaMac = vd === undefined ? undefined : vdpaMacs.get(vd)
      if (nic.backend === 'vdpa' && nicMac !== undefined && vdpaMac !== undefined && nicMac.toLowerCase() !== vdpaMac.toLowerCase()) {
        sink.add([...nicPath, 'mac'], `this mac would be ignored: the guest sees vDPA device ${show(vd)}'s mac ${vdpaMac.toLowerCase()}`, 'give the mac in one place: on the vDPA device')
      }
      const sr = isObj(nic.sriov) ? nic.sriov : undefined
      const vfMac = sr === undefined ? undefined : vfMacs.get(`${str(sr, 'pf')}/${int(sr, 'vf')}`)
      if (nic.backend === 'sriov-vf' && nicMac !== undefined && vfMac !== undefined && nicMac.toLowerCase() !== vfMac.toLowerCase()) {
        sink.add([...nicPath, 'mac'], `this mac would be ignored: the guest sees the VF's mac ${vfMac.toLowerCase()} (sriov section)`, 'give the mac in one place: on the VF under sriov:')
      }
      if (nic.backend === 'sriov-vf' && sr !== undefined && vfDriver.get(`${str(sr, 'pf')}/${int(sr, 'vf')}`) === 'host') {
        sink.add([...nicPath, 'sriov', 'vf'], `VF ${int(sr, 'vf')} of ${show(str(sr, 'pf'))} is configured with driver: host, so it cannot be passed to a guest`, 'set driver: vfio-pci on that VF (the default)')
      }
    }
  }
}

function definedHint(section: string, names: string[]): string {
  return names.length === 0 ? `this lab defines no ${section}; add one under ${section}:` : `defined under ${section}: ${names.join(', ')}`
}

function requiredHint(backend: Backend): string {
  switch (backend) {
    case 'vhost-user': return 'add switch: <an OVS switch with datapath netdev>'
    case 'sriov-vf': return 'add sriov: {pf: <name from sriov:>, vf: <index>}'
    case 'vdpa': return 'add vdpa: {device: <name from vdpa:>}'
    default: return 'add switch: <a linux-bridge or OVS switch>'
  }
}
