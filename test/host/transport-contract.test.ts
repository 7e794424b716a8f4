/**
 * The transport contract: the SAME cases run against the local transport (ExecaRunner +
 * RootedFs) and the SSH transport (SshRunner + SshFs over a ControlMaster to a private sshd on
 * 127.0.0.1), with the same expected results and errors: exit codes, stdin, stdout, stderr,
 * environment, cwd, timeouts, cancel (and no remote process left behind), binary data, atomic
 * writes with modes, errno codes (ENOENT, EISDIR, ENOTDIR, EEXIST, EINVAL, EBUSY, ERR_FS_EISDIR).
 * Both transports reach the same machine, so one scratch directory serves both.
 */
import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {RootedFs, type HostFs} from '../../src/host/fs.js'
import {ExecaRunner, type CommandRunner} from '../../src/host/runner.js'
import {connectSsh, type SshTransport} from '../../src/host/ssh/index.js'
import {startTestSshd, type TestSshd} from '../helpers/sshd.js'

interface Transport {
  runner: CommandRunner
  fs: HostFs
}

let sshd: TestSshd
let ssh: SshTransport
const local: Transport = {runner: new ExecaRunner(), fs: new RootedFs('/')}

beforeAll(async () => {
  sshd = await startTestSshd()
  ssh = await connectSsh(sshd.url, {localRunner: new ExecaRunner(), localFs: new RootedFs('/'), configFile: sshd.configFile})
})

afterAll(async () => {
  await ssh?.close()
  await sshd?.stop()
})

const ALL_BYTES = Buffer.from(Array.from({length: 256}, (_, i) => i))
let TEXT_1_255 = ''
for (let c = 1; c <= 0xff; c++) TEXT_1_255 += String.fromCharCode(c)

/** Processes whose command line contains this marker (to prove nothing is left running). */
function processesWith(marker: string): number[] {
  const found: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      if (cmdline.includes(marker) && !/\) Z /.test(stat)) found.push(Number(entry))
    } catch {
      // gone
    }
  }
  return found
}

async function errorOf(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await promise
  } catch (error) {
    return error as Record<string, unknown>
  }
  throw new Error('expected a rejection')
}

const transports: [string, () => Transport][] = [
  ['local', () => local],
  ['ssh', () => ({runner: ssh.runner, fs: ssh.fs})],
]

