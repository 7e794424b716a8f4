import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {Ajv} from 'ajv'
import addFormats from 'ajv-formats'
import {describe, expect, it} from 'vitest'

import {assertResult, buildCase, labArchitecture, resultProblems} from '../../src/measure/result.js'
import {resultSchemaText} from '../../src/measure/result-schema.js'
import {ROOT, sampleResult} from './helpers.js'

const SCHEMA_FILE = join(ROOT, 'schema', 'result.schema.json')

describe('schema/result.schema.json', () => {
  it('is generated from the TypeBox source (VIRTLAB_UPDATE_SCHEMA=1 rewrites it)', () => {
    const expected = resultSchemaText()
    if (process.env.VIRTLAB_UPDATE_SCHEMA === '1') writeFileSync(SCHEMA_FILE, expected)
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(expected)
  })

  it('a result built from recorded iperf3 runs validates against the published file (ajv)', () => {
    const ajv = new Ajv({strict: true, allErrors: true})
    addFormats.default(ajv)
    const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as object)
    const result = sampleResult({
      lab: 'vhost-net', architecture: 'vhost-net',
      cases: [
        {fixture: 'tcp-tx', protocol: 'tcp', direction: 'tx', size: null, scales: [1, 0.97, 1.02]},
        {fixture: 'udp-64', protocol: 'udp', direction: 'tx', size: 64, scales: [1, 1, 1]},
      ],
    })
    expect(validate(JSON.parse(JSON.stringify(result)))).toBe(true)
    expect(validate.errors ?? []).toEqual([])
    expect(resultProblems(result)).toEqual([])
  })

  it('rejects documents that break it, naming the place', () => {
    const result = sampleResult({lab: 'x', architecture: 'vhost-user', cases: [{fixture: 'tcp-tx', protocol: 'tcp', direction: 'tx', size: null, scales: [1]}]})
    const broken = JSON.parse(JSON.stringify(result)) as Record<string, unknown> & {datapath: Record<string, unknown>; cases: {throughput: Record<string, unknown>}[]}
    delete broken.datapath.verified
    broken.cases[0]!.throughput.median = 'fast'
    broken.extra = 1
    const problems = resultProblems(broken)
    expect(problems.join('\n')).toMatch(/\/datapath must have required property 'verified'/)
    expect(problems.join('\n')).toMatch(/\/cases\/0\/throughput\/median must be number/)
    expect(problems.join('\n')).toMatch(/must NOT have additional properties \(extra\)/)
    expect(() => assertResult(broken, 'results/x.json')).toThrow(expect.objectContaining({code: 'RESULT_INVALID'}))
  })
})

describe('result builders', () => {
  it('a case from trials: stats over received Gbit/s, noisy flag, CPU cost', () => {
    const result = sampleResult({lab: 'l', architecture: 'vhost-net', cases: [{fixture: 'tcp-tx', protocol: 'tcp', direction: 'tx', size: null, scales: [1, 0.8, 1.2]}]})
    const c = result.cases[0]!
    expect(c.id).toBe('tcp-tx-default')
    expect(c.trials).toHaveLength(3)
    expect(c.throughput.median).toBeCloseTo(29.772913, 5)
    expect(c.throughput.min).toBeCloseTo(29.772913 * 0.8, 4)
    expect(c.throughput.cvPct).toBeCloseTo(20, 3)
    expect(c.noisy).toBe(true)
    expect(c.cpu?.gbpsPerCore).toBeCloseTo(29.772913 / ((27.009118 + 70.304569) / 100), 3)
    expect(c.pps).toBeNull()
    const steady = sampleResult({lab: 'l', architecture: 'vhost-net', cases: [{fixture: 'udp-1472', protocol: 'udp', direction: 'tx', size: 1472, scales: [1, 1.01, 0.99]}]}).cases[0]!
    expect(steady.noisy).toBe(false)
    expect(steady.lossPct?.median).toBeCloseTo(6.181092, 5)
    expect(steady.pps?.median).toBeCloseTo((169792 - 10495) / 2.000154, 0)
    expect(() => buildCase({protocol: 'tcp', direction: 'tx', size: null, streams: 1}, [])).toThrow(/no trials/)
  })

  it('derives the architecture from the NIC backends', () => {
    const vm = (backends: string[]) => ({vms: [{nics: backends.map((backend) => ({backend}))}]}) as unknown as Parameters<typeof labArchitecture>[0]
    expect(labArchitecture(vm(['sriov-vf', 'sriov-vf']))).toEqual({architecture: 'sriov', backends: ['sriov-vf']})
    expect(labArchitecture(vm(['vhost-net', 'vhost-user'])).architecture).toBe('mixed')
    expect(labArchitecture(vm([])).architecture).toBe('none')
  })
})
