/**
 * One OpenSSH ControlMaster connection to a target host, started and driven through the LOCAL
 * CommandRunner (the `ssh` binary; no JavaScript SSH). The control socket lives in a fresh 0700
 * directory under the local temp directory; every later command, file operation and socket
 * forward is a multiplexed session over that one authenticated connection.
 *
 * Options virtlab sets: BatchMode=yes (never a password or host-key prompt), ConnectTimeout,
 * ServerAliveInterval/CountMax (a dead peer is noticed), ControlMaster/ControlPath/ControlPersist
 * (the master exits by itself if virtlab dies). Everything else is the user's ssh configuration
 * (~/.ssh/config, or the file in VIRTLAB_SSH_CONFIG / the configFile option passed as -F), host-key
 * checking included: virtlab never weakens StrictHostKeyChecking or the known-hosts files.
 */
import {randomBytes} from 'node:crypto'
import {tmpdir} from 'node:os'

import {VirtlabError, isVirtlabError} from '../../errors.js'
import type {HostFs} from '../fs.js'
import type {CommandRunner, RunOptions, RunResult} from '../runner.js'
import {stderrTail} from '../runner.js'
import {UnixSocketClient} from '../socket.js'
import {remoteCommand} from './quote.js'
import {sshDestination, type SshTarget} from './url.js'

export interface SshConnectionOptions {
  /** Runs `ssh` on the operator's machine. */
  localRunner: CommandRunner
  /** The operator's filesystem (for the control directory). */
  localFs: HostFs
  /** An ssh_config file passed as -F (default: $VIRTLAB_SSH_CONFIG, else ssh's own ~/.ssh/config). */
  configFile?: string
  /** The environment VIRTLAB_SSH_CONFIG is read from (default process.env). */
  env?: Record<string, string | undefined>
  /** ConnectTimeout in seconds (default 10). */
  connectTimeoutS?: number
  /** ServerAliveInterval in seconds (default 10) and ServerAliveCountMax (default 3). */
  serverAliveIntervalS?: number
  serverAliveCountMax?: number
  /** ControlPersist: the master exits after this many idle seconds (default 600). */
  persistS?: number
  /** Where the 0700 control directory is made (default os.tmpdir()). */
  localTmpDir?: string
  /** The ssh binary (default 'ssh' on PATH). */
  sshBinary?: string
  /**
   * At most this many sessions at once over the master (default 8): sshd refuses more than its
   * MaxSessions (default 10) per connection, so further runs wait their turn.
   */
  maxSessions?: number
}

export interface SshIdentity {
  transport: 'ssh'
  url: string
  /** The remote machine's hostname (uname -n). */
  hostname: string
  /** The remote login user (id -un) and uid. */
  user: string
  uid: number
  /** Commands run through sudo -n. */
  sudo: boolean
  kernel: string
  /** PRETTY_NAME from the target's /etc/os-release, e.g. "Debian GNU/Linux 12 (bookworm)". */
  distribution: string | undefined
  /**
   * The pid, on the target, of the sshd process serving this connection: alive exactly as long
   * as the connection (a lock recording it is stale once it is gone from the target's /proc).
   * Changes on reconnect. Undefined if it could not be found.
   */
  sessionPid: number | undefined
}

/** Print the pid of the sshd process serving this connection (an ancestor of the session): it lives exactly as long as the connection. */
const SESSION_PID = 'p=$PPID; while [ "$p" -gt 1 ] && [ "$(cat /proc/$p/comm 2>/dev/null)" != sshd ]; do s=$(cat /proc/$p/stat) && s=${s##*) } && set -- $s && p=$2; done; echo "$p"'

/** Print PRETTY_NAME from /etc/os-release (shell builtins only; an empty line when there is none). */
const OS_RELEASE = `n=; if [ -r /etc/os-release ]; then while IFS= read -r l; do case $l in PRETTY_NAME=*) n=\${l#PRETTY_NAME=} ;; esac; done < /etc/os-release; fi; q='"'; n=\${n#$q}; echo "\${n%$q}"`