describe.each(transports)('%s transport', (name, get) => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), `virtlab-contract-${name}-`))
  })
  afterAll(() => {
    rmSync(dir, {recursive: true, force: true})
  })

  describe('runner', () => {
    it('stdout, stderr and exit 0', async () => {
      const result = await get().runner.run(['sh', '-c', 'printf out; printf "err\\n" >&2'])
      expect(result).toEqual({argv: ['sh', '-c', 'printf out; printf "err\\n" >&2'], exitCode: 0, stdout: 'out', stderr: 'err\n'})
    })

    it('a non-zero exit throws COMMAND_FAILED with the exit code and the stderr tail', async () => {
      const error = await errorOf(get().runner.run(['sh', '-c', 'echo one >&2; echo two >&2; exit 3']))
      expect(error).toMatchObject({code: 'COMMAND_FAILED', message: 'sh exited with 3', command: {argv: ['sh', '-c', 'echo one >&2; echo two >&2; exit 3'], exitCode: 3, stderrTail: 'one\ntwo'}})
    })

    it('allowFailure returns the exit code (also 255, the remote command\'s own)', async () => {
      expect(await get().runner.run(['sh', '-c', 'echo x; exit 7'], {allowFailure: true})).toMatchObject({exitCode: 7, stdout: 'x\n', stderr: ''})
      expect(await get().runner.run(['sh', '-c', 'exit 255'], {allowFailure: true})).toMatchObject({exitCode: 255})
      // Even when its stderr looks like ssh's own (an ssh run by the lab, say).
      const sshLike = 'echo "ssh: connect to host 192.0.2.1 port 22: Connection refused" >&2; exit 255'
      expect(await get().runner.run(['sh', '-c', sshLike], {allowFailure: true})).toMatchObject({exitCode: 255, stderr: expect.stringContaining('Connection refused')})
    })

    it('stdin: input reaches the command byte for byte (every byte 0x01-0xff), no input is an empty stdin', async () => {
      const input = `${TEXT_1_255}\nline2\n`
      const result = await get().runner.run(['od', '-An', '-v', '-tx1'], {input})
      const expected = Buffer.from(input, 'utf8').toString('hex')
      expect(result.stdout.replace(/\s+/g, '')).toBe(expected)
      expect((await get().runner.run(['cat'])).stdout).toBe('')
    })

    it('arguments arrive literally (quotes, $(...), ;, newlines, leading dashes, empty)', async () => {
      const args = ["it's", '"q"', '$(id)', '`id`', 'a;b', 'x\ny', '-n', '', '\\', '*', TEXT_1_255]
      const result = await get().runner.run(['printf', '%s\\0', ...args])
      expect(result.stdout.split('\0').slice(0, -1)).toEqual(args)
    })

    it('environment and working directory', async () => {
      const result = await get().runner.run(['sh', '-c', 'printf "%s|" "$VIRTLAB_T" "$(pwd)"'], {env: {VIRTLAB_T: "a b'c"}, cwd: dir})
      expect(result.stdout).toBe(`a b'c|${dir}|`)
    })

    it('a working directory that does not exist is COMMAND_NOT_RUN', async () => {
      expect(await errorOf(get().runner.run(['true'], {cwd: `${dir}/nothing`}))).toMatchObject({code: 'COMMAND_NOT_RUN', command: {argv: ['true']}})
    })

    it('a missing program is COMMAND_NOT_RUN', async () => {
      const error = await errorOf(get().runner.run(['virtlab-no-such-program', '--x']))
      expect(error).toMatchObject({code: 'COMMAND_NOT_RUN', message: expect.stringContaining('virtlab-no-such-program'), command: {argv: ['virtlab-no-such-program', '--x']}})
    })

    it('a timeout is COMMAND_TIMEOUT and leaves no process behind', async () => {
      const marker = `${name}${process.pid}`.length + 30.5 + Math.random()
      const started = Date.now()
      const error = await errorOf(get().runner.run(['sleep', String(marker)], {timeoutMs: 1000}))
      expect(error).toMatchObject({code: 'COMMAND_TIMEOUT', message: expect.stringMatching(/^sleep timed out after 1 s/), command: {argv: ['sleep', String(marker)]}})
      expect(Date.now() - started).toBeLessThan(8000)
      await new Promise((resolve) => setTimeout(resolve, 500))
      expect(processesWith(String(marker))).toEqual([])
    })

    it('a command that ignores SIGTERM is killed too', async () => {
      // exec: the local runner signals only its direct child (a grandchild would outlive it).
      const marker = 40.75 + Math.random()
      const error = await errorOf(get().runner.run(['sh', '-c', `trap "" TERM; exec sleep ${marker}`], {timeoutMs: 1000}))
      expect(error).toMatchObject({code: 'COMMAND_TIMEOUT'})
      await new Promise((resolve) => setTimeout(resolve, 4500))
      expect(processesWith(String(marker))).toEqual([])
    })

    it('cancel (AbortSignal) is COMMAND_NOT_RUN "was cancelled" and leaves no process behind', async () => {
      const marker = 40.25 + Math.random()
      const controller = new AbortController()
      setTimeout(() => controller.abort(), 700)
      const started = Date.now()
      const error = await errorOf(get().runner.run(['sleep', String(marker)], {signal: controller.signal}))
      expect(error).toMatchObject({code: 'COMMAND_NOT_RUN', message: expect.stringContaining('sleep was cancelled')})
      expect(Date.now() - started).toBeLessThan(8000)
      await new Promise((resolve) => setTimeout(resolve, 500))
      expect(processesWith(String(marker))).toEqual([])
    })

    it('a daemon that detaches with its stdio closed: the run returns at once, the daemon lives on', async () => {
      const marker = 50.5 + Math.random()
      const started = Date.now()
      const result = await get().runner.run(['sh', '-c', `setsid sleep ${marker} </dev/null >/dev/null 2>&1 & echo started`])
      expect(result.stdout).toBe('started\n')
      expect(Date.now() - started).toBeLessThan(5000)
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const pids = processesWith(String(marker))
      expect(pids).toHaveLength(1)
      for (const pid of pids) process.kill(pid, 'SIGKILL')
    })

    it('which', async () => {
      expect(await get().runner.which('sh')).toMatch(/^\/(usr\/)?bin\/sh$/)
      expect(await get().runner.which('/bin/sh')).toBe('/bin/sh')
      expect(await get().runner.which('virtlab-no-such-program')).toBeUndefined()
    })
  })

  describe('fs', () => {
    it('text: write, read, append, tryReadFile', async () => {
      const {fs} = get()
      const file = `${dir}/text.txt`
      await fs.writeFile(file, 'héllo\n')
      await fs.appendFile(file, 'more\n')
      expect(await fs.readFile(file)).toBe('héllo\nmore\n')
      expect(await fs.tryReadFile(`${dir}/missing`)).toBeUndefined()
      await fs.writeFile(file, '')
      expect(await fs.readFile(file)).toBe('')
      await fs.writeFile(file, 'no newline')
      expect(await fs.readFile(file)).toBe('no newline')
    })

    it('binary: writeBytes/readBytes keep all 256 byte values', async () => {
      const {fs} = get()
      const file = `${dir}/bytes.bin`
      const data = Buffer.concat([ALL_BYTES, ALL_BYTES.reverse(), Buffer.alloc(3000, 0)])
      await fs.writeBytes!(file, data)
      expect(Buffer.from(await fs.readBytes!(file)).equals(data)).toBe(true)
      expect(readFileSync(file).equals(data)).toBe(true)
      await fs.writeBytes!(file, new Uint8Array(), {atomic: true})
      expect((await fs.readBytes!(file)).length).toBe(0)
    })

    it('atomic write with a mode: the content and the mode, no temp file left', async () => {
      const {fs} = get()
      const file = `${dir}/atomic.conf`
      await fs.writeFile(file, 'one', {atomic: true, mode: 0o640})
      expect(await fs.readFile(file)).toBe('one')
      expect((await fs.stat(file))!.mode & 0o7777).toBe(0o640)
      await fs.writeFile(file, 'two', {atomic: true})
      expect(await fs.readFile(file)).toBe('two')
      expect((await fs.stat(file))!.mode & 0o7777).toBe(0o600)
      expect(readdirSync(dir).filter((f) => f.startsWith('atomic.conf'))).toEqual(['atomic.conf'])
      const error = await errorOf(fs.writeFile(`${dir}/no-dir/x`, 'x', {atomic: true}))
      expect(error.code).toBe('ENOENT')
    })

    it('a mode applies when the file is created (minus the umask), not to an existing file', async () => {
      const {fs} = get()
      const file = `${dir}/moded`
      await fs.writeFile(file, 'x', {mode: 0o751})
      expect((await fs.stat(file))!.mode & 0o7777).toBe(0o751 & ~0o022)
      await fs.writeFile(file, 'y', {mode: 0o600})
      expect((await fs.stat(file))!.mode & 0o7777).toBe(0o751 & ~0o022)
      expect(await fs.readFile(file)).toBe('y')
    })

    it('exclusive: EEXIST when the file exists', async () => {
      const {fs} = get()
      const file = `${dir}/lock`
      await fs.writeFile(file, 'pid 1', {exclusive: true, mode: 0o644})
      expect(await fs.readFile(file)).toBe('pid 1')
      const error = await errorOf(fs.writeFile(file, 'pid 2', {exclusive: true}))
      expect(error.code).toBe('EEXIST')
      expect(await fs.readFile(file)).toBe('pid 1')
      await fs.writeFile(`${dir}/lock2`, 'x', {exclusive: true})
      expect((await fs.stat(`${dir}/lock2`))!.mode & 0o777).toBe(0o644)
    })

    it('errno: ENOENT, EISDIR, ENOTDIR, EINVAL (a write /proc refuses)', async () => {
      const {fs} = get()
      expect(await errorOf(fs.readFile(`${dir}/missing`))).toMatchObject({code: 'ENOENT', errno: -2, syscall: 'open', path: `${dir}/missing`})
      expect((await errorOf(fs.readFile(dir))).code).toBe('EISDIR')
      expect((await errorOf(fs.readFile('/etc/hostname/x'))).code).toBe('ENOTDIR')
      expect((await errorOf(fs.writeFile(`${dir}/missing/x`, 'x'))).code).toBe('ENOENT')
      expect((await errorOf(fs.writeFile('/proc/self/stat', 'x'))).code).toBe('EINVAL')
      expect((await errorOf(fs.appendFile(`${dir}/missing/x`, 'x'))).code).toBe('ENOENT')
      expect((await errorOf(fs.readBytes!(`${dir}/missing`))).code).toBe('ENOENT')
      expect((await errorOf(fs.writeFile(dir, 'x'))).code).toBe('EISDIR')
    })

    it('errno: EBUSY (renaming a mount point: a tmpfs mounted for this test)', async () => {
      const {fs} = get()
      const mountPoint = `${dir}/mnt`
      mkdirSync(mountPoint)
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'virtlab-contract', mountPoint])
      try {
        expect(await errorOf(fs.rename(mountPoint, `${dir}/mnt2`))).toMatchObject({code: 'EBUSY', syscall: 'rename'})
        expect(existsSync(`${dir}/mnt2`)).toBe(false)
      } finally {
        execFileSync('umount', [mountPoint])
      }
    })

    it('exists, stat (lstat for isSymlink), readlink', async () => {
      const {fs} = get()
      await fs.writeFile(`${dir}/f`, '12345')
      await fs.symlink(`${dir}/f`, `${dir}/link`)
      await fs.symlink(`${dir}/nowhere`, `${dir}/dangling`)
      expect(await fs.exists(`${dir}/f`)).toBe(true)
      expect(await fs.exists(`${dir}/dangling`)).toBe(true)
      expect(await fs.exists(`${dir}/nothing`)).toBe(false)
      expect(await fs.stat(`${dir}/f`)).toEqual({isFile: true, isDirectory: false, isSymlink: false, isCharDevice: false, mode: 0o100644, uid: 0, gid: 0, size: 5})
      expect(await fs.stat(`${dir}/link`)).toEqual({isFile: true, isDirectory: false, isSymlink: true, isCharDevice: false, mode: 0o100644, uid: 0, gid: 0, size: 5})
      expect(await fs.stat(`${dir}/dangling`)).toMatchObject({isFile: false, isDirectory: false, isSymlink: true, mode: 0o120777})
      expect(await fs.stat('/dev/null')).toMatchObject({isCharDevice: true, isFile: false, mode: 0o20666})
      expect(await fs.stat(dir)).toMatchObject({isDirectory: true, mode: 0o40700})
      expect(await fs.stat(`${dir}/nothing`)).toBeUndefined()
      expect(await fs.readlink(`${dir}/link`)).toBe(`${dir}/f`)
      expect(await fs.readlink(`${dir}/f`)).toBeUndefined()
      expect(await fs.readlink(`${dir}/nothing`)).toBeUndefined()
      expect((await errorOf(fs.symlink('x', `${dir}/link`))).code).toBe('EEXIST')
    })

    it('readdir: sorted, hidden and odd names, [] when missing, ENOTDIR on a file', async () => {
      const {fs} = get()
      const sub = `${dir}/list`
      await fs.mkdir(sub)
      for (const entry of ['b', '.hidden', 'a b', 'new\nline', '-dash', 'Z']) await fs.writeFile(`${sub}/${entry}`, '')
      expect(await fs.readdir(sub)).toEqual(['-dash', '.hidden', 'Z', 'a b', 'b', 'new\nline'])
      expect(await fs.readdir(`${dir}/nothing`)).toEqual([])
      expect((await errorOf(fs.readdir(`${sub}/b`))).code).toBe('ENOTDIR')
    })

    it('mkdir with a mode (recursive), EEXIST on a file, ENOTDIR under a file', async () => {
      const {fs} = get()
      await fs.mkdir(`${dir}/m/n/o`, {mode: 0o750})
      expect((await fs.stat(`${dir}/m/n/o`))!.mode).toBe(0o40750)
      await fs.mkdir(`${dir}/m/n/o`, {mode: 0o700})
      expect((await fs.stat(`${dir}/m/n/o`))!.mode).toBe(0o40700)
      await fs.mkdir(`${dir}/plain`)
      expect((await fs.stat(`${dir}/plain`))!.mode).toBe(0o40755)
      await fs.writeFile(`${dir}/file`, '')
      expect((await errorOf(fs.mkdir(`${dir}/file`))).code).toBe('EEXIST')
      expect((await errorOf(fs.mkdir(`${dir}/file/sub`))).code).toBe('ENOTDIR')
    })

    it('chmod, chown, rename, remove', async () => {
      const {fs} = get()
      const file = `${dir}/perm`
      await fs.writeFile(file, 'p')
      await fs.chmod(file, 0o604)
      expect((await fs.stat(file))!.mode & 0o7777).toBe(0o604)
      await fs.chown(file, 65534, 65534)
      expect(await fs.stat(file)).toMatchObject({uid: 65534, gid: 65534})
      expect((await errorOf(fs.chmod(`${dir}/nothing`, 0o600))).code).toBe('ENOENT')
      expect((await errorOf(fs.chown(`${dir}/nothing`, 0, 0))).code).toBe('ENOENT')
      await fs.rename(file, `${dir}/perm2`)
      expect(await fs.exists(file)).toBe(false)
      expect(await fs.readFile(`${dir}/perm2`)).toBe('p')
      expect((await errorOf(fs.rename(`${dir}/nothing`, `${dir}/x`))).code).toBe('ENOENT')
      await fs.mkdir(`${dir}/target-dir`)
      expect((await errorOf(fs.rename(`${dir}/perm2`, `${dir}/target-dir`))).code).toBe('EISDIR')
      await fs.remove(`${dir}/perm2`)
      await fs.remove(`${dir}/perm2`)
      expect(await fs.exists(`${dir}/perm2`)).toBe(false)
      await fs.writeFile(`${dir}/target-dir/inner`, 'x')
      expect((await errorOf(fs.remove(`${dir}/target-dir`))).code).toBe('ERR_FS_EISDIR')
      await fs.remove(`${dir}/target-dir`, {recursive: true})
      expect(await fs.exists(`${dir}/target-dir`)).toBe(false)
    })

    it('canOpen', async () => {
      const {fs} = get()
      expect(await fs.canOpen('/dev/null', 'w')).toBe(true)
      expect(await fs.canOpen('/etc/hostname', 'r')).toBe(true)
      expect(await fs.canOpen(`${dir}/nothing`, 'r')).toBe(false)
    })
  })
})

