/**
 * createTarget: a TargetHost for a HostSpec. The only place that knows which transports exist;
 * everything else works on the TargetHost it returns.
 */
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
    case 'ssh':
      throw new VirtlabError('HOST_TRANSPORT_UNAVAILABLE', `Cannot reach ${spec.name}: the ssh transport is not built into this virtlab`, {hint: 'Run virtlab on the host itself.'})
  }
}
