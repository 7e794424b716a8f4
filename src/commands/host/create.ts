import {Args, Flags} from '@oclif/core'

import {createContext} from '../../app/context.js'
import type {CreateResult} from '../../app/nested.js'
import {VirtlabCommand} from '../../cli/base-command.js'
import {phaseLog} from '../../cli/phase-log.js'
import {VirtlabError} from '../../errors.js'
import {memoryMiB} from '../../lab/units.js'

export default class HostCreate extends VirtlabCommand {
  static override description = [
    'Create and boot a nested lab host: an emulated Linux host (an L1 VM under TCG, Debian trixie\'s kernel, QEMU 10) with',
    'vhost-net, an IOMMU, an SR-IOV NIC (igb) and VDUSE/vDPA, built from Debian packages and cached under <state-dir>/nested.',
    'It is reached over SSH on a 127.0.0.1 port and has no other network. Afterwards `--host NAME` runs labs in it.',
  ].join(' ')

  static override examples = [
    '<%= config.bin %> host create lab1 --nested',
    '<%= config.bin %> host create lab1 --nested --memory 8G --cpus 2',
  ]

  static override args = {
    name: Args.string({description: 'the host\'s name (lowercase letters, digits, dashes)', required: true}),
  }

  static override flags = {
    nested: Flags.boolean({description: 'a nested lab host (an L1 VM on this machine); the only kind `host create` makes', required: true}),
    memory: Flags.string({description: 'L1 memory (e.g. 6G, 8192M)', default: '6G'}),
    cpus: Flags.integer({description: 'L1 vCPUs', default: 2, min: 1, max: 64}),
    refresh: Flags.boolean({description: 'resolve the Debian packages again (rebuild what changed) even when a build is cached', default: false}),
    'boot-timeout': Flags.integer({description: 'seconds to wait for L1 to boot', default: 300, min: 10}),
    'state-dir': Flags.string({description: 'where virtlab keeps state (default /var/lib/virtlab, or $VIRTLAB_STATE_DIR)'}),
  }

  async run(): Promise<CreateResult & {hostsFile: string}> {
    const {args, flags} = await this.parse(HostCreate)
    const memory = memoryMiB(flags.memory)
    if (memory === undefined) throw new VirtlabError('NESTED_BAD_MEMORY', `Not a memory size: ${flags.memory}`, {hint: 'Use e.g. 6G or 8192M.'})
    const json = this.jsonEnabled()
    const ctx = createContext({stateDir: flags['state-dir'], progress: phaseLog(json, (l) => this.logToStderr(l))})
    const {createHost} = await import('../../app/nested.js')
    const result = await createHost(ctx, args.name, {memoryMiB: memory, cpus: flags.cpus, refresh: flags.refresh, bootTimeoutMs: flags['boot-timeout'] * 1000})
    const s = result.status
    const b = result.build
    this.log(`nested host ${s.name} is running (pid ${s.pid ?? '?'}; ${s.cpus} vCPU, ${s.memoryMiB} MiB; ssh ${s.url})`)
    this.log(`  build ${b.manifest.key}: ${b.built.length === 0 ? 'cached' : `built ${b.built.join(', ')}`} in ${(b.ms / 1000).toFixed(1)} s; kernel ${b.manifest.kernel.version}, QEMU ${b.manifest.qemu.version}`)
    this.log(`  disk: ${b.disk.map((d) => `${d.path.split('/').pop()} ${(d.bytes / 1048576).toFixed(0)} MiB`).join(', ')}; nested cache ${(b.totalBytes / 1048576).toFixed(0)} MiB`)
    this.log(`  boot: QEMU ${(result.boot.qemuMs / 1000).toFixed(1)} s, L1 ${(result.boot.bootMs / 1000).toFixed(1)} s, sshd ${(result.boot.sshMs / 1000).toFixed(1)} s (total ${(result.boot.totalMs / 1000).toFixed(1)} s)`)
    this.log(`  shell: ssh -F ${s.sshConfig} ${s.sshAlias}`)
    this.log(`  console: ${s.console}`)
    this.log(`  registered in ${result.hostsFile}: run labs there with --host ${s.name} (e.g. virtlab run vhost-net --host ${s.name})`)
    return result
  }
}
