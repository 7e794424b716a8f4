/**
 * Lab parameters. A lab declares `parameters: {name: {type?, default, description?}}` and uses
 * `${name}` in any string value. A value that is exactly `${name}` takes the parameter's typed
 * value (an integer stays an integer); anything else is string interpolation. `--set name=value`
 * overrides a default, coerced to the declared type. When `type` is omitted it is the type of the
 * default. Every mistake is a located problem.
 */
import {VirtlabError} from '../errors.js'
import type {ParamValue} from './model.js'
import {formatPath, type PathSegment} from './locate.js'
import {type ProblemSink, show, suggestion} from './problems.js'

export type ParamType = 'string' | 'integer' | 'boolean'

export interface ParamDeclaration {
  name: string
  type: ParamType
  value: ParamValue
  description: string | undefined
}

const PARAM_NAME = /^[a-z][a-z0-9_]{0,31}$/
const REFERENCE = /\$\{([^}]*)\}/g
const EXACT_REFERENCE = /^\$\{([^}]*)\}$/
const MAX_SET_LENGTH = 256

/** Parse `--set key=value` flags. A flag without "=" or with a bad key is a usage error. */
export function parseSets(flags: readonly string[] = []): Record<string, string> {
  const sets: Record<string, string> = {}
  for (const flag of flags) {
    const eq = flag.indexOf('=')
    if (eq <= 0) {
      throw new VirtlabError('BAD_SET', `--set ${show(flag)}: expected key=value`, {hint: 'for example --set subnet=10.99.7', exitCode: 2})
    }
    const key = flag.slice(0, eq)
    if (!PARAM_NAME.test(key)) {
      throw new VirtlabError('BAD_SET', `--set ${show(flag)}: ${show(key)} is not a parameter name`, {hint: 'parameter names are lower-case letters, digits and "_", starting with a letter', exitCode: 2})
    }
    sets[key] = flag.slice(eq + 1)
  }
  return sets
}

