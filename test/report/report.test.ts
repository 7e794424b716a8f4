import {XMLParser} from 'fast-xml-parser'
import {describe, expect, it} from 'vitest'

import {allRows, rowsOf} from '../../src/report/rows.js'
import {renderJunit} from '../../src/report/junit.js'
import {niceMax, renderSvg} from '../../src/report/svg.js'
import {renderMarkdown, renderText, reportTable} from '../../src/report/table.js'
import {evaluate, parsePercent} from '../../src/report/thresholds.js'
import {DEGRADED, vhostNetDegraded, vhostUser, virtioQemuUdp, withZeroLoss} from './samples.js'

const parser = new XMLParser({ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => ['g', 'rect', 'line', 'text', 'testsuite', 'testcase', 'property'].includes(name)})

type Node = Record<string, unknown>

/** Every element named `name` anywhere under `node`. */
function findAll(node: unknown, name: string): Node[] {
  const out: Node[] = []
  const walk = (v: unknown) => {
    if (Array.isArray(v)) {
      v.forEach(walk)
      return
    }
    if (typeof v !== 'object' || v === null) return
    for (const [key, child] of Object.entries(v)) {
      if (key === name) (Array.isArray(child) ? child : [child]).forEach((c) => out.push(c as Node))
      walk(child)
    }
  }
  walk(node)
  return out
}

describe('report rows and tables', () => {
  it('one row per case and per zero-loss size, carrying the labels', async () => {
    const rows = allRows([vhostNetDegraded(), await withZeroLoss(virtioQemuUdp(), 2.5e9)])
    expect(rows.map((r) => r.key)).toEqual([
      'vhost-net/host-to-vm1/tcp-tx-default',
      'virtio-qemu/udp-sizes/udp-tx-64',
      'virtio-qemu/udp-sizes/udp-tx-1472',
      'virtio-qemu/udp-sizes/zero-loss-64',
    ])
    expect(rows[0]).toMatchObject({degraded: [DEGRADED], datapathVerified: false, architecture: 'vhost-net'})
    expect(rows[2]?.noisy).toBe(true) // scales 0.9/1/1.1 -> CV 10 %
    expect(rows[3]).toMatchObject({kind: 'zero-loss', found: true})
    expect(rows[3]?.gbps).toBeLessThanOrEqual(2.5)
    expect(rows[3]?.gbps).toBeGreaterThan(2.49)
  })

  it('Markdown table for $GITHUB_STEP_SUMMARY: header, alignment row, one line per case, degraded labelled', () => {
    const rows = allRows([vhostNetDegraded(), vhostUser()])
    const md = renderMarkdown(reportTable(rows), {title: 'virtlab throughput', footer: ['- provenance']})
    const lines = md.trimEnd().split('\n')
    expect(lines[0]).toBe('### virtlab throughput')
    expect(lines[2]).toBe('| Lab | Architecture | Test | Case | Size | Gbit/s | min..max | CV % | pps | Loss % | Gbit/s per core | RTT p50 / p99 ms | Notes |')
    expect(lines[3]).toBe('| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |')
    const body = lines.slice(4, 6)
    expect(body).toHaveLength(2)
    expect(body[0]).toMatch(/^\| vhost-net \| vhost-net \| host-to-vm1 \| tcp-tx-default \| default \| 4\.168 \| 3\.870\.\.4\.466 \|/)
    expect(body[0]).toContain(DEGRADED)
    expect(body[0]).toContain('datapath unverified: QEMU pid 4242 does not hold /dev/vhost-net')
    expect(body[1]).toMatch(/\| vhost-user \| vhost-user \| .* \| 0\.476 \|/)
    expect(body[1]).toMatch(/\| - \|$/) // no labels for the verified, non-degraded result
    expect(lines.at(-1)).toBe('- provenance')
  })

  it('escapes pipes in Markdown cells', () => {
    const md = renderMarkdown({headers: ['a'], rows: [['x | y']], numeric: [false]})
    expect(md).toContain('| x \\| y |')
  })

  it('terminal table: aligned columns, verdicts when thresholds are given', () => {
    const rows = allRows([vhostNetDegraded(), vhostUser()])
    const text = renderText(reportTable(rows, evaluate(rows, {minGbps: 1})))
    const lines = text.trimEnd().split('\n')
    expect(lines).toHaveLength(4)
    expect(lines[0]?.indexOf('Gbit/s')).toBe((lines[1] ?? '').split('  ').slice(0, 5).join('  ').length + 2)
    expect(lines[2]).toContain('PASS')
    expect(lines[3]).toContain('FAIL: throughput 0.476 Gbit/s is below --min-gbps 1')
  })
})

