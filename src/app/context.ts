/**
 * The edges a use case needs, bundled: the command runner, the host filesystem (rooted, so tests
 * use fixture trees), where state lives, and an event sink for progress. Commands build one with
 * createContext; tests build one with fakes.
 */
import {type CommandListener, type CommandRunner, ExecaRunner} from '../host/runner.js'
import {type HostFs, RootedFs} from '../host/fs.js'

export interface ProgressEvent {
  type: 'step-start' | 'step-done' | 'step-skip' | 'step-fail' | 'undo-start' | 'undo-done' | 'undo-fail' | 'info' | 'warn' | 'command'
  stepId?: string
  title: string
  detail?: string
}

export type ProgressSink = (event: ProgressEvent) => void

export interface Context {
  runner: CommandRunner
  /** Host files: sysfs, procfs, /dev, /etc, /run, the state directory. */
  fs: HostFs
  /** Where journals, locks and the image cache live (default /var/lib/virtlab). */
  stateDir: string
  /** Where run directories live (default /run/virtlab). */
  runBase: string
  /** Shipped resources (labs/, templates/, schema/, guest/): the package root. */
  packageRoot: string
  progress: ProgressSink
  env: Record<string, string | undefined>
}

export const DEFAULT_STATE_DIR = '/var/lib/virtlab'
export const DEFAULT_RUN_BASE = '/run/virtlab'

export interface ContextOptions {
  stateDir?: string | undefined
  root?: string | undefined
  progress?: ProgressSink
  onCommand?: CommandListener
}

export function packageRoot(): string {
  return new URL('../..', import.meta.url).pathname.replace(/\/$/, '')
}

export function createContext(options: ContextOptions = {}): Context {
  const env = process.env
  const progress = options.progress ?? (() => {})
  return {
    runner: new ExecaRunner(options.onCommand),
    fs: new RootedFs(options.root ?? env.VIRTLAB_ROOT ?? '/'),
    stateDir: options.stateDir ?? env.VIRTLAB_STATE_DIR ?? DEFAULT_STATE_DIR,
    runBase: env.VIRTLAB_RUN_DIR ?? DEFAULT_RUN_BASE,
    packageRoot: packageRoot(),
    progress,
    env,
  }
}
