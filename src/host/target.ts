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
import {type HostFs, RootedFs} from './fs.js'
import type {ProgressSink} from './progress.js'
import {type CommandListener, type CommandRunner, ExecaRunner} from './runner.js'
import {localSockets, type SocketConnector} from './socket.js'

export type {ProgressEvent, ProgressSink} from './progress.js'
export type {SocketConnector} from './socket.js'
export {localSockets} from './socket.js'

export interface TargetIdentity {
  /** The URL the target was reached by (ssh://user@host:port); undefined for local. */
  url?: string
  user?: string
  hostname?: string
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
  return {
    name: 'local',
    transport: 'local',
    identity: {},
    runner: options.runner ?? new ExecaRunner(options.onCommand),
    fs: options.fs ?? new RootedFs(options.root ?? '/'),
    sockets: options.sockets ?? localSockets,
    stateDir: options.stateDir ?? DEFAULT_STATE_DIR,
    runBase: options.runBase ?? DEFAULT_RUN_BASE,
    close: async () => {},
  }
}
