/**
 * Zero-loss (NDR/PDR) throughput search, RFC 2544 §26.1 style as NFVbench/trafficgen do it:
 * binary search on the offered rate between 0 and a maximum, with short search trials; a rate
 * passes when the loss is at or under the target (0 % = NDR, e.g. 0.001 % for a PDR-like target).
 * The search stops when the interval [pass, fail) is narrower than the resolution; then one longer
 * final trial at the found rate confirms it. A failed final trial (noise, a longer trial sees more
 * loss) lowers the upper bound to that rate and the search continues below it with trials as long
 * as the final one (the short ones proved unrepresentative), up to maxFinals times.
 *
 * Pure: the trial is injected (`trial(rateBps, durationS)`), so the algorithm is tested on a
 * simulated link; the runner plugs in iperf3 UDP trials.
 *
 * Accuracy: when the search ends with found rate R, a trial at R passed and a trial at some rate
 * below R + resolution failed; on a noise-free link whose loss starts at C, R is in (C - resolution, C]
 * (with resolutionPct p: R is in (C / (1 + p/100), C]).
 */
import {VirtlabError} from '../errors.js'

export interface TrialOutcome {
  /** The rate the sender actually achieved (iperf3 may fall short of -b). */
  offeredBps: number
  receivedBps: number
  lossPct: number
  /** Packets per second that arrived, when the tool reports it. */
  receivedPps?: number | undefined
}

export type TrialFn = (rateBps: number, durationS: number) => Promise<TrialOutcome>

export interface ZeroLossOptions {
  /** Where the search starts (the highest rate tried), bit/s. */
  maxRateBps: number
  /** Stop when the pass/fail interval is narrower than this (bit/s); default 1 % of maxRateBps. */
  resolutionBps?: number
  /** Also stop when the interval is narrower than this percentage of the passing rate (default: off). */
  resolutionPct?: number
  /** Give up (found: false) when even this rate loses too much; default = resolution. */
  minRateBps?: number
  /** Loss allowed, in percent (0 = no loss at all). */
  lossTargetPct?: number
  searchDurationS?: number
  finalDurationS?: number
  /** How many final trials may fail before the search gives up on confirming (default 3). */
  maxFinals?: number
  /** Upper bound on search trials (default 64). */
  maxTrials?: number
  onTrial?: (event: ZeroLossTrialEvent) => void
}

export interface ZeroLossTrial extends TrialOutcome {
  rateBps: number
  durationS: number
  pass: boolean
  final: boolean
}

export interface ZeroLossTrialEvent {
  index: number
  rateBps: number
  durationS: number
  final: boolean
  lowBps: number
  highBps: number
  outcome: TrialOutcome
  pass: boolean
}

export interface ZeroLossResult {
  /** Was a rate at or under the loss target found and confirmed by the final trial? */
  found: boolean
  /** The highest rate that passed (the -b given), bit/s; 0 when none passed. */
  rateBps: number
  /** The final trial at that rate (what is reported: offered/received rates, loss, pps). */
  final: ZeroLossTrial | undefined
  lossTargetPct: number
  resolutionBps: number
  /** The last failing rate above the found one (undefined when the maximum itself passed). */
  failedAboveBps: number | undefined
  /** The maximum passed: the path may do more than maxRateBps. */
  atMaximum: boolean
  trials: ZeroLossTrial[]
}

export const DEFAULT_SEARCH_DURATION_S = 2
export const DEFAULT_FINAL_DURATION_S = 10

export function passes(outcome: TrialOutcome, lossTargetPct: number): boolean {
  return outcome.lossPct <= lossTargetPct + 1e-12
}

export async function searchZeroLoss(trial: TrialFn, options: ZeroLossOptions): Promise<ZeroLossResult> {
  const max = options.maxRateBps
  if (!(max > 0) || !Number.isFinite(max)) throw new VirtlabError('MEASURE_BAD_SPEC', `zero-loss search needs a positive maximum rate, got ${max}`)
  const resolution = options.resolutionBps ?? max / 100
  if (!(resolution > 0) || resolution >= max) throw new VirtlabError('MEASURE_BAD_SPEC', `zero-loss resolution must be in (0, ${max}), got ${resolution}`)
  const minRate = options.minRateBps ?? resolution
  const target = options.lossTargetPct ?? 0
  if (!(target >= 0 && target < 100)) throw new VirtlabError('MEASURE_BAD_SPEC', `loss target must be in [0, 100) %, got ${target}`)
  const searchS = options.searchDurationS ?? DEFAULT_SEARCH_DURATION_S
  const finalS = options.finalDurationS ?? DEFAULT_FINAL_DURATION_S
  const maxFinals = options.maxFinals ?? 3
  const maxTrials = options.maxTrials ?? 64

  const relative = options.resolutionPct ?? 0
  const narrow = (low: number, high: number): boolean => high - low <= resolution || (relative > 0 && low > 0 && ((high - low) / low) * 100 <= relative)
  const trials: ZeroLossTrial[] = []
  let low = 0 // highest rate known to pass (0: none yet)
  let high = max // lowest rate known to fail, or max before it was tried
  let highFailed = false

  const run = async (rate: number, durationS: number, final: boolean): Promise<ZeroLossTrial> => {
    const outcome = await trial(rate, durationS)
    const pass = passes(outcome, target)
    const record: ZeroLossTrial = {rateBps: rate, durationS, pass, final, ...outcome}
    trials.push(record)
    options.onTrial?.({index: trials.length, rateBps: rate, durationS, final, lowBps: low, highBps: high, outcome, pass})
    return record
  }

  // After a final trial failed, short trials have proven unrepresentative: search with long ones.
  let trialS = searchS
  const search = async (): Promise<void> => {
    // First the maximum itself, unless it is already known to fail.
    if (!highFailed && low === 0) {
      const first = await run(high, trialS, false)
      if (first.pass) {
        low = high
        return
      }
      highFailed = true
    }
    let count = 0
    while (!narrow(low, high) && count < maxTrials) {
      const mid = (low + high) / 2
      if (mid < minRate && low === 0) {
        // Even the bottom of the range fails: one try at the minimum, then give up.
        const bottom = await run(minRate, trialS, false)
        if (bottom.pass) low = minRate
        else high = minRate
        return
      }
      const result = await run(mid, trialS, false)
      if (result.pass) low = mid
      else {
        high = mid
        highFailed = true
      }
      count += 1
    }
  }

  let final: ZeroLossTrial | undefined
  for (let attempt = 0; attempt < maxFinals; attempt += 1) {
    await search()
    if (low === 0) break
    final = await run(low, finalS, true)
    if (final.pass) break
    // The longer trial lost too much at `low`: it is the new upper bound, and the search goes on
    // below it with trials as long as the final one.
    high = low
    highFailed = true
    low = 0
    final = undefined
    trialS = finalS
    // Restart the search below the failed rate; the bottom of the range is still 0.
    if (high <= minRate) break
  }

  return {
    found: final !== undefined && final.pass,
    rateBps: final?.pass ? final.rateBps : 0,
    final,
    lossTargetPct: target,
    resolutionBps: resolution,
    failedAboveBps: highFailed ? high : undefined,
    atMaximum: final?.pass === true && final.rateBps >= max,
    trials,
  }
}

/** Packets per second for a rate and a datagram payload size (when the tool gives no packet count). */
export function ppsFor(bitsPerSecond: number, payloadBytes: number): number {
  return payloadBytes > 0 ? bitsPerSecond / (payloadBytes * 8) : 0
}
