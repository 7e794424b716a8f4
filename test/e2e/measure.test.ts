/**
 * Measure like a benchmark, end to end on a real lab (the cheapest: virtio-qemu under the direct
 * QEMU driver): `virtlab up` -> `virtlab test` with 3 trials x 3 s -> the result file validates
 * against the published schema/result.schema.json -> `virtlab report` renders a Markdown table
 * with a row per case, an SVG chart with one bar per case and JUnit XML with one testcase per
 * case (with the trials' real durations), and accepts the `test --json` output itself, writing
 * every format into an existing --out directory -> `virtlab down` -> the host is exactly as before.
 * Needs root, QEMU, iperf3 and the guest image (CI has them all).
 */
import {mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {Ajv} from 'ajv'
import addFormats from 'ajv-formats'
import {XMLParser} from 'fast-xml-parser'
import {expect, it} from 'vitest'

import type {DownResult} from '../../src/app/down.js'
import type {TestLabResult} from '../../src/app/measure.js'
import type {ResultDocument} from '../../src/measure/result-schema.js'
import {REPO, cli, snapshot, useE2eEnv} from './harness.js'

const need = useE2eEnv()

function asArray<T>(value: T | T[] | undefined): T[] {
  if (value === undefined) return []
  return Array.isArray(value) ? value : [value]
}

it('virtio-qemu (qemu driver): up -> test 3 trials x 3 s -> schema-valid result -> Markdown, SVG and JUnit reports -> down leaves the host as before', async () => {
  const e = need()
  const before = snapshot(e)
  const lab = 'virtio-qemu'
  let up: Awaited<ReturnType<typeof cli>> | undefined
  try {
    up = await cli(e, ['up', lab, '--driver', 'qemu'], {timeoutMs: 240_000})
    expect(up.code, `up failed:\n${up.stdout.slice(-2000)}\n${up.stderr.slice(-3000)}`).toBe(0)

    const test = await cli(e, ['test', lab, '--trials', '3', '--duration', '3', '--latency-samples', '20', '--out', e.resultsDir], {timeoutMs: 180_000})
    expect(test.code, `test failed:\n${test.stdout.slice(-2000)}\n${test.stderr.slice(-3000)}`).toBe(0)
    const file = join(e.resultsDir, `${lab}-host-to-vm1.json`)
    expect((test.json as TestLabResult).files).toContain(file)

    // The file follows the published JSON Schema (the one users validate against), not only the TypeBox one.
    const ajv = new Ajv({strict: true, allErrors: true})
    addFormats.default(ajv)
    const validate = ajv.compile<ResultDocument>(JSON.parse(readFileSync(join(REPO, 'schema', 'result.schema.json'), 'utf8')) as object)
    const doc: unknown = JSON.parse(readFileSync(file, 'utf8'))
    expect(validate(doc), ajv.errorsText(validate.errors)).toBe(true)
    const result = doc as ResultDocument
    expect(result.lab.name).toBe(lab)
    expect(result.lab.driver).toBe('qemu')
    expect(result.test.trials).toBe(3)
    expect(result.test.durationS).toBe(3)
    expect(result.cases.length).toBeGreaterThan(0)
    for (const c of result.cases) {
      expect(c.trials).toHaveLength(3)
      for (const t of c.trials) expect(t.gbps).toBeGreaterThan(0)
      const sorted = c.trials.map((t) => t.gbps).sort((a, b) => a - b)
      expect(c.throughput.median).toBeCloseTo(sorted[1] ?? Number.NaN, 6)
      expect(c.throughput.min).toBe(sorted[0])
      expect(c.throughput.max).toBe(sorted[2])
    }
    expect(result.datapath.verified, JSON.stringify(result.datapath)).toBe(true)
    expect(result.degraded).toEqual([])
    // Every trial points at its iperf3 client command in the provenance, with the duration and warm-up asked for.
    for (const c of result.cases) {
      for (const t of c.trials) {
        const argv = result.provenance.commands[t.command]?.argv.join(' ') ?? ''
        expect(argv).toMatch(/\biperf3 -c \S+ .*-t 3 -O 1\b/)
      }
    }
    const caseIds = result.cases.map((c) => c.id)

    // Markdown: a header, a separator and one row per case.
    const mdFile = join(e.resultsDir, 'report.md')
    const md = await cli(e, ['report', file, '--format', 'markdown', '--out', mdFile])
    expect(md.code, md.stderr).toBe(0)
    const tableRows = readFileSync(mdFile, 'utf8').split('\n').filter((l) => l.startsWith('|'))
    expect(tableRows[1]).toMatch(/^\|\s*:?-{3,}/)
    const body = tableRows.slice(2)
    expect(body).toHaveLength(caseIds.length)
    for (const id of caseIds) expect(body.filter((l) => l.includes(id))).toHaveLength(1)
    for (const [i, c] of result.cases.entries()) expect(body[i]).toContain(c.throughput.median.toFixed(3))

    // SVG: well-formed XML, one bar per case, each bar carrying its case's median.
    const svgFile = join(e.resultsDir, 'report.svg')
    const svg = await cli(e, ['report', file, '--format', 'svg', '--out', svgFile])
    expect(svg.code, svg.stderr).toBe(0)
    const svgText = readFileSync(svgFile, 'utf8')
    const parser = new XMLParser({ignoreAttributes: false, attributeNamePrefix: '@_', isArray: (name) => ['g', 'rect'].includes(name)})
    const tree = parser.parse(svgText) as {svg?: unknown}
    expect(tree.svg).toBeDefined()
    const bars: Array<Record<string, string>> = []
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) {
        for (const n of node) walk(n)
        return
      }
      if (node === null || typeof node !== 'object') return
      for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
        if (key === 'rect') for (const r of asArray(value as Record<string, string> | Array<Record<string, string>>)) if (/\bbar\b/.test(r['@_class'] ?? '')) bars.push(r)
        walk(value)
      }
    }
    walk(tree.svg)
    expect(bars).toHaveLength(caseIds.length)
    expect(bars.map((b) => Number(b['@_data-gbps'])).sort()).toEqual(result.cases.map((c) => c.throughput.median).sort())

    // JUnit: one testsuite, one passing testcase per case (no thresholds given).
    const junitFile = join(e.resultsDir, 'junit.xml')
    const junit = await cli(e, ['report', file, '--format', 'junit', '--out', junitFile])
    expect(junit.code, junit.stderr).toBe(0)
    const xml = new XMLParser({ignoreAttributes: false, attributeNamePrefix: '@_', isArray: (name) => ['testsuite', 'testcase'].includes(name)})
      .parse(readFileSync(junitFile, 'utf8')) as {testsuites?: {'@_tests'?: string; '@_failures'?: string; testsuite?: Array<{testcase?: Array<Record<string, unknown>>}>}}
    expect(xml.testsuites?.['@_tests']).toBe(String(caseIds.length))
    expect(xml.testsuites?.['@_failures']).toBe('0')
    const testcases = (xml.testsuites?.testsuite ?? []).flatMap((s) => s.testcase ?? [])
    expect(testcases.map((t) => t['@_name']).sort()).toEqual([...caseIds].sort())
    for (const t of testcases) expect(t.failure).toBeUndefined()
    // Real durations: each case took its 3 trials x (3 s + 1 s warm-up) at least, as the trials recorded.
    for (const t of testcases) expect(Number(t['@_time'])).toBeGreaterThanOrEqual(12)
    for (const c of result.cases) for (const t of c.trials) expect(t.elapsedS).toBeGreaterThanOrEqual(4)

    // What `virtlab test --json` printed is accepted as it is, and --out <existing dir> gets every format.
    const envelope = join(e.resultsDir, 'test-output.json')
    writeFileSync(envelope, test.stdout)
    const outDir = join(e.resultsDir, 'report-dir')
    mkdirSync(outDir)
    const fromEnvelope = await cli(e, ['report', envelope, '--out', outDir])
    expect(fromEnvelope.code, fromEnvelope.stderr).toBe(0)
    expect(readdirSync(outDir).sort()).toEqual(['junit.xml', 'report.html', 'report.md', 'report.svg', 'report.txt'])
    expect(readFileSync(join(outDir, 'report.txt'), 'utf8')).toContain(caseIds[0])
  } finally {
    const down = await cli(e, ['down', lab, ...(up?.code === 0 ? [] : ['--force'])], {timeoutMs: 180_000})
    expect(down.code, `down failed:\n${down.stdout.slice(-2000)}\n${down.stderr.slice(-3000)}`).toBe(0)
    expect((down.json as DownResult).labs[0]?.notUndone ?? []).toEqual([])
  }
  expect(snapshot(e)).toEqual(before)
}, 300_000)
