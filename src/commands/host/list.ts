import {listHosts, type HostListResult} from '../../app/hosts.js'
import {VirtlabCommand} from '../../cli/base-command.js'
import {RootedFs} from '../../host/fs.js'

export default class HostList extends VirtlabCommand {
  static override description = 'List the named target hosts (from the hosts file)'
  static override examples = ['<%= config.bin %> host list', '<%= config.bin %> host list --json']

  async run(): Promise<HostListResult> {
    await this.parse(HostList)
    const result = await listHosts(new RootedFs('/'), process.env)
    if (this.jsonEnabled()) return result
    if (result.hosts.length === 0) {
      this.log(`no hosts in ${result.file} (add one with \`virtlab host add NAME ssh://[user@]host[:port]\`)`)
      return result
    }
    const width = Math.max(...result.hosts.map((h) => h.name.length))
    for (const h of result.hosts) this.log(`${h.name.padEnd(width)}  ${h.url}${h.sudo ? '  (sudo)' : ''}`)
    return result
  }
}
