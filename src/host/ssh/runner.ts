/**
 * SshRunner: the CommandRunner of an SSH target. Each run is one multiplexed ssh session over the
 * connection's ControlMaster running
 *
 *   sh -c WRAPPER virtlab-run <pidfile> <secs> <cwd> [sudo -n --] [env K=V...] argv...
 *
 * with every element quoted by shellQuote. The wrapper records its process group (so a local
 * timeout or cancel can kill the remote command: closing an ssh session does not signal a
 * command that has no terminal), changes directory, and runs the command under
 * `timeout --foreground` as a safety net for when the connection itself is gone. Results and
 * errors have the same shape as ExecaRunner's: COMMAND_FAILED, COMMAND_TIMEOUT, COMMAND_NOT_RUN
 * (with the stderr tail); ssh's own failures are SSH_CONNECTION_LOST, a refused sudo SSH_SUDO_DENIED.
 */
import {VirtlabError} from '../../errors.js'
import type {CommandRunner, RunOptions, RunResult} from '../runner.js'
import {DEFAULT_TIMEOUT_MS, stderrTail} from '../runner.js'
import type {SshConnection} from './connection.js'
import {remoteCommand} from './quote.js'

/**
 * POSIX sh; $1 pid file, $2 timeout in seconds, $3 working directory ('' = home), $4 the program
 * to look up first ('' = none: sudo looks it up), then the command. It records the process
 * group and its leader's start time ("pgid starttime": a pid number alone could be reused),
 * and execs timeout(1): no extra process stays, no extra command runs. The look-up gives a
 * missing program its own marked message whatever the remote locale (timeout's is translated).
 */
const WRAPPER = [
  'p=$1 t=$2 d=$3 c=$4; shift 4',
  'f() { set -- $1; g=$3; }',
  'h() { set -- $1; s0=${20}; }',
  '{ read -r s < /proc/$$/stat && f "${s##*) }" && read -r s < /proc/$g/stat && h "${s##*) }"; } 2>/dev/null || { echo "virtlab-ssh: cannot read /proc" >&2; exit 125; }',
  'echo "$g $s0" > "$p" || { echo "virtlab-ssh: cannot write $p" >&2; exit 125; }',
  'if [ -n "$d" ]; then cd -- "$d" 2>/dev/null || { echo "virtlab-ssh: cannot change directory to $d" >&2; exit 125; }; fi',
  'if [ -n "$c" ] && ! command -v -- "$c" >/dev/null 2>&1; then echo "virtlab-ssh: $c: command not found" >&2; exit 127; fi',
  'exec timeout --foreground -k 5 "$t" "$@"',
].join('\n')

/**
 * $1 pid file: wait up to 2 s for it (the run may be starting); if its group leader is still the
 * same process (same start time), TERM the group, and KILL what is left 3 s later (like
 * ExecaRunner's forceKillAfterDelay) from a detached background job, so the caller does not wait.
 */
const KILL = [
  'h() { set -- $1; s1=${20}; }',
  'same() { { read -r s < /proc/$g/stat && h "${s##*) }"; } 2>/dev/null && [ "$s1" = "$s0" ]; }',
  'i=0; while ! [ -s "$1" ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done',
  'read -r g s0 < "$1" 2>/dev/null || exit 0',
  '[ -n "$g" ] && same || exit 0',
  'kill -TERM "-$g" 2>/dev/null || exit 0',
  '(sleep 3; same && kill -KILL "-$g" 2>/dev/null) </dev/null >/dev/null 2>&1 &',
  'exit 0',
].join('\n')

/** Longest remote command string we send (the remote shell gets it as one argv element: Linux caps those at 128 KiB). */
export const MAX_REMOTE_COMMAND = 120 * 1024

/** How much longer than the timeout the local ssh client may run (when even the remote kill cannot get through). */
const BACKSTOP_MS = 20_000

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

export class SshRunner implements CommandRunner {
  private sequence = 0

