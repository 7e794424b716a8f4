/**
 * Pure parsers for the outputs the image build reads: ldd, apt-cache, dpkg-query, modules.dep,
 * modules.builtin, busybox --list-full.
 */

/** The libraries ldd resolved (absolute paths, the dynamic loader included; vdso skipped). */
export function parseLdd(output: string): {libraries: string[]; missing: string[]} {
  const libraries: string[] = []
  const missing: string[] = []
  for (const raw of output.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('linux-vdso') || line.startsWith('linux-gate')) continue
    if (line.includes('statically linked') || line.includes('not a dynamic executable')) continue
    const arrow = /^(\S+)\s+=>\s+(.*)$/.exec(line)
    if (arrow) {
      const name = arrow[1] as string
      const target = (arrow[2] as string).trim()
      if (target.startsWith('not found')) {
        missing.push(name)
        continue
      }
      const path = /^(\/\S+)/.exec(target)?.[1]
      if (path !== undefined) libraries.push(path)
      continue
    }
    const direct = /^(\/\S+)\s+\(0x[0-9a-f]+\)$/.exec(line)
    if (direct) libraries.push(direct[1] as string)
  }
  return {libraries: [...new Set(libraries)], missing}
}

/** Debian's cloud kernels of one series (default 6.1) from `apt-cache search --names-only`, newest first. */
export function parseCloudKernels(searchOutput: string, series = '6.1'): {pkg: string; abi: string; sortKey: number[]}[] {
  const escaped = series.replaceAll('.', '\\.')
  const re = new RegExp(`^linux-image-(${escaped}\\.(\\d+)-(\\d+)-cloud-amd64)\\s`)
  const found: {pkg: string; abi: string; sortKey: number[]}[] = []
  for (const line of searchOutput.split('\n')) {
    const m = re.exec(line.trim() + ' ')
    if (!m) continue
    const abi = m[1] as string
    found.push({pkg: `linux-image-${abi}`, abi, sortKey: [Number(m[2]), Number(m[3])]})
  }
  return found.sort((a, b) => (b.sortKey[0] as number) - (a.sortKey[0] as number) || (b.sortKey[1] as number) - (a.sortKey[1] as number))
}

/** The "Candidate:" version from `apt-cache policy <pkg>`, if any. */
export function parseAptCandidate(policyOutput: string): string | undefined {
  const m = /^\s*Candidate:\s*(\S+)/m.exec(policyOutput)
  if (!m || m[1] === '(none)') return undefined
  return m[1]
}

/** `dpkg-query -W -f '${Package} ${db:Status-Abbrev} ${Version}\n' pkgs...` → installed versions. */
export function parseDpkgQuery(output: string): Map<string, string> {
  const versions = new Map<string, string>()
  for (const line of output.split('\n')) {
    const m = /^(\S+)\s+(\S+)\s+(\S+)$/.exec(line.trim())
    if (!m) continue
    const [, pkg, status, version] = m as unknown as [string, string, string, string]
    if (!status.startsWith('ii')) continue
    versions.set(pkg.replace(/:\w+$/, ''), version)
  }
  return versions
}

/** modules.dep: module name → {path relative to the modules dir, deps (paths)}. Names use '_' (as modprobe does). */
export function parseModulesDep(text: string): Map<string, {path: string; deps: string[]}> {
  const map = new Map<string, {path: string; deps: string[]}>()
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    const path = line.slice(0, colon).trim()
    const deps = line.slice(colon + 1).trim().split(/\s+/).filter(Boolean)
    map.set(moduleNameOf(path), {path, deps})
  }
  return map
}

/** modules.builtin: the names of built-in modules. */
export function parseModulesBuiltin(text: string): Set<string> {
  return new Set(text.split('\n').map((l) => l.trim()).filter(Boolean).map(moduleNameOf))
}

/** kernel/drivers/net/virtio_net.ko.xz → virtio_net */
export function moduleNameOf(path: string): string {
  const base = path.split('/').pop() ?? path
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replaceAll('-', '_')
}

/**
 * The modules to insmod, in order: for each wanted module (in the given order), its not-yet-loaded
 * dependencies first (modules.dep lists them deepest-last, so they are taken in reverse), then the
 * module. Built-in modules and modules that do not exist are skipped; the result says which.
 */
export function resolveModuleOrder(
  wanted: readonly string[],
  dep: Map<string, {path: string; deps: string[]}>,
  builtin: Set<string>,
): {load: {name: string; path: string}[]; builtin: string[]; absent: string[]} {
  const load: {name: string; path: string}[] = []
  const seen = new Set<string>()
  const builtIn: string[] = []
  const absent: string[] = []
  const add = (name: string): void => {
    if (seen.has(name)) return
    seen.add(name)
    const entry = dep.get(name)
    if (entry === undefined) {
      if (builtin.has(name)) builtIn.push(name)
      else absent.push(name)
      return
    }
    for (const d of [...entry.deps].reverse()) add(moduleNameOf(d))
    load.push({name, path: entry.path})
  }
  for (const name of wanted) add(name.replaceAll('-', '_'))
  return {load, builtin: builtIn, absent}
}

/** `busybox --list-full` → applet paths (bin/sh, sbin/ip, usr/bin/tr...). */
export function parseBusyboxApplets(output: string): string[] {
  return output.split('\n').map((l) => l.trim()).filter((l) => /^[\w./[-]+$/.test(l) && !l.startsWith('/'))
}
