/**
 * L1's initramfs, written here in TypeScript with src/guest/cpio.ts: the host's static busybox
 * (with its applet links), the modules that mount the root (9p over virtio, overlay; dependencies
 * from the L1 kernel's modules.dep, decompressed for busybox insmod), /init (guest/nested-init.sh)
 * and the files /init copies into the new root: L1's rc (guest/nested-rc.sh), inittab, the sshd
 * drop-in and the list of modules the labs need.
 */
import {VirtlabError} from '../errors.js'
import {CpioTree, writeInitramfs} from '../guest/cpio.js'
import {moduleNameOf, parseBusyboxApplets, parseLdd, parseModulesBuiltin, parseModulesDep, resolveModuleOrder} from '../guest/parse.js'
import {sha256} from '../util/hash.js'
import type {NestedEnv} from './env.js'
import type {KernelInfo} from './kernel.js'

export const INITRAMFS_FORMAT_VERSION = 1

/** What /init insmods, in this order (dependencies first, from modules.dep). */
export const INITRAMFS_MODULES = ['virtio_pci', 'netfs', '9pnet', '9pnet_virtio', '9p', 'overlay'] as const

/** What L1's rc loads (there is no udev): the labs' kernel features. Missing ones are logged. */
export const L1_MODULES = [
  'tun', 'vhost_net', 'bridge', 'veth', 'openvswitch', '8021q',
  'igb', 'igbvf', 'vfio_pci', 'vfio_iommu_type1',
  'vdpa', 'vduse', 'vhost_vdpa', 'virtio_vdpa',
  'kvm_amd',
] as const

const BUSYBOX = '/bin/busybox'

export const INITTAB = [
  '::sysinit:/etc/virtlab/rc',
  '::respawn:/usr/sbin/sshd -D -E /var/log/sshd.log',
  '::shutdown:/bin/busybox sync',
  '',
].join('\n')

export const SSHD_DROP_IN = [
  '# virtlab nested host: key authentication as root only, this host\'s own key.',
  'HostKey /etc/ssh/ssh_host_ed25519_key',
  'PermitRootLogin prohibit-password',
  'PasswordAuthentication no',
  'KbdInteractiveAuthentication no',
  'UseDNS no',
  'PrintMotd no',
  'MaxSessions 64',
  'MaxStartups 64:30:128',
  '',
].join('\n')

export interface InitramfsInputs {
  initScript: string
  rcScript: string
}

export async function readInitramfsInputs(env: NestedEnv): Promise<InitramfsInputs> {
  const read = async (file: string): Promise<string> => {
    const text = await env.resourceFs.tryReadFile(`${env.packageRoot}/guest/${file}`)
    if (text === undefined) throw new VirtlabError('NESTED_RESOURCE_MISSING', `virtlab's guest/${file} is missing`, {hint: 'Reinstall virtlab.'})
    return text
  }
  return {initScript: await read('nested-init.sh'), rcScript: await read('nested-rc.sh')}
}

export function initramfsKey(kernel: Pick<KernelInfo, 'key'>, inputs: InitramfsInputs, busyboxSize: number): string {
  return sha256(JSON.stringify({
    format: INITRAMFS_FORMAT_VERSION, kernel: kernel.key, init: sha256(inputs.initScript), rc: sha256(inputs.rcScript),
    inittab: INITTAB, sshd: SSHD_DROP_IN, modules: INITRAMFS_MODULES, l1: L1_MODULES, busybox: busyboxSize,
  })).slice(0, 16)
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s)

