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
    expect(body[1]).toMatch(/\| TCG \(emulated CPU: not representative\) \|$/) // only the TCG label for the verified, non-degraded result
    expect(lines.at(-1)).toBe('- provenance')
  })

  it('escapes pipes in Markdown cells', () => {
    const md = renderMarkdown({headers: ['a'], rows: [['x | y']], numeric: [false]})
    expect(md).toContain('| x \\| y |')
  })

  it('terminal table: aligned columns, verdicts when thresholds are given', () => {
    const rows = allRows([vhostNetDegraded(), vhostUser()])
    const text = renderText(reportTable(rows, evaluate(rows, {minGbps: 1, allowDegraded: true})))
    const lines = text.trimEnd().split('\n')
    expect(lines).toHaveLength(4)
    expect(lines[0]?.indexOf('Gbit/s')).toBe((lines[1] ?? '').split('  ').slice(0, 5).join('  ').length + 2)
    expect(lines[2]).toContain('PASS (warning: the result is degraded')
    expect(lines[2]).toContain('(accepted: --allow-degraded)')
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
    const degraded = bars.filter((b) => String(b.class).split(' ').includes('degraded'))
    expect(degraded).toHaveLength(1)
    expect(degraded[0]?.fill).toBe('url(#hatch)')
    // noisy cases get a dashed outline
    expect(bars.filter((b) => String(b.class).split(' ').includes('noisy')).map((b) => b['stroke-dasharray'])).toEqual(rows.filter((r) => r.noisy).map(() => '3 2'))
    const cases = findAll(doc, 'g').filter((g) => g.class === 'case')
    expect(cases.map((g) => g['data-key'])).toEqual(rows.map((r) => r.key))
    // whiskers only where the trials differ
    expect(findAll(doc, 'g').filter((g) => g.class === 'whisker')).toHaveLength(rows.filter((r) => r.maxGbps > r.minGbps).length)
    const texts = findAll(doc, 'text').map((t) => (typeof t === 'object' ? String(t['#text'] ?? '') : String(t)))
    expect(texts).toContain('vhost-net')
    expect(texts).toContain('(vhost-net)')
    expect(texts).toContain('vhost-user')
    // marks in visible text, not only the tooltip
    expect(texts.filter((t) => t === 'degraded')).toHaveLength(1)
    expect(texts.filter((t) => t === 'unverified')).toHaveLength(1)
    expect(texts.filter((t) => t === 'TCG')).toHaveLength(rows.length)
    expect(texts.some((t) => t.startsWith('degraded (hatched bar)'))).toBe(true)
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
    const verdicts = evaluate(rows, {minGbps: 1, maxLossPct: 10, allowDegraded: true})
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
    expect(String(byName('tcp-tx-default [degraded]')?.['system-out'])).toContain('warning: the result is degraded')
    // real durations: the trials' recorded wall-clock seconds (the sample clock advances 1 s per call)
    for (const c of cases) expect(Number(c.time)).toBeGreaterThan(0)
    const tcpCase = cases.find((c) => c.classname === 'virtlab.vhost-user.host-to-vm1')
    expect(Number(tcpCase?.time)).toBe(rows.find((r) => r.key === 'vhost-user/host-to-vm1/tcp-tx-default')?.durationS)
    expect(Number(suites[0]?.time)).toBeCloseTo(rows.filter((r) => r.lab === 'vhost-net').reduce((s, r) => s + r.durationS, 0), 3)
    expect(Number(root.time)).toBeGreaterThan(0)
  })

  it('a degraded or unverified result fails a threshold unless --allow-degraded', () => {
    const rows = allRows([vhostNetDegraded()])
    const [strict] = evaluate(rows, {minGbps: 1})
    expect(strict?.pass).toBe(false)
    expect(strict?.failures).toEqual([
      expect.stringMatching(/^the result is degraded \(no vhost-net \(userspace virtio backend over tap\)\): a threshold does not pass on it \(--allow-degraded to accept\)$/),
      expect.stringMatching(/^the datapath was not verified \(QEMU pid 4242/),
    ])
    const [allowed] = evaluate(rows, {minGbps: 1, allowDegraded: true})
    expect(allowed?.pass).toBe(true)
    expect(allowed?.warnings).toHaveLength(2)
    // no threshold: nothing is gated
    expect(evaluate(rows, {})[0]?.pass).toBe(true)
  })

  it('a case missing from the baseline fails', () => {
    const rows = allRows([vhostUser(), virtioQemuUdp()])
    const verdicts = evaluate(rows, {baseline: [vhostUser()]})
    expect(verdicts.map((v) => v.pass)).toEqual([true, false, false])
    expect(verdicts[1]?.failures[0]).toMatch(/^virtio-qemu\/udp-sizes\/udp-tx-64 is not in the baseline: nothing to compare it with \(the baseline has vhost-user\/host-to-vm1\/tcp-tx-default\)$/)
  })

  it('latency gate on the RTT p99 (microseconds); no latency measured fails it', () => {
    const doc = vhostUser()
    const p99Us = (doc.latency?.p99Ms ?? 0) * 1000
    const rows = allRows([doc])
    expect(evaluate(rows, {maxLatencyUs: p99Us + 1})[0]?.pass).toBe(true)
    const [slow] = evaluate(rows, {maxLatencyUs: p99Us - 1})
    expect(slow?.failures).toEqual([`RTT p99 ${p99Us.toFixed(1)} us is above --max-latency-us ${p99Us - 1}`])
    const [none] = evaluate(allRows([{...doc, latency: null}]), {maxLatencyUs: 1000})
    expect(none?.failures[0]).toMatch(/^no latency was measured/)
  })

  it('a regression gate narrower than the measured CV says so instead of passing or failing silently', () => {
    const noisy = virtioQemuUdp() // udp-tx-1472 has trials scaled 0.9/1/1.1: CV 10 %
    const rows = allRows([noisy]).filter((r) => r.caseId === 'udp-tx-1472')
    expect(rows[0]?.cvPct).toBeGreaterThan(5)
    const cv = rows[0]?.cvPct ?? 0
    const same = evaluate(rows, {baseline: [noisy], maxRegressionPct: 5})[0]
    expect(same?.pass).toBe(false)
    expect(same?.failures[0]).toMatch(new RegExp(`^inconclusive: throughput .* is 0\\.0 % (below|above) the baseline .*, but the measured CV \\(${cv.toFixed(1).replace('.', '\\.')} %\\) is larger than the --max-regression 5 % gate`))
    const allowed = evaluate(rows, {baseline: [noisy], maxRegressionPct: 5, allowNoisy: true})[0]
    expect(allowed?.pass).toBe(true)
    expect(allowed?.warnings[0]).toMatch(/^inconclusive: .*\(accepted: --allow-noisy\)$/)
    // a gate wider than the CV decides as before
    expect(evaluate(rows, {baseline: [noisy], maxRegressionPct: cv + 1})[0]).toMatchObject({pass: true, warnings: []})
    // a drop beyond gate + CV is a regression even on a noisy case
    const [crash] = evaluate(rows, {baseline: [sampleScaled(noisy, 2)], maxRegressionPct: 5})
    expect(crash?.failures[0]).toMatch(/50\.0 % below the baseline .*beyond the measured CV/)
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
