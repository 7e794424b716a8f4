/**
 * The fuzzer's mutators: a seeded random source, hostile values by kind, and a schema-aware walk
 * of a lab that lists every field (present ones, and optional ones the lab leaves out) with the
 * schema node that governs it, so a mutation picks values that are hostile *for that field*.
 */
import {labJsonSchema} from '../../src/lab/schema.js'
import {rng} from '../helpers/rng.js'

// ---- seeded randomness -------------------------------------------------------------------------

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
export class Rng {
  private readonly source: () => number
  constructor(seed: number) {
    this.source = rng(seed)
  }

  next(): number {
    return this.source()
  }

  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)]
    if (item === undefined) throw new Error('pick from an empty list')
    return item
  }

  chance(p: number): boolean {
    return this.next() < p
  }
}

/** The seed of case `index` of a run seeded `seed` (so any case is reproducible alone). */
export function caseSeed(seed: number, index: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0
  h = Math.imul(h ^ index, 0x85ebca6b) >>> 0
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0
  return (h ^ (h >>> 16)) >>> 0
}

// ---- hostile values ----------------------------------------------------------------------------

/** Strings that are hostile anywhere: traversal, option injection, tokens, controls, huge. */
export const HOSTILE_STRINGS: readonly string[] = [
  '',
  ' ',
  '../../../etc/shadow',
  '/../etc',
  '/etc',
  '/',
  '..',
  'a/../../b',
  'x,romfile=/etc/shadow',
  ',,',
  'a=b',
  'key=value,other=1',
  '@{saved:/etc/shadow:x}',
  '@{vdpa-dev:../../etc}',
  '@{pidfile-pid:/etc/shadow}',
  '@{',
  'line\nbreak',
  'carriage\rreturn',
  'nul\u0000byte',
  'tab\there',
  'noncharacter\ufffe',
  'noncharacter\uffff',
  'bidi\u202eevil',
  'isolate\u2066x\u2069',
  'c1\u0085next',
  'c1\u009bcsi',
  'esc\u001b[31mred',
  'bom\ufeffinside',
  'line\u2028separator',
  '-oProxyCommand=touch /tmp/pwned',
  '--help',
  '-',
  '; rm -rf /',
  '$(id)',
  '`id`',
  '| cat /etc/passwd',
  '&& reboot',
  '${big}',
  '${nan}',
  '${undefined_param}',
  '${',
  '$${x}',
  '%s%n',
  '<x/>',
  ']]>',
  '&amp;',
  '"\'',
  '\\',
  'lo',
  'eth0',
  'virbr0',
  'docker0',
  'images',
  'cache',
  'kvm-probe',
  'constructor',
  '__proto__',
  'NaN',
  'Infinity',
  '1e300',
  '-1',
  '0x10',
  '\u{1F600}',
  'ＡＢＣ',
]

export function longString(rng: Rng): string {
  const n = rng.pick([256, 4096, 65_536, 200_000])
  return rng.pick(['a', '9', '/', ',', 'x,y=', '../']).repeat(n).slice(0, n)
}

/** Numbers (and number-like values) that are hostile for an integer field. */
export function hostileIntegers(min: number | undefined, max: number | undefined): unknown[] {
  const values: unknown[] = [0, -1, -0, 1.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 1e300, -1e300, Number.MAX_SAFE_INTEGER, 'NaN', '1', '', true, null, [], {}]
  if (min !== undefined) values.push(min - 1, min)
  if (max !== undefined) values.push(max + 1, max, max * 1024)
  return values
}

/** Variants of a valid value with something hostile added: the near misses a pattern must still catch. */
export function nearMisses(valid: string, rng: Rng): string[] {
  const suffix = rng.pick([',romfile=/etc/shadow', ',x=y', '/../..', '\n', '\u0000', ' ', ';id', '@{saved:/etc/shadow:k}', '\u202e', '\ufffe', '${big}', '-', '..'])
  return [`${valid}${suffix}`, `${suffix}${valid}`, `-${valid}`, `${valid.slice(0, Math.max(0, valid.length - 1))}${suffix}`, valid.toUpperCase(), `${valid}${valid}`.repeat(8), ` ${valid}`]
}

// ---- the schema, as a tree to walk -------------------------------------------------------------

