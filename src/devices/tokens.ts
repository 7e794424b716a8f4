/**
 * Late-bound device values (src/plan/tokens.ts), resolved by the executor right before a step
 * runs. A PF argument is its netdev name or its PCI address; a PCI address spans three
 * ':'-separated token arguments, so resolvers join them back (pfFromArgs).
 *
 *   @{vf-pci:<pf>:<i>}                 VF i's PCI address, e.g. 0000:03:10.1 (from <pf>/virtfn<i>)
 *   @{vf-pci-domain|vf-pci-bus|vf-pci-slot|vf-pci-function:<pf>:<i>}
 *                                      "0x0000", "0x03", "0x10", "0x1" for a libvirt <address>
 *   @{vf-netdev:<pf>:<i>}              VF i's host netdev (VF bound to its host driver)
 *   @{vf-rep:<pf>:<i>}                 VF i's representor (switchdev): same phys_switch_id, phys_port_name pf<N>vf<i>
 *   @{pf-pci:<pf>}  @{pf-netdev:<pf>}  the PF's PCI address / netdev
 *   @{vdpa-dev:<name>}                 /dev/vhost-vdpa-N of a vDPA device bound to vhost_vdpa
 *   @{vdpa-netdev:<name>}              the netdev of a vDPA device bound to virtio_vdpa
 *   @{pci-id:<bdf>}                    "vendor device" in hex, for new_id/remove_id
 *   @{vdpa-pci-module:<bdf>}           the vDPA driver module for a PCI mgmtdev (mlx5_vdpa / vp_vdpa)
 *
 * Guards and records (they read the host, refuse with a clear error, and return what they saw):
 *   @{sriov-pf:<pf>:<n>}               PF state as JSON; fails if the PF is missing, has no SR-IOV or n > sriov_totalvfs
 *   @{sriov-idle:<pf>:<value>}         value, unless a VF of the PF is bound to vfio-pci (in use by a guest): SRIOV_VF_IN_USE
 *   @{sriov-vfs:<pf>:<n>}              the VFs as JSON; fails with the count the driver gave when it is not n
 *   @{vf-state:<pf>:<i>}               VF i's driver, driver_override and admin settings (ip -j link show) as JSON
 *   @{vf-iommu:<pf>:<i>}               VF i's IOMMU group; fails unless every device of the group is on vfio-pci or unbound
 *   @{vdpa-state:<name>}               the vDPA device's driver, chardev and netdev as JSON
 *   @{pci-state:<bdf>}                 a PCI device's driver and ids as JSON
 *   @{saved:<file>:<field>}            a field of a record written earlier, formatted for the undo command
 */
import {VirtlabError} from '../errors.js'
import {type HostFs, readdirMany, readlinkMany} from '../host/fs.js'
import type {CommandRunner} from '../host/runner.js'
import type {TokenRegistry} from '../plan/tokens.js'
import {driverOverride, linkName, locatePf, pciDriver, pfDevicePath, pfFromArgs, readTrim, vfBdfOf, vfPath} from './sysfs.js'

function tokenError(code: string, message: string, hint: string): VirtlabError {
  return new VirtlabError(code, message, {hint})
}

function vfIndex(args: string[]): number {
  return Number(args.at(-1))
}

async function vfBdfOrFail(fs: HostFs, pf: string, i: number): Promise<string> {
  const bdf = await vfBdfOf(fs, pf, i)
  if (bdf !== undefined) return bdf
  const numvfs = await readTrim(fs, `${pfDevicePath(pf)}/sriov_numvfs`)
  throw tokenError('SRIOV_VF_MISSING', `${pf} has no VF ${i}: sriov_numvfs reads ${numvfs ?? 'nothing'} (${vfPath(pf, i)} is missing)`, 'The PF driver enabled fewer VFs than the lab needs, or the VFs were removed: check `cat /sys/class/net/<pf>/device/sriov_numvfs` and dmesg.')
}

/** "0000:03:10.1" -> {domain: "0x0000", bus: "0x03", slot: "0x10", function: "0x1"} */
export function bdfParts(bdf: string): {domain: string; bus: string; slot: string; function: string} {
  const m = /^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i.exec(bdf)
  if (!m) throw new VirtlabError('TOKEN_BAD_VALUE', `internal: ${bdf} is not a PCI address`)
  return {domain: `0x${m[1]}`, bus: `0x${m[2]}`, slot: `0x${m[3]}`, function: `0x${m[4]}`}
}

