/**
 * Where a lab runs, and who runs it. A use case takes a Context of two sides:
 *
 * - the TargetHost: the machine the lab runs on. Its command runner, its filesystem (sysfs,
 *   /proc, /dev, /etc, the state directory with journals, locks and the image cache, the run
 *   directory), its unix sockets (QMP, the guest agent), and where state and run directories live
 *   on it. Reached through a transport (local today); nothing outside the transports knows which.
 * - the Operator: the machine and user running virtlab. Its own files (lab YAML, the packaged
 *   resources, result files, `render --out`), progress reporting, its environment.
 *
 * On a local run both sides are this machine, but code still says which side a file belongs to.
 */
import {hostname, userInfo} from 'node:os'

import {type HostFs, readdirMany, readlinkMany, readMany, RootedFs, statMany} from './fs.js'
import type {ProgressSink} from './progress.js'
import {type CommandListener, type CommandRunner, ExecaRunner, type RunOptions, type RunResult, whichMany} from './runner.js'
import {localSockets, type SocketConnector} from './socket.js'

export type {ProgressEvent, ProgressSink} from './progress.js'
export type {SocketConnector} from './socket.js'
export {localSockets} from './socket.js'

export interface TargetIdentity {
  /** The URL the target was reached by (ssh://user@host:port); undefined for local. */
  url?: string
  user?: string
  hostname?: string
  /** Commands and file writes go through `sudo -n` (a remote user that is not root). */
  sudo?: boolean
}

export interface TargetHost {
  /** 'local', a name from hosts.yaml, or the URL. */
  readonly name: string
  /** For provenance and display only: no code outside the transports branches on it. */
  readonly transport: 'local' | 'ssh'
  readonly identity: TargetIdentity
  runner: CommandRunner
  /** The target's files: sysfs, procfs, /dev, /etc, /run, the state and run directories. */
  fs: HostFs
  sockets: SocketConnector
  /** Where journals, locks and the image cache live on the target (default /var/lib/virtlab). */
  stateDir: string
  /** Where run directories live on the target (default /run/virtlab). */
  runBase: string
  /**
   * This run on the target: a pid there that lives as long as this virtlab run is connected
   * (locally virtlab itself; over SSH its session), and who runs it. Locks record both; a lock
   * whose pid is gone from the target's /proc is stale.
   */
  readonly session: {pid: number; label: string}
  /** Round trips to the target so far (commands run; over SSH every ssh invocation). For benchmarks and tests. */
  roundTrips(): number
  /** Release the transport (a no-op locally). */
  close(): Promise<void>
}

export interface Operator {
  /** The operator's own files: lab YAML, packaged resources, result files, `render --out`. */
  fs: HostFs
  /** Shipped resources (labs/, templates/, schema/, guest/): the package root. */
  packageRoot: string
  progress: ProgressSink
  env: Record<string, string | undefined>
}

/** What a use case takes: the target host the lab runs on and the operator running virtlab. */
export interface Context {
  target: TargetHost
  operator: Operator
}

export const DEFAULT_STATE_DIR = '/var/lib/virtlab'
export const DEFAULT_RUN_BASE = '/run/virtlab'

export interface LocalTargetOptions {
  /** Map every host path under this root (fixture trees); default '/'. */
  root?: string | undefined
  stateDir?: string | undefined
  runBase?: string | undefined
  runner?: CommandRunner
  fs?: HostFs
  sockets?: SocketConnector
  onCommand?: CommandListener
}

/** This machine as the target: today's behaviour (execa, node:fs, node:net). */
export function createLocalTarget(options: LocalTargetOptions = {}): TargetHost {
  const runner = new CountingRunner(options.runner ?? new ExecaRunner(options.onCommand))
  const fsCalls = {count: 0}
  const fs = countingFs(options.fs ?? new RootedFs(options.root ?? '/'), fsCalls)
  return {
    name: 'local',
    transport: 'local',
    identity: localIdentity(),
    runner,
    fs,
    sockets: options.sockets ?? localSockets,
    stateDir: options.stateDir ?? DEFAULT_STATE_DIR,
    runBase: options.runBase ?? DEFAULT_RUN_BASE,
    session: {pid: process.pid, label: `virtlab pid ${process.pid} on ${hostname()}`},
    roundTrips: () => runner.count + fsCalls.count,
    close: async () => {},
  }
}

function localIdentity(): TargetIdentity {
  let user: string | undefined
  try {
    user = userInfo().username
  } catch {
    user = undefined
  }
  return {hostname: hostname(), ...(user === undefined ? {} : {user})}
}

/** A runner that counts the commands it ran (the local transport's round trips). */
export class CountingRunner implements CommandRunner {
  count = 0

  constructor(private readonly inner: CommandRunner) {}

  run(argv: readonly string[], options?: RunOptions): Promise<RunResult> {
    this.count++
    return this.inner.run(argv, options)
  }

  which(program: string): Promise<string | undefined> {
    return this.inner.which(program)
  }

  whichMany(programs: readonly string[]): Promise<Map<string, string | undefined>> {
    return whichMany(this.inner, programs)
  }
}

/**
 * A HostFs that counts its calls (each would be one round trip on a remote transport; a batch
 * counts once). The local target wraps its fs in one so benchmarks compare like with like.
 */
export function countingFs(inner: HostFs, counter: {count: number}): HostFs {
  const batch = {
    readMany: (paths: readonly string[]) => readMany(inner, paths),
    readdirMany: (paths: readonly string[]) => readdirMany(inner, paths),
    readlinkMany: (paths: readonly string[]) => readlinkMany(inner, paths),
    statMany: (paths: readonly string[]) => statMany(inner, paths),
  }
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'root') return target.root
      if (prop === 'resolve') return target.resolve.bind(target)
      const own = prop in batch ? batch[prop as keyof typeof batch] : undefined
      const value = own ?? (Reflect.get(target, prop, receiver) as unknown)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        counter.count++
        return (value as (...a: unknown[]) => unknown).apply(own === undefined ? target : undefined, args)
      }
    },
  })
}
