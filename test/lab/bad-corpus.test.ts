/**
 * The bad-input corpus: every file in test/fixtures/bad/ is a lab with a deliberate mistake
 * (malformed YAML, hostile values, dangling references, ...). Each must be rejected with the
 * problem test/fixtures/bad/expected.yaml names, at exactly that line and column, and with no
 * other problems than the expected count.
 */
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'
import {parse} from 'yaml'

import {formatProblem} from '../../src/lab/problems.js'
import {validateLabText} from '../../src/lab/validate.js'

const dir = join(import.meta.dirname, '..', 'fixtures', 'bad')

interface Expectation {
  line: number
  column: number
  path: string
  message: string
  sets?: Record<string, string>
  count?: number
}

const expected = parse(readFileSync(join(dir, 'expected.yaml'), 'utf8')) as Record<string, Expectation>
const files = readdirSync(dir).filter((f) => f !== 'expected.yaml').sort()

describe('bad lab corpus', () => {
  it('has at least 45 files, each with an expectation and vice versa', () => {
    expect(files.length).toBeGreaterThanOrEqual(45)
    expect(Object.keys(expected).sort()).toEqual(files)
  })

  it.each(files)('%s is rejected with the expected located problem', (file) => {
    const want = expected[file]
    expect(want, `no expectation for ${file}`).toBeDefined()
    if (want === undefined) return
    const text = readFileSync(join(dir, file), 'utf8')
    const result = validateLabText(text, file, want.sets ?? {})
    const rendered = result.problems.map(formatProblem)
    expect(result.model).toBeUndefined()
    expect(result.problems.length, rendered.join('\n')).toBe(want.count ?? 1)
    const match = result.problems.find((p) => p.message.includes(want.message))
    expect(match, `no problem containing ${JSON.stringify(want.message)} in:\n${rendered.join('\n')}`).toBeDefined()
    expect({line: match?.line, column: match?.column, path: match?.path}).toEqual({line: want.line, column: want.column, path: want.path})
    for (const line of rendered) {
      // One line each, located, and nothing a terminal would interpret.
      // eslint-disable-next-line no-control-regex -- control characters are exactly what this looks for
      expect(line).not.toMatch(/[\n\r\u0000-\u0008\u000b-\u001f\u007f\u202a-\u202e\u2066-\u2069]/)
      expect(line.startsWith(`${file}:`)).toBe(true)
      expect(line).toMatch(/^[^:]+:\d+:\d+: /)
    }
  })
})
