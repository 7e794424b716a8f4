/**
 * Running device steps against the simulated host with the real executor (src/apply/executor.ts)
 * and journal, and undoing them the way `down` does (journal entries, newest first).
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import {expect} from 'vitest'

import {applyPlan} from '../../src/apply/executor.js'
import {JournalStore, readJournal} from '../../src/apply/journal.js'
import {undoEntries} from '../../src/apply/rollback.js'
import {isVirtlabError, type VirtlabError} from '../../src/errors.js'
import {RootedFs} from '../../src/host/fs.js'
import {loadLab} from '../../src/lab/load.js'
import type {LabModel} from '../../src/lab/model.js'
import type {Plan, Step} from '../../src/plan/step.js'
import {SIM_BIN, type SimHost, treeDiff, treeSnapshot} from '../sim/host.js'

export const RUN_DIR = '/run/virtlab/lab'

export async function shippedLab(name: string, sets: Record<string, string> = {}): Promise<LabModel> {
  return loadLab(path.join(process.cwd(), 'labs', `${name}.yaml`), {fs: new RootedFs('/'), sets, packageRoot: process.cwd()})
}

export function planOf(model: LabModel, steps: Step[]): Plan {
  return {lab: model.name, driver: 'qemu', netns: undefined, runDir: RUN_DIR, degraded: [], notes: [], steps}
}

/** The run directory exists before device steps run (the compiler's host phase makes it). */
export function prepareRunDir(h: SimHost): void {
  fs.mkdirSync(path.join(h.root, RUN_DIR), {recursive: true, mode: 0o755})
}

/** Commands the simulated host answers (test/sim/bin); `false` is the injected fault. */
const SIMULATED = new Set(['ip', 'vdpa', 'devlink', 'modprobe', 'rmmod', 'ovs-vsctl', 'false'])

/** Never let a device test run a real host tool: every command of the plan (actions, checks, undo) must be simulated. */
function assertSimulatedOnly(plan: Plan): void {
  const argv0: string[] = []
  const fromCheck = (c: NonNullable<Step['check']>): void => {
    if (c.kind === 'exec-ok' || c.kind === 'exec-stdout') argv0.push(c.argv[0] ?? '')
    if (c.kind === 'not') fromCheck(c.check)
    if (c.kind === 'all' || c.kind === 'any') c.checks.forEach(fromCheck)
  }
  const fromAction = (a: Step['action']): void => {
    if (a.kind === 'exec') argv0.push(a.argv[0] ?? '')
    if (a.kind === 'wait') fromCheck(a.until)
  }
  for (const s of plan.steps) {
    fromAction(s.action)
    if (s.check) fromCheck(s.check)
    if (s.undo.kind === 'action') fromAction(s.undo.action)
    if (s.undo.kind === 'actions') s.undo.actions.forEach(fromAction)
  }
  for (const a of argv0) {
    if (!SIMULATED.has(a)) throw new Error(`the plan runs ${a}, which the simulated host does not provide`)
    if (a !== 'false' && !fs.existsSync(path.join(SIM_BIN, a))) throw new Error(`test/sim/bin/${a} is missing`)
  }
}

export async function up(h: SimHost, plan: Plan): Promise<{ran: string[]; skipped: string[]}> {
  assertSimulatedOnly(plan)
  const journal = await JournalStore.open(h.fs, h.ctx.target.stateDir, {lab: plan.lab, file: `labs/${plan.lab}.yaml`, driver: plan.driver, netns: plan.netns, runDir: plan.runDir, params: {}, degraded: []})
  return applyPlan(plan, h.ctx, {journal, maxWorkers: 1, stepTimeoutMs: 20_000})
}

/** `down` from the journal alone. */
export async function down(h: SimHost, lab: string): Promise<void> {
  const read = await readJournal(h.fs, h.ctx.target.stateDir, lab)
  if (read.state !== 'ok') throw new Error(`journal ${read.state}`)
  const store = JournalStore.fromJournal(h.fs, h.ctx.target.stateDir, read.journal)
  const outcome = await undoEntries(h.ctx, store, [...read.journal.entries].reverse())
  expect(outcome.failed.map((f) => `${f.stepId}: ${f.error.message} ${f.error.command?.stderrTail ?? ""} ${JSON.stringify(f.error.command?.argv ?? [])}`)).toEqual([])
}

/** up, then expect failure; returns the VirtlabError. */
export async function upFails(h: SimHost, plan: Plan): Promise<VirtlabError> {
  try {
    await up(h, plan)
  } catch (error) {
    if (isVirtlabError(error)) return error
    throw error
  }
  throw new Error('up succeeded, a failure was expected')
}

/** The innermost VirtlabError of a cause chain with one of these codes (the device module's own error). */
export function deviceError(error: unknown): VirtlabError | undefined {
  let e: unknown = error
  let found: VirtlabError | undefined
  while (e !== undefined) {
    if (isVirtlabError(e) && !['STEP_FAILED', 'ACTION_FAILED', 'ROLLBACK_INCOMPLETE', 'APPLY_INTERRUPTED'].includes(e.code)) found = e
    e = e instanceof Error ? e.cause : undefined
  }
  return found
}

export function expectSameTree(before: Map<string, string>, root: string): void {
  expect(treeDiff(before, treeSnapshot(root))).toEqual([])
}

/** The plan with step k made to fail (its check removed so it runs; its action replaced by `false`). */
export function withFaultAt(plan: Plan, k: number): Plan {
  const steps = plan.steps.map((s, i) => {
    if (i !== k) return s
    const {check: _check, ...rest} = s
    return {...rest, action: {kind: 'exec' as const, argv: ['false']}}
  })
  return {...plan, steps}
}
