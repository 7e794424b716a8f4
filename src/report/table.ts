/**
 * The report as a table: plain text for a terminal, Markdown for $GITHUB_STEP_SUMMARY. The same
 * cells in both; degraded results, unverified datapaths and noisy cases are labelled in a Notes
 * column, and threshold verdicts (when thresholds were given) in a Verdict column.
 */
import {type ReportRow, fmtGbps, fmtNumber, fmtPps, rowLabels, sizeLabel} from './rows.js'
import type {Verdict} from './thresholds.js'

export interface Table {
  headers: string[]
  rows: string[][]
  /** Right-aligned columns (numbers). */
  numeric: boolean[]
}

function latencyCell(row: ReportRow): string {
  return row.latencyP50Ms === null ? '-' : `${row.latencyP50Ms.toFixed(3)} / ${(row.latencyP99Ms ?? 0).toFixed(3)}`
}

export function reportTable(rows: readonly ReportRow[], verdicts?: readonly Verdict[]): Table {
  const withVerdict = verdicts !== undefined
  const byKey = new Map((verdicts ?? []).map((v) => [v.row.key, v]))
  const headers = ['Lab', 'Architecture', 'Test', 'Case', 'Size', 'Gbit/s', 'min..max', 'CV %', 'pps', 'Loss %', 'Gbit/s per core', 'RTT p50 / p99 ms']
  const numeric = [false, false, false, false, true, true, true, true, true, true, true, true]
  if (withVerdict) {
    headers.push('Verdict')
    numeric.push(false)
  }
  headers.push('Notes')
  numeric.push(false)
  const out = rows.map((row) => {
    const cells = [
      row.lab,
      row.architecture,
      row.test,
      row.kind === 'zero-loss' ? `zero-loss (<= ${row.lossTargetPct ?? 0} %)${row.found === false ? ' NOT FOUND' : ''}` : row.caseId,
      sizeLabel(row.size),
      fmtGbps(row.gbps),
      row.kind === 'zero-loss' ? '-' : `${fmtGbps(row.minGbps)}..${fmtGbps(row.maxGbps)}`,
      fmtNumber(row.cvPct, 2),
      fmtPps(row.pps),
      fmtNumber(row.lossPct, 4),
      fmtNumber(row.gbpsPerCore, 3),
      latencyCell(row),
    ]
    if (withVerdict) {
      const verdict = byKey.get(row.key)
      const warned = verdict === undefined || verdict.warnings.length === 0 ? '' : ` (warning: ${verdict.warnings.join('; ')})`
      cells.push(verdict === undefined ? '-' : verdict.pass ? `PASS${warned}` : `FAIL: ${verdict.failures.join('; ')}${warned}`)
    }
    cells.push(rowLabels(row).join('; ') || '-')
    return cells
  })
  return {headers, rows: out, numeric}
}

export function renderText(table: Table): string {
  const widths = table.headers.map((h, i) => Math.max(h.length, ...table.rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) => cells.map((c, i) => (table.numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()
  return [line(table.headers), widths.map((w) => '-'.repeat(w)).join('  '), ...table.rows.map(line)].join('\n') + '\n'
}

function mdCell(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll('|', '\\|').replaceAll('\n', ' ')
}

export function renderMarkdown(table: Table, options: {title?: string; footer?: string[]} = {}): string {
  const lines: string[] = []
  if (options.title) lines.push(`### ${options.title}`, '')
  lines.push(`| ${table.headers.map(mdCell).join(' | ')} |`)
  lines.push(`|${table.numeric.map((n) => (n ? ' ---: ' : ' --- ')).join('|')}|`)
  for (const row of table.rows) lines.push(`| ${row.map(mdCell).join(' | ')} |`)
  if (options.footer && options.footer.length > 0) lines.push('', ...options.footer)
  return lines.join('\n') + '\n'
}
