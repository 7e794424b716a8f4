/* global structuredClone */
/**
 * The simulated kernel: the rules a Linux kernel applies when user space writes sysfs attributes
 * or talks netlink (ip, vdpa, devlink), applied to a tree under a temporary root.
 *
 * Plain JavaScript on purpose: the fake executables in test/sim/bin (ip, vdpa, devlink, modprobe,
 * ovs-vsctl) are `#!/usr/bin/env node` scripts that import this same module, and SimKernelFs
 * (sim-fs.ts) calls it for every write virtlab makes through HostFs. One set of rules, two doors.
 *
 * Sources for the rules (see README.md): drivers/pci/iov.c sriov_numvfs_store, pci-iov-howto,
 * drivers/base/bus.c (bind/unbind/drivers_probe), drivers/base/driver.c driver_set_override,
 * drivers/pci/pci-driver.c (new_id/remove_id), Documentation/ABI/testing/sysfs-bus-vdpa,
 * drivers/vdpa/vdpa.c (config_attr_mask), iproute2 ip/ipaddress.c print_vfinfo.
 *
 * Layout: sysfs/procfs/dev files are plain files, directories and RELATIVE symlinks (like sysfs)
 * under the root; kernel state that has no file of its own (VF admin settings set through the PF,
 * eswitch modes, vDPA device attributes, OVS ports, netns membership) lives in <root>/.sim/state.json.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

// ---- errors --------------------------------------------------------------------------------------

const ERRNO = {
  EPERM: [1, 'operation not permitted'],
  ENOENT: [2, 'no such file or directory'],
  EIO: [5, 'i/o error'],
  EACCES: [13, 'permission denied'],
  EBUSY: [16, 'resource busy or locked'],
  EEXIST: [17, 'file already exists'],
  ENODEV: [19, 'no such device'],
  EINVAL: [22, 'invalid argument'],
  ERANGE: [34, 'result too large'],
  EOPNOTSUPP: [95, 'operation not supported on socket'],
}

/** An error shaped like the one node:fs throws for a failed write(2). */
export function errnoError(code, hostPath, detail) {
  const [errno, text] = ERRNO[code] ?? [5, 'i/o error']
  const error = new Error(`${code}: ${text}, write '${hostPath}'${detail ? ` (${detail})` : ''}`)
  error.code = code
  error.errno = -errno
  error.syscall = 'write'
  error.path = hostPath
  return error
}

/** strerror(3) text, as the iproute2 tools print it ("kernel answers: ..."). */
export const STRERROR = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  ENODEV: 'No such device',
  EINVAL: 'Invalid argument',
  ERANGE: 'Numerical result out of range',
  EOPNOTSUPP: 'Operation not supported',
  EPROTONOSUPPORT: 'Protocol not supported',
  EADDRNOTAVAIL: 'Cannot assign requested address',
}

export class NetlinkError extends Error {
  constructor(code, extack) {
    super(extack ?? STRERROR[code] ?? code)
    this.code = code
    this.extack = extack
  }
}

// ---- paths ---------------------------------------------------------------------------------------

export function simRoot() {
  const root = process.env.VIRTLAB_SIM_ROOT
  if (!root) throw new Error('VIRTLAB_SIM_ROOT is not set')
  return root
}

const real = (root, hostPath) => path.join(root, path.posix.normalize('/' + hostPath))

function exists(root, hostPath) {
  try {
    fs.lstatSync(real(root, hostPath))
    return true
  } catch {
    return false
  }
}

function read(root, hostPath) {
  return fs.readFileSync(real(root, hostPath), 'utf8')
}

function readTrim(root, hostPath) {
  try {
    return read(root, hostPath).trim()
  } catch {
    return undefined
  }
}

function put(root, hostPath, content, mode = 0o644) {
  const p = real(root, hostPath)
  fs.mkdirSync(path.dirname(p), {recursive: true})
  fs.writeFileSync(p, content)
  fs.chmodSync(p, mode)
}

function mkdir(root, hostPath) {
  fs.mkdirSync(real(root, hostPath), {recursive: true})
}

function rm(root, hostPath) {
  fs.rmSync(real(root, hostPath), {recursive: true, force: true})
}

/**
 * A relative symlink at hostPath pointing at targetHostPath, spelled as sysfs spells it
 * (kernfs_get_target_path): up to the nearest ancestor of the TARGET'S PARENT, then down — so a
 * link to an ancestor reads "../../../0000:03:00.0", never "../..".
 */
function link(root, targetHostPath, hostPath) {
  const p = real(root, hostPath)
  fs.mkdirSync(path.dirname(p), {recursive: true})
  fs.rmSync(p, {force: true})
  const targetParent = path.posix.dirname(targetHostPath)
  let base = path.posix.dirname(hostPath)
  let ups = 0
  while (base !== '/' && !(targetParent === base || targetParent.startsWith(base + '/'))) {
    base = path.posix.dirname(base)
    ups++
  }
  const down = base === '/' ? targetHostPath.slice(1) : targetHostPath.slice(base.length + 1)
  fs.symlinkSync('../'.repeat(ups) + down, p)
}

function readlinkAbs(root, hostPath) {
  try {
    const target = fs.readlinkSync(real(root, hostPath))
    return path.posix.resolve(path.posix.dirname(hostPath), target)
  } catch {
    return undefined
  }
}

function ls(root, hostPath) {
  try {
    return fs.readdirSync(real(root, hostPath)).sort()
  } catch {
    return []
  }
}

/** The canonical host path (symlinks resolved inside the root); the last component may be missing. */
export function canonical(root, hostPath) {
  const normal = path.posix.normalize('/' + hostPath)
  const dir = path.posix.dirname(normal)
  let realDir
  try {
    realDir = fs.realpathSync(real(root, dir))
  } catch {
    return normal
  }
  const rootReal = fs.realpathSync(root)
  const rel = path.relative(rootReal, realDir)
  return path.posix.join('/', rel.split(path.sep).join('/'), path.posix.basename(normal))
}

// ---- state ---------------------------------------------------------------------------------------

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys(value[k])]))
  }
  return value
}

/**
 * Kernel memory. Monotonic counters the real kernel never winds back (the next ifindex) live in
 * .sim/counters.json, apart from the state, so a tree comparison can leave them out.
 */
export function loadState(root) {
  const state = JSON.parse(read(root, '/.sim/state.json'))
  const counters = exists(root, '/.sim/counters.json') ? JSON.parse(read(root, '/.sim/counters.json')) : {}
  return {...state, nextIfindex: counters.nextIfindex ?? 100}
}

export function saveState(root, state) {
  const {nextIfindex, ...rest} = state
  put(root, '/.sim/state.json', JSON.stringify(sortKeys(rest), null, 1) + '\n', 0o600)
  put(root, '/.sim/counters.json', JSON.stringify({nextIfindex: nextIfindex ?? 100}) + '\n', 0o600)
}

