/**
 * Host probing: small readers of /proc, /sys, /dev and /etc (all through ctx.target.fs, so a fixture
 * tree stands in for a host) and of tool output (all through ctx.target.runner), and gatherFacts(), which
 * turns them into the HostFacts the planner and compiler use. `virtlab doctor` builds its checks on
 * the same readers.
 *
 * Device nodes: on a real host (fs.root === '/') a device path counts only when it is a character
 * device; under a fixture root a plain file stands in for it (fixtures cannot hold device nodes).
 */
import type {Context, TargetHost} from './target.js'
import {isVirtlabError} from '../errors.js'
import type {HostFacts} from './facts.js'
import type {HostFs} from './fs.js'
import {probeKvm, type KvmProbeOptions} from './kvm-probe.js'
import type {RunResult} from './runner.js'

export const QEMU_BINARY = 'qemu-system-x86_64'
export const OVS_DPDK_BINARY = '/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk'
export const LIBVIRT_URI = 'qemu:///system'

// ---- files -----------------------------------------------------------------------------------------

/** Read a small sysfs/procfs value, trimmed; undefined when absent or unreadable. */
export async function readValue(fs: HostFs, path: string): Promise<string | undefined> {
  try {
    return (await fs.tryReadFile(path))?.trim()
  } catch {
    return undefined
  }
}

export async function readInt(fs: HostFs, path: string): Promise<number | undefined> {
  const text = await readValue(fs, path)
  if (text === undefined || !/^-?\d+$/.test(text)) return undefined
  return Number.parseInt(text, 10)
}

/** Does a device node exist (a character device on a real host; any file under a fixture root)? */
export async function deviceExists(fs: HostFs, path: string): Promise<boolean> {
  const s = await fs.stat(path)
  if (s === undefined) return false
  return fs.root === '/' ? s.isCharDevice : !s.isDirectory
}

export async function kernelRelease(fs: HostFs): Promise<string | undefined> {
  return readValue(fs, '/proc/sys/kernel/osrelease')
}

/**
 * The effective uid of this process as the host reports it (/proc/self/status, "Uid: real effective
 * saved fs"); falls back to process.geteuid() when the file is missing.
 */
export async function effectiveUid(fs: HostFs): Promise<number | undefined> {
  const status = await readValue(fs, '/proc/self/status')
  const line = status?.split('\n').find((l) => l.startsWith('Uid:'))
  const fields = line?.split(/\s+/).slice(1)
  const euid = fields?.[1] ?? fields?.[0]
  if (euid !== undefined && /^\d+$/.test(euid)) return Number.parseInt(euid, 10)
  return typeof process.geteuid === 'function' ? process.geteuid() : undefined
}

export async function kernelCmdline(fs: HostFs): Promise<string> {
  return (await readValue(fs, '/proc/cmdline')) ?? ''
}

export async function meminfo(fs: HostFs): Promise<Record<string, number>> {
  const text = (await readValue(fs, '/proc/meminfo')) ?? ''
  const out: Record<string, number> = {}
  for (const line of text.split('\n')) {
    const m = /^(\w+(?:\(\w+\))?):\s+(\d+)/.exec(line)
    if (m?.[1] !== undefined && m[2] !== undefined) out[m[1]] = Number.parseInt(m[2], 10)
  }
  return out
}

export interface HugepageCount {total: number; free: number}

async function readHugepageDir(fs: HostFs, dir: string): Promise<Record<string, HugepageCount>> {
  const out: Record<string, HugepageCount> = {}
  for (const entry of await fs.readdir(dir)) {
    const m = /^hugepages-(\d+)kB$/.exec(entry)
    if (m?.[1] === undefined) continue
    out[m[1]] = {
      total: (await readInt(fs, `${dir}/${entry}/nr_hugepages`)) ?? 0,
      free: (await readInt(fs, `${dir}/${entry}/free_hugepages`)) ?? 0,
    }
  }
  return out
}

/** Hugepages per page size in KiB, system-wide (/sys/kernel/mm/hugepages/hugepages-<size>kB). */
export async function hugepages(fs: HostFs): Promise<Record<string, HugepageCount>> {
  return readHugepageDir(fs, '/sys/kernel/mm/hugepages')
}

