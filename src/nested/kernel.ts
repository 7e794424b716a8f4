/**
 * The L1 kernel: Debian trixie's linux-image-amd64 (6.12), unpacked with dpkg -x and indexed with
 * depmod -b. It has everything the labs need as modules (vhost_net, vfio-pci, vduse, vhost_vdpa,
 * virtio_vdpa, igb, igbvf, kvm_amd); the tree is shared into L1 read-only and bound onto
 * /usr/lib/modules/<version> and /boot/vmlinuz-<version> (the built-in guest's builder uses it).
 */
import {VirtlabError} from '../errors.js'
import {sha256} from '../util/hash.js'
import {type AptConfig, downloadDeb, packageInfo} from './apt.js'
import {type NestedEnv, phase} from './env.js'
import {componentDir} from './layout.js'
import {buildAtomically, dpkgExtract, readJson} from './unpack.js'

export const KERNEL_FORMAT_VERSION = 1
export const KERNEL_META_PACKAGE = 'linux-image-amd64'

export interface KernelInfo {
  key: string
  dir: string
  package: string
  packageVersion: string
  /** uname -r, e.g. 6.12.57+deb13-amd64 */
  version: string
  vmlinuz: string
  modulesDir: string
}

/** `linux-image-6.12.57+deb13-amd64 (= 6.12.57-1)` → linux-image-6.12.57+deb13-amd64 */
export function kernelPackageFromDepends(depends: string): string | undefined {
  for (const alternative of depends.split(/[,|]/)) {
    const name = alternative.trim().split(/\s/)[0] ?? ''
    if (/^linux-image-[\w.+-]+-amd64$/.test(name) && !name.endsWith('-dbg')) return name
  }
  return undefined
}

export async function ensureKernel(env: NestedEnv, apt: AptConfig): Promise<KernelInfo & {built: boolean}> {
  const meta = await packageInfo(env, apt, KERNEL_META_PACKAGE, 'trixie')
  const name = kernelPackageFromDepends(meta.depends)
  if (name === undefined) {
    throw new VirtlabError('NESTED_PACKAGE_MISSING', `${KERNEL_META_PACKAGE} (trixie) names no linux-image-*-amd64 package (Depends: ${meta.depends || 'none'})`)
  }
  const pkg = await packageInfo(env, apt, name, 'trixie')
  const version = name.slice('linux-image-'.length)
  const key = sha256(JSON.stringify({format: KERNEL_FORMAT_VERSION, name, version: pkg.version})).slice(0, 16)
  const dir = componentDir(env.stateDir, 'kernel', key)
  const manifest = `${dir}/.virtlab-kernel.json`
  const cached = await readJson<KernelInfo>(env, manifest)
  if (cached !== undefined) {
    env.progress({type: 'step-skip', stepId: 'nested:kernel', title: `L1 kernel ${version} is cached`, detail: dir})
    return {...cached, built: false}
  }
  const done = phase(env, 'nested:kernel', `L1 kernel ${version} (${name} ${pkg.version}, trixie)`)
  const deb = await downloadDeb(env, apt, pkg)
  const info: KernelInfo = {
    key, dir, package: name, packageVersion: pkg.version, version,
    vmlinuz: `${dir}/boot/vmlinuz-${version}`, modulesDir: `${dir}/usr/lib/modules/${version}`,
  }
  await buildAtomically(env, dir, `kernel-${key}`, async (temp) => {
    await dpkgExtract(env, deb, temp)
    if (!(await env.fs.exists(`${temp}/boot/vmlinuz-${version}`))) {
      throw new VirtlabError('NESTED_KERNEL_UNSUITABLE', `${name} has no boot/vmlinuz-${version}`)
    }
    if (!(await env.fs.exists(`${temp}/usr/lib/modules/${version}/modules.order`))) {
      throw new VirtlabError('NESTED_KERNEL_UNSUITABLE', `${name} has no usr/lib/modules/${version}`)
    }
    if ((await env.runner.which('depmod')) === undefined) {
      throw new VirtlabError('NESTED_TOOL_MISSING', 'Indexing the L1 kernel\'s modules needs depmod (package kmod)', {hint: 'apt-get install -y kmod'})
    }
    await env.runner.run(['depmod', '-b', env.fs.resolve(`${temp}/usr`), version], {timeoutMs: 300_000})
    await env.fs.writeFile(`${temp}/.virtlab-kernel.json`, JSON.stringify(info, null, 2) + '\n', {mode: 0o644})
  })
  done(`${dir}`)
  return {...info, built: true}
}
