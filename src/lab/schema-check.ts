/**
 * The JSON Schema pass: ajv (allErrors) against labJsonSchema(), with ajv's raw errors turned into
 * one readable, located problem per mistake. Unions (anyOf) are collapsed: a union of literals
 * becomes "must be one of a, b, c"; a union of objects told apart by `type` reports the errors of
 * the branch the value chose; otherwise the branch matching the value's JSON type is used.
 */
import type {ErrorObject, ValidateFunction} from 'ajv'

import {LAB_AJV_OPTIONS} from './ajv-options.js'

import {formatPath, type PathSegment, type SourceMap} from './locate.js'
import {type ProblemSink, show, suggestion} from './problems.js'

type SchemaNode = Record<string, unknown> & {
  const?: unknown
  type?: string
  description?: string
  properties?: Record<string, SchemaNode>
  anyOf?: SchemaNode[]
  pattern?: string
}

/** Hints for the few patterns whose schema carries no description. */
const PATTERN_HINTS: Record<string, string> = {
  '^[a-z0-9_-]{1,56}$': 'a kernel module name: lower-case letters, digits, "_" and "-"',
  '^[a-z][a-z0-9_-]{0,30}$': 'lower-case letters, digits, "_" and "-", starting with a letter, at most 31 characters',
  '^[a-z_][a-z0-9_-]{0,31}$': 'a Unix user name: lower-case letters, digits, "_" and "-"',
  '^(--?)?[A-Za-z0-9][A-Za-z0-9_=.,:*/-]{0,127}$': 'one EAL option such as --log-level=8, or the value after an option (no spaces or shell characters)',
  '^[a-z][a-z0-9_]{0,31}$': 'lower-case letters, digits and "_", starting with a letter',
}

/**
 * The build writes dist/lab/lab-validator.cjs, ajv's standalone code for the lab schema
 * (scripts/gen-validator.js), so the CLI neither loads TypeBox and ajv nor compiles the schema at
 * start. From the TypeScript sources (tests, bin/dev.js) the schema is compiled here instead.
 */
async function loadValidator(): Promise<ValidateFunction> {
  const generated = './lab-validator.cjs'
  try {
    const module = (await import(generated)) as {default: ValidateFunction | {default: ValidateFunction}}
    return typeof module.default === 'function' ? module.default : module.default.default
  } catch {
    const [{Ajv}, {labJsonSchema}] = await Promise.all([import('ajv'), import('./schema.js')])
    return new Ajv(LAB_AJV_OPTIONS).compile(labJsonSchema())
  }
}

const compiled = await loadValidator()

function validator(): ValidateFunction {
  return compiled
}

/** Split an ajv instancePath into segments, numbers where the data is a list. */
function toPath(pointer: string, root: unknown): PathSegment[] {
  if (pointer === '') return []
  const path: PathSegment[] = []
  let current: unknown = root
  for (const raw of pointer.slice(1).split('/')) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (Array.isArray(current)) {
      const index = Number(segment)
      path.push(index)
      current = current[index]
    } else {
      path.push(segment)
      current = typeof current === 'object' && current !== null ? (current as Record<string, unknown>)[segment] : undefined
    }
  }
  return path
}

/** The name a message uses for the value at a path: the last key with its indices (`nics[1]`, `backend`). */
export function label(path: readonly PathSegment[]): string {
  let start = path.length - 1
  while (start >= 0 && typeof path[start] === 'number') start--
  if (start < 0) return path.length === 0 ? 'the lab' : formatPath(path)
  return formatPath(path.slice(start))
}

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'nothing'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  return show(value)
}

function typeName(type: string | undefined): string {
  switch (type) {
    case 'object': return 'a mapping'
    case 'array': return 'a list'
    case 'integer': return 'an integer'
    case 'number': return 'a number'
    case 'boolean': return 'true or false'
    case 'string': return 'a string'
    case 'null': return 'empty'
    default: return type ?? 'a value'
  }
}

