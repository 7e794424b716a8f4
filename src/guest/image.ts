/**
 * The built-in guest image: a kernel and a small initramfs made from packages the host already
 * has or can fetch from its own Debian mirrors (no other download).
 *
 *   kernel     the host's /boot/vmlinuz-<ver> with /lib/modules/<ver> when present; otherwise the
 *              newest Debian linux-image-6.1.0-N-cloud-amd64 (apt-get download, dpkg -x)
 *   initramfs  cpio newc + gzip, written here in TypeScript: busybox-static (+ applet links),
 *              iperf3 and its ldd libraries, the virtio modules (insmod order), qemu-ga from the
 *              qemu-guest-agent package and its libraries, /init (guest/init.sh)
 *
 * Cache: <stateDir>/images/builtin-<key>/{vmlinuz,initrd.gz,manifest.json}, key = hash of every
 * input; <stateDir>/images/builtin is a symlink to the current one (the stable path the compiler
 * puts in domain XML and QEMU argv). Every command goes through ctx.target.runner, every file through ctx.target.fs.
 */
import type {Context, Operator, TargetHost} from '../host/target.js'
import {VirtlabError} from '../errors.js'
import type {HostFs} from '../host/fs.js'
import {sha256} from '../util/hash.js'
import {CpioTree, writeInitramfs} from './cpio.js'
import {
  moduleNameOf,
  parseAptCandidate,
  parseBusyboxApplets,
  parseCloudKernels,
  parseDpkgQuery,
  parseLdd,
  parseModulesBuiltin,
  parseModulesDep,
  resolveModuleOrder,
} from './parse.js'

/** Bump when the image layout or what /init expects changes: every cached image is rebuilt. */
export const IMAGE_FORMAT_VERSION = 2

/** The virtio modules, in insmod order (order matters). Built-in ones are skipped. */
export const REQUIRED_MODULES = [
  'virtio_ring',
  'virtio',
  'virtio_pci_legacy_dev',
  'virtio_pci_modern_dev',
  'virtio_pci',
  'failover',
  'net_failover',
  'virtio_net',
] as const

/**
 * Loaded when they exist as modules: virtio-serial (the guest agent's port), and the VF drivers a
 * guest needs for an SR-IOV VF passed to it with vfio-pci (igbvf: the igb VFs of QEMU's emulated
 * NIC in a nested lab host, whose guest kernel is Debian's full kernel; the cloud kernel has none).
 */
export const OPTIONAL_MODULES = ['virtio_console', 'igbvf', 'ixgbevf'] as const

/** These must be present in the kernel one way or another (module or built in). */
const ESSENTIAL_MODULES = ['virtio_pci', 'virtio_net', 'virtio_console']

export const AGENT_PORT_NAME = 'org.qemu.guest_agent.0'
export const READY_MARKER = 'VIRTLAB-READY'

const BUSYBOX_PATH = '/bin/busybox'
const IPERF3_PATH = '/usr/bin/iperf3'
const QGA_PACKAGE = 'qemu-guest-agent'
const QGA_BINARY = 'usr/sbin/qemu-ga'
const KERNEL_SERIES = '6.1'
const APT_ARCHIVES = '/var/cache/apt/archives'

export interface ImagePaths {
  dir: string
  kernel: string
  initrd: string
  manifest: string
}

export interface KernelInfo {
  source: 'host' | 'deb'
  /** uname -r of the guest kernel. */
  version: string
  /** The Debian package (deb source), e.g. linux-image-6.1.0-56-cloud-amd64. */
  package?: string
  packageVersion?: string
}

export interface ImageManifest {
  formatVersion: number
  key: string
  builtAt: string
  buildMs: number
  kernel: KernelInfo
  packages: Record<string, string>
  agent: {kind: 'qemu-ga'; package: string; version: string; port: string}
  modules: {load: string[]; builtin: string[]; absent: string[]}
  initScriptSha256: string
  files: number
  kernelBytes: number
  initrdBytes: number
  uncompressedBytes: number
}

