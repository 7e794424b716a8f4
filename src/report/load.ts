/**
 * Reading result files (or directories of them) through HostFs, each checked against the result
 * schema; a file that does not follow it is an error naming the file. A file may also be what
 * `virtlab test --json` prints ({lab, files, results: [...]}): its results are read, each named
 * <file>#results[i].
 */
import {VirtlabError} from '../errors.js'
import type {HostFs} from '../host/fs.js'
import {assertResult} from '../measure/result.js'
import type {ResultDocument} from '../measure/result-schema.js'

export interface LoadedResult {
  file: string
  result: ResultDocument
}

export async function loadResultFiles(fs: HostFs, sources: readonly string[]): Promise<LoadedResult[]> {
  const files: string[] = []
  for (const source of sources) {
    const stat = await fs.stat(source)
    if (stat === undefined) throw new VirtlabError('RESULT_NOT_FOUND', `no such result file or directory: ${source}`, {hint: 'Run `virtlab test <lab>` first; it writes results/<lab>-<test>.json.'})
    if (stat.isDirectory) {
      const inside = (await fs.readdir(source)).filter((f) => f.endsWith('.json')).map((f) => `${source.replace(/\/+$/, '')}/${f}`)
      files.push(...inside)
    } else {
      files.push(source)
    }
  }
  if (files.length === 0) throw new VirtlabError('RESULT_NOT_FOUND', 'no result files given', {hint: 'virtlab report results/*.json'})
  const loaded: LoadedResult[] = []
  for (const file of files) {
    const text = await fs.readFile(file)
    let data: unknown
    try {
      data = JSON.parse(text)
    } catch (error) {
      throw new VirtlabError('RESULT_INVALID', `${file} is not JSON: ${error instanceof Error ? error.message : String(error)}`)
    }
    loaded.push(...unwrap(data, file))
  }
  return loaded
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A result document, or the `virtlab test --json` envelope holding several. */
function unwrap(data: unknown, file: string): LoadedResult[] {
  if (isObject(data) && !('kind' in data)) {
    if (Array.isArray(data.results)) {
      if (data.results.length === 0) throw new VirtlabError('RESULT_INVALID', `${file} is a \`virtlab test --json\` output without results`, {hint: 'The test run measured nothing; re-run `virtlab test <lab>`.'})
      return data.results.map((r, i) => ({file: `${file}#results[${i}]`, result: assertResult(r, `${file} results[${i}]`)}))
    }
    if (isObject(data.error)) {
      const code = typeof data.error.code === 'string' ? data.error.code : 'unknown'
      throw new VirtlabError('RESULT_INVALID', `${file} is the --json output of a failed command (error ${code}), not a result`, {hint: 'Fix the failure and re-run `virtlab test <lab> --json`.'})
    }
  }
  return [{file, result: assertResult(data, file)}]
}
