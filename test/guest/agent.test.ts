/**
 * The agent clients against protocol-faithful fakes: a unix-socket server that behaves like
 * qemu-ga on its virtio-serial port (0xFF resets its parser with an error reply; commands sent
 * while the guest has not opened the port wait in the chardev and are answered later; replies
 * for abandoned commands are still delivered), a QMP server, and virsh through a fake runner.
 * The real thing is exercised in boot.test.ts.
 */
import * as net from 'node:net'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {connectSocketAgent, GuestAgentClient, libvirtAgent, VirshAgentChannel, waitForAgent} from '../../src/guest/agent.js'
import {GuestAgentSocketChannel, QmpClient, UnixSocketClient} from '../../src/host/socket.js'
import {VirtlabError} from '../../src/errors.js'
import {FakeRunner} from '../helpers/fake-runner.js'

const cleanups: (() => void | Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

function tempSocket(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'virtlab-sock-'))
  cleanups.push(() => rmSync(dir, {recursive: true, force: true}))
  return join(dir, name)
}

interface FakeAgentOptions {
  /** The guest has opened the port: input is processed (else it waits, like QEMU's chardev). */
  up?: boolean
  /** Bytes the agent sends as soon as a client connects (stale replies for a previous client). */
  staleOutput?: string
  /** guest-exec-status polls before a process counts as exited. */
  pollsUntilExit?: number
}

class FakeQemuGa {
  readonly received: string[] = []
  private pending = Buffer.alloc(0)
  private socket: net.Socket | undefined
  private nextPid = 1000
  private readonly processes = new Map<number, {polls: number; path: string; args: string[]; capture: boolean}>()
  up: boolean

  constructor(private readonly server: net.Server, private readonly options: FakeAgentOptions) {
    this.up = options.up ?? true
    server.on('connection', (socket) => {
      this.socket = socket
      if (options.staleOutput) socket.write(options.staleOutput)
      socket.on('data', (d: Buffer) => {
        this.pending = Buffer.concat([this.pending, d])
        if (this.up) this.process()
      })
      socket.on('error', () => {})
    })
  }

  static async listen(path: string, options: FakeAgentOptions = {}): Promise<FakeQemuGa> {
    const server = net.createServer()
    await new Promise<void>((resolve) => server.listen(path, resolve))
    const agent = new FakeQemuGa(server, options)
    cleanups.push(() => new Promise<void>((resolve) => {
      agent.socket?.destroy()
      server.close(() => resolve())
    }))
    return agent
  }

  /** The guest opens the port: everything queued in the chardev is processed now. */
  bringUp(): void {
    this.up = true
    this.process()
  }

  private reply(object: unknown, delimited = false): void {
    this.socket?.write((delimited ? '\xff' : '') + JSON.stringify(object) + '\n', delimited ? 'latin1' : 'utf8')
  }

  private process(): void {
    let text = ''
    for (;;) {
      const ff = this.pending.indexOf(0xff)
      const nl = this.pending.indexOf(0x0a)
      if (ff >= 0 && (nl < 0 || ff < nl)) {
        // 0xFF resets the parser; like qemu-ga, the broken input is answered with an error.
        this.pending = this.pending.subarray(ff + 1)
        this.reply({error: {class: 'GenericError', desc: "JSON parse error, stray '\\uFFFD'"}})
        continue
      }
      if (nl < 0) break
      text = this.pending.subarray(0, nl).toString('utf8')
      this.pending = this.pending.subarray(nl + 1)
      if (text.trim() === '') continue
      this.received.push(text)
      let message: {execute?: string; arguments?: Record<string, unknown>}
      try {
        message = JSON.parse(text) as typeof message
      } catch {
        this.reply({error: {class: 'GenericError', desc: 'JSON parse error'}})
        continue
      }
      this.command(message.execute ?? '', message.arguments ?? {})
    }
  }

  private command(execute: string, args: Record<string, unknown>): void {
    switch (execute) {
      case 'guest-sync-delimited':
        return this.reply({return: args.id}, true)
      case 'guest-sync':
        return this.reply({return: args.id})
      case 'guest-ping':
        return this.reply({return: {}})
      case 'guest-exec': {
        const pid = this.nextPid++
        this.processes.set(pid, {polls: 0, path: String(args.path), args: (args.arg as string[]) ?? [], capture: args['capture-output'] === true})
        return this.reply({return: {pid}})
      }
      case 'guest-exec-status': {
        const proc = this.processes.get(Number(args.pid))
        if (proc === undefined) return this.reply({error: {class: 'GenericError', desc: `Invalid parameter 'pid'`}})
        if (++proc.polls < (this.options.pollsUntilExit ?? 2)) return this.reply({return: {exited: false}})
        if (proc.path === 'false') return this.reply({return: {exited: true, exitcode: 1, 'err-data': Buffer.from('failed\n').toString('base64')}})
        if (proc.path === 'kill-me') return this.reply({return: {exited: true, signal: 9}})
        const out = `${proc.path} ${proc.args.join(' ')}\n`
        return this.reply({return: {exited: true, exitcode: 0, ...(proc.capture ? {'out-data': Buffer.from(out).toString('base64')} : {})}})
      }
      default:
        return this.reply({error: {class: 'CommandNotFound', desc: `The command ${execute} has not been found`}})
    }
  }
}

