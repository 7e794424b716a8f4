/**
 * The SVG chart's layout, checked twice: on the layout model (every text box inside the canvas,
 * no two overlapping) and on the real rasteriser (rsvg-convert, Debian's librsvg2-bin, installed
 * by .ci/run): the PNG has the declared size, its border rows and columns are background, and in
 * a render of the texts alone every inked pixel lies inside a modelled text box, so the width
 * model is not narrower than the font that draws it.
 */
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {renderXml} from '../../src/compile/xml.js'
import type {ResultDocument} from '../../src/measure/result-schema.js'
import {type ReportRow, allRows} from '../../src/report/rows.js'
import {type ChartLayout, type TextBox, layoutChart, renderSvg, svgElement} from '../../src/report/svg.js'
import {textWidth, wrapText} from '../../src/report/text-metrics.js'
import {sampleResult} from '../measure/helpers.js'
import {type Image, decodePng, isBackground} from '../helpers/png.js'
import {vhostNetDegraded, vhostUser, virtioQemuUdp} from './samples.js'

const work = mkdtempSync(join(tmpdir(), 'virtlab-chart-'))
afterAll(() => rmSync(work, {recursive: true, force: true}))

const SIZES = [64, 128, 256, 512, 1024, 1280, 1472, 1518, 4096, 8192, 16384, 65507]

function tcp(lab: string, extra: Partial<Parameters<typeof sampleResult>[0]> = {}): ResultDocument {
  return sampleResult({lab, architecture: 'vhost-user', cases: [{fixture: 'tcp-tx', protocol: 'tcp', direction: 'tx', size: null, scales: [1, 1.01, 0.99]}], ...extra})
}

const SCENARIOS: Record<string, () => ReportRow[]> = {
  'one result': () => allRows([vhostUser()]),
  'three results (degraded, noisy, TCG)': () => allRows([vhostNetDegraded(), vhostUser(), virtioQemuUdp()]),
  'eight results, long lab names, many frame sizes': () => allRows([
    'virtio-qemu',
    'vhost-net-over-the-ovs-kernel-datapath-with-a-really-long-lab-name',
    'a_single_token_lab_name_without_any_spaces_or_hyphens_at_all_anywhere',
    'vhost-user', 'sriov', 'vdpa', 'vdpa-hw', 'lab-eight',
  ].map((lab, i) => tcp(lab, {
    degraded: i % 3 === 0 ? ['degraded: no vhost-net (userspace virtio backend over tap)'] : [],
    verified: i % 2 === 0,
    ...(i === 1 ? {cases: SIZES.map((size) => ({fixture: 'udp-64', protocol: 'udp' as const, direction: 'tx' as const, size, scales: [1, 0.8, 1.2]}))} : {}),
  }))),
  'a long title': () => allRows([vhostUser()]),
}

function overlaps(a: TextBox['box'], b: TextBox['box']): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
}

function titleFor(name: string): string | undefined {
  return name === 'a long title' ? 'virtlab throughput of the vhost-user lab on a two-core Debian 12 host, median and min..max over three trials per case, guests under TCG' : undefined
}

function rasterise(name: string, svg: string): Image {
  const base = join(work, name.replace(/[^a-z0-9]+/gi, '-'))
  writeFileSync(`${base}.svg`, svg)
  execFileSync('rsvg-convert', ['--format', 'png', '--output', `${base}.png`, `${base}.svg`])
  if (process.env.VIRTLAB_KEEP_CHARTS) writeFileSync(join(process.env.VIRTLAB_KEEP_CHARTS, `${name.replace(/[^a-z0-9]+/gi, '-')}.png`), readFileSync(`${base}.png`))
  return decodePng(readFileSync(`${base}.png`))
}

describe('text metrics', () => {
  it('measures DejaVu Sans advances, wraps at spaces and hyphens, abbreviates what does not fit', () => {
    expect(textWidth('0', {size: 10})).toBeCloseTo(6.36, 2)
    expect(textWidth('W', {size: 10, bold: true})).toBeCloseTo(11.03, 2)
    expect(wrapText('udp tx 1472 B', 40, {size: 9})).toEqual(['udp tx', '1472 B'])
    const lines = wrapText('vhost-net-over-the-ovs-kernel-datapath', 60, {size: 9})
    expect(lines.length).toBeGreaterThan(1)
    expect(lines.join('')).toBe('vhost-net-over-the-ovs-kernel-datapath')
    for (const line of lines) expect(textWidth(line, {size: 9})).toBeLessThanOrEqual(60)
    const cut = wrapText('abcdefghijklmnopqrstuvwxyz', 40, {size: 9})
    expect(cut).toHaveLength(1)
    expect(cut[0]).toMatch(/…$/)
    expect(textWidth(cut[0] ?? '', {size: 9})).toBeLessThanOrEqual(40)
  })
})

