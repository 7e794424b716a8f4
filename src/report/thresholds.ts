/**
 * Pass/fail of each report row against thresholds: a minimum throughput (--min-gbps), a maximum
 * loss (--max-loss), a maximum RTT (--max-latency-us, on the p99), and a maximum regression
 * against a baseline result (--baseline FILE --max-regression 10%). Each failure names the
 * threshold it broke.
 *
 * A gate means it:
 * - when any threshold is set, a degraded result or one whose datapath was not verified fails
 *   (the number was not measured on the architecture it is labelled with) unless allowDegraded;
 * - with a baseline, a case the baseline lacks fails (nothing to compare it with);
 * - a regression gate narrower than the measured noise (the larger CV of the two results) cannot
 *   tell a regression from noise: unless the drop exceeds gate + CV, the case fails as
 *   inconclusive, saying so, unless allowNoisy (then it passes with a warning).
 */
import {VirtlabError} from '../errors.js'
import type {ResultDocument} from '../measure/result-schema.js'
import {type ReportRow, allRows, fmtGbps} from './rows.js'

export interface Thresholds {
  minGbps?: number | undefined
  maxLossPct?: number | undefined
  /** Maximum RTT p99, microseconds. */
  maxLatencyUs?: number | undefined
  baseline?: readonly ResultDocument[] | undefined
  /** Allowed drop below the baseline, percent (default 10 when a baseline is given). */
  maxRegressionPct?: number | undefined
  /** Let degraded / unverified results pass a threshold (they are still labelled). */
  allowDegraded?: boolean | undefined
  /** Let a regression gate narrower than the measured CV pass with a warning instead of failing. */
  allowNoisy?: boolean | undefined
}

export interface Verdict {
  row: ReportRow
  pass: boolean
  failures: string[]
  /** Things the reader must know about a verdict that did not fail on them. */
  warnings: string[]
  baselineGbps?: number
  /** Change against the baseline, percent (negative: slower). */
  changePct?: number
}

export const DEFAULT_MAX_REGRESSION_PCT = 10

/** "10%", "10", "0.5 %" -> number (percent). */
export function parsePercent(text: string, flag: string): number {
  const match = /^\s*([0-9]+(?:\.[0-9]+)?)\s*%?\s*$/.exec(text)
  if (!match) throw new VirtlabError('REPORT_BAD_FLAG', `${flag} must be a percentage like 10% or 0.5, got "${text}"`)
  return Number(match[1])
}

export function anyThreshold(thresholds: Thresholds): boolean {
  return thresholds.minGbps !== undefined || thresholds.maxLossPct !== undefined || thresholds.maxLatencyUs !== undefined || (thresholds.baseline?.length ?? 0) > 0
}

function degradedFailures(row: ReportRow): string[] {
  const out: string[] = []
  if (row.degraded.length > 0) out.push(`the result is degraded (${row.degraded.map((d) => d.replace(/^degraded:\s*/i, '')).join('; ')}): a threshold does not pass on it (--allow-degraded to accept)`)
  if (!row.datapathVerified) out.push(`the datapath was not verified${row.datapathReason ? ` (${row.datapathReason})` : ''}: a threshold does not pass on it (--allow-degraded to accept)`)
  return out
}

export function evaluate(rows: readonly ReportRow[], thresholds: Thresholds): Verdict[] {
  const baselineRows = new Map(allRows(thresholds.baseline ?? []).map((r) => [r.key, r]))
  const hasBaseline = (thresholds.baseline?.length ?? 0) > 0
  const maxRegression = thresholds.maxRegressionPct ?? DEFAULT_MAX_REGRESSION_PCT
  const gated = anyThreshold(thresholds)
  return rows.map((row) => {
    const failures: string[] = []
    const warnings: string[] = []
    const verdict: Verdict = {row, pass: true, failures, warnings}
    if (row.kind === 'zero-loss' && row.found === false) {
      failures.push(`no rate met the loss target of ${row.lossTargetPct ?? 0} % (zero-loss search)`)
    }
    if (gated) {
      const degraded = degradedFailures(row)
      if (thresholds.allowDegraded) warnings.push(...degraded.map((d) => d.replace(/: a threshold does not pass on it \(--allow-degraded to accept\)$/, ' (accepted: --allow-degraded)')))
      else failures.push(...degraded)
    }
    if (thresholds.minGbps !== undefined && row.gbps < thresholds.minGbps) {
      failures.push(`throughput ${fmtGbps(row.gbps)} Gbit/s is below --min-gbps ${thresholds.minGbps}`)
    }
    if (thresholds.maxLossPct !== undefined && row.lossPct !== null && row.lossPct > thresholds.maxLossPct) {
      failures.push(`loss ${row.lossPct} % is above --max-loss ${thresholds.maxLossPct} %`)
    }
    if (thresholds.maxLatencyUs !== undefined) {
      if (row.latencyP99Ms === null) {
        failures.push(`no latency was measured (run \`virtlab test\` with --latency-samples > 0) but --max-latency-us ${thresholds.maxLatencyUs} is set`)
      } else {
        const p99Us = row.latencyP99Ms * 1000
        if (p99Us > thresholds.maxLatencyUs) failures.push(`RTT p99 ${p99Us.toFixed(1)} us is above --max-latency-us ${thresholds.maxLatencyUs}`)
      }
    }
    if (hasBaseline) {
      const base = baselineRows.get(row.key)
      if (base === undefined) {
        failures.push(`${row.key} is not in the baseline: nothing to compare it with (the baseline has ${[...baselineRows.keys()].join(', ') || 'no cases'})`)
      } else if (base.gbps > 0) {
        const changePct = ((row.gbps - base.gbps) / base.gbps) * 100
        verdict.baselineGbps = base.gbps
        verdict.changePct = Math.round(changePct * 100) / 100
        const noise = Math.max(row.cvPct ?? 0, base.cvPct ?? 0)
        const regressed = changePct < -maxRegression
        const what = `throughput ${fmtGbps(row.gbps)} Gbit/s is ${Math.abs(changePct).toFixed(1)} % ${changePct < 0 ? 'below' : 'above'} the baseline ${fmtGbps(base.gbps)} Gbit/s`
        if (noise > maxRegression && changePct >= -(maxRegression + noise)) {
          const inconclusive = `inconclusive: ${what}, but the measured CV (${noise.toFixed(1)} %) is larger than the --max-regression ${maxRegression} % gate, so noise and a regression cannot be told apart (more trials, a quieter host, or a wider gate)`
          if (thresholds.allowNoisy) warnings.push(`${inconclusive} (accepted: --allow-noisy)`)
          else failures.push(inconclusive)
        } else if (regressed) {
          failures.push(`${what} (--max-regression ${maxRegression} %${noise > maxRegression ? `; beyond the measured CV of ${noise.toFixed(1)} % too` : ''})`)
        }
      }
    }
    verdict.pass = failures.length === 0
    return verdict
  })
}
