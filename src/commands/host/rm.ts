import {Args, Flags} from '@oclif/core'

import {createContext} from '../../app/context.js'
import {removeNamedHost} from '../../app/hosts.js'
import {VirtlabCommand} from '../../cli/base-command.js'
import {phaseLog} from '../../cli/phase-log.js'
import {RootedFs} from '../../host/fs.js'

export default class HostRm extends VirtlabCommand {
  static override description = 'Remove a named target host from the hosts file (nothing on the host is touched). For a nested lab host (`host create --nested`): stop its L1 VM and remove its files and run directory too; its build cache stays unless --purge'
  static override examples = ['<%= config.bin %> host rm lab1', '<%= config.bin %> host rm lab1 --purge']
  static override args = {
    name: Args.string({description: 'host name', required: true}),
  }
  static override flags = {
    purge: Flags.boolean({description: 'nested host: also remove the build cache no other nested host uses', default: false}),
    'state-dir': Flags.string({description: 'where virtlab keeps state (default /var/lib/virtlab, or $VIRTLAB_STATE_DIR): where nested hosts live'}),
  }

  async run(): Promise<unknown> {
    const {args, flags} = await this.parse(HostRm)
    const json = this.jsonEnabled()
    const ctx = createContext({stateDir: flags['state-dir'], progress: phaseLog(json, (l) => this.logToStderr(l))})
    const nested = await import('../../app/nested.js')
    if (await nested.isNestedHost(ctx, args.name)) {
      const result = await nested.removeNested(ctx, args.name, {purge: flags.purge})
      if (!json) {
        this.log(`removed nested host ${result.name}${result.wasRunning ? ' (stopped its L1 VM)' : ''}${result.hostsFileEntryRemoved ? ' and its hosts-file entry' : ''}`)
        for (const p of result.purged) this.log(`  purged ${p}`)
      }
      return result
    }
    const result = await removeNamedHost(new RootedFs('/'), process.env, args.name)
    if (!json) this.log(`removed host ${result.host.name} (${result.host.url}) from ${result.file}`)
    return result
  }
}
