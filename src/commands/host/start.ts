import {Args, Flags} from '@oclif/core'

import {createContext} from '../../app/context.js'
import type {StartResult} from '../../app/nested.js'
import {VirtlabCommand} from '../../cli/base-command.js'
import {phaseLog} from '../../cli/phase-log.js'

export default class HostStart extends VirtlabCommand {
  static override description = 'Boot a stopped nested lab host (made by `host create NAME --nested`) and wait for its sshd. A no-op when it is running.'

  static override examples = ['<%= config.bin %> host start lab1']

  static override args = {
    name: Args.string({description: 'the nested host', required: true}),
  }

  static override flags = {
    'boot-timeout': Flags.integer({description: 'seconds to wait for L1 to boot', default: 300, min: 10}),
    'state-dir': Flags.string({description: 'where virtlab keeps state (default /var/lib/virtlab, or $VIRTLAB_STATE_DIR)'}),
  }

  async run(): Promise<StartResult> {
    const {args, flags} = await this.parse(HostStart)
    const json = this.jsonEnabled()
    const ctx = createContext({stateDir: flags['state-dir'], progress: phaseLog(json, (l) => this.logToStderr(l))})
    const {startHost} = await import('../../app/nested.js')
    const result = await startHost(ctx, args.name, {bootTimeoutMs: flags['boot-timeout'] * 1000})
    const s = result.status
    if (result.alreadyRunning) this.log(`nested host ${s.name} is already running (pid ${s.pid ?? '?'}; ssh ${s.url})`)
    else this.log(`nested host ${s.name} is running (pid ${s.pid ?? '?'}; ssh ${s.url}); booted in ${(result.boot.totalMs / 1000).toFixed(1)} s`)
    return result
  }
}
