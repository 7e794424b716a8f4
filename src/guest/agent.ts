/**
 * Talking to the guest through the QEMU guest agent (qemu-ga in the built-in guest, on the
 * virtio-serial port org.qemu.guest_agent.0). Two transports, one interface:
 *   - direct QEMU: the host end of the chardev socket (<runDir>/<vm>.qga.sock), see
 *     GuestAgentSocketChannel in src/host/socket.ts
 *   - libvirt: `virsh qemu-agent-command <domain> <json>` through the CommandRunner (libvirt owns
 *     the socket and does the guest-sync itself)
 *
 * guest-exec returns a pid; guest-exec-status is polled until "exited"; stdout/stderr come back
 * base64-encoded ("out-data"/"err-data").
 */
import {VirtlabError} from '../errors.js'
import type {CommandRunner} from '../host/runner.js'
import {GuestAgentSocketChannel, type JsonObject, type SocketConnector} from '../host/socket.js'

export interface GuestExecOptions {
  /** Capture stdout/stderr (default true). */
  captureOutput?: boolean
  /** Give up waiting after this long (default 60 s); the guest process is left running. */
  timeoutMs?: number
  /** Environment (KEY=VALUE), replacing the agent's. */
  env?: string[]
  /** Text fed to the process's stdin. */
  input?: string
}

export interface GuestExecResult {
  /** The exit code; 128 + signal when killed by a signal. */
  exitCode: number
  signal?: number
  stdout: string
  stderr: string
  /** The agent cut the output (qemu-ga keeps at most 16 MiB). */
  truncated?: boolean
}

export interface GuestExecStatus {
  exited: boolean
  exitCode?: number
  signal?: number
  stdout?: string
  stderr?: string
}

export interface GuestAgent {
  /** guest-ping: resolves when the agent answers. */
  ping(options?: {timeoutMs?: number}): Promise<void>
  /** Run a program in the guest and wait for it. */
  exec(path: string, args?: readonly string[], options?: GuestExecOptions): Promise<GuestExecResult>
  /** Start a program in the guest (no output captured); its pid. */
  execBackground(path: string, args?: readonly string[], options?: {env?: string[]}): Promise<number>
  execStatus(pid: number): Promise<GuestExecStatus>
  close(): Promise<void>
}

/** One agent command, its "return" value. Transports implement this. */
export interface AgentChannel {
  command(execute: string, args: JsonObject | undefined, timeoutMs: number): Promise<unknown>
  close(): void | Promise<void>
}

const DEFAULT_EXEC_TIMEOUT_MS = 60_000
const COMMAND_TIMEOUT_MS = 10_000

function decodeBase64(data: unknown): string | undefined {
  return typeof data === 'string' ? Buffer.from(data, 'base64').toString('utf8') : undefined
}

function parseStatus(value: unknown): GuestExecStatus {
  const raw = (value ?? {}) as {exited?: boolean; exitcode?: number; signal?: number; 'out-data'?: string; 'err-data'?: string}
  const status: GuestExecStatus = {exited: raw.exited === true}
  if (typeof raw.exitcode === 'number') status.exitCode = raw.exitcode
  if (typeof raw.signal === 'number') {
    status.signal = raw.signal
    status.exitCode ??= 128 + raw.signal
  }
  const stdout = decodeBase64(raw['out-data'])
  const stderr = decodeBase64(raw['err-data'])
  if (stdout !== undefined) status.stdout = stdout
  if (stderr !== undefined) status.stderr = stderr
  return status
}

/** The GuestAgent protocol over any channel. */
export class GuestAgentClient implements GuestAgent {
  constructor(private readonly channel: AgentChannel, private readonly label = 'guest') {}

  async ping(options: {timeoutMs?: number} = {}): Promise<void> {
    await this.channel.command('guest-ping', undefined, options.timeoutMs ?? COMMAND_TIMEOUT_MS)
  }

  async exec(path: string, args: readonly string[] = [], options: GuestExecOptions = {}): Promise<GuestExecResult> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS
    const deadline = Date.now() + timeoutMs
    const captureOutput = options.captureOutput ?? true
    const pid = await this.start(path, args, {
      captureOutput,
      ...(options.env === undefined ? {} : {env: options.env}),
      ...(options.input === undefined ? {} : {input: options.input}),
    }, Math.min(COMMAND_TIMEOUT_MS, timeoutMs))
    let delay = 50
    for (;;) {
      const raw = await this.channel.command('guest-exec-status', {pid}, Math.max(1000, Math.min(COMMAND_TIMEOUT_MS, deadline - Date.now())))
      const status = parseStatus(raw)
      if (status.exited) {
        const flags = (raw ?? {}) as {'out-truncated'?: boolean; 'err-truncated'?: boolean}
        return {
          exitCode: status.exitCode ?? 0,
          ...(status.signal === undefined ? {} : {signal: status.signal}),
          stdout: status.stdout ?? '',
          stderr: status.stderr ?? '',
          ...(flags['out-truncated'] || flags['err-truncated'] ? {truncated: true} : {}),
        }
      }
      if (Date.now() + delay > deadline) {
        throw new VirtlabError('GUEST_EXEC_TIMEOUT', `${this.label}: ${[path, ...args].join(' ')} did not finish within ${timeoutMs} ms (guest pid ${pid})`, {
          hint: 'The command is still running in the guest; raise the timeout or run it in the background.',
        })
      }
      await new Promise((resolve) => setTimeout(resolve, delay))
      delay = Math.min(delay * 2, 500)
    }
  }

  execBackground(path: string, args: readonly string[] = [], options: {env?: string[]} = {}): Promise<number> {
    return this.start(path, args, {captureOutput: false, ...(options.env === undefined ? {} : {env: options.env})}, COMMAND_TIMEOUT_MS)
  }

  async execStatus(pid: number): Promise<GuestExecStatus> {
    return parseStatus(await this.channel.command('guest-exec-status', {pid}, COMMAND_TIMEOUT_MS))
  }

  async close(): Promise<void> {
    await this.channel.close()
  }

  private async start(
    path: string,
    args: readonly string[],
    options: {captureOutput: boolean; env?: string[]; input?: string},
    timeoutMs: number,
  ): Promise<number> {
    const request: JsonObject = {path, arg: [...args], 'capture-output': options.captureOutput}
    if (options.env !== undefined) request.env = options.env
    if (options.input !== undefined) request['input-data'] = Buffer.from(options.input, 'utf8').toString('base64')
    const reply = (await this.channel.command('guest-exec', request, timeoutMs)) as {pid?: unknown} | undefined
    if (typeof reply?.pid !== 'number') {
      throw new VirtlabError('GUEST_AGENT_PROTOCOL', `${this.label}: guest-exec returned no pid`)
    }
    return reply.pid
  }
}

