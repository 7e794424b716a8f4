/**
 * Summary statistics of repeated trials: median, min, max, mean, sample standard deviation and
 * the coefficient of variation (stddev / mean, in percent). A result whose CV is above a threshold
 * (default 5 %) is flagged noisy: its median should not be trusted to a few percent.
 */

export const DEFAULT_NOISE_THRESHOLD_PCT = 5

export interface Stats {
  n: number
  median: number
  min: number
  max: number
  mean: number
  /** Sample standard deviation (n - 1); 0 for a single value. */
  stddev: number
  /** Coefficient of variation in percent (stddev / mean * 100); 0 when the mean is 0. */
  cvPct: number
}

/** Linear-interpolation percentile (the "R-7" / numpy default) of unsorted values, p in [0, 100]. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError('percentile of an empty list')
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} is outside 0..100`)
  const sorted = [...values].sort((a, b) => a - b)
  const rank = (p / 100) * (sorted.length - 1)
  const lower = Math.floor(rank)
  const upper = Math.ceil(rank)
  const lo = sorted[lower] as number
  const hi = sorted[upper] as number
  return lo + (hi - lo) * (rank - lower)
}

export function median(values: readonly number[]): number {
  return percentile(values, 50)
}

export function summarize(values: readonly number[]): Stats {
  if (values.length === 0) throw new RangeError('no values to summarize')
  const n = values.length
  const mean = values.reduce((sum, v) => sum + v, 0) / n
  const variance = n > 1 ? values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (n - 1) : 0
  const stddev = Math.sqrt(variance)
  return {
    n,
    median: median(values),
    min: Math.min(...values),
    max: Math.max(...values),
    mean,
    stddev,
    cvPct: mean === 0 ? 0 : (stddev / Math.abs(mean)) * 100,
  }
}

/** Noisy: more than one trial and a coefficient of variation above the threshold. */
export function isNoisy(stats: Stats, thresholdPct = DEFAULT_NOISE_THRESHOLD_PCT): boolean {
  return stats.n > 1 && stats.cvPct > thresholdPct
}

/** Round for display/serialisation without losing meaningful digits. */
export function round(value: number, digits = 6): number {
  const factor = 10 ** digits
  return Math.round(value * factor) / factor
}
