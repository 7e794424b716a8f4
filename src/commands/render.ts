import * as path from 'node:path'

import {Args, Flags} from '@oclif/core'

import {createContext} from '../app/context.js'
import type {RenderLabResult} from '../app/render.js'
import {VirtlabCommand} from '../cli/base-command.js'
import {parseSets} from '../lab/params.js'

export default class Render extends VirtlabCommand {
  static override description = 'Compile a lab without touching the host: libvirt domain XML, QEMU argv, OVS commands and the plan (what `up` would do). There is no libvirt network XML: a lab\'s switches are Linux or OVS bridges virtlab creates, and domains attach to them directly'
  static override examples = [
    '<%= config.bin %> render vhost-net',
    '<%= config.bin %> render vhost-user --driver qemu --out /tmp/vhost-user',
    '<%= config.bin %> render sriov --set pf=0000:03:00.0 --json',
  ]
  static override args = {
    lab: Args.string({description: 'lab name or lab file', required: true}),
  }
  static override flags = {
    out: Flags.string({description: 'write the files under this directory instead of printing them'}),
    driver: Flags.string({description: 'libvirt domains or QEMU run by virtlab', options: ['libvirt', 'qemu'], default: 'libvirt'}),
    set: Flags.string({description: 'override a lab parameter: key=value (repeatable)', multiple: true, multipleNonGreedy: true}),
    dir: Flags.string({description: 'search this directory for lab names before the shipped labs (repeatable)', multiple: true, multipleNonGreedy: true}),
  }

  async run(): Promise<RenderLabResult> {
    const {args, flags} = await this.parse(Render)
    // Loaded here, not at the top: oclif imports every command file to list commands, and the
    // compiler should not slow down the start of every other command.
    const {renderLab} = await import('../app/render.js')
    const ctx = createContext()
    const out = flags.out === undefined ? undefined : path.resolve(flags.out)
    const result = await renderLab(args.lab, {
      sets: parseSets(flags.set ?? []),
      dirs: flags.dir ?? [],
      driver: flags.driver === 'qemu' ? 'qemu' : 'libvirt',
      out,
    }, ctx)
    if (this.jsonEnabled()) return result
    if (out !== undefined) {
      for (const f of result.files) this.log(`wrote ${path.join(out, f.path)}`)
    } else {
      result.files.forEach((f, i) => {
        if (i > 0) this.log('')
        this.log(`==> ${f.path} <==`)
        this.log(f.content.trimEnd())
      })
    }
    return result
  }
}