export function loadConfig(root) {
  return JSON.parse(read(root, '/.sim/config.json'))
}

/** Run fn(state, config) and save the state (also when fn throws after changing it: the kernel does not roll back). */
function withState(root, fn) {
  const state = loadState(root)
  const config = loadConfig(root)
  try {
    return fn(state, config)
  } finally {
    saveState(root, state)
  }
}

// ---- PCI helpers ---------------------------------------------------------------------------------

const BDF = /^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/

function parseBdf(bdf) {
  const m = BDF.exec(bdf)
  if (!m) return undefined
  return {domain: parseInt(m[1], 16), bus: parseInt(m[2], 16), slot: parseInt(m[3], 16), fn: parseInt(m[4], 16)}
}

function formatBdf(domain, rid) {
  const bus = rid >> 8
  const devfn = rid & 0xff
  const hex = (n, w) => n.toString(16).padStart(w, '0')
  return `${hex(domain, 4)}:${hex(bus, 2)}:${hex(devfn >> 3, 2)}.${devfn & 7}`
}

/** The BDF of VF i: routing id = PF rid + offset + i * stride (pci-iov-howto, PCIe SR-IOV spec). */
export function vfBdf(pfBdf, offset, stride, i) {
  const p = parseBdf(pfBdf)
  const rid = (p.bus << 8) | (p.slot << 3) | p.fn
  return formatBdf(p.domain, rid + offset + stride * i)
}

/** /sys/devices/... directory of a PCI device, or undefined. */
function pciDevDir(root, bdf) {
  const target = readlinkAbs(root, `/sys/bus/pci/devices/${bdf}`)
  return target && exists(root, target) ? target : undefined
}

function pciDriverOf(root, devDir) {
  const t = readlinkAbs(root, `${devDir}/driver`)
  return t ? path.posix.basename(t) : undefined
}

function pciIds(root, devDir) {
  const v = readTrim(root, `${devDir}/vendor`)?.replace(/^0x/, '')
  const d = readTrim(root, `${devDir}/device`)?.replace(/^0x/, '')
  return `${v} ${d}`
}

function pciDriverRegistered(root, driver) {
  return exists(root, `/sys/bus/pci/drivers/${driver}`)
}

/** Does a PCI driver match a device (pci_bus_match: driver_override first, then static + dynamic ids)? */
function pciMatch(root, state, config, devDir, driver) {
  // The override lives in kernel memory: an override named "(null)" reads exactly like no override.
  const override = state.overrides?.[path.posix.basename(devDir)]
  if (override !== undefined) return override === driver
  const ids = pciIds(root, devDir)
  const drv = config.pciDrivers[driver]
  if (drv?.ids?.includes(ids)) return true
  return (state.pciDynIds[driver] ?? []).includes(ids)
}

function ifindexNext(state) {
  state.nextIfindex = (state.nextIfindex ?? 100) + 1
  return state.nextIfindex
}

/** Register a netdev under a device directory (and /sys/class/net). */
function addNetdev(root, state, devDir, name, mac, extra = {}) {
  const dir = `${devDir}/net/${name}`
  mkdir(root, dir)
  put(root, `${dir}/address`, `${mac}\n`, 0o444)
  put(root, `${dir}/operstate`, 'down\n', 0o444)
  link(root, devDir, `${dir}/device`)
  const ifindex = ifindexNext(state)
  put(root, `${dir}/ifindex`, `${ifindex}\n`, 0o444)
  if (extra.physSwitchId) put(root, `${dir}/phys_switch_id`, `${extra.physSwitchId}\n`, 0o444)
  if (extra.physPortName) put(root, `${dir}/phys_port_name`, `${extra.physPortName}\n`, 0o444)
  link(root, dir, `/sys/class/net/${name}`)
  state.netdevs[name] = {dir, ifindex, mac, up: false, netns: null, addrs: []}
}

function removeNetdev(root, state, name) {
  const nd = state.netdevs[name]
  if (!nd) return
  for (const port of Object.keys(state.ovs.ports)) if (port === name) delete state.ovs.ports[port]
  rm(root, nd.dir)
  rm(root, `/sys/class/net/${name}`)
  delete state.netdevs[name]
}

function removeNetdevsUnder(root, state, dir) {
  for (const [name, nd] of Object.entries(state.netdevs)) if (nd.dir.startsWith(dir + '/')) removeNetdev(root, state, name)
}

function macFor(seed) {
  let h = 0
  for (const c of seed) h = (h * 31 + c.charCodeAt(0)) >>> 0
  const b = [0x02, (h >> 24) & 0xff, (h >> 16) & 0xff, (h >> 8) & 0xff, h & 0xff, seed.length & 0xff]
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':')
}

function iommuGroupOf(root, devDir) {
  const t = readlinkAbs(root, `${devDir}/iommu_group`)
  return t ? path.posix.basename(t) : undefined
}

/** vfio-pci creates /dev/vfio/<group> while a device of the group is bound to it. */
function syncVfioGroupNode(root, group) {
  if (group === undefined) return
  const members = ls(root, `/sys/kernel/iommu_groups/${group}/devices`)
  const anyVfio = members.some((bdf) => {
    const dir = pciDevDir(root, bdf)
    return dir && pciDriverOf(root, dir) === 'vfio-pci'
  })
  if (anyVfio && !exists(root, `/dev/vfio/${group}`)) put(root, `/dev/vfio/${group}`, '', 0o600)
  if (!anyVfio) rm(root, `/dev/vfio/${group}`)
}

/** Is /dev/vfio/<group> held open by a process (a /proc/<pid>/fd link to it)? */
export function vfioGroupHolder(root, group) {
  for (const pid of ls(root, '/proc').filter((p) => /^\d+$/.test(p))) {
    for (const fd of ls(root, `/proc/${pid}/fd`)) {
      const t = fs.readlinkSync(real(root, `/proc/${pid}/fd/${fd}`))
      if (t === `/dev/vfio/${group}`) return pid
    }
  }
  return undefined
}

function pciProbe(root, state, config, devDir, driver) {
  const bdf = path.posix.basename(devDir)
  const drv = config.pciDrivers[driver] ?? {}
  link(root, `/sys/bus/pci/drivers/${driver}`, `${devDir}/driver`)
  link(root, devDir, `/sys/bus/pci/drivers/${driver}/${bdf}`)
  if (drv.netdev) {
    const physfn = readlinkAbs(root, `${devDir}/physfn`)
    let name
    if (physfn) {
      const pfName = ls(root, `${physfn}/net`)[0] ?? 'eth'
      const idx = ls(root, physfn).filter((e) => e.startsWith('virtfn')).find((e) => readlinkAbs(root, `${physfn}/${e}`) === devDir)
      name = `${pfName.slice(0, 10)}v${idx?.slice(6) ?? '0'}`
    } else {
      name = drv.netdevName ?? `eth${Object.keys(state.netdevs).length}`
    }
    let mac = macFor(bdf)
    if (physfn) {
      const pfBdf = path.posix.basename(physfn)
      const i = Number(ls(root, physfn).find((e) => e.startsWith('virtfn') && readlinkAbs(root, `${physfn}/${e}`) === devDir)?.slice(6))
      const admin = state.vf[pfBdf]?.[i]
      if (admin && admin.mac !== '00:00:00:00:00:00') mac = admin.mac
    }
    addNetdev(root, state, devDir, name, mac)
  }
  if (driver === 'vfio-pci') syncVfioGroupNode(root, iommuGroupOf(root, devDir))
}

