/**
 * Zero-loss throughput in packets per second with RFC 2544 §26.1 / MLRsearch semantics
 * (https://datatracker.ietf.org/doc/html/rfc2544#section-26.1,
 * https://datatracker.ietf.org/doc/draft-ietf-bmwg-mlrsearch/):
 *
 * - NDR (non-drop rate): the highest offered rate at which a trial loses nothing (0 %).
 * - PDR (partial-drop rate): the highest offered rate at which a trial loses at most the stated
 *   loss ratio (default 0.5 %).
 * - Short search trials narrow [lower, upper) (lower: a rate that passed; upper: a rate that failed)
 *   by bisection until the interval is narrower than the stated width (relative to upper, in
 *   percent, and/or absolute pps); then one longer final trial at the lower bound confirms it. When
 *   the final trial fails, its rate becomes the upper bound and the search goes on below it with
 *   trials as long as the final one (the short ones proved optimistic).
 * - Every trial counts for both targets (MLRsearch's reuse): a trial that lost 0.1 % is a pass
 *   for a 0.5 % PDR and a fail for NDR; the NDR search starts from what the PDR search learned.
 *   A trial's result bounds a search phase only when it lasted at least that phase's trial length.
 * - `rfc2544`: every trial (search and final) lasts 60 s, as RFC 2544 §24 asks.
 *
 * Pure: the trial is injected (`trial(pps, seconds)` returns what was sent and received), so the
 * search is tested on a simulated link with a known loss threshold.
 *
 * Accuracy: on a noise-free link whose loss starts above C, a found bound B satisfies
 * B <= C < B + width (the width being the larger of widthPps and widthPct % of the upper bound).
 */
import {VirtlabError} from '../errors.js'

export interface PpsTrialOutcome {
  /** Packets the generator sent in the trial. */
  sent: number
  /** Packets that arrived. */
  received: number
  /** The rate the generator really achieved, pps (it may fall short of the asked rate). */
  offeredPps?: number | undefined
}

export type PpsTrialFn = (pps: number, durationS: number) => Promise<PpsTrialOutcome>

export interface NdrPdrOptions {
  /** Upper end of the search (the highest rate the generator can offer), pps. */
  maxPps: number
  /** Below this, give up (not found). Default maxPps / 1000. */
  minPps?: number | undefined
  /** Stop bisecting when (upper - lower) / upper is at most this percentage. Default 0.5 %. */
  widthPct?: number | undefined
  /** ...or when upper - lower is at most this many pps. Default: unused. */
  widthPps?: number | undefined
  /** The PDR loss ratio, percent. Default 0.5. */
  pdrLossPct?: number | undefined
  /** Search trial length, seconds. Default 1. */
  searchTrialS?: number | undefined
  /** Final (confirming) trial length, seconds. Default 10. */
  finalTrialS?: number | undefined
  /** RFC 2544 mode: 60 s trials throughout. */
  rfc2544?: boolean | undefined
  /** Upper bound on trials per target (default 64). */
  maxTrials?: number | undefined
  onTrial?: ((trial: NdrPdrTrial) => void) | undefined
}

export interface NdrPdrTrial {
  index: number
  pps: number
  durationS: number
  sent: number
  received: number
  lost: number
  lossPct: number
  offeredPps: number | undefined
  /** The target this trial was run for, and whether it was that target's final trial. */
  target: 'ndr' | 'pdr'
  final: boolean
}

export interface RateBound {
  /** The loss ratio this bound is for, percent (0 for NDR). */
  lossTargetPct: number
  found: boolean
  /** The highest rate confirmed by a passing final trial (0 when not found), pps. */
  pps: number
  /** The lowest rate that failed above it (undefined: the maximum passed). */
  upperPps: number | undefined
  /** (upper - lower) / upper in percent at the end, or undefined when the maximum passed. */
  widthPct: number | undefined
  /** The maximum passed: the path may do more than the generator offered. */
  atMaximum: boolean
  /** The confirming trial. */
  final: NdrPdrTrial | undefined
}

export interface NdrPdrResult {
  ndr: RateBound
  pdr: RateBound
  /** The stated width goal and trial lengths actually used. */
  widthPct: number
  widthPps: number | undefined
  searchTrialS: number
  finalTrialS: number
  rfc2544: boolean
  trials: NdrPdrTrial[]
}

export const RFC2544_TRIAL_S = 60
export const DEFAULT_PDR_LOSS_PCT = 0.5
export const DEFAULT_WIDTH_PCT = 0.5

export function lossPctOf(outcome: PpsTrialOutcome): number {
  if (!(outcome.sent > 0)) return 100
  return (Math.max(0, outcome.sent - outcome.received) / outcome.sent) * 100
}

function positive(what: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback
  if (!(v > 0) || !Number.isFinite(v)) throw new VirtlabError('MEASURE_BAD_SPEC', `NDR/PDR search: ${what} must be a positive number, got ${v}`)
  return v
}

