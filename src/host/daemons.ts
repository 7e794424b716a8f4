/**
 * Daemons a lab may need when the host has no init system to start them: virtlogd and libvirtd
 * (libvirtd needs virtlogd first, else "Failed to connect socket to '/run/libvirt/virtlogd-sock'"),
 * and the system Open vSwitch (ovs-ctl start). Each ensure* is idempotent: it starts only what is
 * not already answering, and returns what it started so the caller (doctor --fix, `up`, a test
 * harness) can stop exactly that with stopStartedDaemons, and nothing else.
 */
import type {Context} from './target.js'
import {VirtlabError} from '../errors.js'
import {LIBVIRT_URI, libvirtReachable, readInt, readValue, systemOvsRunning, tryRun} from './probe.js'

export type DaemonName = 'virtlogd' | 'libvirtd' | 'ovs'

export interface StartedDaemon {
  name: DaemonName
  /** The daemon's pid (from its pidfile), when it has a single process. */
  pid: number | undefined
  pidfile: string | undefined
  /** How to stop it when there is no single pid (system OVS: ovs-ctl stop). */
  stopArgv?: string[] | undefined
}

export interface DaemonOptions {
  /** How long to wait for a daemon to answer (default 30 s). */
  timeoutMs?: number
  /** Poll interval (default 100 ms). */
  intervalMs?: number
  /** Injected by tests; default setTimeout. */
  sleep?: (ms: number) => Promise<void>
  /** Monotonic ms for deadlines; injected by tests (default performance.now). */
  clock?: () => number
}

export const VIRTLOGD_PIDFILE = '/run/virtlogd.pid'
export const VIRTLOGD_SOCKET = '/run/libvirt/virtlogd-sock'
export const LIBVIRTD_PIDFILE = '/run/libvirtd.pid'
export const LIBVIRTD_SOCKET = '/run/libvirt/libvirt-sock'
export const OVS_CTL = '/usr/share/openvswitch/scripts/ovs-ctl'

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** The pid in a pidfile, if that process is alive and its comm is the expected name. */
export async function runningPid(ctx: Context, pidfile: string, comm: string): Promise<number | undefined> {
  const pid = await readInt(ctx.target.fs, pidfile)
  if (pid === undefined || pid <= 1) return undefined
  const actual = await readValue(ctx.target.fs, `/proc/${pid}/comm`)
  return actual === comm.slice(0, 15) ? pid : undefined
}

async function waitFor(what: string, probe: () => Promise<boolean>, options: DaemonOptions): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 30_000
  const interval = options.intervalMs ?? 100
  const sleep = options.sleep ?? defaultSleep
  const clock = options.clock ?? (() => performance.now())
  const deadline = clock() + timeoutMs
  for (;;) {
    if (await probe()) return
    if (clock() >= deadline) throw new VirtlabError('DAEMON_START_TIMEOUT', `${what} did not come up within ${Math.round(timeoutMs / 1000)} s`)
    await sleep(interval)
  }
}

async function startDaemon(ctx: Context, name: 'virtlogd' | 'libvirtd', pidfile: string, socket: string, options: DaemonOptions): Promise<StartedDaemon> {
  if ((await ctx.target.runner.which(name)) === undefined) {
    throw new VirtlabError('DAEMON_NOT_INSTALLED', `${name} is not installed`, {hint: 'Install libvirt (virtlab doctor --fix installs libvirt-daemon-system).'})
  }
  ctx.operator.progress({type: 'info', title: `Starting ${name} (${name} -d)`})
  await ctx.target.runner.run([name, '-d'], {timeoutMs: 20_000})
  await waitFor(`${name} (socket ${socket})`, async () => ctx.target.fs.exists(socket), options)
  const pid = await runningPid(ctx, pidfile, name)
  return {name, pid, pidfile}
}

/**
 * Make `virsh -c qemu:///system` answer: start virtlogd (if not running) then libvirtd, wait for
 * /run/libvirt/libvirt-sock and a successful `virsh version`. Returns the daemons it started (empty
 * when libvirt already answered). On failure, stops what it started before throwing.
 */
