import {Flags} from '@oclif/core'

import type {BenchLoopbackResult} from '../../app/bench.js'
import {createContext} from '../../app/context.js'
import {VirtlabCommand} from '../../cli/base-command.js'
import {VirtlabError} from '../../errors.js'
import {parsePercent} from '../../report/thresholds.js'

function parseFrameSizes(text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined
  const sizes = text.split(',').map((s) => s.trim()).filter(Boolean).map(Number)
  if (sizes.length === 0 || sizes.some((s) => !Number.isInteger(s) || s < 64 || s > 2000)) {
    throw new VirtlabError('BENCH_BAD_FLAG', `--frame-sizes must be a comma-separated list of frame sizes in 64..2000 bytes, got "${text}"`)
  }
  return sizes
}

export default class BenchLoopback extends VirtlabCommand {
  static override description = [
    'The software ceiling of any vhost-user path on this host: DPDK\'s own vhost-user <-> virtio-user forwarding,',
    'no VM. Two dpdk-testpmd (Debian\'s dpdk-dev) in io mode, one per core, one burst circulating between them;',
    'per frame size the packet rate (Mpps) and bit rate (Gbit/s) from testpmd\'s port statistics, and both sides\' counters.',
    'Reserves 2 MiB hugepages for the run and restores the previous count. Writes <out>/loopback.json (schema/result.schema.json).',
  ].join(' ')

  static override examples = [
    '<%= config.bin %> bench loopback',
    '<%= config.bin %> bench loopback --frame-sizes 64,1518 --duration 5 --json',
  ]

  static override flags = {
    'frame-sizes': Flags.string({description: 'frame sizes in bytes (testpmd --txpkts), default 64,128,256,512,1024,1518'}),
    duration: Flags.integer({description: 'seconds of traffic per trial', min: 3, max: 600, default: 8}),
    trials: Flags.integer({description: 'trials per frame size', min: 1, max: 100, default: 1}),
    'vhost-core': Flags.integer({description: 'core the vhost-side testpmd polls on', min: 0, max: 1023, default: 1}),
    'virtio-core': Flags.integer({description: 'core the virtio-user-side testpmd polls on', min: 0, max: 1023, default: 0}),
    'noise-threshold': Flags.string({description: 'coefficient of variation above which a frame size is flagged noisy, percent (default 5)'}),
    out: Flags.string({description: 'directory for the result file', default: 'results'}),
  }

  async run(): Promise<BenchLoopbackResult> {
    const {flags} = await this.parse(BenchLoopback)
    const {benchLoopback} = await import('../../app/bench.js')
    const json = this.jsonEnabled()
    const ctx = createContext({
      progress: this.notesToStderr(),
    })
    const result = await this.abortOnSignals((signal) => benchLoopback(ctx, {
      frameSizes: parseFrameSizes(flags['frame-sizes']),
      durationS: flags.duration,
      trials: flags.trials,
      vhostCore: flags['vhost-core'],
      virtioCore: flags['virtio-core'],
      noiseThresholdPct: flags['noise-threshold'] === undefined ? undefined : parsePercent(flags['noise-threshold'], '--noise-threshold'),
      outDir: flags.out,
      signal,
    }))
    if (json) return result
    const {renderLoopbackTable} = await import('../../report/loopback.js')
    this.log(renderLoopbackTable(result.result).trimEnd())
    this.log(`wrote ${result.file}`)
    return result
  }
}