export async function searchNdrPdr(trial: PpsTrialFn, options: NdrPdrOptions): Promise<NdrPdrResult> {
  const max = positive('maxPps', options.maxPps, 0)
  const minPps = positive('minPps', options.minPps, max / 1000)
  if (minPps >= max) throw new VirtlabError('MEASURE_BAD_SPEC', `NDR/PDR search: minPps (${minPps}) must be below maxPps (${max})`)
  const widthPct = positive('widthPct', options.widthPct, DEFAULT_WIDTH_PCT)
  const widthPps = options.widthPps === undefined ? undefined : positive('widthPps', options.widthPps, 1)
  const pdrLoss = options.pdrLossPct ?? DEFAULT_PDR_LOSS_PCT
  if (!(pdrLoss > 0 && pdrLoss < 100)) throw new VirtlabError('MEASURE_BAD_SPEC', `NDR/PDR search: the PDR loss ratio must be in (0, 100) %, got ${pdrLoss}`)
  const rfc2544 = options.rfc2544 === true
  const searchS = rfc2544 ? RFC2544_TRIAL_S : positive('searchTrialS', options.searchTrialS, 1)
  const finalS = rfc2544 ? RFC2544_TRIAL_S : positive('finalTrialS', options.finalTrialS, 10)
  if (finalS < searchS) throw new VirtlabError('MEASURE_BAD_SPEC', `NDR/PDR search: the final trial (${finalS} s) must not be shorter than the search trials (${searchS} s)`)
  const maxTrials = options.maxTrials ?? 64
  const trials: NdrPdrTrial[] = []

  const narrow = (lower: number, upper: number): boolean => ((upper - lower) / upper) * 100 <= widthPct || (widthPps !== undefined && upper - lower <= widthPps)

  const run = async (pps: number, durationS: number, target: 'ndr' | 'pdr', final: boolean): Promise<NdrPdrTrial> => {
    const outcome = await trial(pps, durationS)
    const lossPct = lossPctOf(outcome)
    const record: NdrPdrTrial = {
      index: trials.length + 1, pps, durationS, sent: outcome.sent, received: outcome.received,
      lost: Math.max(0, outcome.sent - outcome.received), lossPct, offeredPps: outcome.offeredPps, target, final,
    }
    trials.push(record)
    options.onTrial?.(record)
    return record
  }

  const searchFor = async (target: 'ndr' | 'pdr', lossTarget: number): Promise<RateBound> => {
    const passes = (t: NdrPdrTrial) => t.lossPct <= lossTarget + 1e-12
    let phaseS = searchS
    let count = 0
    // Bounds from every trial long enough for this phase (reuse across targets).
    const bounds = (): {lower: number; upper: number | undefined} => {
      const usable = trials.filter((t) => t.durationS >= phaseS)
      const upper = Math.min(...usable.filter((t) => !passes(t)).map((t) => t.pps))
      const lower = Math.max(0, ...usable.filter((t) => passes(t) && t.pps < upper).map((t) => t.pps))
      return {lower, upper: Number.isFinite(upper) ? upper : undefined}
    }
    for (;;) {
      let {lower, upper} = bounds()
      if (upper === undefined && lower < max) {
        // Nothing failed yet: try the maximum.
        await run(max, phaseS, target, false)
        count += 1
        ;({lower, upper} = bounds())
      }
      while (upper !== undefined && !(lower > 0 && narrow(lower, upper)) && count < maxTrials) {
        if (lower === 0 && upper <= minPps) break
        const next = lower === 0 ? Math.max(minPps, upper / 2) : (lower + upper) / 2
        await run(next, phaseS, target, false)
        count += 1
        ;({lower, upper} = bounds())
      }
      if (lower === 0) {
        return {lossTargetPct: lossTarget, found: false, pps: 0, upperPps: upper, widthPct: undefined, atMaximum: false, final: undefined}
      }
      const final = await run(lower, finalS, target, true)
      count += 1
      if (passes(final)) {
        return {
          lossTargetPct: lossTarget,
          found: true,
          pps: lower,
          upperPps: upper,
          widthPct: upper === undefined ? undefined : ((upper - lower) / upper) * 100,
          atMaximum: upper === undefined,
          final,
        }
      }
      // The long trial lost too much: from now on only trials as long as the final one count.
      phaseS = finalS
      if (count >= maxTrials) {
        return {lossTargetPct: lossTarget, found: false, pps: 0, upperPps: lower, widthPct: undefined, atMaximum: false, final}
      }
    }
  }

  const pdr = await searchFor('pdr', pdrLoss)
  const ndr = await searchFor('ndr', 0)
  return {ndr, pdr, widthPct, widthPps, searchTrialS: searchS, finalTrialS: finalS, rfc2544, trials}
}
