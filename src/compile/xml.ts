/**
 * A small element helper over fast-xml-parser's XMLBuilder (preserveOrder). Every XML virtlab
 * emits is built as a tree of XmlNode values and serialised here, so attribute values and text are
 * always escaped by the builder: no XML is ever assembled by string concatenation.
 */
import {XMLBuilder} from 'fast-xml-parser'

export type AttrValue = string | number | undefined

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

function toOrdered(node: XmlChild): OrderedNode {
  if (typeof node === 'string') return {'#text': node}
  const out: OrderedNode = {[node.name]: node.children.map(toOrdered)}
  const attrs: Record<string, string> = {}
  let any = false
  for (const [key, value] of Object.entries(node.attrs)) {
    if (value === undefined) continue
    attrs[`@_${key}`] = String(value)
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
  processEntities: true,
})

/** Serialise an element tree to an indented XML document (no XML declaration), ending in a newline. */
export function renderXml(root: XmlElement): string {
  const text = builder.build([toOrdered(root)]) as string
  return text.replace(/^\n+/, '').trimEnd() + '\n'
}
