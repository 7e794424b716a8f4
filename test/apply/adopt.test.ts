/**
 * Issue 11 item 5: virtlab never adopts a host link. A switch, tap or veth name that already
 * exists on the host and that this lab's journal does not own is refused before any step runs
 * (LINK_EXISTS naming it), and the link is never tagged, addressed or deleted.
 */
import {afterEach, describe, expect, it} from 'vitest'

import {planLab} from '../../src/app/plan.js'
import {applyPlan} from '../../src/apply/executor.js'
import {JournalStore} from '../../src/apply/journal.js'
import type {Driver} from '../../src/compile/artifacts.js'
import {ASSUMED_FACTS} from '../../src/host/facts.js'
import {RootedFs} from '../../src/host/fs.js'
import type {Plan} from '../../src/plan/step.js'
import {FakeHost} from '../helpers/fake-host.js'

const REPO = new URL('../..', import.meta.url).pathname.replace(/\/$/, '')
const hosts: FakeHost[] = []
afterEach(() => {
  for (const h of hosts.splice(0)) h.cleanup()
})

async function labPlan(lab: string, driver: Driver = 'libvirt'): Promise<Plan> {
  const planCtx = {operator: {fs: new RootedFs('/'), packageRoot: REPO}, target: {runBase: '/run/virtlab', stateDir: '/var/lib/virtlab'}}
  const {plan} = await planLab(lab, {
    facts: {...ASSUMED_FACTS, probed: true, vhostNet: true},
    compile: {driver, allowDegraded: false, hostHasVhostNet: true, autoAccel: 'tcg', autoOvs: 'private'},
  }, planCtx)
  return {...plan, steps: plan.steps.map((s) => (s.action.kind === 'wait' ? {...s, action: {...s.action, timeoutMs: 300, intervalMs: 20}} : s))}
}

function header(plan: Plan) {
  return {lab: plan.lab, file: `${REPO}/labs/${plan.lab}.yaml`, driver: plan.driver, netns: plan.netns, runDir: plan.runDir, params: {}, degraded: plan.degraded}
}

function hostWith(link: string, kind: 'bridge' | 'tap' | 'physical' = 'physical'): FakeHost {
  const host = new FakeHost({freshRunBase: true})
  hosts.push(host)
  host.links.push({name: link, ns: '', kind, master: undefined, up: true, addresses: ['192.0.2.1/24'], peer: undefined, index: 90})
  return host
}

function linkNamed(plan: Plan, pattern: RegExp): string {
  for (const s of plan.steps) {
    const argv = s.action.kind === 'exec' ? s.action.argv.join(' ') + ' ' + (s.action.input ?? '') : ''
    const m = pattern.exec(argv)
    if (m?.[1] !== undefined) return m[1]
  }
  throw new Error(`no link matching ${pattern}`)
}

describe('links that exist on the host are never adopted', () => {
  const cases: [string, string, (plan: Plan) => string][] = [
    ['a Linux bridge named like the lab\'s switch', 'virtio-qemu', () => 'vlbr-virtio'],
    ['a tap named like the lab\'s tap', 'virtio-qemu', (plan) => linkNamed(plan, /tuntap add dev (\S+)/)],
    ['a veth named like the lab\'s host end', 'vhost-net', (plan) => linkNamed(plan, /ip link add (\S+) type veth/)],
    ['the netdev bridge of OVS-DPDK', 'vhost-user', (plan) => linkNamed(plan, /add-br (\S+)/)],
  ]
  it.each(cases)('%s: up refuses before any step, the link untouched', async (_what, lab, name) => {
    const plan = await labPlan(lab)
    const link = name(plan)
    const host = hostWith(link)
    const before = host.snapshot()
    const ctx = host.context()
    const journal = await JournalStore.open(ctx.target.fs, ctx.target.stateDir, header(plan))
    const error = await applyPlan(plan, ctx, {journal, maxWorkers: 2}).then(() => undefined, (e: unknown) => e)
    expect(error).toMatchObject({code: 'LINK_EXISTS'})
    expect(String((error as Error).message)).toContain(link)
    expect((error as {hint?: string}).hint).toMatch(/rename|down/)
    expect(ctx.events.filter((e) => e.type === 'step-start')).toEqual([])
    expect(host.snapshot()).toEqual(before)
  })

  it('a link this lab created (journaled) is the lab\'s own: a second up passes', async () => {
    const plan = await labPlan('virtio-qemu')
    const host = new FakeHost({freshRunBase: true})
    hosts.push(host)
    const ctx = host.context()
    await applyPlan(plan, ctx, {journal: await JournalStore.open(ctx.target.fs, ctx.target.stateDir, header(plan)), maxWorkers: 2})
    const ctx2 = host.context()
    const second = await applyPlan(plan, ctx2, {journal: await JournalStore.open(ctx2.target.fs, ctx2.target.stateDir, header(plan))})
    expect(second.ran).toEqual([])
  })
})

