/**
 * Running one lab test against two endpoints: an iperf3 server on one, the client on the other;
 * N trials per case (protocol x direction x size) -> stats; optionally the zero-loss search per
 * UDP datagram size; then round-trip latency with ping. Every command is recorded (endpoint,
 * exact argv, time, exit code). Progress (the trial, the rate being tried, time left) goes to an
 * injected sink; time comes from an injected clock and sleep, so this runs in tests against fake
 * endpoints.
 */
import {VirtlabError, isVirtlabError} from '../errors.js'
import type {TestModel} from '../lab/model.js'
import type {Endpoint, Handle} from './endpoint.js'
import {DEFAULT_IPERF3_PORT, type Direction, type Iperf3ClientSpec, type Iperf3Result, type Protocol} from './iperf3.js'
import {iperf3Tool} from './tools/iperf3.js'
import {latencyStats, parsePing, pingArgv} from './latency.js'
import type {Clock} from './provenance.js'
import {buildCase, latencyResult, trialFromIperf3, zeroLossCase} from './result.js'
import type {CaseResult, CommandRecord, LatencyResult, TrialResult, ZeroLossCaseResult} from './result-schema.js'
import {DEFAULT_NOISE_THRESHOLD_PCT} from './stats.js'
import {type TrialOutcome, searchZeroLoss} from './zero-loss.js'

export const DEFAULT_ZERO_LOSS_SIZES = [64, 512, 1472]
export const DEFAULT_MAX_RATE_BPS = 10e9

export interface MeasureOptions {
  trials?: number | undefined
  durationS?: number | undefined
  warmupS?: number | undefined
  /** Sizes overriding the test's (TCP message / UDP datagram bytes). */
  sizes?: number[] | undefined
  zeroLoss?: boolean | undefined
  lossTargetPct?: number | undefined
  noiseThresholdPct?: number | undefined
  port?: number | undefined
  /** Zero-loss: where the search starts (bit/s), its resolution, trial lengths. */
  maxRateBps?: number | undefined
  resolutionPct?: number | undefined
  searchDurationS?: number | undefined
  finalDurationS?: number | undefined
  /** ping samples for latency (0: no latency measurement). */
  latencyCount?: number | undefined
  /** Retries when the client finds no server listening yet (default 5). */
  connectRetries?: number | undefined
}

export interface MeasureProgress {
  phase: 'server' | 'throughput' | 'zero-loss' | 'latency'
  title: string
  detail?: string
  caseId?: string
  trial?: number
  trials?: number
  rateBps?: number
  /** Estimated seconds left for the whole test. */
  secondsLeft?: number
}

export interface MeasureEnv {
  clock: Clock
  sleep: (ms: number) => Promise<void>
  progress?: (event: MeasureProgress) => void
  signal?: AbortSignal
}

export interface TestMeasurement {
  startedAt: string
  finishedAt: string
  effective: {trials: number; durationS: number; warmupS: number; sizes: number[]; zeroLoss: boolean; lossTargetPct: number; noiseThresholdPct: number}
  cases: CaseResult[]
  zeroLoss: ZeroLossCaseResult[]
  latency: LatencyResult | null
  commands: CommandRecord[]
}

/** Records every command run, with its endpoint and time; the index is what results reference. */
export class CommandLog {
  readonly entries: CommandRecord[] = []

  record(endpoint: Endpoint, argv: readonly string[], at: Date, exitCode: number | null): number {
    this.entries.push({endpoint: endpoint.name, argv: endpoint.resolve(argv), at: at.toISOString(), exitCode})
    return this.entries.length - 1
  }
}

const OVERHEAD_S = 2