function pciRemoveDriver(root, state, devDir) {
  const driver = pciDriverOf(root, devDir)
  if (!driver) return
  const bdf = path.posix.basename(devDir)
  removeNetdevsUnder(root, state, devDir)
  rm(root, `${devDir}/driver`)
  rm(root, `/sys/bus/pci/drivers/${driver}/${bdf}`)
  if (driver === 'vfio-pci') syncVfioGroupNode(root, iommuGroupOf(root, devDir))
}

/** device_attach: the first registered driver that matches binds (override wins). */
function pciAttach(root, state, config, devDir) {
  if (pciDriverOf(root, devDir)) return true
  for (const driver of state.pciDriverOrder) {
    if (!pciDriverRegistered(root, driver)) continue
    if (pciMatch(root, state, config, devDir, driver)) {
      pciProbe(root, state, config, devDir, driver)
      return true
    }
  }
  return false
}

// ---- SR-IOV --------------------------------------------------------------------------------------

function pfIsSwitchdev(state, pfBdf) {
  return state.eswitch[pfBdf] === 'switchdev'
}

function addRepresentor(root, state, pfDir, i) {
  const pfName = ls(root, `${pfDir}/net`)[0]
  if (!pfName) return
  const switchId = readTrim(root, `${pfDir}/net/${pfName}/phys_switch_id`) ?? macFor(pfDir).replaceAll(':', '')
  addNetdev(root, state, pfDir, `${pfName.slice(0, 11)}_${i}`, macFor(`${pfDir}rep${i}`), {physSwitchId: switchId, physPortName: `pf0vf${i}`})
}

function removeRepresentors(root, state, pfDir) {
  for (const [name, nd] of Object.entries(state.netdevs)) {
    if (nd.dir.startsWith(`${pfDir}/net/`) && /_\d+$/.test(name)) removeNetdev(root, state, name)
  }
}

function enableVfs(root, state, config, pfDir, n) {
  const pfBdf = path.posix.basename(pfDir)
  const offset = Number(readTrim(root, `${pfDir}/sriov_offset`))
  const stride = Number(readTrim(root, `${pfDir}/sriov_stride`))
  const vfDevice = readTrim(root, `${pfDir}/sriov_vf_device`)
  const vendor = readTrim(root, `${pfDir}/vendor`)
  const numa = readTrim(root, `${pfDir}/numa_node`) ?? '-1'
  const parent = path.posix.dirname(pfDir)
  state.vf[pfBdf] = []
  for (let i = 0; i < n; i++) {
    const bdf = vfBdf(pfBdf, offset, stride, i)
    const dir = `${parent}/${bdf}`
    mkdir(root, dir)
    put(root, `${dir}/vendor`, `${vendor}\n`, 0o444)
    put(root, `${dir}/device`, `0x${vfDevice}\n`, 0o444)
    put(root, `${dir}/numa_node`, `${numa}\n`, 0o444)
    put(root, `${dir}/driver_override`, '(null)\n')
    link(root, pfDir, `${dir}/physfn`)
    link(root, dir, `${pfDir}/virtfn${i}`)
    link(root, dir, `/sys/bus/pci/devices/${bdf}`)
    if (state.iommu) {
      // iommu_group_alloc uses an IDA: the lowest free number.
      let g = 100
      while (exists(root, `/sys/kernel/iommu_groups/${g}`)) g++
      const group = String(g)
      link(root, dir, `/sys/kernel/iommu_groups/${group}/devices/${bdf}`)
      link(root, `/sys/kernel/iommu_groups/${group}`, `${dir}/iommu_group`)
    }
    state.vf[pfBdf].push({mac: '00:00:00:00:00:00', vlan: 0, qos: 0, proto: '802.1Q', spoofchk: true, trust: false, link_state: 'auto', min_tx_rate: 0, max_tx_rate: 0})
  }
  put(root, `${pfDir}/sriov_numvfs`, `${n}\n`)
  if (pfIsSwitchdev(state, pfBdf)) for (let i = 0; i < n; i++) addRepresentor(root, state, pfDir, i)
  if (readTrim(root, `${pfDir}/sriov_drivers_autoprobe`) === '1') {
    for (let i = 0; i < n; i++) pciAttach(root, state, config, `${parent}/${vfBdf(pfBdf, offset, stride, i)}`)
  }
}

function disableVfs(root, state, pfDir, sysPath) {
  const pfBdf = path.posix.basename(pfDir)
  const vfs = ls(root, pfDir).filter((e) => /^virtfn\d+$/.test(e))
  for (const vf of vfs) {
    const dir = readlinkAbs(root, `${pfDir}/${vf}`)
    if (pciDriverOf(root, dir) === 'vfio-pci') {
      const group = iommuGroupOf(root, dir)
      const holder = group === undefined ? undefined : vfioGroupHolder(root, group)
      // The real kernel blocks in vfio_unregister_group_dev until the user closes the device;
      // the simulation refuses instead of hanging (documented in README.md).
      if (holder) throw errnoError('EBUSY', sysPath, `VF ${path.posix.basename(dir)} is held open by pid ${holder}; the real kernel would block here`)
    }
  }
  removeRepresentors(root, state, pfDir)
  for (const vf of vfs) {
    const dir = readlinkAbs(root, `${pfDir}/${vf}`)
    const bdf = path.posix.basename(dir)
    pciRemoveDriver(root, state, dir)
    const group = iommuGroupOf(root, dir)
    if (group !== undefined) rm(root, `/sys/kernel/iommu_groups/${group}`)
    rm(root, dir)
    rm(root, `${pfDir}/${vf}`)
    rm(root, `/sys/bus/pci/devices/${bdf}`)
    if (state.overrides) delete state.overrides[bdf]
  }
  delete state.vf[pfBdf]
  put(root, `${pfDir}/sriov_numvfs`, '0\n')
}

