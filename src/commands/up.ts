import {Args, Flags} from '@oclif/core'

import type {UpDryRunResult, UpResult} from '../app/up.js'
import {hostFlag, VirtlabCommand} from '../cli/base-command.js'
import {parseSets} from '../lab/params.js'
import {chooseMode, createProgressView} from '../ui/progress.js'

export default class Up extends VirtlabCommand {
  static override description = 'Bring a lab up: check the host (doctor), plan, then apply the plan step by step with a journal. On a failure, Ctrl-C or a timeout everything this run created is rolled back. Running `up` on a lab that is already up reconciles it (a second `up` changes nothing)'
  static override examples = [
    '<%= config.bin %> up vhost-net',
    '<%= config.bin %> up vhost-net --dry-run',
    '<%= config.bin %> up vhost-user --driver qemu --set subnet=10.99.7 -v',
    '<%= config.bin %> up vhost-net --allow-degraded --json',
  ]
  static override args = {
    lab: Args.string({description: 'lab name or lab file', required: true}),
  }
  static override flags = {
    host: hostFlag,
    'dry-run': Flags.boolean({description: 'print the plan apply would run (every step with its check and undo) and change nothing', default: false}),
    driver: Flags.string({description: 'libvirt domains or QEMU run by virtlab (default: libvirt when a libvirt daemon is reachable, else qemu)', options: ['libvirt', 'qemu']}),
    set: Flags.string({description: 'override a lab parameter: key=value (repeatable)', multiple: true, multipleNonGreedy: true}),
    dir: Flags.string({description: 'search this directory for lab names before the shipped labs (repeatable)', multiple: true, multipleNonGreedy: true}),
    'max-workers': Flags.integer({description: 'how many independent steps may run at once', default: 4, min: 1, max: 64}),
    'skip-checks': Flags.boolean({description: 'start even when a host check fails (NOT recommended)', default: false}),
    'allow-degraded': Flags.boolean({description: 'accept degraded paths (e.g. no /dev/vhost-net: the userspace virtio backend), labelled as such', default: false}),
    'state-dir': Flags.string({description: 'where journals and locks live (default /var/lib/virtlab; env VIRTLAB_STATE_DIR)'}),
    verbose: Flags.boolean({char: 'v', description: 'show every command as it runs', default: false}),
  }

  async run(): Promise<UpResult | UpDryRunResult> {
    const {args, flags} = await this.parse(Up)
    const {upLab} = await import('../app/up.js')
    const json = this.jsonEnabled()
    const view = createProgressView({command: 'up', mode: chooseMode(json, process.stderr.isTTY), verbose: flags.verbose, stream: process.stderr})
    const ctx = await this.openContext({host: flags.host, stateDir: flags['state-dir'], progress: view.sink})
    let result: UpResult | UpDryRunResult
    try {
      result = await upLab(ctx, {
        lab: args.lab,
        sets: parseSets(flags.set ?? []),
        dirs: flags.dir ?? [],
        driver: flags.driver === 'libvirt' || flags.driver === 'qemu' ? flags.driver : undefined,
        dryRun: flags['dry-run'],
        maxWorkers: flags['max-workers'],
        skipChecks: flags['skip-checks'],
        allowDegraded: flags['allow-degraded'],
        onPlan: (plan) => view.begin(plan),
      })
    } finally {
      await view.end()
    }
    if (json) return result
    if (result.dryRun) {
      this.log(result.text.trimEnd())
      return result
    }
    this.log(`lab ${result.lab} is up (driver ${result.driver}): ${result.stepsRun.length} step(s) run, ${result.stepsSkipped.length} already done`)
    this.log(`run directory: ${result.runDir}${result.netns ? `; namespace: ${result.netns}` : ''}`)
    if (result.imageBuilt) this.log('built the built-in guest image (first use)')
    for (const d of result.startedDaemons) this.log(`started ${d.name}${d.pid === undefined ? '' : ` (pid ${d.pid})`} for the libvirt driver; \`down\` leaves it running`)
    for (const label of result.degraded) this.log(label)
    for (const w of result.warnings) this.log(`warning: ${w}`)
    return result
  }
}
