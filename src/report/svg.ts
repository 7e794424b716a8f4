/**
 * An SVG bar chart: median throughput per lab (architecture) and case/size, with min..max whiskers
 * over the trials. Built as an element tree and serialised by fast-xml-parser's XMLBuilder
 * (src/compile/xml.ts), never by concatenating markup; deterministic (same results -> same bytes).
 * Degraded results get a hatched bar and "(degraded)" in their label; unverified datapaths "(unverified)".
 */
import {type XmlElement, el, renderXml, textEl} from '../compile/xml.js'
import {type ReportRow, fmtGbps, rowLabels, sizeLabel} from './rows.js'

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac']

const BAR = 28
const GAP = 8
const GROUP_GAP = 40
const LEFT = 70
const TOP = 50
const PLOT_HEIGHT = 260
const BOTTOM = 120

function n(value: number): string {
  return value.toFixed(1)
}

/** A "nice" axis maximum: 1, 2, 2.5 or 5 times a power of ten, at or above the value. */
export function niceMax(value: number): number {
  if (!(value > 0)) return 1
  const power = 10 ** Math.floor(Math.log10(value))
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power
  return 10 * power
}

function caseLabel(row: ReportRow): string {
  const what = row.kind === 'zero-loss' ? 'zero-loss' : `${row.protocol} ${row.direction}`
  return `${what} ${sizeLabel(row.size)}`
}

