/**
 * The one command-runner seam. Every external command virtlab runs goes through a CommandRunner:
 * argv arrays only, never a shell, a timeout on every call. Tests substitute a fake runner.
 */
import {VirtlabError} from '../errors.js'

export interface RunOptions {
  /** Kill the command after this long (default 60 s). */
  timeoutMs?: number
  /** Text written to the command's stdin. */
  input?: string
  /** Extra environment variables. */
  env?: Record<string, string>
  cwd?: string
  /** Return a non-zero exit as a result instead of throwing. */
  allowFailure?: boolean
  /** Abort the command (SIGTERM) when this signal fires. */
  signal?: AbortSignal
}

export interface RunResult {
  argv: readonly string[]
  exitCode: number
  stdout: string
  stderr: string
}

export interface CommandRunner {
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>
  /** Is this program on PATH (or an absolute path that exists and is executable)? */
  which(program: string): Promise<string | undefined>
  /** which() for many programs at once (one round trip on a remote transport). Optional: use whichMany(runner, programs). */
  whichMany?(programs: readonly string[]): Promise<Map<string, string | undefined>>
}

/** Many which() lookups in one call (CommandRunner.whichMany when present, else one each). */
export async function whichMany(runner: CommandRunner, programs: readonly string[]): Promise<Map<string, string | undefined>> {
  if (programs.length === 0) return new Map()
  if (runner.whichMany) return runner.whichMany(programs)
  const out = new Map<string, string | undefined>()
  for (const p of programs) out.set(p, await runner.which(p))
  return out
}

export type CommandListener = (argv: readonly string[]) => void

export const DEFAULT_TIMEOUT_MS = 60_000

export function stderrTail(text: string, lines = 8): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n')
}

/** The real runner: execa with shell disabled. */
export class ExecaRunner implements CommandRunner {
  constructor(private readonly listener?: CommandListener, private readonly baseEnv?: Record<string, string>) {}

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const [file, ...args] = argv
    if (file === undefined) throw new VirtlabError('RUNNER_EMPTY_ARGV', 'internal: empty argv')
    this.listener?.(argv)
    // Loaded on first use: commands that run nothing (validate, render) start faster.
    const {execa} = await import('execa')
    const result = await execa(file, args, {
      shell: false,
      reject: false,
      stripFinalNewline: false,
      timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      input: options.input,
      stdin: options.input === undefined ? 'ignore' : 'pipe',
      env: {...this.baseEnv, ...options.env},
      cwd: options.cwd,
      cancelSignal: options.signal,
      forceKillAfterDelay: 3000,
    })
    const stdout = String(result.stdout ?? '')
    const stderr = String(result.stderr ?? '')
    // A timed-out or cancelled command is a failure even when it trapped SIGTERM and exited 0 (QEMU does).
    if (result.timedOut || result.isCanceled || (result.failed && result.exitCode === undefined)) {
      const reason = result.timedOut
        ? `timed out after ${Math.round((options.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000)} s`
        : result.isCanceled
          ? 'was cancelled'
          : result.signal
            ? `was killed by ${result.signal}`
            : `could not start (${result.originalMessage ?? 'unknown reason'})`
      throw new VirtlabError(result.timedOut ? 'COMMAND_TIMEOUT' : 'COMMAND_NOT_RUN', `${file} ${reason}`, {
        command: {argv, signal: result.signal ?? undefined, stderrTail: stderrTail(stderr)},
        hint: (result as {code?: string}).code === 'ENOENT' ? `Install ${file} (virtlab doctor --fix installs the lab's packages).` : undefined,
      })
    }
    const exitCode = result.exitCode ?? 0
    if (exitCode !== 0 && !options.allowFailure) {
      throw new VirtlabError('COMMAND_FAILED', `${file} exited with ${exitCode}`, {
        command: {argv, exitCode, stderrTail: stderrTail(stderr || stdout)},
      })
    }
    return {argv, exitCode, stdout, stderr}
  }

  async which(program: string): Promise<string | undefined> {
    const {access, constants} = await import('node:fs/promises')
    const candidates = program.includes('/')
      ? [program]
      : (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
        .split(':')
        .filter(Boolean)
        .map((dir) => `${dir}/${program}`)
    for (const candidate of candidates) {
      try {
        await access(candidate, constants.X_OK)
        return candidate
      } catch {
        // not here
      }
    }
    return undefined
  }
}
