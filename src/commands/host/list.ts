import {Flags} from '@oclif/core'

import {createContext} from '../../app/context.js'
import {listHosts, type HostListResult} from '../../app/hosts.js'
import type {NestedHostStatus} from '../../app/nested.js'
import {VirtlabCommand} from '../../cli/base-command.js'
import {RootedFs} from '../../host/fs.js'

export default class HostList extends VirtlabCommand {
  static override description = 'List the named target hosts (from the hosts file), and the nested lab hosts with their state'
  static override examples = ['<%= config.bin %> host list', '<%= config.bin %> host list --json']
  static override flags = {
    'state-dir': Flags.string({description: 'where virtlab keeps state (default /var/lib/virtlab, or $VIRTLAB_STATE_DIR): where nested hosts live'}),
  }

  async run(): Promise<HostListResult & {nested: NestedHostStatus[]}> {
    const {flags} = await this.parse(HostList)
    const result = await listHosts(new RootedFs('/'), process.env)
    const {listNested} = await import('../../app/nested.js')
    const nested = await listNested(createContext({stateDir: flags['state-dir']}))
    if (this.jsonEnabled()) return {...result, nested}
    if (result.hosts.length === 0 && nested.length === 0) {
      this.log(`no hosts in ${result.file} (add one with \`virtlab host add NAME ssh://[user@]host[:port]\`, or make one: \`virtlab host create NAME --nested\`)`)
      return {...result, nested}
    }
    const width = Math.max(...result.hosts.map((h) => h.name.length), ...nested.map((n) => n.name.length))
    const byName = new Map(nested.map((n) => [n.name, n]))
    for (const h of result.hosts) {
      const n = byName.get(h.name)
      const extra = n === undefined ? '' : `  nested, ${n.state}${n.pid === undefined ? '' : ` (pid ${n.pid})`}, ${n.cpus} vCPU, ${n.memoryMiB} MiB, 127.0.0.1:${n.sshPort}`
      this.log(`${h.name.padEnd(width)}  ${h.url}${h.sudo ? '  (sudo)' : ''}${extra}`)
    }
    for (const n of nested) {
      if (result.hosts.some((h) => h.name === n.name)) continue
      this.log(`${n.name.padEnd(width)}  (not in the hosts file)  nested, ${n.state}, ${n.cpus} vCPU, ${n.memoryMiB} MiB, 127.0.0.1:${n.sshPort}`)
    }
    return {...result, nested}
  }
}
