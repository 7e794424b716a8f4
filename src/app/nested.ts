/**
 * Use cases of the nested lab host (src/nested/): what `virtlab host create|start|stop` call, and
 * what `host list` / `host rm` add for nested hosts. A created nested host is registered in the
 * operator's hosts file as an ssh host (url ssh://root@virtlab-<name>, sshConfig: its generated
 * ssh_config, which names the forwarded port, the key and the pinned host key), so `--host NAME`
 * reaches it through the SSH transport like any other host.
 */
import {VirtlabError} from '../errors.js'
import {addHost, loadHostsFile, removeHost} from '../host/hosts-file.js'
import type {Context} from '../host/target.js'
import {nestedEnv} from '../nested/env.js'
import {hostPaths, sshAlias, validateHostName} from '../nested/layout.js'
import {
  createNestedHost, type CreateOptions, type CreateResult, listNestedHosts, type NestedHostStatus, readHostConfig, removeNestedHost,
  type RemoveResult, startNestedHost, type StartResult, stopNestedHost, type StopResult,
} from '../nested/lifecycle.js'

export type {CreateResult, NestedHostStatus, RemoveResult, StartResult, StopResult}

export function nestedUrl(name: string): string {
  return `ssh://root@${sshAlias(name)}`
}

export async function createHost(ctx: Context, name: string, options: CreateOptions): Promise<CreateResult & {hostsFile: string}> {
  validateHostName(name)
  const {fs, env} = ctx.operator
  const taken = (await loadHostsFile(fs, env)).hosts.find((h) => h.name === name)
  if (taken !== undefined && (await readHostConfig(nestedEnv(ctx), name)) === undefined) {
    throw new VirtlabError('HOST_EXISTS', `A host named ${name} is in the hosts file already (${taken.url})`, {hint: `Pick another name, or remove it first: virtlab host rm ${name}`})
  }
  const result = await createNestedHost(nestedEnv(ctx), name, options)
  const sshConfig = ctx.target.fs.resolve(hostPaths(ctx.target.stateDir, ctx.target.runBase, name).sshConfig)
  const file = taken === undefined ? (await addHost(fs, env, {name, url: nestedUrl(name), sudo: false, sshConfig})).path : (await loadHostsFile(fs, env)).path
  return {...result, hostsFile: file}
}

export async function startHost(ctx: Context, name: string, options: {bootTimeoutMs?: number} = {}): Promise<StartResult> {
  return startNestedHost(nestedEnv(ctx), name, options)
}

export async function stopHost(ctx: Context, name: string): Promise<StopResult> {
  return stopNestedHost(nestedEnv(ctx), name)
}

export async function listNested(ctx: Context): Promise<NestedHostStatus[]> {
  return listNestedHosts(nestedEnv(ctx))
}

export async function isNestedHost(ctx: Context, name: string): Promise<boolean> {
  try {
    return (await readHostConfig(nestedEnv(ctx), name)) !== undefined
  } catch {
    return false
  }
}

/** Stop and remove a nested host (the cache stays unless purge) and its hosts-file entry. */
export async function removeNested(ctx: Context, name: string, options: {purge?: boolean} = {}): Promise<RemoveResult & {hostsFileEntryRemoved: boolean}> {
  const result = await removeNestedHost(nestedEnv(ctx), name, options)
  const {fs, env} = ctx.operator
  const entry = (await loadHostsFile(fs, env)).hosts.find((h) => h.name === name)
  let removed = false
  if (entry !== undefined && entry.url === nestedUrl(name)) {
    await removeHost(fs, env, name)
    removed = true
  }
  return {...result, hostsFileEntryRemoved: removed}
}
