/**
 * `virtlab doctor [lab] [--fix]`: load the lab (if one is named), run the host checks, and with
 * --fix plan then apply the automatic fixes (packages, daemons) and check again.
 */
import {applyFix, planFix, runDoctor, summarize, type CheckResult, type FixPlan, type FixStepResult} from '../doctor/index.js'
import type {HostFacts} from '../host/facts.js'
import {loadLab} from '../lab/load.js'
import type {Context} from './context.js'

export interface DoctorOptions {
  /** A lab name or file; undefined: check everything. */
  lab?: string | undefined
  sets?: Record<string, string>
  dirs?: string[]
  fix?: boolean
  allowDegraded?: boolean
  driver?: 'libvirt' | 'qemu' | undefined
  reprobeKvm?: boolean
  /** Called with the fix plan before anything is changed (the command prints it). */
  onFixPlan?: (plan: FixPlan) => void
}

export interface DoctorResult {
  lab: string | undefined
  host: {os: string; kernel: string | undefined; qemu: string | undefined}
  ok: boolean
  summary: {pass: number; warn: number; fail: number}
  checks: CheckResult[]
  facts: HostFacts
  fix?: {
    plan: FixPlan
    results: FixStepResult[]
    /** The checks run again after fixing. */
    checksAfter: CheckResult[]
    summaryAfter: {pass: number; warn: number; fail: number}
  }
}

export async function doctor(ctx: Context, options: DoctorOptions = {}): Promise<DoctorResult> {
  const model = options.lab === undefined
    ? undefined
    : await loadLab(options.lab, {fs: ctx.operator.fs, packageRoot: ctx.operator.packageRoot, sets: options.sets ?? {}, dirs: options.dirs ?? []})
  const checkOptions = {allowDegraded: options.allowDegraded ?? false, driver: options.driver, reprobeKvm: options.reprobeKvm ?? false}
  const first = await runDoctor(model, ctx, checkOptions)
  const summary = summarize(first.checks)
  const result: DoctorResult = {
    lab: model?.name,
    host: {os: first.os.prettyName ?? first.os.id, kernel: first.facts.kernelRelease, qemu: first.facts.qemuVersion},
    ok: summary.fail === 0,
    summary,
    checks: first.checks,
    facts: first.facts,
  }
  if (!options.fix) return result

  const plan = planFix(first.checks, first.os)
  options.onFixPlan?.(plan)
  const results = await applyFix(ctx, plan, first.os)
  // Check again (the KVM probe result is cached by now).
  const after = plan.commands.length === 0 ? first : await runDoctor(model, ctx, {...checkOptions, reprobeKvm: false})
  const summaryAfter = summarize(after.checks)
  result.fix = {plan, results, checksAfter: after.checks, summaryAfter}
  result.ok = summaryAfter.fail === 0
  result.facts = after.facts
  return result
}