/** The gzip'd cpio bytes. `work` is a scratch directory (decompressing .ko.xz). */
export async function buildInitramfs(env: NestedEnv, kernel: KernelInfo, inputs: InitramfsInputs, work: string): Promise<{bytes: Uint8Array; modules: string[]}> {
  const tree = new CpioTree()
  for (const dir of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc/virtlab', 'proc', 'sys', 'dev', 'run', 'tmp', 'lib/modules/virtlab']) tree.dir(dir)
  tree.chardev('dev/console', 5, 1, 0o600)
  tree.chardev('dev/null', 1, 3, 0o666)

  const stat = await env.fs.stat(BUSYBOX)
  if (!stat?.isFile) throw new VirtlabError('NESTED_TOOL_MISSING', `${BUSYBOX} is missing: the nested host's initramfs needs busybox-static`, {hint: 'apt-get install -y busybox-static'})
  const ldd = parseLdd((await env.runner.run(['ldd', env.fs.resolve(BUSYBOX)], {allowFailure: true, timeoutMs: 30_000})).stdout)
  if (ldd.libraries.length > 0) throw new VirtlabError('NESTED_TOOL_MISSING', `${BUSYBOX} is not statically linked`, {hint: 'apt-get install -y busybox-static'})
  tree.file('bin/busybox', await env.fs.readBytes!(BUSYBOX), 0o755)
  const list = await env.runner.run([env.fs.resolve(BUSYBOX), '--list-full'], {timeoutMs: 30_000})
  for (const applet of parseBusyboxApplets(list.stdout)) {
    if (applet !== 'bin/busybox' && !tree.has(applet)) tree.symlink(applet, '/bin/busybox')
  }
  if (!tree.has('bin/sh')) tree.symlink('bin/sh', '/bin/busybox')

  const dep = parseModulesDep((await env.fs.tryReadFile(`${kernel.modulesDir}/modules.dep`)) ?? '')
  const builtin = parseModulesBuiltin((await env.fs.tryReadFile(`${kernel.modulesDir}/modules.builtin`)) ?? '')
  const order = resolveModuleOrder(INITRAMFS_MODULES, dep, builtin)
  const missing = order.absent.filter((m) => m !== 'netfs' && m !== 'virtio_pci')
  if (missing.length > 0) {
    throw new VirtlabError('NESTED_KERNEL_UNSUITABLE', `The L1 kernel ${kernel.version} has no ${missing.join(', ')} (neither module nor built in)`)
  }
  for (const module of order.load) {
    tree.file(`lib/modules/virtlab/${module.name}.ko`, await readModule(env, `${kernel.modulesDir}/${module.path}`, work), 0o644)
  }
  const modules = order.load.map((m) => m.name)

  tree.file('init', text(inputs.initScript), 0o755)
  tree.file('etc/virtlab/rc', text(inputs.rcScript), 0o755)
  tree.file('etc/virtlab/modules', text(modules.map((m) => `${m}\n`).join('')))
  tree.file('etc/virtlab/modules-l1', text(L1_MODULES.map((m) => `${m}\n`).join('')))
  tree.file('etc/virtlab/kernel', text(`${kernel.version}\n`))
  tree.file('etc/virtlab/inittab', text(INITTAB))
  tree.file('etc/virtlab/sshd.conf', text(SSHD_DROP_IN))
  return {bytes: writeInitramfs(tree), modules}
}

/** A module's bytes, decompressed (busybox insmod takes plain .ko). */
async function readModule(env: NestedEnv, path: string, work: string): Promise<Uint8Array> {
  if (path.endsWith('.ko')) return env.fs.readBytes!(path)
  if (path.endsWith('.ko.gz')) {
    const {gunzipSync} = await import('node:zlib')
    return gunzipSync(await env.fs.readBytes!(path))
  }
  const tool = path.endsWith('.ko.xz') ? 'xz' : path.endsWith('.ko.zst') ? 'zstd' : undefined
  if (tool === undefined) throw new VirtlabError('NESTED_MODULE_FORMAT', `Unknown module format: ${path}`)
  const copy = `${work}/${moduleNameOf(path)}${path.slice(path.lastIndexOf('.ko'))}`
  await env.fs.writeBytes!(copy, await env.fs.readBytes!(path), {mode: 0o644})
  await env.runner.run([tool, '-d', '-f', '-q', env.fs.resolve(copy)], {timeoutMs: 60_000})
  return env.fs.readBytes!(copy.replace(/\.(xz|zst)$/, ''))
}
