/**
 * `virtlab render`: every compiled artifact of a lab as files: domains/<vm>.xml (libvirt),
 * qemu/<vm>.argv (one argument per line), ovs.txt (one display-quoted argv per line), plan.txt
 * (the plan text). No libvirt network XML: virtlab defines no libvirt networks (its switches are
 * Linux or OVS bridges it creates; domains attach to them directly). Written under --out through
 * HostFs, or returned for printing.
 */
import {quoteArgv} from '../errors.js'
import type {Artifacts, Driver} from '../compile/artifacts.js'
import {renderPlanText} from '../plan/render.js'
import {withExampleTokens} from '../plan/tokens.js'
import type {Plan} from '../plan/step.js'
import {planLab, type PlanContext} from './plan.js'

export interface RenderedFile {
  /** Relative to the output directory. */
  path: string
  content: string
}

export interface RenderLabOptions {
  sets?: Record<string, string>
  dirs?: string[]
  driver?: Driver
  /** Write the files under this directory (created if missing). */
  out?: string
}

export interface RenderLabResult {
  lab: string
  driver: Driver
  /** Where the files were written (undefined: not written). */
  out: string | undefined
  files: RenderedFile[]
  degraded: string[]
  notes: string[]
}

/**
 * A domain XML as render writes it. Values known only at apply time (a VF's PCI address, the
 * /dev/vhost-vdpa-N node) get example values and a leading comment that says so, so the file is a
 * complete domain that libvirt's schema accepts; `up` writes the real values.
 */
function domainFile(xml: string): string {
  const {text, replaced} = withExampleTokens(xml)
  if (replaced.length === 0) return xml
  const lines = replaced.map((r) => `  ${r.token} -> ${r.example}`)
  return `<!-- virtlab render: values known only at apply time are shown as examples:\n${lines.join('\n')}\n-->\n${text}`
}

/** The files of a compiled lab and its plan, in a stable order. */
export function renderArtifacts(artifacts: Artifacts, plan: Plan): RenderedFile[] {
  const files: RenderedFile[] = []
  for (const d of artifacts.domains) files.push({path: `domains/${d.vm}.xml`, content: domainFile(d.xml)})
  for (const q of artifacts.qemu) files.push({path: `qemu/${q.vm}.argv`, content: q.argv.join('\n') + '\n'})
  if (artifacts.ovsCommands.length > 0) files.push({path: 'ovs.txt', content: artifacts.ovsCommands.map((a) => quoteArgv(a)).join('\n') + '\n'})
  files.push({path: 'plan.txt', content: renderPlanText(plan)})
  return files
}

export async function renderLab(source: string, options: RenderLabOptions, ctx: PlanContext): Promise<RenderLabResult> {
  const {artifacts, plan} = await planLab(source, {
    sets: options.sets,
    dirs: options.dirs,
    compile: {driver: options.driver ?? 'libvirt', autoAccel: 'tcg', autoOvs: 'private', hostHasVhostNet: undefined, allowDegraded: false},
  }, ctx)
  const files = renderArtifacts(artifacts, plan)
  if (options.out !== undefined) {
    const out = options.out.replace(/\/+$/, '') || '/'
    for (const f of files) {
      const target = `${out}/${f.path}`
      await ctx.operator.fs.mkdir(target.slice(0, target.lastIndexOf('/')), {mode: 0o755})
      await ctx.operator.fs.writeFile(target, f.content, {mode: 0o644})
    }
  }
  return {lab: artifacts.lab.name, driver: artifacts.options.driver, out: options.out, files, degraded: plan.degraded, notes: plan.notes}
}
