import {Args, Flags} from '@oclif/core'

import type {RunResult} from '../app/run.js'
import {hostFlag, VirtlabCommand} from '../cli/base-command.js'
import {parseSets} from '../lab/params.js'
import {chooseMode, createProgressView} from '../ui/progress.js'

export default class Run extends VirtlabCommand {
  static override description = 'The whole job: (--fix: install missing packages and start daemons, as `doctor --fix`), build the built-in guest image if needed, bring the lab up, run its tests and print the measured throughput, then tear the lab down — also when something fails. Daemons the run started are stopped at the end (unless --keep-daemons). Default lab: vhost-user (OVS-DPDK), which runs faithfully on a host without KVM or vhost-net'
  static override examples = [
    '<%= config.bin %> run --fix',
    '<%= config.bin %> run virtio-qemu --driver qemu',
    '<%= config.bin %> run vhost-net --allow-degraded --trials 1 --duration 5',
    '<%= config.bin %> run vhost-user --json',
  ]
  static override args = {
    lab: Args.string({description: 'lab name or lab file (default: vhost-user)', required: false}),
  }
  static override flags = {
    host: hostFlag,
    driver: Flags.string({description: 'libvirt domains or QEMU run by virtlab (default: libvirt when a libvirt daemon is reachable, else qemu)', options: ['libvirt', 'qemu']}),
    'allow-degraded': Flags.boolean({description: 'accept degraded paths (e.g. no /dev/vhost-net: the userspace virtio backend), labelled as such', default: false}),
    fix: Flags.boolean({description: 'first install missing packages and start missing daemons (as `virtlab doctor --fix`)', default: false}),
    set: Flags.string({description: 'override a lab parameter: key=value (repeatable)', multiple: true, multipleNonGreedy: true}),
    dir: Flags.string({description: 'search this directory for lab names before the shipped labs (repeatable)', multiple: true, multipleNonGreedy: true}),
    trials: Flags.integer({description: 'trials per test case (default: the test\'s)', min: 1, max: 100}),
    duration: Flags.integer({description: 'seconds per trial (default: the test\'s)', min: 1, max: 3600}),
    'latency-samples': Flags.integer({description: 'ping samples for RTT percentiles (0: skip)', min: 0, max: 100000, default: 100}),
    out: Flags.string({description: 'directory for the result files', default: 'results'}),
    'keep-daemons': Flags.boolean({description: 'leave the daemons this run started (libvirtd, virtlogd, OVS) running', default: false}),
    'state-dir': Flags.string({description: 'where journals, locks and the guest image live (default /var/lib/virtlab; env VIRTLAB_STATE_DIR)'}),
    verbose: Flags.boolean({char: 'v', description: 'show every command as it runs', default: false}),
  }

  async run(): Promise<RunResult> {
    const {args, flags} = await this.parse(Run)
    const {runLab} = await import('../app/run.js')
    const json = this.jsonEnabled()
    const view = createProgressView({command: 'run', mode: chooseMode(json, process.stderr.isTTY), verbose: flags.verbose, stream: process.stderr})
    const ctx = await this.openContext({host: flags.host, stateDir: flags['state-dir'], progress: view.sink})
    let result: RunResult
    try {
      result = await this.abortOnSignals((signal) => runLab(ctx, {
        lab: args.lab,
        driver: flags.driver === 'libvirt' || flags.driver === 'qemu' ? flags.driver : undefined,
        allowDegraded: flags['allow-degraded'],
        fix: flags.fix,
        sets: parseSets(flags.set ?? []),
        dirs: flags.dir ?? [],
        outDir: flags.out,
        trials: flags.trials,
        durationS: flags.duration,
        latencyCount: flags['latency-samples'],
        keepDaemons: flags['keep-daemons'],
        onPlan: (plan) => view.begin(plan),
        signal,
      }))
    } finally {
      await view.end()
    }
    if (json) return result
    if (result.fix) this.log(`doctor --fix: ${result.fix.packages.length > 0 ? `installed ${result.fix.packages.join(' ')}` : 'no packages needed'}${result.fix.failedAfter.length > 0 ? `; still failing: ${result.fix.failedAfter.join('; ')}` : ''}`)
    this.log(`guest image ${result.image.key}${result.image.built ? ' (built now)' : ' (cached)'}`)
    this.log(`lab ${result.lab} (driver ${result.driver ?? '?'}): up, tested, down`)
    for (const t of result.throughput) {
      const verdict = t.datapath.verified ? `${t.datapath.kind} datapath verified` : `${t.datapath.kind} datapath NOT verified (${t.datapath.reason ?? 'unknown'})`
      this.log(`  ${t.test} ${t.case}: ${t.gbps.toFixed(3)} Gbit/s (median of ${t.trials} trial${t.trials === 1 ? '' : 's'}); ${verdict}${t.degraded.length > 0 ? `; ${t.degraded.join('; ')}` : ''}`)
      this.log(`    result: ${t.file}`)
    }
    for (const s of result.stoppedDaemons) this.log(`stopped ${s.name} (started by this run): ${s.detail}`)
    return result
  }
}
