/**
 * The Context a use case takes (src/host/target.ts): the target host the lab runs on and the
 * operator running virtlab. Commands build one with createContext; tests build one with fakes.
 */
import {VirtlabError} from '../errors.js'
import {RootedFs} from '../host/fs.js'
import {show} from '../lab/problems.js'
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
 * The longest run directory base: sockets live at <runBase>/<lab>/<vm>.qga.sock (and OVS's
 * <runBase>/<lab>/ovs/db.sock), and a Unix socket path is at most 107 bytes (sun_path); lab and
 * VM names are at most 23 characters each.
 */
export const MAX_RUN_BASE_LENGTH = 48
const MAX_DIR_LENGTH = 1024

/**
 * A directory given by the operator (--state-dir, VIRTLAB_STATE_DIR, VIRTLAB_RUN_DIR, VIRTLAB_ROOT)
 * becomes the root of host paths that reach argv and QEMU option strings (`path=<runDir>/...`):
 * absolute, normal (no "." or ".." segment), and only characters that mean nothing there.
 */
export function checkOperatorDir(what: string, value: string, max = MAX_DIR_LENGTH): string {
  const bad = (why: string) => new VirtlabError('BAD_DIRECTORY', `${what} ${show(value)} ${why}`, {hint: 'give an absolute directory such as /var/lib/virtlab (letters, digits, "_", ".", "-" and "/")', exitCode: 2})
  if (!value.startsWith('/')) throw bad('is not an absolute path')
  if (value.length > max) throw bad(`is longer than ${max} characters`)
  // The alphabet of apply-time token arguments (@{saved:<path>:key}): ":" separates them, "@" and
  // "+" end them, "," and "=" would split QEMU and OVS option strings.
  if (!/^\/[A-Za-z0-9_./-]*$/.test(value)) throw bad('contains a character that is not allowed in it')
  if (value.split('/').some((segment) => segment === '.' || segment === '..')) throw bad('has a "." or ".." segment')
  return value
}

export function createContext(options: ContextOptions = {}): Context {
  const env = process.env
  const progress = options.progress ?? (() => {})
  const target = options.target ?? createLocalTarget({
    root: checkOperatorDir(options.root === undefined ? 'VIRTLAB_ROOT' : 'the root', options.root ?? env.VIRTLAB_ROOT ?? '/'),
    stateDir: checkOperatorDir(options.stateDir === undefined ? 'VIRTLAB_STATE_DIR' : '--state-dir', options.stateDir ?? env.VIRTLAB_STATE_DIR ?? DEFAULT_STATE_DIR),
    runBase: checkOperatorDir('VIRTLAB_RUN_DIR', env.VIRTLAB_RUN_DIR ?? DEFAULT_RUN_BASE, MAX_RUN_BASE_LENGTH),
    ...(options.onCommand === undefined ? {} : {onCommand: options.onCommand}),
  })
  return {
    target,
    operator: {fs: new RootedFs('/'), packageRoot: packageRoot(), progress, env},
  }
}
