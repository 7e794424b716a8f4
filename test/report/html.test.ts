/**
 * `report --format html`: one self-contained page (no scripts, no external resources) with the
 * verdicts, the table, the chart (inline SVG) and the provenance; parsed as XML here, and opened
 * in headless Chromium (Debian's chromium, installed by .ci/run) for a screenshot that must have
 * the window's size and show the page (not a blank or an error page).
 */
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {XMLParser, XMLValidator} from 'fast-xml-parser'
import {afterAll, describe, expect, it} from 'vitest'

import {renderHtml} from '../../src/report/html.js'
import {allRows} from '../../src/report/rows.js'
import {reportTable} from '../../src/report/table.js'
import {evaluate} from '../../src/report/thresholds.js'
import {decodePng, isBackground, pixel} from '../helpers/png.js'
import {vhostNetDegraded, vhostUser, virtioQemuUdp} from './samples.js'

const work = mkdtempSync(join(tmpdir(), 'virtlab-html-'))
afterAll(() => rmSync(work, {recursive: true, force: true}))

function page(): string {
  const results = [vhostNetDegraded(), vhostUser(), virtioQemuUdp()]
  const rows = allRows(results)
  const verdicts = evaluate(rows, {minGbps: 0.1})
  return renderHtml({title: 'virtlab throughput', rows, verdicts, gated: true, table: reportTable(rows, verdicts), results, files: ['results/a.json', 'results/b.json', 'results/c.json']})
}

describe('report --format html', () => {
  it('is one well-formed, self-contained page: verdicts, table, inline chart, provenance', () => {
    const html = page()
    expect(html.startsWith('<!DOCTYPE html>\n<html lang="en">')).toBe(true)
    const body = html.slice('<!DOCTYPE html>\n'.length)
    expect(XMLValidator.validate(body)).toBe(true)
    expect(html).not.toMatch(/<script|<link |src="http|href="http|@import/)
    const doc = new XMLParser({ignoreAttributes: false, attributeNamePrefix: ''}).parse(body) as {html: {body: Record<string, unknown>}}
    expect(JSON.stringify(doc.html.body)).toContain('"xmlns":"http://www.w3.org/2000/svg"')
    expect(html).toContain('FAIL: 2 of 4 case(s) passed')
    expect(html).toContain('the result is degraded')
    expect(html).toContain('<th>Verdict</th>')
    expect(html).toContain('kernel 6.18.44-fc-v669, 2 x Intel(R) Xeon(R) Processor')
    expect(html).toContain('TCG: guests on an emulated CPU')
    expect(html).toMatch(/<summary>\d+ command\(s\) run<\/summary>/)
    // no empty (self-closed) HTML element: only void <meta> and SVG elements may be
    const selfClosed = [...html.matchAll(/<([a-z]+)[^>]*\/>/g)].map((m) => m[1])
    expect(new Set(selfClosed.filter((t) => !['meta', 'rect', 'line'].includes(t ?? '')))).toEqual(new Set())
  })

  it('headless Chromium renders it: a screenshot of the window size with the page drawn', () => {
    const file = join(work, 'report.html')
    writeFileSync(file, page())
    const shot = join(work, 'report.png')
    execFileSync('chromium', [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--user-data-dir=${mkdtempSync(join(work, 'profile-'))}`,
      '--hide-scrollbars', `--screenshot=${shot}`, '--window-size=1280,1400', `file://${file}`,
    ], {stdio: 'ignore', timeout: 60_000})
    if (process.env.VIRTLAB_KEEP_CHARTS) writeFileSync(join(process.env.VIRTLAB_KEEP_CHARTS, 'report-html.png'), readFileSync(shot))
    const image = decodePng(readFileSync(shot))
    expect([image.width, image.height]).toEqual([1280, 1400])
    let ink = 0
    const colours = new Set<string>()
    for (let y = 0; y < image.height; y += 2) {
      for (let x = 0; x < image.width; x += 2) {
        if (isBackground(image, x, y)) continue
        ink += 1
        colours.add(pixel(image, x, y).slice(0, 3).join(','))
      }
    }
    expect(ink).toBeGreaterThan(2000) // text, table borders and bars, not a blank page
    // the chart's first bar colour (#4e79a7) is on the page: the inline SVG was drawn
    expect(colours.has('78,121,167')).toBe(true)
    // the top-left corner is the page background (white), as the page declares
    expect(isBackground(image, 2, 2)).toBe(true)
  }, 90_000)
})