/** drivers/pci/iov.c sriov_numvfs_store, with the PF driver's sriov_configure. */
function writeNumvfs(root, state, config, devDir, value, sysPath) {
  const s = value.trim()
  const n = /^(0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)$/i.test(s) ? Number(s) : NaN
  if (!Number.isInteger(n) || n > 65535) throw errnoError('EINVAL', sysPath, `kstrtou16("${s}")`)
  const total = Number(readTrim(root, `${devDir}/sriov_totalvfs`))
  if (n > total) throw errnoError('ERANGE', sysPath, `${n} > sriov_totalvfs ${total}`)
  const current = Number(readTrim(root, `${devDir}/sriov_numvfs`))
  if (n === current) return
  const driver = pciDriverOf(root, devDir)
  const drv = driver ? config.pciDrivers[driver] : undefined
  if (!drv?.sriov) throw errnoError('ENOENT', sysPath, 'Driver does not support SRIOV configuration via sysfs')
  if (n === 0) {
    disableVfs(root, state, devDir, sysPath)
    return
  }
  if (current !== 0) throw errnoError('EBUSY', sysPath, `${current} VFs already enabled. Disable before enabling ${n} VFs`)
  if (drv.sriovFail) throw errnoError(drv.sriovFail, sysPath, 'sriov_configure failed')
  // "%d VFs requested; only %d enabled": some drivers enable fewer than asked.
  enableVfs(root, state, config, devDir, Math.min(n, drv.maxEnable ?? n))
}

function kstrtobool(s) {
  const v = s.trim()
  if (/^(1|y|Y|on)$/i.test(v)) return true
  if (/^(0|n|N|off)$/i.test(v)) return false
  return undefined
}

// ---- vDPA bus ------------------------------------------------------------------------------------

function vdpaDevDir(root, name) {
  const t = readlinkAbs(root, `/sys/bus/vdpa/devices/${name}`)
  return t && exists(root, t) ? t : undefined
}

function vdpaDriverOf(root, devDir) {
  const t = readlinkAbs(root, `${devDir}/driver`)
  return t ? path.posix.basename(t) : undefined
}

function vdpaProbe(root, state, devDir, driver) {
  const name = path.posix.basename(devDir)
  link(root, `/sys/bus/vdpa/drivers/${driver}`, `${devDir}/driver`)
  link(root, devDir, `/sys/bus/vdpa/drivers/${driver}/${name}`)
  if (driver === 'vhost_vdpa') {
    let minor = 0
    while (exists(root, `/dev/vhost-vdpa-${minor}`)) minor++
    mkdir(root, `${devDir}/vhost-vdpa-${minor}`)
    put(root, `${devDir}/vhost-vdpa-${minor}/dev`, `${state.vhostVdpaMajor ?? 238}:${minor}\n`, 0o444)
    put(root, `/dev/vhost-vdpa-${minor}`, '', 0o600)
  } else if (driver === 'virtio_vdpa') {
    let index = 0
    while (exists(root, `/sys/bus/virtio/devices/virtio${index}`)) index++
    const vdir = `${devDir}/virtio${index}`
    mkdir(root, vdir)
    link(root, vdir, `/sys/bus/virtio/devices/virtio${index}`)
    let eth = 0
    while (state.netdevs[`eth${eth}`] || exists(root, `/sys/class/net/eth${eth}`)) eth++
    const mac = state.vdpa[name]?.mac ?? macFor(name)
    addNetdev(root, state, vdir, `eth${eth}`, mac)
  }
}

function vdpaRemoveDriver(root, state, devDir) {
  const driver = vdpaDriverOf(root, devDir)
  if (!driver) return
  const name = path.posix.basename(devDir)
  for (const e of ls(root, devDir)) {
    if (e.startsWith('vhost-vdpa-')) {
      rm(root, `/dev/${e}`)
      rm(root, `${devDir}/${e}`)
    }
    if (/^virtio\d+$/.test(e)) {
      removeNetdevsUnder(root, state, `${devDir}/${e}`)
      rm(root, `/sys/bus/virtio/devices/${e}`)
      rm(root, `${devDir}/${e}`)
    }
  }
  rm(root, `${devDir}/driver`)
  rm(root, `/sys/bus/vdpa/drivers/${driver}/${name}`)
}

function vdpaAttach(root, state, devDir) {
  if (vdpaDriverOf(root, devDir)) return
  for (const driver of state.vdpaDriverOrder) {
    if (exists(root, `/sys/bus/vdpa/drivers/${driver}`)) {
      vdpaProbe(root, state, devDir, driver)
      return
    }
  }
}

/** The management devices the loaded modules and the PCI devices provide: name -> {parent dir, attrs}. */
export function vdpaMgmtdevs(root, state, config) {
  const out = {}
  for (const m of state.modules) {
    const mod = config.modules[m]
    if (mod?.mgmtdev) out[mod.mgmtdev.name] = {dir: `/sys/devices/${mod.mgmtdev.name}`, ...mod.mgmtdev}
  }
  for (const [driver, spec] of Object.entries(config.pciDrivers)) {
    if (!spec.vdpaMgmtdev) continue
    if (spec.vdpaModule && !state.modules.includes(spec.vdpaModule)) continue
    for (const bdf of ls(root, `/sys/bus/pci/drivers/${driver}`).filter((e) => BDF.test(e))) {
      const dir = pciDevDir(root, bdf)
      const physfn = readlinkAbs(root, `${dir}/physfn`)
      if (spec.vdpaNeedsSwitchdev && !(physfn && pfIsSwitchdev(state, path.posix.basename(physfn)))) continue
      out[`pci/${bdf}`] = {dir, ...spec.vdpaMgmtdev}
    }
  }
  return out
}

export function vdpaDevAdd(root, name, mgmtdev, attrs) {
  return withState(root, (state, config) => {
    const mgmt = vdpaMgmtdevs(root, state, config)[mgmtdev]
    if (!mgmt) throw new NetlinkError('ENODEV')
    if (state.vdpa[name] || exists(root, `/sys/bus/vdpa/devices/${name}`)) throw new NetlinkError('EEXIST')
    const mask = mgmt.configAttrs ?? []
    for (const k of Object.keys(attrs)) {
      if (!mask.includes(k)) throw new NetlinkError('EOPNOTSUPP', 'All provided attributes are not supported')
    }
    if (attrs.max_vqp !== undefined && attrs.max_vqp > (mgmt.maxVqp ?? 1)) throw new NetlinkError('EINVAL')
    const dir = `${mgmt.dir}/${name}`
    mkdir(root, dir)
    link(root, dir, `/sys/bus/vdpa/devices/${name}`)
    state.vdpa[name] = {mgmtdev, ...attrs}
    if (readTrim(root, '/sys/bus/vdpa/drivers_autoprobe') !== '0') vdpaAttach(root, state, dir)
  })
}

export function vdpaDevDel(root, name) {
  return withState(root, (state) => {
    const dir = vdpaDevDir(root, name)
    if (!dir || !state.vdpa[name]) throw new NetlinkError('ENODEV')
    vdpaRemoveDriver(root, state, dir)
    rm(root, dir)
    rm(root, `/sys/bus/vdpa/devices/${name}`)
    delete state.vdpa[name]
  })
}

