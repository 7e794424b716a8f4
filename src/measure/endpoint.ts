/**
 * Where a measurement command runs: the lab's host side (a network namespace, through the
 * CommandRunner: `ip netns exec <ns> <argv>`) or a guest (through the QEMU guest agent:
 * guest-exec). Only argv arrays, never a shell.
 *
 * Commands are written with a logical program first ("iperf3", "ping"); each endpoint maps it to
 * what runs there (guest: /usr/bin/iperf3, /bin/busybox ping; host: `ping` or `busybox ping`).
 * `resolve(argv)` gives the exact argv executed, which is what results record.
 */
import {VirtlabError} from '../errors.js'
import type {GuestAgent} from '../guest/agent.js'
import type {CommandRunner} from '../host/runner.js'

export interface EndpointRunResult {
  exitCode: number
  stdout: string
  stderr: string
}

export interface HandleStatus {
  running: boolean
  /** When it exited: its exit code and output (when the endpoint can capture it). */
  result?: EndpointRunResult
}

/** A background process on an endpoint (an iperf3 server). */
export interface Handle {
  readonly argv: readonly string[]
  status(): Promise<HandleStatus>
  /** Stop it (SIGTERM) and wait until it is gone; safe to call twice. */
  stop(): Promise<void>
}

export interface Endpoint {
  /** "host" or the VM's name. */
  readonly name: string
  /** The address peers use to reach this endpoint (no prefix length). */
  readonly address: string
  /** The exact argv this endpoint runs for a logical argv. */
  resolve(argv: readonly string[]): string[]
  /** signal: stop waiting (a guest of the test died); the command is killed where the endpoint can. */
  run(argv: readonly string[], opts: {timeoutMs: number; signal?: AbortSignal | undefined}): Promise<EndpointRunResult>
  start(argv: readonly string[]): Promise<Handle>
}

export type ProgramMap = Record<string, readonly string[]>

function mapProgram(argv: readonly string[], programs: ProgramMap): string[] {
  const [program, ...rest] = argv
  if (program === undefined) throw new VirtlabError('MEASURE_BAD_SPEC', 'internal: empty argv for an endpoint')
  return [...(programs[program] ?? [program]), ...rest]
}

/** The lab's host side: commands in its network namespace (or the host's own when netns is undefined). */
export class NetnsEndpoint implements Endpoint {
  constructor(
    private readonly runner: CommandRunner,
    readonly name: string,
    readonly address: string,
    private readonly netns: string | undefined,
    private readonly programs: ProgramMap = {},
  ) {}

  resolve(argv: readonly string[]): string[] {
    const mapped = mapProgram(argv, this.programs)
    return this.netns === undefined ? mapped : ['ip', 'netns', 'exec', this.netns, ...mapped]
  }

  async run(argv: readonly string[], opts: {timeoutMs: number; signal?: AbortSignal | undefined}): Promise<EndpointRunResult> {
    const result = await this.runner.run(this.resolve(argv), {timeoutMs: opts.timeoutMs, allowFailure: true, ...(opts.signal === undefined ? {} : {signal: opts.signal})})
    return {exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr}
  }

  async start(argv: readonly string[]): Promise<Handle> {
    const full = this.resolve(argv)
    const controller = new AbortController()
    let settled: EndpointRunResult | undefined
    let failure: unknown
    const promise = this.runner
      .run(full, {signal: controller.signal, allowFailure: true, timeoutMs: 24 * 3600_000})
      .then((r) => {
        settled = {exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr}
      }, (error: unknown) => {
        failure = error
      })
    // Let a program that fails at once (bad option, port in use) report before we hand back the handle.
    await new Promise((resolve) => setTimeout(resolve, 0))
    const handle: Handle = {
      argv: full,
      status: async () => {
        if (failure !== undefined && !controller.signal.aborted) {
          throw failure instanceof Error ? failure : new VirtlabError('MEASURE_START_FAILED', `${full.join(' ')} failed`)
        }
        return settled === undefined ? {running: failure === undefined} : {running: false, result: settled}
      },
      stop: async () => {
        if (!controller.signal.aborted) controller.abort(new Error('stopped'))
        await promise
      },
    }
    return handle
  }
}

/** Where the built-in guest keeps its programs (src/guest/image.ts). */
export const BUILTIN_GUEST_PROGRAMS: ProgramMap = {
  iperf3: ['/usr/bin/iperf3'],
  ping: ['/bin/busybox', 'ping'],
  kill: ['/bin/busybox', 'kill'],
}

/** A guest: guest-exec through the QEMU guest agent (src/guest/agent.ts). */
export class GuestEndpoint implements Endpoint {
  constructor(
    private readonly agent: GuestAgent,
    readonly name: string,
    readonly address: string,
    private readonly programs: ProgramMap = BUILTIN_GUEST_PROGRAMS,
  ) {}

  resolve(argv: readonly string[]): string[] {
    return mapProgram(argv, this.programs)
  }

  async run(argv: readonly string[], opts: {timeoutMs: number; signal?: AbortSignal | undefined}): Promise<EndpointRunResult> {
    const [path, ...args] = this.resolve(argv)
    const exec = this.agent.exec(path as string, args, {captureOutput: true, timeoutMs: opts.timeoutMs})
    const signal = opts.signal
    // The guest agent cannot cancel a guest-exec: stop waiting for it when the signal fires.
    const result = signal === undefined ? await exec : await new Promise<Awaited<typeof exec>>((resolve, reject) => {
      const onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new VirtlabError('MEASURE_INTERRUPTED', `${this.name}: stopped waiting for ${path ?? ''}`))
      if (signal.aborted) return onAbort()
      signal.addEventListener('abort', onAbort, {once: true})
      exec.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
    })
    return {exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr}
  }

  async start(argv: readonly string[]): Promise<Handle> {
    const full = this.resolve(argv)
    const [path, ...args] = full
    const pid = await this.agent.execBackground(path as string, args)
    let stopped = false
    const status = async (): Promise<HandleStatus> => {
      const s = await this.agent.execStatus(pid)
      if (!s.exited) return {running: true}
      return {running: false, result: {exitCode: s.exitCode ?? 0, stdout: s.stdout ?? '', stderr: s.stderr ?? ''}}
    }
    return {
      argv: full,
      status,
      stop: async () => {
        if (stopped) return
        stopped = true
        if (!(await status()).running) return
        const [killPath, ...killArgs] = this.resolve(['kill', '-TERM', String(pid)])
        await this.agent.exec(killPath as string, killArgs, {captureOutput: true, timeoutMs: 10_000})
        for (let i = 0; i < 50; i += 1) {
          if (!(await status()).running) return
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
        throw new VirtlabError('MEASURE_STOP_FAILED', `${this.name}: ${full.join(' ')} (guest pid ${pid}) did not exit after SIGTERM`)
      },
    }
  }
}
