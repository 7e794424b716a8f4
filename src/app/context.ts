/**
 * The Context a use case takes (src/host/target.ts): the target host the lab runs on and the
 * operator running virtlab. Commands build one with createContext; tests build one with fakes.
 */
import {createTarget} from '../host/create.js'
import {RootedFs} from '../host/fs.js'
import type {ProgressSink} from '../host/progress.js'
import {type CommandListener, ExecaRunner} from '../host/runner.js'
import {resolveHostSpec} from '../host/select.js'
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

export interface OpenContextOptions extends Omit<ContextOptions, 'target'> {
  /** --host: a hosts-file name or ssh://[user@]host[:port]; undefined: $VIRTLAB_HOST, else this machine. */
  host?: string | undefined
}

/**
 * The Context of a command that touches a host: resolve --host / $VIRTLAB_HOST (validated before
 * anything runs), connect the target, and build the operator side. The caller closes the target
 * (withContext does).
 */
export async function openContext(options: OpenContextOptions = {}): Promise<Context> {
  const env = process.env
  const operatorFs = new RootedFs('/')
  const spec = await resolveHostSpec(options.host, {env, fs: operatorFs})
  const target = await createTarget(spec, {
    localRunner: new ExecaRunner(options.onCommand),
    localFs: operatorFs,
    stateDir: options.stateDir ?? env.VIRTLAB_STATE_DIR ?? DEFAULT_STATE_DIR,
    runBase: env.VIRTLAB_RUN_DIR ?? DEFAULT_RUN_BASE,
    root: options.root ?? env.VIRTLAB_ROOT ?? '/',
    env,
  })
  return createContext({...options, target})
}

/** openContext, run fn, close the target whatever happens. */
export async function withContext<T>(options: OpenContextOptions, fn: (ctx: Context) => Promise<T>): Promise<T> {
  const ctx = await openContext(options)
  try {
    return await fn(ctx)
  } finally {
    await ctx.target.close()
  }
}
