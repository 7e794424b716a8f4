import {Args, Flags} from '@oclif/core'

import type {TestLabResult} from '../app/measure.js'
import {hostFlag, VirtlabCommand} from '../cli/base-command.js'
import {VirtlabError} from '../errors.js'
import {parsePercent} from '../report/thresholds.js'

function parseSizes(text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined
  const sizes = text.split(',').map((s) => s.trim()).filter(Boolean).map(Number)
  if (sizes.length === 0 || sizes.some((s) => !Number.isInteger(s) || s < 16 || s > 65507)) {
    throw new VirtlabError('TEST_BAD_FLAG', `--sizes must be a comma-separated list of byte sizes in 16..65507, got "${text}"`)
  }
  return sizes
}

export default class Test extends VirtlabCommand {
  static override description = 'Measure a running lab (started by `virtlab up`): its iperf3 tests, N trials per case with median/min/max/stddev/CV, optional UDP zero-loss search per datagram size, ping latency, datapath verification and provenance. Writes results/<lab>-<test>.json (schema/result.schema.json)'
  static override examples = [
    '<%= config.bin %> test vhost-net',
    '<%= config.bin %> test vhost-net --trials 5 --duration 10 --sizes 64,512,1472',
    '<%= config.bin %> test vhost-user --zero-loss --loss-target 0.001',
    '<%= config.bin %> test vhost-net --out ci-results --json',
  ]
  static override args = {
    lab: Args.string({description: 'the lab (name, as `up` started it, or its file)', required: true}),
  }
  static override flags = {
    host: hostFlag,
    test: Flags.string({description: 'run only this test of the lab (repeatable)', multiple: true, multipleNonGreedy: true}),
    trials: Flags.integer({description: 'trials per case (default: the test\'s, 3)', min: 1, max: 100}),
    duration: Flags.integer({description: 'seconds per trial (default: the test\'s)', min: 1, max: 3600}),
    warmup: Flags.integer({description: 'seconds excluded at the start of each trial, iperf3 -O (default: the test\'s)', min: 0, max: 60}),
    sizes: Flags.string({description: 'TCP message / UDP datagram sizes in bytes, e.g. 64,512,1472 (default: the test\'s)'}),
    'zero-loss': Flags.boolean({description: 'also search the highest UDP rate with loss at or under the target, per size (RFC 2544 / NDR style)', default: false}),
    'loss-target': Flags.string({description: 'zero-loss target in percent (default 0; e.g. 0.001)'}),
    'max-rate': Flags.string({description: 'zero-loss search start (maximum) rate in Gbit/s (default 10)'}),
    'noise-threshold': Flags.string({description: 'coefficient of variation above which a case is flagged noisy, percent (default 5)'}),
    'latency-samples': Flags.integer({description: 'ping samples for RTT percentiles (0: skip)', min: 0, max: 100000, default: 100}),
    port: Flags.integer({description: 'iperf3 port', min: 1, max: 65535, default: 5201}),
    out: Flags.string({description: 'directory for the result files', default: 'results'}),
    dir: Flags.string({description: 'search this directory for lab names before the shipped labs (repeatable)', multiple: true, multipleNonGreedy: true}),
    'state-dir': Flags.string({description: 'where journals live (default /var/lib/virtlab; env VIRTLAB_STATE_DIR)'}),
  }

  async run(): Promise<TestLabResult> {
    const {args, flags} = await this.parse(Test)
    const {testLab} = await import('../app/measure.js')
    const json = this.jsonEnabled()
    const ctx = await this.openContext({
      host: flags.host,
      stateDir: flags['state-dir'],
      progress: this.notesToStderr(),
    })
    const result = await this.abortOnSignals((signal) => testLab(ctx, {
      lab: args.lab,
      tests: flags.test,
      trials: flags.trials,
      durationS: flags.duration,
      warmupS: flags.warmup,
      sizes: parseSizes(flags.sizes),
      zeroLoss: flags['zero-loss'],
      lossTargetPct: flags['loss-target'] === undefined ? undefined : parsePercent(flags['loss-target'], '--loss-target'),
      maxRateBps: flags['max-rate'] === undefined ? undefined : Number(flags['max-rate']) * 1e9,
      noiseThresholdPct: flags['noise-threshold'] === undefined ? undefined : parsePercent(flags['noise-threshold'], '--noise-threshold'),
      latencyCount: flags['latency-samples'],
      port: flags.port,
      outDir: flags.out,
      dirs: flags.dir ?? [],
      signal,
    }))
    if (json) return result
    const {allRows} = await import('../report/rows.js')
    const {renderText, reportTable} = await import('../report/table.js')
    this.log(renderText(reportTable(allRows(result.results))).trimEnd())
    return result
  }
}
