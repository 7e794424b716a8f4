/**
 * The one CommandRunner for tests. It records every call and answers, in this order:
 *   1. an aborted signal -> COMMAND_NOT_RUN "was cancelled" (like ExecaRunner);
 *   2. `hangOn` matchers: the call blocks until its signal aborts (COMMAND_NOT_RUN) or its
 *      timeout passes (COMMAND_TIMEOUT);
 *   3. `failAtCall` / `failOn` injected failures;
 *   4. `on(prefix | predicate, answer)` rules, the latest matching one first, so a test can
 *      override one answer of a preset. A rule models an installed tool: once `install` /
 *      `setPrograms` narrowed the installed set, a rule for a program (bare name) outside it
 *      throws COMMAND_NOT_RUN "spawn ENOENT" instead;
 *   5. the handler given to the constructor, for calls no rule matched: a FakeHost's model,
 *      `commandNotFound` (only the scripted tools exist), or by default exit 0 with no output.
 *      The handler decides for itself what exists; the installed set does not gate it.
 * Like ExecaRunner, a non-zero exit throws COMMAND_FAILED (argv, exit code, stderr tail) unless
 * `allowFailure`. `which()` reports every program until `install` / `setPrograms` narrows it.
 */
import {VirtlabError} from '../../src/errors.js'
import type {CommandRunner, RunOptions, RunResult} from '../../src/host/runner.js'
import {stderrTail} from '../../src/host/runner.js'

export type Handler = (argv: readonly string[], options: RunOptions) => RunResult | Promise<RunResult>

export type ArgvMatcher = RegExp | ((argv: readonly string[]) => boolean)

/** A rule's answer; exitCode defaults to 0, the outputs to ''. */
export interface Answer {exitCode?: number; stdout?: string; stderr?: string}
export type Responder = (argv: readonly string[], options: RunOptions) => Answer | Promise<Answer>

interface FailureRule {
  match: (argv: readonly string[], callIndex: number) => boolean
  result: Partial<RunResult> & {exitCode: number}
  /** How many more times it fires (Infinity: always). */
  times: number
}

function matches(matcher: ArgvMatcher, argv: readonly string[]): boolean {
  return typeof matcher === 'function' ? matcher(argv) : matcher.test(argv.join(' '))
}

/** What ExecaRunner throws when a program is not on PATH. */
export function notFoundError(argv: readonly string[]): VirtlabError {
  const file = argv[0] ?? ''
  return new VirtlabError('COMMAND_NOT_RUN', `${file} could not start (spawn ${file} ENOENT)`, {command: {argv}})
}

/** What ExecaRunner throws when a command hits its timeout. */
export function timeoutError(argv: readonly string[], ms: number): VirtlabError {
  return new VirtlabError('COMMAND_TIMEOUT', `${argv[0]} timed out after ${Math.round(ms / 1000)} s`, {command: {argv}})
}

/** A handler for a host where only the commands a test scripted with `on()` exist. */
export const commandNotFound: Handler = (argv) => {
  throw notFoundError(argv)
}

const succeed: Handler = (argv) => ({argv, exitCode: 0, stdout: '', stderr: ''})

export class FakeRunner implements CommandRunner {
  /** Every argv run, in order (including the ones made to fail). */
  readonly calls: string[][] = []
  /** Every call with its options, in order (`records[i].argv` is `calls[i]`). */
  readonly records: {argv: string[]; options: RunOptions}[] = []
  private readonly failures: FailureRule[] = []
  private readonly hangs: {match: ArgvMatcher; onStart?: () => void}[] = []
  private readonly rules: {match: (argv: readonly string[]) => boolean; respond: Responder}[] = []
  /** Installed programs: name -> path; undefined: every program is installed. */
  private programs: Map<string, string> | undefined

  constructor(private readonly handler: Handler = succeed) {}

  /** Answer commands whose argv starts with this prefix (or matches the predicate). Later rules win. */
  on(match: readonly string[] | ((argv: readonly string[]) => boolean), respond: Responder | Answer): this {
    const m = typeof match === 'function' ? match : (argv: readonly string[]) => match.every((a, i) => argv[i] === a)
    this.rules.push({match: m, respond: typeof respond === 'function' ? respond : () => respond})
    return this
  }