export type RoundTripKind = 'command' | 'control' | 'connect'
export type RoundTripListener = (event: {kind: RoundTripKind; argv: readonly string[]}) => void

/** Why an ssh invocation failed, from ssh's own diagnostics on stderr (exit status 255). */
export function classifySshFailure(stderr: string): 'unreachable' | 'auth' | 'hostkey-mismatch' | 'hostkey-unknown' | 'lost' | 'resolve' | undefined {
  const s = stderr
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for \S+ has changed|host key mismatch/i.test(s)) return 'hostkey-mismatch'
  if (/No \S+ host key is known for|Host key verification failed/.test(s)) return 'hostkey-unknown'
  if (/Permission denied \(|Too many authentication failures|no more authentication methods/i.test(s)) return 'auth'
  if (/Could not resolve hostname|Name or service not known|Temporary failure in name resolution/.test(s)) return 'resolve'
  if (/connect to host \S+ port \S+: |Connection timed out during banner exchange|No route to host|Network is unreachable|Connection refused/.test(s)) return 'unreachable'
  if (/Connection closed by|Connection reset|Broken pipe|closed by remote host|mux_client_|Shared connection to|Control socket connect|Timeout, server \S+ not responding|kex_exchange_identification|Connection to \S+ closed/.test(s)) return 'lost'
  return undefined
}

/** The VirtlabError for a failed connection attempt (or a connection lost while running `argv`). */
export function sshFailureError(target: SshTarget, stderr: string, argv?: readonly string[], fallback?: ReturnType<typeof classifySshFailure>, midRun = false): VirtlabError {
  const kind = midRun ? 'lost' : classifySshFailure(stderr) ?? fallback
  const tail = stderrTail(stderr)
  const host = target.url
  const command = argv === undefined ? undefined : {argv, exitCode: 255, stderrTail: tail}
  const details = {host, stderrTail: tail}
  switch (kind) {
    case 'hostkey-mismatch':
      return new VirtlabError('SSH_HOST_KEY_MISMATCH', `The host key of ${host} does not match the one in your known_hosts file`, {
        details, command,
        hint: `If the host was reinstalled, verify its new key out of band, then remove the old one (ssh-keygen -R ${target.port === undefined ? target.host : `'[${target.host}]:${target.port}'`}) and connect once with ssh. Otherwise someone may be intercepting the connection.`,
      })
    case 'hostkey-unknown':
      return new VirtlabError('SSH_HOST_KEY_UNKNOWN', `The host key of ${host} is not known (virtlab runs ssh with BatchMode=yes and does not accept new host keys)`, {
        details, command,
        hint: `Connect once by hand (ssh ${sshDestination(target).portArgs.join(' ')} ${sshDestination(target).destination}) and verify the fingerprint, or add the key to ~/.ssh/known_hosts.`.replace('  ', ' '),
      })
    case 'auth':
      return new VirtlabError('SSH_AUTH_FAILED', `Authentication to ${host} failed`, {
        details, command,
        hint: `virtlab uses key authentication without prompts (BatchMode=yes): install your public key on the host (ssh-copy-id ${sshDestination(target).destination}), load it into ssh-agent, or name it with IdentityFile in ~/.ssh/config.`,
      })
    case 'resolve':
      return new VirtlabError('SSH_HOST_UNREACHABLE', `Cannot resolve the host name of ${host}`, {
        details, command, hint: 'Check the spelling of the host, or define it (HostName) in ~/.ssh/config.',
      })
    case 'unreachable':
      return new VirtlabError('SSH_HOST_UNREACHABLE', `Cannot reach ${host}: ${lastLine(stderr)}`, {
        details, command, hint: `Is the host up and sshd listening${target.port === undefined ? '' : ` on port ${target.port}`}? Try ssh ${sshDestination(target).portArgs.join(' ')} ${sshDestination(target).destination} by hand.`.replace('  ', ' '),
      })
    case 'lost':
      return new VirtlabError('SSH_CONNECTION_LOST', `The SSH connection to ${host} was lost${argv === undefined ? '' : ` while running ${argv[0] ?? ''}`}${lastLine(stderr) ? ` (${lastLine(stderr)})` : ''}`, {
        details, command, hint: 'Check the network and the host; virtlab down --host ... finishes a rollback from the target\'s journal once the host is back.',
      })
    default:
      return new VirtlabError('SSH_CONNECT_FAILED', `ssh to ${host} failed: ${lastLine(stderr) || 'exit 255'}`, {
        details, command, hint: `Run ssh -v ${sshDestination(target).destination} by hand to see why.`,
      })
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1)?.trim() ?? ''
}