/** The agent of a VM started directly by virtlab: QEMU's chardev socket (e.g. <runDir>/<vm>.qga.sock). */
export async function connectSocketAgent(socketPath: string, options: {timeoutMs?: number; label?: string; sockets?: SocketConnector} = {}): Promise<GuestAgentClient> {
  const channel = await GuestAgentSocketChannel.connect(socketPath, {
    ...(options.timeoutMs === undefined ? {} : {timeoutMs: options.timeoutMs}),
    ...(options.sockets === undefined ? {} : {sockets: options.sockets}),
  })
  return new GuestAgentClient(channel, options.label ?? socketPath)
}

/** `virsh qemu-agent-command`: libvirt talks to the agent on its own channel socket. */
export class VirshAgentChannel implements AgentChannel {
  constructor(
    private readonly runner: CommandRunner,
    readonly domain: string,
    private readonly uri = 'qemu:///system',
  ) {}

  async command(execute: string, args: JsonObject | undefined, timeoutMs: number): Promise<unknown> {
    const json = JSON.stringify({execute, ...(args === undefined ? {} : {arguments: args})})
    const seconds = Math.max(1, Math.ceil(timeoutMs / 1000))
    const result = await this.runner.run(
      ['virsh', '-c', this.uri, 'qemu-agent-command', this.domain, json, '--timeout', String(seconds)],
      {allowFailure: true, timeoutMs: timeoutMs + 15_000},
    )
    if (result.exitCode !== 0) {
      const text = (result.stderr || result.stdout).trim()
      const command = {argv: result.argv, exitCode: result.exitCode, stderrTail: text}
      if (/not (responding|connected)|agent is not|timeout|timed out/i.test(text)) {
        throw new VirtlabError('GUEST_AGENT_TIMEOUT', `The guest agent of ${this.domain} did not answer ${execute}`, {
          command,
          hint: 'Is the guest up, with qemu-ga running on the org.qemu.guest_agent.0 channel?',
        })
      }
      throw new VirtlabError('GUEST_AGENT_ERROR', `guest agent ${execute} on ${this.domain}: ${text.split('\n').pop() ?? ''}`, {command})
    }
    let reply: unknown
    try {
      reply = JSON.parse(result.stdout)
    } catch {
      throw new VirtlabError('GUEST_AGENT_PROTOCOL', `virsh qemu-agent-command printed no JSON for ${execute}`, {
        command: {argv: result.argv, exitCode: 0, stderrTail: result.stdout.slice(0, 400)},
      })
    }
    const object = (reply ?? {}) as JsonObject
    if ('error' in object) {
      const error = object.error as {desc?: string}
      throw new VirtlabError('GUEST_AGENT_ERROR', `guest agent ${execute} on ${this.domain}: ${error.desc ?? 'error'}`)
    }
    return object.return
  }

  close(): void {}
}

export function libvirtAgent(runner: CommandRunner, domain: string, uri = 'qemu:///system'): GuestAgentClient {
  return new GuestAgentClient(new VirshAgentChannel(runner, domain, uri), domain)
}

/** Ping until the agent answers (guest still booting: the agent is not up yet). */
export async function waitForAgent(agent: GuestAgent, timeoutMs: number, options: {pingTimeoutMs?: number} = {}): Promise<number> {
  const started = Date.now()
  const deadline = started + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      await agent.ping({timeoutMs: Math.max(500, Math.min(options.pingTimeoutMs ?? 3000, deadline - Date.now()))})
      return Date.now() - started
    } catch (error) {
      last = error
      if (error instanceof VirtlabError && !['GUEST_AGENT_TIMEOUT', 'GUEST_AGENT_ERROR'].includes(error.code)) throw error
      if (Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }
  throw new VirtlabError('GUEST_AGENT_TIMEOUT', `The guest agent did not answer within ${timeoutMs} ms`, {
    cause: last,
    hint: 'Check the guest console log: did /init print VIRTLAB-READY?',
  })
}
