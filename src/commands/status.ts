import {Args, Flags} from '@oclif/core'

import {createContext} from '../app/context.js'
import type {LabStatus, StatusResult} from '../app/status.js'
import {VirtlabCommand} from '../cli/base-command.js'

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
    'state-dir': Flags.string({description: 'where journals and locks live (default /var/lib/virtlab; env VIRTLAB_STATE_DIR)'}),
    steps: Flags.boolean({description: 'list every journaled step', default: false}),
  }

  async run(): Promise<StatusResult> {
    const {args, flags} = await this.parse(Status)
    const {statusLabs} = await import('../app/status.js')
    const ctx = createContext({stateDir: flags['state-dir']})
    const result = await statusLabs(ctx, {lab: args.lab})
    if (this.jsonEnabled()) return result
    if (result.labs.length === 0) this.log('no labs are up')
    for (const lab of result.labs) this.printLab(lab, flags.steps)
    return result
  }

  private printLab(lab: LabStatus, steps: boolean): void {
    const head = lab.journal === 'ok'
      ? `${lab.lab}: up (driver ${lab.driver}, ${lab.steps.length} journaled steps, run dir ${lab.runDir})`
      : lab.journal === 'corrupt'
        ? `${lab.lab}: journal CORRUPT${lab.journalProblem ? ` (${lab.journalProblem.code}: ${lab.journalProblem.reason})` : ''}${lab.error ? ` (${lab.error.code}: ${lab.error.message})` : ''}; \`virtlab down ${lab.lab} --force\` removes what is tagged with it`
        : `${lab.lab}: no journal`
    this.log(head + (lab.lockedBy === undefined ? '' : ` [locked by pid ${lab.lockedBy}]`))
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