function typeOf(value: unknown): ParamType | undefined {
  if (typeof value === 'string') return 'string'
  if (typeof value === 'boolean') return 'boolean'
  if (typeof value === 'number' && Number.isSafeInteger(value)) return 'integer'
  return undefined
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Coerce a --set string to a declared type, or say why not. */
export function coerce(raw: string, type: ParamType): {value: ParamValue} | {error: string} {
  if (type === 'integer') {
    if (!/^-?[0-9]{1,16}$/.test(raw) || !Number.isSafeInteger(Number(raw))) return {error: `${show(raw)} is not an integer`}
    return {value: Number(raw)}
  }
  if (type === 'boolean') {
    if (raw === 'true') return {value: true}
    if (raw === 'false') return {value: false}
    return {error: `${show(raw)} is not a boolean (true or false)`}
  }
  if (raw.length > MAX_SET_LENGTH) return {error: `the value is longer than ${MAX_SET_LENGTH} characters`}
  return {value: raw}
}

/**
 * Read the declarations, check them, apply --set. Declarations the schema rejects (no default,
 * a list instead of a mapping) are skipped here; the schema reports them.
 */
export interface ResolvedParameters {
  declared: Map<string, ParamDeclaration>
  /** Declared, but the declaration itself is wrong (already reported): references to it are not reported again. */
  broken: Set<string>
}

export function resolveParameters(lab: Record<string, unknown>, sets: Record<string, string>, sink: ProblemSink): ResolvedParameters {
  const declared = new Map<string, ParamDeclaration>()
  const broken = new Set<string>()
  const section = lab.parameters
  if (isRecord(section)) {
    for (const [name, decl] of Object.entries(section)) {
      const path = ['parameters', name]
      if (!PARAM_NAME.test(name)) {
        sink.add(path, `parameter name ${show(name)} is not valid`, 'lower-case letters, digits and "_", starting with a letter, at most 32 characters', 'key')
        continue
      }
      broken.add(name)
      if (!isRecord(decl) || !Object.hasOwn(decl, 'default')) continue // the schema reports it
      const actual = typeOf(decl.default)
      const explicit = decl.type
      if (explicit !== undefined && explicit !== 'string' && explicit !== 'integer' && explicit !== 'boolean') continue // the schema reports it
      const type: ParamType = (explicit as ParamType | undefined) ?? actual ?? 'string'
      if (actual === undefined) {
        // Floats, lists and mappings fail the schema; an integer beyond 2^53 (or 1e300) passes its
        // "integer" type but is no usable value: report it here, never silently.
        if (typeof decl.default === 'number' && Number.isInteger(decl.default)) {
          sink.add([...path, 'default'], `default ${show(decl.default)} of parameter ${name} is not a safe integer`, `integers are at most ${Number.MAX_SAFE_INTEGER} in magnitude`)
        }
        continue
      }
      if (typeof decl.default === 'string' && decl.default.includes('@{')) {
        sink.add([...path, 'default'], `default of parameter ${name} contains "@{"`, '"@{" starts an apply-time token, which only virtlab itself writes')
        continue
      }
      if (actual !== type) {
        sink.add([...path, 'default'], `default ${show(decl.default)} of parameter ${name} is not ${article(type)}`, `the parameter is declared type: ${type}; change the default or the type`)
        continue
      }
      broken.delete(name)
      declared.set(name, {name, type, value: decl.default as ParamValue, description: typeof decl.description === 'string' ? decl.description : undefined})
    }
  }
  const names = [...declared.keys()]
  for (const [key, raw] of Object.entries(sets)) {
    const decl = declared.get(key)
    if (decl === undefined) {
      // Own keys only: "constructor" or "toString" are not parameters of every lab.
      const known = isRecord(section) && Object.hasOwn(section, key)
      if (known) continue // declared but invalid: already reported
      const hint = names.length === 0 ? 'this lab declares no parameters' : `parameters of this lab: ${names.join(', ')}`
      if (isRecord(section)) sink.add(['parameters'], `--set ${key}: the lab has no parameter ${show(key)}${suggestion(key, names)}`, hint, 'key', ['parameters'])
      else sink.at({line: 1, column: 1}, [], `--set ${key}: the lab has no parameter ${show(key)}`, hint)
      continue
    }
    const coerced = coerce(raw, decl.type)
    if (!('error' in coerced) && typeof coerced.value === 'string' && coerced.value.includes('@{')) {
      sink.add(['parameters', key], `--set ${key}: the value contains "@{"`, '"@{" starts an apply-time token, which only virtlab itself writes', 'key')
      continue
    }
    if ('error' in coerced) {
      sink.add(['parameters', key], `--set ${key}=${raw.length > 40 ? raw.slice(0, 36) + '...' : raw}: ${coerced.error}`, `parameter ${key} is ${article(decl.type)}`, 'key')
      continue
    }
    decl.value = coerced.value
  }
  return {declared, broken}
}

function article(type: ParamType): string {
  return type === 'integer' ? 'an integer' : `a ${type}`
}

export interface Substituted {
  value: Record<string, unknown>
  /** formatted YAML path -> the parameters its value came from. */
  origins: Map<string, string[]>
  /** formatted YAML paths whose references could not be resolved (already reported). */
  unresolved: Set<string>
}

/** Replace `${name}` everywhere except inside `parameters:` itself. */
export function substitute(lab: Record<string, unknown>, resolved: ResolvedParameters, sink: ProblemSink): Substituted {
  const params = resolved.declared
  const origins = new Map<string, string[]>()
  const unresolved = new Set<string>()
  const names = [...params.keys()]
  const visit = (value: unknown, path: PathSegment[]): unknown => {
    if (typeof value === 'string') return replace(value, path)
    if (Array.isArray(value)) return value.map((item, index) => visit(item, [...path, index]))
    if (isRecord(value)) {
      const out: Record<string, unknown> = {}
      for (const [key, item] of Object.entries(value)) {
        out[key] = path.length === 0 && key === 'parameters' ? item : visit(item, [...path, key])
      }
      return out
    }
    return value
  }
  const unknownReference = (name: string, path: PathSegment[]) => {
    unresolved.add(formatPath(path))
    if (resolved.broken.has(name)) return
    const known = PARAM_NAME.test(name)
    const message = known ? `undefined parameter \${${name}}${suggestion(name, names).replace(/"([^"]*)"/, '${$1}')}` : `${show('${' + name + '}')} is not a parameter reference`
    sink.add(path, message, names.length === 0 ? 'declare it under parameters: with a default' : `declare it under parameters: (declared: ${names.join(', ')})`)
  }
  const replace = (text: string, path: PathSegment[]): unknown => {
    if (!text.includes('${')) return text
    const used: string[] = []
    const exact = EXACT_REFERENCE.exec(text)
    let result: unknown
    if (exact) {
      const name = exact[1] ?? ''
      const decl = params.get(name)
      if (decl === undefined) {
        unknownReference(name, path)
        return text
      }
      used.push(name)
      result = decl.value
    } else {
      let ok = true
      result = text.replace(REFERENCE, (whole, name: string) => {
        const decl = params.get(name)
        if (decl === undefined) {
          unknownReference(name, path)
          ok = false
          return whole
        }
        used.push(name)
        return String(decl.value)
      })
      if (!ok) return text
      if (typeof result === 'string' && result.includes('${') && text.replace(REFERENCE, '').includes('${')) {
        unresolved.add(formatPath(path))
        sink.add(path, `${show(text)} has a "\${" without its closing "}"`, 'write ${name}')
        return text
      }
    }
    if (used.length > 0) origins.set(formatPath(path), used)
    return result
  }
  return {value: visit(lab, []) as Record<string, unknown>, origins, unresolved}
}

/** The effective values, for the model. */
export function parameterValues(params: Map<string, ParamDeclaration>): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {}
  for (const [name, decl] of params) out[name] = decl.value
  return out
}
