/**
 * The control channel: sshd in L1, reached on a 127.0.0.1 port QEMU forwards (restrict=on). Each
 * host has its own client key pair and its own L1 host key, both generated here with ssh-keygen;
 * the host key's public half goes into the host's known_hosts under a HostKeyAlias, so host-key
 * checking stays on (StrictHostKeyChecking yes) and survives a change of port. The generated
 * ssh_config names all of it: `ssh -F <dir>/ssh_config virtlab-<name>` reaches L1.
 */
import {VirtlabError} from '../errors.js'
import type {RunResult} from '../host/runner.js'
import type {NestedEnv} from './env.js'
import {type HostPaths, sshAlias} from './layout.js'

async function keygen(env: NestedEnv, path: string, comment: string): Promise<void> {
  if (await env.fs.exists(path)) return
  if ((await env.runner.which('ssh-keygen')) === undefined) {
    throw new VirtlabError('NESTED_TOOL_MISSING', 'A nested host needs ssh-keygen and ssh (package openssh-client)', {hint: 'apt-get install -y openssh-client'})
  }
  await env.runner.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', env.fs.resolve(path)], {timeoutMs: 30_000})
}

/** The client key, L1's host key, and the read-only share L1's /init copies them from. */
export async function prepareKeys(env: NestedEnv, name: string, paths: HostPaths): Promise<void> {
  await keygen(env, paths.clientKey, `virtlab@${sshAlias(name)}`)
  await keygen(env, paths.hostKey, `root@${name}`)
  await env.fs.mkdir(paths.share, {mode: 0o700})
  const clientPub = await env.fs.readFile(`${paths.clientKey}.pub`)
  await env.fs.writeFile(`${paths.share}/authorized_keys`, clientPub, {mode: 0o600})
  await env.fs.writeFile(`${paths.share}/ssh_host_ed25519_key`, await env.fs.readFile(paths.hostKey), {mode: 0o600})
  await env.fs.writeFile(`${paths.share}/ssh_host_ed25519_key.pub`, await env.fs.readFile(`${paths.hostKey}.pub`), {mode: 0o644})
  await env.fs.writeFile(`${paths.share}/hostname`, `${name}\n`, {mode: 0o644})
}

/** `ssh-ed25519 AAAA... comment` → `virtlab-lab1 ssh-ed25519 AAAA...` */
export function knownHostsLine(name: string, hostPub: string): string {
  const [type, key] = hostPub.trim().split(/\s+/)
  if (type === undefined || key === undefined) throw new VirtlabError('NESTED_BAD_HOST_KEY', `Unreadable host key for ${name}`)
  return `${sshAlias(name)} ${type} ${key}\n`
}

export function sshConfigText(name: string, port: number, paths: HostPaths, resolve: (p: string) => string = (p) => p): string {
  return [
    `# virtlab nested host ${name}: sshd in its L1 VM, forwarded on 127.0.0.1:${port}.`,
    `Host ${sshAlias(name)}`,
    '  HostName 127.0.0.1',
    `  Port ${port}`,
    '  User root',
    `  IdentityFile ${resolve(paths.clientKey)}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${resolve(paths.knownHosts)}`,
    `  HostKeyAlias ${sshAlias(name)}`,
    '  StrictHostKeyChecking yes',
    '  CheckHostIP no',
    '  BatchMode yes',
    '  LogLevel ERROR',
    '',
  ].join('\n')
}

export async function writeSshFiles(env: NestedEnv, name: string, port: number, paths: HostPaths): Promise<void> {
  const hostPub = await env.fs.readFile(`${paths.hostKey}.pub`)
  await env.fs.writeFile(paths.knownHosts, knownHostsLine(name, hostPub), {atomic: true, mode: 0o644})
  await env.fs.writeFile(paths.sshConfig, sshConfigText(name, port, paths, (p) => env.fs.resolve(p)), {atomic: true, mode: 0o644})
}

/** Run a fixed command in L1 (never lab input: the remote shell joins these words). */
export async function sshRun(env: NestedEnv, name: string, paths: HostPaths, words: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
  return env.runner.run(
    ['ssh', '-F', env.fs.resolve(paths.sshConfig), '-o', 'ConnectTimeout=5', sshAlias(name), '--', ...words],
    {allowFailure: true, timeoutMs},
  )
}