  constructor(private readonly connection: SshConnection, private readonly options: {sudo?: boolean} = {}) {}

  get sudo(): boolean {
    return this.options.sudo ?? this.connection.target.sudo
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const [file] = argv
    if (file === undefined) throw new VirtlabError('RUNNER_EMPTY_ARGV', 'internal: empty argv')
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    const env = Object.entries(options.env ?? {})
    for (const [name] of env) {
      if (!ENV_NAME.test(name)) throw new VirtlabError('RUNNER_BAD_ENV', `internal: environment variable name ${JSON.stringify(name)} is not valid`)
    }
    const pidFile = `${this.connection.remoteDir}/${process.pid}-${++this.sequence}.pgid`
    const remoteSeconds = Math.ceil(timeoutMs / 1000) + 10
    const inner = [
      ...(this.sudo ? ['sudo', '-n', '--'] : []),
      ...(env.length > 0 ? ['env', ...env.map(([k, v]) => `${k}=${v}`)] : []),
      ...argv,
    ]
    const command = remoteCommand(['sh', '-c', WRAPPER, 'virtlab-run', pidFile, String(remoteSeconds), options.cwd ?? '', this.sudo ? '' : file, ...inner])
    if (command.length > MAX_REMOTE_COMMAND) {
      throw new VirtlabError('SSH_COMMAND_TOO_LONG', `${file}: the command line is ${command.length} bytes, more than the ${MAX_REMOTE_COMMAND} an SSH command can carry`, {
        command: {argv}, hint: 'Pass large data on stdin (input) or in a file instead of as arguments.',
      })
    }
    if (options.signal?.aborted) {
      throw new VirtlabError('COMMAND_NOT_RUN', `${file} was cancelled (on ${this.connection.target.url})`, {command: {argv}})
    }
    // Timeout and cancel kill the remote process group over the connection; the ssh session then
    // ends by itself (killing only the local ssh client would not: the master holds its pipes).
    let reason: 'timeout' | 'cancel' | undefined
    let killing: Promise<void> | undefined
    const fire = (why: 'timeout' | 'cancel') => {
      if (reason !== undefined) return
      reason = why
      killing = this.killRemote(pidFile)
    }
    let started = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const onAbort = () => {
      // Still waiting for a session: nothing runs remotely yet, nothing to kill.
      if (started) fire('cancel')
      else reason = 'cancel'
    }
    options.signal?.addEventListener('abort', onAbort, {once: true})
    // The timeout counts from when the command starts (not while it waits for a free session).
    const onStart = () => {
      if (reason !== undefined) return false
      started = true
      timer = setTimeout(() => fire('timeout'), timeoutMs)
      return true
    }
    let result: RunResult | undefined
    let failure: unknown
    try {
      // The local backstop only matters when the remote kill cannot get through.
      result = await this.connection.exec(command, {timeoutMs: timeoutMs + BACKSTOP_MS, input: options.input, allowFailure: true}, argv, {onStart})
    } catch (error) {
      failure = error
    } finally {
      if (timer !== undefined) clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      await killing
    }
    if (reason !== undefined) {
      const stderr = result?.stderr ?? (failure as VirtlabError | undefined)?.command?.stderrTail ?? ''
      const message = reason === 'timeout' ? `timed out after ${Math.round(timeoutMs / 1000)} s` : 'was cancelled'
      throw new VirtlabError(reason === 'timeout' ? 'COMMAND_TIMEOUT' : 'COMMAND_NOT_RUN', `${file} ${message} (on ${this.connection.target.url})`, {
        command: {argv, stderrTail: stderrTail(stderr)},
        ...(failure === undefined ? {} : {cause: failure}),
      })
    }
    if (failure !== undefined || result === undefined) throw failure
    const {exitCode, stdout, stderr} = result
    if (exitCode !== 0) this.checkNotRun(argv, exitCode, stderr)
    if (exitCode !== 0 && !options.allowFailure) {
      throw new VirtlabError('COMMAND_FAILED', `${file} exited with ${exitCode}`, {
        command: {argv, exitCode, stderrTail: stderrTail(stderr || stdout)},
      })
    }
    return {argv, exitCode, stdout, stderr}
  }

