import {Flags} from '@oclif/core'

import {showGuestImage, type ImageShowResult} from '../../app/image.js'
import {hostFlag, VirtlabCommand} from '../../cli/base-command.js'

export default class ImageShow extends VirtlabCommand {
  static override description = 'Show the current built-in guest image (paths and manifest).'

  static override examples = ['<%= config.bin %> image show', '<%= config.bin %> image show --json']

  static override flags = {
    host: hostFlag,
    'state-dir': Flags.string({description: 'where virtlab keeps state (default /var/lib/virtlab, or $VIRTLAB_STATE_DIR)'}),
  }

  async run(): Promise<ImageShowResult> {
    const {flags} = await this.parse(ImageShow)
    const result = await showGuestImage(await this.openContext({host: flags.host, stateDir: flags['state-dir']}))
    if (!result.present || result.manifest === undefined) {
      this.log(`No built-in guest image at ${result.paths.dir} (virtlab image build makes one).`)
      return result
    }
    const m = result.manifest
    this.log(`Built-in guest image ${m.key} (${result.paths.dir} -> ${result.target ?? '?'})`)
    this.log(`  kernel   ${result.paths.kernel}  ${m.kernel.version} (${m.kernel.source}${m.kernel.package ? `: ${m.kernel.package} ${m.kernel.packageVersion ?? ''}` : ''})`)
    this.log(`  initrd   ${result.paths.initrd}  ${(m.initrdBytes / 1048576).toFixed(1)} MiB`)
    this.log(`  packages ${Object.entries(m.packages).map(([p, v]) => `${p} ${v}`).join(', ')}`)
    this.log(`  modules  ${m.modules.load.join(' ') || '(all built in)'}`)
    this.log(`  built    ${m.builtAt} in ${(m.buildMs / 1000).toFixed(1)} s`)
    return result
  }
}
