/**
 * `virtlab up <lab>`: probe the host, plan the lab (planLab: the same code path as --dry-run and
 * render), run the doctor's checks for it, then take the lab's lock and apply the plan with its
 * journal. A lab that is already up is reconciled: satisfied / journaled steps are skipped, so a
 * second `up` changes nothing. SIGINT/SIGTERM become an AbortSignal here (the edge): the executor
 * stops, rolls back what this run created, and the error says what was rolled back.
 */
import {createTokenRegistry} from '../apply/tokens.js'
import type {CompileOptions, Driver} from '../compile/artifacts.js'
import {runChecks as realRunChecks, type CheckResult, type RunChecksOptions} from '../doctor/index.js'
import {VirtlabError} from '../errors.js'
import type {HostFacts} from '../host/facts.js'
import {autoAccelFor, autoOvsFor, gatherFacts as realGatherFacts} from '../host/probe.js'
import {ensureLibvirtd as realEnsureLibvirtd, type StartedDaemon} from '../host/daemons.js'
import {ensureImage as realEnsureImage} from '../guest/image.js'
import {loadLab} from '../lab/load.js'
import type {LabModel} from '../lab/model.js'
import {renderPlanText} from '../plan/render.js'
import type {Plan} from '../plan/step.js'
import {DEFAULT_MAX_WORKERS, applyPlan} from '../apply/executor.js'
import {JournalStore, readJournal, removeLabStateDirIfEmpty} from '../apply/journal.js'
import {acquireLock} from '../apply/lock.js'
import type {Context} from './context.js'
import {planLab as realPlanLab, type PlanLabOptions, type PlanLabResult} from './plan.js'

export interface UpOptions {
  /** Lab name or file. */
  lab: string
  sets?: Record<string, string>
  dirs?: string[]
  /** libvirt or qemu; default: the driver of a lab already up, else libvirt when libvirtd is reachable, else qemu. */
  driver?: Driver | undefined
  /** Only build and return the plan. */
  dryRun?: boolean
  maxWorkers?: number
  /** Start even when a doctor check fails (loudly warned). */
  skipChecks?: boolean
  /** Accept degraded paths (e.g. no /dev/vhost-net: userspace virtio backend). */
  allowDegraded?: boolean
  stepTimeoutMs?: number
  /** Called with the plan just before it is applied (the progress view builds its task tree). */
  onPlan?: (plan: Plan) => void
  /** An extra abort signal (tests); SIGINT/SIGTERM are always handled. */
  signal?: AbortSignal
}

/** The modules `up` builds on (injectable for tests). */
export interface UpDeps {
  /** kvm 'cached' (a dry run): never boot the KVM probe's guests, use its cached result or none. */
  gatherFacts: (ctx: Context, options: {kvm: 'run' | 'cached'}) => Promise<HostFacts>
  planLab: (source: string, options: PlanLabOptions, ctx: Context) => Promise<PlanLabResult>
  runChecks: (model: LabModel, ctx: Context, options: RunChecksOptions) => Promise<CheckResult[]>
  /** Start virtlogd/libvirtd when the libvirt driver needs them (returns what it started). */
  ensureLibvirtd?: (ctx: Context) => Promise<StartedDaemon[]>
  /** Build the built-in guest image on first use. */
  ensureImage?: (ctx: Context) => Promise<unknown>
}

export const defaultUpDeps: UpDeps = {
  gatherFacts: (ctx, options) => realGatherFacts(ctx, options),
  planLab: realPlanLab,
  runChecks: realRunChecks,
  ensureLibvirtd: (ctx) => realEnsureLibvirtd(ctx),
  ensureImage: (ctx) => realEnsureImage(ctx),
}

export interface UpDryRunResult {
  lab: string
  driver: Driver
  dryRun: true
  degraded: string[]
  notes: string[]
  plan: Plan
  /** The plan as text (what `up --dry-run` prints without --json). */
  text: string
}

export interface UpResult {
  lab: string
  driver: Driver
  dryRun: false
  file: string
  runDir: string
  netns: string | undefined
  /** Steps whose action ran in this run. */
  stepsRun: string[]
  /** Steps skipped: already satisfied, or already done by an earlier `up`. */
  stepsSkipped: string[]
  degraded: string[]
  notes: string[]
  /** Doctor warnings (and the --skip-checks warning). */
  warnings: string[]
  /** Daemons this `up` started (libvirtd, virtlogd); `down` leaves them running. Also in the journal. */
  startedDaemons: StartedDaemon[]
  /** Was the built-in guest image built by this `up`? */
  imageBuilt: boolean
}

