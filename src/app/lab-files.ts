/**
 * Use cases for the lab-file commands: list, validate, schema, init. Lab files are the user's
 * files, not host state, so callers pass a HostFs rooted at '/' (not a fixture root).
 */
import * as path from 'node:path'

import {VirtlabError} from '../errors.js'
import type {HostFs} from '../host/fs.js'
import {type LabSummary, listLabs, resolveLabSource} from '../lab/find.js'
import {checkLab, readLabFile} from '../lab/load.js'
import {labInvalidError, type LabProblem} from '../lab/problems.js'
import {validateLabText} from '../lab/validate.js'

export interface LabFilesEnv {
  fs: HostFs
  packageRoot: string
}

export interface LabValidationEntry {
  /** The source as given (a lab name or a path). */
  source: string
  file: string
  /** The lab's name when it is valid. */
  name?: string
  valid: boolean
  problems: LabProblem[]
}

export interface ValidateLabsResult {
  valid: boolean
  labs: LabValidationEntry[]
}

/** Validate every source; one source's problems never hide another's. */
export async function validateLabs(sources: readonly string[], options: {sets?: Record<string, string>; dirs?: string[]}, env: LabFilesEnv): Promise<ValidateLabsResult> {
  const labs: LabValidationEntry[] = []
  for (const source of sources) {
    const check = await checkLab(source, {fs: env.fs, packageRoot: env.packageRoot, dirs: options.dirs ?? [], sets: options.sets ?? {}})
    const entry: LabValidationEntry = {source, file: check.file, valid: check.problems.length === 0, problems: check.problems}
    if (check.model !== undefined) entry.name = check.model.name
    labs.push(entry)
  }
  return {valid: labs.every((l) => l.valid), labs}
}

export async function listLabFiles(dirs: readonly string[], env: LabFilesEnv): Promise<LabSummary[]> {
  return listLabs(dirs, env.packageRoot, env.fs)
}

/** The JSON Schema of the lab format (what schema/lab.schema.json holds). Loaded on demand: TypeBox is not needed to validate. */
export async function labSchema(): Promise<Record<string, unknown>> {
  const {labEditorSchema} = await import('../lab/editor-schema.js')
  return labEditorSchema() as Record<string, unknown>
}

export interface InitOptions {
  /** A lab name or file to copy instead of the template. */
  from?: string | undefined
  /** Directory to write into (default: the current directory). */
  dir?: string | undefined
  force?: boolean | undefined
  dirs?: string[]
}

export interface InitResult {
  file: string
  name: string
  /** 'template' or the file it was copied from. */
  from: string
}

const LAB_NAME = /^[a-z][a-z0-9-]{0,22}$/
const MODELINE = /^# yaml-language-server: \$schema=.*$/m
const NAME_LINE = /^name:.*$/m

export function templatePath(packageRoot: string): string {
  return path.join(packageRoot, 'templates', 'lab.yaml')
}

/** Put `name` into a lab's text and point its schema modeline at the shipped schema, relative to `dir`. */
export function renameLabText(text: string, name: string, dir: string, packageRoot: string): string {
  let out = NAME_LINE.test(text) ? text.replace(NAME_LINE, `name: ${name}`) : `name: ${name}\n${text}`
  let schema = path.relative(dir, path.join(packageRoot, 'schema', 'lab.schema.json'))
  if (!schema.startsWith('.')) schema = `./${schema}`
  const modeline = `# yaml-language-server: $schema=${schema}`
  out = MODELINE.test(out) ? out.replace(MODELINE, modeline) : `${modeline}\n${out}`
  return out
}

/** Write <dir>/<name>.yaml from the template or from another lab; the file is valid as written. */
export async function initLab(name: string, options: InitOptions, env: LabFilesEnv): Promise<InitResult> {
  if (!LAB_NAME.test(name)) {
    throw new VirtlabError('BAD_NAME', `lab name ${JSON.stringify(name)} is not valid`, {hint: 'lower-case letters, digits and "-", starting with a letter, at most 23 characters', exitCode: 2})
  }
  const dir = path.resolve(options.dir ?? '.')
  const file = path.join(dir, `${name}.yaml`)
  if (!options.force && await env.fs.exists(file)) {
    throw new VirtlabError('FILE_EXISTS', `${file} already exists`, {hint: 'use --force to overwrite it, or choose another name', exitCode: 1})
  }
  const source = options.from === undefined
    ? templatePath(env.packageRoot)
    : await resolveLabSource(options.from, {fs: env.fs, packageRoot: env.packageRoot, dirs: options.dirs ?? []})
  const original = await readLabFile(source, env.fs)
  // Validate what was given before renaming it: a file that is not a lab is refused without quoting it.
  const given = validateLabText(original, options.from ?? source)
  if (given.problems.some((p) => p.message.startsWith('not a lab file') || p.message.startsWith('not a text file'))) throw labInvalidError(options.from ?? source, given.problems)
  const text = renameLabText(original, name, dir, env.packageRoot)
  const check = validateLabText(text, file)
  if (check.problems.length > 0) throw labInvalidError(options.from ?? source, check.problems)
  await env.fs.mkdir(dir)
  await env.fs.writeFile(file, text, {atomic: true, mode: 0o644})
  return {file, name, from: options.from === undefined ? 'template' : source}
}
