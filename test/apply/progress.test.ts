import {describe, expect, it} from 'vitest'

import {applyPlan} from '../../src/apply/executor.js'
import {JournalStore} from '../../src/apply/journal.js'
import type {Plan, Step} from '../../src/plan/step.js'
import {chooseMode, createProgressView} from '../../src/ui/progress.js'
import {FakeHost} from '../helpers/fake-host.js'

function collect() {
  const chunks: string[] = []
  return {stream: {write: (t: string) => chunks.push(t)}, text: () => chunks.join(''), chunks}
}

const step = (id: string, title: string): Step => ({id, title, phase: 'host', dependsOn: [], action: {kind: 'exec', argv: ['true']}, undo: {kind: 'none'}})
const plan: Plan = {lab: 'vhost-net', driver: 'libvirt', netns: 'vl-vhost-net', runDir: '/run/virtlab/vhost-net', degraded: [], notes: [], steps: [
  step('module', 'Load vhost_net'), step('rundir', 'Create the run directory'), step('netns', 'Create namespace vl-vhost-net'),
]}
const clock = () => new Date('2026-11-22T10:00:00.123Z')

describe('progress views', () => {
  it('chooses json, a TTY tree or plain lines', () => {
    expect(chooseMode(true, true)).toBe('json')
    expect(chooseMode(false, true)).toBe('tty')
    expect(chooseMode(false, false)).toBe('plain')
    expect(chooseMode(false, undefined)).toBe('plain')
  })

  it('plain: timestamped lines numbered step n/total by the plan\'s order; commands only with -v', async () => {
    for (const verbose of [false, true]) {
      const out = collect()
      const view = createProgressView({command: 'up', mode: 'plain', verbose, stream: out.stream, clock})
      view.begin(plan)
      view.sink({type: 'step-skip', stepId: 'module', title: 'Load vhost_net', detail: 'already satisfied'})
      view.sink({type: 'step-start', stepId: 'netns', title: 'Create namespace vl-vhost-net'})
      view.sink({type: 'command', stepId: 'netns', title: 'ip netns add vl-vhost-net'})
      view.sink({type: 'step-done', stepId: 'netns', title: 'Create namespace vl-vhost-net'})
      view.sink({type: 'step-fail', stepId: 'rundir', title: 'Create the run directory', detail: 'EIO'})
      view.sink({type: 'undo-done', stepId: 'netns', title: 'Create namespace vl-vhost-net'})
      view.sink({type: 'warn', title: 'degraded: no vhost-net'})
      await view.end()
      const expected = [
        '2026-11-22T10:00:00Z [up] plan: 3 steps (vhost-net, driver libvirt)',
        '2026-11-22T10:00:00Z [up] step 1/3 skip Load vhost_net (already satisfied)',
        '2026-11-22T10:00:00Z [up] step 3/3 run  Create namespace vl-vhost-net',
        ...(verbose ? ['2026-11-22T10:00:00Z [up]   $ ip netns add vl-vhost-net'] : []),
        '2026-11-22T10:00:00Z [up] step 3/3 ok   Create namespace vl-vhost-net',
        '2026-11-22T10:00:00Z [up] step 2/3 FAIL Create the run directory (EIO)',
        '2026-11-22T10:00:00Z [up] undone Create namespace vl-vhost-net',
        '2026-11-22T10:00:00Z [up] WARNING degraded: no vhost-net',
      ]
      expect(out.text()).toBe(expected.join('\n') + '\n')
    }
  })

  it('json: one JSON object per event with time, command, index and total', async () => {
    const out = collect()
    const view = createProgressView({command: 'up', mode: 'json', verbose: false, stream: out.stream, clock})
    view.begin(plan)
    view.sink({type: 'step-done', stepId: 'rundir', title: 'Create the run directory'})
    view.sink({type: 'command', stepId: 'rundir', title: 'mkdir'})
    await view.end()
    const lines = out.text().trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toEqual([
      {time: '2026-11-22T10:00:00Z', command: 'up', type: 'info', title: 'plan: 3 steps', lab: 'vhost-net', driver: 'libvirt'},
      {time: '2026-11-22T10:00:00Z', command: 'up', type: 'step-done', stepId: 'rundir', title: 'Create the run directory', index: 2, total: 3},
    ])
  })

  it('tty: the listr2 tree shows every step with its outcome, drawn on the given stream, while the executor runs', async () => {
    const host = new FakeHost()
    try {
      const out = collect()
      const view = createProgressView({command: 'up', mode: 'tty', verbose: false, stream: out.stream as never})
      const base = host.context()
      const ctx = {...base, operator: {...base.operator, progress: view.sink}}
      ctx.runner.failOn((argv) => argv.join(' ') === 'ip netns add vl-vhost-net', 'boom', 2)
      const p: Plan = {...plan, steps: [
        {...step('module', 'Load vhost_net'), action: {kind: 'exec', argv: ['modprobe', 'vhost_net']}, undo: {kind: 'action', action: {kind: 'exec', argv: ['modprobe', '-r', 'vhost_net']}}},
        {...step('rundir', 'Create the run directory'), dependsOn: ['module']},
        {...step('netns', 'Create namespace vl-vhost-net'), dependsOn: ['rundir'], action: {kind: 'exec', argv: ['ip', 'netns', 'add', 'vl-vhost-net']}},
      ]}
      view.begin(p)
      const journal = await JournalStore.open(ctx.target.fs, ctx.target.stateDir, {lab: p.lab, file: 'x', driver: 'libvirt', netns: undefined, runDir: p.runDir, params: {}, degraded: []})
      await expect(applyPlan(p, ctx, {journal, maxWorkers: 1})).rejects.toThrow(/netns/)
      await view.end()
      const text = out.text()
      for (const title of ['Host', 'Load vhost_net', 'Create the run directory', 'Create namespace vl-vhost-net']) expect(text).toContain(title)
      // The executor's rollback (not listr2's) is shown after the tree.
      expect(text).toMatch(/undone Load vhost_net/)
      expect(host.modules.has('vhost_net')).toBe(false)
    } finally {
      host.cleanup()
    }
  })
})
