/**
 * The individual host checks. Each one looks at the host (through ctx.target.fs and ctx.target.runner only),
 * returns a Finding (ok / note / missing, with a concrete detail and fix), and conclude() turns it
 * into a CheckResult: a missing requirement fails, a missing optional feature warns.
 */
import type {Context} from '../host/target.js'
import type {HostFacts} from '../host/facts.js'
import {
  OVS_DPDK_BINARY, QEMU_BINARY, deviceExists, effectiveUid, filesystemSupported, libvirtReachable, meminfo,
  moduleState, moduleSysName, readInt, readValue, tryRun,
} from '../host/probe.js'
import {LIBVIRTD_PIDFILE, OVS_CTL, runningPid} from '../host/daemons.js'
import type {HugepagesModel, LabModel, SriovModel, VmModel} from '../lab/model.js'
import {readJournal} from '../apply/journal.js'
import {labLinks} from '../compile/links.js'
import type {LabNeeds, Need} from './needs.js'
import {type OsInfo, type PackageKey, installHint, packagesFor} from './packages.js'
import type {CheckResult, CheckStatus, FixAction} from './types.js'

export interface DoctorEnv {
  ctx: Context
  needs: LabNeeds
  facts: HostFacts
  os: OsInfo
  release: string | undefined
  modulesLoadable: boolean
  allowDegraded: boolean
  which(program: string): Promise<string | undefined>
}

export interface Finding {
  state: 'ok' | 'note' | 'missing'
  detail: string
  fix?: string | undefined
  fixAction?: FixAction | undefined
}

/** Turn a finding into a result. kind 'hardware': without a lab, a missing one is "unavailable here". */
export function conclude(id: string, title: string, need: Need, kind: 'hardware' | 'software', f: Finding, noLab: boolean): CheckResult {
  const status: CheckStatus = f.state === 'ok' ? 'pass' : f.state === 'note' ? 'warn' : need === 'required' ? 'fail' : 'warn'
  const detail = f.state === 'missing' && need === 'optional' && kind === 'hardware' && noLab ? `unavailable here: ${f.detail}` : f.detail
  const result: CheckResult = {id, title, status, detail}
  if (status !== 'pass' && f.fix !== undefined) result.fix = f.fix
  const action = f.fixAction
  if (status !== 'pass' && action !== undefined && ((action.packages?.length ?? 0) > 0 || (action.daemons?.length ?? 0) > 0)) result.fixAction = action
  return result
}

const KERNEL_CONFIG: Record<string, string> = {
  tun: 'CONFIG_TUN', vhost_net: 'CONFIG_VHOST_NET', vfio: 'CONFIG_VFIO', vfio_pci: 'CONFIG_VFIO_PCI',
  vdpa: 'CONFIG_VDPA', vhost_vdpa: 'CONFIG_VHOST_VDPA', virtio_vdpa: 'CONFIG_VIRTIO_VDPA', vdpa_sim: 'CONFIG_VDPA_SIM',
  vdpa_sim_net: 'CONFIG_VDPA_SIM_NET', vduse: 'CONFIG_VDPA_USER', openvswitch: 'CONFIG_OPENVSWITCH', bridge: 'CONFIG_BRIDGE',
  '8021q': 'CONFIG_VLAN_8021Q', veth: 'CONFIG_VETH', macvtap: 'CONFIG_MACVTAP', kvm_intel: 'CONFIG_KVM_INTEL', kvm_amd: 'CONFIG_KVM_AMD',
  mlx5_vdpa: 'CONFIG_MLX5_VDPA_NET', vp_vdpa: 'CONFIG_VP_VDPA',
}

/** How to get kernel modules loaded on this host (modprobe, or: this kernel cannot load modules). */
export function moduleFix(env: DoctorEnv, modules: readonly string[]): string {
  const sys = modules.map(moduleSysName)
  const configs = sys.map((m) => KERNEL_CONFIG[m]).filter((c): c is string => c !== undefined)
  const built = configs.length > 0 ? configs.join(', ') : sys.join(', ')
  if (env.modulesLoadable) return `${sys.map((m) => `modprobe ${m}`).join('; ')}${configs.length > 0 ? ` (needs a kernel with ${configs.join(', ')})` : ''}`
  return `this kernel (${env.release ?? 'unknown'}) cannot load modules (no /lib/modules/${env.release ?? '<release>'}): boot a kernel built with ${built}`
}

function pkgAction(env: DoctorEnv, keys: PackageKey[]): FixAction {
  return {packages: packagesFor(env.os, keys)}
}

// ---- basics ----------------------------------------------------------------------------------------

export async function checkRoot(env: DoctorEnv): Promise<CheckResult> {
  const uid = await effectiveUid(env.ctx.target.fs)
  const f: Finding = uid === 0
    ? {state: 'ok', detail: 'running as root (uid 0)'}
    : {state: 'missing', detail: `running as uid ${uid ?? 'unknown'}: labs create namespaces, taps, bridges and write sysfs`, fix: 'run virtlab as root (sudo virtlab ...)'}
  return conclude('root', 'root privileges', 'required', 'software', f, env.needs.lab === undefined)
}

export async function checkKvm(env: DoctorEnv): Promise<CheckResult> {
  const {facts} = env
  const probe = facts.kvmProbe
  let f: Finding
  if (facts.kvm === 'usable') {
    f = {state: 'ok', detail: `/dev/kvm present and usable (${probe?.reason ?? 'measured'}${probe?.cached ? '; cached' : ''}); accel: auto uses kvm`}
  } else if (facts.kvm === 'unusable') {
    f = {
      state: env.needs.kvm === 'required' ? 'missing' : 'note',
      detail: `/dev/kvm present but KVM is not usable: ${probe?.reason ?? 'measured slower than TCG'}${probe?.cached ? ' (cached result)' : ''}; accel: auto resolves to tcg`,
      fix: 'nothing to install: KVM here is slower than TCG (nested or paravirtual, every VM exit is expensive); use accel: auto or tcg (re-measure with virtlab doctor --reprobe-kvm)',
    }
  } else {
    f = {
      state: env.needs.kvm === 'required' ? 'missing' : 'note',
      detail: '/dev/kvm missing: no KVM acceleration; accel: auto resolves to tcg',
      fix: `enable VT-x/AMD-V in the firmware and load the KVM module (${moduleFix(env, ['kvm_intel']).replace('modprobe kvm_intel', 'modprobe kvm_intel or modprobe kvm_amd')})`,
    }
  }
  return conclude('kvm', 'KVM acceleration', env.needs.kvm, 'hardware', f, env.needs.lab === undefined)
}