async function onlyEntry(fs: HostFs, dir: string): Promise<string | undefined> {
  return (await fs.readdir(dir))[0]
}

/** Is a vfio group held open by a process (a /proc/<pid>/fd link to /dev/vfio/<group>)? */
async function vfioHolder(fs: HostFs, group: string): Promise<{pid: string; comm: string} | undefined> {
  // Three batches whatever the number of processes: the pids, their fd directories, every fd link.
  const pids = (await fs.readdir('/proc')).filter((p) => /^\d+$/.test(p))
  const fdDirs = await readdirMany(fs, pids.map((pid) => `/proc/${pid}/fd`))
  const fdLinks = pids.flatMap((pid) => (fdDirs.get(`/proc/${pid}/fd`) ?? []).map((fd) => `/proc/${pid}/fd/${fd}`))
  const targets = await readlinkMany(fs, fdLinks)
  for (const link of fdLinks) {
    if (targets.get(link) === `/dev/vfio/${group}`) {
      const pid = link.split('/')[2] ?? ''
      return {pid, comm: (await readTrim(fs, `/proc/${pid}/comm`)) ?? '?'}
    }
  }
  return undefined
}

export interface VfRecord {
  vf: number
  bdf: string
  driver: string | null
  driverOverride: string | null
  netdev: string | null
  mac: string
  vlan: number
  qos: number
  proto: '802.1Q' | '802.1ad'
  spoofchk: boolean | null
  trust: boolean | null
  state: 'auto' | 'enable' | 'disable' | null
  minTxRate: number
  maxTxRate: number
}

interface IpVfInfo {
  vf?: number
  address?: string
  mac?: string
  vlan_list?: {vlan?: number; qos?: number; protocol?: string}[]
  vlan?: number
  qos?: number
  spoofchk?: boolean
  trust?: boolean
  link_state?: string
  min_tx_rate?: number
  max_tx_rate?: number
}

/** VF i's admin settings from `ip -j link show dev <pf>` (iproute2 print_vfinfo: zero vlan/qos/rates are omitted). */
export function vfInfoFromIpJson(json: string, i: number): Omit<VfRecord, 'vf' | 'bdf' | 'driver' | 'driverOverride' | 'netdev'> | undefined {
  let data: unknown
  try {
    data = JSON.parse(json)
  } catch {
    return undefined
  }
  const link = Array.isArray(data) ? (data[0] as {vfinfo_list?: IpVfInfo[]} | undefined) : undefined
  const vf = link?.vfinfo_list?.find((v, n) => (v.vf ?? n) === i)
  if (vf === undefined) return undefined
  const vlan = vf.vlan_list?.[0] ?? {vlan: vf.vlan, qos: vf.qos}
  const state = vf.link_state
  return {
    mac: vf.address ?? vf.mac ?? '00:00:00:00:00:00',
    vlan: vlan.vlan ?? 0,
    qos: vlan.qos ?? 0,
    proto: 'protocol' in vlan && vlan.protocol === '802.1ad' ? '802.1ad' : '802.1Q',
    spoofchk: vf.spoofchk ?? null,
    trust: vf.trust ?? null,
    state: state === 'auto' || state === 'enable' || state === 'disable' ? state : null,
    minTxRate: vf.min_tx_rate ?? 0,
    maxTxRate: vf.max_tx_rate ?? 0,
  }
}

