/**
 * From text to a plain value, defensively. A lab file is untrusted input: it is size-limited,
 * must be text, must be one YAML document whose top level is a mapping, may not use custom tags
 * or complex keys, and aliases are expanded against a budget (no "billion laughs"). Every
 * rejection is a located problem, never an exception.
 */
import {type Document, isAlias, isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument, type YAMLError} from 'yaml'

import {type PathSegment, SourceMap} from './locate.js'
import {type ProblemSink, show} from './problems.js'

/** Lab files larger than this are refused before parsing. */
export const MAX_LAB_BYTES = 1024 * 1024
/** How many alias references (`*name`) a lab may use, counting the ones inside expanded aliases. */
export const MAX_ALIAS_USES = 64
/** How many values a lab may expand to (after aliases). */
export const MAX_VALUES = 50_000
const MAX_DEPTH = 64

const ALLOWED_TAGS = new Set(['str', 'int', 'float', 'bool', 'null', 'map', 'seq'].map((t) => `tag:yaml.org,2002:${t}`))

const PARSE_HINTS: Record<string, string> = {
  DUPLICATE_KEY: 'each key may appear once per mapping; remove or merge the duplicate',
  TAB_AS_INDENT: 'indent with spaces, not tabs',
  MULTIPLE_DOCS: 'a lab file holds exactly one YAML document (remove the "---" separator)',
  MISSING_CHAR: 'something is missing here: a closing quote or bracket, or the "-" of a list item',
  BAD_INDENT: 'check the indentation: items of one mapping or list line up in the same column',
  MULTILINE_IMPLICIT_KEY: 'a key must fit on one line; check for a missing ":" or quote on the line before',
  BLOCK_AS_IMPLICIT_KEY: 'check the indentation and the ":" after each key',
  UNEXPECTED_TOKEN: 'check the quoting and punctuation near here',
  BAD_SCALAR_START: 'quote values that start with a YAML indicator such as @, ` or %',
  TAG_RESOLVE_FAILED: 'lab files use plain YAML values; remove the tag',
}

/** Size, NUL, control characters and invalid UTF-8 (decoded as U+FFFD). Returns false when the text is unusable. */
export function checkText(text: string, sink: ProblemSink): boolean {
  const bytes = Buffer.byteLength(text, 'utf8')
  if (bytes > MAX_LAB_BYTES) {
    sink.at({line: 1, column: 1}, [], `file is too large (${bytes} bytes; a lab file is at most ${MAX_LAB_BYTES} bytes)`, 'is this really a lab file?')
    return false
  }
  // eslint-disable-next-line no-control-regex -- control characters are exactly what this looks for
  const bad = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd\ufffe\uffff]/.exec(text)
  if (bad) {
    const before = text.slice(0, bad.index)
    const line = before.split('\n').length
    const column = bad.index - before.lastIndexOf('\n')
    const code = bad[0].charCodeAt(0)
    const what = code === 0 ? 'a NUL byte'
      : code === 0xfffd ? 'bytes that are not valid UTF-8'
        : `the control character U+${code.toString(16).toUpperCase().padStart(4, '0')}`
    sink.at({line, column}, [], `not a text file: it contains ${what}`, 'a lab file is UTF-8 YAML text')
    return false
  }
  return true
}

export interface ParsedLab {
  value: Record<string, unknown>
  map: SourceMap
  doc: Document
  /** The text the positions refer to (without a byte-order mark). */
  source: string
}

/** Parse YAML text into a plain object, or report why not. */
/** A line that starts a top-level key of a lab: a file without one is not a lab (and is not quoted in messages). */
const LAB_KEY_LINE = /^(name|description|reference|parameters|host|switches|sriov|vdpa|vms|tests)[ \t]*:/m
/** The top-level keys of a lab. */
const LAB_KEYS = new Set(['name', 'description', 'reference', 'parameters', 'host', 'switches', 'sriov', 'vdpa', 'vms', 'tests'])

/** Does this text look like a lab at all? When not, messages give positions only, never the file's content. */
export function looksLikeLabText(text: string): boolean {
  return LAB_KEY_LINE.test(text)
}

export function parseLabText(text: string, sink: ProblemSink): ParsedLab | undefined {
  const source = text.startsWith('\ufeff') ? text.slice(1) : text
  const labLike = looksLikeLabText(source)
  const lineCounter = new LineCounter()
  const doc = parseDocument(source, {lineCounter, prettyErrors: false, uniqueKeys: true, strict: true, version: '1.2', schema: 'core', merge: false})
  const map = new SourceMap(doc, lineCounter)
  const report = (error: YAMLError) => {
    const offset = error.pos[0]
    const position = map.positionOfOffset(offset)
    const path = error.code === 'MULTIPLE_DOCS' ? [] : map.pathAtOffset(offset)
    if (!labLike) {
      // Not a lab (/etc/shadow given by mistake, or on purpose): the position and the kind of error only.
      sink.at(position, [], `not a lab file: YAML syntax error (${error.code}) and none of the keys of a lab (name:, description:, vms:)`, 'give the path of a lab file; `virtlab init` writes one')
      return
    }
    sink.at(position, path, `YAML: ${error.message.split('\n')[0] ?? error.message}`, PARSE_HINTS[error.code] ?? 'check the YAML syntax near here')
  }
  for (const error of doc.errors) report(error)
  for (const warning of doc.warnings) report(warning)
  if (doc.errors.length > 0 || doc.warnings.length > 0) return undefined

  const contents = doc.contents
  if (contents === null || (isScalar(contents) && (contents.value === null || contents.value === ''))) {
    sink.at({line: 1, column: 1}, [], 'the file is empty', 'start from `virtlab init <name>`')
    return undefined
  }
  if (!isMap(contents)) {
    const kind = isSeq(contents) ? 'a list' : isAlias(contents) ? 'an alias' : 'a single value'
    sink.add([], `the top level of a lab file must be a mapping (name:, description:, vms:, ...), not ${kind}`, 'see `virtlab schema` or `virtlab init`')
    return undefined
  }
  if (!contents.items.some((pair) => isPair(pair) && isScalar(pair.key) && LAB_KEYS.has(String(pair.key.value)))) {
    sink.at({line: 1, column: 1}, [], `not a lab file: its top-level mapping has ${contents.items.length} key${contents.items.length === 1 ? '' : 's'}, none of them a key of a lab (name:, description:, vms:, ...)`, 'give the path of a lab file; `virtlab init` writes one, `virtlab schema` prints the format')
    return undefined
  }
  const converter = new Converter(doc, map, sink)
  const value = converter.convert(contents, [], 0)
  if (converter.failed) return undefined
  return {value: value as Record<string, unknown>, map, doc, source}
}

