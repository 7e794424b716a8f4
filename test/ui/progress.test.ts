/**
 * The progress views' rendering: step numbers from the plan (never "step 28/27", nothing outside
 * the plan numbered), and the listr2 tree keeping a skipped or failed step's title with the reason
 * or the error under it.
 */
import {stripVTControlCharacters} from 'node:util'

import {describe, expect, it} from 'vitest'

import type {Plan, Step} from '../../src/plan/step.js'
import {createProgressView} from '../../src/ui/progress.js'

const step = (id: string, title: string, phase: Step['phase'] = 'host'): Step => ({id, title, phase, dependsOn: [], action: {kind: 'exec', argv: ['true']}, undo: {kind: 'none'}})
const plan: Plan = {lab: 'l', driver: 'qemu', netns: undefined, runDir: '/run/virtlab/l', degraded: [], notes: [], steps: [
  step('module', 'Load vhost_net'), step('bridge', 'Create bridge vlbr0', 'switch'), step('vm1', 'Start VM vm1', 'vm'), step('wait', 'Wait for vm1', 'guest'),
]}
const clock = () => new Date('2026-12-01T10:00:00Z')

function collect() {
  const chunks: string[] = []
  return {stream: {write: (t: string) => chunks.push(t)}, chunks}
}

/** The image cache reports itself as a step before the plan exists (src/guest/image.ts). */
function feed(view: ReturnType<typeof createProgressView>): void {
  view.sink({type: 'step-skip', stepId: 'image', title: 'Built-in guest image is cached', detail: '/var/lib/virtlab/images/abc'})
  view.begin(plan)
  view.sink({type: 'step-skip', stepId: 'module', title: 'Load vhost_net', detail: 'already satisfied'})
  view.sink({type: 'step-start', stepId: 'bridge', title: 'Create bridge vlbr0'})
  view.sink({type: 'step-done', stepId: 'bridge', title: 'Create bridge vlbr0'})
  view.sink({type: 'step-start', stepId: 'vm1', title: 'Start VM vm1'})
  view.sink({type: 'step-fail', stepId: 'vm1', title: 'Start VM vm1', detail: 'qemu-system-x86_64 exited 1: could not open /dev/vhost-net'})
  view.sink({type: 'undo-done', stepId: 'bridge', title: 'Create bridge vlbr0'})
}

describe('plain lines', () => {
  it('number steps by their place in the plan; work outside the plan gets no number', async () => {
    const out = collect()
    const view = createProgressView({command: 'up', mode: 'plain', verbose: false, stream: out.stream, clock})
    feed(view)
    await view.end()
    const lines = out.chunks.join('').trimEnd().split('\n').map((l) => l.replace(/^\S+ \[up\] /, ''))
    expect(lines).toEqual([
      'skip Built-in guest image is cached (/var/lib/virtlab/images/abc)',
      'plan: 4 steps (l, driver qemu)',
      'step 1/4 skip Load vhost_net (already satisfied)',
      'step 2/4 run  Create bridge vlbr0',
      'step 2/4 ok   Create bridge vlbr0',
      'step 3/4 run  Start VM vm1',
      'step 3/4 FAIL Start VM vm1 (qemu-system-x86_64 exited 1: could not open /dev/vhost-net)',
      'undone Create bridge vlbr0',
    ])
    for (const line of lines) {
      const m = /^step (\d+)\/(\d+) /.exec(line)
      if (m) expect(Number(m[1])).toBeLessThanOrEqual(Number(m[2]))
    }
  })

  it('json: index/total only for plan steps', async () => {
    const out = collect()
    const view = createProgressView({command: 'up', mode: 'json', verbose: false, stream: out.stream, clock})
    feed(view)
    await view.end()
    const events = out.chunks.join('').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(events[0]).toMatchObject({type: 'step-skip', stepId: 'image'})
    expect(events[0]).not.toHaveProperty('index')
    expect(events.filter((e) => e.stepId === 'vm1').map((e) => [e.type, e.index, e.total])).toEqual([['step-start', 3, 4], ['step-fail', 3, 4]])
  })
})

describe('tty tree (listr2)', () => {
  it('keeps the title of a skipped or failed step and shows the reason or the error under it', async () => {
    const out = collect()
    const view = createProgressView({command: 'up', mode: 'tty', verbose: false, stream: out.stream as never})
    feed(view)
    await view.end()
    const text = out.chunks.join('')
    // The line before the tree; the last full frame of the tree; the lines after it.
    expect(out.chunks[0]).toBe('skip Built-in guest image is cached (/var/lib/virtlab/images/abc)\n')
    const frames = out.chunks.map((c) => stripVTControlCharacters(c)).filter((c) => c.startsWith('✔ Host') || c.startsWith('↓ Host'))
    const last = frames.at(-1)?.trimEnd().split('\n')
    expect(last).toEqual([
      '✔ Host',
      '  ↓ Load vhost_net',
      '    ↓ already satisfied',
      '✔ Switches',
      '  ✔ Create bridge vlbr0',
      '⚠ VMs',
      '  ✖ Start VM vm1',
      '    › qemu-system-x86_64 exited 1: could not open /dev/vhost-net',
      '✔ Guests',
      '  ↓ Wait for vm1',
      '    ↓ not run',
    ])
    expect(stripVTControlCharacters(text).trimEnd().split('\n').at(-1)).toBe('undone Create bridge vlbr0')
  })
})