export type SchemaNode = Record<string, unknown> & {
  type?: string
  const?: unknown
  anyOf?: SchemaNode[]
  properties?: Record<string, SchemaNode>
  patternProperties?: Record<string, SchemaNode>
  items?: SchemaNode
  required?: string[]
  minimum?: number
  maximum?: number
  maxItems?: number
  maxLength?: number
  pattern?: string
}

export const LAB_SCHEMA = labJsonSchema() as unknown as SchemaNode

export type Segment = string | number

/** The schema node for one step into `node` (a key of a mapping or an index of a list). */
export function childSchema(node: SchemaNode | undefined, segment: Segment, value?: unknown): SchemaNode | undefined {
  if (node === undefined) return undefined
  if (node.anyOf !== undefined) {
    // Objects told apart by `type` (the image), else the first branch that knows the key.
    const kind = typeof value === 'object' && value !== null ? (value as Record<string, unknown>).type : undefined
    const branch = node.anyOf.find((b) => b.properties?.type?.const === kind && kind !== undefined)
      ?? node.anyOf.find((b) => b.properties?.[String(segment)] !== undefined)
    return branch === undefined ? undefined : childSchema(branch, segment, value)
  }
  if (typeof segment === 'number') return node.items
  if (node.properties?.[segment] !== undefined) return node.properties[segment]
  const patterns = node.patternProperties
  if (patterns !== undefined) return Object.values(patterns)[0]
  return undefined
}

export type Kind = 'enum' | 'integer' | 'string' | 'boolean' | 'array' | 'object' | 'union' | 'unknown'

export function kindOf(node: SchemaNode | undefined): Kind {
  if (node === undefined) return 'unknown'
  if (node.anyOf !== undefined) return node.anyOf.every((b) => 'const' in b) ? 'enum' : 'union'
  switch (node.type) {
    case 'integer': case 'number': return 'integer'
    case 'string': return 'string'
    case 'boolean': return 'boolean'
    case 'array': return 'array'
    case 'object': return 'object'
    default: return 'unknown'
  }
}

export interface Slot {
  /** Path in the lab's plain value. */
  path: Segment[]
  schema: SchemaNode | undefined
  /** The value there now (undefined: an optional field the lab leaves out). */
  value: unknown
  present: boolean
}

/** Every field of a lab: each value (leaves and containers), and each optional key it leaves out. */
export function slotsOf(lab: Record<string, unknown>): Slot[] {
  const slots: Slot[] = []
  const visit = (value: unknown, path: Segment[], schema: SchemaNode | undefined, depth: number) => {
    slots.push({path, schema, value, present: true})
    if (depth > 12) return
    if (Array.isArray(value)) {
      value.forEach((item, i) => visit(item, [...path, i], childSchema(schema, i, item), depth + 1))
    } else if (typeof value === 'object' && value !== null) {
      const record = value as Record<string, unknown>
      for (const [key, item] of Object.entries(record)) visit(item, [...path, key], childSchema(schema, key, record), depth + 1)
      // Optional keys the lab does not use: the mutation adds them.
      const branch = schema?.anyOf?.find((b) => b.properties?.type?.const === record.type) ?? schema
      for (const [key, sub] of Object.entries(branch?.properties ?? {})) {
        if (!(key in record)) slots.push({path: [...path, key], schema: sub, value: undefined, present: false})
      }
    }
  }
  visit(lab, [], LAB_SCHEMA, 0)
  return slots
}

/** A sample value that the schema node accepts (for added optional fields and list items). */
export function sampleFor(node: SchemaNode | undefined, rng: Rng): unknown {
  switch (kindOf(node)) {
    case 'enum': return rng.pick(node?.anyOf ?? []).const
    case 'integer': return node?.minimum ?? 1
    case 'boolean': return true
    case 'array': return []
    case 'object': return {}
    default: return 'x'
  }
}

/**
 * A hostile value for a slot, chosen from its kind: other enum members and near misses for enums,
 * out-of-range and unsafe numbers for integers, traversal/injection/control characters for strings,
 * over-long lists, wrong shapes. Returns the value and a short label.
 */
