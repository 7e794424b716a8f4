import {Flags} from '@oclif/core'

import {buildGuestImage, type ImageBuildResult} from '../../app/image.js'
import type {ProgressEvent} from '../../app/context.js'
import {hostFlag, VirtlabCommand} from '../../cli/base-command.js'

export default class ImageBuild extends VirtlabCommand {
  static override description = [
    'Build the built-in guest: a kernel (the host\'s, or Debian\'s 6.1 cloud kernel fetched with apt-get download)',
    'and an initramfs with busybox, iperf3, the virtio modules and the QEMU guest agent.',
    'Cached under <state-dir>/images; a no-op when an image with the same inputs exists (unless --force).',
  ].join(' ')

  static override examples = ['<%= config.bin %> image build', '<%= config.bin %> image build --force --json']

  static override flags = {
    host: hostFlag,
    force: Flags.boolean({description: 'rebuild even when an image with the same inputs is cached'}),
    'kernel-package': Flags.string({description: 'Debian kernel package to use (default: the newest linux-image-6.1.0-*-cloud-amd64)'}),
    'state-dir': Flags.string({description: 'where virtlab keeps state (default /var/lib/virtlab, or $VIRTLAB_STATE_DIR)'}),
  }

  async run(): Promise<ImageBuildResult> {
    const {flags} = await this.parse(ImageBuild)
    const json = this.jsonEnabled()
    const ctx = await this.openContext({
      host: flags.host,
      stateDir: flags['state-dir'],
      progress: (event: ProgressEvent) => {
        if (json) return
        if (event.type === 'step-start' || event.type === 'info') this.logToStderr(`  ${event.title}${event.detail ? ` (${event.detail})` : ''} ...`)
        else if (event.type === 'step-done') this.logToStderr(`  ✓ ${event.title}${event.detail ? `: ${event.detail}` : ''}`)
      },
    })
    const result = await buildGuestImage(ctx, {
      force: flags.force,
      ...(flags['kernel-package'] === undefined ? {} : {kernelPackage: flags['kernel-package']}),
    })
    const m = result.manifest
    this.log(`${result.built ? 'Built' : 'Cached'} built-in guest image ${result.key}`)
    this.log(`  kernel  ${result.kernel}  (${m.kernel.package ?? 'host'} ${m.kernel.packageVersion ?? ''}, ${m.kernel.version})`.trimEnd())
    this.log(`  initrd  ${result.initrd}  (${(m.initrdBytes / 1048576).toFixed(1)} MiB, ${m.files} entries)`)
    this.log(`  agent   qemu-ga ${m.agent.version} on virtio-serial port ${m.agent.port}`)
    this.log(`  modules ${m.modules.load.join(' ') || '(all built in)'}`)
    return result
  }
}