export async function checkQemu(env: DoctorEnv): Promise<CheckResult> {
  const path = await env.which(QEMU_BINARY)
  let f: Finding
  if (path === undefined) {
    f = {state: 'missing', detail: `${QEMU_BINARY} not found on PATH`, fix: installHint(env.os, ['qemu', 'qemu-utils']), fixAction: pkgAction(env, ['qemu', 'qemu-utils'])}
  } else {
    const r = await tryRun(env.ctx, [QEMU_BINARY, '--version'])
    const line = r.result?.stdout.trim().split('\n')[0]
    f = r.ok && line
      ? {state: 'ok', detail: `${line} (${path})`}
      : {state: 'missing', detail: `${QEMU_BINARY} --version failed: ${r.error ?? 'no output'}`, fix: `reinstall QEMU: ${installHint(env.os, ['qemu'])}`, fixAction: pkgAction(env, ['qemu'])}
  }
  return conclude('qemu', 'QEMU', 'required', 'software', f, env.needs.lab === undefined)
}

/** Device names from `qemu-system-x86_64 -device help` (name "virtio-net-pci", bus PCI, ...). */
export function parseDeviceHelp(text: string): Set<string> {
  const out = new Set<string>()
  for (const m of text.matchAll(/^name "([^"]+)"/gm)) if (m[1] !== undefined) out.add(m[1])
  return out
}

/** Backends from `qemu-system-x86_64 -netdev help` (one per line after the heading). */
export function parseNetdevHelp(text: string): Set<string> {
  const out = new Set<string>()
  for (const line of text.split('\n')) {
    const t = line.trim()
    if (/^[a-z][a-z0-9-]*$/.test(t)) out.add(t)
  }
  return out
}

export async function checkQemuDevices(env: DoctorEnv): Promise<CheckResult> {
  const {qemuDevices, qemuNetdevs} = env.needs
  const overall: Need = [...qemuDevices, ...qemuNetdevs].some((d) => d.need === 'required') ? 'required' : 'optional'
  if ((await env.which(QEMU_BINARY)) === undefined) {
    return conclude('qemu-devices', 'QEMU devices and netdevs', overall, 'software', {state: 'missing', detail: `${QEMU_BINARY} not installed`, fix: installHint(env.os, ['qemu']), fixAction: pkgAction(env, ['qemu'])}, env.needs.lab === undefined)
  }
  const dev = await tryRun(env.ctx, [QEMU_BINARY, '-device', 'help'], 15_000)
  const net = await tryRun(env.ctx, [QEMU_BINARY, '-netdev', 'help'], 15_000)
  const devices = parseDeviceHelp(dev.result?.stdout ?? '')
  const netdevs = parseNetdevHelp(net.result?.stdout ?? '')
  const have: string[] = []
  const missingRequired: string[] = []
  const missingOptional: string[] = []
  for (const d of qemuDevices) (devices.has(d.name) ? have : d.need === 'required' ? missingRequired : missingOptional).push(`-device ${d.name}`)
  for (const n of qemuNetdevs) (netdevs.has(n.name) ? have : n.need === 'required' ? missingRequired : missingOptional).push(`-netdev ${n.name}`)
  const missing = [...missingRequired, ...missingOptional]
  const fix = `install a QEMU built with ${missing.join(', ')} (${installHint(env.os, ['qemu'])})`
  let f: Finding
  if (missingRequired.length > 0) f = {state: 'missing', detail: `${QEMU_BINARY} lacks ${missingRequired.join(', ')}${have.length ? `; has ${have.join(', ')}` : ''}`, fix, fixAction: pkgAction(env, ['qemu'])}
  else if (missingOptional.length > 0) f = {state: 'note', detail: `${QEMU_BINARY} lacks ${missingOptional.join(', ')}; has ${have.join(', ')}`, fix, fixAction: pkgAction(env, ['qemu'])}
  else f = {state: 'ok', detail: `${QEMU_BINARY} has ${have.join(', ')}`}
  return conclude('qemu-devices', 'QEMU devices and netdevs', overall, 'software', f, env.needs.lab === undefined)
}

// ---- kernel devices --------------------------------------------------------------------------------

export async function checkTun(env: DoctorEnv, need: Need): Promise<CheckResult> {
  const f: Finding = (await deviceExists(env.ctx.target.fs, '/dev/net/tun'))
    ? {state: 'ok', detail: '/dev/net/tun present (taps can be created)'}
    : {state: 'missing', detail: '/dev/net/tun missing: no tap devices (CONFIG_TUN)', fix: moduleFix(env, ['tun'])}
  return conclude('tun', 'TUN/TAP (/dev/net/tun)', need, 'hardware', f, env.needs.lab === undefined)
}

