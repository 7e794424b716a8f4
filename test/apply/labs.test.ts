/**
 * The shipped labs' real plans (planLab: load -> compile -> buildPlan) applied to the FakeHost:
 * a full up + down leaves the host as it was, and a failure injected at EVERY step rolls back to
 * the exact starting state.
 */
import {afterEach, describe, expect, it} from 'vitest'

import type {Context} from '../../src/app/context.js'
import {planLab} from '../../src/app/plan.js'
import {applyPlan} from '../../src/apply/executor.js'
import {JournalStore, readJournal} from '../../src/apply/journal.js'
import {undoEntries} from '../../src/apply/rollback.js'
import type {Driver} from '../../src/compile/artifacts.js'
import {VirtlabError} from '../../src/errors.js'
import {ASSUMED_FACTS} from '../../src/host/facts.js'
import {RootedFs, type HostFs} from '../../src/host/fs.js'
import type {Plan, Step} from '../../src/plan/step.js'
import {withFs} from '../helpers/context.js'
import {FakeHost} from '../helpers/fake-host.js'
import type {FakeRunner} from '../helpers/fake-runner.js'

const REPO = new URL('../..', import.meta.url).pathname.replace(/\/$/, '')

/** Labs the FakeHost models completely (sriov and vdpa need a simulated PCI/vDPA sysfs: not yet). */
const LABS = ['virtio-qemu', 'vhost-net', 'vhost-user']
const DRIVERS: Driver[] = ['libvirt', 'qemu']

const hosts: FakeHost[] = []
afterEach(() => {
  for (const h of hosts.splice(0)) h.cleanup()
})

async function labPlan(lab: string, driver: Driver): Promise<Plan> {
  const planCtx = {operator: {fs: new RootedFs('/'), packageRoot: REPO}, target: {runBase: '/run/virtlab', stateDir: '/var/lib/virtlab'}}
  const {plan} = await planLab(lab, {
    facts: {...ASSUMED_FACTS, probed: true, vhostNet: true},
    compile: {driver, allowDegraded: false, hostHasVhostNet: true, autoAccel: 'tcg', autoOvs: 'private'},
  }, planCtx)
  // Waits poll real time: shorten them so an injected failure of a wait does not take minutes.
  return {...plan, steps: plan.steps.map((s) => (s.action.kind === 'wait' ? {...s, action: {...s.action, timeoutMs: 300, intervalMs: 20}} : s))}
}

function header(plan: Plan) {
  return {lab: plan.lab, file: `${REPO}/labs/${plan.lab}.yaml`, driver: plan.driver, netns: plan.netns, runDir: plan.runDir, params: {}, degraded: plan.degraded}
}

function failingFs(fs: HostFs, badPath: string): HostFs {
  return new Proxy(fs, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown
      if (prop === 'writeFile' || prop === 'mkdir') {
        return async (p: string, ...rest: unknown[]) => {
          if (p === badPath) throw Object.assign(new Error(`EIO: i/o error, write '${p}'`), {code: 'EIO'})
          return (value as (...a: unknown[]) => Promise<void>).call(target, p, ...rest)
        }
      }
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

/** A step whose action waits for the opposite of its check: it records that something is absent. */
function recordsAbsence(step: Step): boolean {
  // Skipped when present (check), or refused when present (refuseIf: a link named like the lab's bridge).
  const present = step.check ?? step.refuseIf?.check
  return step.action.kind === 'wait' && step.action.until.kind === 'not' && present !== undefined && JSON.stringify(step.action.until.check) === JSON.stringify(present)
}

function filePaths(check: Step['check']): string[] {
  if (check === undefined) return []
  if (check.kind === 'file-exists') return [check.path]
  if (check.kind === 'any' || check.kind === 'all') return check.checks.flatMap(filePaths)
  if (check.kind === 'not') return filePaths(check.check)
  return []
}

function injectFailure(host: FakeHost, ctx: Context & {runner: FakeRunner}, step: Step): Context {
  const a = step.action
  if (a.kind === 'exec') {
    const target = a.argv.join(' ')
    ctx.runner.failOn((argv) => argv.join(' ') === target, `boom: ${step.id}`, 3, 1)
    // A module the fake host shows as built in (its device node exists) is skipped: hide the evidence so the step runs.
    const hidden = step.id.startsWith('module:') ? filePaths(step.check) : []
    if (hidden.length === 0) return ctx
    return withFs(ctx, new Proxy(ctx.target.fs, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown
        if (prop === 'exists') return async (p: string) => (hidden.includes(p) ? false : (value as (p: string) => Promise<boolean>).call(target, p))
        return typeof value === 'function' ? value.bind(target) : value
      },
    }))
  }
  if (a.kind === 'write' || a.kind === 'mkdir' || a.kind === 'file') return withFs(ctx, failingFs(ctx.target.fs, a.path))
  if (a.kind === 'wait') {
    const u = a.until
    if (u.kind === 'file-exists') {
      return withFs(ctx, new Proxy(ctx.target.fs, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver) as unknown
          if (prop === 'exists') return async (p: string) => (p === u.path ? false : (value as (p: string) => Promise<boolean>).call(target, p))
          return typeof value === 'function' ? value.bind(target) : value
        },
      }))
    }
    const empty = u.kind === 'any' ? u.checks.find((c) => c.kind === 'dir-empty') : undefined
    if (empty !== undefined && empty.kind === 'dir-empty') {
      // The mount point holds something (and is no hugetlbfs mount) when the guard looks (its until
      // and its failIf: two reads): it must stop before the mount. Later reads (the rollback) see the real directory.
      let planted = 2
      return withFs(ctx, new Proxy(ctx.target.fs, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver) as unknown
          if (prop === 'readdir') return async (p: string) => (p === empty.path && planted-- > 0 ? ['planted'] : (value as (p: string) => Promise<string[]>).call(target, p))
          if (prop === 'stat') {
            return async (p: string) => {
              const real = await (value as (p: string) => Promise<unknown>).call(target, p)
              return p === empty.path && planted > 0 ? {...(real as object ?? {}), isDirectory: true, isSymlink: false, isFile: false} : real
            }
          }
          return typeof value === 'function' ? value.bind(target) : value
        },
      }))
    }
    if (u.kind === 'exec-ok' || u.kind === 'exec-stdout') {
      const target = u.argv.join(' ')
      ctx.runner.failOn((argv) => argv.join(' ') === target, 'not yet', 1)
      return ctx
    }
  }
  throw new Error(`cannot inject a failure into step ${step.id} (${a.kind})`)
}

