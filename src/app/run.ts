/**
 * `virtlab run [lab]`: the whole job in one command, for a README or a CI step. With --fix, first
 * what `doctor --fix` does (install missing Debian packages, start daemons); then the built-in
 * guest image (built on first use), `up`, the lab's tests, and `down` — also when `up` or the
 * tests fail. Daemons this run started (libvirtd, virtlogd...) are stopped at the end unless kept.
 * Default lab: vhost-user (OVS-DPDK), which runs faithfully on a host without /dev/vhost-net or KVM.
 */
import {VirtlabError, isVirtlabError} from '../errors.js'
import {ensureImage} from '../guest/image.js'
import {type StartedDaemon, type StopResult, stopStartedDaemons} from '../host/daemons.js'
import type {Driver} from '../compile/artifacts.js'
import type {Plan} from '../plan/step.js'
import type {Context} from './context.js'
import {type DoctorResult, doctor} from './doctor.js'
import {type DownResult, downLab, labNameOf} from './down.js'
import {type TestLabResult, testLab} from './measure.js'
import {type UpDryRunResult, type UpResult, upLab} from './up.js'

export const DEFAULT_RUN_LAB = 'vhost-user'

export interface RunOptions {
  lab?: string | undefined
  driver?: Driver | undefined
  allowDegraded?: boolean
  /** Install missing packages and start daemons first (as `doctor --fix`). */
  fix?: boolean
  sets?: Record<string, string>
  dirs?: string[]
  /** Where result files go (default "results"). */
  outDir?: string | undefined
  trials?: number | undefined
  durationS?: number | undefined
  latencyCount?: number | undefined
  /** Leave the daemons this run started running (default: stop them at the end). */
  keepDaemons?: boolean
  onPlan?: (plan: Plan) => void
  /** Stops the tests (SIGINT at the edge); `up` handles SIGINT itself. */
  signal?: AbortSignal
}

export interface RunThroughput {
  test: string
  case: string
  /** Median throughput over the trials, Gbit/s. */
  gbps: number
  trials: number
  datapath: {kind: string; verified: boolean; reason?: string | undefined}
  degraded: string[]
  file: string
}

export interface RunResult {
  lab: string
  driver: Driver | undefined
  ok: boolean
  fix: {packages: string[]; commands: string[][]; ok: boolean; failedAfter: string[]} | undefined
  image: {built: boolean; key: string}
  up: UpResult | undefined
  test: TestLabResult | undefined
  down: DownResult | undefined
  throughput: RunThroughput[]
  startedDaemons: StartedDaemon[]
  stoppedDaemons: StopResult[]
  /** The error that ended the run early (up or the tests), after the lab was torn down. */
  error: {code: string; message: string} | undefined
}

function errorOf(error: unknown): {code: string; message: string} {
  return isVirtlabError(error) ? {code: error.code, message: error.message} : {code: 'INTERNAL', message: error instanceof Error ? error.message : String(error)}
}

export async function runLab(ctx: Context, options: RunOptions = {}): Promise<RunResult> {
  const source = options.lab ?? DEFAULT_RUN_LAB
  const lab = labNameOf(source)
  const started: StartedDaemon[] = []
  const result: RunResult = {
    lab,
    driver: options.driver,
    ok: false,
    fix: undefined,
    image: {built: false, key: ''},
    up: undefined,
    test: undefined,
    down: undefined,
    throughput: [],
    startedDaemons: started,
    stoppedDaemons: [],
    error: undefined,
  }
  let failure: unknown
  try {
    if (options.fix) {
      ctx.operator.progress({type: 'info', title: `doctor --fix for lab ${lab}`})
      const checked: DoctorResult = await doctor(ctx, {
        lab: source,
        sets: options.sets ?? {},
        dirs: options.dirs ?? [],
        fix: true,
        allowDegraded: options.allowDegraded ?? false,
        driver: options.driver,
      })
      for (const r of checked.fix?.results ?? []) started.push(...(r.started ?? []))
      const after = checked.fix?.checksAfter ?? checked.checks
      result.fix = {
        packages: checked.fix?.plan.packages ?? [],
        commands: checked.fix?.plan.commands ?? [],
        ok: checked.ok,
        failedAfter: after.filter((c) => c.status === 'fail').map((c) => `${c.title}: ${c.detail}`),
      }
      for (const r of checked.fix?.results ?? []) ctx.operator.progress({type: r.ok ? 'info' : 'warn', title: `fix ${r.what}: ${r.detail}`})
    }

    const image = await ensureImage(ctx)
    result.image = {built: image.built, key: image.manifest.key}

    const up = await upLab(ctx, {
      lab: source,
      sets: options.sets ?? {},
      dirs: options.dirs ?? [],
      driver: options.driver,
      allowDegraded: options.allowDegraded ?? false,
      ...(options.onPlan === undefined ? {} : {onPlan: options.onPlan}),
    }) as UpResult | UpDryRunResult
    if (up.dryRun) throw new VirtlabError('INTERNAL', 'internal: up returned a dry run')
    result.up = up
    result.driver = up.driver
    started.push(...up.startedDaemons)

    const test = await testLab(ctx, {
      lab: up.lab,
      outDir: options.outDir,
      dirs: options.dirs ?? [],
      trials: options.trials,
      durationS: options.durationS,
      latencyCount: options.latencyCount,
      signal: options.signal,
    })
    result.test = test
    result.throughput = test.results.flatMap((doc, i) => doc.cases.map((c) => ({
      test: doc.test.name,
      case: c.id,
      gbps: c.throughput.median,
      trials: c.throughput.n,
      datapath: {kind: doc.datapath.kind, verified: doc.datapath.verified, ...(doc.datapath.reason === undefined ? {} : {reason: doc.datapath.reason})},
      degraded: doc.degraded,
      file: test.files[i] ?? '',
    })))
  } catch (error) {
    failure = error
    result.error = errorOf(error)
  }

  // Tear down whatever is up, also after a failure (a failed `up` has already rolled itself back).
  try {
    result.down = await downLab(ctx, {lab})
    const leftover = result.down.labs.some((l) => l.notUndone.length > 0 || l.failed.length > 0)
    if (leftover) result.down = await downLab(ctx, {lab, force: true})
  } catch (error) {
    ctx.operator.progress({type: 'warn', title: `down ${lab} failed (${errorOf(error).message}); sweeping tagged leftovers (down --force)`})
    try {
      result.down = await downLab(ctx, {lab, force: true})
    } catch (forced) {
      failure ??= forced
      result.error ??= errorOf(forced)
    }
  }
  if (!options.keepDaemons && started.length > 0) {
    result.stoppedDaemons = await stopStartedDaemons(ctx, started)
    for (const s of result.stoppedDaemons) ctx.operator.progress({type: 'info', title: `stopped ${s.name}: ${s.detail}`})
  }
  result.ok = failure === undefined
  if (failure !== undefined) {
    if (isVirtlabError(failure)) {
      throw new VirtlabError(failure.code, failure.message, {
        cause: failure.cause,
        command: failure.command,
        hint: `${failure.hint ? `${failure.hint} ` : ''}(virtlab run tore lab ${lab} down${result.stoppedDaemons.length > 0 ? ' and stopped the daemons it started' : ''}.)`,
        details: {run: result},
      })
    }
    throw failure
  }
  return result
}