describe('hugetlbfs is never mounted over a directory with content (issue 11 item 3)', () => {
  it('a non-empty mount point that is not hugetlbfs stops up before the mount; nothing is mounted', async () => {
    const plan = await labPlan('vhost-user')
    const mount = plan.steps.find((s) => s.id === 'mount:hugetlbfs')
    expect(mount).toBeDefined()
    const host = new FakeHost({freshRunBase: true, files: {'/dev/hugepages/precious': 'data'}})
    hosts.push(host)
    const ctx = host.context()
    const before = host.snapshot()
    const error = await applyPlan(plan, ctx, {journal: await JournalStore.open(ctx.target.fs, ctx.target.stateDir, header(plan)), maxWorkers: 2}).then(() => undefined, (e: unknown) => e)
    expect(error).toMatchObject({code: 'STEP_FAILED'})
    expect(String((error as Error).message)).toMatch(/\/dev\/hugepages is not empty/)
    expect(host.mounts).toEqual([])
    expect(host.snapshot()).toEqual(before)
  })

  it('an existing hugetlbfs mount with files in it is used as it is', async () => {
    const plan = await labPlan('vhost-user')
    const host = new FakeHost({freshRunBase: true, files: {'/dev/hugepages/rtemap_0': ''}})
    hosts.push(host)
    host.mounts.push({source: 'hugetlbfs', target: '/dev/hugepages', type: 'hugetlbfs', options: 'rw,pagesize=2M'})
    await host.context().target.fs.writeFile('/proc/mounts', 'hugetlbfs /dev/hugepages hugetlbfs rw,pagesize=2M 0 0\n')
    const ctx = host.context()
    await applyPlan(plan, ctx, {journal: await JournalStore.open(ctx.target.fs, ctx.target.stateDir, header(plan)), maxWorkers: 2})
    expect(host.mounts).toHaveLength(1)
  })
})

describe('virtlab\'s own state entries are never taken for labs (issue 11 item 6)', () => {
  it('down --all does not discover images, cache or kvm-probe, and down <reserved> is refused', async () => {
    const {discoverLabs} = await import('../../src/apply/leftovers.js')
    const {downLab} = await import('../../src/app/down.js')
    const host = new FakeHost({freshRunBase: true, dirs: ['/var/lib/virtlab/images/builtin', '/var/lib/virtlab/cache', '/var/lib/virtlab/kvm-probe']})
    hosts.push(host)
    const ctx = host.context()
    expect(await discoverLabs(ctx)).toEqual([])
    for (const name of ['images', 'cache', 'kvm-probe']) {
      await expect(downLab(ctx, {lab: name, force: true})).rejects.toMatchObject({code: 'USAGE', message: expect.stringContaining('reserved') as string})
    }
    expect(await ctx.target.fs.exists('/var/lib/virtlab/kvm-probe')).toBe(true)
    expect(await ctx.target.fs.exists('/var/lib/virtlab/images/builtin')).toBe(true)
  })
})
