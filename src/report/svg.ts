/**
 * An SVG bar chart: median throughput per lab (architecture) and case/size, with min..max whiskers
 * over the trials. Built as an element tree and serialised by fast-xml-parser's XMLBuilder
 * (src/compile/xml.ts), never by concatenating markup; deterministic (same results -> same bytes).
 *
 * The layout is computed first (layoutChart) with measured text widths (text-metrics.ts): every
 * text is horizontal, each bar's slot is as wide as its value and the words of its label, labels
 * wrap (and abbreviate when a single word is too long), the title wraps to the canvas, and the
 * canvas grows to hold everything. The layout lists every text box, so tests can check that no
 * two overlap and none leaves the canvas.
 *
 * Marks are visible, not only in the tooltip: a degraded result gets a hatched bar and a
 * "degraded" line under its label, an unverified datapath "unverified", a noisy case (CV above the
 * threshold) a dashed outline and "noisy (CV n %)", a TCG result "TCG"; a notes block under the
 * legend says what each mark means.
 */
import {type XmlElement, el, renderXml, textEl} from '../compile/xml.js'
import {type ReportRow, fmtGbps, rowLabels, sizeLabel} from './rows.js'
import {ASCENT, DESCENT, FONT_FAMILY, type Font, LINE_HEIGHT, abbreviate, textWidth, wrapText} from './text-metrics.js'

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac']
const MARK_COLOR = {degraded: '#b3261e', unverified: '#b3261e', noisy: '#8a5a00', tcg: '#555555'} as const

const FONTS = {
  title: {size: 14, bold: true},
  axis: {size: 10},
  value: {size: 9},
  label: {size: 9},
  mark: {size: 9, bold: true},
  group: {size: 11, bold: true},
  legend: {size: 10},
  note: {size: 10},
} satisfies Record<string, Font>

const MARGIN = 12
const BAR = 24
const SLOT_PAD = 6
const GROUP_GAP = 24
const PLOT_HEIGHT = 240
const MAX_SLOT = 96
const MAX_GROUP_WIDTH = 220
const MAX_TITLE_WIDTH = 720
const LABEL_LINES = 3

/** A text as laid out: its anchor point, and the box it occupies. */
export interface TextBox {
  text: string
  /** Anchor x and baseline y, as written to the SVG. */
  x: number
  y: number
  anchor: 'start' | 'middle' | 'end'
  font: Font
  fill: string
  class: string
  /** The box: left, top, width, height (advance width x ascent+descent). */
  box: {x: number; y: number; width: number; height: number}
}

export interface BarLayout {
  row: ReportRow
  x: number
  width: number
  top: number
  color: string
  degraded: boolean
  noisy: boolean
}

export interface ChartLayout {
  width: number
  height: number
  plot: {left: number; top: number; width: number; height: number}
  yMax: number
  bars: BarLayout[]
  texts: TextBox[]
  legend: {x: number; y: number; color: string}[]
}

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

interface Mark {
  text: string
  color: string
}

function marksOf(row: ReportRow): Mark[] {
  const marks: Mark[] = []
  if (row.degraded.length > 0) marks.push({text: 'degraded', color: MARK_COLOR.degraded})
  if (!row.datapathVerified) marks.push({text: 'unverified', color: MARK_COLOR.unverified})
  if (row.noisy) marks.push({text: `noisy (CV ${(row.cvPct ?? 0).toFixed(0)} %)`, color: MARK_COLOR.noisy})
  if (row.accel === 'tcg') marks.push({text: 'TCG', color: MARK_COLOR.tcg})
  return marks
}

function text(t: string, x: number, y: number, font: Font, options: {anchor?: TextBox['anchor']; fill?: string; class?: string} = {}): TextBox {
  const anchor = options.anchor ?? 'start'
  const width = textWidth(t, font)
  const left = anchor === 'start' ? x : anchor === 'middle' ? x - width / 2 : x - width
  return {text: t, x, y, anchor, font, fill: options.fill ?? '#222222', class: options.class ?? 'text', box: {x: left, y: y - ASCENT * font.size, width, height: (ASCENT + DESCENT) * font.size}}
}

/** Baseline of the first line of a text block whose top is `top`. */
function firstBaseline(top: number, font: Font): number {
  return top + ASCENT * font.size
}

function lineStep(font: Font): number {
  return LINE_HEIGHT * font.size
}

