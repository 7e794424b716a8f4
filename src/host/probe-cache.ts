/**
 * Probing in few round trips. Host probing (facts, doctor's checks) asks many small questions:
 * a few dozen sysfs/procfs files, device nodes, directory listings, programs on PATH, a handful of
 * version queries. Over SSH each question would be one round trip; here they are asked in a few
 * batches up front (HostFs.readMany/readdirMany/statMany, CommandRunner.whichMany) and the probe
 * code, unchanged, is answered from that snapshot:
 *
 *   const probe = probingContext(ctx)      // reads only; any write clears the snapshot
 *   await prefetchProbe(probe)             // 3-4 round trips
 *   await gatherFacts(probe); await runDoctor(model, probe)
 *
 * Reads of paths that were not prefetched go to the target (and are remembered). `exists` is
 * answered from a prefetched listing of the parent directory. Version and help queries
 * (`qemu-system-x86_64 --version`, `-device help`, ...) are run once per probe.
 */
import type {FileStat, HostFs} from './fs.js'
import {readdirMany, readlinkMany, readMany, statMany} from './fs.js'
import {type CommandRunner, type RunOptions, type RunResult, whichMany} from './runner.js'
import type {Context, TargetHost} from './target.js'

const FILES = [
  '/proc/sys/kernel/osrelease', '/proc/self/status', '/proc/meminfo', '/proc/mounts', '/proc/cmdline',
  '/proc/filesystems', '/proc/sys/kernel/modules_disabled', '/etc/os-release', '/usr/lib/os-release',
  '/run/libvirtd.pid', '/var/run/libvirtd.pid',
]
const DIRS = [
  '/sys/kernel/mm/hugepages', '/sys/devices/system/node', '/sys/kernel/iommu_groups', '/sys/bus/pci/devices',
  '/sys/bus', '/sys/bus/pci/drivers', '/sys/bus/vdpa', '/sys/bus/vdpa/drivers', '/sys/bus/vdpa/devices', '/sys/module', '/sys/class/net',
  '/dev', '/dev/net', '/dev/vfio', '/lib/modules', '/usr/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu/dpdk',
  '/usr/share/openvswitch', '/usr/share/openvswitch/scripts', '/usr/lib/openvswitch-switch-dpdk', '/usr/bin', '/usr/sbin',
]
const DEVICES = ['/dev/kvm', '/dev/vhost-net', '/dev/net/tun', '/dev/vfio/vfio', '/dev/hugepages']
const PROGRAMS = [
  'qemu-system-x86_64', 'virsh', 'libvirtd', 'virtlogd', 'virt-xml-validate', 'xmllint', 'ovs-vsctl', 'ovsdb-server',
  'ovsdb-tool', 'ovs-appctl', 'ovs-vswitchd', 'vdpa', 'iperf3', 'busybox', 'cpio', 'ip', 'modprobe', 'dpkg-query', 'apt-get', 'dnf', 'rpm',
]

/** Is this argv a pure query (a version or a help listing) that a probe may answer once? */
function isQuery(argv: readonly string[]): boolean {
  const last = argv.at(-1)
  if (argv.length <= 3 && (last === '--version' || last === 'help' || last === 'show')) return true
  // `virsh -c URI uri`: is libvirt reachable (src/host/probe.ts LIBVIRT_PROBE_ARGV).
  return argv.length === 4 && argv[0] === 'virsh' && argv[1] === '-c' && last === 'uri'
}

class ProbeFs implements HostFs {
  readonly files = new Map<string, Promise<string | undefined>>()
  readonly dirs = new Map<string, Promise<string[]>>()
  readonly stats = new Map<string, Promise<FileStat | undefined>>()
  readonly links = new Map<string, Promise<string | undefined>>()

  constructor(private readonly inner: HostFs) {}

  get root(): string {
    return this.inner.root
  }

  resolve(hostPath: string): string {
    return this.inner.resolve(hostPath)
  }

  clear(): void {
    this.files.clear()
    this.dirs.clear()
    this.stats.clear()
    this.links.clear()
  }

  private memo<T>(map: Map<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
    let hit = map.get(key)
    if (hit === undefined) {
      hit = load()
      map.set(key, hit)
      // A failed read is not remembered.
      hit.catch(() => map.delete(key))
    }
    return hit
  }

  private parentListing(hostPath: string): Promise<string[]> | undefined {
    const slash = hostPath.lastIndexOf('/')
    const parent = slash <= 0 ? '/' : hostPath.slice(0, slash)
    return this.dirs.get(parent)
  }

  async readFile(hostPath: string): Promise<string> {
    const text = await this.tryReadFile(hostPath)
    if (text !== undefined) return text
    return this.inner.readFile(hostPath)
  }

  tryReadFile(hostPath: string): Promise<string | undefined> {
    return this.memo(this.files, hostPath, () => this.inner.tryReadFile(hostPath))
  }