  /** Fail the Nth call (1-based) with this exit code and stderr, without running it. */
  failAtCall(n: number, stderr = 'injected failure', exitCode = 1): this {
    this.failures.push({match: (_a, i) => i === n, result: {exitCode, stderr}, times: 1})
    return this
  }

  /** Fail calls whose argv matches (the argv joined by spaces for a RegExp), `times` times. */
  failOn(matcher: ArgvMatcher, stderr = 'injected failure', exitCode = 1, times = Infinity): this {
    this.failures.push({match: (a) => matches(matcher, a), result: {exitCode, stderr}, times})
    return this
  }

  /** Make matching calls hang until their signal aborts (or their timeout passes). */
  hangOn(matcher: ArgvMatcher, onStart?: () => void): this {
    this.hangs.push({match: matcher, ...(onStart ? {onStart} : {})})
    return this
  }

  /** Exactly these programs are installed (`which` finds them; others do not start). */
  setPrograms(programs: string[]): this {
    this.programs = new Map()
    return this.install(...programs)
  }

  /** Make programs installed (at /usr/bin/NAME for a bare name); narrows "every program" to these. */
  install(...programs: string[]): this {
    this.programs ??= new Map()
    for (const p of programs) this.programs.set(p, p.includes('/') ? p : `/usr/bin/${p}`)
    return this
  }

  uninstall(...programs: string[]): this {
    if (this.programs === undefined) throw new Error('FakeRunner.uninstall: call install() or setPrograms() first (every program is installed)')
    for (const p of programs) this.programs.delete(p)
    return this
  }

  /** Calls whose argv matches. */
  callsMatching(matcher: ArgvMatcher): string[][] {
    return this.calls.filter((c) => matches(matcher, c))
  }

  /** The argvs run so far, joined with spaces (for readable assertions). */
  commandLines(): string[] {
    return this.calls.map((c) => c.join(' '))
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    this.calls.push([...argv])
    this.records.push({argv: [...argv], options})
    const callIndex = this.calls.length
    const [file] = argv
    if (file === undefined) throw new VirtlabError('RUNNER_EMPTY_ARGV', 'internal: empty argv')
    if (options.signal?.aborted) throw this.cancelled(argv)
    const hang = this.hangs.find((h) => matches(h.match, argv))
    if (hang) {
      hang.onStart?.()
      await new Promise<void>((resolve) => {
        if (options.signal?.aborted) {
          resolve()
          return
        }
        const timer = options.timeoutMs === undefined ? undefined : setTimeout(resolve, options.timeoutMs)
        options.signal?.addEventListener('abort', () => {
          if (timer) clearTimeout(timer)
          resolve()
        }, {once: true})
      })
      if (options.signal?.aborted) throw this.cancelled(argv)
      throw timeoutError(argv, options.timeoutMs ?? 0)
    }
    const result = await this.answer(argv, options, callIndex)
    if (result.exitCode !== 0 && !options.allowFailure) {
      throw new VirtlabError('COMMAND_FAILED', `${file} exited with ${result.exitCode}`, {
        command: {argv, exitCode: result.exitCode, stderrTail: stderrTail(result.stderr || result.stdout)},
      })
    }
    return result
  }

  async which(program: string): Promise<string | undefined> {
    if (this.programs !== undefined) return this.programs.get(program)
    return program.includes('/') ? program : `/usr/bin/${program}`
  }

  private async answer(argv: readonly string[], options: RunOptions, callIndex: number): Promise<RunResult> {
    const failure = this.failures.find((r) => r.times > 0 && r.match(argv, callIndex))
    if (failure) {
      failure.times--
      return {argv, stdout: '', stderr: '', ...failure.result}
    }
    const rule = this.rules.findLast((r) => r.match(argv))
    if (rule) {
      const file = argv[0] as string
      if (this.programs !== undefined && !file.includes('/') && !this.programs.has(file)) throw notFoundError(argv)
      const a = await rule.respond(argv, options)
      return {argv, exitCode: a.exitCode ?? 0, stdout: a.stdout ?? '', stderr: a.stderr ?? ''}
    }
    return this.handler(argv, options)
  }

  private cancelled(argv: readonly string[]): VirtlabError {
    return new VirtlabError('COMMAND_NOT_RUN', `${argv[0]} was cancelled`, {command: {argv, signal: 'SIGTERM'}})
  }
}
