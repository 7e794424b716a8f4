/**
 * Building a nested host, cached by its inputs: the private apt sources, then the L1 kernel, QEMU
 * 10 and the trixie root (each its own cache entry, rebuilt only when its packages change), then
 * L1's initramfs. The build entry (<stateDir>/nested/build-<key>/) names all of them; a host
 * records the build it boots. `current.json` points at the newest build so a host can be created
 * offline once one exists. Every entry is made in a temp dir and renamed into place.
 */
import {VirtlabError} from '../errors.js'
import {sha256} from '../util/hash.js'
import {prepareApt} from './apt.js'
import {type NestedEnv, phase} from './env.js'
import {buildInitramfs, initramfsKey, readInitramfsInputs} from './initramfs.js'
import {ensureKernel, type KernelInfo} from './kernel.js'
import {componentDir, nestedDir} from './layout.js'
import {ensureQemu, type QemuInfo} from './qemu.js'
import {ensureRoot, type RootInfo} from './rootfs.js'
import {buildAtomically, readJson} from './unpack.js'

export const BUILD_FORMAT_VERSION = 1

export interface BuildManifest {
  formatVersion: number
  key: string
  dir: string
  initrd: string
  builtAt: string
  kernel: KernelInfo
  qemu: QemuInfo
  root: RootInfo
  initramfsModules: string[]
  initrdBytes: number
  /** Hash of the initramfs inputs (kernel, /init, L1's rc, busybox): a changed script rebuilds it offline. */
  initramfsKey: string
}

export interface DiskUse {
  path: string
  bytes: number
}

export interface BuildResult {
  manifest: BuildManifest
  /** Which parts were built now (the rest came from the cache). */
  built: string[]
  /** Disk use of each part and of the whole nested cache. */
  disk: DiskUse[]
  totalBytes: number
  ms: number
}

export interface BuildOptions {
  /** Resolve packages again even when a current build exists (a newer trixie point release). */
  refresh?: boolean
}

export function currentPointer(stateDir: string): string {
  return `${nestedDir(stateDir)}/current.json`
}

export async function readBuild(env: NestedEnv, key: string): Promise<BuildManifest | undefined> {
  const manifest = await readJson<BuildManifest>(env, `${componentDir(env.stateDir, 'build', key)}/manifest.json`)
  if (manifest === undefined || manifest.formatVersion !== BUILD_FORMAT_VERSION) return undefined
  for (const path of [manifest.initrd, manifest.kernel.vmlinuz, manifest.qemu.binary, `${manifest.root.dir}/.virtlab-root.json`]) {
    if (!(await env.fs.exists(path))) return undefined
  }
  return manifest
}

/** The build a new host uses: the current one when complete (no network needed), else build. */
export async function ensureBuild(env: NestedEnv, options: BuildOptions = {}): Promise<BuildResult> {
  const started = performance.now()
  if (!options.refresh) {
    const pointer = await readJson<{key: string}>(env, currentPointer(env.stateDir))
    const cached = pointer === undefined ? undefined : await readBuild(env, pointer.key)
    if (cached !== undefined) {
      const inputs = await readInitramfsInputs(env)
      const initKey = initramfsKey(cached.kernel, inputs, (await env.fs.stat('/bin/busybox'))?.size ?? 0)
      if (cached.initramfsKey === initKey) {
        env.progress({type: 'step-skip', stepId: 'nested:build', title: `Nested host build ${cached.key} is cached`, detail: cached.dir})
        const disk = await diskUse(env, cached)
        return {manifest: cached, built: [], disk, totalBytes: await totalBytes(env), ms: Math.round(performance.now() - started)}
      }
      // virtlab's own L1 scripts changed: a new initramfs over the cached kernel, QEMU and root (no network).
      const manifest = await assemble(env, {...cached.kernel, built: false}, {...cached.qemu, built: false}, {...cached.root, built: false}, [])
      return {manifest, built: ['initramfs'], disk: await diskUse(env, manifest), totalBytes: await totalBytes(env), ms: Math.round(performance.now() - started)}
    }
  }
  await env.fs.mkdir(nestedDir(env.stateDir), {mode: 0o755})
  const aptDone = phase(env, 'nested:apt', 'Private apt sources (trixie, bookworm-backports): apt-get update')
  const apt = await prepareApt(env)
  aptDone(apt.mirror)
  const kernel = await ensureKernel(env, apt)
  const qemu = await ensureQemu(env, apt)
  const root = await ensureRoot(env, apt)
  const built = [kernel.built ? 'kernel' : '', qemu.built ? 'qemu' : '', root.built ? 'root' : ''].filter(Boolean)
  const manifest = await assemble(env, kernel, qemu, root, built)
  const disk = await diskUse(env, manifest)
  return {manifest, built, disk, totalBytes: await totalBytes(env), ms: Math.round(performance.now() - started)}
}

