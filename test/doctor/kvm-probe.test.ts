import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import * as path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {
  buildProbeFirmware, decideKvm, type KvmMeasurement, NULL_FIRMWARE, PROBE_EXIT_STATUS, probeArgv, probeKvm, WORK_FIRMWARE,
} from '../../src/host/kvm-probe.js'
import {autoAccelFor, autoOvsFor, gatherFacts} from '../../src/host/probe.js'
import {copyFixture, hostTools, makeContext, QEMU_VERSION_LINE, removeTree} from './host-tools.js'

const ok = (ms: number) => ({outcome: 'ok' as const, ms})

function measurement(tcgNull: number, tcgWork: number, kvmNull: number, kvmWork: number | 'timeout' | 'failed', kvmTimeoutMs = 5000): KvmMeasurement {
  return {
    tcg: {null: ok(tcgNull), work: ok(tcgWork)},
    kvm: {
      null: ok(kvmNull),
      work: kvmWork === 'timeout' ? {outcome: 'timeout', ms: kvmTimeoutMs} : kvmWork === 'failed' ? {outcome: 'failed', ms: 10, error: 'exit 1: failed to set MSR 0x10a'} : ok(kvmWork),
    },
    kvmTimeoutMs,
  }
}

describe('probe firmware', () => {
  it('is a 64 KiB image whose reset vector far-jumps to F000:0000', () => {
    const image = buildProbeFirmware(WORK_FIRMWARE)
    expect(image.length).toBe(65536)
    expect([...image.slice(0xfff0, 0xfff5)]).toEqual([0xea, 0x00, 0x00, 0x00, 0xf0])
  })

  it('encodes the loop counts little-endian and exits through isa-debug-exit with status 33', () => {
    const image = buildProbeFirmware({outer: 0x1234, inner: 0xabcd})
    expect([...image.slice(0, 7)]).toEqual([0xfa, 0xbb, 0x34, 0x12, 0xb9, 0xcd, 0xab])
    // out 0x80 inside the loop (a VM exit per outer iteration), then mov al,0x10; out 0xf4,al.
    expect([...image.slice(13, 15)]).toEqual([0xe6, 0x80])
    expect([...image.slice(18, 22)]).toEqual([0xb0, 0x10, 0xe6, 0xf4])
    expect(PROBE_EXIT_STATUS).toBe(33)
    // The jumps land where they should: loop -> offset 7, jnz -> offset 4.
    expect(13 + (image[12]! - 256)).toBe(7)
    expect(18 + (image[17]! - 256)).toBe(4)
  })

  it('differs between the null and the work image only in the counts', () => {
    const a = buildProbeFirmware(NULL_FIRMWARE)
    const b = buildProbeFirmware(WORK_FIRMWARE)
    const differing = [...a].map((v, i) => (v === b[i] ? -1 : i)).filter((i) => i >= 0)
    expect(differing.every((i) => i >= 2 && i <= 6)).toBe(true)
  })

  it('rejects counts that do not fit a 16-bit register', () => {
    expect(() => buildProbeFirmware({outer: 0, inner: 1})).toThrow(/outer/)
    expect(() => buildProbeFirmware({outer: 1, inner: 70000})).toThrow(/inner/)
  })

  it('runs QEMU with no disks, no display and the debug-exit device', () => {
    const argv = probeArgv('qemu-system-x86_64', 'kvm', '/x/work.bin')
    expect(argv.slice(0, 3)).toEqual(['qemu-system-x86_64', '-accel', 'kvm'])
    expect(argv).toContain('-nodefaults')
    expect(argv[argv.indexOf('-bios') + 1]).toBe('/x/work.bin')
    expect(argv[argv.indexOf('-device') + 1]).toBe('isa-debug-exit,iobase=0xf4,iosize=0x04')
  })
})