describe('GuestAgentSocketChannel + GuestAgentClient (fake qemu-ga)', () => {
  it('syncs, pings, runs a command and decodes its base64 output', async () => {
    const path = tempSocket('vm.qga.sock')
    const fake = await FakeQemuGa.listen(path)
    const agent = await connectSocketAgent(path)
    cleanups.push(() => agent.close())
    await agent.ping()
    const result = await agent.exec('/usr/bin/iperf3', ['--version'])
    expect(result).toEqual({exitCode: 0, stdout: '/usr/bin/iperf3 --version\n', stderr: ''})
    expect(JSON.parse(fake.received[0] as string)).toMatchObject({execute: 'guest-sync-delimited'})
    expect(fake.received.filter((r) => r.includes('guest-sync')).length).toBe(1) // synced once
    expect(JSON.parse(fake.received.find((r) => r.includes('"guest-exec"')) as string)).toEqual({
      execute: 'guest-exec',
      arguments: {path: '/usr/bin/iperf3', arg: ['--version'], 'capture-output': true},
    })
  })

  it('discards stale replies and partial lines waiting in the stream', async () => {
    const path = tempSocket('vm.qga.sock')
    await FakeQemuGa.listen(path, {staleOutput: '{"return": {"pid": 4242}}\n\xff{"return": 17}\n{"ret'})
    const agent = await connectSocketAgent(path)
    cleanups.push(() => agent.close())
    const pid = await agent.execBackground('iperf3', ['-s'])
    expect(pid).toBe(1000)
  })

  it('times out while the guest has not opened the port, then resyncs past the queued syncs', async () => {
    const path = tempSocket('vm.qga.sock')
    const fake = await FakeQemuGa.listen(path, {up: false})
    const channel = await GuestAgentSocketChannel.connect(path)
    const agent = new GuestAgentClient(channel, 'vm')
    cleanups.push(() => agent.close())
    const error = await agent.ping({timeoutMs: 300}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(VirtlabError)
    expect((error as VirtlabError).code).toBe('GUEST_AGENT_TIMEOUT')
    setTimeout(() => fake.bringUp(), 400)
    const waited = await waitForAgent(agent, 5000, {pingTimeoutMs: 300})
    expect(waited).toBeGreaterThan(0)
    // The agent answered every queued sync (each with its own id); the client took only its own.
    expect(fake.received.filter((r) => r.includes('guest-sync-delimited')).length).toBeGreaterThanOrEqual(2)
    expect(await agent.exec('echo', ['ok'])).toMatchObject({exitCode: 0, stdout: 'echo ok\n'})
  })

  it('reports exit codes, signals, stderr, agent errors and exec timeouts', async () => {
    const path = tempSocket('vm.qga.sock')
    await FakeQemuGa.listen(path, {pollsUntilExit: 3})
    const agent = await connectSocketAgent(path)
    cleanups.push(() => agent.close())
    expect(await agent.exec('false')).toEqual({exitCode: 1, stdout: '', stderr: 'failed\n'})
    expect(await agent.exec('kill-me')).toEqual({exitCode: 137, signal: 9, stdout: '', stderr: ''})
    await expect(agent.execStatus(999)).rejects.toMatchObject({code: 'GUEST_AGENT_ERROR'})
    const pid = await agent.execBackground('sleep', ['10'])
    expect(await agent.execStatus(pid)).toEqual({exited: false})
  })

  it('gives up on a command that never finishes with GUEST_EXEC_TIMEOUT', async () => {
    const path = tempSocket('vm.qga.sock')
    await FakeQemuGa.listen(path, {pollsUntilExit: 1_000_000})
    const agent = await connectSocketAgent(path)
    cleanups.push(() => agent.close())
    const error = await agent.exec('sleep', ['1000'], {timeoutMs: 400}).catch((e: unknown) => e)
    expect((error as VirtlabError).code).toBe('GUEST_EXEC_TIMEOUT')
    expect((error as VirtlabError).message).toContain('guest pid 1000')
  })
})

describe('QmpClient (fake QMP server)', () => {
  it('negotiates capabilities, matches replies by id past events, and quits', async () => {
    const path = tempSocket('vm.qmp.sock')
    const seen: Record<string, unknown>[] = []
    const server = net.createServer((socket) => {
      socket.write('{"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}}, "capabilities": []}}\r\n')
      let buffer = ''
      socket.on('data', (d) => {
        buffer += d.toString()
        let nl: number
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const message = JSON.parse(buffer.slice(0, nl)) as {execute: string; id: string}
          buffer = buffer.slice(nl + 1)
          seen.push(message)
          if (message.execute === 'query-status') {
            socket.write('{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "NIC_RX_FILTER_CHANGED"}\r\n')
            socket.write(`{"return": {"status": "running", "running": true}, "id": "${message.id}"}\r\n`)
          } else if (message.execute === 'quit') {
            socket.write(`{"return": {}, "id": "${message.id}"}\r\n`)
            socket.end()
          } else if (message.execute === 'qmp_capabilities') {
            socket.write(`{"return": {}, "id": "${message.id}"}\r\n`)
          } else {
            socket.write(`{"error": {"class": "CommandNotFound", "desc": "The command ${message.execute} has not been found"}, "id": "${message.id}"}\r\n`)
          }
        }
      })
    })
    await new Promise<void>((resolve) => server.listen(path, resolve))
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
    const qmp = await QmpClient.connect(path)
    expect(qmp.greeting).toHaveProperty('QMP')
    expect(await qmp.queryStatus()).toEqual({status: 'running', running: true})
    expect(qmp.events.map((e) => e.event)).toEqual(['NIC_RX_FILTER_CHANGED'])
    await expect(qmp.execute('nope')).rejects.toMatchObject({code: 'QMP_ERROR'})
    await qmp.quit()
    expect(seen.map((m) => m.execute)).toEqual(['qmp_capabilities', 'query-status', 'nope', 'quit'])
  })

  it('fails clearly when nothing listens', async () => {
    await expect(QmpClient.connect(tempSocket('absent.sock'), {timeoutMs: 1000})).rejects.toMatchObject({code: 'SOCKET_CONNECT_FAILED'})
    await expect(UnixSocketClient.connect(tempSocket('absent.sock'))).rejects.toMatchObject({code: 'SOCKET_CONNECT_FAILED'})
  })
})