/** The build entry for these parts (made when missing: the initramfs), and the current pointer at it. */
async function assemble(
  env: NestedEnv,
  kernel: KernelInfo & {built: boolean},
  qemu: QemuInfo & {built: boolean},
  root: RootInfo & {built: boolean},
  built: string[],
): Promise<BuildManifest> {
  const inputs = await readInitramfsInputs(env)
  const busybox = (await env.fs.stat('/bin/busybox'))?.size ?? 0
  const initKey = initramfsKey(kernel, inputs, busybox)
  const key = sha256(JSON.stringify({format: BUILD_FORMAT_VERSION, kernel: kernel.key, qemu: qemu.key, root: root.key, initramfs: initKey})).slice(0, 16)
  const dir = componentDir(env.stateDir, 'build', key)
  let manifest = await readBuild(env, key)
  if (manifest === undefined) {
    const done = phase(env, 'nested:initramfs', 'L1 initramfs (busybox, 9p, overlay)')
    const strip = <T extends {built: boolean}>(v: T): Omit<T, 'built'> => {
      const {built: _built, ...rest} = v
      return rest
    }
    manifest = await buildAtomically(env, dir, `build-${key}`, async (temp) => {
      const {bytes, modules} = await buildInitramfs(env, kernel, inputs, temp)
      await env.fs.writeBytes!(`${temp}/initrd.gz`, bytes, {mode: 0o644})
      for (const file of await env.fs.readdir(temp)) {
        if (file !== 'initrd.gz') await env.fs.remove(`${temp}/${file}`, {recursive: true})
      }
      const m: BuildManifest = {
        formatVersion: BUILD_FORMAT_VERSION, key, dir, initrd: `${dir}/initrd.gz`, builtAt: new Date().toISOString(),
        kernel: strip(kernel), qemu: strip(qemu), root: strip(root), initramfsModules: modules, initrdBytes: bytes.length, initramfsKey: initKey,
      }
      await env.fs.writeFile(`${temp}/manifest.json`, JSON.stringify(m, null, 2) + '\n', {mode: 0o644})
      return m
    })
    built.push('initramfs')
    done(`${(manifest.initrdBytes / 1048576).toFixed(1)} MiB, modules ${manifest.initramfsModules.join(' ')}`)
  }
  await env.fs.writeFile(currentPointer(env.stateDir), JSON.stringify({key}) + '\n', {atomic: true, mode: 0o644})
  return manifest
}

/** `du -sb` of one path (bytes), through the runner. */
export async function bytesOf(env: NestedEnv, path: string): Promise<number> {
  const r = await env.runner.run(['du', '-sb', env.fs.resolve(path)], {allowFailure: true, timeoutMs: 120_000})
  const n = Number(/^(\d+)/.exec(r.stdout)?.[1])
  if (!Number.isFinite(n)) throw new VirtlabError('NESTED_DISK_USE', `du -sb ${path} failed`, {command: {argv: r.argv, exitCode: r.exitCode, stderrTail: r.stderr.trim()}})
  return n
}

async function diskUse(env: NestedEnv, m: BuildManifest): Promise<DiskUse[]> {
  const out: DiskUse[] = []
  for (const path of [m.kernel.dir, m.qemu.dir, m.root.dir, m.dir]) out.push({path, bytes: await bytesOf(env, path)})
  return out
}

async function totalBytes(env: NestedEnv): Promise<number> {
  return bytesOf(env, nestedDir(env.stateDir))
}
