/**
 * Faults of the SSH transport, against private sshd servers on 127.0.0.1: an unreachable port,
 * a wrong key, a changed and an unknown host key, a hostile URL, a missing ssh binary, the
 * ControlMaster or the sshd connection process killed mid-command, and the bounded reconnect.
 * Every one is a coded VirtlabError naming the host, with a hint.
 */
import {execFileSync} from 'node:child_process'
import {existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {RootedFs} from '../../src/host/fs.js'
import {ExecaRunner, type RunOptions} from '../../src/host/runner.js'
import {connectSsh, type SshTransport} from '../../src/host/ssh/index.js'
import {startTestSshd, type TestSshd} from '../helpers/sshd.js'

let sshd: TestSshd
const localFs = new RootedFs('/')

beforeAll(async () => {
  sshd = await startTestSshd()
})
afterAll(async () => {
  await sshd?.stop()
})

async function errorOf(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await promise
  } catch (error) {
    return error as Record<string, unknown>
  }
  throw new Error('expected a rejection')
}

/** The virtlab-ssh-* control directories in the temp dir (to prove failures clean up). */
function controlDirs(): string[] {
  return readdirSync(tmpdir()).filter((d) => d.startsWith('virtlab-ssh-'))
}

function altConfig(name: string, lines: {identityFile?: string; knownHosts?: string}): string {
  const file = join(sshd.dir, `${name}.ssh_config`)
  writeFileSync(file, [
    'Host *',
    `  IdentityFile ${lines.identityFile ?? sshd.identityFile}`,
    '  IdentitiesOnly yes',
    '  IdentityAgent none',
    `  UserKnownHostsFile ${lines.knownHosts ?? sshd.knownHostsFile}`,
    '  GlobalKnownHostsFile /dev/null',
    '  StrictHostKeyChecking yes',
    '',
  ].join('\n'))
  return file
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

class RecordingRunner extends ExecaRunner {
  readonly calls: string[][] = []
  override async run(argv: readonly string[], options?: RunOptions) {
    this.calls.push([...argv])
    return super.run(argv, options)
  }
}

describe('connecting', () => {
  it('an unreachable port is SSH_HOST_UNREACHABLE naming the host; nothing left behind', async () => {
    const before = controlDirs()
    const port = await freePort()
    const error = await errorOf(connectSsh(`ssh://root@127.0.0.1:${port}`, {localRunner: new ExecaRunner(), localFs, configFile: sshd.configFile}))
    expect(error).toMatchObject({code: 'SSH_HOST_UNREACHABLE', message: expect.stringContaining(`ssh://root@127.0.0.1:${port}`), hint: expect.stringContaining(`port ${port}`)})
    expect(error.message).toMatch(/Connection refused/)
    expect(controlDirs()).toEqual(before)
  })

  it('a wrong key is SSH_AUTH_FAILED', async () => {
    const otherKey = join(sshd.dir, 'other_key')
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey])
    const error = await errorOf(connectSsh(sshd.url, {localRunner: new ExecaRunner(), localFs, configFile: altConfig('wrongkey', {identityFile: otherKey})}))
    expect(error).toMatchObject({code: 'SSH_AUTH_FAILED', message: `Authentication to ${sshd.url} failed`, hint: expect.stringContaining('ssh-copy-id root@127.0.0.1')})
  })

  it('a changed host key is SSH_HOST_KEY_MISMATCH (never accepted)', async () => {
    const otherHostKey = join(sshd.dir, 'other_host_key')
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherHostKey])
    const knownHosts = join(sshd.dir, 'known_hosts.changed')
    writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${readFileSync(`${otherHostKey}.pub`, 'utf8').trim()}\n`)
    const error = await errorOf(connectSsh(sshd.url, {localRunner: new ExecaRunner(), localFs, configFile: altConfig('changed', {knownHosts})}))
    expect(error).toMatchObject({code: 'SSH_HOST_KEY_MISMATCH', message: expect.stringContaining(sshd.url), hint: expect.stringContaining(`ssh-keygen -R '[127.0.0.1]:${sshd.port}'`)})
    // The known_hosts file is untouched: virtlab does not "fix" host keys.
    expect(readFileSync(knownHosts, 'utf8')).toContain(readFileSync(`${otherHostKey}.pub`, 'utf8').trim().split(' ')[1])
  })

  it('an unknown host key is SSH_HOST_KEY_UNKNOWN (BatchMode: no prompt, not added)', async () => {
    const knownHosts = join(sshd.dir, 'known_hosts.empty')
    writeFileSync(knownHosts, '')
    const error = await errorOf(connectSsh(sshd.url, {localRunner: new ExecaRunner(), localFs, configFile: altConfig('unknown', {knownHosts})}))
    expect(error).toMatchObject({code: 'SSH_HOST_KEY_UNKNOWN', message: expect.stringContaining(sshd.url), hint: expect.stringContaining(`ssh -p ${sshd.port} root@127.0.0.1`)})
    expect(readFileSync(knownHosts, 'utf8')).toBe('')
  })

  it('host-key checking is the user\'s: with StrictHostKeyChecking accept-new in their config, a new key is accepted and recorded', async () => {
    const knownHosts = join(sshd.dir, 'known_hosts.acceptnew')
    writeFileSync(knownHosts, '')
    const config = altConfig('acceptnew', {knownHosts})
    writeFileSync(config, readFileSync(config, 'utf8').replace('StrictHostKeyChecking yes', 'StrictHostKeyChecking accept-new'))
    const ssh = await connectSsh(sshd.url, {localRunner: new ExecaRunner(), localFs, configFile: config})
    try {
      expect(ssh.identity.user).toBe('root')
      expect(readFileSync(knownHosts, 'utf8')).toContain(readFileSync(join(sshd.dir, 'host_ed25519.pub'), 'utf8').trim().split(' ')[1])
    } finally {
      await ssh.close()
    }
  })

  it('a hostile URL is SSH_URL_INVALID before ssh runs', async () => {
    const runner = new RecordingRunner()
    for (const url of ['ssh://-oProxyCommand=touch /tmp/virtlab-pwned', 'ssh://-oProxyCommand=id', 'ssh://root@-oProxyCommand=id', 'ssh://root@host;id', 'ssh://root@host%h', 'ssh://root@host\nid']) {
      expect(await errorOf(connectSsh(url, {localRunner: runner, localFs}))).toMatchObject({code: 'SSH_URL_INVALID'})
    }
    expect(await errorOf(connectSsh({url: 'ssh://-oProxyCommand=id', sudo: true}, {localRunner: runner, localFs}))).toMatchObject({code: 'SSH_URL_INVALID'})
    expect(runner.calls).toEqual([])
    expect(existsSync('/tmp/virtlab-pwned')).toBe(false)
  })

  it('a missing ssh binary is SSH_NOT_INSTALLED with the package to install', async () => {
    const error = await errorOf(connectSsh(sshd.url, {localRunner: new ExecaRunner(), localFs, configFile: sshd.configFile, sshBinary: 'virtlab-no-such-ssh'}))
    expect(error).toMatchObject({code: 'SSH_NOT_INSTALLED', hint: expect.stringContaining('openssh-client')})
  })

  it('BatchMode, keepalives and the config file (VIRTLAB_SSH_CONFIG) are on the master\'s argv; host-key checking is left alone', async () => {
    const runner = new RecordingRunner()
    const ssh = await connectSsh(sshd.url, {localRunner: runner, localFs, env: {VIRTLAB_SSH_CONFIG: sshd.configFile}})
    try {
      const master = runner.calls[0]!
      expect(master.join(' ')).toContain(`-F ${sshd.configFile} -o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=10 -o ServerAliveCountMax=3`)
      expect(master).toContain('ControlMaster=yes')
      for (const call of runner.calls) {
        expect(call.join(' ')).not.toMatch(/StrictHostKeyChecking|UserKnownHostsFile|GlobalKnownHostsFile/)
      }
      // The control directory is private.
      const dir = ssh.connection.localDir
      expect((await localFs.stat(dir))!.mode & 0o777).toBe(0o700)
    } finally {
      await ssh.close()
    }
    expect(existsSync(ssh.connection.localDir)).toBe(false)
  })
})

describe('a connection that dies', () => {
  let ssh: SshTransport
  beforeAll(async () => {
    ssh = await connectSsh(sshd.url, {localRunner: new ExecaRunner(), localFs, configFile: sshd.configFile})
  })
  afterAll(async () => {
    await ssh?.close()
  })

  it('killing the ControlMaster mid-command is SSH_CONNECTION_LOST; no silent new connection; reconnect() restores it', async () => {
    const pid = await ssh.connection.masterPid()
    expect(pid).toBeGreaterThan(0)
    const sessionPid = ssh.identity.sessionPid!
    expect(existsSync(`/proc/${sessionPid}`)).toBe(true)
    const running = ssh.runner.run(['sleep', '20'], {timeoutMs: 2000})
    await new Promise((resolve) => setTimeout(resolve, 600))
    process.kill(pid!, 'SIGKILL')
    const started = Date.now()
    const error = await errorOf(running)
    expect(error, JSON.stringify(error)).toMatchObject({code: 'SSH_CONNECTION_LOST', message: expect.stringContaining(sshd.url), command: {argv: ['sleep', '20']}})
    expect(Date.now() - started).toBeLessThan(5000)
    // The next command does not open a fresh connection behind our back.
    const logBefore = sshd.log().split('Accepted publickey').length
    expect(await errorOf(ssh.runner.run(['true']))).toMatchObject({code: 'SSH_CONNECTION_LOST', hint: expect.stringContaining('down --host')})
    expect(await errorOf(ssh.fs.readFile('/etc/hostname'))).toMatchObject({code: 'SSH_CONNECTION_LOST'})
    expect(sshd.log().split('Accepted publickey').length).toBe(logBefore)
    const identity = await ssh.reconnect({attempts: 3, delayMs: 200})
    expect(identity.user).toBe('root')
    expect((await ssh.runner.run(['echo', 'back'])).stdout).toBe('back\n')
    expect(await ssh.connection.masterPid()).not.toBe(pid)
    // The target-side session pid (what a lock records) died with the old connection; the new one lives.
    expect(existsSync(`/proc/${sessionPid}`)).toBe(false)
    expect(ssh.identity.sessionPid).not.toBe(sessionPid)
    expect(existsSync(`/proc/${ssh.identity.sessionPid}`)).toBe(true)
  })

  it('killing the sshd connection process mid-command is SSH_CONNECTION_LOST; reconnect() restores it', async () => {
    const running = ssh.runner.run(['sleep', '20'], {timeoutMs: 3000})
    await new Promise((resolve) => setTimeout(resolve, 600))
    expect(sshd.killSessions('SIGKILL')).toBeGreaterThan(0)
    const error = await errorOf(running)
    expect(error).toMatchObject({code: 'SSH_CONNECTION_LOST'})
    await ssh.reconnect({attempts: 5, delayMs: 300})
    expect((await ssh.fs.readFile('/proc/sys/kernel/ostype'))).toBe('Linux\n')
  })
})

describe('reconnect is bounded', () => {
  it('when the host stays down, reconnect() gives up after its attempts with SSH_HOST_UNREACHABLE', async () => {
    const own = await startTestSshd()
    const ssh = await connectSsh(own.url, {localRunner: new ExecaRunner(), localFs, configFile: own.configFile})
    try {
      await own.kill()
      const error = await errorOf(ssh.runner.run(['true']))
      expect(error.code).toBe('SSH_CONNECTION_LOST')
      const started = Date.now()
      const failure = await errorOf(ssh.reconnect({attempts: 3, delayMs: 200}))
      expect(failure, JSON.stringify(failure)).toMatchObject({code: 'SSH_HOST_UNREACHABLE', message: expect.stringContaining(own.url)})
      expect(Date.now() - started).toBeLessThan(10_000)
      // The host comes back (rebooted: its /tmp is empty): the same transport reconnects.
      await own.restart()
      rmSync(ssh.connection.remoteDir, {recursive: true, force: true})
      await ssh.reconnect({attempts: 3, delayMs: 200})
      expect(statSync(ssh.connection.remoteDir).mode & 0o777).toBe(0o700)
      expect((await ssh.runner.run(['echo', 'ok'])).stdout).toBe('ok\n')
      const remoteDir = ssh.connection.remoteDir
      await ssh.close()
      // Both private directories are gone: the local control directory and the one on the target.
      expect(existsSync(ssh.connection.localDir)).toBe(false)
      expect(existsSync(remoteDir)).toBe(false)
    } finally {
      await ssh.close().catch(() => undefined)
      await own.stop()
    }
  })
})