  /** The wrapper, timeout(1) or sudo could not start the command: the same COMMAND_NOT_RUN as a local spawn failure. */
  private checkNotRun(argv: readonly string[], exitCode: number, stderr: string): void {
    const file = argv[0] ?? ''
    const host = this.connection.target.url
    const tail = stderrTail(stderr)
    const firstLine = stderr.split('\n', 1)[0] ?? ''
    if (exitCode === 127 && /^virtlab-ssh: .*: command not found$/.test(firstLine)) {
      throw new VirtlabError('COMMAND_NOT_RUN', `${file} could not start on ${host} (not found)`, {
        command: {argv, stderrTail: tail},
        hint: `Install ${file} on ${host} (virtlab doctor --fix --host ... installs the lab's packages).`,
      })
    }
    if (exitCode === 125 && /^virtlab-ssh: /.test(firstLine)) {
      throw new VirtlabError('COMMAND_NOT_RUN', `${file} could not start on ${host} (${firstLine.slice('virtlab-ssh: '.length)})`, {command: {argv, stderrTail: tail}})
    }
    if ((exitCode === 127 || exitCode === 126) && /^timeout: failed to run command/.test(firstLine)) {
      throw new VirtlabError('COMMAND_NOT_RUN', `${file} could not start on ${host} (${firstLine.replace(/^timeout: failed to run command /, '')})`, {
        command: {argv, stderrTail: tail},
        hint: exitCode === 127 ? `Install ${file} on ${host} (virtlab doctor --fix --host ... installs the lab's packages).` : undefined,
      })
    }
    if (this.sudo && firstLine.startsWith('sudo: ')) {
      if (/a password is required|is not in the sudoers file|is not allowed to (execute|run)|may not run sudo|no tty present|a terminal is required/.test(stderr)) {
        throw new VirtlabError('SSH_SUDO_DENIED', `sudo -n refused to run ${file} as root on ${host}`, {
          command: {argv: ['sudo', '-n', '--', ...argv], exitCode, stderrTail: tail},
          hint: `Give ${this.connection.identity.user} passwordless sudo for the commands virtlab runs (e.g. "${this.connection.identity.user} ALL=(root) NOPASSWD: ALL" in /etc/sudoers.d/virtlab), or connect as root.`,
        })
      }
      if (/command not found/.test(firstLine)) {
        throw new VirtlabError('COMMAND_NOT_RUN', `${file} could not start on ${host} (not found by sudo)`, {
          command: {argv, stderrTail: tail}, hint: `Install ${file} on ${host} (virtlab doctor --fix --host ... installs the lab's packages).`,
        })
      }
    }
  }

  private async killRemote(pidFile: string): Promise<void> {
    const argv = ['sh', '-c', KILL, 'virtlab-kill', pidFile]
    try {
      await this.connection.exec(remoteCommand(argv), {allowFailure: true, timeoutMs: 10_000}, argv)
    } catch {
      // The connection is gone: the remote timeout(1) ends the command.
    }
  }

  async which(program: string): Promise<string | undefined> {
    const argv = [...(this.sudo ? ['sudo', '-n', '--'] : []), 'sh', '-c', 'command -v -- "$1"', 'virtlab-which', program]
    const result = await this.connection.exec(remoteCommand(argv), {allowFailure: true, timeoutMs: 20_000}, argv)
    // A refused sudo is not a missing program.
    if (result.exitCode !== 0 && this.sudo) this.checkNotRun([program], result.exitCode, result.stderr)
    const found = result.stdout.trim()
    return result.exitCode === 0 && found.startsWith('/') ? found : undefined
  }
}