async function pfState(args: string[], fs: HostFs): Promise<string> {
  const n = Number(args.at(-1))
  const pf = pfFromArgs(args, 1)
  const loc = await locatePf(fs, pf)
  const total = await readTrim(fs, `${loc.dir}/sriov_totalvfs`)
  if (total === undefined) {
    throw tokenError('SRIOV_NOT_SUPPORTED', `${pf} (${loc.bdf}) has no SR-IOV capability: ${loc.dir}/sriov_totalvfs is missing`, 'Use a NIC that supports SR-IOV and enable SR-IOV in the BIOS/firmware (lspci -vs <bdf> must list "Single Root I/O Virtualization").')
  }
  if (Number(total) === 0) {
    throw tokenError('SRIOV_NOT_SUPPORTED', `${pf} (${loc.bdf}) reports sriov_totalvfs 0: SR-IOV is disabled in the firmware`, 'Enable SR-IOV in the BIOS and the NIC firmware (e.g. mlxconfig -d <bdf> set SRIOV_EN=1 NUM_OF_VFS=8), then reboot.')
  }
  if (n > Number(total)) {
    throw tokenError('SRIOV_TOO_MANY_VFS', `the lab asks for ${n} VFs but ${pf} supports at most ${total} (sriov_totalvfs)`, `Ask for at most ${total}: --set vfs=${total}.`)
  }
  const driver = await pciDriver(fs, loc.bdf)
  if (driver === undefined) {
    throw tokenError('SRIOV_NOT_SUPPORTED', `${pf} (${loc.bdf}) has no driver bound, so its VFs cannot be enabled (the kernel would answer ENOENT)`, 'Bind the PF to its vendor driver (lspci -ks <bdf>; modprobe igb / ixgbe / i40e / ice / mlx5_core).')
  }
  return JSON.stringify({
    pf,
    bdf: loc.bdf,
    netdev: loc.netdev ?? null,
    driver,
    totalvfs: Number(total),
    numvfs: Number((await readTrim(fs, `${loc.dir}/sriov_numvfs`)) ?? 0),
    autoprobe: (await readTrim(fs, `${loc.dir}/sriov_drivers_autoprobe`)) ?? null,
  }) + '\n'
}

/** The VFs of a PF that a guest may be using: bound to vfio-pci (and who holds the group open). */
export async function vfsInUse(fs: HostFs, pf: string): Promise<{vf: string; bdf: string; holder: {pid: string; comm: string} | undefined}[]> {
  const dir = pfDevicePath(pf)
  const out = []
  for (const entry of (await fs.readdir(dir)).filter((e) => /^virtfn\d+$/.test(e))) {
    const bdf = await linkName(fs, `${dir}/${entry}`)
    if (bdf === undefined) continue
    if ((await pciDriver(fs, bdf)) !== 'vfio-pci') continue
    const group = await linkName(fs, `/sys/bus/pci/devices/${bdf}/iommu_group`)
    out.push({vf: entry.slice('virtfn'.length), bdf, holder: group === undefined ? undefined : await vfioHolder(fs, group)})
  }
  return out
}

async function sriovIdle(args: string[], fs: HostFs): Promise<string> {
  const value = args.at(-1) ?? ''
  const pf = pfFromArgs(args, 1)
  const busy = await vfsInUse(fs, pf)
  if (busy.length > 0) {
    const list = busy.map((b) => `VF ${b.vf} (${b.bdf})${b.holder ? ` held by ${b.holder.comm} (pid ${b.holder.pid})` : ' bound to vfio-pci'}`).join(', ')
    throw tokenError('SRIOV_VF_IN_USE', `refusing to change the VF count of ${pf}: ${list} — a guest may be using it`, `Stop the guest that uses it (virsh destroy <domain> / virtlab down <lab>), or release it: echo ${busy[0]?.bdf ?? '<vf>'} > /sys/bus/pci/drivers/vfio-pci/unbind. Removing a VF under a running guest blocks in the kernel.`)
  }
  return value
}

async function sriovVfs(args: string[], fs: HostFs): Promise<string> {
  const n = Number(args.at(-1))
  const pf = pfFromArgs(args, 1)
  const dir = pfDevicePath(pf)
  const got = Number((await readTrim(fs, `${dir}/sriov_numvfs`)) ?? 0)
  if (got !== n) {
    throw tokenError('SRIOV_VFS_FEWER', `${pf}: ${n} VFs requested; the PF driver enabled only ${got} (sriov_numvfs reads ${got})`, 'The driver limits VFs by firmware settings, MSI-X vectors or queues: see dmesg ("VFs requested; only N enabled"), or lower vfs in the lab.')
  }
  const vfs = []
  for (let i = 0; i < n; i++) vfs.push({vf: i, bdf: await vfBdfOrFail(fs, pf, i)})
  return JSON.stringify({pf, numvfs: got, vfs}) + '\n'
}

