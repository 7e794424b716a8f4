/**
 * Reading result files (or directories of them) through HostFs, each checked against the result
 * schema; a file that does not follow it is an error naming the file.
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
    loaded.push({file, result: assertResult(data, file)})
  }
  return loaded
}
