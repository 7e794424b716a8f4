import {Args, Flags} from '@oclif/core'

import type {AllHostsStatusResult, LabStatus, StatusResult} from '../app/status.js'
import {hostFlag, VirtlabCommand} from '../cli/base-command.js'
import {RootedFs} from '../host/fs.js'

export default class Status extends VirtlabCommand {
  static override description = 'Show the labs that are up (from the state directory): their journaled steps and what is live — VMs (running, pid, accel), switches and ports, VF/vDPA devices — and tagged leftovers of labs without a journal'
  static override examples = [
    '<%= config.bin %> status',
    '<%= config.bin %> status vhost-net --json',
  ]
  static override args = {
    lab: Args.string({description: 'only this lab', required: false}),
  }
  static override flags = {
    host: hostFlag,
    'state-dir': Flags.string({description: 'where journals and locks live (default /var/lib/virtlab; env VIRTLAB_STATE_DIR)'}),
    steps: Flags.boolean({description: 'list every journaled step', default: false}),
    'all-hosts': Flags.boolean({description: 'list the labs on this machine and on every named host (`virtlab host list`)', default: false, exclusive: ['host']}),
  }

  async run(): Promise<StatusResult | AllHostsStatusResult> {
    const {args, flags} = await this.parse(Status)
    const {statusLabs, statusAllHosts} = await import('../app/status.js')
    if (flags['all-hosts']) {
      const {listHosts} = await import('../app/hosts.js')
      const {openContext} = await import('../app/context.js')
      const names = ['local', ...(await listHosts(new RootedFs('/'), process.env)).hosts.map((h) => h.name)]
      const all = await statusAllHosts(names, (host) => openContext({host, stateDir: flags['state-dir']}))
      if (this.jsonEnabled()) return all
      for (const h of all.hosts) {
        this.log(`== host ${h.host}${h.url === undefined ? '' : ` (${h.url})`}`)
        if (h.error !== undefined) this.log(`  unreachable: [${h.error.code}] ${h.error.message.split('\n')[0]}`)
        else if ((h.labs ?? []).length === 0) this.log('  no labs are up')
        for (const lab of h.labs ?? []) this.printLab(lab, flags.steps)
      }
      return all
    }
    const ctx = await this.openContext({host: flags.host, stateDir: flags['state-dir']})
    const result = await statusLabs(ctx, {lab: args.lab})
    if (this.jsonEnabled()) return result
    if (result.labs.length === 0) this.log('no labs are up')
    for (const lab of result.labs) this.printLab(lab, flags.steps)
    return result
  }

  private printLab(lab: LabStatus, steps: boolean): void {
    const head = lab.journal === 'ok'
      ? `${lab.lab}: up (driver ${lab.driver}, ${lab.steps.length} journaled steps, run dir ${lab.runDir})`
      : lab.journal === 'corrupt' ? `${lab.lab}: journal CORRUPT` : `${lab.lab}: no journal`
    this.log(head + (lab.lockedBy === undefined ? '' : ` [locked by pid ${lab.lockedBy}${lab.lockHolder === undefined ? "" : `, ${lab.lockHolder}`}]`))
    for (const d of lab.degraded) this.log(`  ${d}`)
    for (const vm of lab.vms) {
      this.log(`  vm ${vm.name}: ${vm.running ? 'running' : 'not running'}${vm.pid === undefined ? '' : `, pid ${vm.pid}`}${vm.accel === undefined ? '' : `, accel ${vm.accel}`} (${vm.managedBy === 'none' ? 'not found' : vm.managedBy})`)
    }
    for (const sw of lab.switches) {
      this.log(`  ${sw.type} ${sw.name}: ${sw.present ? `ports ${sw.ports.length > 0 ? sw.ports.join(', ') : '(none)'}` : 'MISSING'}`)
    }
    for (const dev of lab.devices) this.log(`  device: ${dev.title}`)
    if (steps) for (const s of lab.steps) this.log(`  step ${s.id}: ${s.title}`)
    if (lab.leftovers.length > 0) {
      this.log(`  tagged leftovers (remove with \`virtlab down ${lab.lab} --force\`):`)
      for (const l of lab.leftovers) this.log(`    ${l}`)
    }
  }
}
