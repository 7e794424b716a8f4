/**
 * planLab: load a lab, compile it, build its plan against host facts. The one code path behind
 * `virtlab up --dry-run`, `virtlab up` and `virtlab render`, so a preview never differs from what
 * apply runs.
 */
import type {Artifacts, CompileOptions} from '../compile/artifacts.js'
import {compileLab} from '../compile/index.js'
import {builtinImagePaths} from '../guest/image.js'
import {ASSUMED_FACTS, type HostFacts} from '../host/facts.js'
import {loadLab} from '../lab/load.js'
import type {LabModel} from '../lab/model.js'
import {buildPlan} from '../plan/build.js'
import type {Plan} from '../plan/step.js'
import type {Operator, TargetHost} from '../host/target.js'

export interface PlanLabOptions {
  /** --set parameters. */
  sets?: Record<string, string>
  /** Directories searched for lab names before the shipped labs. */
  dirs?: string[]
  /** Overrides of the compile options (driver, allowDegraded, what auto resolves to...). */
  compile?: Partial<CompileOptions>
  /** Host facts (probed by the caller); ASSUMED_FACTS when absent. */
  facts?: HostFacts
}

export interface PlanLabResult {
  model: LabModel
  artifacts: Artifacts
  plan: Plan
}

/** Labs are read through the operator's files; run and state directories are the target's. */
export interface PlanContext {
  operator: Pick<Operator, 'fs' | 'packageRoot'>
  target: Pick<TargetHost, 'runBase' | 'stateDir'>
}

/**
 * The compile options for a lab: libvirt, run directory <runBase>/<lab>, the built-in guest image
 * under <stateDir>/images/builtin, accel auto -> tcg, ovs auto -> private, vhost-net assumed
 * present (the faithful lab), no degraded paths allowed. Overrides win.
 */
export function compileOptionsFor(lab: string, ctx: {target: Pick<TargetHost, 'runBase' | 'stateDir'>}, overrides: Partial<CompileOptions> = {}): CompileOptions {
  const image = builtinImagePaths(ctx.target.stateDir)
  return {
    driver: 'libvirt',
    runDir: `${ctx.target.runBase.replace(/\/+$/, '')}/${lab}`,
    autoAccel: 'tcg',
    guest: {kernel: image.kernel, initrd: image.initrd},
    allowDegraded: false,
    hostHasVhostNet: undefined,
    autoOvs: 'private',
    ...overrides,
  }
}

/** Load + compile + buildPlan. Pure apart from reading the lab file through ctx.target.fs. */
export async function planLab(source: string, options: PlanLabOptions, ctx: PlanContext): Promise<PlanLabResult> {
  const model = await loadLab(source, {fs: ctx.operator.fs, sets: options.sets ?? {}, dirs: options.dirs ?? [], packageRoot: ctx.operator.packageRoot})
  return planModel(model, options, ctx)
}

/** Compile + buildPlan for a model already loaded. */
export function planModel(model: LabModel, options: Omit<PlanLabOptions, 'sets' | 'dirs'>, ctx: {target: Pick<TargetHost, 'runBase' | 'stateDir'>}): PlanLabResult {
  const artifacts = compileLab(model, compileOptionsFor(model.name, ctx, options.compile))
  const plan = buildPlan(artifacts, options.facts ?? ASSUMED_FACTS)
  return {model, artifacts, plan}
}
