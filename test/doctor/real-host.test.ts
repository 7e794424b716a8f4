/**
 * Checks against THIS machine (root; the `real` test project, see vitest.config.ts): the real KVM probe with real
 * QEMU runs, and ensureLibvirtd with the real daemons. Skipped when not root (VIRTLAB_REAL_HOST=0: off);
 * the assertions hold on any host.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import * as path from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {createContext} from '../../src/app/context.js'
import {ensureLibvirtd, stopStartedDaemons} from '../../src/host/daemons.js'
import {decideKvm, probeKvm} from '../../src/host/kvm-probe.js'
import {deviceExists, libvirtReachable} from '../../src/host/probe.js'

// Runs as root on a Linux host (the `real` test project; CI is root). VIRTLAB_REAL_HOST=0 turns it off.
const real = process.env.VIRTLAB_REAL_HOST === '1' || (process.env.VIRTLAB_REAL_HOST !== '0' && process.getuid?.() === 0)

describe.runIf(real)('this host, for real', () => {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'virtlab-state-'))
  afterAll(() => rmSync(stateDir, {recursive: true, force: true}))

  it('measures KVM against TCG with real QEMU and decides from the measurement', async () => {
    const ctx = createContext({stateDir})
    if (!(await deviceExists(ctx.target.fs, '/dev/kvm'))) return
    const r = await probeKvm(ctx, {force: true})
    console.log(`KVM probe: ${r.kvm}: ${r.reason}`)
    expect(r.measurement?.tcg.null.outcome).toBe('ok')
    expect(r.measurement?.tcg.work.outcome).toBe('ok')
    expect(r.kvm).toBe(decideKvm(r.measurement!).kvm)
    // The work guest does real work under TCG: measurably longer than the null guest.
    expect(r.measurement!.tcg.work.ms).toBeGreaterThan(r.measurement!.tcg.null.ms)
    const again = await probeKvm(ctx)
    expect(again).toMatchObject({kvm: r.kvm, cached: true})
  }, 60_000)

  it('makes libvirt answer, and stops only what it started', async () => {
    const ctx = createContext({stateDir})
    const started = await ensureLibvirtd(ctx)
    console.log(`ensureLibvirtd started: ${started.map((d) => `${d.name} pid ${d.pid}`).join(', ') || 'nothing (already reachable)'}`)
    expect((await libvirtReachable(ctx)).ok).toBe(true)
    const stopped = await stopStartedDaemons(ctx, started)
    expect(stopped.every((s) => s.stopped)).toBe(true)
    if (started.length > 0) expect((await libvirtReachable(ctx)).ok).toBe(false)
  }, 120_000)
})