export async function checkVhostNet(env: DoctorEnv, need: Need): Promise<CheckResult> {
  const lab = env.needs.lab ?? 'vhost-net'
  if (await deviceExists(env.ctx.target.fs, '/dev/vhost-net')) {
    return conclude('vhost-net', 'in-kernel vhost-net (/dev/vhost-net)', need, 'hardware', {state: 'ok', detail: '/dev/vhost-net present: QEMU can use the in-kernel vhost-net backend'}, env.needs.lab === undefined)
  }
  const degraded = `the userspace virtio backend can be used instead with \`virtlab up ${lab} --allow-degraded\` (the run is labelled degraded)`
  const fix = `${moduleFix(env, ['vhost_net'])}; or accept the degraded run: virtlab up ${lab} --allow-degraded`
  const f: Finding = env.allowDegraded && env.needs.lab !== undefined
    ? {state: 'note', detail: `degraded: /dev/vhost-net missing (no CONFIG_VHOST_NET): vhost-net NICs run on the userspace virtio backend (--allow-degraded)`, fix}
    : {state: 'missing', detail: `/dev/vhost-net missing (no vhost-net in this kernel, CONFIG_VHOST_NET): ${degraded}`, fix}
  return conclude('vhost-net', 'in-kernel vhost-net (/dev/vhost-net)', need, 'hardware', f, env.needs.lab === undefined)
}

export async function checkDevice(env: DoctorEnv, path: string, need: Need): Promise<CheckResult> {
  const f: Finding = (await deviceExists(env.ctx.target.fs, path))
    ? {state: 'ok', detail: `${path} present`}
    : {state: 'missing', detail: `${path} missing`, fix: `load the driver that provides ${path} (see the lab's host.modules)`}
  return conclude(`device:${path}`, `device ${path}`, need, 'hardware', f, env.needs.lab === undefined)
}

export async function checkModule(env: DoctorEnv, name: string, need: Need): Promise<CheckResult> {
  const state = await moduleState(env.ctx.target.fs, name, env.release)
  const sys = moduleSysName(name)
  const f: Finding = state.loaded
    ? {state: 'ok', detail: `${sys} loaded (${state.evidence})`}
    : {state: 'missing', detail: `module ${sys} is not loaded (/sys/module/${sys} missing)`, fix: moduleFix(env, [name])}
  return conclude(`module:${sys}`, `kernel module ${sys}`, need, 'hardware', f, env.needs.lab === undefined)
}

// ---- hugepages -------------------------------------------------------------------------------------

function sizeLabel(kib: number): string {
  return kib >= 1048576 ? `${kib / 1048576}G` : kib >= 1024 ? `${kib / 1024}M` : `${kib}K`
}

function hugepageSummary(facts: HostFacts): string {
  const sizes = Object.keys(facts.hugepages).sort((a, b) => Number(a) - Number(b))
  const parts = sizes.map((size) => {
    const c = facts.hugepages[size] ?? {total: 0, free: 0}
    const nodes = Object.entries(facts.hugepagesByNode ?? {})
      .filter(([, bySize]) => bySize[size] !== undefined)
      .map(([node, bySize]) => `node${node} ${bySize[size]?.total ?? 0}/${bySize[size]?.free ?? 0}`)
    return `${sizeLabel(Number(size))}: ${c.total} total, ${c.free} free${nodes.length ? ` (total/free ${nodes.join(', ')})` : ''}`
  })
  return parts.join('; ')
}

function nrHugepagesPath(want: HugepagesModel): string {
  return want.node === undefined
    ? `/sys/kernel/mm/hugepages/hugepages-${want.sizeKiB}kB/nr_hugepages`
    : `/sys/devices/system/node/node${want.node}/hugepages/hugepages-${want.sizeKiB}kB/nr_hugepages`
}

export async function checkHugepages(env: DoctorEnv): Promise<CheckResult> {
  const h = env.needs.hugepages
  const need = h?.need ?? 'optional'
  const {facts} = env
  const summary = hugepageSummary(facts)
  const noLab = env.needs.lab === undefined
  if (Object.keys(facts.hugepages).length === 0) {
    return conclude('hugepages', 'hugepages', need, 'hardware', {state: 'missing', detail: 'the kernel has no hugepages (/sys/kernel/mm/hugepages missing, CONFIG_HUGETLBFS)', fix: 'boot a kernel built with CONFIG_HUGETLBFS and CONFIG_HUGETLB_PAGE'}, noLab)
  }
  const want = h?.want
  if (want === undefined) {
    const reserved = Object.values(facts.hugepages).some((c) => c.total > 0)
    return conclude('hugepages', 'hugepages', need, 'hardware', {state: 'ok', detail: `${summary}${reserved ? '' : ' (none reserved: virtlab up reserves what a lab needs)'}`}, noLab)
  }
  const key = String(want.sizeKiB)
  const label = sizeLabel(want.sizeKiB)
  const memTotalKiB = (await meminfo(env.ctx.target.fs)).MemTotal
  if (memTotalKiB !== undefined && want.count * want.sizeKiB > memTotalKiB) {
    return conclude('hugepages', 'hugepages', need, 'hardware', {state: 'missing', detail: `the lab asks for ${want.count} x ${label} hugepages (${want.count * want.sizeKiB / 1024} MiB), more than this host's memory (MemTotal ${Math.floor(memTotalKiB / 1024)} MiB)`, fix: 'lower host.hugepages.count to what the lab\'s VMs and OVS-DPDK need'}, noLab)
  }
  const global = facts.hugepages[key]
  if (global === undefined) {
    const fix = want.sizeKiB === 1048576
      ? 'boot with hugepagesz=1G hugepages=N (the CPU needs the pdpe1gb flag), or use size: 2M'
      : `boot a kernel with ${label} hugepages (CONFIG_HUGETLB_PAGE)`
    return conclude('hugepages', 'hugepages', need, 'hardware', {state: 'missing', detail: `the kernel has no ${label} hugepages (/sys/kernel/mm/hugepages/hugepages-${key}kB missing); have ${summary}`, fix}, noLab)
  }
  let counts = global
  let where = 'system-wide'
  if (want.node !== undefined) {
    const node = facts.hugepagesByNode?.[String(want.node)]?.[key]
    if (node === undefined) {
      return conclude('hugepages', 'hugepages', need, 'hardware', {state: 'missing', detail: `NUMA node ${want.node} has no ${label} hugepages (/sys/devices/system/node/node${want.node}/hugepages/hugepages-${key}kB missing); have ${summary}`, fix: `use a NUMA node that exists (ls /sys/devices/system/node) or drop hugepages.node`}, noLab)
    }
    counts = node
    where = `on node ${want.node}`
  }
  if (counts.free >= want.count) {
    return conclude('hugepages', 'hugepages', need, 'hardware', {state: 'ok', detail: `${counts.free} free ${label} pages ${where}, the lab needs ${want.count}; ${summary}`}, noLab)
  }
  const short = want.count - counts.free
  const target = counts.total + short
  const availKiB = (await meminfo(env.ctx.target.fs)).MemAvailable
  const fix = `echo ${target} > ${nrHugepagesPath(want)}`
  if (availKiB !== undefined && availKiB < short * want.sizeKiB) {
    return conclude('hugepages', 'hugepages', need, 'hardware', {state: 'missing', detail: `${counts.free} free ${label} pages ${where}, the lab needs ${want.count}, and only ${Math.floor(availKiB / 1024)} MiB of memory is available for the ${short * want.sizeKiB / 1024} MiB more`, fix: `free memory, then ${fix}; or lower hugepages.count`}, noLab)
  }
  return conclude('hugepages', 'hugepages', need, 'hardware', {
    state: 'note',
    detail: `${counts.free} free ${label} pages ${where}, the lab needs ${want.count}: \`virtlab up\` raises nr_hugepages from ${counts.total} to ${target} and restores it at down; ${summary}`,
    fix: `nothing required (up does it); by hand: ${fix}`,
  }, noLab)
}

