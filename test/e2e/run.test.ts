/**
 * `virtlab run` end to end: the default lab (vhost-user, OVS-DPDK) brought up, measured and torn
 * down by one command; the host is left as it was.
 */
import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

import type {RunResult} from '../../src/app/run.js'
import {assertResult} from '../../src/measure/result.js'
import {cli, snapshot, useE2eEnv} from './harness.js'

const need = useE2eEnv()

describe('virtlab run', () => {
  it('brings the default lab (vhost-user) up, measures it, tears it down, and leaves the host as it was', async () => {
    const e = need()
    const before = snapshot(e)
    const run = await cli(e, ['run', '--driver', 'qemu', '--trials', '1', '--duration', '3', '--latency-samples', '10', '--out', e.resultsDir], {timeoutMs: 480_000})
    expect(run.code, `${run.stdout.slice(-2000)}\n${run.stderr.slice(-3000)}`).toBe(0)
    const result = run.json as RunResult
    expect(result.lab).toBe('vhost-user')
    expect(result.driver).toBe('qemu')
    expect(result.ok).toBe(true)
    expect(result.error).toBeUndefined()
    expect(result.up?.stepsRun).toContain('vm:vm2:ready')
    expect(result.down?.labs[0]?.notUndone).toEqual([])
    expect(result.throughput).toHaveLength(1)
    const t = result.throughput[0]
    expect(t?.test).toBe('vm1-to-vm2')
    expect(t?.gbps ?? 0).toBeGreaterThan(0)
    expect(t?.datapath).toMatchObject({kind: 'vhost-user', verified: true})
    const doc = assertResult(JSON.parse(readFileSync(t?.file ?? '', 'utf8')))
    expect(doc.cases[0]?.throughput.median).toBe(t?.gbps)
    console.log(`[e2e] virtlab run: vhost-user ${t?.gbps.toFixed(3) ?? '?'} Gbit/s in ${(run.ms / 1000).toFixed(0)} s`)
    expect(snapshot(e)).toEqual(before)
  })
})
