/**
 * Building result documents from parsed measurements (pure), and checking a document against
 * the result schema (ajv).
 */
import {Ajv, type ValidateFunction} from 'ajv'
import addFormats from 'ajv-formats'

import {VirtlabError} from '../errors.js'
import type {LabModel} from '../lab/model.js'
import {gbpsPerCore, type Iperf3Result, frameBytesForUdpPayload} from './iperf3.js'
import type {LatencyStats} from './latency.js'
import {ResultSchema, type ArchitectureName, type CaseResult, type ResultDocument, type StatsResult, type TrialResult, type ZeroLossCaseResult} from './result-schema.js'
import {DEFAULT_NOISE_THRESHOLD_PCT, isNoisy, median, round, summarize, type Stats} from './stats.js'
import type {ZeroLossResult} from './zero-loss.js'

const GIGA = 1e9

function statsOut(stats: Stats): StatsResult {
  return {
    n: stats.n,
    median: round(stats.median),
    min: round(stats.min),
    max: round(stats.max),
    mean: round(stats.mean),
    stddev: round(stats.stddev),
    cvPct: round(stats.cvPct, 4),
  }
}

/** One trial of a case from the parsed iperf3 output. */
export function trialFromIperf3(index: number, startedAt: Date, run: Iperf3Result, commandIndex: number, elapsedS?: number): TrialResult {
  const reverse = run.reverseFlow
  const udp = run.protocol === 'udp'
  const pps = udp ? (run.forward.receivedPps ?? 0) + (reverse?.receivedPps ?? 0) : null
  const lost = udp ? (run.forward.lostPackets ?? 0) + (reverse?.lostPackets ?? 0) : 0
  const sent = udp ? (run.forward.packetsSent ?? 0) + (reverse?.packetsSent ?? 0) : 0
  return {
    index,
    startedAt: startedAt.toISOString(),
    gbps: round(run.totalReceivedBps / GIGA),
    sentGbps: round((run.forward.sentBps + (reverse?.sentBps ?? 0)) / GIGA),
    retransmits: udp ? null : (run.forward.retransmits ?? 0) + (reverse?.retransmits ?? 0),
    lossPct: udp ? round(sent > 0 ? (lost / sent) * 100 : 0, 6) : null,
    jitterMs: udp ? round(Math.max(run.forward.jitterMs ?? 0, reverse?.jitterMs ?? 0), 6) : null,
    pps: pps === null ? null : round(pps, 1),
    cpu: run.cpu === undefined ? null : {hostPct: round(run.cpu.hostPct, 3), remotePct: round(run.cpu.remotePct, 3)},
    intervals: run.intervals.map((i) => ({
      start: round(i.start, 3),
      end: round(i.end, 3),
      gbps: round(i.bitsPerSecond / GIGA),
      ...(i.reverseBitsPerSecond === undefined ? {} : {reverseGbps: round(i.reverseBitsPerSecond / GIGA)}),
    })),
    command: commandIndex,
    ...(elapsedS === undefined ? {} : {elapsedS: round(Math.max(0, elapsedS), 3)}),
  }
}

export function caseId(protocol: string, direction: string, size: number | null): string {
  return `${protocol}-${direction}-${size ?? 'default'}`
}

/** A case (one protocol/direction/size) from its trials: stats, the noisy flag, CPU cost. */
export function buildCase(spec: {protocol: 'tcp' | 'udp'; direction: 'tx' | 'rx' | 'both'; size: number | null; streams: number}, trials: TrialResult[], noiseThresholdPct = DEFAULT_NOISE_THRESHOLD_PCT): CaseResult {
  if (trials.length === 0) throw new VirtlabError('MEASURE_NO_TRIALS', `case ${caseId(spec.protocol, spec.direction, spec.size)} has no trials`)
  const throughput = summarize(trials.map((t) => t.gbps))
  const ppsValues = trials.map((t) => t.pps).filter((v): v is number => v !== null)
  const lossValues = trials.map((t) => t.lossPct).filter((v): v is number => v !== null)
  const cpuTrials = trials.map((t) => t.cpu).filter((c): c is NonNullable<TrialResult['cpu']> => c !== null)
  let cpu: CaseResult['cpu'] = null
  if (cpuTrials.length > 0) {
    const hostPct = median(cpuTrials.map((c) => c.hostPct))
    const remotePct = median(cpuTrials.map((c) => c.remotePct))
    const perCore = gbpsPerCore(throughput.median, {hostPct, remotePct})
    cpu = {hostPct: round(hostPct, 3), remotePct: round(remotePct, 3), gbpsPerCore: perCore === undefined ? null : round(perCore)}
  }
  return {
    id: caseId(spec.protocol, spec.direction, spec.size),
    protocol: spec.protocol,
    direction: spec.direction,
    size: spec.size,
    streams: spec.streams,
    trials,
    throughput: statsOut(throughput),
    pps: ppsValues.length === trials.length ? statsOut(summarize(ppsValues)) : null,
    lossPct: lossValues.length === trials.length ? statsOut(summarize(lossValues)) : null,
    noisy: isNoisy(throughput, noiseThresholdPct),
    cpu,
  }
}

