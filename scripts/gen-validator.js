// Writes dist/lab/lab-validator.cjs: ajv's standalone validation code for the lab schema, so the
// CLI does not compile the schema (nor load TypeBox and ajv's compiler) at every start.
// Run by `npm run build` after tsc; the options are the runtime's (src/lab/ajv-options.ts).
import {writeFileSync} from 'node:fs'
import {Ajv} from 'ajv'
import standaloneCode from 'ajv/dist/standalone/index.js'

import {LAB_AJV_OPTIONS} from '../dist/lab/ajv-options.js'
import {labJsonSchema} from '../dist/lab/schema.js'

// CommonJS output: ajv's ESM standalone code still require()s its runtime helpers (ucs2length).
const ajv = new Ajv({...LAB_AJV_OPTIONS, code: {source: true}})
const validate = ajv.compile(labJsonSchema())
writeFileSync(new URL('../dist/lab/lab-validator.cjs', import.meta.url), standaloneCode.default(ajv, validate))
console.log('dist/lab/lab-validator.cjs: standalone lab schema validator')
