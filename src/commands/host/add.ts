import {Args, Flags} from '@oclif/core'

import {addNamedHost} from '../../app/hosts.js'
import {VirtlabCommand} from '../../cli/base-command.js'
import {RootedFs} from '../../host/fs.js'

export default class HostAdd extends VirtlabCommand {
  static override description = 'Add a named target host to the hosts file ($XDG_CONFIG_HOME/virtlab/hosts.yaml, or $VIRTLAB_HOSTS_FILE). Then `--host NAME` runs a command there over SSH'
  static override examples = [
    '<%= config.bin %> host add lab1 ssh://root@lab1.example.com',
    '<%= config.bin %> host add ci ssh://ci@10.0.0.7:2222 --sudo',
  ]
  static override args = {
    name: Args.string({description: 'host name (letters, digits, - and _, starting with a letter)', required: true}),
    url: Args.string({description: 'ssh://[user@]host[:port]', required: true}),
  }
  static override flags = {
    sudo: Flags.boolean({description: 'the remote user is not root: run commands and file writes through sudo -n', default: false}),
  }

  async run(): Promise<{file: string; host: {name: string; url: string; sudo: boolean}}> {
    const {args, flags} = await this.parse(HostAdd)
    const result = await addNamedHost(new RootedFs('/'), process.env, {name: args.name, url: args.url, sudo: flags.sudo})
    if (!this.jsonEnabled()) this.log(`added host ${result.host.name} (${result.host.url}${result.host.sudo ? ', sudo' : ''}) to ${result.file}; check it with \`virtlab host check ${result.host.name}\``)
    return result
  }
}
