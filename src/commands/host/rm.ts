import {Args} from '@oclif/core'

import {removeNamedHost} from '../../app/hosts.js'
import {VirtlabCommand} from '../../cli/base-command.js'
import {RootedFs} from '../../host/fs.js'

export default class HostRm extends VirtlabCommand {
  static override description = 'Remove a named target host from the hosts file (nothing on the host is touched)'
  static override examples = ['<%= config.bin %> host rm lab1']
  static override args = {
    name: Args.string({description: 'host name', required: true}),
  }

  async run(): Promise<{file: string; host: {name: string; url: string; sudo: boolean}}> {
    const {args} = await this.parse(HostRm)
    const result = await removeNamedHost(new RootedFs('/'), process.env, args.name)
    if (!this.jsonEnabled()) this.log(`removed host ${result.host.name} (${result.host.url}) from ${result.file}`)
    return result
  }
}