export function zeroLossCase(size: number, result: ZeroLossResult): ZeroLossCaseResult {
  const final = result.final
  return {
    size,
    frameBytes: frameBytesForUdpPayload(size),
    lossTargetPct: result.lossTargetPct,
    found: result.found,
    rateGbps: round(result.rateBps / GIGA),
    offeredGbps: final ? round(final.offeredBps / GIGA) : null,
    gbps: final ? round(final.receivedBps / GIGA) : null,
    pps: final?.receivedPps === undefined ? null : round(final.receivedPps, 1),
    lossPct: final ? round(final.lossPct, 6) : null,
    resolutionGbps: round(result.resolutionBps / GIGA),
    atMaximum: result.atMaximum,
    trials: result.trials.map((t) => ({
      rateGbps: round(t.rateBps / GIGA),
      offeredGbps: round(t.offeredBps / GIGA),
      receivedGbps: round(t.receivedBps / GIGA),
      lossPct: round(t.lossPct, 6),
      pps: t.receivedPps === undefined ? null : round(t.receivedPps, 1),
      durationS: t.durationS,
      pass: t.pass,
      final: t.final,
    })),
  }
}

export function latencyResult(from: string, to: string, stats: LatencyStats, command: number): NonNullable<ResultDocument['latency']> {
  return {
    from,
    to,
    count: stats.count,
    transmitted: stats.transmitted,
    received: stats.received,
    lossPct: round(stats.lossPct, 4),
    minMs: round(stats.minMs),
    meanMs: round(stats.meanMs),
    maxMs: round(stats.maxMs),
    p50Ms: round(stats.p50Ms),
    p90Ms: round(stats.p90Ms),
    p99Ms: round(stats.p99Ms),
    command,
  }
}

/** The lab's architecture from its NIC backends (sriov-vf -> sriov). */
export function labArchitecture(model: Pick<LabModel, 'vms'>): {architecture: ArchitectureName; backends: string[]} {
  const backends = [...new Set(model.vms.flatMap((vm) => vm.nics.map((n) => n.backend)))].sort()
  const names = [...new Set(backends.map((b) => (b === 'sriov-vf' ? 'sriov' : b)))]
  const architecture: ArchitectureName = names.length === 0 ? 'none' : names.length > 1 ? 'mixed' : (names[0] as ArchitectureName)
  return {architecture, backends}
}

let validator: ValidateFunction<ResultDocument> | undefined

function compiled(): ValidateFunction<ResultDocument> {
  if (validator === undefined) {
    const ajv = new Ajv({strict: true, allErrors: true})
    addFormats.default(ajv)
    validator = ajv.compile<ResultDocument>(ResultSchema)
  }
  return validator
}

/** Schema problems of a document ([] when valid). */
export function resultProblems(data: unknown): string[] {
  const validate = compiled()
  if (validate(data)) return []
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`)
}

export function assertResult(data: unknown, what = 'result'): ResultDocument {
  const problems = resultProblems(data)
  if (problems.length > 0) {
    throw new VirtlabError('RESULT_INVALID', `${what} does not follow schema/result.schema.json: ${problems.slice(0, 5).join('; ')}`, {
      hint: 'Was it written by another virtlab version? Re-run `virtlab test` to produce a current result.',
      details: {problems},
    })
  }
  return data as ResultDocument
}