export function hostileValue(slot: Slot, rng: Rng): {value: unknown; label: string} {
  const kind = kindOf(slot.schema)
  const generic = (): {value: unknown; label: string} => {
    const r = rng.int(10)
    if (r === 0) return {value: longString(rng), label: 'long string'}
    if (r === 1) return {value: rng.pick(hostileIntegers(slot.schema?.minimum, slot.schema?.maximum)), label: 'number-ish'}
    if (r === 2 && typeof slot.value === 'string') return {value: rng.pick(nearMisses(slot.value, rng)), label: 'near miss'}
    if (r === 3) return {value: rng.pick([null, [], {}, [1, 2], {a: 1}, true]), label: 'wrong shape'}
    return {value: rng.pick(HOSTILE_STRINGS), label: 'hostile string'}
  }
  switch (kind) {
    case 'enum': {
      const members = (slot.schema?.anyOf ?? []).map((b) => b.const)
      if (rng.chance(0.5)) return {value: rng.pick(members), label: 'other enum member'}
      const base = String(rng.pick(members))
      return rng.chance(0.5) ? {value: rng.pick(nearMisses(base, rng)), label: 'enum near miss'} : generic()
    }
    case 'integer': {
      if (rng.chance(0.7)) return {value: rng.pick(hostileIntegers(slot.schema?.minimum, slot.schema?.maximum)), label: 'hostile integer'}
      return generic()
    }
    case 'string': {
      if (typeof slot.value === 'string' && rng.chance(0.4)) return {value: rng.pick(nearMisses(slot.value, rng)), label: 'near miss'}
      if (slot.schema?.maxLength !== undefined && rng.chance(0.1)) return {value: 'a'.repeat(slot.schema.maxLength + 1), label: 'maxLength + 1'}
      return generic()
    }
    case 'boolean':
      return {value: rng.pick(['true', 'yes', 1, 0, null, 'false']), label: 'not a boolean'}
    case 'array': {
      const r = rng.int(5)
      const items = Array.isArray(slot.value) ? slot.value : []
      if (r === 0 && items.length > 0) return {value: [...items, ...items], label: 'duplicated items'}
      if (r === 1) return {value: Array.from({length: (slot.schema?.maxItems ?? 16) + 1}, (_, i) => items[i % Math.max(1, items.length)] ?? sampleFor(slot.schema?.items, rng)), label: 'maxItems + 1'}
      if (r === 2) return {value: [], label: 'empty list'}
      if (r === 3) return {value: Array.from({length: rng.pick([1000, 20_000])}, () => sampleFor(slot.schema?.items, rng)), label: 'huge list'}
      return generic()
    }
    case 'object': {
      const r = rng.int(4)
      const record = typeof slot.value === 'object' && slot.value !== null && !Array.isArray(slot.value) ? slot.value as Record<string, unknown> : {}
      if (r === 0) return {value: {...record, [rng.pick(['extra', 'constructor', 'toString', '__defineGetter__', 'x'.repeat(300)])]: 1}, label: 'unknown key'}
      if (r === 1 && slot.schema?.required !== undefined && slot.schema.required.length > 0) {
        const drop = rng.pick(slot.schema.required)
        const copy = {...record}
        delete copy[drop]
        return {value: copy, label: `missing ${drop}`}
      }
      return generic()
    }
    default:
      return generic()
  }
}

/** Set `value` at `path` in a deep copy of `root` (creating mappings on the way). */
export function setAt(root: Record<string, unknown>, path: readonly Segment[], value: unknown): Record<string, unknown> {
  const copy = structuredClone(root)
  if (path.length === 0) return value as Record<string, unknown>
  let node: unknown = copy
  for (const segment of path.slice(0, -1)) {
    const next = (node as Record<string | number, unknown>)[segment]
    if (typeof next !== 'object' || next === null) (node as Record<string | number, unknown>)[segment] = {}
    node = (node as Record<string | number, unknown>)[segment]
  }
  const last = path.at(-1) as Segment
  if (value === undefined) delete (node as Record<string | number, unknown>)[last]
  else (node as Record<string | number, unknown>)[last] = value
  return copy
}

export function formatSlot(path: readonly Segment[]): string {
  return path.map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`)).join('').replace(/^\./, '') || '(root)'
}

/** A short printable form of an injected value for reports (escaped, shortened). */
export function describeValue(value: unknown): string {
  let text: string
  if (typeof value === 'string') text = JSON.stringify(value.length > 80 ? `${value.slice(0, 60)}...(${value.length} chars)` : value)
  else if (Array.isArray(value)) text = `[list of ${value.length}]`
  else if (typeof value === 'number') text = Number.isFinite(value) ? String(value) : String(value)
  else text = JSON.stringify(value) ?? String(value)
  // eslint-disable-next-line no-control-regex -- escape what a terminal would act on
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ufffe\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