/** Hugepages per NUMA node ('0', '1') and page size (/sys/devices/system/node/node<N>/hugepages). */
export async function hugepagesByNode(fs: HostFs): Promise<Record<string, Record<string, HugepageCount>>> {
  const out: Record<string, Record<string, HugepageCount>> = {}
  for (const entry of await fs.readdir('/sys/devices/system/node')) {
    const m = /^node(\d+)$/.exec(entry)
    if (m?.[1] === undefined) continue
    out[m[1]] = await readHugepageDir(fs, `/sys/devices/system/node/${entry}/hugepages`)
  }
  return out
}

export interface MountEntry {source: string; path: string; type: string; options: string[]}

export async function mounts(fs: HostFs): Promise<MountEntry[]> {
  const text = (await readValue(fs, '/proc/mounts')) ?? ''
  const out: MountEntry[] = []
  for (const line of text.split('\n')) {
    const [source, path, type, options] = line.split(' ')
    if (source === undefined || path === undefined || type === undefined) continue
    // /proc/mounts escapes spaces and the like as octal (\040).
    const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)))
    out.push({source, path: unescape(path), type, options: (options ?? '').split(',')})
  }
  return out
}

/** Parse a hugetlbfs pagesize option ("2M", "1G", "1024M", "2048k") to KiB. */
export function parsePageSizeKiB(text: string): number | undefined {
  const m = /^(\d+)([kKmMgG]?)[bB]?$/.exec(text)
  if (m?.[1] === undefined) return undefined
  const n = Number.parseInt(m[1], 10)
  switch ((m[2] ?? '').toUpperCase()) {
    case 'G': return n * 1024 * 1024
    case 'M': return n * 1024
    case 'K': return n
    default: return Math.floor(n / 1024)
  }
}

/** Mounted hugetlbfs instances with their page size (default: the kernel's default hugepage size). */
export async function hugetlbfsMounts(fs: HostFs): Promise<{path: string; pagesizeKiB: number}[]> {
  const defaultKiB = (await meminfo(fs)).Hugepagesize ?? 2048
  const out: {path: string; pagesizeKiB: number}[] = []
  for (const m of await mounts(fs)) {
    if (m.type !== 'hugetlbfs') continue
    const opt = m.options.find((o) => o.startsWith('pagesize='))
    const size = opt === undefined ? defaultKiB : parsePageSizeKiB(opt.slice('pagesize='.length)) ?? defaultKiB
    if (!out.some((e) => e.path === m.path)) out.push({path: m.path, pagesizeKiB: size})
  }
  return out
}

/** Does the kernel know this filesystem type (/proc/filesystems)? */
export async function filesystemSupported(fs: HostFs, type: string): Promise<boolean> {
  const text = (await readValue(fs, '/proc/filesystems')) ?? ''
  return text.split('\n').some((line) => line.trim().split(/\s+/).pop() === type)
}

export async function iommuGroupCount(fs: HostFs): Promise<number> {
  return (await fs.readdir('/sys/kernel/iommu_groups')).length
}

/** sysfs module directory name: '-' becomes '_'. */
export function moduleSysName(name: string): string {
  return name.replaceAll('-', '_')
}

/**
 * Other evidence that a (possibly built-in) module's feature is present: built-in code without
 * parameters has no /sys/module/<m> directory, but its device node or bus does exist.
 */
export const MODULE_EVIDENCE: Record<string, string[]> = {
  tun: ['/dev/net/tun'],
  vhost_net: ['/dev/vhost-net'],
  vfio: ['/dev/vfio/vfio'],
  vfio_pci: ['/sys/bus/pci/drivers/vfio-pci'],
  vdpa: ['/sys/bus/vdpa'],
  vhost_vdpa: ['/sys/bus/vdpa/drivers/vhost_vdpa'],
  virtio_vdpa: ['/sys/bus/vdpa/drivers/virtio_vdpa'],
  vduse: ['/dev/vduse/control'],
  kvm: ['/dev/kvm'],
}

export interface ModuleState {
  loaded: boolean
  /** How it was seen: the /sys/module directory, modules.builtin, or another path. */
  evidence: string | undefined
}

