/**
 * loadLab: find a lab (file path or name), read it through HostFs, validate it, return the model.
 * A lab with problems throws VirtlabError LAB_INVALID whose message lists every problem and whose
 * details are the LabProblem[].
 */
import * as path from 'node:path'

import {VirtlabError} from '../errors.js'
import type {HostFs} from '../host/fs.js'
import {resolveLabSource} from './find.js'
import type {LabModel} from './model.js'
import {MAX_LAB_BYTES} from './parse.js'
import {labInvalidError, type LabProblem} from './problems.js'
import {validateLabText} from './validate.js'

export interface LoadLabOptions {
  sets?: Record<string, string>
  fs: HostFs
  /** Directories searched for lab names before the shipped labs. */
  dirs?: string[]
  packageRoot: string
}

export interface LabCheck {
  /** What the user asked for (a name or a path). */
  source: string
  /** The file problems are reported against: the path as given, or the found file for a name. */
  file: string
  model?: LabModel
  problems: LabProblem[]
}

function displayPath(source: string, file: string): string {
  if (source.includes('/') || source.endsWith('.yaml') || source.endsWith('.yml')) return source
  const relative = path.relative(process.cwd(), file)
  return relative.startsWith('..') ? file : relative
}

/** Read the text of a lab file, refusing what is not a regular, reasonably small file. */
export async function readLabFile(file: string, fs: HostFs, display = file): Promise<string> {
  const stat = await fs.stat(file)
  if (stat === undefined) throw new VirtlabError('LAB_NOT_FOUND', `lab file ${display} does not exist`, {hint: '`virtlab list` shows the shipped labs'})
  if (!stat.isFile) throw new VirtlabError('LAB_NOT_FOUND', `lab file ${display} is not a regular file`, {hint: 'give the path of a .yaml file'})
  if (stat.size > MAX_LAB_BYTES) {
    throw labInvalidError(display, [{file: display, line: 1, column: 1, path: '', message: `file is too large (${stat.size} bytes; a lab file is at most ${MAX_LAB_BYTES} bytes)`, hint: 'is this really a lab file?'}])
  }
  try {
    return await fs.readFile(file)
  } catch (error) {
    const code = (error as {code?: string}).code
    throw new VirtlabError('LAB_UNREADABLE', `cannot read lab file ${display}${code ? ` (${code})` : ''}`, {hint: 'check the path and its permissions', cause: error})
  }
}

/** Find, read and validate; never throws for problems in the lab (they are returned). */
export async function checkLab(source: string, options: LoadLabOptions): Promise<LabCheck> {
  let file: string
  try {
    file = await resolveLabSource(source, options)
  } catch (error) {
    return {source, file: source, problems: [problemOf(source, error)]}
  }
  const display = displayPath(source, file)
  let text: string
  try {
    text = await readLabFile(file, options.fs, display)
  } catch (error) {
    if (error instanceof VirtlabError && error.code === 'LAB_INVALID') return {source, file: display, problems: error.details as LabProblem[]}
    return {source, file: display, problems: [problemOf(display, error)]}
  }
  const result = validateLabText(text, display, options.sets ?? {})
  if (result.model !== undefined) result.model.file = file
  return {source, file: display, problems: result.problems, ...(result.model === undefined ? {} : {model: result.model})}
}

function problemOf(file: string, error: unknown): LabProblem {
  if (error instanceof VirtlabError) return {file, line: 0, column: 0, path: '', message: error.message, ...(error.hint === undefined ? {} : {hint: error.hint})}
  return {file, line: 0, column: 0, path: '', message: error instanceof Error ? error.message : String(error)}
}

/** The contract: a LabModel, or VirtlabError LAB_NOT_FOUND / LAB_UNREADABLE / LAB_INVALID. */
export async function loadLab(source: string, options: LoadLabOptions): Promise<LabModel> {
  const file = await resolveLabSource(source, options)
  const display = displayPath(source, file)
  const text = await readLabFile(file, options.fs, display)
  const result = validateLabText(text, display, options.sets ?? {})
  if (result.model === undefined) throw labInvalidError(display, result.problems)
  result.model.file = file
  return result.model
}
