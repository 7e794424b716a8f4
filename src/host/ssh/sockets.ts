/**
 * Unix sockets on an SSH target (QMP, the guest agent), reached through the same connection:
 * the ControlMaster forwards a local socket in the connection's 0700 directory to the remote one
 * (`ssh -O forward -L local.sock:remote.sock`), and UnixSocketClient connects to the local end.
 * One forward per remote socket, made on first use and kept until close() (a listener in the
 * 0700 directory, reachable only by this user): later connects to the same socket cost no
 * request to the master. (Cancelling a listener right after connect() would drop connections
 * the master has not accepted yet.) A server that denies the forward (sshd_config
 * AllowStreamLocalForwarding no, or AllowTcpForwarding no with OpenSSH 9.2) accepts the local
 * connection and closes it: the first read fails with SOCKET_CLOSED.
 */
import {VirtlabError} from '../../errors.js'
import {DEFAULT_SOCKET_TIMEOUT_MS, UnixSocketClient} from '../socket.js'
import type {SshConnection} from './connection.js'
import type {SshRunner} from './runner.js'

export interface SocketConnector {
  connect(path: string, options?: {timeoutMs?: number}): Promise<UnixSocketClient>
}

export class SshSocketConnector implements SocketConnector {
  private sequence = 0
  private generation = 0
  /** remote socket path -> local forwarded socket path */
  private open = new Map<string, Promise<string>>()

  constructor(private readonly connection: SshConnection, private readonly runner: SshRunner) {}

  async connect(remotePath: string, options: {timeoutMs?: number} = {}): Promise<UnixSocketClient> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_SOCKET_TIMEOUT_MS
    if (!remotePath.startsWith('/') || remotePath.includes(':') || /[\s\0]/.test(remotePath)) {
      throw new VirtlabError('SOCKET_CONNECT_FAILED', `Cannot forward ${JSON.stringify(remotePath)} from ${this.connection.target.url}: not an absolute path without ':' or spaces`)
    }
    // The master accepts the local connection even when nothing listens remotely: check first,
    // so a missing socket fails here like a local connect does.
    const probe = await this.runner.run(['sh', '-c', '[ -S "$1" ]', 'virtlab-socket', remotePath], {allowFailure: true, timeoutMs})
    if (probe.exitCode !== 0) {
      throw new VirtlabError('SOCKET_CONNECT_FAILED', `Cannot connect to ${remotePath} on ${this.connection.target.url}: ENOENT`, {hint: 'Is the VM (QEMU) running? It creates this socket.'})
    }
    // A restarted master (reconnect) has none of the old forwards.
    if (this.generation !== this.connection.generation) {
      this.open.clear()
      this.generation = this.connection.generation
    }
    let forwarded = this.open.get(remotePath)
    if (forwarded === undefined) {
      forwarded = this.addForward(remotePath)
      this.open.set(remotePath, forwarded)
      forwarded.catch(() => this.open.delete(remotePath))
    }
    const localPath = await forwarded
    return UnixSocketClient.connect(localPath, {timeoutMs})
  }

  private async addForward(remotePath: string): Promise<string> {
    const localPath = `${this.connection.localDir}/s${++this.sequence}.sock`
    const added = await this.connection.forward('forward', localPath, remotePath)
    if (added.exitCode !== 0) {
      throw new VirtlabError('SOCKET_CONNECT_FAILED', `Cannot forward ${remotePath} from ${this.connection.target.url}: ${added.stderr.trim() || `ssh -O forward exited ${added.exitCode}`}`, {
        hint: 'The remote sshd must allow Unix-socket forwarding (AllowStreamLocalForwarding yes, the default; with OpenSSH 9.2 AllowTcpForwarding no denies it too).',
      })
    }
    return localPath
  }

  /** Cancel every forward (open connections through them stay up until closed). */
  async close(): Promise<void> {
    for (const [remotePath, forwarded] of [...this.open]) {
      this.open.delete(remotePath)
      const localPath = await forwarded.catch(() => undefined)
      if (localPath !== undefined && (await this.connection.masterAlive())) await this.connection.forward('cancel', localPath, remotePath).catch(() => undefined)
    }
  }

  /** The remote sockets forwarded now. */
  forwarded(): string[] {
    return [...this.open.keys()]
  }
}
