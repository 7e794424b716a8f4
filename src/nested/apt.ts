/**
 * A private apt configuration: the nested host's packages come from Debian trixie and
 * bookworm-backports on the mirror the machine already uses, without ever touching the host's own
 * sources. Every apt call gets -o Dir::Etc::SourceList=<ours> -o Dir::Etc::SourceParts=/dev/null
 * and its own Dir::State / Dir::Cache; the host's dpkg status is read (never written).
 */
import {VirtlabError} from '../errors.js'
import type {HostFs} from '../host/fs.js'
import type {NestedEnv} from './env.js'
import {aptDir} from './layout.js'

export const SUITES = ['trixie', 'bookworm-backports'] as const
export type Suite = (typeof SUITES)[number]

const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg'
const DEFAULT_MIRROR = 'http://deb.debian.org/debian'

export interface AptConfig {
  dir: string
  mirror: string
  sourcesList: string
  /** -o options that make apt-get / apt-cache use this configuration only. */
  options: string[]
  /** Where downloaded .debs are kept (reused across builds). */
  debs: string
}

/** A source entry: its URIs and suites (one-line .list or deb822 .sources). */
export interface SourceEntry {
  uris: string[]
  suites: string[]
}

/** Parse /etc/apt/sources.list (one-line format) text. */
export function parseOneLineSources(text: string): SourceEntry[] {
  const entries: SourceEntry[] = []
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim()
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line)
    if (m) entries.push({uris: [m[1] as string], suites: [m[2] as string]})
  }
  return entries
}

/** Parse deb822 .sources text (stanzas separated by blank lines). */
export function parseDeb822Sources(text: string): SourceEntry[] {
  const entries: SourceEntry[] = []
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>()
    for (const raw of stanza.split('\n')) {
      if (raw.trimStart().startsWith('#')) continue
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(raw)
      if (m) fields.set((m[1] as string).toLowerCase(), (m[2] as string).trim())
    }
    if (!(fields.get('types') ?? '').split(/\s+/).includes('deb')) continue
    if ((fields.get('enabled') ?? 'yes').toLowerCase() === 'no') continue
    entries.push({uris: (fields.get('uris') ?? '').split(/\s+/).filter(Boolean), suites: (fields.get('suites') ?? '').split(/\s+/).filter(Boolean)})
  }
  return entries
}

/**
 * The Debian mirror the host already uses: the first http(s) URI of an entry carrying a release
 * suite (not -security, not -updates), so trixie and bookworm-backports come from the same place.
 */
export function pickMirror(entries: readonly SourceEntry[]): string | undefined {
  for (const entry of entries) {
    if (!entry.suites.some((s) => /^[a-z]+(-backports)?$/.test(s))) continue
    const uri = entry.uris.find((u) => /^https?:\/\/[\w.-]+(:\d+)?(\/[\w.~%+-]*)*\/?$/.test(u) && !/security/.test(u))
    if (uri !== undefined) return uri.replace(/\/+$/, '')
  }
  return undefined
}

/** Read the host's apt sources (read only) and pick its Debian mirror. */
export async function hostMirror(fs: HostFs): Promise<string> {
  const entries: SourceEntry[] = []
  const main = await fs.tryReadFile('/etc/apt/sources.list')
  if (main !== undefined) entries.push(...parseOneLineSources(main))
  for (const file of await fs.readdir('/etc/apt/sources.list.d')) {
    const text = file.endsWith('.list') || file.endsWith('.sources') ? await fs.tryReadFile(`/etc/apt/sources.list.d/${file}`) : undefined
    if (text === undefined) continue
    entries.push(...(file.endsWith('.list') ? parseOneLineSources(text) : parseDeb822Sources(text)))
  }
  return pickMirror(entries) ?? DEFAULT_MIRROR
}

export function sourcesListText(mirror: string): string {
  return SUITES.map((suite) => `deb [signed-by=${KEYRING}] ${mirror} ${suite} main\n`).join('')
}

export function aptConfig(stateDir: string, mirror: string): AptConfig {
  const dir = aptDir(stateDir)
  const sourcesList = `${dir}/sources.list`
  return {
    dir,
    mirror,
    sourcesList,
    debs: `${dir}/debs`,
    options: [
      '-o', `Dir::Etc::SourceList=${sourcesList}`,
      '-o', 'Dir::Etc::SourceParts=/dev/null',
      '-o', `Dir::State=${dir}/state`,
      '-o', `Dir::Cache=${dir}/cache`,
      '-o', 'Dir::State::status=/var/lib/dpkg/status',
    ],
  }
}

