/**
 * Strings from result files reach the text and Markdown reports: a control, C1 or bidi character in
 * them is printed escaped (found by the fuzzer: provenance.host.kernel = "\u0085" printed raw).
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {compareResults, reportResults} from '../../src/app/report.js'
import {RootedFs} from '../../src/host/fs.js'
import {vhostUser} from './samples.js'

const dir = mkdtempSync(join(tmpdir(), 'virtlab-report-controls-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

describe('text reports escape control characters from result files', () => {
  const doc = vhostUser()
  doc.provenance.host.kernel = '6.1\u0085\u001b[2J\u202eevil'
  doc.lab.name = 'lab\u2066x'
  const file = join(dir, 'r.json')
  writeFileSync(file, JSON.stringify(doc))
  const fs = new RootedFs('/')
  // eslint-disable-next-line no-control-regex -- what must not be printed raw
  const raw = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/

  it.each(['table', 'markdown'] as const)('report --format %s', async (format) => {
    const out = await reportResults(fs, {files: [file], format})
    expect(out.text).not.toMatch(raw)
    if (format === 'markdown') expect(out.text).toContain('6.1\\u0085\\u001b[2J\\u202eevil')
  })

  it.each(['table', 'markdown'] as const)('compare --format %s', async (format) => {
    const out = await compareResults(fs, {files: [file], format})
    expect(out.text).not.toMatch(raw)
  })
})
