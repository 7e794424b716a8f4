/**
 * What the nested-host code needs from a Context, in one place: the machine that builds and runs
 * the L1 VM is the target (the local host by default): every command goes through its runner and
 * every file through its HostFs; virtlab's own resources are read from the operator's side.
 */
import type {ProgressSink} from '../host/progress.js'
import type {Context} from '../host/target.js'
import type {HostFs} from '../host/fs.js'
import type {CommandRunner} from '../host/runner.js'

export interface NestedEnv {
  runner: CommandRunner
  fs: HostFs
  /** <stateDir>/nested holds the build cache and each nested host's persistent files. */
  stateDir: string
  /** <runBase>/hosts/<name> holds a running host's pidfile, QMP socket and console log. */
  runBase: string
  /** Shipped resources (guest/nested-init.sh, guest/nested-rc.sh), read through resourceFs. */
  packageRoot: string
  /** The operator's files (the package's own resources). */
  resourceFs: HostFs
  progress: ProgressSink
  env: Record<string, string | undefined>
}

/** The nested host is built and run on the target (this machine unless --host says otherwise). */
export function nestedEnv(ctx: Context): NestedEnv {
  const {target, operator} = ctx
  return {
    runner: target.runner, fs: target.fs, stateDir: target.stateDir, runBase: target.runBase,
    packageRoot: operator.packageRoot, resourceFs: operator.fs, progress: operator.progress, env: operator.env,
  }
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
