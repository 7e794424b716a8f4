/**
 * A remote user that is not root. Errors are the same as a local non-root process gets (EACCES
 * from the kernel, compared against node:fs run locally as the same user through setpriv);
 * `sudo: true` runs commands and file writes through sudo -n; a user without the sudo right
 * gets SSH_SUDO_DENIED naming the command. The users and the sudoers entry are created for the
 * test and removed after.
 */
import {execFileSync} from 'node:child_process'
import {chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {RootedFs} from '../../src/host/fs.js'
import {ExecaRunner} from '../../src/host/runner.js'
import {connectSsh, type SshTransport} from '../../src/host/ssh/index.js'
import {createTestUser, startTestSshd, type TestSshd} from '../helpers/sshd.js'

const HAVE_SUDO = existsSync('/usr/bin/sudo')

let sshd: TestSshd
let plain: ReturnType<typeof createTestUser>
let sudoer: ReturnType<typeof createTestUser>
let sudoersFile: string
let dir: string
const open: SshTransport[] = []

async function connect(user: string, sudo: boolean): Promise<SshTransport> {
  const transport = await connectSsh({url: sshd.urlFor(user), sudo}, {localRunner: new ExecaRunner(), localFs: new RootedFs('/'), configFile: sshd.configFile})
  open.push(transport)
  return transport
}

beforeAll(async () => {
  sshd = await startTestSshd()
  plain = createTestUser('vltp')
  sudoer = createTestUser('vlts')
  sudoersFile = `/etc/sudoers.d/virtlab-test-${sudoer.name}`
  if (HAVE_SUDO) {
    writeFileSync(sudoersFile, `${sudoer.name} ALL=(root) NOPASSWD: ALL\n`, {mode: 0o440})
  }
  dir = mkdtempSync(join(tmpdir(), 'virtlab-nonroot-'))
  chmodSync(dir, 0o755)
  writeFileSync(join(dir, 'secret'), 'root only\n', {mode: 0o600})
  mkdirSync(join(dir, 'private'), {mode: 0o700})
  mkdirSync(join(dir, 'ro'), {mode: 0o755})
})

afterAll(async () => {
  try {
    for (const transport of open) await transport.close().catch(() => undefined)
    await sshd?.stop()
  } finally {
    if (sudoersFile) rmSync(sudoersFile, {force: true})
    if (dir) rmSync(dir, {recursive: true, force: true})
    try {
      plain?.remove()
    } finally {
      sudoer?.remove()
    }
  }
})

/** The same operations through node:fs, run locally as `uid` (setpriv), each reported as its errno code. */
function localCodesAs(uid: number, gid: number): Record<string, string> {
  const script = `
    const fs = require('node:fs/promises')
    const d = ${JSON.stringify(dir)}
    const ops = {
      read: () => fs.readFile(d + '/secret', 'utf8'),
      write: () => fs.writeFile(d + '/ro/new', 'x'),
      mkdir: () => fs.mkdir(d + '/ro/sub', {recursive: true}),
      readdir: () => fs.readdir(d + '/private'),
      chmod: () => fs.chmod(d + '/secret', 0o644),
      remove: () => fs.rm(d + '/secret', {force: true}),
      rename: () => fs.rename(d + '/secret', d + '/ro/moved'),
      sysctl: () => fs.writeFile('/proc/sys/kernel/hostname', 'x'),
    }
    ;(async () => {
      const out = {}
      for (const [name, op] of Object.entries(ops)) {
        try { await op(); out[name] = 'ok' } catch (e) { out[name] = e.code }
      }
      console.log(JSON.stringify(out))
    })()`
  const stdout = execFileSync('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', process.execPath, '-e', script], {encoding: 'utf8'})
  return JSON.parse(stdout) as Record<string, string>
}

