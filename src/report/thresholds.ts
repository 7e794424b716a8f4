/**
 * Pass/fail of each report row against thresholds: a minimum throughput (--min-gbps), a maximum
 * loss (--max-loss), and a maximum regression against a baseline result (--baseline FILE
 * --max-regression 10%). Each failure names the threshold it broke.
 */
import {VirtlabError} from '../errors.js'
import type {ResultDocument} from '../measure/result-schema.js'
import {type ReportRow, allRows, fmtGbps} from './rows.js'

export interface Thresholds {
  minGbps?: number | undefined
  maxLossPct?: number | undefined
  baseline?: readonly ResultDocument[] | undefined
  /** Allowed drop below the baseline, percent (default 10 when a baseline is given). */
  maxRegressionPct?: number | undefined
}

export interface Verdict {
  row: ReportRow
  pass: boolean
  failures: string[]
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

export function evaluate(rows: readonly ReportRow[], thresholds: Thresholds): Verdict[] {
  const baselineRows = new Map(allRows(thresholds.baseline ?? []).map((r) => [r.key, r]))
  const maxRegression = thresholds.maxRegressionPct ?? DEFAULT_MAX_REGRESSION_PCT
  return rows.map((row) => {
    const failures: string[] = []
    const verdict: Verdict = {row, pass: true, failures}
    if (row.kind === 'zero-loss' && row.found === false) {
      failures.push(`no rate met the loss target of ${row.lossTargetPct ?? 0} % (zero-loss search)`)
    }
    if (thresholds.minGbps !== undefined && row.gbps < thresholds.minGbps) {
      failures.push(`throughput ${fmtGbps(row.gbps)} Gbit/s is below --min-gbps ${thresholds.minGbps}`)
    }
    if (thresholds.maxLossPct !== undefined && row.lossPct !== null && row.lossPct > thresholds.maxLossPct) {
      failures.push(`loss ${row.lossPct} % is above --max-loss ${thresholds.maxLossPct} %`)
    }
    const base = baselineRows.get(row.key)
    if (base !== undefined && base.gbps > 0) {
      const changePct = ((row.gbps - base.gbps) / base.gbps) * 100
      verdict.baselineGbps = base.gbps
      verdict.changePct = Math.round(changePct * 100) / 100
      if (changePct < -maxRegression) {
        failures.push(`throughput ${fmtGbps(row.gbps)} Gbit/s is ${(-changePct).toFixed(1)} % below the baseline ${fmtGbps(base.gbps)} Gbit/s (--max-regression ${maxRegression} %)`)
      }
    }
    verdict.pass = failures.length === 0
    return verdict
  })
}

export function anyThreshold(thresholds: Thresholds): boolean {
  return thresholds.minGbps !== undefined || thresholds.maxLossPct !== undefined || (thresholds.baseline?.length ?? 0) > 0
}
