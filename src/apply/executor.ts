/**
 * The plan executor. Runs a plan's steps in dependency order, independent steps in parallel
 * (bounded by maxWorkers); skips steps whose check already holds; journals every completed step
 * with its resolved undo; and on a failed step, an abort (SIGINT/SIGTERM) or a timeout stops
 * starting steps, lets the running ones settle, and undoes what THIS run created, newest first.
 *
 * listr2 is only a view of the ProgressEvents emitted here: the executor owns undo.
 */
import type {Context} from '../host/target.js'
import {VirtlabError, isVirtlabError} from '../errors.js'
import type {Action, Plan, Step} from '../plan/step.js'
import {resolveActionTokens, type TokenRegistry} from '../plan/tokens.js'
import {createTokenRegistry} from './tokens.js'
import {type ActionRuntime, evaluateCheck, runAction} from './actions.js'
import type {JournalEntry, JournalStore} from './journal.js'
import {finishUndo, prepareUndo, undoEntries} from './rollback.js'

export const DEFAULT_MAX_WORKERS = 4
export const DEFAULT_STEP_TIMEOUT_MS = 120_000

export interface ApplyOptions {
  /** How many steps may run at once (default 4). */
  maxWorkers?: number
  /** Abort the run (SIGINT/SIGTERM at the edge): running commands are killed, then rollback. */
  signal?: AbortSignal
  /** Per-step timeout unless the step sets its own (default 120 s). */
  stepTimeoutMs?: number
  journal: JournalStore
  /** Resolvers of late-bound tokens; default: createTokenRegistry() (plan and device resolvers). */
  tokens?: TokenRegistry
}

export interface ApplyResult {
  /** Steps whose action ran, in completion order. */
  ran: string[]
  /** Steps skipped: their check held, or the journal already had them. */
  skipped: string[]
}

export interface RollbackReport {
  failedStep: string | undefined
  interrupted: boolean
  rolledBack: string[]
  notUndone: string[]
}

type Outcome = {kind: 'ran'; entry: JournalEntry | undefined} | {kind: 'skipped'}

/** Check ids, dependencies and cycles; returns the steps keyed by id. */
export function validatePlan(plan: Plan): Map<string, Step> {
  const byId = new Map<string, Step>()
  for (const step of plan.steps) {
    if (byId.has(step.id)) throw new VirtlabError('PLAN_INVALID', `plan of ${plan.lab}: step id ${step.id} appears twice`)
    byId.set(step.id, step)
  }
  for (const step of plan.steps) {
    for (const dep of step.dependsOn) {
      if (!byId.has(dep)) throw new VirtlabError('PLAN_INVALID', `plan of ${plan.lab}: step ${step.id} depends on unknown step ${dep}`)
    }
  }
  const state = new Map<string, 'visiting' | 'done'>()
  const visit = (id: string, path: string[]): void => {
    const s = state.get(id)
    if (s === 'done') return
    if (s === 'visiting') throw new VirtlabError('PLAN_INVALID', `plan of ${plan.lab}: dependency cycle ${[...path, id].join(' -> ')}`)
    state.set(id, 'visiting')
    for (const dep of byId.get(id)?.dependsOn ?? []) visit(dep, [...path, id])
    state.set(id, 'done')
  }
  for (const step of plan.steps) visit(step.id, [])
  return byId
}

function stepTimeout(step: Step, defaultMs: number): number {
  if (step.timeoutMs !== undefined) return step.timeoutMs
  if (step.action.kind === 'wait') return Math.max(defaultMs, step.action.timeoutMs + 5000)
  return defaultMs
}

/**
 * Before anything runs: a step whose refusal holds (a host link named like one the lab creates)
 * and that this lab's journal does not own stops the plan, naming every such clash. virtlab never
 * adopts, tags, addresses or later deletes what it did not create.
 */
