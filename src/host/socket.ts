/**
 * The socket seam: the only place virtlab opens sockets. Unix-socket conversations with QEMU:
 * QMP (the monitor) and the QEMU guest agent over a chardev socket (direct QEMU:
 * <runDir>/<vm>.qga.sock). Both speak one JSON object per line; every read has a timeout.
 */
import * as net from 'node:net'
import {randomInt} from 'node:crypto'

import {VirtlabError} from '../errors.js'

export type JsonObject = Record<string, unknown>

export const DEFAULT_SOCKET_TIMEOUT_MS = 10_000

export interface SocketOptions {
  timeoutMs?: number
}

/**
 * Opens a unix socket on the target host (QMP, the guest agent's chardev socket). localSockets
 * connects on this machine; a remote transport forwards the target's socket over its connection.
 */
export interface SocketConnector {
  connect(path: string, options?: SocketOptions): Promise<UnixSocketClient>
}

/** A connected unix socket with a byte buffer: lines, JSON lines, and raw delimiters, each read with a timeout. */
export class UnixSocketClient {
  private buffer: Buffer = Buffer.alloc(0)
  private waiters: (() => void)[] = []
  private ended = false
  private failure: Error | undefined
  private queue: Promise<unknown> = Promise.resolve()

  private constructor(private readonly socket: net.Socket, readonly path: string) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
      this.wake()
    })
    socket.on('end', () => {
      this.ended = true
      this.wake()
    })
    socket.on('close', () => {
      this.ended = true
      this.wake()
    })
    socket.on('error', (error) => {
      this.failure = error
      this.ended = true
      this.wake()
    })
  }

  /** Connect to a unix socket (fails with SOCKET_CONNECT_FAILED, e.g. when nothing listens there). */
  static connect(path: string, options: {timeoutMs?: number} = {}): Promise<UnixSocketClient> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_SOCKET_TIMEOUT_MS
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({path})
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new VirtlabError('SOCKET_TIMEOUT', `Connecting to ${path} timed out after ${timeoutMs} ms`))
      }, timeoutMs)
      socket.once('connect', () => {
        clearTimeout(timer)
        socket.removeAllListeners('error')
        resolve(new UnixSocketClient(socket, path))
      })
      socket.once('error', (error: Error & {code?: string}) => {
        clearTimeout(timer)
        reject(new VirtlabError('SOCKET_CONNECT_FAILED', `Cannot connect to ${path}: ${error.code ?? error.message}`, {
          cause: error,
          hint: error.code === 'ENOENT' || error.code === 'ECONNREFUSED' ? 'Is the VM (QEMU) running? It creates this socket.' : undefined,
        }))
      })
    })
  }

  get closed(): boolean {
    return this.ended
  }

  /** Bytes received and not yet consumed (for diagnostics). */
  pending(): number {
    return this.buffer.length
  }

  write(data: string | Uint8Array): Promise<void> {
    if (this.ended) return Promise.reject(this.closedError())
    return new Promise((resolve, reject) => {
      this.socket.write(data, (error) => (error ? reject(this.wrap(error)) : resolve()))
    })
  }

  /** The next line (without its line ending). */
  async readLine(timeoutMs = DEFAULT_SOCKET_TIMEOUT_MS): Promise<string> {
    const line = await this.take((buffer) => {
      const index = buffer.indexOf(0x0a)
      return index < 0 ? undefined : index + 1
    }, timeoutMs, 'a line')
    return line.toString('utf8').replace(/\r?\n$/, '')
  }

  /** Drop everything up to and including the next occurrence of `byte`. */
  async discardThrough(byte: number, timeoutMs = DEFAULT_SOCKET_TIMEOUT_MS): Promise<void> {
    await this.take((buffer) => {
      const index = buffer.indexOf(byte)
      return index < 0 ? undefined : index + 1
    }, timeoutMs, `byte 0x${byte.toString(16)}`)
  }

  /**
   * The next JSON object on its own line. Blank lines are skipped; a line that is not a JSON
   * object is skipped too when `skipInvalid` (stale or partial data), else it is an error.
   */
  async readJson(timeoutMs = DEFAULT_SOCKET_TIMEOUT_MS, options: {skipInvalid?: boolean} = {}): Promise<JsonObject> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const line = (await this.readLine(Math.max(1, deadline - Date.now()))).trim()
      if (line === '') continue
      let value: unknown
      try {
        value = JSON.parse(line)
      } catch {
        if (options.skipInvalid) continue
        throw new VirtlabError('SOCKET_PROTOCOL', `Not JSON from ${this.path}: ${line.slice(0, 120)}`)
      }
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as JsonObject
      if (!options.skipInvalid) throw new VirtlabError('SOCKET_PROTOCOL', `Not a JSON object from ${this.path}: ${line.slice(0, 120)}`)
    }
  }

  /**
   * Send one JSON object (a line) and read JSON lines until `accept` says one is the reply.
   * Messages that are not accepted are handed to `onOther` (e.g. QMP events).
   */
  async request(
    message: JsonObject,
    options: {timeoutMs?: number; accept?: (reply: JsonObject) => boolean; onOther?: (message: JsonObject) => void} = {},
  ): Promise<JsonObject> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_SOCKET_TIMEOUT_MS
    const deadline = Date.now() + timeoutMs
    await this.write(JSON.stringify(message) + '\n')
    for (;;) {
      const reply = await this.readJson(Math.max(1, deadline - Date.now()))
      if (options.accept === undefined || options.accept(reply)) return reply
      options.onOther?.(reply)
    }
  }

  /** Run conversations one at a time on this connection. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn)
    this.queue = run.catch(() => undefined)
    return run
  }

  /** Wait until the peer closes the connection. */
  async waitClosed(timeoutMs = DEFAULT_SOCKET_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!this.ended) {
      if (!(await this.waitForData(deadline))) {
        throw new VirtlabError('SOCKET_TIMEOUT', `${this.path} still open after ${timeoutMs} ms`)
      }
      this.buffer = Buffer.alloc(0)
    }
  }

  close(): void {
    this.ended = true
    this.socket.destroy()
    this.wake()
  }

  private async take(find: (buffer: Buffer) => number | undefined, timeoutMs: number, what: string): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const end = find(this.buffer)
      if (end !== undefined) {
        const taken = this.buffer.subarray(0, end)
        this.buffer = this.buffer.subarray(end)
        return taken
      }
      if (this.ended) throw this.closedError()
      if (!(await this.waitForData(deadline))) {
        throw new VirtlabError('SOCKET_TIMEOUT', `No ${what} from ${this.path} within ${timeoutMs} ms`)
      }
    }
  }

  /** Resolves true when data (or the end) arrived, false at the deadline. */
  private waitForData(deadline: number): Promise<boolean> {
    const remaining = deadline - Date.now()
    if (remaining <= 0) return Promise.resolve(false)
    return new Promise((resolve) => {
      const waiter = (): void => {
        clearTimeout(timer)
        resolve(true)
      }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter)
        resolve(false)
      }, remaining)
      this.waiters.push(waiter)
    })
  }

  private wake(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const waiter of waiters) waiter()
  }

  private closedError(): VirtlabError {
    return new VirtlabError('SOCKET_CLOSED', `${this.path}: connection closed`, this.failure === undefined ? {} : {cause: this.failure})
  }

  private wrap(error: Error): VirtlabError {
    return new VirtlabError('SOCKET_CLOSED', `${this.path}: ${error.message}`, {cause: error})
  }
}

