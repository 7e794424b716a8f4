/**
 * The Context a use case takes (src/host/target.ts): the target host the lab runs on and the
 * operator running virtlab. Commands build one with createContext; tests build one with fakes.
 */
import {VirtlabError} from '../errors.js'
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

/**
 * The state directory and the run base come from flags and the environment: absolute, normalized
 * (no "." or ".." segment, no "//"), without spaces or shell characters, and not "/" itself (labs
 * are created and removed under them). Refused at once, naming where the value came from, instead
 * of resolving against the working directory or failing half-way through `up`.
 * The characters are those of apply-time token arguments (@{saved:<path>:key}): ":" separates
 * them and "@" or "+" would end them (the fuzzer found `@{saved:/srv/x@y/...}` not resolving);
 * "," and "=" would split QEMU and OVS option strings.
 */
export function checkStateDir(value: string, source: string, max = 4095): string {
  const trimmed = value.length > 1 ? value.replace(/\/+$/, '') : value
  if (!/^(?!.*\/\.{1,2}(\/|$))(?!.*\/\/)\/[A-Za-z0-9_./-]{1,4095}$/.test(trimmed)) {
    throw new VirtlabError('STATE_DIR_INVALID', `${source} ${JSON.stringify(value.slice(0, 200))} is not an absolute, normalized directory other than /`, {
      hint: 'give an absolute path such as /var/lib/virtlab (letters, digits, "_", ".", "-", "/"; no "..")',
      exitCode: 2,
    })
  }
  if (trimmed.length > max) {
    throw new VirtlabError('STATE_DIR_INVALID', `${source} ${JSON.stringify(value.slice(0, 200))} is longer than ${max} characters`, {
      hint: source === 'VIRTLAB_RUN_DIR' ? 'sockets live under the run directory and a Unix socket path is at most 107 bytes: choose a shorter directory' : 'choose a shorter directory',
      exitCode: 2,
    })
  }
  return trimmed
}

/**
 * The longest run directory base: sockets live at <runBase>/<lab>/<vm>.qga.sock (and OVS's
 * <runBase>/<lab>/ovs/db.sock), and a Unix socket path is at most 107 bytes (sun_path); lab and
 * VM names are at most 23 characters each.
 */
export const MAX_RUN_BASE_LENGTH = 48

/** VIRTLAB_ROOT (fixture trees): "/" or a directory checked like the state directory. */
function checkRoot(value: string, source: string): string {
  return value === '/' ? value : checkStateDir(value, source)
}

export function createContext(options: ContextOptions = {}): Context {
  const env = process.env
  const progress = options.progress ?? (() => {})
  const stateDir = options.stateDir !== undefined
    ? checkStateDir(options.stateDir, '--state-dir')
    : env.VIRTLAB_STATE_DIR !== undefined ? checkStateDir(env.VIRTLAB_STATE_DIR, 'VIRTLAB_STATE_DIR') : DEFAULT_STATE_DIR
  const runBase = env.VIRTLAB_RUN_DIR !== undefined ? checkStateDir(env.VIRTLAB_RUN_DIR, 'VIRTLAB_RUN_DIR', MAX_RUN_BASE_LENGTH) : DEFAULT_RUN_BASE
  const target = options.target ?? createLocalTarget({
    root: checkRoot(options.root ?? env.VIRTLAB_ROOT ?? '/', options.root === undefined ? 'VIRTLAB_ROOT' : 'the root'),
    stateDir,
    runBase,
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
