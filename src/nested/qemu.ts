/**
 * QEMU 10 for the outer host: qemu-system-x86, -common and -data from bookworm-backports, unpacked
 * with dpkg -x and run from there with -L <tree>/usr/share/qemu (bookworm's QEMU 7.2 has no igb).
 * Firmware the packages only link to (SeaBIOS) comes from the host's own qemu-system-x86.
 */
import {VirtlabError} from '../errors.js'
import {parseLdd} from '../guest/parse.js'
import {sha256} from '../util/hash.js'
import {type AptConfig, downloadDeb, packageInfo, type PackageInfo} from './apt.js'
import {type NestedEnv, phase} from './env.js'
import {componentDir} from './layout.js'
import {buildAtomically, dpkgExtract, readJson} from './unpack.js'

export const QEMU_FORMAT_VERSION = 1
export const QEMU_PACKAGES = ['qemu-system-x86', 'qemu-system-common', 'qemu-system-data'] as const
export const QEMU_SUITE = 'bookworm-backports'

export interface QemuInfo {
  key: string
  dir: string
  version: string
  binary: string
  dataDir: string
  moduleDir: string
}

export async function ensureQemu(env: NestedEnv, apt: AptConfig): Promise<QemuInfo & {built: boolean}> {
  const packages: PackageInfo[] = []
  for (const name of QEMU_PACKAGES) packages.push(await packageInfo(env, apt, name, QEMU_SUITE))
  const version = packages[0]?.version ?? ''
  const key = sha256(JSON.stringify({format: QEMU_FORMAT_VERSION, packages: packages.map((p) => [p.name, p.version])})).slice(0, 16)
  const dir = componentDir(env.stateDir, 'qemu', key)
  const cached = await readJson<QemuInfo>(env, `${dir}/.virtlab-qemu.json`)
  if (cached !== undefined) {
    env.progress({type: 'step-skip', stepId: 'nested:qemu', title: `QEMU ${version} (${QEMU_SUITE}) is cached`, detail: dir})
    return {...cached, built: false}
  }
  const done = phase(env, 'nested:qemu', `QEMU ${version} (${QEMU_SUITE})`)
  const debs: string[] = []
  for (const pkg of packages) debs.push(await downloadDeb(env, apt, pkg))
  const info: QemuInfo = {
    key, dir, version,
    binary: `${dir}/usr/bin/qemu-system-x86_64`,
    dataDir: `${dir}/usr/share/qemu`,
    moduleDir: `${dir}/usr/lib/x86_64-linux-gnu/qemu`,
  }
  await buildAtomically(env, dir, `qemu-${key}`, async (temp) => {
    for (const deb of debs) await dpkgExtract(env, deb, temp)
    const binary = `${temp}/usr/bin/qemu-system-x86_64`
    if (!(await env.fs.exists(binary))) throw new VirtlabError('NESTED_QEMU_UNSUITABLE', `qemu-system-x86 ${version} has no usr/bin/qemu-system-x86_64`)
    const ldd = await env.runner.run(['ldd', env.fs.resolve(binary)], {allowFailure: true, timeoutMs: 30_000})
    const {missing} = parseLdd(ldd.stdout)
    if (missing.length > 0) {
      throw new VirtlabError('NESTED_QEMU_LIBRARIES', `QEMU ${version} from ${QEMU_SUITE} needs libraries this machine lacks: ${missing.join(', ')}`, {
        hint: 'Install the Debian packages that provide them (apt-file search <library>), from the host\'s own sources.',
      })
    }
    await env.fs.writeFile(`${temp}/.virtlab-qemu.json`, JSON.stringify(info, null, 2) + '\n', {mode: 0o644})
  })
  done(dir)
  return {...info, built: true}
}