/** Write the private configuration and fetch its package lists (apt-get update). */
export async function prepareApt(env: NestedEnv): Promise<AptConfig> {
  const mirror = await hostMirror(env.fs)
  const config = aptConfig(env.stateDir, mirror)
  for (const dir of [config.dir, `${config.dir}/state`, `${config.dir}/state/lists`, `${config.dir}/state/lists/partial`,
    `${config.dir}/cache`, `${config.dir}/cache/archives`, `${config.dir}/cache/archives/partial`, config.debs]) {
    await env.fs.mkdir(dir, {mode: 0o755})
  }
  await env.fs.writeFile(config.sourcesList, sourcesListText(mirror), {atomic: true, mode: 0o644})
  if ((await env.runner.which('apt-get')) === undefined) {
    throw new VirtlabError('NESTED_NO_APT', 'Building a nested host needs apt-get (a Debian or Ubuntu machine)', {
      hint: 'Build the nested host on a Debian-like machine.',
    })
  }
  const r = await env.runner.run(['apt-get', ...config.options, 'update'], {allowFailure: true, timeoutMs: 300_000})
  const failed = r.exitCode !== 0 || /^(W|E): Failed to fetch/m.test(r.stderr)
  if (failed) {
    throw new VirtlabError('NESTED_APT_UPDATE_FAILED', `apt-get update of the private sources (${SUITES.join(', ')} on ${mirror}) failed`, {
      hint: `Check that this machine reaches ${mirror}; the nested host is built from Debian packages only.`,
      command: {argv: r.argv, exitCode: r.exitCode, stderrTail: r.stderr.trim().split('\n').slice(-6).join('\n')},
    })
  }
  return config
}

export interface PackageInfo {
  name: string
  version: string
  suite: Suite
  depends: string
  filename: string
}

/** Parse one `apt-cache show --no-all-versions` stanza. */
export function parseShow(text: string): {version?: string; depends?: string; filename?: string} {
  const field = (name: string): string | undefined => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim()
  const out: {version?: string; depends?: string; filename?: string} = {}
  const version = field('Version')
  if (version !== undefined) out.version = version
  const depends = field('Depends')
  if (depends !== undefined) out.depends = depends
  const filename = field('Filename')
  if (filename !== undefined) out.filename = filename
  return out
}

const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/

/** The version of a package in one suite of the private sources; a clear error naming it when absent. */
export async function packageInfo(env: NestedEnv, config: AptConfig, name: string, suite: Suite): Promise<PackageInfo> {
  if (!PACKAGE_NAME.test(name)) throw new VirtlabError('NESTED_BAD_PACKAGE', `Not a Debian package name: ${JSON.stringify(name)}`)
  const r = await env.runner.run(['apt-cache', ...config.options, 'show', '--no-all-versions', `${name}/${suite}`], {allowFailure: true, timeoutMs: 60_000})
  const info = parseShow(r.stdout)
  if (r.exitCode !== 0 || info.version === undefined) {
    throw new VirtlabError('NESTED_PACKAGE_MISSING', `Debian package ${name} is not available from ${suite} on ${config.mirror}`, {
      hint: `The nested host needs ${name} from ${suite}. Check the mirror (${config.sourcesList}) and the network, then retry.`,
      command: {argv: r.argv, exitCode: r.exitCode, stderrTail: r.stderr.trim()},
    })
  }
  return {name, version: info.version, suite, depends: info.depends ?? '', filename: info.filename ?? ''}
}

/** The .deb for a package: reused from <apt>/debs when already downloaded, else apt-get download. */
export async function downloadDeb(env: NestedEnv, config: AptConfig, pkg: PackageInfo): Promise<string> {
  const names = debFileNames(pkg)
  for (const name of names) {
    if ((await env.fs.stat(`${config.debs}/${name}`))?.isFile) return `${config.debs}/${name}`
  }
  env.progress({type: 'info', title: `Downloading ${pkg.name} ${pkg.version} (${pkg.suite})`})
  const r = await env.runner.run(['apt-get', ...config.options, 'download', `${pkg.name}=${pkg.version}`],
    {cwd: env.fs.resolve(config.debs), allowFailure: true, timeoutMs: 900_000})
  const found = (await env.fs.readdir(config.debs)).find((f) => names.includes(f))
  if (r.exitCode !== 0 || found === undefined) {
    throw new VirtlabError('NESTED_DOWNLOAD_FAILED', `Downloading Debian package ${pkg.name} ${pkg.version} from ${pkg.suite} failed`, {
      hint: `Check that this machine reaches ${config.mirror}.`,
      command: {argv: r.argv, exitCode: r.exitCode, stderrTail: r.stderr.trim().split('\n').slice(-6).join('\n')},
    })
  }
  return `${config.debs}/${found}`
}

/** The names apt-get download gives a .deb (epoch as %3a), and the pool's (no epoch). */
export function debFileNames(pkg: Pick<PackageInfo, 'name' | 'version' | 'filename'>): string[] {
  const arch = /_([a-z0-9]+)\.deb$/.exec(pkg.filename)?.[1] ?? 'amd64'
  const names = [`${pkg.name}_${pkg.version.replaceAll(':', '%3a')}_${arch}.deb`]
  const pool = pkg.filename.split('/').pop()
  if (pool !== undefined && pool !== '' && !names.includes(pool)) names.push(pool)
  return names
}
