/**
 * Result documents flattened into report rows: one row per throughput case and one per zero-loss
 * size, each carrying the lab, its architecture, the degraded labels and the datapath verdict, so
 * every report format can label degraded / unverified results the same way.
 */
import type {ResultDocument} from '../measure/result-schema.js'

export interface ReportRow {
  /** Stable key: <lab>/<test>/<case>. */
  key: string
  lab: string
  architecture: string
  test: string
  kind: 'throughput' | 'zero-loss'
  caseId: string
  protocol: 'tcp' | 'udp'
  direction: string
  size: number | null
  streams: number
  trials: number
  /** Median Gbit/s (received). Zero-loss: the received rate of the final trial at the found rate. */
  gbps: number
  minGbps: number
  maxGbps: number
  cvPct: number | null
  noisy: boolean
  /** Packets per second (UDP), median. */
  pps: number | null
  lossPct: number | null
  gbpsPerCore: number | null
  /** Zero-loss only: was a rate found and confirmed; the loss target. */
  found?: boolean
  lossTargetPct?: number
  latencyP50Ms: number | null
  latencyP99Ms: number | null
  degraded: string[]
  datapathVerified: boolean
  datapathReason: string | undefined
  /** The accelerator the guests ran on (tcg: emulated CPU, numbers are not representative). */
  accel: 'kvm' | 'tcg' | null
  /** Seconds the case took: the trials' recorded wall-clock time (older results: the configured duration + warm-up per trial). */
  durationS: number
}

/** Labels a reader must see next to a number: degraded paths and an unverified datapath. */
export function rowLabels(row: Pick<ReportRow, 'degraded' | 'datapathVerified' | 'datapathReason' | 'noisy'> & {accel?: ReportRow['accel']}): string[] {
  const labels = [...row.degraded.map((d) => (d.toLowerCase().startsWith('degraded') ? d : `degraded: ${d}`))]
  if (!row.datapathVerified) labels.push(`datapath unverified${row.datapathReason ? `: ${row.datapathReason}` : ''}`)
  if (row.noisy) labels.push('noisy (CV above threshold)')
  if (row.accel === 'tcg') labels.push('TCG (emulated CPU: not representative)')
  return labels
}

export function rowsOf(result: ResultDocument): ReportRow[] {
  const common = {
    lab: result.lab.name,
    architecture: result.lab.architecture,
    test: result.test.name,
    latencyP50Ms: result.latency?.p50Ms ?? null,
    latencyP99Ms: result.latency?.p99Ms ?? null,
    degraded: result.degraded,
    datapathVerified: result.datapath.verified,
    datapathReason: result.datapath.reason,
    accel: result.provenance.accel,
  }
  const configuredS = result.test.durationS + result.test.warmupS
  const rows: ReportRow[] = result.cases.map((c) => ({
    ...common,
    key: `${result.lab.name}/${result.test.name}/${c.id}`,
    kind: 'throughput',
    caseId: c.id,
    protocol: c.protocol,
    direction: c.direction,
    size: c.size,
    streams: c.streams,
    trials: c.trials.length,
    gbps: c.throughput.median,
    minGbps: c.throughput.min,
    maxGbps: c.throughput.max,
    cvPct: c.throughput.cvPct,
    noisy: c.noisy,
    pps: c.pps?.median ?? null,
    lossPct: c.lossPct?.median ?? null,
    gbpsPerCore: c.cpu?.gbpsPerCore ?? null,
    durationS: roundS(c.trials.reduce((sum, t) => sum + (t.elapsedS ?? configuredS), 0)),
  }))
  for (const z of result.zeroLoss) {
    const gbps = z.gbps ?? 0
    rows.push({
      ...common,
      key: `${result.lab.name}/${result.test.name}/zero-loss-${z.size}`,
      kind: 'zero-loss',
      caseId: `zero-loss-${z.size}`,
      protocol: 'udp',
      direction: result.test.direction,
      size: z.size,
      streams: result.test.streams,
      trials: z.trials.length,
      gbps,
      minGbps: gbps,
      maxGbps: gbps,
      cvPct: null,
      noisy: false,
      pps: z.pps,
      lossPct: z.lossPct,
      gbpsPerCore: null,
      found: z.found,
      lossTargetPct: z.lossTargetPct,
      durationS: roundS(z.trials.reduce((sum, t) => sum + t.durationS, 0)),
    })
  }
  return rows
}

function roundS(seconds: number): number {
  return Math.round(seconds * 1000) / 1000
}

export function allRows(results: readonly ResultDocument[]): ReportRow[] {
  return results.flatMap(rowsOf)
}

/** Numbers for people: 3 significant decimals for Gbit/s, thousands for pps. */
export function fmtGbps(value: number): string {
  return value.toFixed(value >= 100 ? 1 : 3)
}

export function fmtPps(value: number | null): string {
  if (value === null) return '-'
  if (value >= 1e6) return `${(value / 1e6).toFixed(3)} Mpps`
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} kpps`
  return `${value.toFixed(0)} pps`
}

export function fmtNumber(value: number | null, digits = 3, suffix = ''): string {
  return value === null ? '-' : `${value.toFixed(digits)}${suffix}`
}

export function sizeLabel(size: number | null): string {
  return size === null ? 'default' : `${size} B`
}