describe('decideKvm', () => {
  it('calls KVM usable when it is faster than TCG', () => {
    const d = decideKvm(measurement(60, 300, 80, 100))
    expect(d.kvm).toBe('usable')
    expect(d.ratio).toBeCloseTo(20 / 240, 5)
  })

  it('calls KVM usable when it is slower but within the margin (start-up subtracted)', () => {
    // TCG net 200 ms, KVM net 380 ms: 1.9x, inside 2x.
    expect(decideKvm(measurement(50, 250, 100, 480)).kvm).toBe('usable')
  })

  it('calls KVM unusable when it is slower than TCG by more than the margin', () => {
    const d = decideKvm(measurement(50, 250, 100, 600))
    expect(d.kvm).toBe('unusable')
    expect(d.reason).toMatch(/2\.50x slower than TCG/)
  })

  it('honours a different margin', () => {
    expect(decideKvm(measurement(50, 250, 100, 600), 3).kvm).toBe('usable')
  })

  it('calls KVM unusable when its run hits the time limit (the nested case)', () => {
    const d = decideKvm(measurement(60, 300, 75, 'timeout', 2075))
    expect(d.kvm).toBe('unusable')
    expect(d.reason).toMatch(/did not finish under KVM within 2075 ms; TCG ran it in 300 ms/)
    expect(d.reason).toMatch(/more than 8x slower/)
  })

  it('calls KVM unusable when a KVM guest cannot run at all', () => {
    const m = measurement(60, 300, 75, 'failed')
    m.kvm.null = {outcome: 'failed', ms: 5, error: 'exit 1: Could not access KVM kernel module: Permission denied'}
    const d = decideKvm(m)
    expect(d.kvm).toBe('unusable')
    expect(d.reason).toMatch(/Permission denied/)
    expect(decideKvm(measurement(60, 300, 75, 'failed')).reason).toMatch(/MSR 0x10a/)
  })

  it('does not let noise in tiny TCG runs decide: TCG net time has a floor', () => {
    // TCG net 2 ms (noise), KVM net 30 ms: compared against the 20 ms floor -> 1.5x, usable.
    expect(decideKvm(measurement(50, 52, 60, 90)).kvm).toBe('usable')
  })

  it('keeps KVM usable when only the TCG reference failed', () => {
    const m = measurement(60, 300, 75, 120)
    m.tcg.work = {outcome: 'failed', ms: 3, error: 'exit 1: boom'}
    const d = decideKvm(m)
    expect(d.kvm).toBe('usable')
    expect(d.reason).toMatch(/TCG reference run did not complete/)
  })
})

