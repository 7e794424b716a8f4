import {Args, Flags} from '@oclif/core'

import {initLab, type InitResult} from '../app/lab-files.js'
import {packageRoot} from '../app/context.js'
import {VirtlabCommand} from '../cli/base-command.js'
import {RootedFs} from '../host/fs.js'

export default class Init extends VirtlabCommand {
  static override description = 'Write a new lab file <dir>/<name>.yaml from the template or from an existing lab; the file is valid as written'
  static override examples = [
    '<%= config.bin %> init my-lab',
    '<%= config.bin %> init my-dpdk --from vhost-user --dir ./labs',
  ]
  static override args = {
    name: Args.string({description: 'the new lab\'s name (lower-case letters, digits, "-")', required: true}),
  }
  static override flags = {
    from: Flags.string({description: 'copy this lab (a shipped lab name or a file) instead of the template'}),
    dir: Flags.string({description: 'directory to write the lab into', default: '.'}),
    force: Flags.boolean({description: 'overwrite an existing file', default: false}),
  }

  async run(): Promise<InitResult> {
    const {args, flags} = await this.parse(Init)
    const result = await initLab(args.name, {from: flags.from, dir: flags.dir, force: flags.force}, {fs: new RootedFs('/'), packageRoot: packageRoot()})
    if (!this.jsonEnabled()) {
      this.log(`created ${result.file} (from ${result.from === 'template' ? 'the template' : result.from})`)
      this.log(`next: virtlab validate ${result.file}`)
    }
    return result
  }
}
