/**
 * Which host packages provide what virtlab needs, per distribution family, and which package
 * manager installs them. The family comes from /etc/os-release (ID, ID_LIKE).
 */
import type {HostFs} from '../host/fs.js'
import {osRelease} from '../host/probe.js'

export type OsFamily = 'debian' | 'fedora' | 'unknown'

export interface OsInfo {
  id: string
  versionId: string | undefined
  prettyName: string | undefined
  family: OsFamily
  packageManager: 'apt-get' | 'dnf' | undefined
  /** DPDK ABI of librte-* packages on Debian-like hosts ('23' on Debian 12). */
  dpdkAbi: string | undefined
}

/** A capability virtlab needs, mapped to packages per family. */
export type PackageKey =
  | 'qemu' | 'qemu-utils' | 'ovs' | 'ovs-dpdk' | 'dpdk-mempool-ring' | 'libvirt' | 'xmllint'
  | 'iperf3' | 'busybox' | 'vdpa-tool' | 'testpmd'

/** '{abi}' is replaced by the host's DPDK ABI (librte-mempool-ring23 on Debian 12). */
export const PACKAGE_MAP: Record<PackageKey, Record<Exclude<OsFamily, 'unknown'>, string[]>> = {
  qemu: {debian: ['qemu-system-x86'], fedora: ['qemu-system-x86-core']},
  'qemu-utils': {debian: ['qemu-utils'], fedora: ['qemu-img']},
  ovs: {debian: ['openvswitch-switch'], fedora: ['openvswitch']},
  // Fedora's openvswitch is built with DPDK; Debian ships the DPDK build separately.
  'ovs-dpdk': {debian: ['openvswitch-switch-dpdk'], fedora: ['openvswitch', 'dpdk']},
  // Without the ring mempool driver OVS-DPDK fails every vhost port with "Failed to create mempool".
  'dpdk-mempool-ring': {debian: ['librte-mempool-ring{abi}'], fedora: ['dpdk']},
  libvirt: {debian: ['libvirt-daemon-system', 'libvirt-clients', 'libvirt-daemon-driver-qemu'], fedora: ['libvirt-daemon-kvm', 'libvirt-client', 'libvirt-daemon-driver-qemu']},
  xmllint: {debian: ['libxml2-utils'], fedora: ['libxml2']},
  iperf3: {debian: ['iperf3'], fedora: ['iperf3']},
  busybox: {debian: ['busybox-static'], fedora: ['busybox']},
  'vdpa-tool': {debian: ['iproute2'], fedora: ['iproute']},
  // dpdk-testpmd (bench loopback, packet-rate tests): Debian ships it in dpdk-dev (checked on Debian 12); Fedora's dpdk package is assumed.
  testpmd: {debian: ['dpdk-dev'], fedora: ['dpdk']},
}

/**
 * What the test suite needs on the host: `npm test` runs `virtlab doctor --fix --for-tests`, which
 * installs whatever of this is missing (and does nothing when all of it is installed). The one
 * place for it: a test that needs another host package adds it here, not to .ci/run.
 *   - TEST_PACKAGE_KEYS: the lab capabilities the real tests use (mapped by PACKAGE_MAP);
 *   - TEST_ONLY_PACKAGES: packages only the tests use, by family ('{abi}' as in PACKAGE_MAP).
 */
export const TEST_PACKAGE_KEYS: readonly PackageKey[] = [
  'qemu', 'qemu-utils', 'ovs', 'ovs-dpdk', 'dpdk-mempool-ring', 'libvirt', 'xmllint', 'iperf3', 'busybox', 'vdpa-tool',
  // dpdk-testpmd: test/e2e/loopback.test.ts (bench loopback)
  'testpmd',
]