export async function checkHugetlbfs(env: DoctorEnv): Promise<CheckResult> {
  const h = env.needs.hugepages
  const need = h?.need ?? 'optional'
  const noLab = env.needs.lab === undefined
  const mounts = env.facts.hugetlbfsMounts
  const listed = mounts.map((m) => `${m.path} (pagesize ${sizeLabel(m.pagesizeKiB)})`).join(', ')
  const want = h?.want
  const sizeKiB = want?.sizeKiB
  const matching = sizeKiB === undefined ? mounts : mounts.filter((m) => m.pagesizeKiB === sizeKiB)
  if (matching.length > 0) {
    const atLab = want === undefined || matching.some((m) => m.path === want.mount)
    return conclude('hugetlbfs', 'hugetlbfs mount', need, 'hardware', {state: 'ok', detail: `hugetlbfs mounted: ${listed}${atLab ? '' : ` (the lab's ${want.mount} is mounted at up)`}`}, noLab)
  }
  const label = sizeLabel(sizeKiB ?? 2048)
  const mountPoint = want?.mount ?? '/dev/hugepages'
  const fix = `mkdir -p ${mountPoint} && mount -t hugetlbfs -o pagesize=${label} nodev ${mountPoint}`
  if (!(await filesystemSupported(env.ctx.target.fs, 'hugetlbfs'))) {
    return conclude('hugetlbfs', 'hugetlbfs mount', need, 'hardware', {state: 'missing', detail: 'the kernel has no hugetlbfs (not in /proc/filesystems, CONFIG_HUGETLBFS)', fix: 'boot a kernel built with CONFIG_HUGETLBFS'}, noLab)
  }
  return conclude('hugetlbfs', 'hugetlbfs mount', need, 'hardware', {
    state: 'note',
    detail: `no hugetlbfs mounted with pagesize ${label} (${mounts.length ? `mounted: ${listed}` : 'none in /proc/mounts'}); the kernel supports it${want ? ': virtlab up mounts it' : ''}`,
    fix,
  }, noLab)
}

export async function checkSharedMemory(env: DoctorEnv, vms: readonly VmModel[]): Promise<CheckResult> {
  const want = env.needs.hugepages?.want
  const problems: string[] = []
  const parts: string[] = []
  for (const vm of vms) {
    const backing = vm.memoryBacking === 'default' ? 'memfd' : vm.memoryBacking
    parts.push(`${vm.name}: ${backing === 'memfd' ? 'memory-backend-memfd,share=on' : 'hugepages,share=on'} (${vm.memoryMiB} MiB)`)
    if (backing === 'hugepages') {
      const poolMiB = want ? (want.count * want.sizeKiB) / 1024 : 0
      if (vm.memoryMiB > poolMiB) problems.push(`${vm.name} is hugepage-backed with ${vm.memoryMiB} MiB but the lab reserves ${poolMiB} MiB of hugepages`)
    }
  }
  const f: Finding = problems.length > 0
    ? {state: 'missing', detail: `vhost-user needs all guest memory shared with the switch: ${problems.join('; ')}`, fix: 'raise host.hugepages.count or use memoryBacking: memfd'}
    : {state: 'ok', detail: `guest memory shared with the vhost-user backend: ${parts.join('; ')}`}
  return conclude('shared-memory', 'shared guest memory (vhost-user)', 'required', 'software', f, env.needs.lab === undefined)
}

// ---- IOMMU, VFIO, SR-IOV ---------------------------------------------------------------------------

export async function checkIommu(env: DoctorEnv, need: Need): Promise<CheckResult> {
  const groups = env.facts.iommuGroups ?? (await env.ctx.target.fs.readdir('/sys/kernel/iommu_groups')).length
  const cmdline = (await readValue(env.ctx.target.fs, '/proc/cmdline')) ?? ''
  const flags = cmdline.split(/\s+/).filter((w) => /^(intel_iommu|amd_iommu|iommu)=/.test(w))
  const flagText = flags.length ? `kernel command line has ${flags.join(' ')}` : 'kernel command line has no intel_iommu=on / amd_iommu / iommu=pt'
  const fix = 'enable VT-d (Intel) or AMD-Vi (AMD) in the firmware and boot with intel_iommu=on iommu=pt (Intel) or amd_iommu=on iommu=pt (AMD)'
  const f: Finding = groups > 0
    ? {state: 'ok', detail: `${groups} IOMMU groups in /sys/kernel/iommu_groups; ${flagText}`}
    : {state: 'missing', detail: `no IOMMU: /sys/kernel/iommu_groups is empty; ${flagText}`, fix}
  return conclude('iommu', 'IOMMU', need, 'hardware', f, env.needs.lab === undefined)
}

export async function checkVfio(env: DoctorEnv, need: Need): Promise<CheckResult> {
  const fs = env.ctx.target.fs
  const driver = (await fs.exists('/sys/bus/pci/drivers/vfio-pci')) || (await fs.exists('/sys/module/vfio_pci'))
  const container = await deviceExists(fs, '/dev/vfio/vfio')
  let f: Finding
  if (driver && container) f = {state: 'ok', detail: 'vfio-pci driver registered (/sys/bus/pci/drivers/vfio-pci) and /dev/vfio/vfio present'}
  else if (!driver) f = {state: 'missing', detail: `vfio-pci is not loaded (no /sys/bus/pci/drivers/vfio-pci or /sys/module/vfio_pci)${container ? '' : '; /dev/vfio/vfio missing'}`, fix: moduleFix(env, ['vfio-pci'])}
  else f = {state: 'missing', detail: 'vfio-pci is registered but /dev/vfio/vfio is missing', fix: moduleFix(env, ['vfio'])}
  return conclude('vfio-pci', 'VFIO (vfio-pci, /dev/vfio/vfio)', need, 'hardware', f, env.needs.lab === undefined)
}

const PCI_ADDRESS = /^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/

const basename = (p: string | undefined) => p?.split('/').filter(Boolean).pop()

export async function checkSriovPf(env: DoctorEnv, pf: SriovModel): Promise<CheckResult> {
  const fs = env.ctx.target.fs
  const noLab = env.needs.lab === undefined
  const id = `sriov:${pf.name}`
  const title = `SR-IOV PF ${pf.pf}`
  const lab = env.needs.lab ?? 'sriov'
  const pick = `pass a PF that has SR-IOV: virtlab up ${lab} --set pf=<netdev or PCI address> (candidates: ls /sys/bus/pci/devices/*/sriov_totalvfs)`
  let base: string
  let bdf: string | undefined
  if (PCI_ADDRESS.test(pf.pf)) {
    base = `/sys/bus/pci/devices/${pf.pf}`
    bdf = pf.pf
    if (!(await fs.exists(base))) return conclude(id, title, 'required', 'hardware', {state: 'missing', detail: `no SR-IOV capable PF: ${base} not found`, fix: pick}, noLab)
  } else {
    if (!(await fs.exists(`/sys/class/net/${pf.pf}`))) return conclude(id, title, 'required', 'hardware', {state: 'missing', detail: `no SR-IOV capable PF: /sys/class/net/${pf.pf} not found`, fix: pick}, noLab)
    base = `/sys/class/net/${pf.pf}/device`
    bdf = basename(await fs.readlink(base))
    if (!(await fs.exists(base))) return conclude(id, title, 'required', 'hardware', {state: 'missing', detail: `no SR-IOV capable PF: ${pf.pf} is not a PCI device (no /sys/class/net/${pf.pf}/device)`, fix: pick}, noLab)
  }
  const name = `${pf.pf}${bdf && bdf !== pf.pf ? ` (${bdf})` : ''}`
  const total = await readInt(fs, `${base}/sriov_totalvfs`)
  if (total === undefined || total === 0) {
    return conclude(id, title, 'required', 'hardware', {state: 'missing', detail: `no SR-IOV capable PF: ${name} has no SR-IOV capability (${base}/sriov_totalvfs ${total === 0 ? 'is 0' : 'missing'})`, fix: pick}, noLab)
  }
  const driver = basename(await fs.readlink(`${base}/driver`))
  if (driver === undefined) {
    return conclude(id, title, 'required', 'hardware', {state: 'missing', detail: `${name}: no driver bound (${base}/driver missing): VFs are created by the PF driver`, fix: `bind the PF's network driver: echo ${bdf ?? '<bdf>'} > /sys/bus/pci/drivers/<driver>/bind`}, noLab)
  }
  if (total < pf.vfs) {
    return conclude(id, title, 'required', 'hardware', {state: 'missing', detail: `${name} (driver ${driver}) supports at most ${total} VFs; the lab asks for ${pf.vfs}`, fix: `virtlab up ${lab} --set vfs=${total}`}, noLab)
  }
  const numvfs = await readInt(fs, `${base}/sriov_numvfs`)
  return conclude(id, title, 'required', 'hardware', {state: 'ok', detail: `${name}, driver ${driver}: sriov_totalvfs ${total}, sriov_numvfs ${numvfs ?? '?'}; the lab creates ${pf.vfs}`}, noLab)
}

/** Without a lab: is there any SR-IOV PF on this host? */
export async function checkSriovScan(env: DoctorEnv): Promise<CheckResult> {
  const fs = env.ctx.target.fs
  const found: string[] = []
  for (const bdf of await fs.readdir('/sys/bus/pci/devices')) {
    const total = await readInt(fs, `/sys/bus/pci/devices/${bdf}/sriov_totalvfs`)
    if (total === undefined || total === 0) continue
    const nets = await fs.readdir(`/sys/bus/pci/devices/${bdf}/net`)
    const driver = basename(await fs.readlink(`/sys/bus/pci/devices/${bdf}/driver`))
    found.push(`${bdf}${nets.length ? ` (${nets.join(', ')})` : ''}: ${total} VFs, driver ${driver ?? 'none'}`)
  }
  const f: Finding = found.length > 0
    ? {state: 'ok', detail: `SR-IOV PFs: ${found.join('; ')}`}
    : {state: 'missing', detail: 'no SR-IOV capable PF (no PCI device has sriov_totalvfs)', fix: 'SR-IOV needs a NIC with SR-IOV (and an IOMMU); the sriov lab can be proved against a simulated host (an L1 guest with an emulated igb)'}
  return conclude('sriov', 'SR-IOV', 'optional', 'hardware', f, env.needs.lab === undefined)
}

// ---- vDPA ------------------------------------------------------------------------------------------

export async function checkVdpaTool(env: DoctorEnv, need: Need): Promise<CheckResult> {
  const path = await env.which('vdpa')
  const f: Finding = path
    ? {state: 'ok', detail: `vdpa tool: ${path}`}
    : {state: 'missing', detail: 'the vdpa tool (iproute2) is not on PATH', fix: installHint(env.os, ['vdpa-tool']), fixAction: pkgAction(env, ['vdpa-tool'])}
  return conclude('vdpa-tool', 'vdpa tool', need, 'software', f, env.needs.lab === undefined)
}

export async function checkVdpaBus(env: DoctorEnv, need: Need): Promise<CheckResult> {
  const fs = env.ctx.target.fs
  let f: Finding
  if (await fs.exists('/sys/bus/vdpa')) {
    const drivers = await fs.readdir('/sys/bus/vdpa/drivers')
    const devices = await fs.readdir('/sys/bus/vdpa/devices')
    f = {state: 'ok', detail: `/sys/bus/vdpa present; drivers: ${drivers.join(', ') || 'none'}; devices: ${devices.join(', ') || 'none'}`}
  } else {
    f = {state: 'missing', detail: 'the kernel has no vDPA bus: /sys/bus/vdpa missing (CONFIG_VDPA)', fix: moduleFix(env, ['vdpa', 'vhost_vdpa'])}
  }
  return conclude('vdpa-bus', 'vDPA bus', need, 'hardware', f, env.needs.lab === undefined)
}

/** Management device names from `vdpa -j mgmtdev show` ({"mgmtdev": {"vdpasim_net": {...}, "pci/0000:..": {...}}}). */
export function parseMgmtdevs(json: string): string[] | undefined {
  try {
    const data = JSON.parse(json) as {mgmtdev?: Record<string, unknown>}
    return data.mgmtdev === undefined ? [] : Object.keys(data.mgmtdev).sort()
  } catch {
    return undefined
  }
}

function mgmtdevFix(env: DoctorEnv, mgmtdev: string): string {
  if (mgmtdev === 'vdpasim_net') return moduleFix(env, ['vdpa_sim_net'])
  if (mgmtdev === 'vduse') return moduleFix(env, ['vduse'])
  return `make ${mgmtdev} a vDPA management device (bind its vDPA-capable driver: mlx5_core with mlx5_vdpa, or vp_vdpa), or pick another with --set mgmtdev=...`
}

export async function checkVdpaMgmtdevs(env: DoctorEnv, wanted: readonly string[], need: Need): Promise<CheckResult[]> {
  const noLab = env.needs.lab === undefined
  const fs = env.ctx.target.fs
  let listed: string[] | undefined
  let why: string | undefined
  let toolMissing = false
  if (!(await fs.exists('/sys/bus/vdpa'))) why = 'the kernel has no vDPA bus (/sys/bus/vdpa missing)'
  else if ((await env.which('vdpa')) === undefined) {
    why = 'the vdpa tool is not installed'
    toolMissing = true
  } else {
    const r = await tryRun(env.ctx, ['vdpa', '-j', 'mgmtdev', 'show'])
    listed = r.ok ? parseMgmtdevs(r.result?.stdout ?? '') : undefined
    if (listed === undefined) why = `vdpa -j mgmtdev show failed: ${r.error ?? 'unparsable output'}`
  }
  if (wanted.length === 0) {
    const f: Finding = listed !== undefined && listed.length > 0
      ? {state: 'ok', detail: `vDPA management devices: ${listed.join(', ')}`}
      : {state: 'missing', detail: listed === undefined ? `no vDPA management devices: ${why ?? 'unknown'}` : 'no vDPA management devices (vdpa mgmtdev show lists none)', fix: mgmtdevFix(env, 'vdpasim_net')}
    return [conclude('vdpa-mgmtdev', 'vDPA management devices', need, 'hardware', f, noLab)]
  }
  return wanted.map((m) => {
    let f: Finding
    if (listed === undefined && toolMissing) f = {state: 'missing', detail: `cannot list vDPA management devices (looking for ${m}): ${why ?? 'unknown'}`, fix: installHint(env.os, ['vdpa-tool']), fixAction: pkgAction(env, ['vdpa-tool'])}
    else if (listed === undefined) f = {state: 'missing', detail: `cannot find vDPA management device ${m}: ${why ?? 'unknown'}`, fix: mgmtdevFix(env, m)}
    else if (listed.includes(m)) f = {state: 'ok', detail: `vDPA management device ${m} present`}
    else f = {state: 'missing', detail: `vDPA management device ${m} not found (vdpa mgmtdev show lists: ${listed.join(', ') || 'none'})`, fix: mgmtdevFix(env, m)}
    return conclude(`vdpa-mgmtdev:${m}`, `vDPA management device ${m}`, need, 'hardware', f, noLab)
  })
}

// ---- Open vSwitch ----------------------------------------------------------------------------------

export async function checkOvsTools(env: DoctorEnv, need: Need): Promise<CheckResult> {
  const tools = ['ovs-vsctl', 'ovsdb-server', 'ovsdb-tool', 'ovs-appctl', 'ovs-vswitchd']
  const missing: string[] = []
  for (const t of tools) if ((await env.which(t)) === undefined) missing.push(t)
  const schema = await env.ctx.target.fs.exists('/usr/share/openvswitch/vswitch.ovsschema')
  const f: Finding = missing.length === 0 && schema
    ? {state: 'ok', detail: `Open vSwitch tools present (${tools.join(', ')}, vswitch.ovsschema)`}
    : {state: 'missing', detail: `Open vSwitch incomplete: missing ${[...missing, ...(schema ? [] : ['/usr/share/openvswitch/vswitch.ovsschema'])].join(', ')}`, fix: installHint(env.os, ['ovs']), fixAction: pkgAction(env, ['ovs'])}
  return conclude('ovs-tools', 'Open vSwitch tools', need, 'software', f, env.needs.lab === undefined)
}

export async function checkOvsSystem(env: DoctorEnv, need: Need): Promise<CheckResult> {
  const noLab = env.needs.lab === undefined
  if (env.facts.ovs.systemRunning) {
    return conclude('ovs-system', 'system Open vSwitch daemon', need, 'software', {state: 'ok', detail: 'system OVS running (ovs-vsctl --timeout=2 show answers)'}, noLab)
  }
  const startable = await env.ctx.target.fs.exists(OVS_CTL)
  // Start it only when a lab asks for the system OVS; labs with ovs: private/auto run their own instance.
  const wanted = need === 'required'
  let f: Finding
  if (startable) {
    f = {
      state: 'note',
      detail: `system OVS not running (ovs-vsctl --timeout=2 show does not answer); startable with ${OVS_CTL} start${wanted ? '' : ' (labs with ovs: private or auto run their own instance)'}`,
      fix: wanted ? `virtlab doctor --fix starts it (${OVS_CTL} start --system-id=random)` : `${OVS_CTL} start --system-id=random (only for labs with ovs: system)`,
      fixAction: wanted ? {daemons: ['openvswitch']} : undefined,
    }
  } else {
    f = {state: 'missing', detail: `system OVS not running and not startable (${OVS_CTL} missing)`, fix: installHint(env.os, ['ovs']), fixAction: pkgAction(env, ['ovs'])}
  }
  return conclude('ovs-system', 'system Open vSwitch daemon', need, 'software', f, noLab)
}

export async function checkOvsKernelDatapath(env: DoctorEnv, need: Need): Promise<CheckResult> {
  const state = await moduleState(env.ctx.target.fs, 'openvswitch', env.release)
  const f: Finding = state.loaded
    ? {state: 'ok', detail: `openvswitch kernel datapath loaded (${state.evidence})`}
    : {state: 'missing', detail: 'no openvswitch kernel datapath (/sys/module/openvswitch missing): OVS bridges need datapath_type=netdev here', fix: `${moduleFix(env, ['openvswitch'])}; or use datapath: netdev (userspace)`}
  return conclude('ovs-kernel-datapath', 'OVS kernel datapath', need, 'hardware', f, env.needs.lab === undefined)
}

export async function checkOvsDpdk(env: DoctorEnv, need: Need): Promise<CheckResult> {
  const fs = env.ctx.target.fs
  let found: string | undefined = (await fs.exists(OVS_DPDK_BINARY)) ? OVS_DPDK_BINARY : undefined
  if (found === undefined && env.os.family === 'fedora' && (await env.which('ovs-vswitchd')) !== undefined) {
    const r = await tryRun(env.ctx, ['ovs-vswitchd', '--version'])
    if (r.ok && /DPDK/i.test(r.result?.stdout ?? '')) found = 'ovs-vswitchd (built with DPDK)'
  }
  const f: Finding = found
    ? {state: 'ok', detail: `OVS with DPDK: ${found}`}
    : {state: 'missing', detail: `no DPDK build of Open vSwitch (${OVS_DPDK_BINARY} missing)`, fix: installHint(env.os, ['ovs-dpdk']), fixAction: pkgAction(env, ['ovs-dpdk'])}
  return conclude('ovs-dpdk', 'OVS-DPDK (ovs-vswitchd-dpdk)', need, 'software', f, env.needs.lab === undefined)
}

const LIB_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib']

/** Where librte_mempool_ring.so* is, if anywhere (lib dirs and their DPDK PMD dirs). */
export async function findMempoolRing(env: DoctorEnv): Promise<string | undefined> {
  const fs = env.ctx.target.fs
  for (const dir of LIB_DIRS) {
    const dirs = [dir]
    for (const sub of await fs.readdir(`${dir}/dpdk`)) dirs.push(`${dir}/dpdk/${sub}`)
    for (const sub of await fs.readdir(dir)) if (sub.startsWith('dpdk-pmds')) dirs.push(`${dir}/${sub}`)
    for (const d of dirs) {
      const hit = (await fs.readdir(d)).find((n) => n.startsWith('librte_mempool_ring.so'))
      if (hit !== undefined) return `${d}/${hit}`
    }
  }
  return undefined
}

export async function checkMempoolRing(env: DoctorEnv, need: Need): Promise<CheckResult> {
  const path = await findMempoolRing(env)
  const f: Finding = path
    ? {state: 'ok', detail: `DPDK ring mempool driver: ${path}`}
    : {
      state: 'missing',
      detail: 'the DPDK ring mempool driver (librte_mempool_ring) is missing: OVS-DPDK fails every vhost port with "Failed to create mempool ... Invalid argument"',
      fix: installHint(env.os, ['dpdk-mempool-ring']),
      fixAction: pkgAction(env, ['dpdk-mempool-ring']),
    }
  return conclude('dpdk-mempool-ring', 'DPDK mempool ring driver', need, 'software', f, env.needs.lab === undefined)
}

// ---- libvirt and tools -----------------------------------------------------------------------------

export async function checkLibvirt(env: DoctorEnv, need: Need): Promise<CheckResult> {
  const noLab = env.needs.lab === undefined
  const virsh = await env.which('virsh')
  if (virsh === undefined) {
    return conclude('libvirt', 'libvirt', need, 'software', {state: 'missing', detail: 'virsh not found: libvirt is not installed', fix: installHint(env.os, ['libvirt']), fixAction: pkgAction(env, ['libvirt'])}, noLab)
  }
  const r = await libvirtReachable(env.ctx)
  if (r.ok) {
    const v = await tryRun(env.ctx, ['virsh', '--version'])
    const version = v.ok ? v.result?.stdout.trim() : undefined
    return conclude('libvirt', 'libvirt', need, 'software', {state: 'ok', detail: `libvirtd reachable at qemu:///system (virsh -c qemu:///system uri answers; libvirt ${version ?? '?'})`}, noLab)
  }
  const libvirtd = await env.which('libvirtd')
  const virtlogd = await env.which('virtlogd')
  const pid = await runningPid(env.ctx, LIBVIRTD_PIDFILE, 'libvirtd')
  if (pid !== undefined) {
    return conclude('libvirt', 'libvirt', need, 'software', {
      state: 'missing',
      detail: `libvirtd is running (pid ${pid}) but does not answer on qemu:///system (virsh -c qemu:///system uri: ${r.error ?? 'failed'})`,
      fix: `see libvirtd's log; restart it: kill ${pid}; virtlogd -d; libvirtd -d`,
    }, noLab)
  }
  if (libvirtd !== undefined && virtlogd !== undefined) {
    return conclude('libvirt', 'libvirt', need, 'software', {
      state: 'note',
      detail: `libvirtd not reachable (virsh -c qemu:///system uri: ${r.error ?? 'failed'}); startable: ${virtlogd} -d, then ${libvirtd} -d`,
      fix: 'virtlab doctor --fix starts it (virtlogd -d; libvirtd -d), or use --driver qemu',
      fixAction: {daemons: ['virtlogd', 'libvirtd']},
    }, noLab)
  }
  return conclude('libvirt', 'libvirt', need, 'software', {state: 'missing', detail: `libvirtd not reachable and the daemons are not installed (${[libvirtd ? undefined : 'libvirtd', virtlogd ? undefined : 'virtlogd'].filter(Boolean).join(', ')} missing)`, fix: installHint(env.os, ['libvirt']), fixAction: pkgAction(env, ['libvirt'])}, noLab)
}

export async function checkXmlValidate(env: DoctorEnv, need: Need): Promise<CheckResult> {
  const missing: string[] = []
  for (const t of ['virt-xml-validate', 'xmllint']) if ((await env.which(t)) === undefined) missing.push(t)
  const keys: PackageKey[] = missing.includes('xmllint') ? ['xmllint'] : []
  if (missing.includes('virt-xml-validate')) keys.push('libvirt')
  const f: Finding = missing.length === 0
    ? {state: 'ok', detail: 'virt-xml-validate and xmllint present (domain XML is checked against libvirt\'s schema)'}
    : {state: 'missing', detail: `${missing.join(' and ')} missing: domain XML cannot be validated against libvirt's schema`, fix: installHint(env.os, keys), fixAction: pkgAction(env, keys)}
  return conclude('libvirt-xml-validate', 'libvirt XML validation', need, 'software', f, env.needs.lab === undefined)
}

export async function checkIperf3(env: DoctorEnv, need: Need): Promise<CheckResult> {
  const path = await env.which('iperf3')
  const r = path ? await tryRun(env.ctx, ['iperf3', '--version']) : undefined
  const version = r?.result?.stdout.trim().split('\n')[0]
  const f: Finding = path
    ? {state: 'ok', detail: `${version ?? 'iperf3'} (${path})`}
    : {state: 'missing', detail: 'iperf3 not found: throughput tests cannot run', fix: installHint(env.os, ['iperf3']), fixAction: pkgAction(env, ['iperf3'])}
  return conclude('iperf3', 'iperf3', need, 'software', f, env.needs.lab === undefined)
}

export async function checkGuestTools(env: DoctorEnv, need: Need): Promise<CheckResult> {
  // The initramfs is written in TypeScript (src/guest/cpio.ts): only busybox is taken from the host.
  const busybox = await env.which('busybox')
  const f: Finding = busybox
    ? {state: 'ok', detail: `busybox (${busybox}) present for the built-in guest's initramfs`}
    : {state: 'missing', detail: 'busybox missing: the built-in guest image cannot be built', fix: installHint(env.os, ['busybox']), fixAction: pkgAction(env, ['busybox'])}
  return conclude('guest-tools', 'built-in guest tools (busybox)', need, 'software', f, env.needs.lab === undefined)
}

// ---- links the lab creates -------------------------------------------------------------------------

/**
 * Every link the lab creates must be free on the host, or created by this lab (its journal owns the
 * step): virtlab never adopts, tags, addresses or deletes a link it did not create (`up` refuses the
 * same names before any step runs).
 */
export async function checkLabLinks(env: DoctorEnv, model: LabModel): Promise<CheckResult> {
  const read = await readJournal(env.ctx.target.fs, env.ctx.target.stateDir, model.name).catch(() => ({state: 'corrupt' as const}))
  const owned = new Set(read.state === 'ok' ? read.journal.entries.map((e) => e.stepId) : [])
  const taken: string[] = []
  const unknown: string[] = []
  let ours = 0
  for (const link of labLinks(model)) {
    const shown = await env.ctx.target.runner.run(['ip', 'link', 'show', 'dev', link.name], {allowFailure: true, timeoutMs: 10_000}).catch(() => undefined)
    if (shown === undefined) {
      unknown.push(link.name)
      continue
    }
    if (shown.exitCode !== 0) continue
    if (link.stepIds.some((id) => owned.has(id))) ours++
    else taken.push(`${link.name} (${link.what})`)
  }
  const f: Finding = taken.length === 0 && unknown.length > 0
    ? {state: 'note', detail: `could not run \`ip link show\` to check ${unknown.join(', ')}`, fix: 'install iproute2'}
    : taken.length === 0
    ? {state: 'ok', detail: `the lab's link names are free${ours > 0 ? ` (${ours} created by this lab, which is up)` : ''}`}
    : {state: 'missing', detail: `already on this host and not created by this lab: ${taken.join(', ')}`, fix: 'rename the switch in the lab, or remove the link yourself if it is a leftover; virtlab never adopts a link it did not create'}
  return conclude('links', 'link names free', 'required', 'software', f, false)
}
