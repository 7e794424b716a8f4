/**
 * Test helpers for measurement: recorded fixtures, a fixed clock, and result documents built with
 * the real builders from recorded iperf3 output (so report tests run on realistic data).
 */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {parseIperf3} from '../../src/measure/iperf3.js'
import {buildCase, latencyResult, trialFromIperf3, zeroLossCase} from '../../src/measure/result.js'
import {RESULT_KIND, RESULT_VERSION, type ArchitectureName, type ResultDocument} from '../../src/measure/result-schema.js'
import {latencyStats, parsePing} from '../../src/measure/latency.js'
import type {ZeroLossResult} from '../../src/measure/zero-loss.js'

export const ROOT = join(import.meta.dirname, '..', '..')

export function iperfFixture(name: string): string {
  return readFileSync(join(ROOT, 'test', 'fixtures', 'iperf3', `${name}.json`), 'utf8')
}

export function measureFixture(...parts: string[]): string {
  return readFileSync(join(import.meta.dirname, 'fixtures', ...parts), 'utf8')
}

export function testpmdFixture(name: string): string {
  return readFileSync(join(ROOT, 'test', 'fixtures', 'testpmd', name), 'utf8')
}

/** A clock that advances one second per call from a fixed start. */
export function fixedClock(start = '2026-11-22T10:00:00.000Z'): () => Date {
  let t = Date.parse(start)
  return () => {
    const now = new Date(t)
    t += 1000
    return now
  }
}

/** Scale every bits_per_second/bytes in an iperf3 JSON text (to make trials differ). */
export function scaledIperf(name: string, factor: number): string {
  const data = JSON.parse(iperfFixture(name)) as unknown
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk)
    if (typeof v === 'object' && v !== null) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, (k === 'bits_per_second' || k === 'bytes') && typeof x === 'number' ? x * factor : walk(x)]))
    }
    return v
  }
  return JSON.stringify(walk(data))
}

export interface SampleOptions {
  lab: string
  architecture: ArchitectureName
  test?: string
  /** iperf3 fixture names per case (one list of trial fixtures per case), with scale factors. */
  cases: {fixture: string; protocol: 'tcp' | 'udp'; direction: 'tx' | 'rx' | 'both'; size: number | null; scales: number[]}[]
  degraded?: string[]
  verified?: boolean
  zeroLoss?: {size: number; result: ZeroLossResult}[]
}

export function sampleResult(options: SampleOptions): ResultDocument {
  const commands: ResultDocument['provenance']['commands'] = []
  const at = fixedClock()
  const cases = options.cases.map((c) => {
    const trials = c.scales.map((scale, i) => {
      const argv = ['ip', 'netns', 'exec', `vl-${options.lab}`, 'iperf3', '-c', '10.99.2.2', '-J']
      commands.push({endpoint: 'host', argv, at: at().toISOString(), exitCode: 0})
      return trialFromIperf3(i + 1, at(), parseIperf3(scaledIperf(c.fixture, scale)), commands.length - 1)
    })
    return buildCase({protocol: c.protocol, direction: c.direction, size: c.size, streams: 1}, trials)
  })
  commands.push({endpoint: 'host', argv: ['busybox', 'ping', '-c', '50', '-i', '0.01', '10.99.2.2'], at: at().toISOString(), exitCode: 0})
  const latency = latencyResult('host', 'vm1', latencyStats(parsePing(measureFixture('ping', 'busybox-loopback-50.txt'))), commands.length - 1)
  const verified = options.verified ?? true
  return {
    kind: RESULT_KIND,
    version: RESULT_VERSION,
    lab: {name: options.lab, file: `/labs/${options.lab}.yaml`, params: {subnet: '10.99.2'}, architecture: options.architecture, backends: [options.architecture], driver: 'libvirt'},
    test: {
      name: options.test ?? 'host-to-vm1', tool: 'iperf3', client: 'host', server: 'vm1', protocol: options.cases[0]?.protocol ?? 'tcp', direction: 'tx',
      durationS: 2, warmupS: 0, streams: 1, sizes: [], trials: options.cases[0]?.scales.length ?? 1, bitrate: null,
      zeroLoss: (options.zeroLoss?.length ?? 0) > 0, lossTargetPct: 0, noiseThresholdPct: 5,
    },
    startedAt: '2026-11-22T10:00:00.000Z',
    finishedAt: '2026-11-22T10:05:00.000Z',
    cases,
    zeroLoss: (options.zeroLoss ?? []).map((z) => zeroLossCase(z.size, z.result)),
    latency,
    datapath: verified
      ? {kind: options.architecture === 'mixed' || options.architecture === 'none' ? 'unknown' : options.architecture, verified: true, evidence: ['QEMU pid 4242 holds /dev/vhost-net (fd 23)']}
      : {kind: options.architecture === 'mixed' || options.architecture === 'none' ? 'unknown' : options.architecture, verified: false, evidence: [], reason: 'QEMU pid 4242 does not hold /dev/vhost-net: the userspace virtio backend is moving the frames'},
    degraded: options.degraded ?? [],
    provenance: {
      virtlab: '0.1.0',
      host: {kernel: '6.18.44-fc-v669', cpuModel: 'Intel(R) Xeon(R) Processor', cpuCount: 2},
      versions: {qemu: '7.2.22', libvirt: '9.0.0', ovs: '3.1.0', dpdk: '22.11.11', iperf3: '3.12'},
      accel: 'tcg',
      commands,
    },
  }
}