async function vfState(args: string[], fs: HostFs, runner: CommandRunner): Promise<string> {
  const i = vfIndex(args)
  const pf = pfFromArgs(args, 1)
  const bdf = await vfBdfOrFail(fs, pf, i)
  const loc = await locatePf(fs, pf)
  if (loc.netdev === undefined) {
    throw tokenError('SRIOV_PF_NO_NETDEV', `${pf} has no network interface, so its VF settings cannot be read or changed with ip link`, 'Bind the PF to its network driver.')
  }
  const result = await runner.run(['ip', '-j', 'link', 'show', 'dev', loc.netdev], {allowFailure: true, timeoutMs: 10_000})
  const info = result.exitCode === 0 ? vfInfoFromIpJson(result.stdout, i) : undefined
  if (info === undefined) {
    throw new VirtlabError('SRIOV_VF_STATE_UNREADABLE', `cannot read VF ${i} of ${loc.netdev} from \`ip -j link show dev ${loc.netdev}\``, {
      hint: 'iproute2 must list the VF under "vfinfo_list" (ip link show <pf> shows "vf N" lines).',
      command: {argv: result.argv, exitCode: result.exitCode, stderrTail: result.stderr.trim()},
    })
  }
  const driver = await pciDriver(fs, bdf)
  const record: VfRecord = {
    vf: i,
    bdf,
    driver: driver ?? null,
    driverOverride: (await driverOverride(fs, bdf)) ?? null,
    netdev: (await onlyEntry(fs, `/sys/bus/pci/devices/${bdf}/net`)) ?? null,
    ...info,
  }
  return JSON.stringify(record) + '\n'
}

async function vfIommu(args: string[], fs: HostFs): Promise<string> {
  const i = vfIndex(args)
  const pf = pfFromArgs(args, 1)
  const bdf = await vfBdfOrFail(fs, pf, i)
  const group = await linkName(fs, `/sys/bus/pci/devices/${bdf}/iommu_group`)
  if (group === undefined) {
    throw tokenError('IOMMU_MISSING', `VF ${i} of ${pf} (${bdf}) has no IOMMU group: the IOMMU is off, so vfio-pci cannot give it to a guest`, 'Enable VT-d/AMD-Vi in the BIOS and boot with intel_iommu=on iommu=pt (or amd_iommu=on); /sys/kernel/iommu_groups must not be empty.')
  }
  const members = await fs.readdir(`/sys/kernel/iommu_groups/${group}/devices`)
  const bad: string[] = []
  for (const member of members) {
    const driver = await pciDriver(fs, member)
    if (driver !== undefined && driver !== 'vfio-pci') bad.push(`${member} (bound to ${driver})`)
  }
  if (bad.length > 0) {
    throw tokenError('IOMMU_GROUP_NOT_VIABLE', `IOMMU group ${group} of VF ${i} (${bdf}) is not viable: ${bad.join(', ')} — every device in the group must be bound to vfio-pci or to no driver`, `Unbind those devices (echo <bdf> > /sys/bus/pci/devices/<bdf>/driver/unbind) or move the NIC to a slot with its own group (ACS); see /sys/kernel/iommu_groups/${group}/devices.`)
  }
  if (!(await fs.exists(`/dev/vfio/${group}`))) {
    throw tokenError('IOMMU_GROUP_NO_DEVICE', `/dev/vfio/${group} is missing although VF ${i} (${bdf}) is bound to vfio-pci`, 'Check `dmesg | grep -i vfio`; the vfio and vfio_iommu_type1 modules must be loaded.')
  }
  return `${group}\n`
}

function onOff(v: unknown): string {
  return v ? 'on' : 'off'
}

/** A field of a record file, formatted as the undo command needs it. */
async function saved(args: string[], fs: HostFs): Promise<string> {
  const field = args.at(-1) ?? ''
  const file = pfFromArgs(args, 1)
  const text = await fs.tryReadFile(file)
  if (text === undefined) throw tokenError('RECORD_MISSING', `internal: the record ${file} is missing`, 'It is written by an earlier step of the same lab; run `virtlab down` and `up` again.')
  const r = JSON.parse(text) as Record<string, unknown>
  switch (field) {
    case 'spoofchk':
    case 'trust':
      return onOff(r[field])
    case 'driver_override':
      // driver_override reads "(null)" when unset, but writing "(null)" would set an override
      // literally named "(null)": "\n" clears it (drivers/base/driver.c driver_set_override).
      return r.driverOverride === null || r.driverOverride === undefined ? '\n' : String(r.driverOverride)
    case 'driver':
      if (typeof r.driver !== 'string' || r.driver === '') throw tokenError('RECORD_NO_DRIVER', `internal: ${file} records no driver`, 'Nothing to rebind.')
      return r.driver
    case 'state':
      return typeof r.state === 'string' ? r.state : 'auto'
    case 'min_tx_rate':
      return String(r.minTxRate ?? 0)
    case 'max_tx_rate':
      return String(r.maxTxRate ?? 0)
    default: {
      const v = r[field]
      if (v === undefined || v === null) throw tokenError('RECORD_NO_FIELD', `internal: ${file} has no ${field}`, 'The record was written by another virtlab version.')
      return String(v)
    }
  }
}

