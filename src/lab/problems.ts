/**
 * A problem found in a lab file: where (file, 1-based line and column, YAML path), what, and a
 * one-line hint. Problems are collected, never thrown one by one: validation reports all of them.
 */
import {VirtlabError} from '../errors.js'
import {formatPath, type LabPath, type Position, type SourceMap} from './locate.js'

export interface LabProblem {
  file: string
  /** 1-based; 0 when the problem has no place in the file (it could not be read). */
  line: number
  column: number
  /** YAML path such as vms[0].nics[1].switch; '' for the whole file. */
  path: string
  message: string
  hint?: string
}

/** One line: `file:line:column: message [at yaml.path] (hint: ...)`. */
export function formatProblem(problem: LabProblem): string {
  const where = problem.line > 0 ? `${problem.file}:${problem.line}:${problem.column}` : problem.file
  const at = problem.path === '' ? '' : ` [at ${problem.path}]`
  const hint = problem.hint === undefined ? '' : ` (hint: ${problem.hint})`
  return oneLine(`${where}: ${problem.message}${at}${hint}`)
}

/** One line, and nothing a terminal would act on: line breaks become spaces; other control and bidi characters are escaped. */
export function oneLine(text: string): string {
  return text.replace(/[\r\n\t]+/g, ' ').replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

/** A user value shown inside a message: quoted, escaped (newlines become \n), and shortened. */
export function show(value: unknown, max = 60): string {
  let text: string
  if (typeof value === 'string') text = JSON.stringify(value)
  else if (typeof value === 'number') text = Number.isFinite(value) ? String(value) : (Number.isNaN(value) ? 'NaN' : (value > 0 ? 'infinity' : '-infinity'))
  else if (value === null || value === undefined) text = 'nothing'
  else if (Array.isArray(value)) text = 'a list'
  else if (typeof value === 'object') text = 'a mapping'
  else text = String(value)
  // Escape what JSON.stringify leaves alone but a terminal would act on.
  text = text.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  return text.length > max ? `${text.slice(0, max - 4)}..."` : text
}

/** Levenshtein distance with a cap (strings here are short). */
export function editDistance(a: string, b: string): number {
  const m = a.length
  const n = b.length
  let previous = Array.from({length: n + 1}, (_, j) => j)
  for (let i = 1; i <= m; i++) {
    const current = [i]
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost)
    }
    previous = current
  }
  return previous[n] ?? Math.max(m, n)
}

/** The closest candidate, if it is close enough to be a likely typo. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  const lower = word.toLowerCase()
  for (const candidate of candidates) {
    const distance = candidate.toLowerCase() === lower ? 0 : editDistance(lower, candidate.toLowerCase())
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  const limit = Math.max(2, Math.floor(word.length / 3))
  return best !== undefined && bestDistance <= limit && best !== word ? best : undefined
}

export function suggestion(word: string, candidates: readonly string[]): string {
  const best = didYouMean(word, candidates)
  return best === undefined ? '' : ` (did you mean ${show(best)}?)`
}

export type Anchor = 'value' | 'key' | 'missing'

/** Collects problems for one file, locating each path through the source map. */
export class ProblemSink {
  readonly problems: LabProblem[] = []

  constructor(readonly file: string, private readonly map: SourceMap | undefined) {}

  at(position: Position, path: LabPath, message: string, hint?: string): void {
    const problem: LabProblem = {file: this.file, line: position.line, column: position.column, path: oneLine(formatPath(path)), message: oneLine(message)}
    if (hint !== undefined) problem.hint = oneLine(hint)
    const duplicate = this.problems.some((p) => p.line === problem.line && p.column === problem.column && p.message === problem.message)
    if (!duplicate) this.problems.push(problem)
  }

  /** A problem about the value at `path` ('value'), its key ('key'), or a key missing from the mapping at `path` ('missing'). */
  add(path: LabPath, message: string, hint?: string, anchor: Anchor = 'value', reportPath: LabPath = path): void {
    const position = this.map === undefined
      ? {line: 1, column: 1}
      : anchor === 'key' ? this.map.keyAt(path) : anchor === 'missing' ? this.map.missingAt(path) : this.map.valueAt(path)
    this.at(position, reportPath, message, hint)
  }

  sorted(): LabProblem[] {
    return [...this.problems].sort((a, b) => a.line - b.line || a.column - b.column)
  }
}

/** The error loadLab throws: its message lists every problem, its details are the problems. */
export function labInvalidError(file: string, problems: LabProblem[]): VirtlabError {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`
  const message = [`lab ${file} is invalid (${count}):`, ...problems.map((p) => `  ${formatProblem(p)}`)].join('\n')
  return new VirtlabError('LAB_INVALID', message, {
    details: problems,
    hint: 'fix the problems above; `virtlab validate <lab>` lists them again, `virtlab schema` prints the lab format',
  })
}