function matchesType(type: string | undefined, value: unknown): boolean {
  switch (type) {
    case 'object': return typeof value === 'object' && value !== null && !Array.isArray(value)
    case 'array': return Array.isArray(value)
    case 'integer': return typeof value === 'number' && Number.isInteger(value)
    case 'number': return typeof value === 'number'
    case 'boolean': return typeof value === 'boolean'
    case 'string': return typeof value === 'string'
    default: return false
  }
}

/** Which anyOf branch should explain the failure, or undefined to explain the union as a whole. */
function chooseBranch(branches: SchemaNode[], data: unknown): number | undefined {
  if (branches.every((b) => 'const' in b)) return undefined
  const discriminated = branches.every((b) => b.properties?.type !== undefined && 'const' in b.properties.type)
  if (discriminated && typeof data === 'object' && data !== null && !Array.isArray(data)) {
    const kind = (data as Record<string, unknown>).type
    const index = branches.findIndex((b) => b.properties?.type?.const === kind)
    return index >= 0 ? index : undefined
  }
  const matching = branches.flatMap((b, i) => (matchesType(b.type, data) ? [i] : []))
  return matching.length === 1 ? matching[0] : undefined
}

export interface SchemaCheckContext {
  sink: ProblemSink
  map: SourceMap
  text: string
  /** formatted path -> parameters the value came from. */
  origins: Map<string, string[]>
  /** formatted paths already reported (unresolved parameter references): no schema noise there. */
  skip?: Set<string>
}

/** Validate against the lab schema; report every failure. Returns true when the schema passed. */
export function checkSchema(value: unknown, context: SchemaCheckContext): boolean {
  const validate = validator()
  if (validate(value)) return true
  const errors = validate.errors ?? []
  const consumed = new Set<ErrorObject>()
  const within = (inner: ErrorObject, outer: ErrorObject) =>
    inner.instancePath === outer.instancePath || inner.instancePath.startsWith(outer.instancePath + '/')

  const skipped = (e: ErrorObject) => context.skip !== undefined && context.skip.size > 0 && context.skip.has(formatPath(toPath(e.instancePath, value)))
  const unions = errors.filter((e) => e.keyword === 'anyOf').sort((a, b) => a.schemaPath.length - b.schemaPath.length)
  for (const union of unions) {
    if (consumed.has(union)) continue
    consumed.add(union)
    const prefix = union.schemaPath + '/'
    const branchErrors = errors.filter((e) => e !== union && e.schemaPath.startsWith(prefix) && within(e, union))
    for (const e of branchErrors) consumed.add(e)
    const branches = (union.schema ?? []) as SchemaNode[]
    const chosen = chooseBranch(branches, union.data)
    if (chosen !== undefined) {
      for (const e of branchErrors) if (e.schemaPath.startsWith(`${prefix}${chosen}/`)) consumed.delete(e)
      continue
    }
    if (!skipped(union)) reportUnion(union, branches, value, context)
  }
  for (const error of errors) if (!consumed.has(error) && !skipped(error)) reportOne(error, value, context)
  return false
}

function fromParams(path: PathSegment[], context: SchemaCheckContext): string {
  const names = context.origins.get(formatPath(path))
  return names === undefined ? '' : ` (from ${names.map((n) => `\${${n}}`).join(', ')})`
}