// ---- the sysfs write door ------------------------------------------------------------------------

/**
 * Apply a write to a host path the way the kernel would. Returns true when the path is a kernel
 * attribute this module handled (the caller must not write the file itself), false for an
 * ordinary file. Throws errno-coded errors (err.code = 'EBUSY', ...).
 */
export function sysfsWrite(root, hostPath, value) {
  const c = canonical(root, hostPath)
  if (!c.startsWith('/sys/')) return false
  const base = path.posix.basename(c)
  const dir = path.posix.dirname(c)
  return withState(root, (state, config) => {
    let m
    if (base === 'sriov_numvfs' && c.startsWith('/sys/devices/')) {
      writeNumvfs(root, state, config, dir, value, hostPath)
      return true
    }
    if (base === 'sriov_drivers_autoprobe' && c.startsWith('/sys/devices/')) {
      const b = kstrtobool(value)
      if (b === undefined) throw errnoError('EINVAL', hostPath, 'kstrtobool')
      put(root, c, b ? '1\n' : '0\n')
      return true
    }
    if (base === 'driver_override' && c.startsWith('/sys/devices/')) {
      // drivers/base/driver.c driver_set_override: up to the first newline; "" or "\n" clears.
      if (value.length >= 4095) throw errnoError('EINVAL', hostPath)
      const s = value.split('\0')[0].split('\n')[0]
      const bdf = path.posix.basename(dir)
      state.overrides ??= {}
      if (s === '') delete state.overrides[bdf]
      else state.overrides[bdf] = s
      put(root, c, s === '' ? '(null)\n' : `${s}\n`)
      return true
    }
    if ((m = /^\/sys\/bus\/pci\/drivers\/([^/]+)\/(bind|unbind|new_id|remove_id)$/.exec(c))) {
      const [, driver, op] = m
      const arg = value.trim()
      if (op === 'bind' || op === 'unbind') {
        const devDir = pciDevDir(root, arg)
        if (!devDir) throw errnoError('ENODEV', hostPath, `no PCI device ${arg}`)
        if (op === 'unbind') {
          if (pciDriverOf(root, devDir) !== driver) throw errnoError('ENODEV', hostPath, `${arg} is not bound to ${driver}`)
          pciRemoveDriver(root, state, devDir)
          return true
        }
        if (pciDriverOf(root, devDir)) throw errnoError('EBUSY', hostPath, `${arg} is already bound`)
        if (!pciMatch(root, state, config, devDir, driver)) throw errnoError('ENODEV', hostPath, `${driver} does not match ${arg}`)
        pciProbe(root, state, config, devDir, driver)
        return true
      }
      const f = arg.split(/\s+/)
      if (f.length < 2 || !f.every((x) => /^[0-9a-f]+$/i.test(x))) throw errnoError('EINVAL', hostPath)
      const ids = `${f[0].toLowerCase().padStart(4, '0')} ${f[1].toLowerCase().padStart(4, '0')}`
      const dyn = (state.pciDynIds[driver] ??= [])
      if (op === 'remove_id') {
        if (!dyn.includes(ids)) throw errnoError('ENODEV', hostPath)
        dyn.splice(dyn.indexOf(ids), 1)
        if (dyn.length === 0) delete state.pciDynIds[driver]
        return true
      }
      if (config.pciDrivers[driver]?.ids?.includes(ids) || dyn.includes(ids)) throw errnoError('EEXIST', hostPath)
      dyn.push(ids)
      // new_id_store -> driver_attach: every unbound matching device is probed.
      for (const bdf of ls(root, '/sys/bus/pci/devices')) {
        const devDir = pciDevDir(root, bdf)
        if (devDir && !pciDriverOf(root, devDir) && pciMatch(root, state, config, devDir, driver)) pciProbe(root, state, config, devDir, driver)
      }
      return true
    }
    if (c === '/sys/bus/pci/drivers_probe') {
      const devDir = pciDevDir(root, value.trim())
      if (!devDir) throw errnoError('ENODEV', hostPath)
      pciAttach(root, state, config, devDir)
      return true
    }
    if ((m = /^\/sys\/bus\/vdpa\/drivers\/([^/]+)\/(bind|unbind)$/.exec(c))) {
      const [, driver, op] = m
      const devDir = vdpaDevDir(root, value.trim())
      if (!devDir) throw errnoError('ENODEV', hostPath)
      if (op === 'unbind') {
        if (vdpaDriverOf(root, devDir) !== driver) throw errnoError('ENODEV', hostPath)
        vdpaRemoveDriver(root, state, devDir)
        return true
      }
      if (vdpaDriverOf(root, devDir)) throw errnoError('EBUSY', hostPath)
      vdpaProbe(root, state, devDir, driver)
      return true
    }
    if (c === '/sys/bus/vdpa/drivers_probe') {
      const devDir = vdpaDevDir(root, value.trim())
      if (!devDir) throw errnoError('ENODEV', hostPath)
      vdpaAttach(root, state, devDir)
      return true
    }
    if (c === '/sys/bus/vdpa/drivers_autoprobe' || c === '/sys/bus/pci/drivers_autoprobe') {
      const b = kstrtobool(value)
      if (b === undefined) throw errnoError('EINVAL', hostPath)
      put(root, c, b ? '1\n' : '0\n')
      return true
    }
    // Any other sysfs file: writable only if its mode says so (read-only attributes: EACCES).
    const st = fs.statSync(real(root, c), {throwIfNoEntry: false})
    if (!st) throw errnoError('ENOENT', hostPath)
    if ((st.mode & 0o222) === 0) throw errnoError('EACCES', hostPath)
    return false
  })
}

// ---- modules -------------------------------------------------------------------------------------

export const normalModule = (name) => name.replaceAll('-', '_')

