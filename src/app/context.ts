/**
 * The Context a use case takes (src/host/target.ts): the target host the lab runs on and the
 * operator running virtlab. Commands build one with createContext; tests build one with fakes.
 */
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

export function createContext(options: ContextOptions = {}): Context {
  const env = process.env
  const progress = options.progress ?? (() => {})
  const target = options.target ?? createLocalTarget({
    root: options.root ?? env.VIRTLAB_ROOT ?? '/',
    stateDir: options.stateDir ?? env.VIRTLAB_STATE_DIR ?? DEFAULT_STATE_DIR,
    runBase: env.VIRTLAB_RUN_DIR ?? DEFAULT_RUN_BASE,
    ...(options.onCommand === undefined ? {} : {onCommand: options.onCommand}),
  })
  return {
    target,
    operator: {fs: new RootedFs('/'), packageRoot: packageRoot(), progress, env},
  }
}
