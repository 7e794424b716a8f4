/**
 * `virtlab report` and `virtlab compare`: load result files, evaluate thresholds, render one
 * format. Pure apart from reading the results (and writing --out) through HostFs.
 */
import {VirtlabError} from '../errors.js'
import type {HostFs} from '../host/fs.js'
import type {ResultDocument} from '../measure/result-schema.js'
import {ARCHITECTURES, type ComparedRow, compareArchitectures, compareTable} from '../report/compare.js'
import {renderHtml} from '../report/html.js'
import {renderJunit} from '../report/junit.js'
import {loadResultFiles} from '../report/load.js'
import {allRows, rowLabels} from '../report/rows.js'
import {renderSvg} from '../report/svg.js'
import {renderMarkdown, renderText, reportTable} from '../report/table.js'
import {type Thresholds, anyThreshold, evaluate} from '../report/thresholds.js'

export type ReportFormat = 'table' | 'markdown' | 'svg' | 'junit' | 'html'
export const REPORT_FORMATS: readonly ReportFormat[] = ['table', 'markdown', 'svg', 'junit', 'html']
/** The file each format gets when --out names a directory. */
export const REPORT_FILES: Record<ReportFormat, string> = {table: 'report.txt', markdown: 'report.md', svg: 'report.svg', junit: 'junit.xml', html: 'report.html'}
export const COMPARE_FILES: Record<CompareFormat, string> = {table: 'compare.txt', markdown: 'compare.md'}
export type CompareFormat = 'table' | 'markdown'
export const COMPARE_FORMATS: readonly CompareFormat[] = ['table', 'markdown']

export interface ReportOptions {
  files: string[]
  format: ReportFormat
  out?: string | undefined
  minGbps?: number | undefined
  maxLossPct?: number | undefined
  maxLatencyUs?: number | undefined
  baseline?: string | undefined
  maxRegressionPct?: number | undefined
  allowDegraded?: boolean | undefined
  allowNoisy?: boolean | undefined
}

export interface ReportCaseVerdict {
  key: string
  gbps: number
  pass: boolean
  failures: string[]
  warnings: string[]
  labels: string[]
  durationS: number
  changePct?: number
}

export interface ReportOutput {
  format: ReportFormat
  files: string[]
  /** The rendered report (also written to --out when given; with --out DIR, the --format one). */
  text: string
  out: string | undefined
  /** The files written: --out FILE, or every format's file in --out DIR. */
  written: string[]
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
  const thresholds: Thresholds = {
    minGbps: options.minGbps, maxLossPct: options.maxLossPct, maxLatencyUs: options.maxLatencyUs, baseline, maxRegressionPct: options.maxRegressionPct,
    allowDegraded: options.allowDegraded, allowNoisy: options.allowNoisy,
  }
  const rows = allRows(results)
  const verdicts = evaluate(rows, thresholds)
  const showVerdicts = anyThreshold(thresholds) || rows.some((r) => r.kind === 'zero-loss')
  const render = (format: ReportFormat): string => {
    switch (format) {
      case 'table':
        return renderText(reportTable(rows, showVerdicts ? verdicts : undefined))
      case 'markdown':
        return renderMarkdown(reportTable(rows, showVerdicts ? verdicts : undefined), {title: 'virtlab throughput', footer: footer(results)})
      case 'svg':
        return renderSvg(rows)
      case 'junit':
        return renderJunit(verdicts)
      case 'html':
        return renderHtml({title: 'virtlab throughput', rows, verdicts, gated: anyThreshold(thresholds), table: reportTable(rows, showVerdicts ? verdicts : undefined), results, files: loaded.map((l) => l.file)})
    }
  }
  const text = render(options.format)
  const written = options.out === undefined ? [] : await writeOut(fs, options.out, options.format, text, REPORT_FILES, render)
  return {
    format: options.format,
    files: loaded.map((l) => l.file),
    text,
    out: options.out,
    written,
    pass: verdicts.every((v) => v.pass),
    cases: verdicts.map((v) => ({
      key: v.row.key,
      gbps: v.row.gbps,
      pass: v.pass,
      failures: v.failures,
      warnings: v.warnings,
      labels: rowLabels(v.row),
      durationS: v.row.durationS,
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
  written: string[]
  architectures: ComparedRow[]
}

export async function compareResults(fs: HostFs, options: CompareOptions): Promise<CompareOutput> {
  if (!COMPARE_FORMATS.includes(options.format)) throw new VirtlabError('REPORT_BAD_FLAG', `unknown format ${options.format}`, {hint: `One of ${COMPARE_FORMATS.join(', ')}`})
  const loaded = await loadResultFiles(fs, options.files)
  const architectures = compareArchitectures(loaded.map((l) => l.result))
  const table = compareTable(architectures)
  const render = (format: CompareFormat): string => format === 'markdown'
    ? renderMarkdown(table, {
      title: 'Comparing virtio architectures (measured on this host)',
      footer: [
        'Throughput, packet rate, latency and CPU cost are measured by `virtlab test`; the other columns are qualitative facts (virtlab\'s summary of the Red Hat virtio-networking series). "not measured": no result for that architecture was given.',
        '',
        `Sources: ${ARCHITECTURES.map((a) => `[${a.name}](${a.doc})`).join(', ')}.`,
      ],
    })
    : renderText(table) + `\nSources: ${ARCHITECTURES.map((a) => a.doc).join(', ')}\n`
  const text = render(options.format)
  const written = options.out === undefined ? [] : await writeOut(fs, options.out, options.format, text, COMPARE_FILES, render)
  return {format: options.format, files: loaded.map((l) => l.file), text, out: options.out, written, architectures}
}

/**
 * --out: a file gets the chosen format; an existing directory (or a path ending in /, created)
 * gets every format, each under its own name. A path whose parent does not exist is refused.
 */
async function writeOut<F extends string>(fs: HostFs, out: string, format: F, text: string, names: Record<F, string>, render: (format: F) => string): Promise<string[]> {
  const stat = await fs.stat(out)
  const asDir = stat?.isDirectory === true || out.endsWith('/')
  if (asDir) {
    const dir = out.replace(/\/+$/, '') || '/'
    if (stat === undefined) await fs.mkdir(dir)
    const written: string[] = []
    for (const f of Object.keys(names) as F[]) {
      const file = `${dir}/${names[f]}`
      await fs.writeFile(file, f === format ? text : render(f), {atomic: true, mode: 0o644})
      written.push(file)
    }
    return written
  }
  if (stat !== undefined && !stat.isFile) throw new VirtlabError('REPORT_OUT_INVALID', `--out ${out} exists and is neither a file nor a directory`, {hint: 'Give a file path, or a directory to write every format into.'})
  const parent = out.includes('/') ? out.slice(0, out.lastIndexOf('/')) || '/' : '.'
  const parentStat = await fs.stat(parent)
  if (parentStat?.isDirectory !== true) throw new VirtlabError('REPORT_OUT_INVALID', `--out ${out}: the directory ${parent} does not exist`, {hint: `mkdir -p ${parent}, or end --out with / to have it created and every format written into it.`})
  await fs.writeFile(out, text, {atomic: true, mode: 0o644})
  return [out]
}