export async function ensureLibvirtd(ctx: Context, options: DaemonOptions = {}): Promise<StartedDaemon[]> {
  if ((await libvirtReachable(ctx)).ok) return []
  if ((await ctx.target.runner.which('virsh')) === undefined) {
    throw new VirtlabError('LIBVIRT_NOT_INSTALLED', 'virsh is not installed', {hint: 'virtlab doctor --fix installs libvirt-clients and libvirt-daemon-system.'})
  }
  const started: StartedDaemon[] = []
  try {
    if ((await runningPid(ctx, VIRTLOGD_PIDFILE, 'virtlogd')) === undefined) {
      started.push(await startDaemon(ctx, 'virtlogd', VIRTLOGD_PIDFILE, VIRTLOGD_SOCKET, options))
    }
    if ((await runningPid(ctx, LIBVIRTD_PIDFILE, 'libvirtd')) === undefined) {
      started.push(await startDaemon(ctx, 'libvirtd', LIBVIRTD_PIDFILE, LIBVIRTD_SOCKET, options))
    }
    let last: string | undefined
    await waitFor(`libvirtd (virsh -c ${LIBVIRT_URI} version)`, async () => {
      const r = await libvirtReachable(ctx)
      last = r.error
      return r.ok
    }, options).catch((error: unknown) => {
      throw new VirtlabError('LIBVIRT_UNREACHABLE', `libvirtd is running but virsh -c ${LIBVIRT_URI} does not answer${last ? ` (${last})` : ''}`, {cause: error})
    })
    return started
  } catch (error) {
    await stopStartedDaemons(ctx, started, options).catch(() => {})
    throw error
  }
}

/**
 * Make the system Open vSwitch answer (`ovs-vsctl --timeout=2 show`): ovs-ctl start, which starts
 * ovsdb-server and ovs-vswitchd (and loads the openvswitch kernel module). Returns what it started.
 */
export async function ensureSystemOvs(ctx: Context, options: DaemonOptions = {}): Promise<StartedDaemon[]> {
  if (await systemOvsRunning(ctx)) return []
  if (!(await ctx.target.fs.exists(OVS_CTL))) {
    throw new VirtlabError('OVS_NOT_INSTALLED', `Open vSwitch is not installed (${OVS_CTL} missing)`, {hint: 'virtlab doctor --fix installs openvswitch-switch.'})
  }
  ctx.operator.progress({type: 'info', title: 'Starting the system Open vSwitch (ovs-ctl start)'})
  const r = await tryRun(ctx, [OVS_CTL, 'start', '--system-id=random'], 120_000)
  const started: StartedDaemon = {name: 'ovs', pid: undefined, pidfile: undefined, stopArgv: [OVS_CTL, 'stop']}
  if (!r.ok) {
    await tryRun(ctx, [OVS_CTL, 'stop'], 60_000)
    throw new VirtlabError('OVS_START_FAILED', `ovs-ctl start failed: ${r.error ?? 'unknown error'}`, {
      hint: 'ovs-ctl loads the openvswitch kernel module; without it, use a private OVS instance (switch ovs: private, datapath: netdev).',
      command: {argv: [OVS_CTL, 'start', '--system-id=random'], exitCode: r.result?.exitCode, stderrTail: r.result?.stderr.trim().split('\n').slice(-8).join('\n')},
    })
  }
  await waitFor('the system Open vSwitch (ovs-vsctl --timeout=2 show)', async () => systemOvsRunning(ctx), options)
  return [started]
}

export interface StopResult {name: DaemonName; pid: number | undefined; stopped: boolean; detail: string}

/**
 * Stop daemons returned by ensure*, in reverse order. A pid is signalled only while its
 * /proc/<pid>/comm still names the daemon we started (never a recycled pid).
 */
export async function stopStartedDaemons(ctx: Context, started: readonly StartedDaemon[], options: DaemonOptions = {}): Promise<StopResult[]> {
  const results: StopResult[] = []
  for (const daemon of [...started].reverse()) {
    if (daemon.stopArgv !== undefined) {
      const r = await tryRun(ctx, daemon.stopArgv, 60_000)
      results.push({name: daemon.name, pid: daemon.pid, stopped: r.ok, detail: r.ok ? `ran ${daemon.stopArgv.join(' ')}` : `${daemon.stopArgv.join(' ')}: ${r.error ?? 'failed'}`})
      continue
    }
    const pid = daemon.pid
    if (pid === undefined) {
      results.push({name: daemon.name, pid, stopped: false, detail: 'no pid recorded: not stopped'})
      continue
    }
    const alive = async () => (await readValue(ctx.target.fs, `/proc/${pid}/comm`)) === daemon.name.slice(0, 15)
    if (!(await alive())) {
      results.push({name: daemon.name, pid, stopped: true, detail: `pid ${pid} had already exited`})
      continue
    }
    await tryRun(ctx, ['kill', '-TERM', String(pid)])
    try {
      await waitFor(`${daemon.name} (pid ${pid}) to exit`, async () => !(await alive()), {...options, timeoutMs: options.timeoutMs ?? 10_000})
      results.push({name: daemon.name, pid, stopped: true, detail: `sent SIGTERM to pid ${pid}`})
    } catch {
      await tryRun(ctx, ['kill', '-KILL', String(pid)])
      results.push({name: daemon.name, pid, stopped: !(await alive()), detail: `pid ${pid} ignored SIGTERM: sent SIGKILL`})
    }
  }
  return results
}
