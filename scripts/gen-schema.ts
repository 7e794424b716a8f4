/**
 * Writes schema/lab.schema.json from the TypeBox definition (src/lab/schema.ts), reference-aware for editors (src/lab/editor-schema.ts).
 * `npm run schema`; test/lab/schema-file.test.ts fails when the committed file is stale.
 */
import {mkdirSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {labEditorSchema} from '../src/lab/editor-schema.js'

export function schemaText(): string {
  return JSON.stringify(labEditorSchema(), null, 2) + '\n'
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const target = join(root, 'schema', 'lab.schema.json')
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  mkdirSync(dirname(target), {recursive: true})
  writeFileSync(target, schemaText())
  console.log(`wrote ${target}`)
}
