/**
 * createTarget: a TargetHost for a HostSpec. The only place that knows which transports exist;
 * everything else works on the TargetHost it returns.
 */
import {hostname} from 'node:os'

import {VirtlabError} from '../errors.js'
import type {HostFs} from './fs.js'
import type {CommandListener, CommandRunner} from './runner.js'
import type {HostSpec} from './select.js'
import {createLocalTarget, type TargetHost} from './target.js'

export interface CreateTargetOptions {
  /** The operator's runner and files (ssh runs on the operator's machine; its control directory lives there). */
  localRunner: CommandRunner
  localFs: HostFs
  stateDir: string
  runBase: string
  /** Local only: map host paths under this root (VIRTLAB_ROOT). */
  root?: string | undefined
  onCommand?: CommandListener
  env: Record<string, string | undefined>
}

export async function createTarget(spec: HostSpec, options: CreateTargetOptions): Promise<TargetHost> {
  switch (spec.transport) {
    case 'local':
      return createLocalTarget({
        root: options.root,
        stateDir: options.stateDir,
        runBase: options.runBase,
        runner: options.localRunner,
      })
    case 'ssh': {
      if (spec.url === undefined) throw new VirtlabError('HOST_SPEC_INVALID', `internal: host ${spec.name} has no URL`)
      const {connectSsh} = await import('./ssh/index.js')
      // The host entry's own ssh_config (a nested lab host's key, known_hosts and port), else VIRTLAB_SSH_CONFIG, else ssh's.
      const configFile = spec.sshConfig ?? options.env.VIRTLAB_SSH_CONFIG
      const ssh = await connectSsh({url: spec.url, sudo: spec.sudo}, {
        localRunner: options.localRunner,
        localFs: options.localFs,
        ...(configFile ? {configFile} : {}),
      })
      const identity = ssh.identity
      return {
        name: spec.name,
        transport: 'ssh',
        identity: {url: identity.url, user: identity.user, hostname: identity.hostname, sudo: identity.sudo},
        runner: ssh.runner,
        fs: ssh.fs,
        sockets: ssh.sockets,
        stateDir: options.stateDir,
        runBase: options.runBase,
        // The sshd session serving this connection (found by the identity probe); without it pid 1:
        // such a lock never looks stale, and a crashed run leaves it for `rm` (the LAB_LOCKED hint says so).
        session: {pid: identity.sessionPid ?? 1, label: `virtlab pid ${process.pid} on ${hostname()} via ${identity.url}`},
        roundTrips: () => ssh.roundTrips().total,
        // Bounded: 10 attempts, 3 s apart (about 30 s plus the connect timeouts).
        recover: async () => {
          await ssh.reconnect({attempts: 10, delayMs: 3000})
        },
        close: () => ssh.close(),
      }
    }
  }
}
