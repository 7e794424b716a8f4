/**
 * A CommandRunner for tests: records every argv, answers through a handler (usually a FakeHost),
 * and can be told to fail at call N, fail on a matching argv, or hang on a matching argv until
 * the run is aborted (to test SIGINT / timeouts). Behaves like ExecaRunner: a non-zero exit
 * throws COMMAND_FAILED unless allowFailure; an abort throws COMMAND_NOT_RUN ("was cancelled").
 */
import {VirtlabError} from '../../src/errors.js'
import type {CommandRunner, RunOptions, RunResult} from '../../src/host/runner.js'
import {stderrTail} from '../../src/host/runner.js'

export type Handler = (argv: readonly string[], options: RunOptions) => RunResult | Promise<RunResult>

export type ArgvMatcher = RegExp | ((argv: readonly string[]) => boolean)

interface Rule {
  match: (argv: readonly string[], callIndex: number) => boolean
  result: Partial<RunResult> & {exitCode: number}
  /** How many more times it fires (Infinity: always). */
  times: number
}

function matches(matcher: ArgvMatcher, argv: readonly string[]): boolean {
  return typeof matcher === 'function' ? matcher(argv) : matcher.test(argv.join(' '))
}

export class FakeRunner implements CommandRunner {
  /** Every argv run, in order (including the ones made to fail). */
  readonly calls: string[][] = []
  private readonly failures: Rule[] = []
  private readonly hangs: {match: ArgvMatcher; onStart?: () => void}[] = []
  private programs = new Set<string>()

  constructor(private readonly handler: Handler = (argv) => ({argv, exitCode: 0, stdout: '', stderr: ''})) {}

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

  /** Programs `which` reports as installed (default: every program). */
  setPrograms(programs: string[]): this {
    this.programs = new Set(programs)
    return this
  }

  /** Calls whose argv matches. */
  callsMatching(matcher: ArgvMatcher): string[][] {
    return this.calls.filter((c) => matches(matcher, c))
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    this.calls.push([...argv])
    const callIndex = this.calls.length
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
      throw new VirtlabError('COMMAND_TIMEOUT', `${argv[0]} timed out`, {command: {argv}})
    }
    let result: RunResult
    const rule = this.failures.find((r) => r.times > 0 && r.match(argv, callIndex))
    if (rule) {
      rule.times--
      result = {argv, stdout: '', stderr: '', ...rule.result}
    } else {
      result = await this.handler(argv, options)
    }
    if (result.exitCode !== 0 && !options.allowFailure) {
      throw new VirtlabError('COMMAND_FAILED', `${argv[0]} exited with ${result.exitCode}`, {
        command: {argv, exitCode: result.exitCode, stderrTail: stderrTail(result.stderr || result.stdout)},
      })
    }
    return result
  }

  async which(program: string): Promise<string | undefined> {
    if (this.programs.size > 0 && !this.programs.has(program)) return undefined
    return program.includes('/') ? program : `/usr/bin/${program}`
  }

  private cancelled(argv: readonly string[]): VirtlabError {
    return new VirtlabError('COMMAND_NOT_RUN', `${argv[0]} was cancelled`, {command: {argv, signal: 'SIGTERM'}})
  }
}
