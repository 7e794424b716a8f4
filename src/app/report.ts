/**
 * `virtlab report` and `virtlab compare`: load result files, evaluate thresholds, render one
 * format. Pure apart from reading the results (and writing --out) through HostFs.
 */
import {VirtlabError} from '../errors.js'
import type {HostFs} from '../host/fs.js'
import type {ResultDocument} from '../measure/result-schema.js'
import {type ComparedRow, compareArchitectures, compareTable} from '../report/compare.js'
import {renderJunit} from '../report/junit.js'
import {loadResultFiles} from '../report/load.js'
import {allRows, rowLabels} from '../report/rows.js'
import {renderSvg} from '../report/svg.js'
import {escapeControls, renderMarkdown, renderText, reportTable} from '../report/table.js'
import {type Thresholds, anyThreshold, evaluate} from '../report/thresholds.js'

export type ReportFormat = 'table' | 'markdown' | 'svg' | 'junit'
export const REPORT_FORMATS: readonly ReportFormat[] = ['table', 'markdown', 'svg', 'junit']
export type CompareFormat = 'table' | 'markdown'
export const COMPARE_FORMATS: readonly CompareFormat[] = ['table', 'markdown']

export interface ReportOptions {
  files: string[]
  format: ReportFormat
  out?: string | undefined
  minGbps?: number | undefined
  maxLossPct?: number | undefined
  baseline?: string | undefined
  maxRegressionPct?: number | undefined
}

export interface ReportCaseVerdict {
  key: string
  gbps: number
  pass: boolean
  failures: string[]
  labels: string[]
  changePct?: number
}

export interface ReportOutput {
  format: ReportFormat
  files: string[]
  /** The rendered report (also written to --out when given). */
  text: string
  out: string | undefined
  /** False when a case failed a threshold (or a zero-loss search found no rate). */
  pass: boolean
  cases: ReportCaseVerdict[]
}

function footer(results: readonly ResultDocument[]): string[] {
  const lines: string[] = []
  for (const r of results) {
    const p = r.provenance
    const labels = [...r.degraded, ...(r.datapath.verified ? [] : [`datapath unverified: ${r.datapath.reason ?? 'unknown'}`])]
    lines.push(`- **${r.lab.name}/${r.test.name}** (${r.lab.architecture}${r.datapath.verified ? ', datapath verified' : ''}): kernel ${p.host.kernel ?? '?'}, ${p.host.cpuCount ?? '?'} x ${p.host.cpuModel ?? '?'}, accel ${p.accel ?? '?'}, QEMU ${p.versions.qemu ?? '-'}, iperf3 ${p.versions.iperf3 ?? '-'}, ${r.startedAt}${labels.length > 0 ? ` - **${labels.join('; ')}**` : ''}`)
  }
  return lines
}

export async function reportResults(fs: HostFs, options: ReportOptions): Promise<ReportOutput> {
  if (!REPORT_FORMATS.includes(options.format)) throw new VirtlabError('REPORT_BAD_FLAG', `unknown format ${options.format}`, {hint: `One of ${REPORT_FORMATS.join(', ')}`})
  const loaded = await loadResultFiles(fs, options.files)
  const results = loaded.map((l) => l.result)
  const baseline = options.baseline === undefined ? undefined : (await loadResultFiles(fs, [options.baseline])).map((l) => l.result)
  if (options.maxRegressionPct !== undefined && baseline === undefined) {
    throw new VirtlabError('REPORT_BAD_FLAG', '--max-regression needs --baseline FILE', {hint: 'virtlab report results/*.json --baseline old/results.json --max-regression 10%'})
  }
  const thresholds: Thresholds = {minGbps: options.minGbps, maxLossPct: options.maxLossPct, baseline, maxRegressionPct: options.maxRegressionPct}
  const rows = allRows(results)
  const verdicts = evaluate(rows, thresholds)
  const showVerdicts = anyThreshold(thresholds) || rows.some((r) => r.kind === 'zero-loss')
  let text: string
  switch (options.format) {
    case 'table':
      text = escapeControls(renderText(reportTable(rows, showVerdicts ? verdicts : undefined)))
      break
    case 'markdown':
      text = escapeControls(renderMarkdown(reportTable(rows, showVerdicts ? verdicts : undefined), {title: 'virtlab throughput', footer: footer(results)}))
      break
    case 'svg':
      text = renderSvg(rows)
      break
    case 'junit':
      text = renderJunit(verdicts)
      break
  }
  if (options.out !== undefined) await fs.writeFile(options.out, text, {atomic: true, mode: 0o644})
  return {
    format: options.format,
    files: loaded.map((l) => l.file),
    text,
    out: options.out,
    pass: verdicts.every((v) => v.pass),
    cases: verdicts.map((v) => ({
      key: v.row.key,
      gbps: v.row.gbps,
      pass: v.pass,
      failures: v.failures,
      labels: rowLabels(v.row),
      ...(v.changePct === undefined ? {} : {changePct: v.changePct}),
    })),
  }
}

export interface CompareOptions {
  files: string[]
  format: CompareFormat
  out?: string | undefined
}

export interface CompareOutput {
  format: CompareFormat
  files: string[]
  text: string
  out: string | undefined
  architectures: ComparedRow[]
}

export async function compareResults(fs: HostFs, options: CompareOptions): Promise<CompareOutput> {
  if (!COMPARE_FORMATS.includes(options.format)) throw new VirtlabError('REPORT_BAD_FLAG', `unknown format ${options.format}`, {hint: `One of ${COMPARE_FORMATS.join(', ')}`})
  const loaded = await loadResultFiles(fs, options.files)
  const architectures = compareArchitectures(loaded.map((l) => l.result))
  const table = compareTable(architectures)
  const rendered = options.format === 'markdown'
    ? renderMarkdown(table, {
      title: 'Comparing virtio architectures (measured on this host)',
      footer: ['Throughput, packet rate, latency and CPU cost are measured by `virtlab test`; the other columns are qualitative facts (virtlab\'s summary of the Red Hat virtio-networking series). "not measured": no result for that architecture was given.'],
    })
    : renderText(table)
  const text = escapeControls(rendered)
  if (options.out !== undefined) await fs.writeFile(options.out, text, {atomic: true, mode: 0o644})
  return {format: options.format, files: loaded.map((l) => l.file), text, out: options.out, architectures}
}
