import {Args, Flags} from '@oclif/core'

import {createContext} from '../app/context.js'
import type {ReportFormat, ReportOutput} from '../app/report.js'
import {VirtlabCommand} from '../cli/base-command.js'
import {VirtlabError} from '../errors.js'
import {parsePercent} from '../report/thresholds.js'

export default class Report extends VirtlabCommand {
  static override description = 'Report result files: a terminal table, Markdown (for $GITHUB_STEP_SUMMARY), an SVG bar chart with min/max whiskers, or JUnit XML with each case passing or failing against thresholds. Exits 1 when a case fails a threshold'
  static override examples = [
    '<%= config.bin %> report results/*.json',
    '<%= config.bin %> report results/*.json --format markdown >> "$GITHUB_STEP_SUMMARY"',
    '<%= config.bin %> report results/*.json --format svg --out throughput.svg',
    '<%= config.bin %> report results/*.json --format junit --out junit.xml --min-gbps 1 --max-loss 0.1',
    '<%= config.bin %> report results/*.json --baseline main/results.json --max-regression 10%',
  ]
  static override strict = false
  static override args = {
    files: Args.string({description: 'result files or directories (several allowed)', required: true}),
  }
  static override flags = {
    format: Flags.string({description: 'output format', options: ['table', 'markdown', 'svg', 'junit'], default: 'table'}),
    out: Flags.string({description: 'write the report to this file instead of stdout'}),
    'min-gbps': Flags.string({description: 'fail a case whose median throughput is below this (Gbit/s)'}),
    'max-loss': Flags.string({description: 'fail a case whose loss is above this percentage'}),
    baseline: Flags.string({description: 'a result file (or directory) to compare against'}),
    'max-regression': Flags.string({description: 'fail a case more than this percentage slower than the baseline (default 10%)'}),
  }

  async run(): Promise<ReportOutput> {
    const {argv, flags} = await this.parse(Report)
    const {reportResults} = await import('../app/report.js')
    const number = (text: string | undefined, flag: string): number | undefined => {
      if (text === undefined) return undefined
      const value = Number(text)
      if (!Number.isFinite(value) || value < 0) throw new VirtlabError('REPORT_BAD_FLAG', `${flag} must be a non-negative number, got "${text}"`)
      return value
    }
    const ctx = createContext()
    const result = await reportResults(ctx.operator.fs, {
      files: argv.map(String),
      format: flags.format as ReportFormat,
      out: flags.out,
      minGbps: number(flags['min-gbps'], '--min-gbps'),
      maxLossPct: flags['max-loss'] === undefined ? undefined : parsePercent(flags['max-loss'], '--max-loss'),
      baseline: flags.baseline,
      maxRegressionPct: flags['max-regression'] === undefined ? undefined : parsePercent(flags['max-regression'], '--max-regression'),
    })
    if (!result.pass) process.exitCode = 1
    if (this.jsonEnabled()) return result
    if (result.out === undefined) process.stdout.write(result.text)
    else this.logToStderr(`wrote ${result.out}`)
    const failed = result.cases.filter((c) => !c.pass)
    for (const c of failed) this.logToStderr(`FAIL ${c.key}: ${c.failures.join('; ')}`)
    return result
  }
}
