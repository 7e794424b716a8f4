/**
 * The use cases up / down / status over the FakeHost, with a synthetic plan (demoPlan) standing in
 * for planLab and scripted doctor checks.
 */
import {readFileSync} from 'node:fs'

import {afterEach, describe, expect, it} from 'vitest'

import type {Context} from '../../src/app/context.js'
import {downLab} from '../../src/app/down.js'
import {statusLabs} from '../../src/app/status.js'
import {defaultUpDeps, upLab, type UpDeps, type UpDryRunResult, type UpResult} from '../../src/app/up.js'
import {journalPath, readJournal} from '../../src/apply/journal.js'
import {acquireLock, lockPath} from '../../src/apply/lock.js'
import {labTag} from '../../src/compile/ids.js'
import type {CheckResult} from '../../src/doctor/index.js'
import {VirtlabError} from '../../src/errors.js'
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

function deps(checks: CheckResult[] = [], seen: {driver?: string} = {}): UpDeps {
  return {
    gatherFacts: async () => ({...ASSUMED_FACTS, probed: true}),
    planLab: async (source, options) => {
      const driver = options.compile?.driver ?? 'libvirt'
      seen.driver = driver
      const plan = demoPlan(source, {driver})
      const model = {name: source, file: `/labs/${source}.yaml`, params: {subnet: '10.99.9'}} as unknown as LabModel
      return {model, artifacts: {} as never, plan}
    },
    runChecks: async () => checks,
  }
}

const up = (ctx: Context, lab: string, extra: Partial<Parameters<typeof upLab>[1]> = {}, d: UpDeps = deps()) =>
  upLab(ctx, {lab, maxWorkers: 2, ...extra}, d) as Promise<UpResult>

