/**
 * Where a nested host's files live.
 *
 *   <stateDir>/nested/apt/                 the private apt configuration (sources.list, lists, .debs)
 *   <stateDir>/nested/kernel-<key>/        the L1 kernel package unpacked (boot/, usr/lib/modules/)
 *   <stateDir>/nested/qemu-<key>/          QEMU 10 unpacked (usr/bin/qemu-system-x86_64, usr/share/qemu)
 *   <stateDir>/nested/root-<key>/          the trixie root (mmdebstrap), shared read-only into L1
 *   <stateDir>/nested/build-<key>/         initrd.gz and manifest.json naming the three above
 *   <stateDir>/nested/hosts/<name>/        one host: host.json, keys, known_hosts, ssh_config, share/
 *   <runBase>/hosts/<name>/                while it runs: qemu.pid, qmp.sock, console.log
 *
 * Every cache entry is written under a .tmp- name and renamed into place when complete.
 */
import {VirtlabError} from '../errors.js'

export const NAME_PATTERN = /^[a-z][a-z0-9-]{0,30}$/

export function validateHostName(name: string): string {
  if (!NAME_PATTERN.test(name)) {
    throw new VirtlabError('NESTED_BAD_NAME', `Not a valid host name: ${JSON.stringify(name)}`, {
      hint: 'Use a lowercase letter, then up to 30 lowercase letters, digits or dashes (e.g. lab1).',
    })
  }
  return name
}

const trim = (dir: string): string => dir.replace(/\/+$/, '') || '/'

export function nestedDir(stateDir: string): string {
  return `${trim(stateDir)}/nested`
}

export type ComponentKind = 'kernel' | 'qemu' | 'root' | 'build'

export function componentDir(stateDir: string, kind: ComponentKind, key: string): string {
  return `${nestedDir(stateDir)}/${kind}-${key}`
}

export function aptDir(stateDir: string): string {
  return `${nestedDir(stateDir)}/apt`
}

export interface HostPaths {
  /** Persistent: survives stop/start, removed by `host rm`. */
  dir: string
  config: string
  clientKey: string
  hostKey: string
  knownHosts: string
  sshConfig: string
  /** Shared read-only into L1: authorized_keys, the host key, hostname. */
  share: string
  /** Only while running (under /run). */
  runDir: string
  pidfile: string
  qmp: string
  console: string
}

export function hostPaths(stateDir: string, runBase: string, name: string): HostPaths {
  const dir = `${nestedDir(stateDir)}/hosts/${validateHostName(name)}`
  const runDir = `${trim(runBase)}/hosts/${name}`
  return {
    dir,
    config: `${dir}/host.json`,
    clientKey: `${dir}/id_ed25519`,
    hostKey: `${dir}/ssh_host_ed25519_key`,
    knownHosts: `${dir}/known_hosts`,
    sshConfig: `${dir}/ssh_config`,
    share: `${dir}/share`,
    runDir,
    pidfile: `${runDir}/qemu.pid`,
    qmp: `${runDir}/qmp.sock`,
    console: `${runDir}/console.log`,
  }
}

/** The alias the generated ssh_config defines for a host. */
export function sshAlias(name: string): string {
  return `virtlab-${name}`
}
