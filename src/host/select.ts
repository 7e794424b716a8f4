/**
 * Choosing the target host: `--host NAME|ssh://[user@]host[:port]`, else $VIRTLAB_HOST, else this
 * machine. Names come from the hosts file (src/host/hosts-file.ts). Everything is validated here,
 * before any transport starts: an unknown name, a hostile URL (`ssh://-oProxyCommand=...`, a user
 * or host starting with '-', whitespace, newlines, ';', '%') is a coded error and nothing runs.
 */
import {VirtlabError} from '../errors.js'
import type {HostFs} from './fs.js'
import {checkHostName, loadHostsFile, LOCAL_HOST, unknownHost} from './hosts-file.js'
import {parseSshUrl} from './ssh/url.js'

export interface HostSpec {
  /** 'local', the hosts-file name, or the URL as normalised. */
  name: string
  transport: 'local' | 'ssh'
  url?: string
  sudo: boolean
  /** An ssh_config file for this host (passed to ssh as -F): a nested lab host's generated one. */
  sshConfig?: string
}

export const LOCAL_SPEC: HostSpec = {name: LOCAL_HOST, transport: 'local', sudo: false}

export async function resolveHostSpec(value: string | undefined, options: {env: Record<string, string | undefined>; fs: HostFs}): Promise<HostSpec> {
  const given = value ?? options.env.VIRTLAB_HOST
  if (given === undefined || given === '' || given === LOCAL_HOST) return LOCAL_SPEC
  if (given.includes('://') || given.startsWith('ssh:')) {
    const target = parseSshUrl(given)
    return {name: target.url, transport: 'ssh', url: target.url, sudo: false}
  }
  try {
    checkHostName(given)
  } catch (error) {
    throw new VirtlabError('HOST_NAME_INVALID', `${(error as Error).message}${value === undefined ? ' (from VIRTLAB_HOST)' : ''}`, {hint: 'Give a host name from `virtlab host list` or a URL ssh://[user@]host[:port].'})
  }
  const file = await loadHostsFile(options.fs, options.env)
  const entry = file.hosts.find((h) => h.name === given)
  if (entry === undefined) throw unknownHost(given, file.hosts, file.path)
  return {name: entry.name, transport: 'ssh', url: entry.url, sudo: entry.sudo, ...(entry.sshConfig === undefined ? {} : {sshConfig: entry.sshConfig})}
}