export class SshConnection {
  readonly target: SshTarget
  private readonly options: SshConnectionOptions
  private controlDir: string | undefined
  private remoteTmp: string | undefined
  private identityValue: SshIdentity | undefined
  private counts: Record<RoundTripKind, number> = {command: 0, control: 0, connect: 0}
  private listeners: RoundTripListener[] = []
  private closed = false
  private active = 0
  private waiting: (() => void)[] = []
  /** Incremented each time a master starts (reconnect makes a new one, without the old forwards). */
  generation = 0
  private readonly configFile: string | undefined

  constructor(target: SshTarget, options: SshConnectionOptions) {
    this.target = target
    this.options = options
    this.configFile = options.configFile ?? ((options.env ?? process.env).VIRTLAB_SSH_CONFIG || undefined)
  }

  /** The control socket path (valid after open()). */
  get controlPath(): string {
    if (this.controlDir === undefined) throw new VirtlabError('SSH_NOT_CONNECTED', `internal: the connection to ${this.target.url} is not open`)
    return `${this.controlDir}/ctl`
  }

  /** The local 0700 directory of this connection (control socket, forwarded sockets). */
  get localDir(): string {
    if (this.controlDir === undefined) throw new VirtlabError('SSH_NOT_CONNECTED', `internal: the connection to ${this.target.url} is not open`)
    return this.controlDir
  }

  /** A private directory on the remote host for this connection (removed at close). */
  get remoteDir(): string {
    if (this.remoteTmp === undefined) throw new VirtlabError('SSH_NOT_CONNECTED', `internal: the connection to ${this.target.url} is not open`)
    return this.remoteTmp
  }

  get identity(): SshIdentity {
    if (this.identityValue === undefined) throw new VirtlabError('SSH_NOT_CONNECTED', `internal: the connection to ${this.target.url} is not open`)
    return this.identityValue
  }

  /** ssh invocations so far: total and by kind (command = a remote command or file operation). */
  roundTrips(): {total: number} & Record<RoundTripKind, number> {
    return {...this.counts, total: this.counts.command + this.counts.control + this.counts.connect}
  }

