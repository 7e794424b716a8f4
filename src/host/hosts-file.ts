/**
 * Named target hosts: a small YAML file on the operator's machine,
 * $XDG_CONFIG_HOME/virtlab/hosts.yaml (default ~/.config/virtlab/hosts.yaml; VIRTLAB_HOSTS_FILE
 * overrides the path). Validated like a lab file: every problem says file:line:column.
 *
 *   hosts:
 *     lab1:
 *       url: ssh://root@lab1.example.com
 *     ci:
 *       url: ssh://ci@10.0.0.7:2222
 *       sudo: true            # commands and file writes through sudo -n
 *
 * `virtlab host add/rm` edit it (comments and order are kept); nothing else writes it.
 */
import {isMap, isScalar, LineCounter, parseDocument, type Document} from 'yaml'

import {VirtlabError} from '../errors.js'
import {SourceMap} from '../lab/locate.js'
import {formatProblem, ProblemSink, show, suggestion, type LabProblem} from '../lab/problems.js'
import type {HostFs} from './fs.js'
import {parseSshUrl} from './ssh/url.js'

/** A host name: letters, digits, '-' and '_', starting with a letter; 'local' means this machine. */
export const HOST_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/
export const LOCAL_HOST = 'local'
const MAX_HOSTS_BYTES = 256 * 1024

export interface HostEntry {
  name: string
  /** Normalised ssh://[user@]host[:port]. */
  url: string
  sudo: boolean
  /** An ssh_config file passed to ssh as -F for this host (absolute path; `host create --nested` writes one). */
  sshConfig?: string
}

export interface HostsFile {
  path: string
  hosts: HostEntry[]
}

/** Where the hosts file is: VIRTLAB_HOSTS_FILE, else $XDG_CONFIG_HOME/virtlab/hosts.yaml, else ~/.config/virtlab/hosts.yaml. */
export function hostsFilePath(env: Record<string, string | undefined>): string {
  if (env.VIRTLAB_HOSTS_FILE) return env.VIRTLAB_HOSTS_FILE
  const config = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : `${env.HOME ?? '/root'}/.config`
  return `${config.replace(/\/+$/, '')}/virtlab/hosts.yaml`
}

