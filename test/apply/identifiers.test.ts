/**
 * Identifiers across labs: `down --force` of one lab never removes another lab's links (exact
 * tag or recorded name, never a prefix), and `up` refuses a lab whose MACs or link names collide
 * with a lab that is already up (read from that lab's journal).
 */
import {afterEach, describe, expect, it} from 'vitest'

import type {Context} from '../../src/app/context.js'
import {downLab} from '../../src/app/down.js'
import {upLab, type UpDeps, type UpResult} from '../../src/app/up.js'
import {journalPath} from '../../src/apply/journal.js'
import {labTag, tapName, vhostUserPortName} from '../../src/compile/ids.js'
import {ASSUMED_FACTS} from '../../src/host/facts.js'
import type {LabModel} from '../../src/lab/model.js'
import {FakeHost} from '../helpers/fake-host.js'
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

function deps(macs: Record<string, string> = {}): UpDeps {
  return {
    gatherFacts: async () => ({...ASSUMED_FACTS, probed: true}),
    planLab: async (source, options) => {
      const plan = demoPlan(source, {driver: options.compile?.driver ?? 'libvirt'})
      const model = {
        name: source, file: `/labs/${source}.yaml`, params: {}, switches: [],
        vms: [{name: 'vm1', nics: [{index: 0, backend: 'virtio-qemu', mac: macs[source] ?? `52:54:00:00:00:${source === 'demo' ? '01' : '02'}`}]}],
      } as unknown as LabModel
      return {model, artifacts: {} as never, plan}
    },
    runChecks: async () => [],
  }
}
const up = (ctx: Context, lab: string, d: UpDeps = deps()) => upLab(ctx, {lab, maxWorkers: 2}, d) as Promise<UpResult>

function addLink(host: FakeHost, name: string): void {
  host.links.push({name, ns: '', kind: 'tap', master: undefined, up: true, addresses: [], peer: undefined, index: 900 + host.links.length} as never)
}

describe('identifiers across labs', () => {
  it('down --force xkjg leaves the links of lab vhost-net (they shared a 4-hex tag) and a link whose tag only starts like xkjg\'s', async () => {
    const host = newHost()
    const ctx = host.context()
    const mine = tapName('xkjg', 0, 0)
    const theirs = [tapName('vhost-net', 0, 0), vhostUserPortName('vhost-net', 1, 0), `vl${labTag('xkjg').slice(0, 4)}${'zzzz'}t0n0`, `${mine}x`]
    for (const name of [mine, ...theirs]) addLink(host, name)
    const result = await downLab(ctx, {lab: 'xkjg', force: true})
    expect(result.labs[0]?.removed).toContain(`link ${mine}`)
    const left = host.links.map((l) => l.name)
    expect(left).not.toContain(mine)
    for (const name of theirs) expect(left, name).toContain(name)
  })

  it('up refuses a lab whose MAC is used by a lab already up, naming it; a journal whose identifiers are not its lab\'s is corrupt', async () => {
    const host = newHost()
    const ctx = host.context()
    const same = {demo: '52:54:00:aa:bb:cc', other: '52:54:00:aa:bb:cc'}
    await up(ctx, 'other', deps(same))
    await expect(up(ctx, 'demo', deps(same))).rejects.toMatchObject({code: 'LAB_ID_COLLISION', message: expect.stringMatching(/lab other.*MAC 52:54:00:aa:bb:cc/)})
    // Different MACs: both up, then both down clean.
    await up(ctx, 'demo')
    const journal = JSON.parse(host.readHostFile(journalPath(ctx.target.stateDir, 'demo')) ?? '{}') as {identifiers?: {tag: string; links: string[]; macs: string[]}}
    expect(journal.identifiers).toEqual({tag: labTag('demo'), links: [tapName('demo', 0, 0)], macs: ['52:54:00:00:00:01']})
    host.writeHostFile(journalPath(ctx.target.stateDir, 'demo'), JSON.stringify({...journal, identifiers: {...journal.identifiers, links: ['eth0']}}))
    await expect(downLab(ctx, {lab: 'demo'})).rejects.toMatchObject({code: 'JOURNAL_CORRUPT', details: {problem: 'JOURNAL_IDENTIFIERS'}})
    expect(host.links.map((l) => l.name)).toContain('eth0')
  })
})

describe('down after a SIGKILL between a step and its journal entry', () => {
  it('removes what is tagged with the lab but missing from the journal (a started domain), and nothing else', async () => {
    const host = newHost()
    const ctx = host.context()
    const before = host.snapshot()
    await up(ctx, 'demo')
    // The journal as a virtlab killed right after `virsh start` (before journaling it) left it.
    const file = journalPath(ctx.target.stateDir, 'demo')
    const j = JSON.parse(host.readHostFile(file) ?? '{}') as {entries: {stepId: string}[]}
    const kept = j.entries.filter((e) => e.stepId !== 'vm:vm1:define' && e.stepId !== 'vm:vm1:start')
    expect(kept.length).toBe(j.entries.length - 2)
    host.writeHostFile(file, JSON.stringify({...j, entries: kept}))
    const result = await downLab(ctx, {lab: 'demo'})
    expect(result.labs[0]?.notes.join(' ')).toMatch(/not in the journal, removed by tag: .*vl-demo-vm1/)
    expect(host.snapshot()).toEqual(before)
  })
})
