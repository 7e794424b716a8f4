import {Args, Flags} from '@oclif/core'

import {validateLabs, type ValidateLabsResult} from '../app/lab-files.js'
import {packageRoot} from '../app/context.js'
import {VirtlabCommand} from '../cli/base-command.js'
import {VirtlabError} from '../errors.js'
import {RootedFs} from '../host/fs.js'
import {parseSets} from '../lab/params.js'
import {formatProblem} from '../lab/problems.js'

export default class Validate extends VirtlabCommand {
  static override description = 'Check lab files: YAML, schema, references and backend rules. Reports every problem of every file with file:line:column; exits non-zero unless all are valid'
  static override examples = [
    '<%= config.bin %> validate vhost-user',
    '<%= config.bin %> validate labs/*.yaml',
    '<%= config.bin %> validate sriov --set pf=0000:03:00.0 --set vfs=4',
    '<%= config.bin %> validate my-lab.yaml --json',
  ]
  static override strict = false
  static override args = {
    lab: Args.string({description: 'lab names or lab files (several allowed)', required: true}),
  }
  static override flags = {
    set: Flags.string({description: 'override a lab parameter: key=value (repeatable)', multiple: true, multipleNonGreedy: true}),
    dir: Flags.string({description: 'search this directory for lab names before the shipped labs (repeatable)', multiple: true, multipleNonGreedy: true}),
  }

  async run(): Promise<ValidateLabsResult> {
    const {argv, flags} = await this.parse(Validate)
    const sources = argv.map(String)
    const sets = parseSets(flags.set ?? [])
    const result = await validateLabs(sources, {sets, dirs: flags.dir ?? []}, {fs: new RootedFs('/'), packageRoot: packageRoot()})
    if (this.jsonEnabled()) {
      if (!result.valid) process.exitCode = 1
      return result
    }
    for (const lab of result.labs) {
      if (lab.valid) this.log(`ok  ${lab.file}${lab.name === undefined ? '' : ` (${lab.name})`}`)
      else for (const problem of lab.problems) this.logToStderr(formatProblem(problem))
    }
    if (!result.valid) {
      const invalid = result.labs.filter((l) => !l.valid)
      const problems = invalid.reduce((n, l) => n + l.problems.length, 0)
      throw new VirtlabError('LAB_INVALID', `${invalid.length} of ${result.labs.length} lab${result.labs.length === 1 ? '' : 's'} invalid (${problems} problem${problems === 1 ? '' : 's'})`, {
        hint: 'fix the problems listed above; `virtlab schema` prints the lab format',
      })
    }
    return result
  }
}