for (const lab of LABS) {
  for (const driver of DRIVERS) {
    describe(`${lab} (${driver})`, async () => {
      const plan = await labPlan(lab, driver)

      it('comes up on the fake host, a second up changes nothing, and down restores the host', async () => {
        const host = new FakeHost({freshRunBase: true})
        hosts.push(host)
        const ctx = host.context()
        const before = host.snapshot()
        const journal = await JournalStore.open(ctx.target.fs, ctx.target.stateDir, header(plan))
        const first = await applyPlan(plan, ctx, {journal, maxWorkers: 4})
        expect(first.ran.length).toBeGreaterThan(0)
        const vms = plan.steps.filter((s) => /^vm:[^:]+:start$/.test(s.id)).length
        expect(host.processes.size).toBeGreaterThanOrEqual(vms)

        const up = host.snapshot()
        const ctx2 = host.context()
        const second = await applyPlan(plan, ctx2, {journal: await JournalStore.open(ctx2.target.fs, ctx2.target.stateDir, header(plan))})
        expect(second.ran).toEqual([])
        expect(host.snapshot()).toEqual(up)

        const read = await readJournal(ctx.target.fs, ctx.target.stateDir, plan.lab)
        if (read.state !== 'ok') throw new Error('journal missing')
        const store = JournalStore.fromJournal(ctx.target.fs, ctx.target.stateDir, read.journal)
        const outcome = await undoEntries(ctx, store, store.entries().reverse())
        expect(outcome.failed).toEqual([])
        expect(host.snapshot()).toEqual(before)
      })

      for (const [index, step] of plan.steps.entries()) {
        if (recordsAbsence(step)) {
          it(`step ${index + 1}/${plan.steps.length} (${step.id}) only notes that something is absent: it is skipped (or refused) when present, cannot fail otherwise, and its undo is idempotent`, () => {
            expect(step.action.kind === 'wait' && step.action.until.kind === 'not' && JSON.stringify(step.action.until.check)).toBe(JSON.stringify(step.check ?? step.refuseIf?.check))
            expect(step.undo.kind).toBe('action')
            const undo = step.undo.kind === 'action' ? step.undo.action : undefined
            expect(undo?.kind === 'remove' || (undo?.kind === 'exec' && (undo.okExitCodes ?? []).includes(1))).toBe(true)
          })
          continue
        }
        it(`fails at step ${index + 1}/${plan.steps.length} (${step.id}) and rolls back to the exact starting state`, async () => {
          const host = new FakeHost({freshRunBase: true})
          hosts.push(host)
          const base = host.context()
          const ctx = injectFailure(host, base, step)
          const before = host.snapshot()
          const journal = await JournalStore.open(ctx.target.fs, ctx.target.stateDir, header(plan))
          const error = await applyPlan(plan, ctx, {journal, maxWorkers: 1}).catch((e: unknown) => e)
          expect(error).toBeInstanceOf(VirtlabError)
          expect((error as VirtlabError).code, (error as VirtlabError).message).toBe('STEP_FAILED')
          expect((error as VirtlabError).message).toContain(step.id)
          const done = base.events.filter((e) => e.type === 'step-done').map((e) => e.stepId)
          const undone = base.events.filter((e) => e.type === 'undo-done').map((e) => e.stepId)
          expect(undone).toEqual([...done].reverse())
          expect(host.snapshot()).toEqual(before)
        })
      }
    })
  }
}
