import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {Ajv} from 'ajv'
import {describe, expect, it} from 'vitest'

import {schemaText} from '../../scripts/gen-schema.js'
import {labEditorSchema} from '../../src/lab/editor-schema.js'

const root = join(import.meta.dirname, '..', '..')

describe('schema/lab.schema.json', () => {
  const committed = readFileSync(join(root, 'schema', 'lab.schema.json'), 'utf8')

  it('is up to date with src/lab/schema.ts (run `npm run schema` if this fails)', () => {
    expect(committed).toBe(schemaText())
    expect(JSON.parse(committed)).toEqual(labEditorSchema())
  })

  it('is a draft-07 schema ajv compiles, and it rejects unknown keys', () => {
    const schema = JSON.parse(committed) as Record<string, unknown>
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#')
    const validate = new Ajv({allErrors: true, strict: false}).compile(schema)
    expect(validate({name: 'x', description: 'y', vms: []})).toBe(true)
    expect(validate({name: 'x', description: 'y', vms: [], extra: 1})).toBe(false)
  })
})