  async exists(hostPath: string): Promise<boolean> {
    const stat = this.stats.get(hostPath)
    if (stat !== undefined) return (await stat) !== undefined
    const listing = this.parentListing(hostPath)
    if (listing !== undefined) return (await listing).includes(hostPath.slice(hostPath.lastIndexOf('/') + 1))
    return this.inner.exists(hostPath)
  }

  async stat(hostPath: string): Promise<FileStat | undefined> {
    const listing = this.parentListing(hostPath)
    if (!this.stats.has(hostPath) && listing !== undefined && !(await listing).includes(hostPath.slice(hostPath.lastIndexOf('/') + 1))) return undefined
    return this.memo(this.stats, hostPath, () => this.inner.stat(hostPath))
  }

  readdir(hostPath: string): Promise<string[]> {
    return this.memo(this.dirs, hostPath, () => this.inner.readdir(hostPath))
  }

  readlink(hostPath: string): Promise<string | undefined> {
    return this.memo(this.links, hostPath, () => this.inner.readlink(hostPath))
  }

  canOpen(hostPath: string, mode: 'r' | 'w'): Promise<boolean> {
    return this.inner.canOpen(hostPath, mode)
  }

  async readMany(hostPaths: readonly string[]): Promise<Map<string, string | undefined>> {
    const missing = hostPaths.filter((p) => !this.files.has(p))
    if (missing.length > 0) {
      const loaded = readMany(this.inner, missing)
      for (const p of missing) this.files.set(p, loaded.then((m) => m.get(p)))
    }
    return new Map(await Promise.all(hostPaths.map(async (p) => [p, await this.files.get(p)] as const)))
  }

  async readdirMany(hostPaths: readonly string[]): Promise<Map<string, string[]>> {
    const missing = hostPaths.filter((p) => !this.dirs.has(p))
    if (missing.length > 0) {
      const loaded = readdirMany(this.inner, missing)
      for (const p of missing) this.dirs.set(p, loaded.then((m) => m.get(p) ?? []))
    }
    return new Map(await Promise.all(hostPaths.map(async (p) => [p, (await this.dirs.get(p)) ?? []] as const)))
  }

  async readlinkMany(hostPaths: readonly string[]): Promise<Map<string, string | undefined>> {
    const missing = hostPaths.filter((p) => !this.links.has(p))
    if (missing.length > 0) {
      const loaded = readlinkMany(this.inner, missing)
      for (const p of missing) this.links.set(p, loaded.then((m) => m.get(p)))
    }
    return new Map(await Promise.all(hostPaths.map(async (p) => [p, await this.links.get(p)] as const)))
  }

  async statMany(hostPaths: readonly string[]): Promise<Map<string, FileStat | undefined>> {
    const missing = hostPaths.filter((p) => !this.stats.has(p))
    if (missing.length > 0) {
      const loaded = statMany(this.inner, missing)
      for (const p of missing) this.stats.set(p, loaded.then((m) => m.get(p)))
    }
    return new Map(await Promise.all(hostPaths.map(async (p) => [p, await this.stats.get(p)] as const)))
  }

  // Writes go to the target and clear the snapshot (the KVM probe writes its cache and scratch files).
  async readBytes(hostPath: string): Promise<Uint8Array> {
    if (this.inner.readBytes === undefined) throw new Error('readBytes unsupported')
    return this.inner.readBytes(hostPath)
  }

  async writeBytes(hostPath: string, content: Uint8Array, options?: Parameters<HostFs['writeFile']>[2]): Promise<void> {
    this.clear()
    if (this.inner.writeBytes === undefined) throw new Error('writeBytes unsupported')
    await this.inner.writeBytes(hostPath, content, options)
  }

  async writeFile(hostPath: string, content: string, options?: Parameters<HostFs['writeFile']>[2]): Promise<void> {
    this.clear()
    await this.inner.writeFile(hostPath, content, options)
  }

  async appendFile(hostPath: string, content: string): Promise<void> {
    this.clear()
    await this.inner.appendFile(hostPath, content)
  }

  async mkdir(hostPath: string, options?: {mode?: number}): Promise<void> {
    this.clear()
    await this.inner.mkdir(hostPath, options)
  }

  async remove(hostPath: string, options?: {recursive?: boolean}): Promise<void> {
    this.clear()
    await this.inner.remove(hostPath, options)
  }

  async chmod(hostPath: string, mode: number): Promise<void> {
    this.clear()
    await this.inner.chmod(hostPath, mode)
  }

  async chown(hostPath: string, uid: number, gid: number): Promise<void> {
    this.clear()
    await this.inner.chown(hostPath, uid, gid)
  }

  async symlink(target: string, hostPath: string): Promise<void> {
    this.clear()
    await this.inner.symlink(target, hostPath)
  }

  async rename(fromHostPath: string, toHostPath: string): Promise<void> {
    this.clear()
    await this.inner.rename(fromHostPath, toHostPath)
  }
}

class ProbeRunner implements CommandRunner {
  readonly programs = new Map<string, Promise<string | undefined>>()
  private readonly queries = new Map<string, Promise<RunResult>>()

