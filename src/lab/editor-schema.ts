/**
 * The published lab schema (schema/lab.schema.json, `virtlab schema`): what editors validate the
 * file a user writes against, before `${param}` references are substituted. It is the lab schema
 * (src/lab/schema.ts, which virtlab itself checks after substitution) with one change: wherever a
 * parameter may stand (every scalar value outside `parameters:`), a parameter reference is
 * accepted as well:
 * - where the schema expects an integer or a boolean (or a fixed set of values), exactly one
 *   reference, `${name}` (virtlab then uses the parameter's typed value);
 * - where it expects a string, any one-line string whose every `${` opens a well-formed
 *   reference (`${subnet}.2/24`): interpolation, checked against the pattern once substituted.
 * Everything else stays as strict: unknown keys, wrong types, out-of-range numbers and strings
 * without a reference that break a pattern are still errors in the editor.
 */
import type {TSchema} from '@sinclair/typebox'

import {labJsonSchema} from './schema.js'

const NAME = '[a-z][a-z0-9_]{0,31}'
/** Exactly one reference: the value takes the parameter's typed value. */
export const EXACT_REFERENCE_PATTERN = `^\\$\\{${NAME}\\}$`
/** A string with at least one reference, and no "${" that does not open one. */
export const INTERPOLATED_PATTERN = `^(?:[^$\\u0000-\\u001f]|\\$(?!\\{))*(?:\\$\\{${NAME}\\}(?:[^$\\u0000-\\u001f]|\\$(?!\\{))*)+$`

type Node = Record<string, unknown>

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

const SCALAR_TYPES = new Set(['string', 'integer', 'number', 'boolean'])

/** A schema for one scalar value (a type, a const, or a union of those). */
function isScalar(node: Node): boolean {
  if (Array.isArray(node.anyOf)) return node.anyOf.every((n) => isNode(n) && isScalar(n))
  if ('const' in node) return typeof node.const !== 'object'
  return typeof node.type === 'string' && SCALAR_TYPES.has(node.type)
}

function isStringValued(node: Node): boolean {
  if (Array.isArray(node.anyOf)) return node.anyOf.every((n) => isNode(n) && isStringValued(n))
  if ('const' in node) return typeof node.const === 'string'
  return node.type === 'string'
}

function maxLengthOf(node: Node): number | undefined {
  if (typeof node.maxLength === 'number') return node.maxLength
  if (Array.isArray(node.anyOf)) {
    const lengths = node.anyOf.map((n) => (isNode(n) ? maxLengthOf(n) : undefined))
    if (lengths.every((l): l is number => l !== undefined)) return Math.max(...lengths)
  }
  return undefined
}

function withReference(node: Node): Node {
  const reference: Node = isStringValued(node)
    ? {type: 'string', pattern: INTERPOLATED_PATTERN, description: 'a value with ${parameter} references, checked once they are substituted'}
    : {type: 'string', pattern: EXACT_REFERENCE_PATTERN, description: 'a ${parameter} reference (the parameter\'s value is used)'}
  const maxLength = maxLengthOf(node)
  // The raw text is bounded like the value it stands for (or 4096 where the value has no bound).
  if (reference.pattern === INTERPOLATED_PATTERN) reference.maxLength = maxLength ?? 4096
  const annotations: Node = {}
  for (const key of ['title', 'description', 'default'] as const) if (key in node) annotations[key] = node[key]
  const alternatives = Array.isArray(node.anyOf) && Object.keys(node).every((k) => k === 'anyOf' || k in annotations) ? node.anyOf as Node[] : [node]
  return {...annotations, anyOf: [...alternatives, reference]}
}

function transform(node: Node, atRoot: boolean): Node {
  if (isScalar(node)) return withReference(node)
  const out: Node = {...node}
  if (isNode(node.properties)) {
    out.properties = Object.fromEntries(Object.entries(node.properties).map(([key, child]) => [
      key,
      // `parameters:` itself is never substituted: its defaults are the values.
      atRoot && key === 'parameters' ? child : isNode(child) ? transform(child, false) : child,
    ]))
  }
  if (isNode(node.patternProperties)) {
    out.patternProperties = Object.fromEntries(Object.entries(node.patternProperties).map(([key, child]) => [key, isNode(child) ? transform(child, false) : child]))
  }
  if (isNode(node.items)) out.items = transform(node.items, false)
  if (Array.isArray(node.anyOf)) out.anyOf = node.anyOf.map((n) => (isNode(n) ? transform(n, false) : n))
  return out
}

/** The JSON Schema document published as schema/lab.schema.json: the lab schema, reference-aware. */
export function labEditorSchema(): TSchema {
  return transform(labJsonSchema() as Node, true) as TSchema
}