function moduleLoadOne(root, state, config, name) {
  const mod = config.modules[name]
  mkdir(root, `/sys/module/${name}/holders`)
  put(root, `/sys/module/${name}/refcnt`, '0\n', 0o444)
  state.modules.push(name)
  for (const dep of mod.deps ?? []) {
    link(root, `/sys/module/${name}`, `/sys/module/${dep}/holders/${name}`)
    put(root, `/sys/module/${dep}/refcnt`, `${ls(root, `/sys/module/${dep}/holders`).length}\n`, 0o444)
  }
  for (const d of mod.pciDrivers ?? []) {
    for (const f of ['bind', 'unbind', 'new_id', 'remove_id']) put(root, `/sys/bus/pci/drivers/${d}/${f}`, '', 0o200)
    link(root, `/sys/module/${name}`, `/sys/bus/pci/drivers/${d}/module`)
    state.pciDriverOrder.push(d)
  }
  if (mod.vdpaBus) {
    mkdir(root, '/sys/bus/vdpa/devices')
    mkdir(root, '/sys/bus/vdpa/drivers')
    put(root, '/sys/bus/vdpa/drivers_autoprobe', '1\n')
    put(root, '/sys/bus/vdpa/drivers_probe', '', 0o200)
  }
  for (const d of mod.vdpaDrivers ?? []) {
    for (const f of ['bind', 'unbind']) put(root, `/sys/bus/vdpa/drivers/${d}/${f}`, '', 0o200)
    link(root, `/sys/module/${name}`, `/sys/bus/vdpa/drivers/${d}/module`)
    state.vdpaDriverOrder.push(d)
  }
  if (mod.mgmtdev) mkdir(root, `/sys/devices/${mod.mgmtdev.name}`)
  for (const node of mod.devNodes ?? []) put(root, node, '', 0o666)
  // A freshly registered PCI driver probes every unbound device it matches.
  for (const d of mod.pciDrivers ?? []) {
    for (const bdf of ls(root, '/sys/bus/pci/devices')) {
      const devDir = pciDevDir(root, bdf)
      if (devDir && !pciDriverOf(root, devDir) && pciMatch(root, state, config, devDir, d)) pciProbe(root, state, config, devDir, d)
    }
  }
}

/** modprobe NAME: load its dependencies first, then it (no-op when loaded). */
export function moduleLoad(root, name) {
  return withState(root, (state, config) => {
    const n = normalModule(name)
    if (!config.modules[n]) {
      const e = new Error(`modprobe: FATAL: Module ${name} not found in directory /lib/modules/${config.kernelRelease}`)
      e.exitCode = 1
      throw e
    }
    const visit = (m) => {
      if (state.modules.includes(m)) return
      for (const dep of config.modules[m].deps ?? []) visit(dep)
      moduleLoadOne(root, state, config, m)
    }
    visit(n)
  })
}

function moduleUnloadOne(root, state, config, name) {
  const mod = config.modules[name]
  for (const d of mod.pciDrivers ?? []) {
    for (const bdf of ls(root, `/sys/bus/pci/drivers/${d}`).filter((e) => BDF.test(e))) pciRemoveDriver(root, state, pciDevDir(root, bdf))
    rm(root, `/sys/bus/pci/drivers/${d}`)
    state.pciDriverOrder = state.pciDriverOrder.filter((x) => x !== d)
    delete state.pciDynIds[d]
  }
  for (const d of mod.vdpaDrivers ?? []) {
    for (const dev of ls(root, `/sys/bus/vdpa/drivers/${d}`).filter((e) => !['bind', 'unbind', 'module'].includes(e))) {
      vdpaRemoveDriver(root, state, vdpaDevDir(root, dev))
    }
    rm(root, `/sys/bus/vdpa/drivers/${d}`)
    state.vdpaDriverOrder = state.vdpaDriverOrder.filter((x) => x !== d)
  }
  if (mod.mgmtdev) rm(root, `/sys/devices/${mod.mgmtdev.name}`)
  if (mod.vdpaBus) rm(root, '/sys/bus/vdpa')
  for (const node of mod.devNodes ?? []) rm(root, node)
  rm(root, `/sys/module/${name}`)
  state.modules = state.modules.filter((m) => m !== name)
  for (const dep of mod.deps ?? []) {
    rm(root, `/sys/module/${dep}/holders/${name}`)
    put(root, `/sys/module/${dep}/refcnt`, `${ls(root, `/sys/module/${dep}/holders`).length}\n`, 0o444)
  }
}

/** Is a module busy: held by another module, or by a device the sim knows of (a vDPA device on its mgmtdev)? */
function moduleInUse(root, state, config, name) {
  if (ls(root, `/sys/module/${name}/holders`).length > 0) return true
  const mod = config.modules[name]
  if (mod.mgmtdev && Object.values(state.vdpa).some((d) => d.mgmtdev === mod.mgmtdev.name)) return true
  if (mod.vdpaBus && Object.keys(state.vdpa).length > 0) return true
  return false
}

/** rmmod NAME: remove exactly that module (no dependency sweep). */
export function moduleRemoveOnly(root, name) {
  return withState(root, (state, config) => {
    const n = normalModule(name)
    if (!state.modules.includes(n)) {
      const e = new Error(`rmmod: ERROR: Module ${n} is not currently loaded`)
      e.exitCode = 1
      throw e
    }
    if (moduleInUse(root, state, config, n)) {
      const e = new Error(`rmmod: ERROR: Module ${n} is in use`)
      e.exitCode = 1
      throw e
    }
    moduleUnloadOne(root, state, config, n)
  })
}

/** modprobe -r NAME: remove it, then every dependency that became unused (kmod behaviour). */
export function moduleUnload(root, name) {
  return withState(root, (state, config) => {
    const n = normalModule(name)
    if (!state.modules.includes(n)) {
      const e = new Error(`modprobe: FATAL: Module ${n} is not in kernel.`)
      e.exitCode = 1
      throw e
    }
    if (moduleInUse(root, state, config, n)) {
      const e = new Error(`modprobe: FATAL: Module ${n} is in use.`)
      e.exitCode = 1
      throw e
    }
    const deps = config.modules[n].deps ?? []
    moduleUnloadOne(root, state, config, n)
    const sweep = (list) => {
      for (const d of list) {
        if (!state.modules.includes(d) || moduleInUse(root, state, config, d) || config.modules[d].builtin) continue
        const next = config.modules[d].deps ?? []
        moduleUnloadOne(root, state, config, d)
        sweep(next)
      }
    }
    sweep(deps)
  })
}

// ---- netlink-ish operations for the fake tools --------------------------------------------------

function pfOfNetdev(root, state, name) {
  const nd = state.netdevs[name]
  if (!nd || nd.netns) return undefined
  const devDir = path.posix.dirname(path.posix.dirname(nd.dir))
  return exists(root, `${devDir}/sriov_totalvfs`) ? devDir : undefined
}

export function netdevInfo(root, name, netns = null) {
  const state = loadState(root)
  const nd = state.netdevs[name]
  if (!nd || (nd.netns ?? null) !== netns) return undefined
  const pfDir = netns ? undefined : pfOfNetdev(root, state, name)
  const vfs = pfDir ? state.vf[path.posix.basename(pfDir)] ?? [] : undefined
  return {name, ...nd, vfs}
}

export function netdevsIn(root, netns = null) {
  const state = loadState(root)
  return Object.entries(state.netdevs).filter(([, nd]) => (nd.netns ?? null) === netns).map(([name, nd]) => ({name, ...nd}))
}