describe('up', () => {
  it('applies the plan, records the journal header, and a second up executes no action', async () => {
    const host = newHost()
    const ctx = host.context()
    const first = await up(ctx, 'demo')
    expect(first.dryRun).toBe(false)
    expect(first.stepsRun).toHaveLength(demoPlan().steps.length)
    expect(first.runDir).toBe('/run/virtlab/demo')
    const read = await readJournal(ctx.target.fs, ctx.target.stateDir, 'demo')
    if (read.state !== 'ok') throw new Error('no journal')
    expect(read.journal).toMatchObject({lab: 'demo', file: '/labs/demo.yaml', driver: 'libvirt', netns: 'vl-demo', runDir: '/run/virtlab/demo', params: {subnet: '10.99.9'}})
    // State dir and lab dir are private; the lock is released.
    expect(((await ctx.target.fs.stat('/var/lib/virtlab/demo'))?.mode ?? 0) & 0o777).toBe(0o700)
    expect(await ctx.target.fs.exists(lockPath(ctx.target.stateDir, 'demo'))).toBe(false)

    const snap = host.snapshot()
    const ctx2 = host.context()
    const second = await up(ctx2, 'demo')
    expect(second.stepsRun).toEqual([])
    expect(second.stepsSkipped).toHaveLength(demoPlan().steps.length)
    expect(ctx2.events.filter((e) => e.type === 'step-start')).toEqual([])
    expect(host.snapshot()).toEqual(snap)
  })

  it('--dry-run returns the plan (with undo) through the same planLab and changes nothing', async () => {
    const host = newHost()
    const ctx = host.context()
    const before = host.snapshot()
    const result = (await upLab(ctx, {lab: 'demo', dryRun: true}, deps())) as UpDryRunResult
    expect(result.dryRun).toBe(true)
    expect(result.plan.steps.map((s) => s.id)).toEqual(demoPlan().steps.map((s) => s.id))
    expect(result.text).toContain('host:netns')
    expect(result.text).toMatch(/undo/i)
    expect(ctx.runner.calls).toEqual([])
    expect(host.snapshot()).toEqual(before)
  })

  it('--dry-run of the shipped vhost-net lab on a host without /dev/vhost-net shows the lab as written, with a note that up refuses it', async () => {
    const host = newHost()
    const ctx = host.context()
    // The fake host's filesystem is a temp root: put the shipped lab where the loader looks for it.
    await ctx.target.fs.mkdir(`${ctx.operator.packageRoot}/labs`)
    await ctx.target.fs.writeFile(`${ctx.operator.packageRoot}/labs/vhost-net.yaml`, readFileSync(new URL('../../labs/vhost-net.yaml', import.meta.url), 'utf8'))
    const noVhostNet: UpDeps = {...defaultUpDeps, gatherFacts: async () => ({...ASSUMED_FACTS, probed: true, vhostNet: false})}
    const result = (await upLab(ctx, {lab: 'vhost-net', dryRun: true, driver: 'qemu'}, noVhostNet)) as UpDryRunResult
    expect(result.degraded).toEqual([])
    expect(result.notes.join('\n')).toMatch(/`up` refuses this plan here/)
    expect(result.text).toMatch(/vhost=on/)
    expect(ctx.runner.calls).toEqual([])
    // With --allow-degraded the plan is the userspace backend, labelled.
    const degraded = (await upLab(ctx, {lab: 'vhost-net', dryRun: true, driver: 'qemu', allowDegraded: true}, noVhostNet)) as UpDryRunResult
    expect(degraded.degraded).toEqual(['degraded: no vhost-net (userspace virtio backend over tap)'])
    expect(degraded.text).toMatch(/vhost=off/)
  })

  it('refuses to start when a doctor check fails, listing each failure with its fix; --skip-checks warns and goes on', async () => {
    const host = newHost()
    const checks: CheckResult[] = [
      {id: 'root', title: 'root', status: 'pass', detail: 'uid 0'},
      {id: 'vhost-net', title: '/dev/vhost-net', status: 'fail', detail: 'absent', fix: 'modprobe vhost_net, or up --allow-degraded'},
      {id: 'kvm', title: 'KVM', status: 'fail', detail: 'slower than TCG', fix: 'use accel: tcg'},
      {id: 'iperf3', title: 'iperf3', status: 'warn', detail: 'not installed', fix: 'apt-get install iperf3'},
    ]
    const ctx = host.context()
    const error = (await up(ctx, 'demo', {}, deps(checks)).catch((e: unknown) => e)) as VirtlabError
    expect(error.code).toBe('PRECHECK_FAILED')
    expect(error.message).toContain('/dev/vhost-net: absent')
    expect(error.message).toContain('fix: modprobe vhost_net, or up --allow-degraded')
    expect(error.message).toContain('KVM: slower than TCG')
    expect(error.message).not.toContain('iperf3')
    expect(ctx.runner.calls).toEqual([])

    const ctx2 = host.context()
    const result = await up(ctx2, 'demo', {skipChecks: true}, deps(checks))
    expect(result.stepsRun.length).toBeGreaterThan(0)
    expect(result.warnings[0]).toMatch(/--skip-checks/)
    expect(ctx2.events.some((e) => e.type === 'warn' && /skip-checks/.test(e.title))).toBe(true)
  })

  it('doctor warnings are passed on and do not stop up', async () => {
    const host = newHost()
    const ctx = host.context()
    const result = await up(ctx, 'demo', {}, deps([{id: 'iperf3', title: 'iperf3', status: 'warn', detail: 'missing', fix: 'install it'}]))
    expect(result.warnings).toEqual(['iperf3: missing (fix: install it)'])
  })

  it('picks libvirt when it is reachable, else qemu, and a lab already up keeps its driver', async () => {
    const host = newHost()
    const seen: {driver?: string} = {}
    const noLibvirt: UpDeps = {...deps([], seen), gatherFacts: async () => ({...ASSUMED_FACTS, libvirt: {installed: true, reachable: false}})}
    await up(host.context(), 'demo', {}, noLibvirt)
    expect(seen.driver).toBe('qemu')
    // Now libvirt is reachable, but the lab is up with qemu: reconcile keeps qemu.
    const seen2: {driver?: string} = {}
    const r = await up(host.context(), 'demo', {}, deps([], seen2))
    expect(r.driver).toBe('qemu')
    await expect(up(host.context(), 'demo', {driver: 'libvirt'})).rejects.toMatchObject({code: 'LAB_ALREADY_UP'})
  })

  it('a second concurrent up of the same lab is refused (LAB_LOCKED) while a different lab proceeds', async () => {
    const host = newHost()
    let release: () => void = () => {}
    const hanging = new Promise<void>((resolve) => {
      release = resolve
    })
    const runner = host.runner()
    let started: () => void = () => {}
    const reached = new Promise<void>((r) => {
      started = r
    })
    runner.hangOn((argv) => argv.includes('start') && argv.includes('vl-demo-vm1'), () => started())
    const controller = new AbortController()
    const first = up(host.context(runner), 'demo', {signal: controller.signal}).catch((e: unknown) => e)
    await reached
    const second = (await up(host.context(), 'demo').catch((e: unknown) => e)) as VirtlabError
    expect(second.code).toBe('LAB_LOCKED')
    expect(second.message).toContain(String(process.pid))
    const other = await up(host.context(), 'other')
    expect(other.stepsRun.length).toBeGreaterThan(0)
    expect(host.netns.has('vl-other')).toBe(true)
    controller.abort(new Error('test over'))
    release()
    await hanging
    const err = (await first) as VirtlabError
    expect(err.code).toBe('APPLY_INTERRUPTED')
    // demo rolled back, other untouched.
    expect(host.netns.has('vl-demo')).toBe(false)
    expect(host.netns.has('vl-other')).toBe(true)
  })

  it('takes over a stale lock (holder pid gone) but not a live one', async () => {
    const host = newHost()
    const ctx = host.context()
    host.writeHostFile(lockPath(ctx.target.stateDir, 'demo'), '999999\n')
    const r = await up(ctx, 'demo')
    expect(r.stepsRun.length).toBeGreaterThan(0)
    // A live holder: a process that exists in /proc.
    const proc = host.spawn(['/usr/bin/virtlab', 'up', 'demo'])
    host.writeHostFile(lockPath(ctx.target.stateDir, 'demo'), `${proc.pid}\n`)
    await expect(acquireLock(ctx.target.fs, ctx.target.stateDir, 'demo')).rejects.toMatchObject({code: 'LAB_LOCKED', details: {pid: proc.pid}})
    await expect(downLab(ctx, {lab: 'demo'})).rejects.toMatchObject({code: 'LAB_LOCKED'})
  })

  it('SIGINT during up rolls back and the signal handlers are removed afterwards', async () => {
    const host = newHost()
    const runner = host.runner()
    const before = host.snapshot()
    const listeners = process.listenerCount('SIGINT')
    runner.hangOn((argv) => argv.includes('start') && argv.includes('vl-demo-vm1'), () => {
      setImmediate(() => process.emit('SIGINT', 'SIGINT'))
    })
    const ctx = host.context(runner)
    const error = (await up(ctx, 'demo').catch((e: unknown) => e)) as VirtlabError
    expect(error.code).toBe('APPLY_INTERRUPTED')
    expect(error.message).toMatch(/rolled back: /)
    expect(host.snapshot()).toEqual(before)
    expect(process.listenerCount('SIGINT')).toBe(listeners)
    expect((await readJournal(ctx.target.fs, ctx.target.stateDir, 'demo')).state).toBe('absent')
  })
})

