/**
 * The SSH transport of the target-host seam: connectSsh opens one ControlMaster connection and
 * returns the runner, filesystem and socket connector that run over it.
 *
 *   const ssh = await connectSsh('ssh://root@lab1:22', {localRunner, localFs})
 *   await ssh.runner.run(['uname', '-r']); await ssh.fs.readFile('/proc/cpuinfo'); await ssh.close()
 */
import type {HostFs} from '../fs.js'
import type {CommandRunner} from '../runner.js'
import {SshConnection, type SshConnectionOptions, type SshIdentity, type RoundTripListener} from './connection.js'
import {SshFs} from './fs.js'
import {SshRunner} from './runner.js'
import {SshSocketConnector} from './sockets.js'
import {parseSshHostEntry, parseSshUrl, type SshHostEntry, type SshTarget} from './url.js'

export {SshConnection, classifySshFailure, sshFailureError, type SshConnectionOptions, type SshIdentity, type RoundTripListener} from './connection.js'
export {SshFs, errnoFromStderr, remoteErrnoError} from './fs.js'
export {SshRunner, MAX_REMOTE_COMMAND} from './runner.js'
export {SshSocketConnector, type SocketConnector} from './sockets.js'
export {remoteCommand, shellQuote} from './quote.js'
export {isSshUrl, parseSshHostEntry, parseSshUrl, sshDestination, type SshHostEntry, type SshTarget} from './url.js'

export interface SshTransport {
  target: SshTarget
  connection: SshConnection
  runner: SshRunner
  fs: SshFs
  sockets: SshSocketConnector
  identity: SshIdentity
  /** ssh invocations so far (total; by kind: command, control, connect). */
  roundTrips(): ReturnType<SshConnection['roundTrips']>
  onRoundTrip(listener: RoundTripListener): () => void
  /** Restart the ControlMaster after it died: bounded retries; throws the last connection error. */
  reconnect(options?: {attempts?: number; delayMs?: number}): Promise<SshIdentity>
  /** Cancel forwards, remove the remote temp directory, stop the master, remove the local control directory. */
  close(): Promise<void>
}

export interface ConnectSshOptions extends Omit<SshConnectionOptions, 'localRunner' | 'localFs'> {
  localRunner: CommandRunner
  localFs: HostFs
}

/** Validate the target (before ssh runs), start the master, and probe the identity. */
export async function connectSsh(spec: string | SshHostEntry | SshTarget, options: ConnectSshOptions): Promise<SshTransport> {
  const target = typeof spec === 'string'
    ? parseSshUrl(spec)
    : 'host' in spec ? spec : parseSshHostEntry(spec)
  const connection = new SshConnection(target, options)
  try {
    await connection.open()
  } catch (error) {
    await connection.close().catch(() => undefined)
    throw error
  }
  const runner = new SshRunner(connection)
  const fs = new SshFs(runner, target.url)
  const sockets = new SshSocketConnector(connection, runner)
  return {
    target,
    connection,
    runner,
    fs,
    sockets,
    get identity() {
      return connection.identity
    },
    roundTrips: () => connection.roundTrips(),
    onRoundTrip: (listener) => connection.onRoundTrip(listener),
    reconnect: (retry) => connection.reconnect(retry),
    async close() {
      await sockets.close().catch(() => undefined)
      await connection.close()
    },
  }
}