  constructor(private readonly inner: CommandRunner) {}

  run(argv: readonly string[], options?: RunOptions): Promise<RunResult> {
    if (!isQuery(argv) || options?.input !== undefined || !options?.allowFailure) return this.inner.run(argv, options)
    const key = JSON.stringify(argv)
    let hit = this.queries.get(key)
    if (hit === undefined) {
      hit = this.inner.run(argv, options)
      this.queries.set(key, hit)
      hit.catch(() => this.queries.delete(key))
    }
    return hit
  }

  which(program: string): Promise<string | undefined> {
    let hit = this.programs.get(program)
    if (hit === undefined) {
      hit = this.inner.which(program)
      this.programs.set(program, hit)
    }
    return hit
  }

  async whichMany(programs: readonly string[]): Promise<Map<string, string | undefined>> {
    const missing = programs.filter((p) => !this.programs.has(p))
    if (missing.length > 0) {
      const loaded = whichMany(this.inner, missing)
      for (const p of missing) this.programs.set(p, loaded.then((m) => m.get(p)))
    }
    return new Map(await Promise.all(programs.map(async (p) => [p, await this.programs.get(p)] as const)))
  }
}

/**
 * A read snapshot of a HostFs for one probe (reads remembered, batches prefetched, any write
 * clears it): `const snap = snapshotFs(fs); await snap.readMany([...]); ...read snap as usual`.
 */
export function snapshotFs(fs: HostFs): HostFs & Required<Pick<HostFs, 'readMany' | 'readdirMany' | 'readlinkMany' | 'statMany'>> {
  return fs instanceof ProbeFs ? fs : new ProbeFs(fs)
}

const PROBING = Symbol('virtlab.probing')

export function isProbing(ctx: Context): boolean {
  return (ctx.target as {[PROBING]?: boolean})[PROBING] === true
}

/** probingContext + prefetchProbe, unless ctx is probing already. */
export async function probing(ctx: Context): Promise<Context> {
  if (isProbing(ctx)) return ctx
  const probe = probingContext(ctx)
  await prefetchProbe(probe)
  return probe
}

/** A Context whose target answers reads from a per-probe snapshot (see the module comment). */
export function probingContext(ctx: Context): Context {
  if (isProbing(ctx)) return ctx
  const target: TargetHost & {[PROBING]: boolean} = {
    ...ctx.target,
    name: ctx.target.name,
    transport: ctx.target.transport,
    identity: ctx.target.identity,
    session: ctx.target.session,
    fs: new ProbeFs(ctx.target.fs),
    runner: new ProbeRunner(ctx.target.runner),
    roundTrips: () => ctx.target.roundTrips(),
    close: () => ctx.target.close(),
    [PROBING]: true,
  }
  return {...ctx, target}
}

/** Fetch, in a few batches, what host probing reads (files, listings, device nodes, programs). */
export async function prefetchProbe(ctx: Context, extra: {files?: string[]; dirs?: string[]} = {}): Promise<void> {
  const {fs, runner, stateDir} = ctx.target
  const [files] = await Promise.all([
    readMany(fs, [...FILES, `${stateDir}/kvm-probe.json`, ...(extra.files ?? [])]),
    readdirMany(fs, [...DIRS, ...(extra.dirs ?? [])]),
    statMany(fs, DEVICES),
    whichMany(runner, PROGRAMS),
  ])
  // Second batch: what the first one named (the running kernel's modules, NUMA nodes, PCI devices).
  const release = files.get('/proc/sys/kernel/osrelease')?.trim()
  const listings = await readdirMany(fs, ['/sys/devices/system/node', '/sys/bus/pci/devices', '/sys/kernel/mm/hugepages'])
  const nodes = (listings.get('/sys/devices/system/node') ?? []).filter((n) => /^node\d+$/.test(n))
  const sizes = (listings.get('/sys/kernel/mm/hugepages') ?? []).filter((s) => /^hugepages-\d+kB$/.test(s))
  const pci = (listings.get('/sys/bus/pci/devices') ?? []).filter((d) => /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/i.test(d))
  const second: string[] = []
  if (release !== undefined && /^[\w.+~-]+$/.test(release)) {
    for (const f of ['modules.builtin', 'modules.dep', 'modules.order']) second.push(`/lib/modules/${release}/${f}`)
  }
  for (const size of sizes) for (const f of ['nr_hugepages', 'free_hugepages']) second.push(`/sys/kernel/mm/hugepages/${size}/${f}`)
  for (const node of nodes) for (const size of sizes) for (const f of ['nr_hugepages', 'free_hugepages']) second.push(`/sys/devices/system/node/${node}/hugepages/${size}/${f}`)
  for (const bdf of pci) second.push(`/sys/bus/pci/devices/${bdf}/sriov_totalvfs`)
  await Promise.all([
    readMany(fs, second),
    readdirMany(fs, [...nodes.map((n) => `/sys/devices/system/node/${n}/hugepages`), ...(release === undefined ? [] : [`/lib/modules/${release}`])]),
  ])
}