describe.each(Object.keys(SCENARIOS))('chart layout: %s', (name) => {
  const rows = (SCENARIOS[name] as () => ReportRow[])()
  const title = titleFor(name)
  const layout: ChartLayout = layoutChart(rows, {title})

  it('every text box lies inside the canvas, with a margin', () => {
    expect(layout.texts.length).toBeGreaterThan(rows.length * 2)
    for (const t of layout.texts) {
      expect(t.box.x, t.text).toBeGreaterThanOrEqual(4)
      expect(t.box.y, t.text).toBeGreaterThanOrEqual(4)
      expect(t.box.x + t.box.width, t.text).toBeLessThanOrEqual(layout.width - 4)
      expect(t.box.y + t.box.height, t.text).toBeLessThanOrEqual(layout.height - 4)
    }
  })

  it('no two text boxes overlap', () => {
    const clashes: string[] = []
    layout.texts.forEach((a, i) => layout.texts.slice(i + 1).forEach((b) => {
      if (overlaps(a.box, b.box)) clashes.push(`"${a.text}" x "${b.text}"`)
    }))
    expect(clashes).toEqual([])
  })

  it('labels every bar, and marks degraded / unverified / noisy / TCG results in visible text', () => {
    const visible = layout.texts.map((t) => t.text)
    for (const row of rows) {
      if (row.degraded.length > 0) expect(visible).toContain('degraded')
      if (!row.datapathVerified) expect(visible).toContain('unverified')
      if (row.noisy) expect(visible.some((t) => t.startsWith('noisy'))).toBe(true)
      if (row.accel === 'tcg') expect(visible).toContain('TCG')
    }
    expect(layout.bars).toHaveLength(rows.length)
    if (title !== undefined) expect(layout.texts.filter((t) => t.class === 'title').map((t) => t.text).join(' ')).toBe(title)
  })

  it('renders (rsvg-convert) to a PNG of the declared size whose border is background', () => {
    const svg = renderSvg(rows, {title})
    expect(svg).toContain(`width="${layout.width}" height="${layout.height}"`)
    const image = rasterise(name, svg)
    expect([image.width, image.height]).toEqual([layout.width, layout.height])
    const border: string[] = []
    for (let x = 0; x < image.width; x += 1) for (const y of [0, 1, 2, image.height - 3, image.height - 2, image.height - 1]) if (!isBackground(image, x, y)) border.push(`${x},${y}`)
    for (let y = 0; y < image.height; y += 1) for (const x of [0, 1, 2, image.width - 3, image.width - 2, image.width - 1]) if (!isBackground(image, x, y)) border.push(`${x},${y}`)
    expect(border).toEqual([])
    // Not blank: the bars are drawn.
    let inked = 0
    for (let y = 0; y < image.height; y += 1) for (let x = 0; x < image.width; x += 1) if (!isBackground(image, x, y)) inked += 1
    expect(inked).toBeGreaterThan(500)
  })

  it('rendered alone, every inked pixel of the texts lies inside a modelled text box', () => {
    const full = svgElement(rows, {title})
    const textsOnly = {...full, children: full.children.filter((c) => typeof c !== 'string' && (c.attrs.class === 'background' || c.attrs.class === 'texts'))}
    const image = rasterise(`${name}-texts`, renderXml(textsOnly))
    const slack = 1.5
    const outside: string[] = []
    for (let y = 0; y < image.height; y += 1) {
      for (let x = 0; x < image.width; x += 1) {
        if (isBackground(image, x, y, 40)) continue
        const inside = layout.texts.some((t) => x + 1 >= t.box.x - slack && x <= t.box.x + t.box.width + slack && y + 1 >= t.box.y - slack && y <= t.box.y + t.box.height + slack)
        if (!inside) outside.push(`${x},${y}`)
      }
    }
    expect(outside.slice(0, 20)).toEqual([])
    // And every box got ink (the text is really drawn where the model put it).
    const empty = layout.texts.filter((t) => {
      for (let y = Math.max(0, Math.floor(t.box.y)); y < Math.min(image.height, Math.ceil(t.box.y + t.box.height)); y += 1) {
        for (let x = Math.max(0, Math.floor(t.box.x)); x < Math.min(image.width, Math.ceil(t.box.x + t.box.width)); x += 1) if (!isBackground(image, x, y, 40)) return false
      }
      return true
    })
    expect(empty.map((t) => t.text)).toEqual([])
  })
})