async function refuseWhatTheLabDidNotCreate(plan: Plan, journal: JournalStore, rt: ActionRuntime): Promise<void> {
  const refused: {step: Step; code: string; message: string; hint: string}[] = []
  for (const step of plan.steps) {
    if (step.refuseIf === undefined || journal.get(step.id) !== undefined) continue
    if (await evaluateCheck({...rt, stepId: step.id}, step.refuseIf.check)) refused.push({step, ...step.refuseIf})
  }
  const first = refused[0]
  if (first === undefined) return
  const message = refused.length === 1
    ? `${plan.lab}: ${first.message}`
    : `${plan.lab}: ${refused.length} names the lab would create already exist:\n${refused.map((r) => `  - ${r.message}`).join('\n')}`
  throw new VirtlabError(first.code, message, {hint: first.hint, details: {refused: refused.map((r) => ({step: r.step.id, message: r.message}))}})
}

export async function applyPlan(plan: Plan, ctx: Context, options: ApplyOptions): Promise<ApplyResult> {
  validatePlan(plan)
  const maxWorkers = Math.max(1, options.maxWorkers ?? DEFAULT_MAX_WORKERS)
  const defaultTimeout = options.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS
  const runSignal = options.signal ?? new AbortController().signal
  const journal = options.journal
  const tokens = options.tokens ?? createTokenRegistry()
  const hadEntries = journal.entries().length > 0

  await refuseWhatTheLabDidNotCreate(plan, journal, {ctx, signal: runSignal, timeoutMs: defaultTimeout, tokens})

  const pending = [...plan.steps]
  const finished = new Set<string>()
  const running = new Map<string, Promise<void>>()
  const ran: string[] = []
  const skipped: string[] = []
  /** Entries this run added to the journal, in completion order: the rollback set. */
  const created: JournalEntry[] = []
  let failure: {step: Step; error: VirtlabError} | undefined

  const executeStep = async (step: Step): Promise<Outcome> => {
    const timeoutMs = stepTimeout(step, defaultTimeout)
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(new Error(`timed out after ${Math.round(timeoutMs / 1000)} s`)), timeoutMs)
    const signal = AbortSignal.any([runSignal, controller.signal])
    const rt: ActionRuntime = {ctx, signal, timeoutMs, stepId: step.id, tokens}
    try {
      const owned = journal.get(step.id)
      if (step.check === undefined ? owned !== undefined : await evaluateCheck(rt, step.check)) {
        ctx.operator.progress({type: 'step-skip', stepId: step.id, title: step.title, detail: owned ? 'already done (journaled)' : 'already satisfied (left alone, never undone)'})
        return {kind: 'skipped'}
      }
      ctx.operator.progress({type: 'step-start', stepId: step.id, title: step.title})
      const action: Action = await resolveActionTokens(step.action, ctx.target, tokens)
      // A step the journal already owns keeps its entry: its recorded previous values are the pristine ones.
      const undo = owned ? undefined : await prepareUndo(rt, step, action)
      await runAction(rt, action)
      let entry: JournalEntry | undefined
      if (undo !== undefined) {
        entry = {stepId: step.id, title: step.title, phase: step.phase, undo: await finishUndo(rt, undo)}
        try {
          await journal.append(entry)
        } catch (error) {
          // The step took effect but could not be journaled: fail, and still undo it in the rollback.
          throw Object.assign(new VirtlabError('JOURNAL_WRITE_FAILED', `could not write the journal: ${error instanceof Error ? error.message : String(error)}`, {cause: error}), {entry})
        }
      }
      ctx.operator.progress({type: 'step-done', stepId: step.id, title: step.title})
      return {kind: 'ran', entry}
    } catch (error) {
      throw stepError(step, error, runSignal, controller.signal)
    } finally {
      clearTimeout(timer)
    }
  }

  await new Promise<void>((resolve) => {
    const pump = (): void => {
      const stopping = failure !== undefined || runSignal.aborted
      if (!stopping) {
        for (let i = 0; i < pending.length && running.size < maxWorkers;) {
          const step = pending[i] as Step
          if (!step.dependsOn.every((d) => finished.has(d))) {
            i++
            continue
          }
          pending.splice(i, 1)
          const task = executeStep(step).then(
            (outcome) => {
              finished.add(step.id)
              if (outcome.kind === 'skipped') skipped.push(step.id)
              else {
                ran.push(step.id)
                if (outcome.entry) created.push(outcome.entry)
              }
            },
            (error: unknown) => {
              const err = error as VirtlabError
              const unjournaled = ((err.cause ?? undefined) as {entry?: JournalEntry} | undefined)?.entry
              if (unjournaled) created.push(unjournaled)
              ctx.operator.progress({type: 'step-fail', stepId: step.id, title: step.title, detail: err.message})
              if (failure === undefined) failure = {step, error: err}
            },
          ).finally(() => {
            running.delete(step.id)
            pump()
          })
          running.set(step.id, task)
        }
      }
      if (running.size === 0) resolve()
    }
    runSignal.addEventListener('abort', pump, {once: true})
    pump()
  })

  if (failure === undefined && !runSignal.aborted) return {ran, skipped}

  // Roll back what this run created, newest first.
  const interrupted = runSignal.aborted && (failure === undefined || failure.error.code === 'STEP_INTERRUPTED')
  const toUndo = [...created].reverse()
  if (toUndo.length > 0) ctx.operator.progress({type: 'info', title: `rolling back ${toUndo.length} step(s)`})
  const outcome = await undoEntries(ctx, journal, toUndo, defaultTimeout, tokens)
  if (!hadEntries && journal.entries().length === 0) await journal.delete()

  const report: RollbackReport = {
    failedStep: failure?.step.id,
    interrupted,
    rolledBack: outcome.undone,
    notUndone: outcome.failed.map((f) => f.stepId),
  }
  const rolledBackText = outcome.undone.length === 0 ? 'nothing to roll back' : `rolled back: ${outcome.undone.join(', ')}`
  const original = interrupted
    ? new VirtlabError('APPLY_INTERRUPTED', `${plan.lab}: interrupted${failure ? ` during ${failure.step.id} (${failure.step.title})` : ''}; ${rolledBackText}`, {
      cause: failure?.error,
      exitCode: 130,
      details: report,
    })
    : new VirtlabError('STEP_FAILED', `${plan.lab}: ${(failure as {error: VirtlabError}).error.message}; ${rolledBackText}`, {
      command: failure?.error.command,
      hint: failure?.error.hint,
      cause: failure?.error.cause,
      details: report,
    })
  if (outcome.failed.length === 0) throw original
  throw new VirtlabError('ROLLBACK_INCOMPLETE',
    `${plan.lab}: rollback incomplete, not undone: ${outcome.failed.map((f) => `${f.stepId} (${f.error.message})`).join('; ')}. Original error: ${original.message}`,
    {
      cause: original,
      command: outcome.failed[0]?.error.command,
      hint: `The journal keeps the steps not undone: run \`virtlab down ${plan.lab}\` (or \`down ${plan.lab} --force\`) to finish cleaning up.`,
      details: {...report, undoErrors: outcome.failed.map((f) => ({stepId: f.stepId, message: f.error.message, command: f.error.command}))},
    })
}

function stepError(step: Step, error: unknown, runSignal: AbortSignal, stepSignal: AbortSignal): VirtlabError {
  const inner = isVirtlabError(error) ? error : undefined
  const message = error instanceof Error ? error.message : String(error)
  const name = `step ${step.id} (${step.title})`
  if (runSignal.aborted) {
    return new VirtlabError('STEP_INTERRUPTED', `${name} interrupted`, {command: inner?.command, cause: error})
  }
  if (stepSignal.aborted) {
    const reason = stepSignal.reason instanceof Error ? stepSignal.reason.message : 'timed out'
    return new VirtlabError('STEP_FAILED', `${name} ${reason}`, {command: inner?.command, cause: error})
  }
  return new VirtlabError('STEP_FAILED', `${name} failed: ${message}`, {command: inner?.command, hint: inner?.hint, cause: error})
}