function reportUnion(union: ErrorObject, branches: SchemaNode[], root: unknown, context: SchemaCheckContext): void {
  const path = toPath(union.instancePath, root)
  const data = union.data
  const parent = union.parentSchema as SchemaNode | undefined
  const name = label(path)
  const origin = fromParams(path, context)
  if (branches.every((b) => 'const' in b)) {
    const choices = branches.map((b) => String(b.const)).join(', ')
    context.sink.add(path, `${name} must be one of ${choices} (got ${kindOf(data)})${origin}`, parent?.description)
    return
  }
  const discriminated = branches.every((b) => b.properties?.type !== undefined && 'const' in b.properties.type)
  if (discriminated && typeof data === 'object' && data !== null && !Array.isArray(data)) {
    const kinds = branches.map((b) => String(b.properties?.type?.const)).join(', ')
    const kind = (data as Record<string, unknown>).type
    if (kind === undefined) context.sink.add(path, `missing required key "type" (one of ${kinds})`, undefined, 'missing', [...path, 'type'])
    else context.sink.add([...path, 'type'], `${name}.type must be one of ${kinds} (got ${kindOf(kind)})`)
    return
  }
  if (!branches.some((b) => matchesType(b.type, data))) {
    const types = [...new Set(branches.map((b) => typeName(b.type)))]
    context.sink.add(path, `${name} must be ${types.join(' or ')} (got ${kindOf(data)})${origin}`, parent?.description)
    return
  }
  const descriptions = branches.map((b) => b.description).filter((d): d is string => d !== undefined)
  context.sink.add(path, `${name} ${show(data)} is not valid${origin}`, parent?.description ?? (descriptions.length > 0 ? descriptions.join(', or ') : undefined))
}

function reportOne(error: ErrorObject, root: unknown, context: SchemaCheckContext): void {
  const {sink} = context
  const path = toPath(error.instancePath, root)
  const name = label(path)
  const data = error.data
  const parent = error.parentSchema as SchemaNode | undefined
  const params = error.params as Record<string, unknown>
  const origin = fromParams(path, context)
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty)
      const allowed = Object.keys(parent?.properties ?? {})
      const where = [...path, key]
      sink.add(where, `unknown key ${show(key)}${suggestion(key, allowed)}`, allowed.length > 0 ? `allowed keys here: ${allowed.join(', ')}` : undefined, 'key')
      return
    }
    case 'required': {
      const key = String(params.missingProperty)
      const description = parent?.properties?.[key]?.description
      sink.add(path, `missing required key ${show(key)}${path.length > 0 ? ` in ${name}` : ''}`, `add ${key}:${description === undefined ? ' (see `virtlab schema`)' : ` ${description}`}`, 'missing', [...path, key])
      return
    }
    case 'type': {
      const expected = String(params.type)
      let hint: string | undefined = parent?.description
      if (expected === 'string' && (typeof data === 'number' || typeof data === 'boolean' || data === null)) {
        const source = context.map.plainSource(path, context.text)
        if (source !== undefined && source !== '') hint = `YAML read ${source} as ${typeof data === 'number' ? 'a number' : typeof data === 'boolean' ? 'a boolean' : 'empty'}; quote it: "${source}"`
      }
      sink.add(path, `${name} must be ${typeName(expected)} (got ${kindOf(data)})${origin}`, hint)
      return
    }
    case 'pattern': {
      const pattern = String(params.pattern)
      sink.add(path, `${name} ${show(data)} is not valid${origin}`, parent?.description ?? PATTERN_HINTS[pattern] ?? `must match ${pattern}`)
      return
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum': {
      const op = {minimum: '>=', maximum: '<=', exclusiveMinimum: '>', exclusiveMaximum: '<'}[error.keyword]
      sink.add(path, `${name} must be ${op} ${String(params.limit)} (got ${kindOf(data)})${origin}`, parent?.description)
      return
    }
    case 'minItems':
      sink.add(path, `${name} needs at least ${String(params.limit)} item${params.limit === 1 ? '' : 's'}`, parent?.description)
      return
    case 'maxItems':
      sink.add(path, `${name} has more than ${String(params.limit)} items`, parent?.description)
      return
    case 'maxLength':
      sink.add(path, `${name} is too long (at most ${String(params.limit)} characters)${origin}`, parent?.description)
      return
    case 'minLength':
      sink.add(path, `${name} is too short (at least ${String(params.limit)} characters)${origin}`, parent?.description)
      return
    case 'const':
      sink.add(path, `${name} must be ${show(params.allowedValue)} (got ${kindOf(data)})${origin}`, parent?.description)
      return
    default:
      sink.add(path, `${name} ${error.message ?? 'is not valid'}${origin}`, parent?.description)
  }
}