async function remoteCodes(t: SshTransport): Promise<Record<string, string>> {
  const code = async (op: () => Promise<unknown>) => {
    try {
      await op()
      return 'ok'
    } catch (error) {
      return String((error as {code?: string}).code)
    }
  }
  return {
    read: await code(() => t.fs.readFile(join(dir, 'secret'))),
    write: await code(() => t.fs.writeFile(join(dir, 'ro/new'), 'x')),
    mkdir: await code(() => t.fs.mkdir(join(dir, 'ro/sub'))),
    readdir: await code(() => t.fs.readdir(join(dir, 'private'))),
    chmod: await code(() => t.fs.chmod(join(dir, 'secret'), 0o644)),
    remove: await code(() => t.fs.remove(join(dir, 'secret'))),
    rename: await code(() => t.fs.rename(join(dir, 'secret'), join(dir, 'ro/moved'))),
    sysctl: await code(() => t.fs.writeFile('/proc/sys/kernel/hostname', 'x')),
  }
}

describe('a non-root remote user', () => {
  it('gets the same errno codes as node:fs run locally as that user (EACCES, EPERM)', async () => {
    const t = await connect(plain.name, false)
    expect(t.identity).toMatchObject({user: plain.name, uid: plain.uid, sudo: false})
    const expected = localCodesAs(plain.uid, plain.gid)
    expect(expected).toMatchObject({read: 'EACCES', write: 'EACCES', mkdir: 'EACCES', readdir: 'EACCES', chmod: 'EPERM', remove: 'EACCES', rename: 'EACCES', sysctl: 'EACCES'})
    expect(await remoteCodes(t)).toEqual(expected)
    // Nothing changed.
    expect(statSync(join(dir, 'secret')).mode & 0o777).toBe(0o600)
    expect(existsSync(join(dir, 'ro/new'))).toBe(false)
  })

  it('runs commands as itself', async () => {
    const t = await connect(plain.name, false)
    expect((await t.runner.run(['id', '-u'])).stdout.trim()).toBe(String(plain.uid))
    expect(await t.runner.run(['cat', join(dir, 'secret')], {allowFailure: true})).toMatchObject({exitCode: 1, stderr: expect.stringContaining('Permission denied')})
  })
})

describe.runIf(HAVE_SUDO)('sudo: true', () => {
  it('without the sudo right: SSH_SUDO_DENIED naming the command', async () => {
    const t = await connect(plain.name, true)
    const error = await t.runner.run(['ip', 'link', 'show']).catch((e: unknown) => e)
    expect(error).toMatchObject({code: 'SSH_SUDO_DENIED', message: expect.stringContaining('sudo -n refused to run ip as root'), command: {argv: ['sudo', '-n', '--', 'ip', 'link', 'show']}, hint: expect.stringContaining(plain.name)})
    await expect(t.fs.writeFile(join(dir, 'ro/x'), 'x')).rejects.toMatchObject({code: 'SSH_SUDO_DENIED'})
    await expect(t.runner.which('ip')).rejects.toMatchObject({code: 'SSH_SUDO_DENIED'})
  })

  it('with the sudo right: commands and file writes run as root', async () => {
    const t = await connect(sudoer.name, true)
    expect(t.identity).toMatchObject({user: sudoer.name, sudo: true})
    expect((await t.runner.run(['id', '-u'])).stdout.trim()).toBe('0')
    expect(await t.fs.readFile(join(dir, 'secret'))).toBe('root only\n')
    await t.fs.writeFile(join(dir, 'ro/by-sudo'), 'x', {atomic: true, mode: 0o640})
    expect(statSync(join(dir, 'ro/by-sudo'))).toMatchObject({uid: 0, mode: 0o100640})
    await t.fs.mkdir(join(dir, 'private/sub'), {mode: 0o700})
    expect(await t.fs.readdir(join(dir, 'private'))).toEqual(['sub'])
    expect(await t.runner.which('useradd')).toBe('/usr/sbin/useradd')
    // Timeouts still kill the command (sudo relays the signal).
    await expect(t.runner.run(['sleep', '30.5'], {timeoutMs: 1000})).rejects.toMatchObject({code: 'COMMAND_TIMEOUT'})
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(execFileSync('ps', ['-eo', 'args'], {encoding: 'utf8'})).not.toContain('sleep 30.5')
  })
})
