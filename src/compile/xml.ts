/**
 * A small element helper over fast-xml-parser's XMLBuilder (preserveOrder). Every XML virtlab
 * emits is built as a tree of XmlNode values and serialised here, so attribute values and text are
 * always escaped by the builder: no XML is ever assembled by string concatenation.
 */
import {XMLBuilder} from 'fast-xml-parser'

/**
 * An apply-time token (@{kind:...}, src/plan/tokens.ts) placed by the compiler. Only these are
 * written into XML as tokens: in every other text and attribute value "@{" is written as "&#64;{"
 * (the same characters to libvirt), so text from a lab (a description) can never become a token
 * the executor would resolve.
 */
export class XmlToken {
  constructor(readonly text: string) {
    if (!/^@\{[a-z][a-z0-9-]*(:[A-Za-z0-9_./-]+)*\}$/.test(text)) throw new Error(`internal: ${JSON.stringify(text)} is not a token`)
  }
}

export function xmlToken(text: string): XmlToken {
  return new XmlToken(text)
}

export type AttrValue = string | number | undefined | XmlToken

/** An element: name, attributes (undefined values are dropped), children (elements or text). */
export interface XmlElement {
  readonly name: string
  readonly attrs: Readonly<Record<string, AttrValue>>
  readonly children: readonly XmlChild[]
}

export type XmlChild = XmlElement | string

/** Build an element. Children that are undefined/false are skipped, so conditionals read inline. */
export function el(name: string, attrs: Record<string, AttrValue> = {}, ...children: (XmlChild | XmlChild[] | undefined | false)[]): XmlElement {
  const flat: XmlChild[] = []
  for (const child of children) {
    if (child === undefined || child === false) continue
    if (Array.isArray(child)) flat.push(...child)
    else flat.push(child)
  }
  return {name, attrs, children: flat}
}

/** An element whose only child is a text node: <name attrs>text</name>. */
export function textEl(name: string, text: string | number, attrs: Record<string, AttrValue> = {}): XmlElement {
  return el(name, attrs, String(text))
}

type OrderedNode = Record<string, unknown>

/** Characters XML 1.0 cannot carry at all (a document with them is not well-formed). */
// eslint-disable-next-line no-control-regex -- control characters are exactly what this looks for
const NOT_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/** Escape a value as the builder would, and "@{" as "&#64;{" (only XmlToken values carry tokens). */
function escapeValue(value: string): string {
  if (NOT_XML.test(value)) throw new Error(`internal: a value with a character XML cannot carry reached the XML writer: ${JSON.stringify(value.slice(0, 60))}`)
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;').replace(/@\{/g, '&#64;{')
}

function valueText(value: string | number | XmlToken): string {
  if (value instanceof XmlToken) return value.text
  return escapeValue(String(value))
}

function toOrdered(node: XmlChild): OrderedNode {
  if (typeof node === 'string') return {'#text': valueText(node)}
  const out: OrderedNode = {[node.name]: node.children.map(toOrdered)}
  const attrs: Record<string, string> = {}
  let any = false
  for (const [key, value] of Object.entries(node.attrs)) {
    if (value === undefined) continue
    attrs[`@_${key}`] = valueText(value)
    any = true
  }
  if (any) out[':@'] = attrs
  return out
}

const builder = new XMLBuilder({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  format: true,
  indentBy: '  ',
  suppressEmptyNode: true,
  suppressBooleanAttributes: false,
  // Values are escaped by escapeValue above (so that XmlToken values can be told apart).
  processEntities: false,
})

/** Serialise an element tree to an indented XML document (no XML declaration), ending in a newline. */
export function renderXml(root: XmlElement): string {
  const text = builder.build([toOrdered(root)]) as string
  return text.replace(/^\n+/, '').trimEnd() + '\n'
}
