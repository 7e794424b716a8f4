/**
 * Unix sockets on the SSH target through the connection (OpenSSH streamlocal forwards): a line
 * protocol server on a "remote" socket answers through the forward, a missing socket fails like
 * a local connect, and no forward or local socket file is left behind.
 */
import {mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {RootedFs} from '../../src/host/fs.js'
import {ExecaRunner} from '../../src/host/runner.js'
import {connectSsh, type SshTransport} from '../../src/host/ssh/index.js'
import {startTestSshd, type TestSshd} from '../helpers/sshd.js'

let sshd: TestSshd
let ssh: SshTransport
let dir: string
let server: Server

beforeAll(async () => {
  sshd = await startTestSshd()
  ssh = await connectSsh(sshd.url, {localRunner: new ExecaRunner(), localFs: new RootedFs('/'), configFile: sshd.configFile})
  dir = mkdtempSync(join(tmpdir(), 'virtlab-sock-'))
  // A tiny QMP look-alike: greeting, then {"return": {}} to every command, echoing its id.
  server = createServer((socket) => {
    socket.write(JSON.stringify({QMP: {version: {qemu: {major: 9, minor: 0, micro: 0}}, capabilities: []}}) + '\n')
    let buffer = ''
    socket.on('data', (chunk) => {
      buffer += chunk.toString()
      let nl
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        const request = JSON.parse(line) as {execute: string; id?: unknown}
        socket.write(JSON.stringify({return: request.execute === 'query-status' ? {status: 'running', running: true} : {}, id: request.id}) + '\n')
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(join(dir, 'vm.qmp.sock'), resolve))
})

afterAll(async () => {
  await ssh?.close()
  await sshd?.stop()
  server?.close()
  rmSync(dir, {recursive: true, force: true})
})

describe('SshSocketConnector', () => {
  it('reaches a Unix socket on the target (two at once, each its own channel)', async () => {
    const before = ssh.roundTrips()
    const [a, b] = await Promise.all([ssh.sockets.connect(join(dir, 'vm.qmp.sock')), ssh.sockets.connect(join(dir, 'vm.qmp.sock'))])
    expect(JSON.parse(await a.readLine(5000))).toHaveProperty('QMP')
    expect(JSON.parse(await b.readLine(5000))).toHaveProperty('QMP')
    await a.write('{"execute":"query-status","id":7}\n{"execute":"qmp_capabilities","id":8}\n')
    expect(JSON.parse(await a.readLine(5000))).toEqual({return: {status: 'running', running: true}, id: 7})
    expect(await a.readJson(5000)).toEqual({return: {}, id: 8})
    a.close()
    b.close()
    // Per connect one command (is the socket there?); one forward request for the socket, ever.
    const after = ssh.roundTrips()
    expect(after.command - before.command).toBe(2)
    expect(after.control - before.control).toBe(1)
    const c = await ssh.sockets.connect(join(dir, 'vm.qmp.sock'))
    expect(JSON.parse(await c.readLine(5000))).toHaveProperty('QMP')
    c.close()
    expect(ssh.roundTrips().control - before.control).toBe(1)
    expect(ssh.sockets.forwarded()).toEqual([join(dir, 'vm.qmp.sock')])
    expect(readdirSync(ssh.connection.localDir).filter((f) => f.endsWith('.sock'))).toHaveLength(1)
    // close() cancels the forward: its listener socket goes away.
    await ssh.sockets.close()
    expect(ssh.sockets.forwarded()).toEqual([])
    expect(readdirSync(ssh.connection.localDir).filter((f) => f.endsWith('.sock'))).toEqual([])
  })

  it('after a reconnect the forward is made again on the new master', async () => {
    const first = await ssh.sockets.connect(join(dir, 'vm.qmp.sock'))
    expect(JSON.parse(await first.readLine(5000))).toHaveProperty('QMP')
    first.close()
    process.kill((await ssh.connection.masterPid())!, 'SIGKILL')
    await new Promise((resolve) => setTimeout(resolve, 200))
    await ssh.reconnect({attempts: 3, delayMs: 200})
    const again = await ssh.sockets.connect(join(dir, 'vm.qmp.sock'))
    expect(JSON.parse(await again.readLine(5000))).toHaveProperty('QMP')
    again.close()
  })

  it('a missing socket is SOCKET_CONNECT_FAILED with the local hint', async () => {
    await expect(ssh.sockets.connect(join(dir, 'nothing.sock'))).rejects.toMatchObject({code: 'SOCKET_CONNECT_FAILED', hint: expect.stringContaining('QEMU')})
    await expect(ssh.sockets.connect('relative.sock')).rejects.toMatchObject({code: 'SOCKET_CONNECT_FAILED'})
  })
})
