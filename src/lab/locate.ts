/**
 * Positions in a lab file. Validation works on plain values addressed by paths
 * (['vms', 0, 'nics', 1, 'switch']); this module maps such a path back to the YAML node it came
 * from, so every problem can say file:line:column. Lines and columns are 1-based.
 */
import {type Document, isAlias, isMap, isPair, isScalar, isSeq, type LineCounter, type Node, type Pair, type YAMLMap} from 'yaml'

export type PathSegment = string | number
export type LabPath = readonly PathSegment[]

export interface Position {
  line: number
  column: number
}

/** `vms[0].nics[1].switch`; keys that are not plain words are quoted: `parameters["a b"]`. */
export function formatPath(path: LabPath): string {
  let out = ''
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`
    else if (/^[A-Za-z_$][\w$-]*$/.test(segment)) out += out === '' ? segment : `.${segment}`
    else out += `[${JSON.stringify(segment.length > 40 ? `${segment.slice(0, 37)}...` : segment)}]`
  }
  return out
}

interface Found {
  /** The deepest node reached (an ancestor when the path leaves the document). */
  node: Node | undefined
  /** The key node of the pair holding `node`, when `node` is a mapping value. */
  key: Node | undefined
  /** Whether the whole path was found. */
  complete: boolean
}

/** Follow aliases to the node they name (bounded, aliases can chain). */
function unalias(doc: Document, node: unknown): Node | undefined {
  let current = node
  for (let i = 0; i < 16 && isAlias(current); i++) current = current.resolve(doc)
  return isAlias(current) ? undefined : (current as Node | undefined)
}

function keyString(pair: Pair): string | undefined {
  const key = pair.key
  if (isScalar(key)) return String(key.value)
  if (key === null || key === undefined) return ''
  return undefined
}

export class SourceMap {
  /** Per mapping, its pairs by key (the first of duplicates), built on first use: a lookup is O(1), not a scan of the mapping. */
  private readonly index = new WeakMap<YAMLMap, Map<string, Pair>>()

  constructor(private readonly doc: Document, private readonly lines: LineCounter) {}

  private pairOf(map: YAMLMap, key: string): Pair | undefined {
    let byKey = this.index.get(map)
    if (byKey === undefined) {
      byKey = new Map()
      for (const item of map.items) {
        const name = keyString(item)
        if (name !== undefined && !byKey.has(name)) byKey.set(name, item)
      }
      this.index.set(map, byKey)
    }
    return byKey.get(key)
  }

  /** 1-based line and column of a character offset. */
  positionOfOffset(offset: number): Position {
    const pos = this.lines.linePos(Math.max(0, offset))
    return {line: pos.line, column: pos.col}
  }

  private nodePosition(node: Node | undefined): Position {
    const offset = node?.range?.[0]
    return offset === undefined ? {line: 1, column: 1} : this.positionOfOffset(offset)
  }

  private find(path: LabPath): Found {
    let node = unalias(this.doc, this.doc.contents)
    let key: Node | undefined
    for (const segment of path) {
      if (isMap(node)) {
        const pair = this.pairOf(node, String(segment))
        if (!pair) return {node, key, complete: false}
        key = isScalar(pair.key) ? pair.key : undefined
        const value = unalias(this.doc, pair.value)
        // `key:` with no value: the key is the best place to point at.
        if (value === undefined || value === null) return {node: undefined, key, complete: segment === path.at(-1)}
        node = value
      } else if (isSeq(node) && typeof segment === 'number') {
        const item = unalias(this.doc, node.items[segment])
        if (item === undefined || item === null) return {node, key, complete: false}
        node = item
        key = undefined
      } else {
        return {node, key, complete: false}
      }
    }
    return {node, key, complete: true}
  }

  /** Where the value at `path` is written (or the nearest written ancestor). */
  valueAt(path: LabPath): Position {
    const found = this.find(path)
    if (found.node === undefined) return this.nodePosition(found.key)
    if (!found.complete && found.key !== undefined && isMap(found.node)) return this.nodePosition(found.key)
    return this.nodePosition(found.node)
  }

  /** Where the key of the last path segment is written (unknown keys, duplicate names). */
  keyAt(path: LabPath): Position {
    const found = this.find(path)
    if (found.complete && found.key !== undefined) return this.nodePosition(found.key)
    return this.valueAt(path)
  }

  /** Where a property missing from the mapping at `parent` should be reported: the mapping's own key. */
  missingAt(parent: LabPath): Position {
    const found = this.find(parent)
    if (found.key !== undefined) return this.nodePosition(found.key)
    return this.nodePosition(found.node)
  }

  /** The source text of the scalar at `path`, when it is a plain (unquoted) scalar. */
  plainSource(path: LabPath, text: string): string | undefined {
    const found = this.find(path)
    if (!found.complete || !isScalar(found.node) || found.node.type !== 'PLAIN') return undefined
    const range = found.node.range
    return range ? text.slice(range[0], range[1]) : undefined
  }

  /** The path of the deepest node that contains `offset` (for parser errors). */
  pathAtOffset(offset: number): PathSegment[] {
    const path: PathSegment[] = []
    let node: unknown = this.doc.contents
    for (let depth = 0; depth < 256; depth++) {
      if (isMap(node)) {
        const pair = node.items.find((item) => isPair(item) && contains(item.key, offset, item.value))
        if (!pair) break
        const key = keyString(pair)
        if (key === undefined) break
        path.push(key)
        node = pair.value
      } else if (isSeq(node)) {
        const index = node.items.findIndex((item) => contains(item, offset))
        if (index < 0) break
        path.push(index)
        node = node.items[index]
      } else {
        break
      }
    }
    return path
  }
}

function contains(start: unknown, offset: number, end: unknown = start): boolean {
  const from = (start as Node | null | undefined)?.range?.[0]
  const to = (end as Node | null | undefined)?.range?.[2] ?? (start as Node | null | undefined)?.range?.[2]
  return from !== undefined && to !== undefined && offset >= from && (offset < to || (from === to && offset === to))
}