function errorText(reply: JsonObject): string {
  const error = reply.error as {class?: string; desc?: string} | undefined
  return `${error?.desc ?? 'error'}${error?.class ? ` (${error.class})` : ''}`
}

/** Unix sockets on this machine. */
export const localSockets: SocketConnector = {
  connect: (path, options) => UnixSocketClient.connect(path, options ?? {}),
}

// -------------------------------------------------------------------------------------------------
// QMP

/** A QMP session: greeting, qmp_capabilities, then commands (matched to replies by id; events kept). */
export class QmpClient {
  readonly events: JsonObject[] = []
  private counter = 0

  private constructor(private readonly socket: UnixSocketClient, readonly greeting: JsonObject) {}

  static async connect(path: string, options: SocketOptions & {sockets?: SocketConnector} = {}): Promise<QmpClient> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_SOCKET_TIMEOUT_MS
    const socket = await (options.sockets ?? localSockets).connect(path, {timeoutMs})
    try {
      const greeting = await socket.readJson(timeoutMs)
      if (!('QMP' in greeting)) throw new VirtlabError('QMP_PROTOCOL', `${path} is not a QMP socket (no greeting)`)
      const client = new QmpClient(socket, greeting)
      await client.execute('qmp_capabilities', undefined, {timeoutMs})
      return client
    } catch (error) {
      socket.close()
      throw error
    }
  }

  /** Run a QMP command; its "return" value, or QMP_ERROR. */
  execute(command: string, args?: JsonObject, options: {timeoutMs?: number} = {}): Promise<unknown> {
    return this.socket.exclusive(async () => {
      const id = `virtlab-${++this.counter}`
      const reply = await this.socket.request(
        {execute: command, ...(args === undefined ? {} : {arguments: args}), id},
        {
          timeoutMs: options.timeoutMs ?? DEFAULT_SOCKET_TIMEOUT_MS,
          accept: (m) => m.id === id,
          onOther: (m) => {
            if ('event' in m) this.events.push(m)
          },
        },
      )
      if ('error' in reply) throw new VirtlabError('QMP_ERROR', `QMP ${command}: ${errorText(reply)}`)
      return reply.return
    })
  }

  async queryStatus(options: {timeoutMs?: number} = {}): Promise<{status: string; running: boolean}> {
    return (await this.execute('query-status', undefined, options)) as {status: string; running: boolean}
  }

  /** Ask QEMU to exit and wait until it closes the monitor. */
  async quit(options: {timeoutMs?: number} = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_SOCKET_TIMEOUT_MS
    try {
      await this.execute('quit', undefined, {timeoutMs})
    } catch (error) {
      // QEMU may close the socket before (or instead of) replying: that is the quit we asked for.
      if (!(error instanceof VirtlabError && error.code === 'SOCKET_CLOSED')) throw error
    }
    await this.socket.waitClosed(timeoutMs)
  }

  close(): void {
    this.socket.close()
  }
}