export async function moduleState(fs: HostFs, name: string, release: string | undefined): Promise<ModuleState> {
  const sys = moduleSysName(name)
  if (await fs.exists(`/sys/module/${sys}`)) return {loaded: true, evidence: `/sys/module/${sys}`}
  if (release !== undefined) {
    const builtin = await readValue(fs, `/lib/modules/${release}/modules.builtin`)
    if (builtin?.split('\n').some((l) => l.replace(/\.ko$/, '').split('/').pop()?.replaceAll('-', '_') === sys)) {
      return {loaded: true, evidence: `/lib/modules/${release}/modules.builtin`}
    }
  }
  for (const path of MODULE_EVIDENCE[sys] ?? []) {
    if (path.startsWith('/dev/') ? await deviceExists(fs, path) : await fs.exists(path)) return {loaded: true, evidence: path}
  }
  return {loaded: false, evidence: undefined}
}

/** Can this kernel load modules at all? (No /lib/modules/<release>: every feature must be built in.) */
export async function modulesLoadable(fs: HostFs, release: string | undefined): Promise<boolean> {
  if (release === undefined) return false
  if ((await readValue(fs, '/proc/sys/kernel/modules_disabled')) === '1') return false
  return fs.exists(`/lib/modules/${release}`)
}

export interface OsRelease {
  id: string
  idLike: string[]
  versionId: string | undefined
  prettyName: string | undefined
}

export async function osRelease(fs: HostFs): Promise<OsRelease | undefined> {
  const text = (await readValue(fs, '/etc/os-release')) ?? (await readValue(fs, '/usr/lib/os-release'))
  if (text === undefined) return undefined
  const fields: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim())
    if (m?.[1] === undefined || m[2] === undefined) continue
    fields[m[1]] = m[2].replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1')
  }
  return {
    id: fields.ID ?? 'unknown',
    idLike: (fields.ID_LIKE ?? '').split(/\s+/).filter(Boolean),
    versionId: fields.VERSION_ID,
    prettyName: fields.PRETTY_NAME,
  }
}

// ---- commands --------------------------------------------------------------------------------------

export interface TryRunResult {
  ok: boolean
  result: RunResult | undefined
  /** Why it did not succeed: not installed, timed out, exit code and stderr. */
  error: string | undefined
}

/** Run a probe command; never throws (a probe that cannot run is a finding, not a crash). */
export async function tryRun(ctx: {target: Pick<TargetHost, 'runner'>}, argv: readonly string[], timeoutMs = 5000): Promise<TryRunResult> {
  try {
    const result = await ctx.target.runner.run(argv, {timeoutMs, allowFailure: true})
    if (result.exitCode === 0) return {ok: true, result, error: undefined}
    const tail = (result.stderr || result.stdout).trim().split('\n').slice(-2).join(' / ')
    return {ok: false, result, error: `exit ${result.exitCode}${tail ? `: ${tail}` : ''}`}
  } catch (error) {
    const message = isVirtlabError(error) ? error.message : error instanceof Error ? error.message : String(error)
    return {ok: false, result: undefined, error: message}
  }
}

/** `qemu-system-x86_64 --version` first line, e.g. "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)". */
export async function qemuVersionLine(ctx: {target: Pick<TargetHost, 'runner'>}): Promise<string | undefined> {
  if ((await ctx.target.runner.which(QEMU_BINARY)) === undefined) return undefined
  const r = await tryRun(ctx, [QEMU_BINARY, '--version'])
  return r.ok ? r.result?.stdout.trim().split('\n')[0] : undefined
}

/** "7.2.22" from the version line. */
export function qemuVersionNumber(line: string | undefined): string | undefined {
  return line === undefined ? undefined : /version (\d+\.\d+(?:\.\d+)?)/.exec(line)?.[1]
}

/** Is the system OVS (ovsdb-server on its default socket) answering? */
export async function systemOvsRunning(ctx: {target: Pick<TargetHost, 'runner'>}): Promise<boolean> {
  if ((await ctx.target.runner.which('ovs-vsctl')) === undefined) return false
  return (await tryRun(ctx, ['ovs-vsctl', '--timeout=2', 'show'], 5000)).ok
}

/**
 * The reachability probe: `virsh -c qemu:///system uri` connects to libvirtd's QEMU driver and
 * answers in ~30 ms. (`virsh version` also asks the hypervisor's version, which libvirt 9 re-probes
 * on every call: ~8 s on a machine where KVM is slow, too slow for a short timeout.)
 */
