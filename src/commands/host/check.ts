import {Args} from '@oclif/core'

import type {HostCheckResult} from '../../app/hosts.js'
import {VirtlabCommand} from '../../cli/base-command.js'

export default class HostCheck extends VirtlabCommand {
  static override description = 'Connect to a target host and show what it is and can do: kernel, distribution, root or sudo, and which architectures (shipped labs) it can run, from doctor\'s checks'
  static override examples = ['<%= config.bin %> host check lab1', '<%= config.bin %> host check ssh://root@10.0.0.7 --json', '<%= config.bin %> host check local']
  static override args = {
    name: Args.string({description: 'host name from the hosts file, ssh://[user@]host[:port], or local', required: true}),
  }

  async run(): Promise<HostCheckResult> {
    const {args} = await this.parse(HostCheck)
    const {checkHost} = await import('../../app/hosts.js')
    const ctx = await this.openContext({host: args.name})
    const result = await checkHost(ctx)
    if (this.jsonEnabled()) return result
    const who = result.transport === 'local' ? 'this machine' : `${result.url ?? result.host}${result.hostname === undefined ? '' : ` (hostname ${result.hostname})`}`
    this.log(`host ${result.host}: ${who}`)
    this.log(`  kernel        ${result.kernel ?? '?'}`)
    this.log(`  distribution  ${result.distribution}`)
    this.log(`  access        ${result.access === 'unprivileged' ? `${result.user ?? 'the user'} is not root and sudo is not configured: labs cannot run (virtlab host add NAME URL --sudo)` : result.access}${result.user !== undefined && result.access !== 'unprivileged' ? ` (as ${result.user})` : ''}`)
    this.log(`  QEMU          ${result.qemu ?? 'missing'}; KVM ${result.kvm}`)
    this.log('  architectures:')
    const width = Math.max(...result.architectures.map((a) => a.lab.length))
    for (const a of result.architectures) {
      this.log(`    ${a.lab.padEnd(width)}  ${a.ok ? 'yes' : `no: ${a.failing.join('; ')}`}`)
    }
    return result
  }
}