/** What the planner's `auto` settings resolve to on this host. */
export function compileOverrides(facts: HostFacts, driver: Driver, allowDegraded: boolean): Partial<CompileOptions> {
  return {
    driver,
    allowDegraded,
    hostHasVhostNet: facts.probed ? facts.vhostNet : undefined,
    autoAccel: autoAccelFor(facts),
    autoOvs: autoOvsFor(facts),
  }
}

function failedChecksError(lab: string, failed: CheckResult[]): VirtlabError {
  const lines = failed.map((c) => `  - ${c.title}: ${c.detail}${c.fix ? `\n    fix: ${c.fix}` : ''}`)
  return new VirtlabError('PRECHECK_FAILED', `lab ${lab} cannot start on this host; ${failed.length} check(s) failed:\n${lines.join('\n')}`, {
    hint: '`virtlab doctor <lab> --fix` fixes what it can; `up --skip-checks` starts anyway (at your own risk).',
    details: {failed},
  })
}

export async function upLab(ctx: Context, options: UpOptions, deps: UpDeps = defaultUpDeps): Promise<UpResult | UpDryRunResult> {
  // A dry run changes nothing and boots nothing: the KVM probe (two QEMU guests, a cache file in
  // the state dir) runs only for a real `up`; the dry run uses the cached result or says there is none.
  const facts = await deps.gatherFacts(ctx, {kvm: options.dryRun === true ? 'cached' : 'run'})
  // A dry-run shows the lab as written even where this host lacks vhost-net (and says so in a note);
  // the real `up` refuses it there unless --allow-degraded.
  const describeFaithfully = options.dryRun === true && options.allowDegraded !== true && facts.probed && !facts.vhostNet
  const planOptions = (driver: Driver): PlanLabOptions => ({
    sets: options.sets ?? {},
    dirs: options.dirs ?? [],
    facts,
    compile: {...compileOverrides(facts, driver, options.allowDegraded ?? false), ...(describeFaithfully ? {hostHasVhostNet: undefined} : {})},
  })
  // The lab name is needed to find an existing journal (its driver wins): plan once with the
  // requested/default driver, then again if the journal says otherwise.
  const defaultDriver: Driver = options.driver ?? (facts.libvirt.reachable ? 'libvirt' : 'qemu')
  let planned: PlanLabResult
  try {
    planned = await deps.planLab(options.lab, planOptions(defaultDriver), ctx)
  } catch (error) {
    throw await asDoctorFailure(error, ctx, options, facts, defaultDriver, deps)
  }
  const existing = await readJournal(ctx.target.fs, ctx.target.stateDir, planned.model.name)
  if (existing.state === 'ok' && existing.journal.driver !== defaultDriver) {
    if (options.driver !== undefined) {
      throw new VirtlabError('LAB_ALREADY_UP', `lab ${planned.model.name} is up with driver ${existing.journal.driver}; cannot reconcile it to ${options.driver}`, {
        hint: `Run \`virtlab down ${planned.model.name}\` first, or omit --driver.`,
      })
    }
    planned = await deps.planLab(options.lab, planOptions(existing.journal.driver), ctx)
  }
  const {model, plan} = planned

  if (options.dryRun) {
    const refusedHere = describeFaithfully && model.vms.some((vm) => vm.nics.some((nic) => nic.backend === 'vhost-net'))
    const extra: string[] = []
    if (facts.kvm !== 'absent' && facts.kvmProbe?.measured === false && model.vms.some((vm) => vm.accel !== 'tcg')) {
      extra.push('accel: not yet measured (virtlab doctor measures it); this plan assumes TCG where accel is auto')
    }
    if (refusedHere) extra.push('this host has no /dev/vhost-net: `up` refuses this plan here; `up --allow-degraded` runs the userspace virtio backend instead, labelled degraded')
    const shown: Plan = extra.length > 0 ? {...plan, notes: [...plan.notes, ...extra]} : plan
    return {lab: shown.lab, driver: shown.driver, dryRun: true, degraded: shown.degraded, notes: shown.notes, plan: shown, text: renderPlanText(shown)}
  }

  const warnings: string[] = []
  // The libvirt driver needs libvirtd (and virtlogd before it): start them when they are not running.
  let startedDaemons: StartedDaemon[] = []
  if (plan.driver === 'libvirt' && !facts.libvirt.reachable && deps.ensureLibvirtd !== undefined) {
    startedDaemons = await deps.ensureLibvirtd(ctx)
    for (const d of startedDaemons) ctx.operator.progress({type: 'info', title: `started ${d.name}${d.pid === undefined ? '' : ` (pid ${d.pid})`}: the libvirt driver needs it; \`down\` leaves it running`})
  }
  const checkFacts: HostFacts = startedDaemons.length > 0 ? {...facts, libvirt: {...facts.libvirt, reachable: true}} : facts
  if (options.skipChecks) {
    const warning = 'WARNING: --skip-checks: the host checks were NOT run; the lab may fail half-way (it will be rolled back) or misbehave.'
    warnings.push(warning)
    ctx.operator.progress({type: 'warn', title: warning})
  } else {
    const checks = await deps.runChecks(model, ctx, {allowDegraded: options.allowDegraded ?? false, driver: plan.driver, facts: checkFacts})
    const failed = checks.filter((c) => c.status === 'fail')
    if (failed.length > 0) throw failedChecksError(model.name, failed)
    for (const c of checks.filter((x) => x.status === 'warn')) {
      const warning = `${c.title}: ${c.detail}${c.fix ? ` (fix: ${c.fix})` : ''}`
      warnings.push(warning)
      ctx.operator.progress({type: 'warn', title: warning})
    }
  }
  for (const label of plan.degraded) ctx.operator.progress({type: 'warn', title: label})

  // The built-in guest's kernel and initramfs: built on first use (a few seconds; apt-get download).
  let imageBuilt = false
  if (deps.ensureImage !== undefined && model.vms.some((vm) => vm.image.type === 'builtin')) {
    const image = await deps.ensureImage(ctx) as {built?: boolean} | undefined
    imageBuilt = image?.built === true
  }

  const lock = await acquireLock(ctx.target.fs, ctx.target.stateDir, plan.lab)
  const controller = new AbortController()
  const onSigint = () => controller.abort(new Error('interrupted (SIGINT)'))
  const onSigterm = () => controller.abort(new Error('terminated (SIGTERM)'))
  // `on`, not `once`: execa's exit handler (signal-exit) re-raises a signal it finds no other listener
  // for, which would kill the process mid-rollback when our listener ran first and removed itself.
  process.on('SIGINT', onSigint)
  process.on('SIGTERM', onSigterm)
  const signal = options.signal ? AbortSignal.any([controller.signal, options.signal]) : controller.signal
  try {
    const journal = await JournalStore.open(ctx.target.fs, ctx.target.stateDir, {
      lab: plan.lab,
      file: model.file,
      driver: plan.driver,
      netns: plan.netns,
      runDir: plan.runDir,
      params: model.params,
      degraded: plan.degraded,
      ...(startedDaemons.length > 0 ? {startedDaemons} : {}),
    })
    options.onPlan?.(plan)
    const result = await applyPlan(plan, ctx, {
      journal,
      tokens: createTokenRegistry(),
      signal,
      maxWorkers: options.maxWorkers ?? DEFAULT_MAX_WORKERS,
      ...(options.stepTimeoutMs === undefined ? {} : {stepTimeoutMs: options.stepTimeoutMs}),
    })
    return {
      lab: plan.lab,
      driver: plan.driver,
      dryRun: false,
      file: model.file,
      runDir: plan.runDir,
      netns: plan.netns,
      stepsRun: result.ran,
      stepsSkipped: result.skipped,
      degraded: plan.degraded,
      notes: plan.notes,
      warnings,
      startedDaemons,
      imageBuilt,
    }
  } finally {
    process.removeListener('SIGINT', onSigint)
    process.removeListener('SIGTERM', onSigterm)
    await lock.release()
    // A first `up` that was rolled back completely leaves no state behind.
    await removeLabStateDirIfEmpty(ctx.target.fs, ctx.target.stateDir, plan.lab)
  }
}

