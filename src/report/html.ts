/**
 * `report --format html`: one self-contained page for a CI artifact: the verdict summary, the
 * results table, the chart (inline SVG, the same element tree as --format svg) and the
 * provenance of every result (host, versions, accel, labels, the exact commands run). No scripts,
 * no external resources. Built as an element tree and serialised by the XML builder (every text
 * escaped); elements are never left empty, so the XHTML-style output parses as HTML too.
 */
import {type XmlElement, el, renderXml, textEl} from '../compile/xml.js'
import type {ResultDocument} from '../measure/result-schema.js'
import type {ReportRow} from './rows.js'
import {svgElement} from './svg.js'
import type {Table} from './table.js'
import type {Verdict} from './thresholds.js'

const STYLE = [
  'body { font-family: DejaVu Sans, Verdana, sans-serif; margin: 24px; color: #222; background: #fff; }',
  'h1 { font-size: 20px; margin: 0 0 8px 0; }',
  'h2 { font-size: 16px; margin: 24px 0 8px 0; }',
  'h3 { font-size: 14px; margin: 16px 0 6px 0; }',
  'table { border-collapse: collapse; font-size: 12px; }',
  'th, td { border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; }',
  'th { background: #f2f2f2; text-align: left; }',
  'td.num { text-align: right; font-variant-numeric: tabular-nums; }',
  '.pass { color: #1b5e20; font-weight: bold; }',
  '.fail { color: #b3261e; font-weight: bold; }',
  '.marked { color: #b3261e; }',
  '.chart { overflow-x: auto; }',
  'code { font-size: 11px; }',
  'ul { padding-left: 20px; }',
].join('\n')

function cellText(text: string): string {
  return text === '' ? '-' : text
}

function tableElement(table: Table): XmlElement {
  const notesColumn = table.headers.indexOf('Notes')
  return el('table', {class: 'results'},
    el('thead', {}, el('tr', {}, table.headers.map((h) => textEl('th', h)))),
    el('tbody', {}, table.rows.map((row) => el('tr', {}, row.map((cell, i) => {
      const verdictClass = cell.startsWith('PASS') ? 'pass' : cell.startsWith('FAIL') ? 'fail' : undefined
      const cls = table.numeric[i] ? 'num' : i === notesColumn && cell !== '-' ? 'marked' : verdictClass
      return textEl('td', cellText(cell), {class: cls})
    })))),
  )
}

function provenanceElement(result: ResultDocument): XmlElement {
  const p = result.provenance
  const labels = [...result.degraded, ...(result.datapath.verified ? [] : [`datapath unverified: ${result.datapath.reason ?? 'unknown'}`]), ...(p.accel === 'tcg' ? ['TCG: guests on an emulated CPU; numbers are not representative of KVM'] : [])]
  const facts: [string, string][] = [
    ['architecture', `${result.lab.architecture} (backends ${result.lab.backends.join(', ') || '-'}; driver ${result.lab.driver ?? '-'})`],
    ['datapath', result.datapath.verified ? `verified: ${result.datapath.evidence.join('; ') || '-'}` : `NOT verified: ${result.datapath.reason ?? 'unknown'}`],
    ['accel', p.accel ?? 'unknown'],
    ['host', `kernel ${p.host.kernel ?? '?'}, ${p.host.cpuCount ?? '?'} x ${p.host.cpuModel ?? '?'}`],
    ['versions', `virtlab ${p.virtlab}, QEMU ${p.versions.qemu ?? '-'}, libvirt ${p.versions.libvirt ?? '-'}, OVS ${p.versions.ovs ?? '-'}, DPDK ${p.versions.dpdk ?? '-'}, iperf3 ${p.versions.iperf3 ?? '-'}`],
    ['test', `${result.test.tool} ${result.test.protocol} ${result.test.direction}, ${result.test.client} -> ${result.test.server}, ${result.test.trials} trial(s) x ${result.test.durationS} s (+${result.test.warmupS} s warm-up), ${result.test.streams} stream(s)`],
    ['parameters', Object.entries(result.lab.params).map(([k, v]) => `${k}=${String(v)}`).join(', ') || '-'],
    ['run', `${result.startedAt} .. ${result.finishedAt}`],
  ]
  return el('section', {class: 'provenance'},
    textEl('h3', `${result.lab.name} / ${result.test.name}`),
    labels.length > 0 && el('ul', {class: 'marked'}, labels.map((l) => textEl('li', l))),
    el('table', {}, el('tbody', {}, facts.map(([k, v]) => el('tr', {}, textEl('th', k), textEl('td', cellText(v)))))),
    el('details', {},
      textEl('summary', `${p.commands.length} command(s) run`),
      el('ol', {start: 0}, p.commands.map((c) => el('li', {}, textEl('code', `[${c.endpoint}] ${c.argv.join(' ')}`), ` (exit ${c.exitCode ?? '?'}, ${c.at})`))),
    ),
  )
}

export interface HtmlReport {
  title: string
  rows: readonly ReportRow[]
  verdicts: readonly Verdict[]
  /** Whether thresholds were evaluated (else the summary says none were set). */
  gated: boolean
  table: Table
  results: readonly ResultDocument[]
  files: readonly string[]
}

export function renderHtml(report: HtmlReport): string {
  const failed = report.verdicts.filter((v) => !v.pass)
  const warned = report.verdicts.filter((v) => v.warnings.length > 0)
  const summary = report.gated || failed.length > 0
    ? `${failed.length === 0 ? 'PASS' : 'FAIL'}: ${report.verdicts.length - failed.length} of ${report.verdicts.length} case(s) passed${warned.length > 0 ? `, ${warned.length} with warnings` : ''}`
    : `${report.verdicts.length} case(s); no thresholds were set`
  const html = el('html', {lang: 'en'},
    el('head', {},
      el('meta', {charset: 'utf-8'}),
      textEl('title', report.title),
      textEl('style', STYLE),
    ),
    el('body', {},
      textEl('h1', report.title),
      textEl('p', summary, {class: failed.length === 0 ? 'pass' : 'fail', id: 'summary'}),
      failed.length > 0 && el('ul', {class: 'fail'}, failed.map((v) => textEl('li', `${v.row.key}: ${v.failures.join('; ')}`))),
      warned.length > 0 && el('ul', {class: 'marked'}, warned.map((v) => textEl('li', `${v.row.key}: ${v.warnings.join('; ')}`))),
      textEl('h2', 'Results'),
      tableElement(report.table),
      textEl('h2', 'Chart'),
      el('div', {class: 'chart'}, report.rows.length > 0 ? svgElement(report.rows) : 'no cases'),
      textEl('h2', 'Provenance'),
      el('p', {}, `From ${report.files.join(', ')}.`),
      report.results.map(provenanceElement),
    ),
  )
  return '<!DOCTYPE html>\n' + renderXml(html)
}