export const LIBVIRT_PROBE_ARGV = ['virsh', '-c', LIBVIRT_URI, 'uri'] as const

/** Does libvirtd answer on qemu:///system? */
export async function libvirtReachable(ctx: {target: Pick<TargetHost, 'runner'>}): Promise<TryRunResult> {
  if ((await ctx.target.runner.which('virsh')) === undefined) return {ok: false, result: undefined, error: 'virsh is not installed'}
  return tryRun(ctx, LIBVIRT_PROBE_ARGV, 5000)
}

// ---- facts -----------------------------------------------------------------------------------------

export interface GatherOptions {
  /** Run the KVM usability probe ('run', cached), use only a cached result ('cached'), or skip it ('skip': 'unusable' unless /dev/kvm is absent). */
  kvm?: 'run' | 'cached' | 'skip'
  /** Ignore a cached KVM probe result. */
  reprobeKvm?: boolean
  /** Passed to the KVM probe (tests inject a clock). */
  kvmProbe?: Omit<KvmProbeOptions, 'force' | 'cachedOnly'>
}

/** Probe the host: what buildPlan and the compiler need to know (HostFacts). */
export async function gatherFacts(ctx: Context, options: GatherOptions = {}): Promise<HostFacts> {
  const {fs, runner} = ctx.target
  const release = await kernelRelease(fs)
  const qemuLine = await qemuVersionLine(ctx)
  const uid = await effectiveUid(fs)

  let kvm: HostFacts['kvm']
  let kvmDetail: HostFacts['kvmProbe']
  const mode = options.kvm ?? 'run'
  if (!(await deviceExists(fs, '/dev/kvm'))) {
    kvm = 'absent'
  } else if (mode === 'skip') {
    kvm = 'unusable'
    kvmDetail = {reason: 'not probed (KVM probe skipped): treated as unusable', cached: false, measured: false}
  } else {
    const probe = await probeKvm(ctx, {...options.kvmProbe, force: options.reprobeKvm ?? false, cachedOnly: mode === 'cached'})
    kvm = probe.kvm
    kvmDetail = {reason: probe.reason, cached: probe.cached, measured: probe.timings !== undefined, kvmMs: probe.timings?.kvmWorkMs, tcgMs: probe.timings?.tcgWorkMs}
  }

  const ovsInstalled = (await runner.which('ovs-vsctl')) !== undefined && (await runner.which('ovsdb-server')) !== undefined
  const dpdkBinary = (await fs.exists(OVS_DPDK_BINARY)) ? OVS_DPDK_BINARY : undefined
  const virshPath = await runner.which('virsh')

  return {
    probed: true,
    root: uid === 0,
    kvm,
    vhostNet: await deviceExists(fs, '/dev/vhost-net'),
    tun: await deviceExists(fs, '/dev/net/tun'),
    ovs: {installed: ovsInstalled, systemRunning: ovsInstalled && (await systemOvsRunning(ctx)), dpdkBinary},
    libvirt: {installed: virshPath !== undefined, reachable: virshPath !== undefined && (await libvirtReachable(ctx)).ok},
    hugepages: await hugepages(fs),
    hugetlbfsMounts: await hugetlbfsMounts(fs),
    kernelRelease: release,
    qemuVersion: qemuVersionNumber(qemuLine),
    kvmProbe: kvmDetail,
    hugepagesByNode: await hugepagesByNode(fs),
    iommuGroups: await iommuGroupCount(fs),
    vdpaBus: await fs.exists('/sys/bus/vdpa'),
  }
}

/** What `accel: auto` resolves to on a host (CompileOptions.autoAccel): KVM only when measured usable. */
export function autoAccelFor(facts: Pick<HostFacts, 'kvm'>): 'kvm' | 'tcg' {
  return facts.kvm === 'usable' ? 'kvm' : 'tcg'
}

/** What `ovs: auto` resolves to (CompileOptions.autoOvs): the system OVS when it is running. */
export function autoOvsFor(facts: Pick<HostFacts, 'ovs'>): 'system' | 'private' {
  return facts.ovs.systemRunning ? 'system' : 'private'
}