/** ip link set dev PF vf N ... (ndo_set_vf_*). */
export function setVf(root, pfName, vf, attrs) {
  return withState(root, (state) => {
    const pfDir = pfOfNetdev(root, state, pfName)
    if (!pfDir) throw new NetlinkError('EOPNOTSUPP')
    const list = state.vf[path.posix.basename(pfDir)] ?? []
    const entry = list[vf]
    if (!entry) throw new NetlinkError('EINVAL')
    if (attrs.proto === '802.1ad' && !loadConfig(root).pciDrivers[pciDriverOf(root, pfDir)]?.qinq) throw new NetlinkError('EPROTONOSUPPORT')
    const min = attrs.min_tx_rate ?? entry.min_tx_rate
    const max = attrs.max_tx_rate ?? entry.max_tx_rate
    if (max !== 0 && min > max) throw new NetlinkError('EINVAL')
    Object.assign(entry, attrs)
  })
}

export function setLink(root, name, netns, changes) {
  return withState(root, (state) => {
    const nd = state.netdevs[name]
    if (!nd || (nd.netns ?? null) !== netns) throw new NetlinkError('ENODEV')
    if (changes.up !== undefined) {
      nd.up = changes.up
      if (!nd.netns) put(root, `${nd.dir}/operstate`, changes.up ? 'up\n' : 'down\n', 0o444)
    }
    if (changes.netns !== undefined) {
      const target = changes.netns === '1' ? null : changes.netns
      if (target !== null && !exists(root, `/run/netns/${target}`)) throw new NetlinkError('ENOENT', `Invalid "netns" value`)
      if (target === (nd.netns ?? null)) return
      // Moving a netdev out of the init namespace hides it from this sysfs view; addresses are flushed.
      nd.addrs = []
      nd.up = false
      put(root, `${nd.dir}/operstate`, 'down\n', 0o444)
      if (target === null) link(root, nd.dir, `/sys/class/net/${name}`)
      else rm(root, `/sys/class/net/${name}`)
      nd.netns = target
    }
  })
}

export function addrChange(root, name, netns, cidr, add) {
  return withState(root, (state) => {
    const nd = state.netdevs[name]
    if (!nd || (nd.netns ?? null) !== netns) throw new NetlinkError('ENODEV')
    if (add) {
      if (nd.addrs.includes(cidr)) throw new NetlinkError('EEXIST')
      nd.addrs.push(cidr)
    } else {
      if (!nd.addrs.includes(cidr)) throw new NetlinkError('EADDRNOTAVAIL')
      nd.addrs = nd.addrs.filter((a) => a !== cidr)
    }
  })
}

// ---- devlink -------------------------------------------------------------------------------------

export function eswitchGet(root, bdf) {
  const state = loadState(root)
  const config = loadConfig(root)
  const dir = pciDevDir(root, bdf)
  const driver = dir ? pciDriverOf(root, dir) : undefined
  if (!dir || !driver || !config.pciDrivers[driver]?.devlink) throw new NetlinkError('ENODEV')
  if (!config.pciDrivers[driver].eswitch) throw new NetlinkError('EOPNOTSUPP')
  return state.eswitch[bdf] ?? 'legacy'
}

export function eswitchSet(root, bdf, mode) {
  return withState(root, (state, config) => {
    const dir = pciDevDir(root, bdf)
    const driver = dir ? pciDriverOf(root, dir) : undefined
    if (!dir || !driver || !config.pciDrivers[driver]?.devlink) throw new NetlinkError('ENODEV')
    if (!config.pciDrivers[driver].eswitch) throw new NetlinkError('EOPNOTSUPP', 'Mode change is not supported')
    const current = state.eswitch[bdf] ?? 'legacy'
    if (current === mode) return
    const n = Number(readTrim(root, `${dir}/sriov_numvfs`))
    if (mode === 'switchdev') {
      state.eswitch[bdf] = 'switchdev'
      for (let i = 0; i < n; i++) addRepresentor(root, state, dir, i)
    } else {
      removeRepresentors(root, state, dir)
      delete state.eswitch[bdf]
    }
  })
}

// ---- OVS (ports only) ----------------------------------------------------------------------------

export function ovsAddPort(root, bridge, port, externalIds, mayExist) {
  return withState(root, (state) => {
    if (!(state.ovs.bridges ?? []).includes(bridge)) throw Object.assign(new Error(`ovs-vsctl: no bridge named ${bridge}`), {exitCode: 1})
    if (state.ovs.ports[port]) {
      if (mayExist) return
      throw Object.assign(new Error(`ovs-vsctl: cannot create a port named ${port} because a port named ${port} already exists on bridge ${state.ovs.ports[port].bridge}`), {exitCode: 1})
    }
    state.ovs.ports[port] = {bridge, externalIds}
  })
}

export function ovsDelPort(root, bridge, port, ifExists) {
  return withState(root, (state) => {
    if (!state.ovs.ports[port]) {
      if (ifExists) return
      throw Object.assign(new Error(`ovs-vsctl: no port named ${port}`), {exitCode: 1})
    }
    delete state.ovs.ports[port]
  })
}

// ---- building a host -----------------------------------------------------------------------------

/** Kernel modules the simulated host knows (modules.dep), with what loading them registers. */
export const DEFAULT_MODULES = {
  igb: {pciDrivers: ['igb'], builtin: false},
  igbvf: {pciDrivers: ['igbvf']},
  mlx5_core: {pciDrivers: ['mlx5_core']},
  virtio_pci: {pciDrivers: ['virtio-pci']},
  vfio: {devNodes: ['/dev/vfio/vfio']},
  vfio_iommu_type1: {deps: ['vfio']},
  vfio_pci_core: {deps: ['vfio']},
  vfio_pci: {deps: ['vfio_pci_core', 'vfio_iommu_type1'], pciDrivers: ['vfio-pci']},
  vhost: {deps: ['vhost_iotlb']},
  vhost_iotlb: {},
  vringh: {deps: ['vhost_iotlb']},
  virtio: {},
  virtio_ring: {},
  vdpa: {vdpaBus: true},
  vhost_vdpa: {deps: ['vdpa', 'vhost', 'vhost_iotlb'], vdpaDrivers: ['vhost_vdpa']},
  virtio_vdpa: {deps: ['vdpa', 'virtio', 'virtio_ring'], vdpaDrivers: ['virtio_vdpa']},
  vdpa_sim: {deps: ['vdpa', 'vringh', 'vhost_iotlb']},
  // drivers/vdpa/vdpa_sim/vdpa_sim_net.c: mgmtdev "vdpasim_net", config_attr_mask MACADDR|MTU|FEATURES, 3 vqs.
  vdpa_sim_net: {deps: ['vdpa_sim', 'vdpa'], mgmtdev: {name: 'vdpasim_net', configAttrs: ['mac', 'mtu'], maxVqs: 3, maxVqp: 1, classes: ['net']}},
  vp_vdpa: {deps: ['vdpa'], pciDrivers: ['vp-vdpa']},
  mlx5_vdpa: {deps: ['vdpa', 'mlx5_core']},
}