function invalid(file: string, problems: LabProblem[]): VirtlabError {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`
  return new VirtlabError('HOSTS_FILE_INVALID', [`hosts file ${file} is invalid (${count}):`, ...problems.map((p) => `  ${formatProblem(p)}`)].join('\n'), {
    details: problems,
    hint: 'fix the file by hand, or remove the entry with `virtlab host rm NAME` and add it again with `virtlab host add NAME URL`',
  })
}

function parse(text: string, file: string): {doc: Document; hosts: HostEntry[]} {
  const lines = new LineCounter()
  const doc = parseDocument(text, {lineCounter: lines, prettyErrors: false, uniqueKeys: true, strict: true, version: '1.2', schema: 'core', merge: false})
  const map = new SourceMap(doc, lines)
  const sink = new ProblemSink(file, map)
  if (Buffer.byteLength(text, 'utf8') > MAX_HOSTS_BYTES) {
    sink.at({line: 1, column: 1}, [], `file is too large (a hosts file is at most ${MAX_HOSTS_BYTES} bytes)`)
    throw invalid(file, sink.sorted())
  }
  for (const error of [...doc.errors, ...doc.warnings]) {
    sink.at(map.positionOfOffset(error.pos[0]), map.pathAtOffset(error.pos[0]), `YAML: ${error.message.split('\n')[0] ?? error.message}`, 'check the YAML syntax near here')
  }
  if (sink.problems.length > 0) throw invalid(file, sink.sorted())
  const hosts: HostEntry[] = []
  const contents = doc.contents
  if (contents === null || (isScalar(contents) && (contents.value === null || contents.value === ''))) return {doc, hosts}
  const value = doc.toJS({maxAliasCount: 0}) as unknown
  if (!isMap(contents) || typeof value !== 'object' || value === null || Array.isArray(value)) {
    sink.add([], 'the top level of a hosts file must be a mapping with one key, hosts:', 'see `virtlab host add --help`')
    throw invalid(file, sink.sorted())
  }
  const top = value as Record<string, unknown>
  for (const key of Object.keys(top)) {
    if (key !== 'hosts') sink.add([key], `unknown key ${show(key)}`, `a hosts file has one key, hosts:${suggestion(key, ['hosts'])}`, 'key')
  }
  const list = top.hosts
  if (list !== undefined && list !== null) {
    if (typeof list !== 'object' || Array.isArray(list)) {
      sink.add(['hosts'], `hosts must be a mapping of host names to {url, sudo}, not ${show(list)}`)
    } else {
      for (const [name, entry] of Object.entries(list as Record<string, unknown>)) {
        const at = ['hosts', name]
        if (!HOST_NAME.test(name) || name === LOCAL_HOST) {
          sink.add(at, name === LOCAL_HOST ? `the host name "local" is reserved (it means this machine)` : `invalid host name ${show(name)}`, 'a host name is letters, digits, "-" and "_", starting with a letter (at most 63)', 'key')
          continue
        }
        if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
          sink.add(at, `host ${name} must be a mapping {url, sudo}, not ${show(entry)}`)
          continue
        }
        const e = entry as Record<string, unknown>
        for (const key of Object.keys(e)) {
          if (key !== 'url' && key !== 'sudo' && key !== 'sshConfig') sink.add([...at, key], `unknown key ${show(key)}`, `a host has url, sudo and sshConfig${suggestion(key, ['url', 'sudo', 'sshConfig'])}`, 'key')
        }
        if (e.sshConfig !== undefined && (typeof e.sshConfig !== 'string' || !/^\/[\w./+-]+$/.test(e.sshConfig))) {
          sink.add([...at, 'sshConfig'], `sshConfig must be an absolute path (letters, digits, '.', '_', '-', '+', '/'), not ${show(e.sshConfig)}`)
          continue
        }
        if (e.sudo !== undefined && typeof e.sudo !== 'boolean') sink.add([...at, 'sudo'], `sudo must be true or false, not ${show(e.sudo)}`)
        if (typeof e.url !== 'string') {
          sink.add(e.url === undefined ? at : [...at, 'url'], e.url === undefined ? `host ${name} has no url` : `url must be a string, not ${show(e.url)}`, 'url: ssh://[user@]host[:port]', e.url === undefined ? 'missing' : 'value')
          continue
        }
        try {
          const target = parseSshUrl(e.url)
          hosts.push({name, url: target.url, sudo: e.sudo === true, ...(typeof e.sshConfig === 'string' ? {sshConfig: e.sshConfig} : {})})
        } catch (error) {
          sink.add([...at, 'url'], error instanceof Error ? error.message : String(error), 'url: ssh://[user@]host[:port]')
        }
      }
    }
  }
  if (sink.problems.length > 0) throw invalid(file, sink.sorted())
  return {doc, hosts}
}

/** Read and validate the hosts file; a missing file is an empty list. */
export async function loadHostsFile(fs: HostFs, env: Record<string, string | undefined>): Promise<HostsFile> {
  const path = hostsFilePath(env)
  const text = await fs.tryReadFile(path)
  return {path, hosts: text === undefined ? [] : parse(text, path).hosts}
}

export function checkHostName(name: string): void {
  if (name === LOCAL_HOST) throw new VirtlabError('HOST_NAME_INVALID', 'The host name "local" is reserved: it means this machine', {hint: 'Pick another name, e.g. lab1.'})
  if (!HOST_NAME.test(name)) {
    throw new VirtlabError('HOST_NAME_INVALID', `Invalid host name ${show(name)}`, {hint: 'A host name is letters, digits, "-" and "_", starting with a letter (at most 63), e.g. lab1.'})
  }
}

async function edit(fs: HostFs, env: Record<string, string | undefined>, change: (doc: Document, hosts: HostEntry[]) => void): Promise<string> {
  const path = hostsFilePath(env)
  const text = (await fs.tryReadFile(path)) ?? ''
  const {doc, hosts} = parse(text, path)
  if (doc.contents === null || (isScalar(doc.contents) && (doc.contents.value === null || doc.contents.value === ''))) {
    doc.contents = doc.createNode({hosts: {}}) as never
    doc.commentBefore = ' virtlab target hosts (`virtlab host add NAME URL`, `virtlab host rm NAME`)'
  }
  change(doc, hosts)
  const dir = path.slice(0, path.lastIndexOf('/')) || '/'
  // Created 0700 when missing; an existing directory (say /tmp, or /etc for VIRTLAB_HOSTS_FILE=/etc/...)
  // is never virtlab's to change.
  await fs.mkdir(dir, {mode: 0o700, keepExisting: true})
  await fs.writeFile(path, doc.toString(), {atomic: true, mode: 0o600})
  return path
}

/** Add a host (refused when the name is taken). Returns the file written. */
export async function addHost(fs: HostFs, env: Record<string, string | undefined>, entry: {name: string; url: string; sudo: boolean; sshConfig?: string}): Promise<{path: string; host: HostEntry}> {
  checkHostName(entry.name)
  const url = parseSshUrl(entry.url).url
  const host: HostEntry = {name: entry.name, url, sudo: entry.sudo, ...(entry.sshConfig === undefined ? {} : {sshConfig: entry.sshConfig})}
  const path = await edit(fs, env, (doc, hosts) => {
    if (hosts.some((h) => h.name === entry.name)) {
      throw new VirtlabError('HOST_EXISTS', `A host named ${entry.name} exists already (${hosts.find((h) => h.name === entry.name)?.url})`, {hint: `Remove it first: virtlab host rm ${entry.name}`})
    }
    doc.setIn(['hosts', entry.name], doc.createNode({url, ...(entry.sudo ? {sudo: true} : {}), ...(entry.sshConfig === undefined ? {} : {sshConfig: entry.sshConfig})}))
  })
  return {path, host}
}

/** Remove a host; HOST_UNKNOWN when it is not there. */
export async function removeHost(fs: HostFs, env: Record<string, string | undefined>, name: string): Promise<{path: string; host: HostEntry}> {
  let removed: HostEntry | undefined
  const path = await edit(fs, env, (doc, hosts) => {
    removed = hosts.find((h) => h.name === name)
    if (removed === undefined) throw unknownHost(name, hosts, hostsFilePath(env))
    doc.deleteIn(['hosts', name])
  })
  return {path, host: removed as HostEntry}
}

export function unknownHost(name: string, hosts: readonly HostEntry[], file: string): VirtlabError {
  const names = hosts.map((h) => h.name)
  return new VirtlabError('HOST_UNKNOWN', `Unknown host ${show(name)}: it is not in ${file}${names.length > 0 ? ` (known: ${names.join(', ')})` : ' (no hosts are configured)'}`, {
    hint: `Add it with \`virtlab host add ${HOST_NAME.test(name) && name !== LOCAL_HOST ? name : 'NAME'} ssh://[user@]host[:port]\`, or give the URL itself: --host ssh://user@host.${suggestion(name, names)}`,
  })
}
