/**
 * `virtlab bench loopback`: the software ceiling of a vhost-user path on the target host (DPDK's
 * vhost-user <-> virtio-user forwarding with testpmd, no VM; src/measure/loopback.ts), as a result
 * document (schema/result.schema.json, `frameRates`, tool testpmd) written to <out>/loopback.json.
 */
import {collectHostProvenance, collectToolVersions} from '../measure/provenance.js'
import {type LoopbackMeasurement, type LoopbackOptions, measureLoopback} from '../measure/loopback.js'
import {assertResult} from '../measure/result.js'
import {RESULT_KIND, RESULT_VERSION, type ResultDocument} from '../measure/result-schema.js'
import {testpmdTool} from '../measure/tools/testpmd.js'
import type {Context} from './context.js'
import {virtlabVersion} from './measure.js'

export interface BenchLoopbackOptions extends Omit<LoopbackOptions, 'runDir'> {
  outDir?: string | undefined
  signal?: AbortSignal | undefined
}

export interface BenchLoopbackResult {
  file: string
  result: ResultDocument
  measurement: LoopbackMeasurement
}

export const LOOPBACK_RESULT_FILE = 'loopback.json'

/** The document from a measurement (pure). */
export function loopbackDocument(m: LoopbackMeasurement, provenance: ResultDocument['provenance']): ResultDocument {
  const degraded: string[] = []
  if (m.load.avg1 !== null && m.load.cpus !== null && m.load.avg1 > m.load.cpus / 2) {
    degraded.push(`noisy: host load average ${m.load.avg1.toFixed(2)} on ${m.load.cpus} CPU(s) before the run: other processes share the two polling cores, so this is not the host's ceiling`)
  }
  const consistent = m.frameRates.every((f) => f.countersConsistent)
  const evidence = m.frameRates.map((f) => {
    const t = f.trials[f.trials.length - 1]
    return `${f.frameBytes} B: virtio-user sent ${t?.forward?.sent ?? '?'}, vhost received ${t?.forward?.received ?? '?'}; vhost sent ${t?.reverse?.sent ?? '?'}, virtio-user received ${t?.reverse?.received ?? '?'} (testpmd forward statistics)`
  })
  return {
    kind: RESULT_KIND,
    version: RESULT_VERSION,
    lab: {name: 'loopback', file: null, params: {}, architecture: 'vhost-user', backends: [], driver: null},
    test: {
      name: 'loopback',
      tool: testpmdTool.name,
      client: 'virtio-user',
      server: 'vhost',
      protocol: 'udp',
      direction: 'tx',
      durationS: m.durationS,
      warmupS: 0,
      streams: 1,
      sizes: m.frameSizes,
      trials: m.trials,
      bitrate: null,
      zeroLoss: false,
      lossTargetPct: 0,
      noiseThresholdPct: m.noiseThresholdPct,
    },
    startedAt: m.startedAt,
    finishedAt: m.finishedAt,
    cases: [],
    zeroLoss: [],
    frameRates: m.frameRates,
    latency: null,
    datapath: consistent
      ? {kind: 'vhost-user', verified: true, evidence}
      : {kind: 'vhost-user', verified: false, evidence, reason: 'the two sides\' packet counters do not add up (sent - received above one burst in flight, or nothing sent)'},
    degraded,
    provenance,
  }
}

export async function benchLoopback(ctx: Context, options: BenchLoopbackOptions): Promise<BenchLoopbackResult> {
  const outDir = options.outDir ?? 'results'
  const measurement = await measureLoopback({...options, runDir: `${ctx.target.runBase}/bench-loopback`}, {
    runner: ctx.target.runner,
    fs: ctx.target.fs,
    clock: () => new Date(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    progress: (e) => ctx.operator.progress({type: 'info', title: e.title, ...(e.detail === undefined ? {} : {detail: e.detail})}),
    signal: options.signal,
  })
  const [host, versions, version] = await Promise.all([
    collectHostProvenance(ctx.target.fs),
    collectToolVersions(ctx.target.runner),
    virtlabVersion(ctx.operator.fs, ctx.operator.packageRoot),
  ])
  const document = loopbackDocument(measurement, {
    virtlab: version,
    host,
    versions: {...versions, dpdk: measurement.dpdkVersion ?? versions.dpdk},
    accel: null,
    commands: measurement.commands,
  })
  assertResult(document, 'the loopback result')
  await ctx.operator.fs.mkdir(outDir)
  const file = `${outDir}/${LOOPBACK_RESULT_FILE}`
  await ctx.operator.fs.writeFile(file, JSON.stringify(document, null, 2) + '\n', {atomic: true, mode: 0o644})
  for (const label of document.degraded) ctx.operator.progress({type: 'warn', title: label})
  return {file, result: document, measurement}
}