/** "1.000 Gbit/s", "15.6 Mbit/s", "820 kbit/s": readable at every scale the search visits. */
export function formatRate(bps: number): string {
  if (bps >= 1e9) return `${(bps / 1e9).toFixed(3)} Gbit/s`
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(1)} Mbit/s`
  return `${(bps / 1e3).toFixed(0)} kbit/s`
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new VirtlabError('MEASURE_INTERRUPTED', 'measurement interrupted', {cause: signal.reason})
  }
}

export async function measureTest(test: TestModel, client: Endpoint, server: Endpoint, options: MeasureOptions, env: MeasureEnv): Promise<TestMeasurement> {
  const trials = options.trials ?? test.trials
  const durationS = options.durationS ?? test.duration
  const warmupS = options.warmupS ?? test.warmup
  const sizes = options.sizes ?? test.sizes
  const zeroLoss = options.zeroLoss ?? false
  const lossTargetPct = options.lossTargetPct ?? 0
  const noiseThresholdPct = options.noiseThresholdPct ?? DEFAULT_NOISE_THRESHOLD_PCT
  const port = options.port ?? DEFAULT_IPERF3_PORT
  const retries = options.connectRetries ?? 5
  const latencyCount = options.latencyCount ?? 100
  const protocol: Protocol = test.protocol
  const direction: Direction = test.direction
  const progress = env.progress ?? (() => {})
  const log = new CommandLog()
  const startedAt = env.clock()

  const caseSizes: (number | null)[] = sizes.length > 0 ? sizes : [null]
  const zeroLossSizes = zeroLoss ? (sizes.length > 0 ? sizes : DEFAULT_ZERO_LOSS_SIZES) : []
  const searchS = options.searchDurationS ?? 2
  const finalS = options.finalDurationS ?? Math.max(durationS, searchS)
  const trialSeconds = durationS + warmupS + OVERHEAD_S
  // Zero-loss time is an estimate (~14 search trials per size).
  let secondsLeft = caseSizes.length * trials * trialSeconds + zeroLossSizes.length * (14 * (searchS + OVERHEAD_S) + finalS + OVERHEAD_S) + (latencyCount > 0 ? latencyCount * 0.01 + OVERHEAD_S : 0)

  // ---- the server -------------------------------------------------------------------------------
  const serverArgv = iperf3Tool.serverArgv({port})
  let handle: Handle | undefined
  const startServer = async (): Promise<void> => {
    const at = env.clock()
    handle = await server.start(serverArgv)
    log.record(server, serverArgv, at, null)
    progress({phase: 'server', title: `iperf3 server on ${server.name} (${server.address}:${port})`})
  }
  const ensureServer = async (): Promise<void> => {
    if (handle === undefined) return startServer()
    const status = await handle.status()
    if (!status.running) {
      const text = status.result ? (status.result.stderr || status.result.stdout).trim() : ''
      if (/address already in use/i.test(text)) {
        throw new VirtlabError('IPERF3_SERVER_FAILED', `iperf3 server on ${server.name} could not listen on port ${port}: ${text.split('\n').pop() ?? ''}`, {
          hint: 'Another iperf3 (or service) holds the port there; stop it or use --port.',
        })
      }
      await startServer()
    }
  }

  const runClient = async (spec: Omit<Iperf3ClientSpec, 'server' | 'port'>): Promise<{run: Iperf3Result; command: number; at: Date; elapsedS: number}> => {
    const argv = iperf3Tool.clientArgv({...spec, server: server.address, port})
    const timeoutMs = (spec.durationS + spec.omitS + 30) * 1000
    for (let attempt = 0; ; attempt += 1) {
      checkAbort(env.signal)
      await ensureServer()
      const at = env.clock()
      const result = await client.run(argv, {timeoutMs, signal: env.signal})
      const elapsedS = (env.clock().getTime() - at.getTime()) / 1000
      const command = log.record(client, argv, at, result.exitCode)
      try {
        if (result.stdout.trim() === '') {
          throw new VirtlabError('IPERF3_FAILED', `iperf3 on ${client.name} printed nothing (exit ${result.exitCode})`, {
            command: {argv: client.resolve(argv), exitCode: result.exitCode, stderrTail: result.stderr.trim().split('\n').slice(-8).join('\n')},
            hint: 'Is iperf3 installed on that endpoint? Run the command by hand to see why.',
          })
        }
        return {run: iperf3Tool.parse(result.stdout, client.resolve(argv)), command, at, elapsedS}
      } catch (error) {
        const retryable = isVirtlabError(error) && error.code === 'IPERF3_ERROR' && /connection refused|server is busy|unable to (connect|receive)/i.test(error.message)
        if (!retryable || attempt >= retries) throw error
        await env.sleep(500 * (attempt + 1))
      }
    }
  }

  const cases: CaseResult[] = []
  const zeroLossResults: ZeroLossCaseResult[] = []
  let latency: LatencyResult | null = null
  try {
    await startServer()
    // ---- throughput trials ----------------------------------------------------------------------
    for (const size of caseSizes) {
      const id = `${protocol}-${direction}-${size ?? 'default'}`
      const trialResults: TrialResult[] = []
      for (let i = 1; i <= trials; i += 1) {
        progress({phase: 'throughput', title: `${id}: trial ${i}/${trials}`, detail: `${durationS} s + ${warmupS} s warm-up`, caseId: id, trial: i, trials, secondsLeft: Math.round(secondsLeft)})
        const {run, command, at, elapsedS} = await runClient({protocol, direction, durationS, omitS: warmupS, streams: test.streams, size: size ?? undefined, bitrate: test.bitrate})
        trialResults.push(trialFromIperf3(i, at, run, command, elapsedS))
        secondsLeft = Math.max(0, secondsLeft - trialSeconds)
      }
      cases.push({tool: iperf3Tool.name, ...buildCase({protocol, direction, size, streams: test.streams}, trialResults, noiseThresholdPct)})
    }

    // ---- zero-loss search -----------------------------------------------------------------------
    for (const size of zeroLossSizes) {
      const trial = async (rateBps: number, seconds: number): Promise<TrialOutcome> => {
        const {run} = await runClient({protocol: 'udp', direction, durationS: seconds, omitS: 0, streams: test.streams, size, bitrate: rateBps})
        const lost = (run.forward.lostPackets ?? 0) + (run.reverseFlow?.lostPackets ?? 0)
        const sent = (run.forward.packetsSent ?? 0) + (run.reverseFlow?.packetsSent ?? 0)
        return {
          offeredBps: run.forward.sentBps + (run.reverseFlow?.sentBps ?? 0),
          receivedBps: run.totalReceivedBps,
          lossPct: sent > 0 ? (lost / sent) * 100 : 0,
          receivedPps: (run.forward.receivedPps ?? 0) + (run.reverseFlow?.receivedPps ?? 0),
        }
      }
      const maxRate = options.maxRateBps ?? DEFAULT_MAX_RATE_BPS
      const result = await searchZeroLoss(trial, {
        maxRateBps: maxRate,
        resolutionBps: Math.max(maxRate / 10_000, 100_000),
        resolutionPct: options.resolutionPct ?? 2,
        lossTargetPct,
        searchDurationS: searchS,
        finalDurationS: finalS,
        onTrial: (e) => {
          secondsLeft = Math.max(0, secondsLeft - e.durationS - OVERHEAD_S)
          progress({
            phase: 'zero-loss',
            title: `zero-loss ${size} B: ${e.final ? 'final trial at' : 'tried'} ${formatRate(e.rateBps)} -> loss ${e.outcome.lossPct.toFixed(4)} % (${e.pass ? 'pass' : 'fail'})`,
            detail: `${e.lowBps > 0 ? `passing rate ${formatRate(e.lowBps)}, ` : ''}searching below ${formatRate(e.highBps)}, target <= ${lossTargetPct} % loss`,
            caseId: `zero-loss-${size}`,
            trial: e.index,
            rateBps: e.rateBps,
            secondsLeft: Math.round(secondsLeft),
          })
        },
      })
      zeroLossResults.push({tool: iperf3Tool.name, ...zeroLossCase(size, result)})
    }
  } finally {
    if (handle !== undefined) await handle.stop().catch(() => {})
  }

  // ---- latency ----------------------------------------------------------------------------------
  if (latencyCount > 0) {
    checkAbort(env.signal)
    progress({phase: 'latency', title: `ping ${server.address} from ${client.name} (${latencyCount} samples)`, secondsLeft: Math.round(secondsLeft)})
    const argv = pingArgv(server.address, latencyCount, 0.01)
    const at = env.clock()
    const result = await client.run(argv, {timeoutMs: (latencyCount * 0.01 + 15) * 1000, signal: env.signal})
    const command = log.record(client, argv, at, result.exitCode)
    latency = latencyResult(client.name, server.name, latencyStats(parsePing(result.stdout)), command)
  }

  return {
    startedAt: startedAt.toISOString(),
    finishedAt: env.clock().toISOString(),
    effective: {trials, durationS, warmupS, sizes: caseSizes.filter((s): s is number => s !== null), zeroLoss, lossTargetPct, noiseThresholdPct},
    cases,
    zeroLoss: zeroLossResults,
    latency,
    commands: log.entries,
  }
}
