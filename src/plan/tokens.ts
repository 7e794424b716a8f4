/**
 * Late-bound values. Some facts exist only once earlier steps have run: the PCI address of VF 1
 * after sriov_numvfs was written, the /dev/vhost-vdpa-N node after `vdpa dev add`. Compiled
 * artifacts carry tokens `@{kind:arg1:arg2...}` for them; the executor resolves the tokens in a
 * step's action right before running it. A dry-run prints them unresolved ("known at apply time").
 */
import {VirtlabError} from '../errors.js'
import type {HostFs} from '../host/fs.js'
import type {CommandRunner} from '../host/runner.js'
import type {Action} from './step.js'

/** The target host a token is resolved on: its files and its command runner. */
export interface TokenHost {
  fs: HostFs
  runner: CommandRunner
}

/**
 * Resolve one token from its arguments. Most resolvers read the target through fs only; a few
 * (recording a VF's admin state with `ip -j link show`) also run a command on it.
 */
export type TokenResolver = (args: string[], host: TokenHost) => Promise<string>

/**
 * The resolvers a run knows, registered explicitly by whoever builds the registry (the executor's
 * caller: src/apply/tokens.ts createTokenRegistry), never by importing a module.
 */
export class TokenRegistry {
  private readonly resolvers = new Map<string, TokenResolver>()

  register(kind: string, resolver: TokenResolver): this {
    this.resolvers.set(kind, resolver)
    return this
  }

  get(kind: string): TokenResolver | undefined {
    return this.resolvers.get(kind)
  }

  kinds(): string[] {
    return [...this.resolvers.keys()].sort()
  }
}

/**
 * Built in: @{pidfile-pid:<path>} is the pid a daemon wrote to its pidfile, or 0 when the file is
 * missing or holds no pid (no process has pid 0, so "/proc/0/..." never exists). Undo resolves it
 * right after the daemon started, so `down` waits on that very process even after the daemon has
 * removed its pidfile on the way out.
 */
export function registerPlanTokenResolvers(registry: TokenRegistry): TokenRegistry {
  return registry.register('pidfile-pid', async (args, {fs}) => {
    const text = await fs.tryReadFile(`/${args.join(':').replace(/^\/+/, '')}`).catch(() => undefined)
    const pid = text?.trim() ?? ''
    return /^[1-9]\d*$/.test(pid) ? pid : '0'
  })
}

const TOKEN = /@\{([a-z][a-z0-9-]*)((?::[A-Za-z0-9_./-]+)*)\}/g

export function token(kind: string, ...args: (string | number)[]): string {
  return `@{${[kind, ...args.map(String)].join(':')}}`
}

export function hasTokens(text: string): boolean {
  TOKEN.lastIndex = 0
  return TOKEN.test(text)
}

export async function resolveTokens(text: string, host: TokenHost, registry: TokenRegistry): Promise<string> {
  const matches = [...text.matchAll(TOKEN)]
  if (matches.length === 0) return text
  let out = ''
  let last = 0
  for (const m of matches) {
    const kind = m[1] ?? ''
    const args = (m[2] ?? '').split(':').filter(Boolean)
    const resolver = registry.get(kind)
    if (!resolver) throw new VirtlabError('TOKEN_UNKNOWN', `internal: no resolver for @{${kind}}`)
    out += text.slice(last, m.index) + (await resolver(args, host))
    last = (m.index ?? 0) + m[0].length
  }
  return out + text.slice(last)
}

/** Resolve every token in an action's strings (argv, paths, values, file content). */
export async function resolveActionTokens(action: Action, host: TokenHost, registry: TokenRegistry): Promise<Action> {
  const r = (s: string) => resolveTokens(s, host, registry)
  switch (action.kind) {
    case 'exec': return {...action, argv: await Promise.all(action.argv.map(r))}
    case 'write': return {...action, path: await r(action.path), value: await r(action.value)}
    case 'file': return {...action, path: await r(action.path), content: await r(action.content)}
    case 'mkdir': return {...action, path: await r(action.path)}
    case 'remove': return {...action, path: await r(action.path)}
    case 'wait': return action
  }
}

/**
 * Example values of the right shape for the tokens that end up in libvirt XML, for `render`
 * (which runs without the devices): the written domain is then complete and valid, and says in a
 * comment that these values are examples replaced at apply time.
 */
const EXAMPLE_VALUES: Record<string, string> = {
  'vf-pci-domain': '0x0000',
  'vf-pci-bus': '0x03',
  'vf-pci-slot': '0x10',
  'vf-pci-function': '0x1',
  'vf-pci': '0000:03:10.1',
  'vdpa-dev': '/dev/vhost-vdpa-0',
}

export function withExampleTokens(text: string): {text: string; replaced: {token: string; example: string}[]} {
  const replaced: {token: string; example: string}[] = []
  const out = text.replace(TOKEN, (whole, kind: string) => {
    const example = EXAMPLE_VALUES[kind]
    if (example === undefined) return whole
    if (!replaced.some((r) => r.token === whole)) replaced.push({token: whole, example})
    return example
  })
  return {text: out, replaced}
}
