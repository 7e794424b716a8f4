/**
 * The software ceiling for real: `virtlab bench loopback` runs two dpdk-testpmd (vhost-user <->
 * virtio-user, no VM) at 64 and 1518 bytes through the real runner: packets move (Mpps above
 * zero), both sides' counters add up, the result validates against the published
 * schema/result.schema.json and names testpmd, and the host is exactly as before (hugepages,
 * mounts, /var/run/dpdk, no testpmd left). Needs root and Debian's dpdk-dev (CI installs it).
 */
import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {Ajv} from 'ajv'
import addFormats from 'ajv-formats'
import {expect, it} from 'vitest'

import type {BenchLoopbackResult} from '../../src/app/bench.js'
import {REPO, cli, snapshot, useE2eEnv} from './harness.js'

const need = useE2eEnv('loopback')

function testpmdRunning(): boolean {
  try {
    execFileSync('pgrep', ['-x', 'dpdk-testpmd'])
    return true
  } catch {
    return false
  }
}

it('bench loopback at 64 and 1518 B: Mpps above zero, counters consistent, schema-valid, nothing left behind', async () => {
  const e = need()
  const before = snapshot(e)
  const run = await cli(e, ['bench', 'loopback', '--frame-sizes', '64,1518', '--duration', '4', '--out', e.resultsDir], {timeoutMs: 240_000})
  expect(run.code, `bench loopback failed:\n${run.stdout.slice(-2000)}\n${run.stderr.slice(-3000)}`).toBe(0)
  const out = JSON.parse(run.stdout) as BenchLoopbackResult
  const doc = out.result
  expect(doc.test.tool).toBe('testpmd')
  expect(doc.frameRates?.map((f) => f.frameBytes)).toEqual([64, 1518])
  for (const f of doc.frameRates ?? []) {
    expect(f.tool).toBe('testpmd')
    expect(f.mpps.median).toBeGreaterThan(0)
    // Gbit/s is the frame bytes x 8 x the packet rate (testpmd counts frame bytes).
    expect(f.gbps.median / f.mpps.median).toBeCloseTo((f.frameBytes * 8) / 1000, 1)
    expect(f.countersConsistent).toBe(true)
    const t = f.trials[0]
    expect(t?.forward?.sent).toBeGreaterThan(0)
    expect(t?.forward?.lost).toBeGreaterThanOrEqual(0)
    expect(t?.forward?.lost).toBeLessThanOrEqual(32)
  }
  expect(doc.datapath).toMatchObject({kind: 'vhost-user', verified: true})
  expect(doc.provenance.versions.dpdk).toMatch(/^\d+\.\d+/)
  // The file on disk is the same document and validates against the published schema.
  const file = JSON.parse(readFileSync(join(e.resultsDir, 'loopback.json'), 'utf8')) as unknown
  expect(file).toEqual(doc)
  const ajv = new Ajv({strict: false, allErrors: true})
  addFormats.default(ajv)
  const validate = ajv.compile(JSON.parse(readFileSync(join(REPO, 'schema', 'result.schema.json'), 'utf8')) as object)
  expect(validate(file), JSON.stringify(validate.errors)).toBe(true)
  // Nothing left behind.
  expect(testpmdRunning()).toBe(false)
  const after = snapshot(e)
  expect(after.hugepages).toEqual(before.hugepages)
  expect(after.mounts).toEqual(before.mounts)
  expect(after.dpdkRuntime).toEqual(before.dpdkRuntime)
  expect(after.processes).toEqual(before.processes)
  expect(out.measurement.hugepages.after).toBe(out.measurement.hugepages.before)
  expect(out.measurement.hugepages.during).toBeGreaterThan(out.measurement.hugepages.before)
})