export interface BuildImageOptions {
  /** Rebuild even when an image with the same inputs is cached. */
  force?: boolean
  /** Use this Debian kernel package instead of the newest 6.1 cloud kernel (deb source only). */
  kernelPackage?: string
}

export interface BuildImageResult {
  /** false: an image with the same key was already cached and is now current. */
  built: boolean
  manifest: ImageManifest
  /** The stable paths (<stateDir>/images/builtin/...). */
  current: ImagePaths
  /** The versioned cache entry (<stateDir>/images/builtin-<key>/...). */
  entry: ImagePaths
}

export function imagesDir(stateDir: string): string {
  return `${stateDir.replace(/\/+$/, '')}/images`
}

function pathsIn(dir: string): ImagePaths {
  return {dir, kernel: `${dir}/vmlinuz`, initrd: `${dir}/initrd.gz`, manifest: `${dir}/manifest.json`}
}

/** The stable pointer the compiler references: <stateDir>/images/builtin/{vmlinuz,initrd.gz}. */
export function builtinImagePaths(stateDir: string): ImagePaths {
  return pathsIn(`${imagesDir(stateDir)}/builtin`)
}

export function imageEntryPaths(stateDir: string, key: string): ImagePaths {
  return pathsIn(`${imagesDir(stateDir)}/builtin-${key}`)
}

export function initScriptPath(ctx: {operator: Pick<Operator, 'packageRoot'>}): string {
  return `${ctx.operator.packageRoot}/guest/init.sh`
}

/** The current image's manifest, or undefined when none has been built (or it is unreadable). */
export async function readImageManifest(ctx: {target: Pick<TargetHost, 'fs' | 'stateDir'>}): Promise<ImageManifest | undefined> {
  const text = await ctx.target.fs.tryReadFile(builtinImagePaths(ctx.target.stateDir).manifest)
  if (text === undefined) return undefined
  try {
    return JSON.parse(text) as ImageManifest
  } catch {
    return undefined
  }
}

/**
 * The image `up` boots: built on first use, a no-op when the current image matches this virtlab
 * (format version and /init script). A newer kernel or package on the mirror does not trigger a
 * rebuild here; `virtlab image build` picks those up.
 */
export async function ensureImage(ctx: Context): Promise<{paths: ImagePaths; manifest: ImageManifest; built: boolean}> {
  const current = builtinImagePaths(ctx.target.stateDir)
  const manifest = await readImageManifest(ctx)
  if (manifest !== undefined && manifest.formatVersion === IMAGE_FORMAT_VERSION) {
    const init = await ctx.operator.fs.tryReadFile(initScriptPath(ctx))
    const filesThere = (await ctx.target.fs.exists(current.kernel)) && (await ctx.target.fs.exists(current.initrd))
    if (init !== undefined && sha256(init) === manifest.initScriptSha256 && filesThere) {
      ctx.operator.progress({type: 'step-skip', stepId: 'image', title: 'Built-in guest image is cached', detail: current.dir})
      return {paths: current, manifest, built: false}
    }
  }
  const result = await buildImage(ctx)
  return {paths: result.current, manifest: result.manifest, built: result.built}
}

interface Inputs {
  key: string
  kernel: KernelInfo
  packages: Record<string, string>
  qgaVersion: string
  initScript: string
}