class Converter {
  failed = false
  /** Set when a budget is exhausted: nothing more is converted or reported. */
  private stopped = false
  private values = 0
  private aliasUses = 0
  private readonly expanding = new Set<Node>()
  /** The outermost alias being expanded: where a budget problem is reported. */
  private outerAlias: PathSegment[] | undefined
  private outerAliasNode: Node | undefined

  constructor(private readonly doc: Document, private readonly map: SourceMap, private readonly sink: ProblemSink) {}

  private fail(path: PathSegment[], message: string, hint: string, node?: Node | null): void {
    this.failed = true
    const offset = node?.range?.[0]
    if (offset !== undefined) this.sink.at(this.map.positionOfOffset(offset), path, message, hint)
    else this.sink.add(path, message, hint)
  }

  convert(node: unknown, path: PathSegment[], depth: number): unknown {
    if (this.stopped) return null
    if (++this.values > MAX_VALUES) {
      const where = this.outerAlias ?? path
      this.stopped = true
      this.fail(where, `the document expands to more than ${MAX_VALUES} values`, this.outerAlias ? 'an alias expands to too much data (an alias bomb?); write the values out' : 'a lab file is small: is this really a lab?', this.outerAliasNode)
      return null
    }
    if (depth > MAX_DEPTH) {
      this.fail(path, `values are nested more than ${MAX_DEPTH} levels deep`, 'a lab file is shallow: check the indentation', node as Node)
      return null
    }
    if (node === null || node === undefined) return null
    if (isAlias(node)) return this.alias(node, path, depth)
    const tag = (node as {tag?: string}).tag
    if (tag !== undefined && !ALLOWED_TAGS.has(tag)) {
      this.fail(path, `YAML tag ${show(tag.replace(/^tag:yaml\.org,2002:/, '!!'))} is not allowed`, 'lab files use plain YAML values; remove the tag', node as Node)
      return null
    }
    if (isScalar(node)) {
      const value = node.value
      if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value
      this.fail(path, 'unsupported YAML value', 'use a plain string, number or boolean', node)
      return null
    }
    if (isSeq(node)) {
      return node.items.map((item, index) => this.convert(item, [...path, index], depth + 1))
    }
    if (isMap(node)) {
      const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>
      for (const pair of node.items) {
        if (!isPair(pair)) continue
        let key: string
        if (pair.key === null || pair.key === undefined) key = ''
        else if (isScalar(pair.key) && pair.key.tag === undefined && (typeof pair.key.value === 'string' || typeof pair.key.value === 'number' || typeof pair.key.value === 'boolean')) key = String(pair.key.value)
        else {
          this.fail(path, 'keys must be plain words', 'complex keys, aliases and tags as keys are not allowed in a lab file', pair.key as Node)
          continue
        }
        if (key === '__proto__' || key === 'constructor' || key === 'prototype') {
          this.fail([...path, key], `key ${show(key)} is not allowed`, 'use the keys listed by `virtlab schema`', pair.key as Node)
          continue
        }
        out[key] = this.convert(pair.value, [...path, key], depth + 1)
      }
      // Plain prototype for consumers, without inherited surprises from the input.
      return Object.assign({}, out)
    }
    this.fail(path, 'unsupported YAML node', 'use plain mappings, lists and values', node as Node)
    return null
  }

  private alias(node: Node & {source: string; resolve(doc: Document): Node | undefined}, path: PathSegment[], depth: number): unknown {
    if (++this.aliasUses > MAX_ALIAS_USES) {
      this.stopped = true
      this.fail(this.outerAlias ?? path, `too many YAML alias references (more than ${MAX_ALIAS_USES})`, 'an alias bomb? write the values out instead of nesting aliases', this.outerAliasNode ?? node)
      return null
    }
    const target = node.resolve(this.doc)
    if (target === undefined) {
      this.fail(path, `YAML alias *${node.source} has no anchor &${node.source} before it`, 'define the anchor before using the alias', node)
      return null
    }
    if (this.expanding.has(target)) {
      this.fail(path, `YAML alias *${node.source} refers to itself`, 'an alias may not appear inside its own anchor', node)
      return null
    }
    const outermost = this.outerAlias === undefined
    if (outermost) {
      this.outerAlias = path
      this.outerAliasNode = node
    }
    this.expanding.add(target)
    try {
      return this.convert(target, path, depth)
    } finally {
      this.expanding.delete(target)
      if (outermost) {
        this.outerAlias = undefined
        this.outerAliasNode = undefined
      }
    }
  }
}