describe('down', () => {
  it('undoes the journal in reverse, removes the journal, the run directory and the lab state dir', async () => {
    const host = newHost()
    const before = host.snapshot()
    await up(host.context(), 'demo')
    const ctx = host.context()
    const result = await downLab(ctx, {lab: 'demo'})
    const lab = result.labs[0]
    expect(lab?.journal).toBe('ok')
    expect(lab?.undone).toHaveLength(demoPlan().steps.length)
    expect(lab?.undone[0]).toBe('guest:vm2:ready')
    expect(host.snapshot()).toEqual(before)
    expect(await ctx.target.fs.exists('/var/lib/virtlab/demo')).toBe(false)
    // down again: nothing to do, no error.
    const again = await downLab(host.context(), {lab: 'demo'})
    expect(again.labs[0]?.journal).toBe('absent')
  })

  it('after a rollback that could not finish, down finishes the job from the journal', async () => {
    const host = newHost()
    const before = host.snapshot()
    const ctx = host.context()
    ctx.runner.failOn(/virsh .* start /, 'error: Failed to start domain', 1)
    ctx.runner.failOn(/^ip netns del/, 'Device or resource busy', 1, 1)
    const err = (await up(ctx, 'demo', {maxWorkers: 1}).catch((e: unknown) => e)) as VirtlabError
    expect(err.code).toBe('ROLLBACK_INCOMPLETE')
    expect((err.cause as VirtlabError).code).toBe('STEP_FAILED')
    const down = await downLab(host.context(), {lab: 'demo'})
    expect(down.labs[0]?.undone).toEqual(['host:netns'])
    expect(host.snapshot()).toEqual(before)
  })

  it('a failing undo keeps the entry in the journal and reports DOWN_INCOMPLETE', async () => {
    const host = newHost()
    await up(host.context(), 'demo')
    const ctx = host.context()
    ctx.runner.failOn(/^modprobe -r tun/, 'modprobe: FATAL: Module tun is in use.', 1)
    const err = (await downLab(ctx, {lab: 'demo'}).catch((e: unknown) => e)) as VirtlabError
    expect(err.code).toBe('DOWN_INCOMPLETE')
    expect(err.message).toContain('host:modules')
    const read = await readJournal(ctx.target.fs, ctx.target.stateDir, 'demo')
    expect(read.state === 'ok' && read.journal.entries.map((e) => e.stepId)).toEqual(['host:modules'])
  })

  for (const damage of ['corrupt', 'deleted'] as const) {
    it(`with a ${damage} journal, down --force still removes every tagged thing`, async () => {
      const host = newHost()
      await up(host.context(), 'demo')
      // Bridges named by the lab (not vl<tag>...) are found by their ifalias; another lab's are left alone.
      await host.runner().run(['ip', 'link', 'add', 'name', 'vlbr-demo', 'type', 'bridge'])
      await host.runner().run(['ip', 'link', 'set', 'dev', 'vlbr-demo', 'alias', 'virtlab-lab=demo'])
      await host.runner().run(['ip', 'link', 'add', 'name', 'vlbr-else', 'type', 'bridge'])
      await host.runner().run(['ip', 'link', 'set', 'dev', 'vlbr-else', 'alias', 'virtlab-lab=demo2'])
      const ctx = host.context()
      const journal = journalPath(ctx.target.stateDir, 'demo')
      if (damage === 'corrupt') host.writeHostFile(journal, '{"version": 1, "lab": "demo", "entr')
      else await ctx.target.fs.remove(journal)
      // Without --force: refused with a hint.
      await expect(downLab(ctx, {lab: 'demo'})).rejects.toMatchObject({code: damage === 'corrupt' ? 'JOURNAL_CORRUPT' : 'NO_JOURNAL'})

      const status = await statusLabs(host.context(), {lab: 'demo'})
      expect(status.labs[0]?.journal).toBe(damage === 'corrupt' ? 'corrupt' : 'absent')
      expect(status.labs[0]?.leftovers.length).toBeGreaterThan(0)

      const result = await downLab(host.context(), {lab: 'demo', force: true})
      const removed = result.labs[0]?.removed ?? []
      const tag = labTag('demo')
      expect(removed).toEqual(expect.arrayContaining([
        'libvirt domain vl-demo-vm1',
        expect.stringMatching(/^QEMU process \d+ \(vl-demo-vm2\)$/),
        `OVS port vl${tag}u0n0`,
        `OVS bridge vl${tag}ovs`,
        'private OVS daemon (/run/virtlab/demo/ovs/ovsdb-server.pid)',
        `link vl${tag}h0`,
        'link vlbr-demo',
        'netns vl-demo',
        'run directory /run/virtlab/demo',
      ]))
      expect(host.domains.size).toBe(0)
      expect(host.processes.size).toBe(0)
      expect(host.netns.size).toBe(0)
      expect(host.links.filter((l) => l.name.startsWith(`vl${tag}`) || l.name === 'vlbr-demo')).toEqual([])
      expect(host.links.some((l) => l.name === 'vlbr-else')).toBe(true)
      expect(host.ovsDbs.get('system')?.bridges.size).toBe(0)
      expect(host.readHostFile('/run/virtlab/demo/vm1.xml')).toBeUndefined()
      expect(await ctx.target.fs.exists('/var/lib/virtlab/demo')).toBe(false)
      // Nothing tagged is left for status to report.
      expect((await statusLabs(host.context())).labs).toEqual([])
    })
  }

  it('down --all tears down every lab it finds', async () => {
    const host = newHost()
    const before = host.snapshot()
    await up(host.context(), 'demo')
    await up(host.context(), 'other')
    // Lose one journal.
    await host.context().target.fs.remove(journalPath('/var/lib/virtlab', 'other'))
    const result = await downLab(host.context(), {all: true})
    expect(result.labs.map((l) => l.lab)).toEqual(['demo', 'other'])
    expect(host.netns.size).toBe(0)
    expect(host.domains.size).toBe(0)
    expect(host.processes.size).toBe(0)
    // demo came down from its journal: its host changes (hugepages, modules, OVS config) were restored too.
    // other had no journal: the tagged sweep cannot know them, so compare only tagged state.
    const after = host.snapshot() as {netns: unknown; domains: unknown; processes: unknown}
    const b = before as typeof after
    expect([after.netns, after.domains, after.processes]).toEqual([b.netns, b.domains, b.processes])
  })
})

