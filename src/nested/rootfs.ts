/**
 * The L1 userspace: a Debian trixie root made with mmdebstrap, shared into L1 read-only over 9p
 * (a tmpfs overlay makes it writable there). It carries what the labs run on the target: QEMU 10,
 * DPDK 24.11 (dpdk-testpmd is in dpdk-dev; the PMDs are only Recommends and are listed), OVS 3.5
 * with DPDK, iproute2 with `vdpa`, iperf3, busybox-static and cpio (the built-in guest's builder),
 * node, and openssh-server (the control channel). The built-in guest is built inside L1 from L1's
 * own kernel (bound onto /boot and /usr/lib/modules at boot) and the qemu-guest-agent .deb left in
 * /var/cache/apt/archives, because L1 has no route to a mirror. apt lists are kept for the same
 * reason (apt-cache policy answers offline).
 */
import {VirtlabError} from '../errors.js'
import {sha256} from '../util/hash.js'
import {type AptConfig, downloadDeb, packageInfo} from './apt.js'
import {type NestedEnv, phase} from './env.js'
import {componentDir, nestedDir} from './layout.js'

/** Bump when the root's contents or customisation change. */
export const ROOT_FORMAT_VERSION = 1
export const ROOT_SUITE = 'trixie'

export const ROOT_PACKAGES = [
  'apt', 'kmod', 'busybox-static', 'procps', 'iproute2', 'iperf3', 'iputils-ping', 'pciutils', 'ethtool', 'psmisc', 'socat',
  'xz-utils', 'zstd', 'cpio', 'util-linux', 'openssh-server',
  'qemu-system-x86', 'qemu-system-common', 'qemu-system-data', 'qemu-utils',
  'dpdk', 'dpdk-dev', 'openvswitch-switch-dpdk',
  'librte-net-vhost25', 'librte-net-tap25', 'librte-net-af-packet25', 'librte-mempool-ring25', 'librte-net-virtio25',
  'librte-net-null25', 'librte-net-ring25',
  'nodejs',
] as const

/** Debs put into the root's apt cache for builders that run offline inside L1. */
export const CACHED_DEBS = ['qemu-guest-agent'] as const

const DPKG_EXCLUDES = ['/usr/share/man/*', '/usr/share/doc/*', '/usr/share/locale/*', '/usr/share/info/*']

export interface RootInfo {
  key: string
  dir: string
  suite: string
  mirror: string
  packages: readonly string[]
  cachedDebs: Record<string, string>
  buildMs?: number
}

export function rootKey(mirror: string): string {
  return sha256(JSON.stringify({format: ROOT_FORMAT_VERSION, suite: ROOT_SUITE, mirror, packages: ROOT_PACKAGES, cached: CACHED_DEBS, excludes: DPKG_EXCLUDES})).slice(0, 16)
}

/** The mmdebstrap argv (pure; the caller validated target and mirror). */
export function mmdebstrapArgv(target: string, mirror: string): string[] {
  return [
    'mmdebstrap',
    '--variant=essential',
    '--mode=root',
    '--format=directory',
    '--skip=cleanup/apt/lists',
    ...DPKG_EXCLUDES.map((p) => `--dpkgopt=path-exclude=${p}`),
    `--include=${ROOT_PACKAGES.join(',')}`,
    ROOT_SUITE,
    target,
    mirror,
  ]
}

/** `E: Unable to locate package foo` and friends from mmdebstrap / apt output. */
export function missingPackages(output: string): string[] {
  const found = new Set<string>()
  for (const m of output.matchAll(/Unable to locate package (\S+)|Package '?([\w+.-]+)'? has no installation candidate|Depends: ([\w+.-]+) but it is not installable/g)) {
    const name = m[1] ?? m[2] ?? m[3]
    if (name !== undefined) found.add(name)
  }
  return [...found]
}

/** The root for this mirror: reused when cached, else built with mmdebstrap into a temp dir and renamed. */
export async function ensureRoot(env: NestedEnv, apt: AptConfig): Promise<RootInfo & {built: boolean}> {
  const key = rootKey(apt.mirror)
  const dir = componentDir(env.stateDir, 'root', key)
  const manifestPath = `${dir}/.virtlab-root.json`
  const cached = await env.fs.tryReadFile(manifestPath)
  if (cached !== undefined) {
    env.progress({type: 'step-skip', stepId: 'nested:root', title: `L1 root (${ROOT_SUITE}) is cached`, detail: dir})
    return {...(JSON.parse(cached) as RootInfo), built: false}
  }
  if ((await env.runner.which('mmdebstrap')) === undefined) {
    throw new VirtlabError('NESTED_TOOL_MISSING', 'Building the nested host\'s root needs mmdebstrap, which is not installed', {
      hint: 'apt-get install -y --no-install-recommends mmdebstrap',
    })
  }
  const done = phase(env, 'nested:root', `L1 root: mmdebstrap ${ROOT_SUITE} (${ROOT_PACKAGES.length} packages; a few minutes)`)
  const started = performance.now()
  const temp = `${nestedDir(env.stateDir)}/.tmp-root-${key}-${process.pid}`
  await env.fs.remove(temp, {recursive: true})
  try {
    const r = await env.runner.run(mmdebstrapArgv(env.fs.resolve(temp), apt.mirror), {allowFailure: true, timeoutMs: 45 * 60_000})
    if (r.exitCode !== 0) {
      const missing = missingPackages(`${r.stdout}\n${r.stderr}`)
      const tail = r.stderr.trim().split('\n').slice(-8).join('\n')
      if (missing.length > 0) {
        throw new VirtlabError('NESTED_PACKAGE_MISSING', `Debian package ${missing.join(', ')} is not available from ${ROOT_SUITE} on ${apt.mirror}`, {
          hint: 'Check the mirror and the network; the nested root needs every package in its list.',
          command: {argv: r.argv, exitCode: r.exitCode, stderrTail: tail},
        })
      }
      throw new VirtlabError('NESTED_ROOT_FAILED', `mmdebstrap of the ${ROOT_SUITE} root failed`, {
        hint: `Check that this machine reaches ${apt.mirror} and has free disk under ${nestedDir(env.stateDir)}.`,
        command: {argv: r.argv, exitCode: r.exitCode, stderrTail: tail},
      })
    }
    // The cached root is shared by every nested host: no host keys in it (each host brings its own).
    for (const file of await env.fs.readdir(`${temp}/etc/ssh`)) {
      if (file.startsWith('ssh_host_')) await env.fs.remove(`${temp}/etc/ssh/${file}`)
    }
    const cachedDebs: Record<string, string> = {}
    for (const name of CACHED_DEBS) {
      const pkg = await packageInfo(env, apt, name, 'trixie')
      const deb = await downloadDeb(env, apt, pkg)
      const bytes = await env.fs.readBytes!(deb)
      await env.fs.writeBytes!(`${temp}/var/cache/apt/archives/${deb.split('/').pop() as string}`, bytes, {mode: 0o644})
      cachedDebs[name] = pkg.version
    }
    const info: RootInfo = {key, dir, suite: ROOT_SUITE, mirror: apt.mirror, packages: ROOT_PACKAGES, cachedDebs, buildMs: Math.round(performance.now() - started)}
    await env.fs.writeFile(`${temp}/.virtlab-root.json`, JSON.stringify(info, null, 2) + '\n', {mode: 0o644})
    await env.fs.remove(dir, {recursive: true})
    await env.fs.rename(temp, dir)
    done(dir)
    return {...info, built: true}
  } finally {
    await env.fs.remove(temp, {recursive: true}).catch(() => {})
  }
}