// -------------------------------------------------------------------------------------------------
// QEMU guest agent over a chardev socket

/**
 * Raw QEMU guest agent commands over the host end of the virtio-serial chardev socket.
 *
 * The agent's byte stream may hold stale data: replies to commands a previous client gave up
 * on, or commands QEMU buffered while the guest had not yet opened the port. So before the first
 * command (and after any timeout) the channel resynchronises: it sends 0xFF (the agent resets its
 * JSON parser; it may answer that with a parse error) and guest-sync-delimited with a fresh id;
 * the agent answers 0xFF then {"return": id}; everything before the 0xFF is discarded, and replies
 * carrying another id (older syncs) are skipped.
 */
export class GuestAgentSocketChannel {
  private synced = false

  private constructor(private readonly socket: UnixSocketClient) {}

  static async connect(path: string, options: SocketOptions & {sockets?: SocketConnector} = {}): Promise<GuestAgentSocketChannel> {
    const {sockets, ...rest} = options
    return new GuestAgentSocketChannel(await (sockets ?? localSockets).connect(path, rest))
  }

  get path(): string {
    return this.socket.path
  }

  /** Resynchronise now (normally automatic). Fails with GUEST_AGENT_TIMEOUT when the agent does not answer. */
  sync(timeoutMs = DEFAULT_SOCKET_TIMEOUT_MS): Promise<void> {
    return this.socket.exclusive(() => this.syncLocked(timeoutMs))
  }

  /** Run one agent command; its "return" value, or GUEST_AGENT_ERROR. */
  command(execute: string, args: JsonObject | undefined, timeoutMs = DEFAULT_SOCKET_TIMEOUT_MS): Promise<unknown> {
    return this.socket.exclusive(async () => {
      const deadline = Date.now() + timeoutMs
      if (!this.synced) await this.syncLocked(timeoutMs)
      let reply: JsonObject
      try {
        reply = await this.socket.request(
          {execute, ...(args === undefined ? {} : {arguments: args})},
          {timeoutMs: Math.max(1, deadline - Date.now()), accept: (m) => 'return' in m || 'error' in m},
        )
      } catch (error) {
        this.synced = false
        throw this.timeoutAsAgentError(error, execute, timeoutMs)
      }
      if ('error' in reply) throw new VirtlabError('GUEST_AGENT_ERROR', `guest agent ${execute}: ${errorText(reply)}`)
      return reply.return
    })
  }

  close(): void {
    this.socket.close()
  }

  private async syncLocked(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    const id = randomInt(1, 2 ** 31)
    try {
      await this.socket.write(Buffer.concat([Buffer.from([0xff]), Buffer.from(JSON.stringify({execute: 'guest-sync-delimited', arguments: {id}}) + '\n')]))
      for (;;) {
        await this.socket.discardThrough(0xff, Math.max(1, deadline - Date.now()))
        const reply = await this.socket.readJson(Math.max(1, deadline - Date.now()), {skipInvalid: true})
        if (reply.return === id) {
          this.synced = true
          return
        }
      }
    } catch (error) {
      this.synced = false
      throw this.timeoutAsAgentError(error, 'guest-sync-delimited', timeoutMs)
    }
  }

  private timeoutAsAgentError(error: unknown, execute: string, timeoutMs: number): unknown {
    if (error instanceof VirtlabError && error.code === 'SOCKET_TIMEOUT') {
      return new VirtlabError('GUEST_AGENT_TIMEOUT', `The guest agent did not answer ${execute} within ${timeoutMs} ms (${this.socket.path})`, {
        cause: error,
        hint: 'Is the guest up, with qemu-ga running on the org.qemu.guest_agent.0 port?',
      })
    }
    return error
  }
}