describe('ssh only', () => {
  it('readMany: many files in one round trip, undefined for what cannot be read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'virtlab-readmany-'))
    try {
      await local.fs.writeFile(`${dir}/a`, 'alpha\n')
      await local.fs.writeFile(`${dir}/b`, '')
      await local.fs.writeFile(`${dir}/c`, TEXT_1_255)
      const paths = [`${dir}/a`, `${dir}/b`, `${dir}/c`, `${dir}/missing`, dir, '/proc/self/status', `${dir}/new\nline`]
      const before = ssh.roundTrips().command
      const result = await ssh.fs.readMany(paths.slice(0, 6))
      expect(ssh.roundTrips().command - before).toBe(1)
      expect([...result.keys()]).toEqual(paths.slice(0, 6))
      expect(result.get(`${dir}/a`)).toBe('alpha\n')
      expect(result.get(`${dir}/b`)).toBe('')
      expect(result.get(`${dir}/c`)).toBe(TEXT_1_255)
      expect(result.get(`${dir}/missing`)).toBeUndefined()
      expect(result.get(dir)).toBeUndefined()
      expect(result.get('/proc/self/status')).toMatch(/^Name:\s+base64/)
      const odd = await ssh.fs.readMany([`${dir}/new\nline`])
      expect(odd.get(`${dir}/new\nline`)).toBeUndefined()
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('readdirMany and readlinkMany: one round trip each', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'virtlab-many-'))
    try {
      await local.fs.mkdir(`${dir}/d1`)
      for (const f of ['b', 'a', 'new\nline', '.h']) await local.fs.writeFile(`${dir}/d1/${f}`, '')
      await local.fs.mkdir(`${dir}/empty`)
      await local.fs.symlink('/sys/devices/x', `${dir}/l1`)
      await local.fs.symlink('../rel', `${dir}/l2`)
      const before = ssh.roundTrips().command
      const dirs = await ssh.fs.readdirMany([`${dir}/d1`, `${dir}/empty`, `${dir}/missing`, `${dir}/l1`, `${dir}/d1/a`])
      const links = await ssh.fs.readlinkMany([`${dir}/l1`, `${dir}/l2`, `${dir}/d1`, `${dir}/missing`])
      expect(ssh.roundTrips().command - before).toBe(2)
      expect(Object.fromEntries(dirs)).toEqual({
        [`${dir}/d1`]: await local.fs.readdir(`${dir}/d1`),
        [`${dir}/empty`]: [],
        [`${dir}/missing`]: [],
        [`${dir}/l1`]: [],
        [`${dir}/d1/a`]: [],
      })
      expect(dirs.get(`${dir}/d1`)).toEqual(['.h', 'a', 'b', 'new\nline'])
      expect(Object.fromEntries(links)).toEqual({[`${dir}/l1`]: '/sys/devices/x', [`${dir}/l2`]: '../rel', [`${dir}/d1`]: undefined, [`${dir}/missing`]: undefined})
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('identity.sessionPid: the target\'s sshd process serving this connection', async () => {
    const pid = ssh.identity.sessionPid!
    expect(pid).toBeGreaterThan(1)
    expect(readFileSync(`/proc/${pid}/comm`, 'utf8').trim()).toBe('sshd')
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toMatch(/^sshd: root@notty/)
  })

  it('identity and round-trip counts', async () => {
    expect(ssh.identity).toMatchObject({transport: 'ssh', url: sshd.url, user: 'root', uid: 0, sudo: false})
    expect(ssh.identity.hostname).toBe(readFileSync('/proc/sys/kernel/hostname', 'utf8').trim())
    expect(ssh.identity.kernel).toBe(readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim())
    expect(ssh.identity.distribution).toBe(/^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))![1])
    const before = ssh.roundTrips()
    await ssh.runner.run(['true'])
    await ssh.fs.exists('/')
    const after = ssh.roundTrips()
    expect(after.command - before.command).toBe(2)
    expect(after.total - before.total).toBe(2)
  })

  it('30 commands at once all run (at most maxSessions=8 sessions at a time over the master)', async () => {
    const results = await Promise.all(Array.from({length: 30}, (_, i) => ssh.runner.run(['sh', '-c', `sleep 0.2; echo ${i}`])))
    expect(results.map((r) => r.stdout)).toEqual(Array.from({length: 30}, (_, i) => `${i}\n`))
  })

  it('timeouts count from the start, not from the wait for a free session; a cancel while waiting runs nothing', async () => {
    // 8 sessions busy for ~1.5 s: the 9th waits for a slot, then runs within its own 1 s timeout.
    const busy = Array.from({length: 8}, () => ssh.runner.run(['sleep', '1.5']))
    await new Promise((resolve) => setTimeout(resolve, 100))
    const queued = ssh.runner.run(['sh', '-c', 'sleep 0.3; echo done'], {timeoutMs: 1000})
    const controller = new AbortController()
    const marker = 60.5 + Math.random()
    const cancelled = errorOf(ssh.runner.run(['sleep', String(marker)], {signal: controller.signal}))
    controller.abort()
    expect((await queued).stdout).toBe('done\n')
    expect(await cancelled).toMatchObject({code: 'COMMAND_NOT_RUN', message: expect.stringContaining('cancelled')})
    await Promise.all(busy)
    expect(processesWith(String(marker))).toEqual([])
  })

  it('a command line over the limit is SSH_COMMAND_TOO_LONG, nothing run', async () => {
    const error = await errorOf(ssh.runner.run(['echo', "'".repeat(40_000)]))
    expect(error).toMatchObject({code: 'SSH_COMMAND_TOO_LONG'})
  })
})