  onRoundTrip(listener: RoundTripListener): () => void {
    this.listeners.push(listener)
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener)
    }
  }

  private count(kind: RoundTripKind, argv: readonly string[]): void {
    this.counts[kind]++
    for (const listener of this.listeners) listener({kind, argv})
  }

  private commonOptions(): string[] {
    const o = this.options
    return [
      ...(this.configFile === undefined ? [] : ['-F', this.configFile]),
      '-o', 'BatchMode=yes',
      '-o', `ConnectTimeout=${o.connectTimeoutS ?? 10}`,
      '-o', `ServerAliveInterval=${o.serverAliveIntervalS ?? 10}`,
      '-o', `ServerAliveCountMax=${o.serverAliveCountMax ?? 3}`,
      '-o', `ControlPath=${this.controlPath}`,
      ...sshDestination(this.target).portArgs,
    ]
  }

  private get ssh(): string {
    return this.options.sshBinary ?? 'ssh'
  }

  /** Start the ControlMaster (returns once authenticated) and learn who we are on the host. */
  async open(): Promise<SshIdentity> {
    if (this.closed) throw new VirtlabError('SSH_NOT_CONNECTED', `internal: the connection to ${this.target.url} was closed`)
    if (this.controlDir === undefined) this.controlDir = await this.makeControlDir()
    await this.startMaster()
    if (this.identityValue === undefined) {
      const probe = [
        'sh', '-c',
        'uname -n && id -un && id -u && uname -r && mktemp -d "${TMPDIR:-/tmp}/virtlab-ssh.XXXXXXXX" && ' +
        `${SESSION_PID} && ${OS_RELEASE}`,
      ]
      const result = await this.exec(remoteCommand(probe), {timeoutMs: 20_000, allowFailure: true}, probe)
      const [hostname, user, uid, kernel, dir, sshdPid, distribution] = result.stdout.split('\n')
      if (result.exitCode !== 0 || !hostname || !user || !uid || !kernel || !dir?.startsWith('/')) {
        throw new VirtlabError('SSH_REMOTE_UNUSABLE', `${this.target.url}: cannot run basic commands (uname, id, mktemp) on the host`, {
          command: {argv: probe, exitCode: result.exitCode, stderrTail: stderrTail(result.stderr)},
          hint: 'The remote user needs a POSIX login shell and coreutils.',
        })
      }
      this.remoteTmp = dir
      this.identityValue = {transport: 'ssh', url: this.target.url, hostname, user, uid: Number(uid), sudo: this.target.sudo, kernel, distribution: distribution || undefined, sessionPid: Number(sshdPid) || undefined}
    } else {
      // A new master is a new sshd process on the target.
      this.identityValue = {...this.identityValue, sessionPid: await this.probeSessionPid()}
    }
    return this.identityValue
  }

  /** After a reconnect: the new sshd's pid, and the remote directory again (the host may have rebooted and emptied /tmp). */
  private async probeSessionPid(): Promise<number | undefined> {
    const argv = ['sh', '-c', `mkdir -p -m 700 -- "$1" && ${SESSION_PID}`, 'virtlab-reconnect', this.remoteDir]
    const result = await this.exec(remoteCommand(argv), {timeoutMs: 20_000, allowFailure: true}, argv)
    return Number(result.stdout.trim()) || undefined
  }

  private async makeControlDir(): Promise<string> {
    const base = this.options.localTmpDir ?? tmpdir()
    // ssh expands %-tokens and ~ in ControlPath, and -L splits on ':': keep the path plain.
    if (!/^\/[A-Za-z0-9/._-]*$/.test(base)) {
      throw new VirtlabError('SSH_CONTROL_DIR', `The temp directory ${JSON.stringify(base)} cannot hold an SSH control socket (only letters, digits, '/', '.', '_' and '-' are safe in a ControlPath)`, {hint: 'Set TMPDIR to a plain directory such as /tmp.'})
    }
    const dir = `${base}/virtlab-ssh-${randomBytes(6).toString('hex')}`
    if (await this.options.localFs.exists(dir)) throw new VirtlabError('SSH_CONTROL_DIR', `internal: ${dir} exists already`)
    await this.options.localFs.mkdir(dir, {mode: 0o700})
    const stat = await this.options.localFs.stat(dir)
    if (!stat?.isDirectory || stat.isSymlink || (stat.mode & 0o077) !== 0 || (typeof process.getuid === 'function' && stat.uid !== process.getuid())) {
      throw new VirtlabError('SSH_CONTROL_DIR', `The SSH control directory ${dir} is not a private 0700 directory of this user`, {hint: 'Check the permissions of the temp directory (TMPDIR).'})
    }
    // A Unix socket path is limited to 107 bytes (sun_path); forwarded sockets are named below it.
    if (`${dir}/ctl`.length > 90) throw new VirtlabError('SSH_CONTROL_DIR', `The SSH control path ${dir}/ctl is too long for a Unix socket`, {hint: 'Set TMPDIR to a shorter directory, e.g. /tmp.'})
    return dir
  }

  private async startMaster(): Promise<void> {
    const argv = [
      this.ssh, ...this.commonOptions(),
      '-o', 'ControlMaster=yes',
      '-o', `ControlPersist=${this.options.persistS ?? 600}`,
      '-f', '-N', '-T',
      '--', sshDestination(this.target).destination,
    ]
    this.count('connect', argv)
    let result: RunResult
    try {
      result = await this.options.localRunner.run(argv, {allowFailure: true, timeoutMs: ((this.options.connectTimeoutS ?? 10) + 20) * 1000})
    } catch (error) {
      throw this.localFailure(error)
    }
    if (result.exitCode !== 0) throw sshFailureError(this.target, result.stderr)
    this.generation++
  }

  private localFailure(error: unknown, connecting = true): unknown {
    if (isVirtlabError(error) && error.code === 'COMMAND_NOT_RUN' && /could not start/.test(error.message)) {
      return new VirtlabError('SSH_NOT_INSTALLED', `Cannot run the OpenSSH client (${this.ssh}) to reach ${this.target.url}`, {
        cause: error, hint: 'Install the OpenSSH client (Debian: apt-get install openssh-client; Fedora: dnf install openssh-clients).',
      })
    }
    if (connecting && isVirtlabError(error) && error.code === 'COMMAND_TIMEOUT') {
      return new VirtlabError('SSH_HOST_UNREACHABLE', `Connecting to ${this.target.url} timed out`, {cause: error, hint: 'Is the host up and reachable? Check ConnectTimeout and the network.'})
    }
    return error
  }

  /** Is the master alive (its control socket accepts connections)? A local check, no network. */
  async masterAlive(): Promise<boolean> {
    if (this.controlDir === undefined || this.closed) return false
    try {
      const client = await UnixSocketClient.connect(this.controlPath, {timeoutMs: 2000})
      client.close()
      return true
    } catch {
      return false
    }
  }

  /** `ssh -O check`: asks the master itself. */
  async check(): Promise<boolean> {
    if (!(await this.masterAlive())) return false
    const result = await this.control('check')
    return result.exitCode === 0
  }

  /** The master's pid (from ssh -O check), or undefined when it is not running. */
  async masterPid(): Promise<number | undefined> {
    if (!(await this.masterAlive())) return undefined
    const result = await this.control('check')
    const match = /pid=(\d+)/.exec(result.stderr + result.stdout)
    return result.exitCode === 0 && match?.[1] !== undefined ? Number(match[1]) : undefined
  }

  private async control(command: 'check' | 'exit', extra: string[] = []): Promise<RunResult> {
    const argv = [this.ssh, ...this.commonOptions(), '-O', command, ...extra, '--', sshDestination(this.target).destination]
    this.count('control', argv)
    return this.options.localRunner.run(argv, {allowFailure: true, timeoutMs: 10_000})
  }

  /** Ask the master to add (-O forward) or remove (-O cancel) a Unix-socket forward local.sock -> remote.sock. */
  async forward(op: 'forward' | 'cancel', localPath: string, remotePath: string): Promise<RunResult> {
    const argv = [this.ssh, ...this.commonOptions(), '-O', op, '-L', `${localPath}:${remotePath}`, '--', sshDestination(this.target).destination]
    this.count('control', argv)
    const result = await this.options.localRunner.run(argv, {allowFailure: true, timeoutMs: 10_000})
    // The master closes the listener but leaves its socket file.
    if (op === 'cancel') await this.options.localFs.remove(localPath)
    return result
  }

  /**
   * Run one remote command string over the master (a multiplexed session). Never falls back to a
   * fresh connection: a dead master is SSH_CONNECTION_LOST. Exit 255 with ssh's own diagnostics is
   * SSH_CONNECTION_LOST too; any other result is the remote command's. `display` is the argv
   * errors name; `onStart` is called when a session slot is free, just before ssh runs (return
   * false to run nothing).
   */
  async exec(command: string, options: RunOptions & {allowFailure: true}, display: readonly string[], hooks: {onStart?: () => boolean} = {}): Promise<RunResult> {
    if (this.closed) throw new VirtlabError('SSH_NOT_CONNECTED', `The SSH connection to ${this.target.url} is closed`)
    // RemoteCommand=none: a RemoteCommand in the user's config would make ssh refuse ours.
    const argv = [this.ssh, ...this.commonOptions(), '-o', 'ControlMaster=no', '-o', 'RemoteCommand=none', '-T', '--', sshDestination(this.target).destination, command]
    let result: RunResult
    await this.acquire()
    try {
      // ssh would silently open a new connection when the control socket is dead: refuse instead.
      if (!(await this.masterAlive())) {
        throw new VirtlabError('SSH_CONNECTION_LOST', `The SSH connection to ${this.target.url} is down (the ControlMaster is gone)${display[0] === undefined ? '' : `; ${display[0]} did not run`}`, {
          command: {argv: display},
          hint: 'virtlab reconnects for a bounded time; if the host stays unreachable, run virtlab down --host ... once it is back.',
        })
      }
      // Waited for a free session: the caller may have given up meanwhile (timeout, cancel).
      if (hooks.onStart && !hooks.onStart()) {
        throw new VirtlabError('COMMAND_NOT_RUN', `${display[0] ?? 'the command'} was cancelled before it started (on ${this.target.url})`, {command: {argv: display}})
      }
      this.count('command', argv)
      result = await this.options.localRunner.run(argv, options)
    } catch (error) {
      throw this.localFailure(error, false)
    } finally {
      this.release()
    }
    if (result.exitCode === 255) {
      // ssh's own failure, or the remote command's exit 255? A dead master (give a dying one a
      // moment) or the mux client's own diagnostics mean the connection is gone: the command did
      // not run, or did not finish, over it. (A master dying this very instant makes the client
      // try a direct connection, which then fails with e.g. "Connection refused".)
      const muxFailure = /mux_client_|Control socket connect|Session open refused|Shared connection to .* closed/.test(result.stderr)
      const alive = (await this.masterAlive()) && (await new Promise((resolve) => setTimeout(resolve, 200)), await this.masterAlive())
      if (muxFailure || !alive) throw sshFailureError(this.target, result.stderr, display, 'lost', true)
    }
    return result
  }

  private async acquire(): Promise<void> {
    if (this.active < (this.options.maxSessions ?? 8)) {
      this.active++
      return
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve))
  }

  private release(): void {
    const next = this.waiting.shift()
    if (next) next()
    else this.active--
  }

  /**
   * Reconnect after the master died: bounded retries (attempts x delay). Returns the identity or
   * throws the last connection error (SSH_HOST_UNREACHABLE, SSH_AUTH_FAILED, ...).
   */
  async reconnect(options: {attempts?: number; delayMs?: number} = {}): Promise<SshIdentity> {
    const attempts = options.attempts ?? 5
    const delayMs = options.delayMs ?? 2000
    let last: unknown
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (await this.masterAlive()) return this.identity
      try {
        // A SIGKILLed master leaves its socket behind: ssh -o ControlMaster=yes refuses to overwrite it.
        if (this.controlDir !== undefined) await this.options.localFs.remove(this.controlPath)
        return await this.open()
      } catch (error) {
        last = error
        // Wrong keys or host keys do not heal by waiting.
        if (isVirtlabError(error) && ['SSH_AUTH_FAILED', 'SSH_HOST_KEY_MISMATCH', 'SSH_HOST_KEY_UNKNOWN', 'SSH_NOT_INSTALLED'].includes(error.code)) throw error
      }
      if (attempt < attempts) await new Promise((resolve) => setTimeout(resolve, delayMs))
    }
    throw last
  }

  /** Remove the remote directory, stop the master (ssh -O exit) and remove the control directory. */
  async close(): Promise<void> {
    if (this.closed) return
    try {
      if (this.remoteTmp !== undefined && (await this.masterAlive())) {
        const argv = ['rm', '-rf', '--', this.remoteTmp]
        await this.exec(remoteCommand(argv), {allowFailure: true, timeoutMs: 10_000}, argv).catch(() => undefined)
      }
      if (await this.masterAlive()) await this.control('exit')
    } finally {
      this.closed = true
      if (this.controlDir !== undefined) await this.options.localFs.remove(this.controlDir, {recursive: true})
    }
  }
}
