import {oneLine} from '../lab/problems.js'
import {Flags} from '@oclif/core'

import {listLabFiles} from '../app/lab-files.js'
import {packageRoot} from '../app/context.js'
import {VirtlabCommand} from '../cli/base-command.js'
import {RootedFs} from '../host/fs.js'
import {shippedLabsDir} from '../lab/find.js'
import type {LabSummary} from '../lab/find.js'

export default class List extends VirtlabCommand {
  static override description = 'List the shipped labs and the labs in --dir directories, with a one-line description each'
  static override examples = ['<%= config.bin %> list', '<%= config.bin %> list --dir ./my-labs', '<%= config.bin %> list --json']
  static override flags = {
    dir: Flags.string({description: 'also list the labs (*.yaml) in this directory (repeatable)', multiple: true, multipleNonGreedy: true}),
  }

  async run(): Promise<{labs: LabSummary[]}> {
    const {flags} = await this.parse(List)
    const root = packageRoot()
    const labs = await listLabFiles(flags.dir ?? [], {fs: new RootedFs('/'), packageRoot: root})
    if (!this.jsonEnabled()) {
      if (labs.length === 0) this.log('no labs found')
      const width = Math.max(...labs.map((l) => l.name.length), 4)
      const shipped = shippedLabsDir(root)
      for (const lab of labs) {
        const where = lab.file.startsWith(shipped + '/') ? '' : `  (${lab.file})`
        this.log(oneLine(`${lab.name.padEnd(width)}  ${lab.description}${where}`))
      }
    }
    return {labs}
  }
}
