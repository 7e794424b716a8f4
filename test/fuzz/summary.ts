/**
 * Aggregating fuzz cases: the summary table (cases per target, accepted / rejected, findings by
 * kind, time) and the distinct findings (kind + target + rule), each with the first case that
 * showed it and how often it came back.
 */
import {type CaseResult, type FindingKind, TARGETS} from './engine.js'

export const KINDS: readonly FindingKind[] = ['stack-trace', 'hang', 'unlocated-rejection', 'late-rejection', 'oracle']

export interface DistinctFinding {
  kind: FindingKind
  target: string
  rule: string
  count: number
  /** The first case: its index, seed, input and detail. */
  first: {index: number; seed: number; input: string; detail: string}
  /** Up to five more cases (index and input), to see how far a finding reaches. */
  more: {index: number; input: string}[]
}

export class Summary {
  readonly rows = new Map<string, {cases: number; accepted: number; rejected: number; kinds: Map<FindingKind, number>; ms: number}>()
  readonly distinct = new Map<string, DistinctFinding>()

  add(result: CaseResult): void {
    let row = this.rows.get(result.target)
    if (row === undefined) {
      row = {cases: 0, accepted: 0, rejected: 0, kinds: new Map(), ms: 0}
      this.rows.set(result.target, row)
    }
    row.cases++
    if (result.accepted) row.accepted++
    else row.rejected++
    row.ms += result.ms
    for (const f of result.findings) {
      row.kinds.set(f.kind, (row.kinds.get(f.kind) ?? 0) + 1)
      const key = `${f.kind}|${result.target}|${f.rule}`
      const seen = this.distinct.get(key)
      if (seen === undefined) this.distinct.set(key, {kind: f.kind, target: result.target, rule: f.rule, count: 1, first: {index: result.index, seed: result.seed, input: result.input, detail: f.detail}, more: []})
      else {
        seen.count++
        if (seen.more.length < 5 && seen.first.index !== result.index && !seen.more.some((m) => m.index === result.index)) seen.more.push({index: result.index, input: result.input})
      }
    }
  }

  total(): number {
    return [...this.rows.values()].reduce((n, r) => n + r.cases, 0)
  }

  table(): string {
    const header = ['target', 'cases', 'accepted', 'rejected', ...KINDS, 'time s']
    const lines: string[][] = [header]
    const sum = {cases: 0, accepted: 0, rejected: 0, kinds: new Map<FindingKind, number>(), ms: 0}
    for (const target of TARGETS) {
      const row = this.rows.get(target)
      if (row === undefined) continue
      lines.push([target, String(row.cases), String(row.accepted), String(row.rejected), ...KINDS.map((k) => String(row.kinds.get(k) ?? 0)), (row.ms / 1000).toFixed(1)])
      sum.cases += row.cases
      sum.accepted += row.accepted
      sum.rejected += row.rejected
      sum.ms += row.ms
      for (const k of KINDS) sum.kinds.set(k, (sum.kinds.get(k) ?? 0) + (row.kinds.get(k) ?? 0))
    }
    lines.push(['total', String(sum.cases), String(sum.accepted), String(sum.rejected), ...KINDS.map((k) => String(sum.kinds.get(k) ?? 0)), (sum.ms / 1000).toFixed(1)])
    const widths = header.map((_, c) => Math.max(...lines.map((l) => (l[c] ?? '').length)))
    const render = (l: string[]) => `| ${l.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join(' | ')} |`
    return [render(header), `|${widths.map((w, c) => (c === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...lines.slice(1).map(render)].join('\n')
  }

  findings(): DistinctFinding[] {
    return [...this.distinct.values()].sort((a, b) => KINDS.indexOf(a.kind) - KINDS.indexOf(b.kind) || a.target.localeCompare(b.target) || a.rule.localeCompare(b.rule))
  }
}
