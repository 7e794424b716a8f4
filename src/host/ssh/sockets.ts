/**
 * Unix sockets on an SSH target (QMP, the guest agent), reached through the same connection:
 * the ControlMaster forwards a local socket in the connection's 0700 directory to the remote one
 * (`ssh -O forward -L local.sock:remote.sock`), and UnixSocketClient connects to the local end.
 * The forward's listener is cancelled as soon as the connection is made (an established
 * forwarded channel outlives its listener), so nothing accumulates; close() cancels any left.
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
  private open = new Map<string, string>()

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
    const localPath = `${this.connection.localDir}/s${++this.sequence}.sock`
    const added = await this.connection.forward('forward', localPath, remotePath)
    if (added.exitCode !== 0) {
      throw new VirtlabError('SOCKET_CONNECT_FAILED', `Cannot forward ${remotePath} from ${this.connection.target.url}: ${added.stderr.trim() || `ssh -O forward exited ${added.exitCode}`}`, {
        hint: 'The remote sshd must allow Unix-socket forwarding (AllowStreamLocalForwarding yes, the default).',
      })
    }
    this.open.set(localPath, remotePath)
    try {
      return await UnixSocketClient.connect(localPath, {timeoutMs})
    } finally {
      await this.cancel(localPath)
    }
  }

  private async cancel(localPath: string): Promise<void> {
    const remotePath = this.open.get(localPath)
    if (remotePath === undefined) return
    this.open.delete(localPath)
    await this.connection.forward('cancel', localPath, remotePath).catch(() => undefined)
  }

  /** Cancel every forward still listening. */
  async close(): Promise<void> {
    for (const localPath of [...this.open.keys()]) await this.cancel(localPath)
  }
}