/** Build (or reuse) the built-in image and make it current. */
export async function buildImage(ctx: Context, options: BuildImageOptions = {}): Promise<BuildImageResult> {
  const started = Date.now()
  const fs = ctx.target.fs
  requireBinaryFs(fs)
  const images = imagesDir(ctx.target.stateDir)
  await fs.mkdir(images, {mode: 0o755})

  const inputs = await resolveInputs(ctx, options)
  const entry = imageEntryPaths(ctx.target.stateDir, inputs.key)
  const current = builtinImagePaths(ctx.target.stateDir)

  if (!options.force) {
    const cached = await readManifestAt(fs, entry.manifest)
    if (cached !== undefined && (await fs.exists(entry.kernel)) && (await fs.exists(entry.initrd))) {
      await pointCurrentAt(fs, images, inputs.key)
      ctx.operator.progress({type: 'step-skip', stepId: 'image', title: 'Built-in guest image is cached', detail: entry.dir})
      return {built: false, manifest: cached, current, entry}
    }
  }

  const work = `${images}/.work-${inputs.key}-${process.pid}`
  await fs.remove(work, {recursive: true})
  await fs.mkdir(work, {mode: 0o755})
  try {
    const tree = new CpioTree()
    addSkeleton(tree)

    step(ctx, 'image:kernel', `Guest kernel ${inputs.kernel.version}`, inputs.kernel.package ?? 'host kernel')
    const kernel = await stageKernel(ctx, inputs.kernel, work)
    const modules = await addModules(ctx, tree, kernel.modulesDir, work)
    done(ctx, 'image:kernel', `Guest kernel ${inputs.kernel.version}`, `modules: ${modules.load.join(' ') || 'none (built in)'}`)

    step(ctx, 'image:userland', 'busybox, iperf3, qemu-ga', undefined)
    await addBusybox(ctx, tree)
    await addExecutable(ctx, tree, IPERF3_PATH, IPERF3_PATH)
    await addDlopenedLibraries(ctx, tree)
    const qgaDeb = await fetchDeb(ctx, QGA_PACKAGE, inputs.qgaVersion)
    const qgaRoot = `${work}/qga`
    await fs.mkdir(qgaRoot)
    await dpkgExtract(ctx, qgaDeb, qgaRoot)
    await addExecutable(ctx, tree, `${qgaRoot}/${QGA_BINARY}`, `/${QGA_BINARY}`)
    done(ctx, 'image:userland', 'busybox, iperf3, qemu-ga', `qemu-guest-agent ${inputs.qgaVersion}`)

    tree.file('init', new TextEncoder().encode(inputs.initScript), 0o755)
    tree.file('etc/virtlab/modules', new TextEncoder().encode(modules.load.map((m) => m + '\n').join('')))
    tree.file('etc/virtlab/image', new TextEncoder().encode(`format=${IMAGE_FORMAT_VERSION}\nkey=${inputs.key}\nkernel=${inputs.kernel.version}\n`))

    step(ctx, 'image:initramfs', 'Writing initramfs (cpio newc, gzip)', undefined)
    const initrd = writeInitramfs(tree)
    const kernelBytes = await readBytes(fs, kernel.vmlinuz)
    const staging = `${entry.dir}.tmp-${process.pid}`
    await fs.remove(staging, {recursive: true})
    await fs.mkdir(staging, {mode: 0o755})
    await writeBytes(fs, `${staging}/vmlinuz`, kernelBytes, 0o644)
    await writeBytes(fs, `${staging}/initrd.gz`, initrd, 0o644)
    const manifest: ImageManifest = {
      formatVersion: IMAGE_FORMAT_VERSION,
      key: inputs.key,
      builtAt: new Date().toISOString(),
      buildMs: Date.now() - started,
      kernel: inputs.kernel,
      packages: {...inputs.packages, [QGA_PACKAGE]: inputs.qgaVersion},
      agent: {kind: 'qemu-ga', package: QGA_PACKAGE, version: inputs.qgaVersion, port: AGENT_PORT_NAME},
      modules: {load: modules.load, builtin: modules.builtin, absent: modules.absent},
      initScriptSha256: sha256(inputs.initScript),
      files: tree.list().length,
      kernelBytes: kernelBytes.length,
      initrdBytes: initrd.length,
      uncompressedBytes: tree.dataSize(),
    }
    await fs.writeFile(`${staging}/manifest.json`, JSON.stringify(manifest, null, 2) + '\n', {mode: 0o644})
    await fs.remove(entry.dir, {recursive: true})
    await fs.rename(staging, entry.dir)
    await pointCurrentAt(fs, images, inputs.key)
    await pruneCache(ctx, inputs.key, [kernel.deb, qgaDeb])
    done(ctx, 'image:initramfs', 'Writing initramfs (cpio newc, gzip)', `${entry.dir} (initrd ${mib(initrd.length)}, kernel ${mib(kernelBytes.length)})`)
    return {built: true, manifest, current, entry}
  } finally {
    await fs.remove(work, {recursive: true})
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`
}

function step(ctx: Context, stepId: string, title: string, detail: string | undefined): void {
  ctx.operator.progress({type: 'step-start', stepId, title, ...(detail === undefined ? {} : {detail})})
}

function done(ctx: Context, stepId: string, title: string, detail: string | undefined): void {
  ctx.operator.progress({type: 'step-done', stepId, title, ...(detail === undefined ? {} : {detail})})
}

// ---------------------------------------------------------------------------------------------
// Inputs and the cache key

async function resolveInputs(ctx: Context, options: BuildImageOptions): Promise<Inputs> {
  const initScript = await ctx.operator.fs.tryReadFile(initScriptPath(ctx))
  if (initScript === undefined) {
    throw new VirtlabError('IMAGE_INIT_MISSING', `The guest /init script is missing: ${initScriptPath(ctx)}`, {
      hint: 'Reinstall virtlab: the package ships guest/init.sh.',
    })
  }
  const query = await ctx.target.runner.run(
    ['dpkg-query', '-W', '-f', '${Package} ${db:Status-Abbrev} ${Version}\n', 'busybox-static', 'iperf3'],
    {allowFailure: true, timeoutMs: 30_000},
  )
  const installed = parseDpkgQuery(query.stdout)
  const packages: Record<string, string> = {}
  for (const pkg of ['busybox-static', 'iperf3']) {
    const version = installed.get(pkg)
    if (version === undefined) {
      throw new VirtlabError('IMAGE_PACKAGE_MISSING', `The built-in guest needs the host package ${pkg}, which is not installed`, {
        hint: `apt-get install -y --no-install-recommends ${pkg} (or: virtlab doctor --fix)`,
      })
    }
    packages[pkg] = version
  }
  const qgaVersion = await aptCandidate(ctx, QGA_PACKAGE)
  const kernel = await selectKernel(ctx, options)
  const key = sha256(JSON.stringify({
    format: IMAGE_FORMAT_VERSION,
    kernel,
    packages,
    qga: qgaVersion,
    init: sha256(initScript),
    modules: [...REQUIRED_MODULES, ...OPTIONAL_MODULES],
  })).slice(0, 16)
  return {key, kernel, packages, qgaVersion, initScript}
}

async function aptCandidate(ctx: Context, pkg: string): Promise<string> {
  const policy = await ctx.target.runner.run(['apt-cache', 'policy', pkg], {allowFailure: true, timeoutMs: 60_000})
  const candidate = parseAptCandidate(policy.stdout)
  if (candidate === undefined) {
    throw new VirtlabError('IMAGE_PACKAGE_UNAVAILABLE', `No installable version of ${pkg} is known to apt`, {
      hint: 'Run apt-get update (the host needs its Debian mirror for the built-in guest).',
      command: {argv: policy.argv, exitCode: policy.exitCode, stderrTail: policy.stderr.trim() || policy.stdout.trim()},
    })
  }
  return candidate
}

/** The host's kernel when /boot and /lib/modules have it, else the newest Debian 6.1 cloud kernel. */
async function selectKernel(ctx: Context, options: BuildImageOptions): Promise<KernelInfo> {
  if (options.kernelPackage === undefined) {
    const host = await hostKernel(ctx.target.fs)
    if (host !== undefined) return host
  }
  if ((await ctx.target.runner.which('apt-get')) === undefined) {
    throw new VirtlabError('IMAGE_NO_KERNEL', 'No guest kernel: the host has no /boot/vmlinuz-* with /lib/modules, and no apt-get to fetch one', {
      hint: 'Install a kernel package (its /boot/vmlinuz-<ver> and /lib/modules/<ver>), or run on Debian/Ubuntu.',
    })
  }
  let pkg = options.kernelPackage
  if (pkg === undefined) {
    const search = await ctx.target.runner.run(['apt-cache', 'search', '--names-only', `^linux-image-${KERNEL_SERIES.replace('.', '\\.')}.*-cloud-amd64$`], {timeoutMs: 60_000})
    const newest = parseCloudKernels(search.stdout, KERNEL_SERIES)[0]
    if (newest === undefined) {
      throw new VirtlabError('IMAGE_NO_KERNEL', `apt knows no linux-image-${KERNEL_SERIES}.*-cloud-amd64 package`, {
        hint: 'Run apt-get update; the built-in guest uses Debian\'s cloud kernel.',
        command: {argv: search.argv, exitCode: search.exitCode},
      })
    }
    pkg = newest.pkg
  }
  const abi = /^linux-image-(.+)$/.exec(pkg)?.[1]
  if (abi === undefined || !/^[\w.+-]+$/.test(abi)) {
    throw new VirtlabError('IMAGE_BAD_KERNEL_PACKAGE', `Not a kernel image package name: ${pkg}`, {hint: 'Use a name like linux-image-6.1.0-56-cloud-amd64.'})
  }
  const packageVersion = await aptCandidate(ctx, pkg)
  return {source: 'deb', version: abi, package: pkg, packageVersion}
}

async function hostKernel(fs: HostFs): Promise<KernelInfo | undefined> {
  const entries = (await fs.readdir('/boot')).filter((f) => f.startsWith('vmlinuz-')).map((f) => f.slice('vmlinuz-'.length))
  const usable: string[] = []
  for (const version of entries) {
    if ((await fs.exists(`/lib/modules/${version}/modules.dep`)) && (await fs.stat(`/boot/vmlinuz-${version}`))?.isFile) usable.push(version)
  }
  if (usable.length === 0) return undefined
  const running = (await fs.tryReadFile('/proc/sys/kernel/osrelease'))?.trim()
  const version = running !== undefined && usable.includes(running)
    ? running
    : [...usable].sort((a, b) => a.localeCompare(b, 'en', {numeric: true})).at(-1) as string
  const size = (await fs.stat(`/boot/vmlinuz-${version}`))?.size ?? 0
  return {source: 'host', version, packageVersion: `vmlinuz size ${size}`}
}

// ---------------------------------------------------------------------------------------------
// Debian packages

/** A .deb for pkg=version: from the apt cache, from our download cache, or apt-get download. */
async function fetchDeb(ctx: Context, pkg: string, version: string): Promise<string> {
  const fileVersion = version.replaceAll(':', '%3a')
  const fileName = `${pkg}_${fileVersion}_amd64.deb`
  for (const dir of [APT_ARCHIVES, `${imagesDir(ctx.target.stateDir)}/downloads`]) {
    const candidate = `${dir}/${fileName}`
    if ((await ctx.target.fs.stat(candidate))?.isFile) return candidate
  }
  const downloads = `${imagesDir(ctx.target.stateDir)}/downloads`
  await ctx.target.fs.mkdir(downloads, {mode: 0o755})
  ctx.operator.progress({type: 'info', title: `Downloading ${pkg} ${version}`, detail: 'apt-get download'})
  await ctx.target.runner.run(['apt-get', 'download', `${pkg}=${version}`], {cwd: ctx.target.fs.resolve(downloads), timeoutMs: 600_000})
    .catch((error: unknown) => {
      throw new VirtlabError('IMAGE_DOWNLOAD_FAILED', `apt-get download ${pkg}=${version} failed`, {
        hint: 'Run apt-get update and check that the host reaches its Debian mirror.',
        cause: error,
        command: error instanceof VirtlabError ? error.command : undefined,
      })
    })
  const found = (await ctx.target.fs.readdir(downloads)).find((f) => f === fileName)
    ?? (await ctx.target.fs.readdir(downloads)).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'))
  if (found === undefined) {
    throw new VirtlabError('IMAGE_DOWNLOAD_FAILED', `apt-get download ${pkg} left no .deb in ${downloads}`)
  }
  return `${downloads}/${found}`
}

async function dpkgExtract(ctx: Context, deb: string, into: string): Promise<void> {
  await ctx.target.runner.run(['dpkg', '-x', ctx.target.fs.resolve(deb), ctx.target.fs.resolve(into)], {timeoutMs: 300_000})
}

async function stageKernel(ctx: Context, kernel: KernelInfo, work: string): Promise<{vmlinuz: string; modulesDir: string; deb?: string}> {
  if (kernel.source === 'host') {
    return {vmlinuz: `/boot/vmlinuz-${kernel.version}`, modulesDir: `/lib/modules/${kernel.version}`}
  }
  const deb = await fetchDeb(ctx, kernel.package as string, kernel.packageVersion as string)
  const root = `${work}/kernel`
  await ctx.target.fs.mkdir(root)
  await dpkgExtract(ctx, deb, root)
  const vmlinuz = `${root}/boot/vmlinuz-${kernel.version}`
  if (!(await ctx.target.fs.exists(vmlinuz))) {
    throw new VirtlabError('IMAGE_NO_KERNEL', `${kernel.package} has no boot/vmlinuz-${kernel.version}`)
  }
  // Merged-/usr packages put modules under usr/lib/modules.
  for (const base of ['lib/modules', 'usr/lib/modules']) {
    const dir = `${root}/${base}/${kernel.version}`
    if (!(await ctx.target.fs.exists(`${dir}/modules.order`)) && !(await ctx.target.fs.exists(`${dir}/modules.dep`))) continue
    // The package ships no modules.dep (its postinst runs depmod): make one when depmod is here;
    // otherwise addModules falls back to modules.order (no dependency information).
    if (!(await ctx.target.fs.exists(`${dir}/modules.dep`)) && (await ctx.target.runner.which('depmod')) !== undefined) {
      const treeRoot = base === 'lib/modules' ? root : `${root}/usr`
      await ctx.target.runner.run(['depmod', '-b', ctx.target.fs.resolve(treeRoot), kernel.version], {timeoutMs: 120_000})
    }
    return {vmlinuz, modulesDir: dir, deb}
  }
  throw new VirtlabError('IMAGE_NO_KERNEL', `${kernel.package} has no lib/modules/${kernel.version}`)
}

// ---------------------------------------------------------------------------------------------
// Initramfs contents

function addSkeleton(tree: CpioTree): void {
  for (const dir of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'dev', 'run', 'tmp', 'root', 'var/log', 'var/lib', 'lib/modules/virtlab']) {
    tree.dir(dir, dir === 'tmp' ? 0o1777 : 0o755)
  }
  tree.symlink('var/run', '../run')
  // The kernel opens /dev/console for init's stdio before devtmpfs is mounted.
  tree.chardev('dev/console', 5, 1, 0o600)
  tree.chardev('dev/null', 1, 3, 0o666)
  tree.file('etc/passwd', new TextEncoder().encode('root:x:0:0:root:/root:/bin/sh\n'))
  tree.file('etc/group', new TextEncoder().encode('root:x:0:\n'))
  tree.file('etc/hosts', new TextEncoder().encode('127.0.0.1 localhost\n'))
}

async function addModules(
  ctx: Context,
  tree: CpioTree,
  modulesDir: string,
  work: string,
): Promise<{load: string[]; builtin: string[]; absent: string[]}> {
  const depText = await ctx.target.fs.tryReadFile(`${modulesDir}/modules.dep`)
  const orderText = await ctx.target.fs.tryReadFile(`${modulesDir}/modules.order`)
  if (depText === undefined && orderText === undefined) {
    throw new VirtlabError('IMAGE_NO_KERNEL', `No modules.dep or modules.order in ${modulesDir}`, {hint: 'Run depmod for that kernel.'})
  }
  // Without modules.dep, modules.order still says where each module is (no dependencies: the
  // fixed REQUIRED_MODULES order is then what loads them correctly).
  const dep = parseModulesDep(depText ?? (orderText as string).split('\n').filter(Boolean).map((p) => `${p.trim()}:`).join('\n'))
  const builtin = parseModulesBuiltin((await ctx.target.fs.tryReadFile(`${modulesDir}/modules.builtin`)) ?? '')
  const wanted = [...REQUIRED_MODULES, ...OPTIONAL_MODULES.filter((m) => dep.has(m) || builtin.has(m))]
  const order = resolveModuleOrder(wanted, dep, builtin)
  const missingEssential = ESSENTIAL_MODULES.filter((m) => order.absent.includes(m) || (!dep.has(m) && !builtin.has(m)))
  if (missingEssential.length > 0) {
    throw new VirtlabError('IMAGE_KERNEL_UNSUITABLE', `The guest kernel has no ${missingEssential.join(', ')} (neither module nor built in)`, {
      hint: 'Use a kernel with virtio-pci, virtio-net and virtio-console (Debian\'s cloud kernel has them).',
    })
  }
  for (const module of order.load) {
    const data = await readModule(ctx, `${modulesDir}/${module.path}`, work)
    tree.file(`lib/modules/virtlab/${module.name}.ko`, data, 0o644)
  }
  return {load: order.load.map((m) => m.name), builtin: order.builtin, absent: order.absent}
}

/** A module's bytes, decompressed (busybox insmod takes plain .ko). */
async function readModule(ctx: Context, path: string, work: string): Promise<Uint8Array> {
  if (path.endsWith('.ko')) return readBytes(ctx.target.fs, path)
  if (path.endsWith('.ko.gz')) {
    const {gunzipSync} = await import('node:zlib')
    return gunzipSync(await readBytes(ctx.target.fs, path))
  }
  const tool = path.endsWith('.ko.xz') ? 'xz' : path.endsWith('.ko.zst') ? 'zstd' : undefined
  if (tool === undefined) throw new VirtlabError('IMAGE_MODULE_FORMAT', `Unknown module format: ${path}`)
  const copy = `${work}/${moduleNameOf(path)}${path.slice(path.lastIndexOf('.ko'))}`
  await writeBytes(ctx.target.fs, copy, await readBytes(ctx.target.fs, path), 0o644)
  await ctx.target.runner.run([tool, '-d', '-f', '-q', ctx.target.fs.resolve(copy)], {timeoutMs: 60_000})
  return readBytes(ctx.target.fs, copy.replace(/\.(xz|zst)$/, ''))
}

async function addBusybox(ctx: Context, tree: CpioTree): Promise<void> {
  const stat = await ctx.target.fs.stat(BUSYBOX_PATH)
  if (!stat?.isFile) {
    throw new VirtlabError('IMAGE_PACKAGE_MISSING', `${BUSYBOX_PATH} is missing`, {hint: 'apt-get install -y busybox-static'})
  }
  const libs = parseLdd((await ctx.target.runner.run(['ldd', ctx.target.fs.resolve(BUSYBOX_PATH)], {allowFailure: true, timeoutMs: 30_000})).stdout)
  if (libs.libraries.length > 0) {
    throw new VirtlabError('IMAGE_PACKAGE_MISSING', `${BUSYBOX_PATH} is not statically linked`, {hint: 'apt-get install -y busybox-static (it replaces the dynamic busybox).'})
  }
  tree.file('bin/busybox', await readBytes(ctx.target.fs, BUSYBOX_PATH), 0o755)
  const list = await ctx.target.runner.run([ctx.target.fs.resolve(BUSYBOX_PATH), '--list-full'], {timeoutMs: 30_000})
  for (const applet of parseBusyboxApplets(list.stdout)) {
    if (applet === 'bin/busybox' || tree.has(applet)) continue
    tree.symlink(applet, '/bin/busybox')
  }
  if (!tree.has('bin/sh')) tree.symlink('bin/sh', '/bin/busybox')
}

/**
 * Libraries glibc loads with dlopen, which ldd does not list: libgcc_s.so.1 (pthread_cancel; the
 * iperf3 3.18 client of Debian trixie aborts with "libgcc_s.so.1 must be installed for
 * pthread_cancel to work" without it). Taken from the directory libc came from, when it is there.
 */
async function addDlopenedLibraries(ctx: Context, tree: CpioTree): Promise<void> {
  const libc = tree.list().find((e) => e.type === 'file' && /\/libc\.so\.6$/.test(e.path))
  if (libc === undefined) return
  const dir = `/${libc.path.slice(0, libc.path.lastIndexOf('/'))}`
  for (const name of ['libgcc_s.so.1']) {
    const path = `${dir}/${name}`
    if (tree.has(path) || !(await ctx.target.fs.stat(path))?.isFile) continue
    tree.file(path, await readBytes(ctx.target.fs, path), 0o755)
  }
}

/** An executable at `to` in the image, with every library ldd resolves for it, at the same paths. */
async function addExecutable(ctx: Context, tree: CpioTree, from: string, to: string): Promise<void> {
  const stat = await ctx.target.fs.stat(from)
  if (!stat?.isFile) {
    throw new VirtlabError('IMAGE_PACKAGE_MISSING', `${from} is missing`, {hint: `Install the package that provides ${to}.`})
  }
  const ldd = await ctx.target.runner.run(['ldd', ctx.target.fs.resolve(from)], {allowFailure: true, timeoutMs: 30_000})
  const {libraries, missing} = parseLdd(ldd.stdout)
  if (missing.length > 0) {
    throw new VirtlabError('IMAGE_MISSING_LIBRARY', `${to} needs libraries the host does not have: ${missing.join(', ')}`, {
      hint: 'Install the packages that provide them (apt-file search <library>).',
      command: {argv: ldd.argv, exitCode: ldd.exitCode, stderrTail: ldd.stderr},
    })
  }
  tree.file(to, await readBytes(ctx.target.fs, from), 0o755)
  for (const lib of libraries) {
    if (tree.has(lib)) continue
    tree.file(lib, await readBytes(ctx.target.fs, lib), 0o755)
  }
}

// ---------------------------------------------------------------------------------------------
// Cache plumbing

async function readManifestAt(fs: HostFs, path: string): Promise<ImageManifest | undefined> {
  const text = await fs.tryReadFile(path)
  if (text === undefined) return undefined
  try {
    const manifest = JSON.parse(text) as ImageManifest
    return manifest.formatVersion === IMAGE_FORMAT_VERSION ? manifest : undefined
  } catch {
    return undefined
  }
}

/** Drop cache entries other than `key` and downloaded .debs the current image was not built from. */
async function pruneCache(ctx: Context, key: string, keepDebs: readonly (string | undefined)[]): Promise<void> {
  const images = imagesDir(ctx.target.stateDir)
  for (const name of await ctx.target.fs.readdir(images)) {
    if (/^builtin-[0-9a-f]{16}$/.test(name) && name !== `builtin-${key}`) await ctx.target.fs.remove(`${images}/${name}`, {recursive: true})
  }
  const downloads = `${images}/downloads`
  for (const name of await ctx.target.fs.readdir(downloads)) {
    if (name.endsWith('.deb') && !keepDebs.includes(`${downloads}/${name}`)) await ctx.target.fs.remove(`${downloads}/${name}`)
  }
}

/** images/builtin -> builtin-<key>, replaced atomically (symlink then rename over the old one). */
async function pointCurrentAt(fs: HostFs, images: string, key: string): Promise<void> {
  const link = `${images}/builtin`
  const target = `builtin-${key}`
  if ((await fs.readlink(link)) === target) return
  const temp = `${images}/.builtin-${process.pid}`
  await fs.remove(temp)
  await fs.symlink(target, temp)
  const existing = await fs.stat(link)
  if (existing !== undefined && !existing.isSymlink) await fs.remove(link, {recursive: true})
  await fs.rename(temp, link)
}

function requireBinaryFs(fs: HostFs): asserts fs is HostFs & Required<Pick<HostFs, 'readBytes' | 'writeBytes'>> {
  if (fs.readBytes === undefined || fs.writeBytes === undefined) {
    throw new VirtlabError('INTERNAL', 'internal: this HostFs cannot read or write binary files (readBytes/writeBytes)')
  }
}

async function readBytes(fs: HostFs, path: string): Promise<Uint8Array> {
  requireBinaryFs(fs)
  return fs.readBytes(path)
}

async function writeBytes(fs: HostFs, path: string, data: Uint8Array, mode: number): Promise<void> {
  requireBinaryFs(fs)
  await fs.writeBytes(path, data, {mode})
}
