import {Args, Flags} from '@oclif/core'

import {createContext} from '../app/context.js'
import type {CompareFormat, CompareOutput} from '../app/report.js'
import {VirtlabCommand} from '../cli/base-command.js'

export default class Compare extends VirtlabCommand {
  static override description = 'Lay the virtio architectures side by side (virtio in QEMU, vhost-net, vhost-user, SR-IOV, vDPA): measured throughput, packet rate, latency and CPU cost from result files, next to qualitative facts (hugepages, vendor driver in the guest, live migration, hardware needed)'
  static override examples = [
    '<%= config.bin %> compare results/*.json',
    '<%= config.bin %> compare results/ --format markdown >> "$GITHUB_STEP_SUMMARY"',
  ]
  static override strict = false
  static override args = {
    files: Args.string({description: 'result files or directories (several allowed)', required: true}),
  }
  static override flags = {
    format: Flags.string({description: 'output format', options: ['table', 'markdown'], default: 'table'}),
    out: Flags.string({description: 'write the table to this file instead of stdout'}),
  }

  async run(): Promise<CompareOutput> {
    const {argv, flags} = await this.parse(Compare)
    const {compareResults} = await import('../app/report.js')
    const ctx = createContext()
    const result = await compareResults(ctx.operator.fs, {files: argv.map(String), format: flags.format as CompareFormat, out: flags.out})
    if (this.jsonEnabled()) return result
    if (result.out === undefined) process.stdout.write(result.text)
    else this.logToStderr(`wrote ${result.out}`)
    return result
  }
}