async function vdpaDevNode(args: string[], fs: HostFs): Promise<string> {
  const name = args[0] ?? ''
  const entry = (await fs.readdir(`/sys/bus/vdpa/devices/${name}`)).find((e) => e.startsWith('vhost-vdpa-'))
  if (entry === undefined) {
    const driver = await linkName(fs, `/sys/bus/vdpa/devices/${name}/driver`)
    throw tokenError('VDPA_NO_CHARDEV', `vDPA device ${name} has no /dev/vhost-vdpa-N: it is ${driver ? `bound to ${driver}` : 'not bound to any driver'} (needs vhost_vdpa)`, `modprobe vhost_vdpa, then echo ${name} > /sys/bus/vdpa/drivers/vhost_vdpa/bind.`)
  }
  return `/dev/${entry}`
}

async function vdpaNetdev(args: string[], fs: HostFs): Promise<string> {
  const name = args[0] ?? ''
  for (const e of (await fs.readdir(`/sys/bus/vdpa/devices/${name}`)).filter((x) => /^virtio\d+$/.test(x))) {
    const nd = await onlyEntry(fs, `/sys/bus/vdpa/devices/${name}/${e}/net`)
    if (nd !== undefined) return nd
  }
  throw tokenError('VDPA_NO_NETDEV', `vDPA device ${name} has no network interface (not bound to virtio_vdpa?)`, `modprobe virtio_vdpa, then echo ${name} > /sys/bus/vdpa/drivers/virtio_vdpa/bind.`)
}

async function vdpaState(args: string[], fs: HostFs): Promise<string> {
  const name = args[0] ?? ''
  const driver = await linkName(fs, `/sys/bus/vdpa/devices/${name}/driver`)
  const netdev = driver === 'virtio_vdpa' ? await vdpaNetdev(args, fs) : null
  const chardev = driver === 'vhost_vdpa' ? await vdpaDevNode(args, fs) : null
  return JSON.stringify({name, driver: driver ?? null, netdev, chardev}) + '\n'
}

async function pciId(args: string[], fs: HostFs): Promise<string> {
  const bdf = args.join(':')
  const vendor = await readTrim(fs, `/sys/bus/pci/devices/${bdf}/vendor`)
  const device = await readTrim(fs, `/sys/bus/pci/devices/${bdf}/device`)
  if (vendor === undefined || device === undefined) throw tokenError('PCI_DEVICE_MISSING', `no PCI device ${bdf}`, 'Check the address with lspci -D.')
  return `${vendor.replace(/^0x/, '')} ${device.replace(/^0x/, '')}`
}

async function pciState(args: string[], fs: HostFs): Promise<string> {
  const bdf = args.join(':')
  return JSON.stringify({bdf, ids: await pciId(args, fs), driver: (await pciDriver(fs, bdf)) ?? null}) + '\n'
}

/** The vDPA driver module of a PCI management device: mlx5_vdpa for Mellanox/NVIDIA, vp_vdpa for virtio-net. */
async function vdpaPciModule(args: string[], fs: HostFs): Promise<string> {
  const bdf = args.join(':')
  const vendor = await readTrim(fs, `/sys/bus/pci/devices/${bdf}/vendor`)
  if (vendor === '0x15b3') return 'mlx5_vdpa'
  if (vendor === '0x1af4') return 'vp_vdpa'
  if (vendor === undefined) throw tokenError('PCI_DEVICE_MISSING', `no PCI device ${bdf} (the vDPA management device of the lab)`, 'For an mlx5 VF, the lab\'s sriov section must create it first; check lspci -D.')
  throw tokenError('VDPA_PCI_UNSUPPORTED', `PCI device ${bdf} (vendor ${vendor}) has no vDPA driver virtlab knows`, 'virtlab knows mlx5_vdpa (vendor 0x15b3) and vp_vdpa (virtio-net, vendor 0x1af4).')
}