export const DEFAULT_PCI_DRIVERS = {
  // igb (82576): SR-IOV PF, no switchdev; igbvf binds its VFs (8086:10ca) and makes netdevs.
  igb: {ids: ['8086 10c9'], sriov: true, netdev: true, devlink: false},
  igbvf: {ids: ['8086 10ca'], netdev: true},
  'vfio-pci': {ids: []},
  // mlx5: PF and VF driver, devlink eswitch (legacy/switchdev), VFs become vDPA mgmtdevs under mlx5_vdpa.
  mlx5_core: {ids: ['15b3 101d', '15b3 101e'], sriov: true, netdev: true, devlink: true, eswitch: true, qinq: true,
    vdpaMgmtdev: {configAttrs: ['mac', 'mtu', 'max_vqp'], maxVqs: 16, maxVqp: 8, classes: ['net']}, vdpaModule: 'mlx5_vdpa', vdpaNeedsSwitchdev: true},
  'virtio-pci': {ids: ['1af4 1041', '1af4 1000'], netdev: true, netdevName: 'ens4'},
  // vp_vdpa: no static ids (the device is handed over with new_id, as in the hands-on part 2).
  'vp-vdpa': {ids: [], vdpaMgmtdev: {configAttrs: ['mac', 'mtu'], maxVqs: 3, maxVqp: 1, classes: ['net']}},
}

/**
 * Build a host under root. spec:
 *   pfs: [{bdf, netdev, driver: 'igb'|'mlx5_core', vendor, device, vfDevice, totalvfs, offset, stride, numaNode, iommuGroup}]
 *   pciDevices: [{bdf, vendor, device, driver?}]   (plain devices, e.g. a virtio-net NIC for vp_vdpa)
 *   modules: names loaded at boot; iommu: boolean; driverOverrides: {driver: partial spec}
 */
export function buildHost(root, spec = {}) {
  fs.mkdirSync(root, {recursive: true})
  const modules = {...DEFAULT_MODULES, ...(spec.modules ?? {})}
  const pciDrivers = structuredClone(DEFAULT_PCI_DRIVERS)
  for (const [d, extra] of Object.entries(spec.driverOverrides ?? {})) pciDrivers[d] = {...pciDrivers[d], ...extra}
  const config = {kernelRelease: '6.1.0-sim', modules, pciDrivers}
  put(root, '/.sim/config.json', JSON.stringify(config, null, 1) + '\n', 0o600)
  const state = {modules: [], netdevs: {}, vf: {}, eswitch: {}, vdpa: {}, ovs: {bridges: spec.ovsBridges ?? [], ports: {}}, overrides: {}, pciDynIds: {}, pciDriverOrder: [], vdpaDriverOrder: [], iommu: spec.iommu !== false, nextIfindex: 100}
  saveState(root, state)
  for (const d of ['/var/lib', '/sys/devices', '/sys/bus/virtio/devices', '/sys/bus/pci/devices', '/sys/bus/pci/drivers', '/sys/class/net', '/sys/module', '/sys/kernel/iommu_groups', '/proc', '/dev', '/run/netns']) mkdir(root, d)
  put(root, '/sys/bus/pci/drivers_probe', '', 0o200)
  put(root, '/sys/bus/pci/drivers_autoprobe', '1\n')
  put(root, '/proc/cmdline', spec.iommu === false ? 'console=ttyS0\n' : 'console=ttyS0 intel_iommu=on iommu=pt\n', 0o444)
  const parent = '/sys/devices/pci0000:00/0000:00:01.0'
  const addPci = (d, group) => {
    const dir = `${parent}/${d.bdf}`
    mkdir(root, dir)
    put(root, `${dir}/vendor`, `0x${d.vendor}\n`, 0o444)
    put(root, `${dir}/device`, `0x${d.device}\n`, 0o444)
    put(root, `${dir}/numa_node`, `${d.numaNode ?? 0}\n`, 0o444)
    put(root, `${dir}/driver_override`, '(null)\n')
    link(root, dir, `/sys/bus/pci/devices/${d.bdf}`)
    if (spec.iommu !== false) {
      link(root, dir, `/sys/kernel/iommu_groups/${group}/devices/${d.bdf}`)
      link(root, `/sys/kernel/iommu_groups/${group}`, `${dir}/iommu_group`)
    }
    return dir
  }
  let group = 20
  for (const pf of spec.pfs ?? []) {
    const dir = addPci({vendor: pf.vendor ?? '8086', device: pf.device ?? '10c9', ...pf}, pf.iommuGroup ?? group++)
    put(root, `${dir}/sriov_totalvfs`, `${pf.totalvfs ?? 7}\n`, 0o444)
    put(root, `${dir}/sriov_numvfs`, '0\n')
    put(root, `${dir}/sriov_offset`, `${pf.offset ?? 128}\n`, 0o444)
    put(root, `${dir}/sriov_stride`, `${pf.stride ?? 2}\n`, 0o444)
    put(root, `${dir}/sriov_vf_device`, `${pf.vfDevice ?? '10ca'}\n`, 0o444)
    put(root, `${dir}/sriov_drivers_autoprobe`, '1\n')
    pf.dir = dir
  }
  for (const d of spec.pciDevices ?? []) addPci(d, d.iommuGroup ?? group++)
  saveState(root, state)
  for (const m of spec.bootModules ?? ['igb', 'igbvf', 'mlx5_core', 'virtio_pci']) moduleLoad(root, m)
  // Rename the PF netdevs the drivers made to the names the spec asks for.
  const st = loadState(root)
  for (const pf of spec.pfs ?? []) {
    const made = ls(root, `${pf.dir}/net`)[0]
    if (made && pf.netdev && made !== pf.netdev) {
      const nd = st.netdevs[made]
      fs.renameSync(real(root, `${pf.dir}/net/${made}`), real(root, `${pf.dir}/net/${pf.netdev}`))
      rm(root, `/sys/class/net/${made}`)
      link(root, `${pf.dir}/net/${pf.netdev}`, `/sys/class/net/${pf.netdev}`)
      delete st.netdevs[made]
      st.netdevs[pf.netdev] = {...nd, dir: `${pf.dir}/net/${pf.netdev}`}
      if (pf.switchId) put(root, `${pf.dir}/net/${pf.netdev}/phys_switch_id`, `${pf.switchId}\n`, 0o444)
    }
  }
  for (const ns of spec.netns ?? []) put(root, `/run/netns/${ns}`, '', 0o444)
  saveState(root, st)
}

/** A fake process holding /dev/vfio/<group> open (a guest using the VF). */
export function holdVfioGroup(root, pid, group, comm = 'qemu-system-x86') {
  mkdir(root, `/proc/${pid}/fd`)
  put(root, `/proc/${pid}/comm`, `${comm}\n`, 0o444)
  fs.symlinkSync(`/dev/vfio/${group}`, real(root, `/proc/${pid}/fd/7`))
}