describe('libvirt transport (virsh qemu-agent-command)', () => {
  it('passes the JSON as one argv element and decodes guest-exec output', async () => {
    let polls = 0
    const runner = new FakeRunner((argv) => {
      const request = JSON.parse(argv[5] as string) as {execute: string}
      const reply = request.execute === 'guest-exec'
        ? {return: {pid: 77}}
        : request.execute === 'guest-exec-status'
          ? (++polls < 2 ? {return: {exited: false}} : {return: {exited: true, exitcode: 0, 'out-data': Buffer.from('iperf 3.12\n').toString('base64')}})
          : {return: {}}
      return {argv, exitCode: 0, stdout: JSON.stringify(reply) + '\n', stderr: ''}
    })
    const agent = libvirtAgent(runner, 'vl-lab-vm1')
    await agent.ping()
    expect(await agent.exec('/usr/bin/iperf3', ['--version'])).toEqual({exitCode: 0, stdout: 'iperf 3.12\n', stderr: ''})
    expect(runner.calls[0]).toEqual(['virsh', '-c', 'qemu:///system', 'qemu-agent-command', 'vl-lab-vm1', '{"execute":"guest-ping"}', '--timeout', '10'])
    expect(JSON.parse(runner.calls[1]?.[5] as string)).toEqual({execute: 'guest-exec', arguments: {path: '/usr/bin/iperf3', arg: ['--version'], 'capture-output': true}})
  })

  it('maps an unconnected agent to GUEST_AGENT_TIMEOUT and agent errors to GUEST_AGENT_ERROR', async () => {
    const down = new VirshAgentChannel(new FakeRunner((argv) => ({argv, exitCode: 1, stdout: '', stderr: 'error: Guest agent is not responding: QEMU guest agent is not connected\n'})), 'd')
    await expect(down.command('guest-ping', undefined, 1000)).rejects.toMatchObject({code: 'GUEST_AGENT_TIMEOUT'})
    const failing = new VirshAgentChannel(new FakeRunner((argv) => ({argv, exitCode: 1, stdout: '', stderr: "error: internal error: unable to execute QEMU agent command 'guest-exec': Failed to execute child process “x” (No such file or directory)\n"})), 'd')
    await expect(failing.command('guest-exec', {path: 'x'}, 1000)).rejects.toMatchObject({code: 'GUEST_AGENT_ERROR'})
  })
})