describe('probeKvm (fake QEMU, fake clock)', () => {
  const roots: string[] = []
  afterEach(() => {
    for (const r of roots.splice(0)) removeTree(r)
  })

  it('measures, decides unusable when the KVM run times out, and caches the result by kernel and QEMU', async () => {
    const root = copyFixture('ours')
    roots.push(root)
    const clock = {now: 1000}
    const runner = hostTools({clock, kvm: {tcgNull: 60, tcgWork: 300, kvmNull: 75, kvmWork: 'timeout'}})
    const ctx = makeContext(root, runner)
    const r = await probeKvm(ctx, {clock: () => clock.now})
    expect(r.kvm).toBe('unusable')
    expect(r.cached).toBe(false)
    expect(r.timings).toEqual({tcgNullMs: 60, tcgWorkMs: 300, kvmNullMs: 75, kvmWorkMs: undefined})
    // The KVM work run got start-up + max(2 s, 4 x TCG net).
    const kvmWork = runner.records.find((c) => c.argv.includes('kvm') && c.argv.some((a) => a.endsWith('work.bin')))
    expect(kvmWork?.options.timeoutMs).toBe(75 + 2000)
    // The firmware was written under the state dir (inside the root) and handed to QEMU by its real path.
    const bios = kvmWork?.argv[kvmWork.argv.indexOf('-bios') + 1]
    expect(bios).toBe(path.join(root, 'var/lib/virtlab/kvm-probe/work.bin'))
    expect(existsSync(path.join(root, 'var/lib/virtlab/kvm-probe'))).toBe(false) // cleaned up
    const cache = JSON.parse(readFileSync(path.join(root, 'var/lib/virtlab/kvm-probe.json'), 'utf8')) as {key: unknown; kvm: string}
    expect(cache.key).toEqual({kernelRelease: '6.18.44-fc-v669', qemuVersion: QEMU_VERSION_LINE})
    expect(cache.kvm).toBe('unusable')

    // Second call: from the cache, no QEMU run.
    const before = runner.records.length
    const again = await probeKvm(ctx, {clock: () => clock.now})
    expect(again).toMatchObject({kvm: 'unusable', cached: true})
    expect(runner.records.slice(before).filter((c) => c.argv.includes('-bios'))).toHaveLength(0)
  })

  it('measures again when the kernel release changes, or when forced', async () => {
    const root = copyFixture('ours')
    roots.push(root)
    const clock = {now: 0}
    const runner = hostTools({clock, kvm: {tcgNull: 60, tcgWork: 300, kvmNull: 80, kvmWork: 120}})
    const ctx = makeContext(root, runner)
    expect((await probeKvm(ctx, {clock: () => clock.now})).kvm).toBe('usable')
    const count = () => runner.records.filter((c) => c.argv.includes('-bios')).length
    expect(count()).toBe(4)
    writeFileSync(path.join(root, 'proc/sys/kernel/osrelease'), '6.18.45-other\n')
    expect((await probeKvm(ctx, {clock: () => clock.now})).cached).toBe(false)
    expect(count()).toBe(8)
    expect((await probeKvm(ctx, {clock: () => clock.now})).cached).toBe(true)
    expect((await probeKvm(ctx, {clock: () => clock.now, force: true})).cached).toBe(false)
    expect(count()).toBe(12)
  })

  it('treats a run killed at its limit that exits 0 (QEMU traps SIGTERM) as a timeout', async () => {
    const root = copyFixture('ours')
    roots.push(root)
    const clock = {now: 0}
    const runner = hostTools({clock})
    runner.on((argv) => argv.includes('kvm') && argv.some((a) => a.endsWith('work.bin')), (_argv, opts) => {
      clock.now += opts.timeoutMs ?? 0
      return {exitCode: 0, stderr: 'qemu-system-x86_64: terminating on signal 15 from pid 9166 (node)\n'}
    })
    const r = await probeKvm(makeContext(root, runner), {clock: () => clock.now})
    expect(r.kvm).toBe('unusable')
    expect(r.measurement?.kvm.work.outcome).toBe('timeout')
  })

  it('with cachedOnly never runs QEMU and treats an unmeasured KVM as unusable', async () => {
    const root = copyFixture('ours')
    roots.push(root)
    const runner = hostTools()
    const r = await probeKvm(makeContext(root, runner), {cachedOnly: true})
    expect(r.kvm).toBe('unusable')
    expect(r.reason).toMatch(/not yet measured/)
    expect(runner.records.some((c) => c.argv.includes('-bios'))).toBe(false)
  })

  it('accel: auto resolves to kvm only when KVM was measured usable', async () => {
    const root = copyFixture('ours')
    roots.push(root)
    const slow = {now: 0}
    const facts = await gatherFacts(makeContext(root, hostTools({clock: slow, kvm: {tcgNull: 60, tcgWork: 300, kvmNull: 75, kvmWork: 'timeout'}})), {kvmProbe: {clock: () => slow.now}})
    expect(facts.kvm).toBe('unusable')
    expect(autoAccelFor(facts)).toBe('tcg')
    expect(autoAccelFor({kvm: 'usable'})).toBe('kvm')
    expect(autoAccelFor({kvm: 'absent'})).toBe('tcg')
    expect(autoOvsFor(facts)).toBe('private')
  })

  it('gatherFacts reports absent without /dev/kvm and runs no probe', async () => {
    const root = copyFixture('ours')
    roots.push(root)
    removeTree(path.join(root, 'dev/kvm'))
    const runner = hostTools()
    const facts = await gatherFacts(makeContext(root, runner))
    expect(facts.kvm).toBe('absent')
    expect(runner.records.some((c) => c.argv.includes('-bios'))).toBe(false)
  })
})