/** Height of `lines` lines of `font`, top of the first to bottom of the last. */
function blockHeight(lines: number, font: Font): number {
  return lines === 0 ? 0 : (lines - 1) * lineStep(font) + (ASCENT + DESCENT) * font.size
}

export function layoutChart(rows: readonly ReportRow[], options: {title?: string} = {}): ChartLayout {
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
  const colorOf = (row: ReportRow) => PALETTE[caseKinds.indexOf(caseLabel(row)) % PALETTE.length] as string
  const yMax = niceMax(Math.max(0, ...rows.map((r) => Math.max(r.maxGbps, r.gbps))))
  const ticks = [0, 1, 2, 3, 4, 5].map((i) => (yMax / 5) * i)

  // ---- horizontal layout ------------------------------------------------------------------------
  const tickWidth = Math.max(...ticks.map((t) => textWidth(fmtGbps(t), FONTS.axis)), textWidth('Gbit/s', FONTS.axis))
  const left = MARGIN + tickWidth + 8
  // A bar's slot holds its value and the widest word of its label (capped: longer words wrap/abbreviate).
  const slotOf = (row: ReportRow): number => {
    const words = [...caseLabel(row).split(' '), ...marksOf(row).map((m) => m.text)]
    const wordWidth = Math.max(...words.map((w) => textWidth(w, /^(degraded|unverified|TCG|noisy)/.test(w) ? FONTS.mark : FONTS.label)))
    return Math.min(MAX_SLOT, Math.max(BAR + SLOT_PAD, textWidth(fmtGbps(row.gbps), FONTS.value) + SLOT_PAD, wordWidth + SLOT_PAD))
  }
  const groupLabel = (g: (typeof groups)[number]) => `${g.lab} (${g.architecture})`
  interface PlacedGroup {group: (typeof groups)[number]; x: number; width: number; slots: {row: ReportRow; x: number; width: number}[]}
  const placed: PlacedGroup[] = []
  let cursor = left + SLOT_PAD
  for (const group of groups) {
    const slots = group.rows.map((row) => ({row, width: slotOf(row)}))
    const barsWidth = slots.reduce((w, s) => w + s.width, 0)
    // The group's label wraps into its width: widen a narrow group up to its longest word (capped).
    const longestWord = Math.max(...groupLabel(group).split(/\s+/).map((w) => textWidth(w, FONTS.group)))
    const width = Math.max(barsWidth, Math.min(MAX_GROUP_WIDTH, longestWord + 4))
    let x = cursor + (width - barsWidth) / 2
    const placedSlots = slots.map((s) => {
      const slot = {row: s.row, x, width: s.width}
      x += s.width
      return slot
    })
    placed.push({group, x: cursor, width, slots: placedSlots})
    cursor += width + GROUP_GAP
  }
  const plotRight = Math.max(cursor - GROUP_GAP + SLOT_PAD, left + 200)
  const legendItems = caseKinds.map((kind) => ({kind, width: 16 + textWidth(kind, FONTS.legend)}))
  const title = options.title ?? 'virtlab throughput (median, min..max over trials)'
  const titleWidth = textWidth(title, FONTS.title)
  const width = Math.ceil(Math.max(plotRight + MARGIN, Math.min(MAX_TITLE_WIDTH, titleWidth) + 2 * MARGIN, ...legendItems.map((l) => l.width + 2 * MARGIN), 240))
  const inner = width - 2 * MARGIN

  // ---- vertical layout --------------------------------------------------------------------------
  const texts: TextBox[] = []
  let top = MARGIN
  for (const line of wrapText(title, inner, FONTS.title)) {
    texts.push(text(line, MARGIN, firstBaseline(top, FONTS.title), FONTS.title, {class: 'title'}))
    top += lineStep(FONTS.title)
  }
  top += 6
  // The unit above the tick labels, then room for the value labels over the tallest bar.
  texts.push(text('Gbit/s', left - 6, firstBaseline(top, FONTS.axis), FONTS.axis, {anchor: 'end', class: 'unit'}))
  const plotTop = top + (ASCENT + DESCENT) * FONTS.axis.size + 4 + (ASCENT + DESCENT) * FONTS.value.size + 6
  const plotBottom = plotTop + PLOT_HEIGHT
  const y = (gbps: number) => plotBottom - (gbps / yMax) * PLOT_HEIGHT
  for (const t of ticks) texts.push(text(fmtGbps(t), left - 6, y(t) + 0.35 * FONTS.axis.size, FONTS.axis, {anchor: 'end', class: 'tick'}))

  const bars: BarLayout[] = []
  let labelBottom = plotBottom
  for (const g of placed) {
    for (const slot of g.slots) {
      const row = slot.row
      const center = slot.x + slot.width / 2
      const barTop = y(row.gbps)
      bars.push({row, x: center - BAR / 2, width: BAR, top: barTop, color: colorOf(row), degraded: row.degraded.length > 0, noisy: row.noisy})
      texts.push(text(fmtGbps(row.gbps), center, Math.min(y(row.maxGbps), barTop) - 4 - DESCENT * FONTS.value.size, FONTS.value, {anchor: 'middle', class: 'value'}))
      const labelWidth = slot.width - 2
      let lineTop = plotBottom + 5
      for (const line of wrapText(caseLabel(row), labelWidth, FONTS.label, LABEL_LINES)) {
        texts.push(text(line, center, firstBaseline(lineTop, FONTS.label), FONTS.label, {anchor: 'middle', class: 'label'}))
        lineTop += lineStep(FONTS.label)
      }
      for (const mark of marksOf(row)) {
        for (const line of wrapText(mark.text, labelWidth, FONTS.mark, 2)) {
          texts.push(text(line, center, firstBaseline(lineTop, FONTS.mark), FONTS.mark, {anchor: 'middle', fill: mark.color, class: 'mark'}))
          lineTop += lineStep(FONTS.mark)
        }
      }
      labelBottom = Math.max(labelBottom, lineTop - lineStep(FONTS.label) + (ASCENT + DESCENT) * FONTS.label.size)
    }
  }
  // Group labels under the tallest label stack, wrapped to the group's width.
  let groupTop = labelBottom + 8
  let groupBottom = groupTop
  for (const g of placed) {
    const lines = wrapText(groupLabel(g.group), g.width, FONTS.group, 3)
    lines.forEach((line, i) => texts.push(text(line, g.x + g.width / 2, firstBaseline(groupTop + i * lineStep(FONTS.group), FONTS.group), FONTS.group, {anchor: 'middle', class: 'group'})))
    groupBottom = Math.max(groupBottom, groupTop + blockHeight(lines.length, FONTS.group))
  }
  groupTop = groupBottom + 12

  // Legend: colour squares, flowing into rows as wide as the canvas.
  const legend: ChartLayout['legend'] = []
  let lx = MARGIN
  let ly = groupTop
  const legendRow = Math.max(12, (ASCENT + DESCENT) * FONTS.legend.size) + 4
  for (const [i, item] of legendItems.entries()) {
    if (lx > MARGIN && lx + item.width > width - MARGIN) {
      lx = MARGIN
      ly += legendRow
    }
    legend.push({x: lx, y: ly + 1, color: PALETTE[i % PALETTE.length] as string})
    texts.push(text(abbreviate(item.kind, inner - 16, FONTS.legend), lx + 16, ly + 10, FONTS.legend, {class: 'legend'}))
    lx += item.width + 14
  }
  let bottom = legendItems.length > 0 ? ly + legendRow : ly

  // Notes: what each mark means (only the marks in use).
  const used = new Set(rows.flatMap((r) => marksOf(r).map((m) => m.text.split(' ')[0])))
  const notes: {text: string; color: string}[] = []
  if (used.has('degraded')) notes.push({text: 'degraded (hatched bar): measured on a fallback path, not the architecture named', color: MARK_COLOR.degraded})
  if (used.has('unverified')) notes.push({text: 'unverified: the datapath could not be confirmed to be the one named', color: MARK_COLOR.unverified})
  if (used.has('noisy')) notes.push({text: 'noisy (dashed outline): trial-to-trial CV above the noise threshold', color: MARK_COLOR.noisy})
  if (used.has('TCG')) notes.push({text: 'TCG: guests on an emulated CPU; numbers are not representative of KVM', color: MARK_COLOR.tcg})
  if (notes.length > 0) {
    let noteTop = bottom + 4
    for (const note of notes) {
      for (const line of wrapText(note.text, inner, FONTS.note)) {
        texts.push(text(line, MARGIN, firstBaseline(noteTop, FONTS.note), FONTS.note, {fill: note.color, class: 'note'}))
        noteTop += lineStep(FONTS.note)
      }
    }
    bottom = noteTop
  }
  const height = Math.ceil(bottom + MARGIN)
  // The axis spans the canvas (a long title or legend may have widened it past the bars).
  return {width, height, plot: {left, top: plotTop, width: Math.max(plotRight, width - MARGIN) - left, height: PLOT_HEIGHT}, yMax, bars, texts, legend}
}

