import {afterEach, describe, expect, it} from 'vitest'

import type {Context} from '../../src/app/context.js'
import {applyPlan} from '../../src/apply/executor.js'
import {labTag} from '../../src/compile/ids.js'
import {JournalStore, readJournal} from '../../src/apply/journal.js'
import {VirtlabError} from '../../src/errors.js'
import type {HostFs} from '../../src/host/fs.js'
import type {Plan, Step} from '../../src/plan/step.js'
import {withFs} from '../helpers/context.js'
import {FakeHost} from '../helpers/fake-host.js'
import {FakeRunner} from '../helpers/fake-runner.js'
import {demoPlan} from './demo-plan.js'

const hosts: FakeHost[] = []
function newHost(): FakeHost {
  const host = new FakeHost({systemOvs: true})
  hosts.push(host)
  return host
}
afterEach(() => {
  for (const h of hosts.splice(0)) h.cleanup()
})

function header(plan: Plan) {
  return {lab: plan.lab, file: `labs/${plan.lab}.yaml`, driver: plan.driver, netns: plan.netns, runDir: plan.runDir, params: {}, degraded: plan.degraded}
}

/** A HostFs whose writes/mkdirs of one path fail with EIO (to fail a non-exec step). */
function failingFs(fs: HostFs, badPath: string): HostFs {
  const fail = (p: string) => {
    if (p === badPath) throw Object.assign(new Error(`EIO: i/o error, write '${p}'`), {code: 'EIO'})
  }
  return new Proxy(fs, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown
      if (prop === 'writeFile' || prop === 'mkdir') {
        return async (p: string, ...rest: unknown[]) => {
          fail(p)
          return (value as (...a: unknown[]) => Promise<void>).call(target, p, ...rest)
        }
      }
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

/** Make `step` fail: its command exits 1 with a message, or its file write fails with EIO. */
function injectFailure(ctx: Context & {runner: FakeRunner}, step: Step): Context {
  const action = step.action
  if (action.kind === 'exec') {
    const target = action.argv.join(' ')
    ctx.runner.failOn((argv) => argv.join(' ') === target, `boom: ${step.id}`, 3, 1)
    return ctx
  }
  if (action.kind === 'write' || action.kind === 'mkdir' || action.kind === 'file') return withFs(ctx, failingFs(ctx.target.fs, action.path))
  if (action.kind === 'wait') {
    const target = (action.until as {argv: string[]}).argv.join(' ')
    ctx.runner.failOn((argv) => argv.join(' ') === target, 'not yet', 1)
    return ctx
  }
  throw new Error(`cannot inject a failure into ${action.kind}`)
}

describe('applyPlan', () => {
  it('runs every step, journals it with its resolved undo, and a second run executes no action', async () => {
    const host = newHost()
    const ctx = host.context()
    const plan = demoPlan()
    const journal = await JournalStore.open(ctx.target.fs, ctx.target.stateDir, header(plan))
    const first = await applyPlan(plan, ctx, {journal, maxWorkers: 3})
    expect(first.ran.sort()).toEqual(plan.steps.map((s) => s.id).sort())
    expect(host.netns.has('vl-demo')).toBe(true)
    expect(host.domains.get('vl-demo-vm1')?.pid).toBeDefined()
    expect(host.readHostFile('/proc/sys/vm/nr_hugepages')).toBe('64')

    const read = await readJournal(ctx.target.fs, ctx.target.stateDir, 'demo')
    expect(read.state).toBe('ok')
    if (read.state !== 'ok') return
    expect(read.journal.entries.map((e) => e.stepId).sort()).toEqual(plan.steps.map((s) => s.id).sort())
    // restore-file recorded the previous value; restore-exec recorded "absent".
    expect(read.journal.entries.find((e) => e.stepId === 'host:hugepages')?.undo).toEqual([{kind: 'write', path: '/proc/sys/vm/nr_hugepages', value: '0'}])
    expect(read.journal.entries.find((e) => e.stepId === 'ovs:config')?.undo).toEqual([{kind: 'exec', argv: ['ovs-vsctl', 'remove', 'Open_vSwitch', '.', 'other_config', 'pmd-cpu-mask']}])
    // The XML file did not exist: its restore is a removal.
    expect(read.journal.entries.find((e) => e.stepId === 'vm:vm1:xml')?.undo).toEqual([{kind: 'remove', path: '/run/virtlab/demo/vm1.xml'}])

    const before = host.snapshot()
    const runner2 = host.runner()
    const ctx2 = host.context(runner2)
    const journal2 = await JournalStore.open(ctx2.target.fs, ctx2.target.stateDir, header(plan))
    const second = await applyPlan(plan, ctx2, {journal: journal2})
    expect(second.ran).toEqual([])
    expect(second.skipped.sort()).toEqual(plan.steps.map((s) => s.id).sort())
    expect(ctx2.events.filter((e) => e.type === 'step-start')).toEqual([])
    expect(host.snapshot()).toEqual(before)
    // Only read-only commands ran (checks).
    const mutating = runner2.calls.filter((c) => /\b(add|del|set|start|define|create|destroy|undefine|add-br|add-port)\b/.test(c.join(' ')) && !c.includes('domstate') && !c.includes('get'))
    expect(mutating).toEqual([])
  })

  it('records restore-exec previous values and restores them', async () => {
    const host = newHost()
    const ctx = host.context()
    await host.runner().run(['ovs-vsctl', 'set', 'Open_vSwitch', '.', 'other_config:pmd-cpu-mask=0x4'])
    const plan = demoPlan()
    const before = host.snapshot()
    const journal = await JournalStore.open(ctx.target.fs, ctx.target.stateDir, header(plan))
    await applyPlan(plan, ctx, {journal})
    expect(journal.get('ovs:config')?.undo).toEqual([{kind: 'exec', argv: ['ovs-vsctl', 'set', 'Open_vSwitch', '.', 'other_config:pmd-cpu-mask=0x4']}])
    expect((await host.runner().run(['ovs-vsctl', 'get', 'Open_vSwitch', '.', 'other_config:pmd-cpu-mask'])).stdout.trim()).toBe('0x2')
    // Undo it all through the journal (what `down` does).
    const {undoEntries} = await import('../../src/apply/rollback.js')
    const outcome = await undoEntries(ctx, journal, journal.entries().reverse())
    expect(outcome.failed).toEqual([])
    expect(host.snapshot()).toEqual(before)
  })

  const plan = demoPlan()
  for (const [index, step] of plan.steps.entries()) {
    it(`fails at step ${index + 1} (${step.id}): undoes exactly the completed steps in reverse and restores the host`, async () => {
      const host = newHost()
      const base = host.context()
      const ctx = injectFailure(base, step)
      const before = host.snapshot()
      const journal = await JournalStore.open(ctx.target.fs, ctx.target.stateDir, header(plan))
      const error = await applyPlan(plan, ctx, {journal, maxWorkers: 1}).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(VirtlabError)
      const err = error as VirtlabError
      expect(err.code).toBe('STEP_FAILED')
      expect(err.message).toContain(step.id)
      if (step.action.kind === 'exec') {
        expect(err.command?.argv).toEqual(step.action.argv)
        expect(err.command?.exitCode).toBe(3)
        expect(err.command?.stderrTail).toContain(`boom: ${step.id}`)
      }
      const done = base.events.filter((e) => e.type === 'step-done').map((e) => e.stepId)
      // maxWorkers 1 + a topologically ordered plan: exactly the steps before the failing one completed.
      expect(done).toEqual(plan.steps.slice(0, index).map((s) => s.id))
      const undone = base.events.filter((e) => e.type === 'undo-done').map((e) => e.stepId)
      expect(undone).toEqual([...done].reverse())
      expect((err.details as {rolledBack: string[]}).rolledBack).toEqual([...done].reverse())
      expect(host.snapshot()).toEqual(before)
      // Nothing left to undo: the journal is gone.
      expect((await readJournal(ctx.target.fs, ctx.target.stateDir, plan.lab)).state).toBe('absent')
    })
  }

  it('the exact reverse undo commands run after a failure', async () => {
    const host = newHost()
    const ctx = host.context()
    ctx.runner.failOn(/virsh .* start /, 'error: Failed to start domain', 1)
    const journal = await JournalStore.open(ctx.target.fs, ctx.target.stateDir, header(plan))
    await expect(applyPlan(plan, ctx, {journal, maxWorkers: 1})).rejects.toThrow(/vm:vm1:start/)
    const failedAt = ctx.runner.calls.findIndex((c) => c.includes('start') && c[0] === 'virsh')
    const tag = labTag('demo')
    const after = ctx.runner.calls.slice(failedAt + 1).filter((c) => c[0] !== 'pgrep')
    expect(after).toEqual([
      ['virsh', '-c', 'qemu:///system', 'undefine', 'vl-demo-vm1'],
      ['ovs-vsctl', '--db=unix:/run/virtlab/demo/ovs/db.sock', '--if-exists', 'del-br', 'br0'],
      ['pkill', '-TERM', '-F', '/run/virtlab/demo/ovs/ovsdb-server.pid'],
      ['ovs-vsctl', 'remove', 'Open_vSwitch', '.', 'other_config', 'pmd-cpu-mask'],
      ['ovs-vsctl', '--if-exists', 'del-port', `vl${tag}ovs`, `vl${tag}u0n0`],
      ['ovs-vsctl', '--if-exists', 'del-br', `vl${tag}ovs`],
      ['ip', '-n', 'vl-demo', 'link', 'set', `vl${tag}t0n0`, 'nomaster'],
      ['ip', '-n', 'vl-demo', 'tuntap', 'del', 'dev', `vl${tag}t0n0`, 'mode', 'tap'],
      ['ip', 'link', 'del', `vl${tag}h0`],
      ['ip', '-n', 'vl-demo', 'link', 'del', 'vlbr0'],
      ['ip', 'netns', 'del', 'vl-demo'],
      ['modprobe', '-r', 'tun'],
    ])
  })

  it('an abort (SIGINT) during apply kills the running command and rolls back', async () => {
    const host = newHost()
    const controller = new AbortController()
    const runner = host.runner().hangOn(/virsh .* start /, () => controller.abort(new Error('SIGINT')))
    const ctx = host.context(runner)
    const before = host.snapshot()
    const journal = await JournalStore.open(ctx.target.fs, ctx.target.stateDir, header(plan))
    const error = (await applyPlan(plan, ctx, {journal, maxWorkers: 2, signal: controller.signal}).catch((e: unknown) => e)) as VirtlabError
    expect(error.code).toBe('APPLY_INTERRUPTED')
    expect(error.exitCode).toBe(130)
    expect(error.message).toContain('vm:vm1:start')
    // No step started after the abort.
    const abortAt = ctx.events.findIndex((e) => e.type === 'step-fail')
    expect(ctx.events.slice(abortAt).filter((e) => e.type === 'step-start')).toEqual([])
    expect(host.snapshot()).toEqual(before)
  })

  it('a step that hangs past its timeout fails the run and rolls back', async () => {
    const host = newHost()
    const runner = host.runner().hangOn(/ovsdb-server/)
    const ctx = host.context(runner)
    const before = host.snapshot()
    const journal = await JournalStore.open(ctx.target.fs, ctx.target.stateDir, header(plan))
    const error = (await applyPlan(plan, ctx, {journal, maxWorkers: 4, stepTimeoutMs: 200}).catch((e: unknown) => e)) as VirtlabError
    expect(error.code).toBe('STEP_FAILED')
    expect(error.message).toMatch(/ovs:private:server .*timed out/)
    expect(host.snapshot()).toEqual(before)
  })

  it('a failure during rollback is reported with the original error and the journal keeps what was not undone', async () => {
    const host = newHost()
    const ctx = host.context()
    ctx.runner.failOn(/virsh .* start /, 'error: Failed to start domain', 1)
    ctx.runner.failOn(/^ip netns del/, 'Cannot remove namespace file: Device or resource busy', 1, 1)
    const journal = await JournalStore.open(ctx.target.fs, ctx.target.stateDir, header(plan))
    const error = (await applyPlan(plan, ctx, {journal, maxWorkers: 1}).catch((e: unknown) => e)) as VirtlabError
    expect(error.code).toBe('ROLLBACK_INCOMPLETE')
    expect(error.message).toContain('host:netns')
    expect(error.message).toContain('vm:vm1:start')
    const cause = error.cause as VirtlabError
    expect(cause.code).toBe('STEP_FAILED')
    expect(cause.message).toContain('vm:vm1:start')
    expect(error.command?.argv).toEqual(['ip', 'netns', 'del', 'vl-demo'])
    const read = await readJournal(ctx.target.fs, ctx.target.stateDir, 'demo')
    expect(read.state === 'ok' && read.journal.entries.map((e) => e.stepId)).toEqual(['host:netns'])
    expect(host.netns.has('vl-demo')).toBe(true)
    // Steps undone before and after the failing undo were still undone.
    expect(host.domains.size).toBe(0)
    expect(host.modules.has('tun')).toBe(false)
  })

  it('leaves alone what was already there (check satisfied, not ours) and never undoes it', async () => {
    const host = newHost()
    await host.runner().run(['ip', 'netns', 'add', 'vl-demo'])
    await host.runner().run(['modprobe', 'tun'])
    const ctx = host.context()
    ctx.runner.failOn(/virsh .* start /, 'error', 1)
    const before = host.snapshot()
    const journal = await JournalStore.open(ctx.target.fs, ctx.target.stateDir, header(plan))
    await expect(applyPlan(plan, ctx, {journal, maxWorkers: 1})).rejects.toThrow(VirtlabError)
    expect(ctx.events.filter((e) => e.type === 'step-skip').map((e) => e.stepId)).toEqual(['host:modules', 'host:netns'])
    expect(ctx.runner.callsMatching(/netns del|modprobe -r/)).toEqual([])
    expect(host.snapshot()).toEqual(before)
  })

  it('a journaled step that no longer holds is re-run and keeps its original entry', async () => {
    const host = newHost()
    const ctx = host.context()
    const journal = await JournalStore.open(ctx.target.fs, ctx.target.stateDir, header(plan))
    await applyPlan(plan, ctx, {journal})
    const original = journal.get('host:hugepages')
    // Someone resets hugepages and kills the VM.
    host.writeHostFile('/proc/sys/vm/nr_hugepages', '0\n')
    await host.runner().run(['virsh', 'destroy', 'vl-demo-vm1'])
    const ctx2 = host.context()
    const journal2 = await JournalStore.open(ctx2.target.fs, ctx2.target.stateDir, header(plan))
    const result = await applyPlan(plan, ctx2, {journal: journal2})
    expect(result.ran.sort()).toEqual(['host:hugepages', 'vm:vm1:start'])
    expect(journal2.get('host:hugepages')).toEqual(original)
    expect(host.domains.get('vl-demo-vm1')?.pid).toBeDefined()
  })

  it('honours maxWorkers and dependsOn', async () => {
    let active = 0
    let peak = 0
    const finished: string[] = []
    const started: Record<string, string[]> = {}
    const runner = new FakeRunner(async (argv) => {
      const id = argv[1] ?? ''
      started[id] = [...finished]
      active++
      peak = Math.max(peak, active)
      await new Promise((r) => setTimeout(r, 15))
      active--
      finished.push(id)
      return {argv, exitCode: 0, stdout: '', stderr: ''}
    })
    const host = newHost()
    const ctx = host.context(runner)
    const step = (id: string, dependsOn: string[] = []): Step => ({id, title: id, phase: 'host', dependsOn, action: {kind: 'exec', argv: ['work', id]}, undo: {kind: 'none'}})
    const wide: Plan = {lab: 'wide', driver: 'qemu', netns: undefined, runDir: '/run/virtlab/wide', degraded: [], notes: [], steps: [
      ...Array.from({length: 8}, (_, i) => step(`a${i}`)),
      step('join', ['a0', 'a7']),
      step('last', ['join', 'a3']),
    ]}
    const journal = await JournalStore.open(ctx.target.fs, ctx.target.stateDir, header(wide))
    await applyPlan(wide, ctx, {journal, maxWorkers: 3})
    expect(peak).toBe(3)
    expect(started.join).toEqual(expect.arrayContaining(['a0', 'a7']))
    expect(started.last).toEqual(expect.arrayContaining(['join', 'a3']))
    expect(finished).toHaveLength(10)

    peak = 0
    finished.length = 0
    const journal2 = await JournalStore.open(ctx.target.fs, ctx.target.stateDir, {...header(wide), lab: 'wide2'})
    await applyPlan({...wide, lab: 'wide2'}, ctx, {journal: journal2, maxWorkers: 1})
    expect(peak).toBe(1)
  })

  it('a step whose journal write fails is still undone by the rollback', async () => {
    const host = newHost()
    const base = host.context()
    let journalWrites = 0
    const fs = new Proxy(base.target.fs, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown
        if (prop === 'writeFile') {
          return async (p: string, ...rest: unknown[]) => {
            if (p.endsWith('/journal.json') && ++journalWrites === 5) throw Object.assign(new Error('ENOSPC: no space left on device'), {code: 'ENOSPC'})
            return (value as (...a: unknown[]) => Promise<void>).call(target, p, ...rest)
          }
        }
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    const ctx = withFs(base, fs)
    const before = host.snapshot()
    const journal = await JournalStore.open(ctx.target.fs, ctx.target.stateDir, header(plan))
    const error = (await applyPlan(plan, ctx, {journal, maxWorkers: 1}).catch((e: unknown) => e)) as VirtlabError
    expect(error.code).toBe('STEP_FAILED')
    expect(error.message).toMatch(/host:rundir .*could not write the journal: ENOSPC/)
    expect(base.events.filter((e) => e.type === 'undo-done').map((e) => e.stepId)).toEqual(['host:rundir', 'host:netns', 'host:hugepages', 'host:modules'])
    expect(host.snapshot()).toEqual(before)
  })

  it('rejects an invalid plan before running anything', async () => {
    const host = newHost()
    const ctx = host.context()
    const bad: Plan = {...plan, steps: [{...(plan.steps[0] as Step), dependsOn: ['nope']}]}
    const journal = await JournalStore.open(ctx.target.fs, ctx.target.stateDir, header(plan))
    await expect(applyPlan(bad, ctx, {journal})).rejects.toMatchObject({code: 'PLAN_INVALID'})
    const cyclic: Plan = {...plan, steps: [
      {...(plan.steps[0] as Step), id: 'x', dependsOn: ['y']},
      {...(plan.steps[1] as Step), id: 'y', dependsOn: ['x']},
    ]}
    await expect(applyPlan(cyclic, ctx, {journal})).rejects.toThrow(/cycle/)
    expect(ctx.runner.calls).toEqual([])
  })
})