export const TEST_ONLY_PACKAGES: Record<Exclude<OsFamily, 'unknown'>, readonly string[]> = {
  debian: [
    // OVS-DPDK's vhost-user, virtio-user and tap PMDs (the real labs in test/e2e)
    'librte-net-vhost{abi}', 'librte-net-virtio{abi}', 'librte-net-tap{abi}',
    // test/guest/boot.test.ts lists the TypeScript-written initramfs with the system's cpio
    'cpio',
    // ip, ps/pgrep, modprobe/lsmod, dpkg-architecture, TLS roots for apt-get download
    'iproute2', 'procps', 'kmod', 'dpkg-dev', 'ca-certificates',
    // the SSH transport of the target-host seam (issue 9) against sshd on loopback
    'openssh-server', 'openssh-client',
    // the SSH transport's non-root tests run commands through sudo -n
    'sudo',
    // the nested lab host build (src/nested: mmdebstrap for its trixie root, xz for its .ko.xz modules)
    'mmdebstrap', 'xz-utils',
    // the chart layout test (SVG -> PNG with rsvg-convert) and the HTML report's screenshot test (headless Chromium)
    'librsvg2-bin', 'chromium', 'fonts-dejavu-core',
  ],
  fedora: ['cpio', 'iproute', 'procps-ng', 'kmod', 'ca-certificates', 'openssh-server', 'openssh-clients', 'sudo', 'mmdebstrap', 'xz', 'librsvg2-tools', 'chromium', 'dejavu-sans-fonts'],
}

/** Every package the test suite needs on this host ([] when the family is unknown). */
export function testPackagesFor(os: OsInfo): string[] {
  if (os.family === 'unknown') return []
  const out = packagesFor(os, TEST_PACKAGE_KEYS)
  for (const name of TEST_ONLY_PACKAGES[os.family]) {
    const concrete = name.replace('{abi}', os.dpdkAbi ?? '23')
    if (!out.includes(concrete)) out.push(concrete)
  }
  return out
}

/** DPDK ABI by distribution release, when no librte_mempool is installed to read it from. */
const DPDK_ABI_BY_RELEASE: Record<string, string> = {
  'debian 11': '21', 'debian 12': '23', 'debian 13': '25',
  'ubuntu 22.04': '22', 'ubuntu 24.04': '24',
}

const LIB_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib']

/** The installed DPDK ABI (librte_mempool.so.<abi>), if any. */
async function installedDpdkAbi(fs: HostFs): Promise<string | undefined> {
  for (const dir of LIB_DIRS) {
    for (const name of await fs.readdir(dir)) {
      const m = /^librte_mempool\.so\.(\d+)$/.exec(name)
      if (m?.[1] !== undefined) return m[1]
    }
  }
  return undefined
}

export function familyOf(id: string, idLike: readonly string[]): OsFamily {
  const ids = [id, ...idLike]
  if (ids.some((i) => i === 'debian' || i === 'ubuntu')) return 'debian'
  if (ids.some((i) => ['fedora', 'rhel', 'centos', 'rocky', 'almalinux'].includes(i))) return 'fedora'
  return 'unknown'
}

export async function detectOs(fs: HostFs): Promise<OsInfo> {
  const rel = await osRelease(fs)
  const family = rel === undefined ? 'unknown' : familyOf(rel.id, rel.idLike)
  const major = rel?.id === 'ubuntu' ? rel.versionId : rel?.versionId?.split('.')[0]
  const dpdkAbi = family === 'debian'
    ? (await installedDpdkAbi(fs)) ?? DPDK_ABI_BY_RELEASE[`${rel?.id} ${major}`] ?? '23'
    : undefined
  return {
    id: rel?.id ?? 'unknown',
    versionId: rel?.versionId,
    prettyName: rel?.prettyName,
    family,
    packageManager: family === 'debian' ? 'apt-get' : family === 'fedora' ? 'dnf' : undefined,
    dpdkAbi,
  }
}

/** Package names for these capabilities on this host ([] when the family is unknown). */
export function packagesFor(os: OsInfo, keys: readonly PackageKey[]): string[] {
  if (os.family === 'unknown') return []
  const out: string[] = []
  for (const key of keys) {
    for (const name of PACKAGE_MAP[key][os.family]) {
      const concrete = name.replace('{abi}', os.dpdkAbi ?? '23')
      if (!out.includes(concrete)) out.push(concrete)
    }
  }
  return out
}

/** The install command (argv) for these packages, or undefined without a known package manager. */
export function installArgv(os: OsInfo, packages: readonly string[]): string[] | undefined {
  if (packages.length === 0) return undefined
  if (os.packageManager === 'apt-get') return ['apt-get', 'install', '-y', '--no-install-recommends', ...packages]
  if (os.packageManager === 'dnf') return ['dnf', 'install', '-y', ...packages]
  return undefined
}

/** "apt-get install -y ..." for a fix text. */
export function installHint(os: OsInfo, keys: readonly PackageKey[]): string {
  const argv = installArgv(os, packagesFor(os, keys))
  return argv === undefined ? `install ${keys.join(', ')} with the host's package manager` : argv.join(' ')
}
