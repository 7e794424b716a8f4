/**
 * Issue 11, item 11: sizes are bounded in the schema and validation is linear in the file.
 * Linearity is asserted on work, not time: every read of a YAML pair's key (the yaml package's
 * duplicate-key check, the source map's lookups, the path of a parse error) is counted, and the
 * count for 4n keys must be about 4 times the count for n keys, not 16 times. (Timings are in
 * `npm run bench:validate`.)
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Pair} from 'yaml'

import {MAX_PROBLEMS} from '../../src/lab/problems.js'
import {validateLabText} from '../../src/lab/validate.js'

const HEAD = 'name: big\ndescription: "size test"\n'
const VALID = `${HEAD}switches: [{name: br0, type: linux-bridge}]\nvms:\n  - name: vm1\n    VCPUS\n    CPUSET\n    nics: [{backend: virtio-qemu, switch: br0}]\n`

function lab(vcpus: number, cpuset?: string): string {
  return VALID.replace('VCPUS', `vcpus: ${vcpus}`).replace('CPUSET', cpuset === undefined ? '' : `cpuset: "${cpuset}"`)
}

/** Count reads of Pair#key (an own property assigned in the constructor: a prototype accessor sees every one). */
let keyReads = 0
const keys = new WeakMap<object, unknown>()
beforeAll(() => {
  Object.defineProperty(Pair.prototype, 'key', {
    configurable: true,
    get(this: object) {
      keyReads++
      return keys.get(this)
    },
    set(this: object, value: unknown) {
      keys.set(this, value)
    },
  })
})
afterAll(() => {
  delete (Pair.prototype as {key?: unknown}).key
})

function work(text: string): number {
  keyReads = 0
  validateLabText(text, 'big.yaml')
  return keyReads
}

describe('validation is linear in the number of keys', () => {
  const unknownKeys = (n: number) => `${HEAD}${Array.from({length: n}, (_, i) => `key${i}: ${i}\n`).join('')}vms: []\n`
  const vmKeys = (n: number) => `${HEAD}switches: [{name: br0, type: linux-bridge}]\nvms:\n  - name: vm1\n    nics: [{backend: virtio-qemu, switch: br0}]\n${Array.from({length: n}, (_, i) => `    extra${i}: ${i}\n`).join('')}`
  const duplicates = (n: number) => `${HEAD}vms: []\n${Array.from({length: n}, () => 'name: again\n').join('')}`

  it.each([
    ['unknown top-level keys', unknownKeys],
    ['unknown keys in one VM (each one a located problem)', vmKeys],
    ['duplicate keys', duplicates],
  ])('%s: 4x the keys is at most ~4x the key reads', (_, make) => {
    const small = work(make(2000))
    const large = work(make(8000))
    expect(small).toBeGreaterThan(0)
    // Linear: 4. The quadratic duplicate-key check and source-map scans gave 16 and more.
    expect(large / small).toBeLessThan(5)
  })

  it('duplicate keys are still reported, located', () => {
    const result = validateLabText(`${HEAD}vms: []\nname: again\n`, 'dup.yaml')
    expect(result.problems).toEqual([expect.objectContaining({line: 4, column: 1, path: 'name', message: 'YAML: Map keys must be unique'})])
  })

  it(`lists at most ${MAX_PROBLEMS} problems and counts the rest`, () => {
    const result = validateLabText(`${HEAD}${Array.from({length: 1000}, (_, i) => `key${i}: ${i}\n`).join('')}vms: []\n`, 'many.yaml')
    expect(result.problems).toHaveLength(MAX_PROBLEMS + 1)
    expect(result.problems.at(-1)?.message).toBe(`and 800 more problems (only the first ${MAX_PROBLEMS} are listed)`)
  })

  it('a document over the value budget is refused from its tokens, located', () => {
    const result = validateLabText(`${HEAD}vms: [${Array.from({length: 60_000}, (_, i) => String(i % 10)).join(', ')}]\n`, 'values.yaml')
    expect(result.problems).toHaveLength(1)
    expect(result.problems[0]).toMatchObject({line: 3, message: 'the document expands to more than 25000 values'})
    // The budget is a lower bound of the values: a lab just under it still goes through (here to the schema).
    const under = validateLabText(`${HEAD}vms: [${Array.from({length: 20_000}, () => '1').join(', ')}]\n`, 'under.yaml')
    expect(under.problems[0]?.message).toMatch(/vms has more than 64 items|must be a mapping/)
  })
})

describe('sizes are bounded in the schema', () => {
  it('a cpuset of 64 ranges is accepted, 65 are not', () => {
    const ranges = (n: number) => Array.from({length: n}, (_, i) => String(i)).join(',')
    expect(validateLabText(lab(2, ranges(64)), 'ok.yaml').problems).toEqual([])
    const result = validateLabText(lab(2, ranges(65)), 'long.yaml')
    expect(result.problems.map((p) => [p.line, p.path])).toEqual([[7, 'vms[0].cpuset']])
  })

  it('the 150,000-entry cpuset with 255 vCPUs is a located problem (it made a 183 MB domain XML)', () => {
    const result = validateLabText(lab(255, Array.from({length: 150_000}, (_, i) => String(i % 4000)).join(',')), 'huge.yaml')
    expect(result.model).toBeUndefined()
    expect(result.problems.some((p) => p.path === 'vms[0].cpuset' && p.line === 7)).toBe(true)
  })

  it('vCPUs are at most 255 (QEMU pc limit without x2APIC/interrupt remapping)', () => {
    expect(validateLabText(lab(255), 'ok.yaml').problems).toEqual([])
    expect(validateLabText(lab(256), 'many.yaml').problems.map((p) => p.message)).toEqual(['vcpus must be <= 255 (got 256)'])
  })

  it('a lab declares at most 64 parameters', () => {
    const params = (n: number) => `parameters:\n${Array.from({length: n}, (_, i) => `  p${i}: {default: ${i}}\n`).join('')}`
    expect(validateLabText(lab(1) + params(64), 'ok.yaml').problems).toEqual([])
    expect(validateLabText(lab(1) + params(65), 'many.yaml').problems.map((p) => p.message)).toEqual(['parameters has more than 64 entries'])
  })
})