describe('SVG bar chart', () => {
  it('parses as XML with one bar per case, whiskers, group labels per lab, degraded bars hatched', async () => {
    const results = [vhostNetDegraded(), vhostUser(), await withZeroLoss(virtioQemuUdp(), 0.09e9)]
    const rows = allRows(results)
    const svg = renderSvg(rows)
    const doc = parser.parse(svg) as Node
    expect(doc.svg).toBeDefined()
    const bars = findAll(doc, 'rect').filter((r) => String(r.class ?? '').split(' ').includes('bar'))
    expect(bars).toHaveLength(rows.length)
    expect(bars.map((b) => Number(b['data-gbps']))).toEqual(rows.map((r) => r.gbps))
    expect(bars.filter((b) => b.class === 'bar degraded')).toHaveLength(1)
    expect(bars.find((b) => b.class === 'bar degraded')?.fill).toBe('url(#hatch)')
    const cases = findAll(doc, 'g').filter((g) => g.class === 'case')
    expect(cases.map((g) => g['data-key'])).toEqual(rows.map((r) => r.key))
    // whiskers only where the trials differ
    expect(findAll(doc, 'g').filter((g) => g.class === 'whisker')).toHaveLength(rows.filter((r) => r.maxGbps > r.minGbps).length)
    const texts = findAll(doc, 'text').map((t) => (typeof t === 'object' ? String(t['#text'] ?? '') : String(t)))
    expect(texts).toContain('vhost-net (vhost-net) degraded')
    expect(texts).toContain('vhost-user (vhost-user)')
    expect(texts.some((t) => t.includes('(degraded) (unverified)'))).toBe(true)
    // taller bar for the faster case
    const height = (key: string) => Number(bars[rows.findIndex((r) => r.key === key)]?.height)
    expect(height('vhost-net/host-to-vm1/tcp-tx-default')).toBeGreaterThan(height('vhost-user/host-to-vm1/tcp-tx-default'))
  })

  it('is deterministic and escapes text', () => {
    const rows = rowsOf(vhostUser()).map((r) => ({...r, lab: 'a<b&c'}))
    expect(renderSvg(rows)).toBe(renderSvg(rows))
    expect(renderSvg(rows)).toContain('a&lt;b&amp;c')
    expect(niceMax(4.47)).toBe(5)
    expect(niceMax(0.476)).toBe(0.5)
    expect(niceMax(0.13)).toBe(0.2)
    expect(niceMax(0)).toBe(1)
  })
})

describe('JUnit XML', () => {
  it('each case passes or fails against the thresholds; the failure names the threshold', async () => {
    const results = [vhostNetDegraded(), vhostUser(), await withZeroLoss(virtioQemuUdp(), 1e9, false)]
    const rows = allRows(results)
    const verdicts = evaluate(rows, {minGbps: 1, maxLossPct: 10})
    const xml = renderJunit(verdicts)
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites')).toBe(true)
    const doc = parser.parse(xml) as Node
    const suites = findAll(doc, 'testsuite')
    expect(suites.map((s) => s.name)).toEqual(['vhost-net/host-to-vm1', 'vhost-user/host-to-vm1', 'virtio-qemu/udp-sizes'])
    const cases = findAll(doc, 'testcase')
    expect(cases).toHaveLength(rows.length)
    const byName = (name: string) => cases.find((c) => c.name === name)
    expect(byName('tcp-tx-default [degraded]')?.failure).toBeUndefined()
    const slow = cases.filter((c) => c.classname === 'virtlab.vhost-user.host-to-vm1')[0]
    expect((slow?.failure as Node).message).toBe('throughput 0.476 Gbit/s is below --min-gbps 1')
    expect((slow?.failure as Node).type).toBe('threshold')
    const lossy = cases.find((c) => c.name === 'udp-tx-64')
    expect(String((lossy?.failure as Node).message)).toContain('loss 43.649422 % is above --max-loss 10 %')
    expect(String((byName('zero-loss-64')?.failure as Node).message)).toContain('no rate met the loss target of 0 %')
    const root = doc.testsuites as Node
    expect(Number(root.tests)).toBe(rows.length)
    expect(Number(root.failures)).toBe(verdicts.filter((v) => !v.pass).length)
    expect(Number(suites[0]?.failures)).toBe(0)
    const props = findAll(suites[0], 'property')
    expect(props.find((p) => p.name === 'degraded')?.value).toBe(DEGRADED)
    expect(String(byName('tcp-tx-default [degraded]')?.['system-out'])).toContain(DEGRADED)
  })

  it('baseline regression fails only beyond --max-regression', () => {
    const now = vhostUser()
    const baseline = sampleScaled(now, 1.2) // the baseline was 20 % faster
    const rows = allRows([now])
    expect(evaluate(rows, {baseline: [baseline], maxRegressionPct: 10})[0]).toMatchObject({pass: false, changePct: -16.67})
    expect(evaluate(rows, {baseline: [baseline], maxRegressionPct: 10})[0]?.failures[0]).toMatch(/16\.7 % below the baseline 0\.572 Gbit\/s \(--max-regression 10 %\)/)
    expect(evaluate(rows, {baseline: [baseline], maxRegressionPct: 20})[0]?.pass).toBe(true)
    expect(parsePercent('10%', 'x')).toBe(10)
    expect(parsePercent('0.001', 'x')).toBe(0.001)
    expect(() => parsePercent('ten', '--max-regression')).toThrow(/--max-regression/)
  })
})

function sampleScaled(doc: ReturnType<typeof vhostUser>, factor: number): ReturnType<typeof vhostUser> {
  return {...doc, cases: doc.cases.map((c) => ({...c, throughput: {...c.throughput, median: c.throughput.median * factor}}))}
}
