/**
 * Parse and validate an SSH target: `ssh://[user@]host[:port]` and a host-config entry
 * {url, sudo}. Everything that later lands in ssh's argv is checked here, before ssh ever runs:
 * a user or host that starts with '-' (it would be read as an option: `ssh://-oProxyCommand=...`),
 * whitespace, control characters, shell or ssh-config metacharacters (`;`, `%`, quotes, `$`...),
 * and ports outside 1-65535 are refused with SSH_URL_INVALID.
 */
import {VirtlabError} from '../../errors.js'

export interface SshTarget {
  /** The URL as given (normalised: ssh://[user@]host[:port]). */
  url: string
  user: string | undefined
  /** A hostname, an IPv4 address, or an IPv6 address (without brackets). */
  host: string
  port: number | undefined
  /** Run commands and file writes through `sudo -n` (a remote user that is not root). */
  sudo: boolean
}

export interface SshHostEntry {
  url: string
  sudo?: boolean
}

// POSIX portable user names (and the '.' many sites use).
const USER = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/
// A DNS name, a single label (an alias from ~/.ssh/config), or an IPv4 address.
const HOST = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})$/
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/

const HINT = 'Write the host as ssh://[user@]host[:port], e.g. ssh://root@lab1.example.com:22.'

function invalid(url: string, why: string): VirtlabError {
  return new VirtlabError('SSH_URL_INVALID', `Invalid SSH host ${JSON.stringify(url)}: ${why}`, {hint: HINT})
}

/** Is this string a `ssh://` URL (as opposed to the name of a configured host)? */
export function isSshUrl(value: string): boolean {
  return value.startsWith('ssh://')
}

/** Parse `ssh://[user@]host[:port]`; throws SSH_URL_INVALID for anything else. */
export function parseSshUrl(url: string, options: {sudo?: boolean} = {}): SshTarget {
  if (typeof url !== 'string' || url.length === 0) throw invalid(String(url), 'empty')
  if (url.length > 300) throw invalid(url.slice(0, 40) + '...', 'longer than 300 characters')
  // Control characters, whitespace, DEL and anything non-ASCII: refused before looking further.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f-\uffff]/.test(url)) throw invalid(url, 'contains whitespace, a control character or a non-ASCII character')
  if (!url.startsWith('ssh://')) throw invalid(url, 'the scheme must be ssh://')
  let rest = url.slice('ssh://'.length)
  if (rest.endsWith('/')) rest = rest.slice(0, -1)
  if (rest.includes('/') || rest.includes('?') || rest.includes('#')) throw invalid(url, 'a path, query or fragment is not allowed')
  let user: string | undefined
  const at = rest.lastIndexOf('@')
  if (at >= 0) {
    user = rest.slice(0, at)
    rest = rest.slice(at + 1)
    if (user.length === 0) throw invalid(url, 'empty user name')
    if (user.startsWith('-')) throw invalid(url, `the user ${JSON.stringify(user)} starts with '-' (ssh would read it as an option)`)
    if (!USER.test(user)) throw invalid(url, `the user ${JSON.stringify(user)} may contain only letters, digits, '_', '.' and '-'`)
  }
  let host: string
  let portText: string | undefined
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']')
    if (close < 0) throw invalid(url, 'unclosed [ in an IPv6 address')
    host = rest.slice(1, close)
    const after = rest.slice(close + 1)
    if (after !== '') {
      if (!after.startsWith(':')) throw invalid(url, `unexpected ${JSON.stringify(after)} after the IPv6 address`)
      portText = after.slice(1)
    }
    if (!IPV6.test(host) || !host.includes(':')) throw invalid(url, `${JSON.stringify(host)} is not an IPv6 address`)
  } else {
    const colon = rest.indexOf(':')
    if (colon >= 0) {
      host = rest.slice(0, colon)
      portText = rest.slice(colon + 1)
    } else {
      host = rest
    }
    if (host.length === 0) throw invalid(url, 'empty host')
    if (host.startsWith('-')) throw invalid(url, `the host ${JSON.stringify(host)} starts with '-' (ssh would read it as an option)`)
    if (!HOST.test(host) || host.includes('..')) {
      throw invalid(url, `the host ${JSON.stringify(host)} may contain only letters, digits, '_', '.' and '-'`)
    }
  }
  let port: number | undefined
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText)) throw invalid(url, `the port ${JSON.stringify(portText)} is not a number`)
    port = Number(portText)
    if (port < 1 || port > 65535) throw invalid(url, `the port ${port} is outside 1-65535`)
  }
  const hostPart = host.includes(':') ? `[${host}]` : host
  const normal = `ssh://${user === undefined ? '' : `${user}@`}${hostPart}${port === undefined ? '' : `:${port}`}`
  return {url: normal, user, host, port, sudo: options.sudo ?? false}
}

/** Validate a host-config entry {url, sudo}. */
export function parseSshHostEntry(entry: unknown, name = 'host'): SshTarget {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    throw new VirtlabError('SSH_HOST_ENTRY_INVALID', `Host ${name}: expected {url, sudo}`, {hint: HINT})
  }
  const {url, sudo, ...extra} = entry as Record<string, unknown>
  const unknown = Object.keys(extra)
  if (unknown.length > 0) throw new VirtlabError('SSH_HOST_ENTRY_INVALID', `Host ${name}: unknown key ${unknown.map((k) => JSON.stringify(k)).join(', ')}`, {hint: 'A host entry has url and, optionally, sudo: true.'})
  if (typeof url !== 'string') throw new VirtlabError('SSH_HOST_ENTRY_INVALID', `Host ${name}: url must be a string`, {hint: HINT})
  if (sudo !== undefined && typeof sudo !== 'boolean') throw new VirtlabError('SSH_HOST_ENTRY_INVALID', `Host ${name}: sudo must be true or false`, {hint: 'sudo: true runs commands and file writes through sudo -n.'})
  return parseSshUrl(url, {sudo: sudo ?? false})
}

/** The `[user@]host` destination argument and the `-p` option for ssh's argv. */
export function sshDestination(target: SshTarget): {destination: string; portArgs: string[]} {
  return {
    destination: target.user === undefined ? target.host : `${target.user}@${target.host}`,
    portArgs: target.port === undefined ? [] : ['-p', String(target.port)],
  }
}