/**
 * A lab the compiler refuses on this host because of a missing kernel feature (vhost-net without
 * /dev/vhost-net and without --allow-degraded) fails the doctor's check for it: report the
 * doctor's verdict (what is missing, why, the fix) rather than the compiler's short message.
 */
async function asDoctorFailure(error: unknown, ctx: Context, options: UpOptions, facts: HostFacts, driver: Driver, deps: UpDeps): Promise<unknown> {
  if (!(error instanceof VirtlabError) || error.code !== 'VHOST_NET_UNAVAILABLE') return error
  try {
    const model = await loadLab(options.lab, {fs: ctx.operator.fs, sets: options.sets ?? {}, dirs: options.dirs ?? [], packageRoot: ctx.operator.packageRoot})
    const failed = (await deps.runChecks(model, ctx, {allowDegraded: options.allowDegraded ?? false, driver, facts})).filter((c) => c.status === 'fail')
    if (failed.length === 0) return error
    const doctor = failedChecksError(model.name, failed)
    return new VirtlabError(doctor.code, doctor.message, {
      hint: `${error.hint ?? ''} (\`virtlab up ${model.name} --allow-degraded\` runs it on the userspace backend, labelled "degraded: no vhost-net".)`.trim(),
      details: doctor.details,
      cause: error,
    })
  } catch {
    return error
  }
}
