/**
 * The Context a use case takes (src/host/target.ts): the target host the lab runs on and the
 * operator running virtlab. Commands build one with createContext; tests build one with fakes.
 */
import {VirtlabError} from '../errors.js'
import {RootedFs} from '../host/fs.js'
import type {ProgressSink} from '../host/progress.js'
import type {CommandListener} from '../host/runner.js'
import {type Context, createLocalTarget, DEFAULT_RUN_BASE, DEFAULT_STATE_DIR, type TargetHost} from '../host/target.js'

export type {ProgressEvent, ProgressSink} from '../host/progress.js'
export type {Context, Operator, TargetHost} from '../host/target.js'
export {DEFAULT_RUN_BASE, DEFAULT_STATE_DIR} from '../host/target.js'

export interface ContextOptions {
  stateDir?: string | undefined
  /** Map the target's paths under this root (VIRTLAB_ROOT; fixture trees). Operator files are not rooted. */
  root?: string | undefined
  progress?: ProgressSink
  onCommand?: CommandListener
  /** The target host (default: this machine). */
  target?: TargetHost
}

export function packageRoot(): string {
  return new URL('../..', import.meta.url).pathname.replace(/\/$/, '')
}

/**
 * The state directory and the run base come from flags and the environment: absolute, normalized
 * (no "." or ".." segment, no "//"), without spaces or shell characters, and not "/" itself (labs
 * are created and removed under them). Refused at once, naming where the value came from, instead
 * of resolving against the working directory or failing half-way through `up`.
 */
export function checkStateDir(value: string, source: string): string {
  const trimmed = value.length > 1 ? value.replace(/\/+$/, '') : value
  if (!/^(?!.*\/\.{1,2}(\/|$))(?!.*\/\/)\/[A-Za-z0-9_./+@:-]{1,4095}$/.test(trimmed)) {
    throw new VirtlabError('STATE_DIR_INVALID', `${source} ${JSON.stringify(value.slice(0, 200))} is not an absolute, normalized directory other than /`, {
      hint: 'give an absolute path such as /var/lib/virtlab (letters, digits, "_", ".", "-", "/"; no "..")',
      exitCode: 2,
    })
  }
  return trimmed
}

export function createContext(options: ContextOptions = {}): Context {
  const env = process.env
  const progress = options.progress ?? (() => {})
  const stateDir = options.stateDir !== undefined
    ? checkStateDir(options.stateDir, '--state-dir')
    : env.VIRTLAB_STATE_DIR !== undefined ? checkStateDir(env.VIRTLAB_STATE_DIR, 'VIRTLAB_STATE_DIR') : DEFAULT_STATE_DIR
  const runBase = env.VIRTLAB_RUN_DIR !== undefined ? checkStateDir(env.VIRTLAB_RUN_DIR, 'VIRTLAB_RUN_DIR') : DEFAULT_RUN_BASE
  const target = options.target ?? createLocalTarget({
    root: options.root ?? env.VIRTLAB_ROOT ?? '/',
    stateDir,
    runBase,
    ...(options.onCommand === undefined ? {} : {onCommand: options.onCommand}),
  })
  return {
    target,
    operator: {fs: new RootedFs('/'), packageRoot: packageRoot(), progress, env},
  }
}
