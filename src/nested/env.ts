/**
 * What the nested-host code needs from a Context, in one place: the machine that builds and runs
 * the L1 VM is the operator's own (local) host, so every command goes through its runner and every
 * file through its HostFs. Changing how a Context is shaped touches only nestedEnv().
 */
import type {Context, ProgressSink} from '../app/context.js'
import type {HostFs} from '../host/fs.js'
import type {CommandRunner} from '../host/runner.js'

export interface NestedEnv {
  runner: CommandRunner
  fs: HostFs
  /** <stateDir>/nested holds the build cache and each nested host's persistent files. */
  stateDir: string
  /** <runBase>/hosts/<name> holds a running host's pidfile, QMP socket and console log. */
  runBase: string
  /** Shipped resources (guest/nested-init.sh, guest/nested-rc.sh). */
  packageRoot: string
  progress: ProgressSink
  env: Record<string, string | undefined>
}

export function nestedEnv(ctx: Context): NestedEnv {
  return {runner: ctx.runner, fs: ctx.fs, stateDir: ctx.stateDir, runBase: ctx.runBase, packageRoot: ctx.packageRoot, progress: ctx.progress, env: ctx.env}
}

/** Report a phase starting / done, with its duration in the detail. */
export function phase(env: Pick<NestedEnv, 'progress'>, stepId: string, title: string): (detail?: string) => number {
  const started = performance.now()
  env.progress({type: 'step-start', stepId, title})
  return (detail?: string) => {
    const ms = Math.round(performance.now() - started)
    env.progress({type: 'step-done', stepId, title, detail: `${detail === undefined ? '' : `${detail}, `}${(ms / 1000).toFixed(1)} s`})
    return ms
  }
}