export function renderSvg(rows: readonly ReportRow[], options: {title?: string} = {}): string {
  // Groups in first-seen order: one per lab.
  const groups: {lab: string; architecture: string; rows: ReportRow[]}[] = []
  for (const row of rows) {
    let group = groups.find((g) => g.lab === row.lab)
    if (group === undefined) {
      group = {lab: row.lab, architecture: row.architecture, rows: []}
      groups.push(group)
    }
    group.rows.push(row)
  }
  const caseKinds = [...new Set(rows.map(caseLabel))]
  const color = (row: ReportRow) => PALETTE[caseKinds.indexOf(caseLabel(row)) % PALETTE.length] as string
  const yMax = niceMax(Math.max(0, ...rows.map((r) => Math.max(r.maxGbps, r.gbps))))
  const y = (gbps: number) => TOP + PLOT_HEIGHT - (gbps / yMax) * PLOT_HEIGHT
  const plotWidth = groups.reduce((w, g) => w + g.rows.length * (BAR + GAP) - GAP, 0) + Math.max(0, groups.length - 1) * GROUP_GAP + 2 * GAP
  const width = LEFT + Math.max(plotWidth, 200) + 20
  const legendHeight = caseKinds.length * 16 + 10
  const height = TOP + PLOT_HEIGHT + BOTTOM + legendHeight

  const axis: XmlElement[] = [
    el('line', {x1: LEFT, y1: TOP, x2: LEFT, y2: TOP + PLOT_HEIGHT, stroke: '#333'}),
    el('line', {x1: LEFT, y1: TOP + PLOT_HEIGHT, x2: n(width - 10), y2: TOP + PLOT_HEIGHT, stroke: '#333'}),
    textEl('text', 'Gbit/s', {x: 14, y: n(TOP + PLOT_HEIGHT / 2), transform: `rotate(-90 14 ${n(TOP + PLOT_HEIGHT / 2)})`, 'text-anchor': 'middle', 'font-size': 12}),
  ]
  for (let i = 0; i <= 5; i += 1) {
    const value = (yMax / 5) * i
    axis.push(el('line', {x1: LEFT - 4, y1: n(y(value)), x2: n(width - 10), y2: n(y(value)), stroke: '#ddd'}))
    axis.push(textEl('text', fmtGbps(value), {x: LEFT - 6, y: n(y(value) + 4), 'text-anchor': 'end', 'font-size': 10}))
  }

  const bars: XmlElement[] = []
  let x = LEFT + GAP
  for (const group of groups) {
    const groupStart = x
    for (const row of group.rows) {
      const degraded = row.degraded.length > 0
      const labels = rowLabels(row)
      const top = y(row.gbps)
      const center = x + BAR / 2
      const suffix = [degraded ? '(degraded)' : undefined, row.datapathVerified ? undefined : '(unverified)'].filter(Boolean).join(' ')
      bars.push(el('g', {class: 'case', 'data-key': row.key},
        textEl('title', `${row.key}: ${fmtGbps(row.gbps)} Gbit/s (min ${fmtGbps(row.minGbps)}, max ${fmtGbps(row.maxGbps)})${labels.length > 0 ? ` - ${labels.join('; ')}` : ''}`),
        el('rect', {
          class: degraded ? 'bar degraded' : 'bar',
          x: n(x), y: n(top), width: BAR, height: n(TOP + PLOT_HEIGHT - top),
          fill: degraded ? 'url(#hatch)' : color(row),
          stroke: color(row),
          'data-gbps': row.gbps,
        }),
        row.maxGbps > row.minGbps && el('g', {class: 'whisker', stroke: '#222'},
          el('line', {x1: n(center), y1: n(y(row.maxGbps)), x2: n(center), y2: n(y(row.minGbps))}),
          el('line', {x1: n(center - 6), y1: n(y(row.maxGbps)), x2: n(center + 6), y2: n(y(row.maxGbps))}),
          el('line', {x1: n(center - 6), y1: n(y(row.minGbps)), x2: n(center + 6), y2: n(y(row.minGbps))}),
        ),
        textEl('text', fmtGbps(row.gbps), {x: n(center), y: n(Math.min(y(row.maxGbps), top) - 4), 'text-anchor': 'middle', 'font-size': 9}),
        textEl('text', `${caseLabel(row)}${suffix ? ` ${suffix}` : ''}`, {
          x: n(center), y: TOP + PLOT_HEIGHT + 12, 'font-size': 9, 'text-anchor': 'end',
          transform: `rotate(-45 ${n(center)} ${TOP + PLOT_HEIGHT + 12})`,
        }),
      ))
      x += BAR + GAP
    }
    const groupEnd = x - GAP
    const degraded = group.rows.some((r) => r.degraded.length > 0)
    bars.push(textEl('text', `${group.lab} (${group.architecture})${degraded ? ' degraded' : ''}`, {
      class: 'group', x: n((groupStart + groupEnd) / 2), y: TOP + PLOT_HEIGHT + 95, 'text-anchor': 'middle', 'font-size': 11, 'font-weight': 'bold',
    }))
    x += GROUP_GAP - GAP
  }

  const legendTop = TOP + PLOT_HEIGHT + BOTTOM
  const legend = caseKinds.map((kind, i) => el('g', {class: 'legend'},
    el('rect', {x: LEFT, y: legendTop + i * 16, width: 10, height: 10, fill: PALETTE[i % PALETTE.length]}),
    textEl('text', kind, {x: LEFT + 16, y: legendTop + i * 16 + 9, 'font-size': 10}),
  ))

  const svg = el('svg', {xmlns: 'http://www.w3.org/2000/svg', width: n(width), height: n(height), viewBox: `0 0 ${n(width)} ${n(height)}`, 'font-family': 'sans-serif'},
    el('defs', {},
      el('pattern', {id: 'hatch', patternUnits: 'userSpaceOnUse', width: 6, height: 6, patternTransform: 'rotate(45)'},
        el('rect', {width: 6, height: 6, fill: '#eee'}),
        el('line', {x1: 0, y1: 0, x2: 0, y2: 6, stroke: '#999', 'stroke-width': 3}),
      ),
    ),
    textEl('text', options.title ?? 'virtlab throughput (median, min..max over trials)', {x: LEFT, y: 24, 'font-size': 14, 'font-weight': 'bold'}),
    el('g', {class: 'axis'}, axis),
    el('g', {class: 'bars'}, bars),
    el('g', {class: 'legend'}, legend),
  )
  return renderXml(svg)
}