function textElement(t: TextBox): XmlElement {
  return textEl('text', t.text, {
    class: t.class, x: n(t.x), y: n(t.y), 'text-anchor': t.anchor === 'start' ? undefined : t.anchor,
    'font-size': t.font.size, 'font-weight': t.font.bold ? 'bold' : undefined, fill: t.fill,
  })
}

/** The chart as an element tree (for embedding in HTML). */
export function svgElement(rows: readonly ReportRow[], options: {title?: string} = {}): XmlElement {
  const layout = layoutChart(rows, options)
  const {plot} = layout
  const y = (gbps: number) => plot.top + plot.height - (gbps / layout.yMax) * plot.height
  const right = plot.left + plot.width
  const grid: XmlElement[] = [0, 1, 2, 3, 4, 5].map((i) => el('line', {x1: n(plot.left - 4), y1: n(y((layout.yMax / 5) * i)), x2: n(right), y2: n(y((layout.yMax / 5) * i)), stroke: '#dddddd'}))
  const bars = layout.bars.map((b) => {
    const row = b.row
    const center = b.x + b.width / 2
    const labels = rowLabels(row)
    return el('g', {class: 'case', 'data-key': row.key},
      textEl('title', `${row.key}: ${fmtGbps(row.gbps)} Gbit/s (min ${fmtGbps(row.minGbps)}, max ${fmtGbps(row.maxGbps)})${labels.length > 0 ? ` - ${labels.join('; ')}` : ''}`),
      el('rect', {
        class: ['bar', b.degraded ? 'degraded' : undefined, b.noisy ? 'noisy' : undefined].filter(Boolean).join(' '),
        x: n(b.x), y: n(b.top), width: b.width, height: n(plot.top + plot.height - b.top),
        fill: b.degraded ? 'url(#hatch)' : b.color,
        stroke: b.noisy ? '#222222' : b.color,
        'stroke-dasharray': b.noisy ? '3 2' : undefined,
        'data-gbps': row.gbps,
      }),
      row.maxGbps > row.minGbps && el('g', {class: 'whisker', stroke: '#222222'},
        el('line', {x1: n(center), y1: n(y(row.maxGbps)), x2: n(center), y2: n(y(row.minGbps))}),
        el('line', {x1: n(center - 6), y1: n(y(row.maxGbps)), x2: n(center + 6), y2: n(y(row.maxGbps))}),
        el('line', {x1: n(center - 6), y1: n(y(row.minGbps)), x2: n(center + 6), y2: n(y(row.minGbps))}),
      ),
    )
  })
  return el('svg', {xmlns: 'http://www.w3.org/2000/svg', width: layout.width, height: layout.height, viewBox: `0 0 ${layout.width} ${layout.height}`, 'font-family': FONT_FAMILY},
    el('defs', {},
      el('pattern', {id: 'hatch', patternUnits: 'userSpaceOnUse', width: 6, height: 6, patternTransform: 'rotate(45)'},
        el('rect', {width: 6, height: 6, fill: '#eeeeee'}),
        el('line', {x1: 0, y1: 0, x2: 0, y2: 6, stroke: '#999999', 'stroke-width': 3}),
      ),
    ),
    el('rect', {class: 'background', x: 0, y: 0, width: layout.width, height: layout.height, fill: '#ffffff'}),
    el('g', {class: 'axis'},
      grid,
      el('line', {x1: n(plot.left), y1: n(plot.top), x2: n(plot.left), y2: n(plot.top + plot.height), stroke: '#333333'}),
      el('line', {x1: n(plot.left), y1: n(plot.top + plot.height), x2: n(right), y2: n(plot.top + plot.height), stroke: '#333333'}),
    ),
    el('g', {class: 'bars'}, bars),
    el('g', {class: 'legend'}, layout.legend.map((l) => el('rect', {x: n(l.x), y: n(l.y), width: 10, height: 10, fill: l.color}))),
    el('g', {class: 'texts'}, layout.texts.map(textElement)),
  )
}

export function renderSvg(rows: readonly ReportRow[], options: {title?: string} = {}): string {
  return renderXml(svgElement(rows, options))
}
