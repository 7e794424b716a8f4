import {Args, Flags} from '@oclif/core'

import type {DownResult} from '../app/down.js'
import {hostFlag, VirtlabCommand} from '../cli/base-command.js'
import {createProgressView} from '../ui/progress.js'

export default class Down extends VirtlabCommand {
  static override description = 'Tear a lab down: undo its journal newest first, then remove the journal and the run directory. --force (and --all) also remove everything tagged with the lab (domains vl-<lab>-*, QEMU processes, the netns vl-<lab>, vl<tag>* links, OVS records with external_ids:virtlab-lab, a private OVS), even when the journal is lost or corrupt'
  static override examples = [
    '<%= config.bin %> down vhost-net',
    '<%= config.bin %> down vhost-net --force',
    '<%= config.bin %> down --all --json',
  ]
  static override args = {
    lab: Args.string({description: 'lab name (or lab file)', required: false}),
  }
  static override flags = {
    host: hostFlag,
    force: Flags.boolean({description: 'also find and remove tagged leftovers (works without a journal)', default: false}),
    all: Flags.boolean({description: 'tear down every lab found (state directory, run directories, tagged namespaces and OVS records)', default: false}),
    'state-dir': Flags.string({description: 'where journals and locks live (default /var/lib/virtlab; env VIRTLAB_STATE_DIR)'}),
    verbose: Flags.boolean({char: 'v', description: 'show every command as it runs', default: false}),
  }

  async run(): Promise<DownResult> {
    const {args, flags} = await this.parse(Down)
    const {downLab} = await import('../app/down.js')
    const json = this.jsonEnabled()
    // Teardown has no plan tree: plain lines (or JSON lines) on stderr.
    const view = createProgressView({command: 'down', mode: json ? 'json' : 'plain', verbose: flags.verbose, stream: process.stderr})
    const ctx = await this.openContext({host: flags.host, stateDir: flags['state-dir'], progress: view.sink})
    let result: DownResult
    try {
      result = await downLab(ctx, {lab: args.lab, all: flags.all, force: flags.force})
    } finally {
      await view.end()
    }
    if (json) return result
    if (result.labs.length === 0) this.log('no labs found')
    for (const lab of result.labs) {
      const parts = [
        lab.journal === 'ok' ? `undid ${lab.undone.length} journaled step(s)` : `journal ${lab.journal}`,
        ...(lab.removed.length > 0 ? [`removed ${lab.removed.join(', ')}`] : []),
        ...(lab.runDirRemoved && !lab.removed.some((r) => r.startsWith('run directory')) ? ['removed the run directory'] : []),
      ]
      this.log(`${lab.lab}: ${parts.join('; ')}`)
      for (const n of lab.notUndone) this.log(`  not undone: ${n.stepId}: ${n.error}`)
      for (const note of lab.notes) this.log(`  note: ${note}`)
    }
    return result
  }
}