describe('status', () => {
  it('lists a lab that is up with its VMs (pid, accel), switches and ports', async () => {
    const host = newHost()
    await up(host.context(), 'demo')
    const {labs} = await statusLabs(host.context())
    expect(labs.map((l) => l.lab)).toEqual(['demo'])
    const lab = labs[0]
    expect(lab?.journal).toBe('ok')
    expect(lab?.driver).toBe('libvirt')
    expect(lab?.steps).toHaveLength(demoPlan().steps.length)
    const vm1 = lab?.vms.find((v) => v.name === 'vm1')
    const vm2 = lab?.vms.find((v) => v.name === 'vm2')
    expect(vm1).toMatchObject({running: true, managedBy: 'libvirt', accel: 'tcg'})
    expect(vm1?.pid).toBe(host.domains.get('vl-demo-vm1')?.pid)
    expect(vm2).toMatchObject({running: true, managedBy: 'qemu', accel: 'tcg'})
    await host.runner().run(['virsh', 'destroy', 'vl-demo-vm1'])
    const after = await statusLabs(host.context(), {lab: 'demo'})
    expect(after.labs[0]?.vms.find((v) => v.name === 'vm1')).toMatchObject({running: false, pid: undefined})
  })

  it('reports switches from the journal with their live ports', async () => {
    const host = newHost()
    const plan = demoPlan('sw')
    // A plan whose switch steps use the compiler's ids (bridge:<name>, ovs:bridge:<name>).
    const renamed = plan.steps.map((s) => (s.id === 'switch:br0' ? {...s, id: 'bridge:vlbr0'} : s.id === 'ovs:bridge' ? {...s, id: `ovs:bridge:vl${labTag('sw')}ovs`} : s))
    for (const s of renamed) s.dependsOn = s.dependsOn.map((d) => (d === 'switch:br0' ? 'bridge:vlbr0' : d === 'ovs:bridge' ? `ovs:bridge:vl${labTag('sw')}ovs` : d))
    const d = deps()
    const custom: UpDeps = {...d, planLab: async (source, options) => ({...(await d.planLab(source, options, host.context())), plan: {...plan, steps: renamed}})}
    await up(host.context(), 'sw', {}, custom)
    const {labs} = await statusLabs(host.context(), {lab: 'sw'})
    expect(labs[0]?.switches).toEqual([
      {name: 'vlbr0', type: 'linux-bridge', present: true, ports: [`vl${labTag('sw')}t0n0`]},
      {name: `vl${labTag('sw')}ovs`, type: 'ovs', present: true, ports: [`vl${labTag('sw')}u0n0`]},
    ])
  })
})
