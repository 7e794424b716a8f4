import {Args, Flags} from '@oclif/core'

import {createContext} from '../../app/context.js'
import type {StopResult} from '../../app/nested.js'
import {VirtlabCommand} from '../../cli/base-command.js'
import {phaseLog} from '../../cli/phase-log.js'

export default class HostStop extends VirtlabCommand {
  static override description = 'Stop a nested lab host: its L1 VM exits and its run directory is removed (L1 keeps nothing: its root is a tmpfs overlay). Its keys and the build cache stay.'

  static override examples = ['<%= config.bin %> host stop lab1']

  static override args = {
    name: Args.string({description: 'the nested host', required: true}),
  }

  static override flags = {
    'state-dir': Flags.string({description: 'where virtlab keeps state (default /var/lib/virtlab, or $VIRTLAB_STATE_DIR)'}),
  }

  async run(): Promise<StopResult> {
    const {args, flags} = await this.parse(HostStop)
    const json = this.jsonEnabled()
    const ctx = createContext({stateDir: flags['state-dir'], progress: phaseLog(json, (l) => this.logToStderr(l))})
    const {stopHost} = await import('../../app/nested.js')
    const result = await stopHost(ctx, args.name)
    this.log(result.wasRunning ? `nested host ${result.name} stopped` : `nested host ${result.name} was not running`)
    return result
  }
}
