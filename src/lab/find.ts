/**
 * Finding labs: a source is a file path (it has a "/" or ends in .yaml/.yml) or a lab name,
 * searched in the --dir directories first, then in the shipped labs (<packageRoot>/labs).
 */
import * as path from 'node:path'

import {oneLine} from './problems.js'
import {isMap, parseDocument} from 'yaml'

import {VirtlabError} from '../errors.js'
import type {HostFs} from '../host/fs.js'
import {MAX_LAB_BYTES} from './parse.js'
import {suggestion} from './problems.js'

export interface LabSummary {
  name: string
  description: string
  file: string
}

const EXTENSIONS = ['.yaml', '.yml']
const LAB_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

export function shippedLabsDir(packageRoot: string): string {
  return path.join(packageRoot, 'labs')
}

/** Does the source name a file (rather than a lab to look up)? */
export function isLabPath(source: string): boolean {
  return source.includes('/') || EXTENSIONS.some((ext) => source.endsWith(ext))
}

function searchDirs(dirs: readonly string[], packageRoot: string): string[] {
  return [...dirs.map((d) => path.resolve(d)), shippedLabsDir(packageRoot)]
}

/** The file of a lab name, or undefined. */
export async function findLab(name: string, dirs: readonly string[], packageRoot: string, fs: HostFs): Promise<string | undefined> {
  if (!LAB_NAME.test(name) || name.includes('..')) return undefined
  for (const dir of searchDirs(dirs, packageRoot)) {
    for (const ext of EXTENSIONS) {
      const file = path.join(dir, name + ext)
      const stat = await fs.stat(file)
      if (stat?.isFile) return file
    }
  }
  return undefined
}

/** Resolve a source to an absolute file path; a name that is not found is LAB_NOT_FOUND with suggestions. */
export async function resolveLabSource(source: string, options: {fs: HostFs; dirs?: readonly string[]; packageRoot: string}): Promise<string> {
  const dirs = options.dirs ?? []
  if (isLabPath(source)) return path.resolve(source)
  const file = await findLab(source, dirs, options.packageRoot, options.fs)
  if (file !== undefined) return file
  const known = (await listLabs(dirs, options.packageRoot, options.fs)).map((l) => l.name).filter((n) => LAB_NAME.test(n))
  throw new VirtlabError('LAB_NOT_FOUND', `no lab named ${JSON.stringify(source)}${suggestion(source, known)}`, {
    hint: known.length > 0 ? `known labs: ${[...new Set(known)].join(', ')} (or give a file path)` : 'give a file path, or --dir with your labs',
  })
}

/** The labs in the --dir directories and the shipped ones, in that order, sorted by name within each directory. */
export async function listLabs(dirs: readonly string[], packageRoot: string, fs: HostFs): Promise<LabSummary[]> {
  const out: LabSummary[] = []
  for (const dir of searchDirs(dirs, packageRoot)) {
    const entries = await fs.readdir(dir)
    for (const entry of entries.sort()) {
      const ext = EXTENSIONS.find((e) => entry.endsWith(e))
      if (ext === undefined || entry.startsWith('.')) continue
      const file = path.join(dir, entry)
      const stat = await fs.stat(file)
      if (!stat?.isFile) continue
      out.push({name: entry.slice(0, -ext.length), description: stat.size > MAX_LAB_BYTES ? '(file too large)' : await describe(file, fs), file})
    }
  }
  return out
}

/** The description of a lab file, read without trusting it (no alias expansion, first document only). */
async function describe(file: string, fs: HostFs): Promise<string> {
  let text: string
  try {
    text = await fs.readFile(file)
  } catch {
    return '(unreadable)'
  }
  try {
    const doc = parseDocument(text, {prettyErrors: false, uniqueKeys: true})
    if (!isMap(doc.contents)) return '(not a lab: the top level is not a mapping)'
    const description = doc.get('description')
    if (doc.errors.length > 0) return '(invalid YAML)'
    // One line; C0/C1 controls, bidi controls and non-characters escaped (\uXXXX): a terminal never acts on them.
    return typeof description === 'string' ? oneLine(description.slice(0, 400)) : ''
  } catch {
    return '(invalid YAML)'
  }
}