/** Register the device resolvers (SR-IOV, vDPA, PCI) in a registry the caller built. */
export function registerDeviceTokenResolvers(registry: TokenRegistry): TokenRegistry {
  registry.register('vf-pci', async (a, {fs}) => vfBdfOrFail(fs, pfFromArgs(a, 1), vfIndex(a)))
  registry.register('vf-pci-domain', async (a, {fs}) => bdfParts(await vfBdfOrFail(fs, pfFromArgs(a, 1), vfIndex(a))).domain)
  registry.register('vf-pci-bus', async (a, {fs}) => bdfParts(await vfBdfOrFail(fs, pfFromArgs(a, 1), vfIndex(a))).bus)
  registry.register('vf-pci-slot', async (a, {fs}) => bdfParts(await vfBdfOrFail(fs, pfFromArgs(a, 1), vfIndex(a))).slot)
  registry.register('vf-pci-function', async (a, {fs}) => bdfParts(await vfBdfOrFail(fs, pfFromArgs(a, 1), vfIndex(a))).function)
  registry.register('vf-netdev', async (a, {fs}) => {
    const bdf = await vfBdfOrFail(fs, pfFromArgs(a, 1), vfIndex(a))
    const nd = await onlyEntry(fs, `/sys/bus/pci/devices/${bdf}/net`)
    if (nd === undefined) throw tokenError('SRIOV_VF_NO_NETDEV', `VF ${vfIndex(a)} (${bdf}) has no network interface: no host driver is bound to it`, 'Set driver: host for this VF (or load its VF driver, e.g. iavf, igbvf, mlx5_core).')
    return nd
  })
  registry.register('vf-rep', async (a, {fs}) => {
    const pf = pfFromArgs(a, 1)
    const i = vfIndex(a)
    const loc = await locatePf(fs, pf)
    const switchId = loc.netdev === undefined ? undefined : await readTrim(fs, `/sys/class/net/${loc.netdev}/phys_switch_id`)
    for (const nd of await fs.readdir('/sys/class/net')) {
      if (nd === loc.netdev) continue
      if (switchId !== undefined && (await readTrim(fs, `/sys/class/net/${nd}/phys_switch_id`)) !== switchId) continue
      if (new RegExp(`^pf\\d+vf${i}$`).test((await readTrim(fs, `/sys/class/net/${nd}/phys_port_name`)) ?? '')) return nd
    }
    throw tokenError('SRIOV_NO_REPRESENTOR', `no representor for VF ${i} of ${pf} (phys_port_name pf<N>vf${i} with the PF's phys_switch_id)`, 'Representors exist in switchdev mode only: eswitchMode: switchdev (devlink dev eswitch show pci/<pf>).')
  })
  registry.register('pf-pci', async (a, {fs}) => (await locatePf(fs, a.join(':'))).bdf)
  registry.register('pf-netdev', async (a, {fs}) => {
    const loc = await locatePf(fs, a.join(':'))
    if (loc.netdev === undefined) throw tokenError('SRIOV_PF_NO_NETDEV', `PF ${loc.bdf} has no network interface`, 'Bind the PF to its network driver.')
    return loc.netdev
  })
  registry.register('sriov-pf', (a, {fs}) => pfState(a, fs))
  registry.register('sriov-idle', (a, {fs}) => sriovIdle(a, fs))
  registry.register('sriov-vfs', (a, {fs}) => sriovVfs(a, fs))
  registry.register('vf-state', (a, {fs, runner}) => vfState(a, fs, runner))
  registry.register('vf-iommu', (a, {fs}) => vfIommu(a, fs))
  registry.register('saved', (a, {fs}) => saved(a, fs))
  registry.register('vdpa-dev', (a, {fs}) => vdpaDevNode(a, fs))
  registry.register('vdpa-netdev', (a, {fs}) => vdpaNetdev(a, fs))
  registry.register('vdpa-state', (a, {fs}) => vdpaState(a, fs))
  registry.register('pci-id', (a, {fs}) => pciId(a, fs))
  registry.register('pci-state', (a, {fs}) => pciState(a, fs))
  registry.register('vdpa-pci-module', (a, {fs}) => vdpaPciModule(a, fs))
  return registry
}

