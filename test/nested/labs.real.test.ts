/**
 * For real, inside the shared nested lab host through the target-host seam (--host, SSH): doctor
 * passes for the architectures our machines lack, and `virtlab run vhost-net --host` gives a
 * verified, not degraded result, leaving L1's state as it was.
 */
import {mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {cli, ensureSharedHost, HOST, l1State} from './shared-host.js'

describe('labs in a nested lab host (real, TCG L1, KVM L2)', () => {
  let results: string
  beforeAll(async () => {
    await ensureSharedHost()
    results = mkdtempSync(join(tmpdir(), 'virtlab-nested-results-'))
  }, 1_800_000)
  afterAll(() => rmSync(results, {recursive: true, force: true}))

  it('doctor --host passes the checks vhost-net, SR-IOV and vDPA need', async () => {
    const r = await cli(['doctor', '--host', HOST, '--json'], {stateDir: false})
    expect(r.code, r.stderr).toBe(0)
    const checks = (r.json as {checks: {id: string; status: string}[]}).checks
    const status = Object.fromEntries(checks.map((c) => [c.id, c.status]))
    expect(status).toMatchObject({'vhost-net': 'pass', iommu: 'pass', 'vfio-pci': 'pass', sriov: 'pass', 'vdpa-bus': 'pass', 'vdpa-mgmtdev': 'pass', kvm: 'pass'})
    expect(checks.filter((c) => c.status === 'fail')).toEqual([])
  }, 600_000)

  it('run vhost-net --host: QEMU holds /dev/vhost-net with its vhost worker, not degraded, L1 restored', async () => {
    const before = l1State()
    const r = await cli(['run', 'vhost-net', '--host', HOST, '--json'], {cwd: results, stateDir: false})
    expect(r.code, `${r.stderr.slice(-3000)}\n${r.stdout.slice(-2000)}`).toBe(0)
    const out = r.json as {ok: boolean; throughput: {gbps: number; datapath: {kind: string; verified: boolean}; degraded: string[]}[]}
    expect(out.ok).toBe(true)
    expect(out.throughput.length).toBeGreaterThan(0)
    for (const t of out.throughput) {
      expect(t.datapath).toMatchObject({kind: 'vhost-net', verified: true})
      expect(t.degraded).toEqual([])
      expect(t.gbps).toBeGreaterThan(0)
    }
    process.stderr.write(`nested vhost-net: ${out.throughput.map((t) => `${t.gbps} Gbit/s`).join(', ')}\n`)
    // The result file is on the operator's side and names the target.
    const file = readdirSync(join(results, 'results')).find((f) => f.startsWith('vhost-net-'))!
    const result = JSON.parse(readFileSync(join(results, 'results', file), 'utf8')) as {datapath: {evidence: string[]}; provenance: {target?: {transport?: string}}}
    expect(result.datapath.evidence.join('\n')).toMatch(/holds \/dev\/vhost-net/)
    expect(result.datapath.evidence.join('\n')).toMatch(/vhost worker (thread|kernel thread) vhost-\d+/)
    expect(result.provenance.target?.transport).toBe('ssh')
    expect(l1State()).toEqual(before)
  }, 1_800_000)

  it('run sriov-igb --host: VFs of the emulated igb through vfio-pci into two L2 guests, traffic, verified, L1 restored', async () => {
    const before = l1State()
    const r = await cli(['run', 'sriov-igb', '--host', HOST, '--json'], {cwd: results, stateDir: false})
    expect(r.code, `${r.stderr.slice(-3000)}\n${r.stdout.slice(-2000)}`).toBe(0)
    const out = r.json as {ok: boolean; throughput: {gbps: number; datapath: {kind: string; verified: boolean}; degraded: string[]}[]}
    expect(out.ok).toBe(true)
    for (const t of out.throughput) {
      expect(t.datapath).toMatchObject({kind: 'sriov', verified: true})
      expect(t.degraded).toEqual([])
      expect(t.gbps).toBeGreaterThan(0)
    }
    process.stderr.write(`nested sriov-igb: ${out.throughput.map((t) => `${t.gbps} Gbit/s`).join(', ')}\n`)
    expect(l1State()).toEqual(before)
  }, 2_400_000)
})
