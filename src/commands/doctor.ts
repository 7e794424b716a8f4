import {Args, Flags} from '@oclif/core'

import {createContext, type Context} from '../app/context.js'
import {doctor, type DoctorResult} from '../app/doctor.js'
import {VirtlabCommand} from '../cli/base-command.js'
import type {CheckResult, FixPlan} from '../doctor/index.js'
import {doctorForTests, type TestPackagesResult} from '../doctor/test-packages.js'
import {VirtlabError} from '../errors.js'
import {parseSets} from '../lab/params.js'
import {colorEnabled, painter} from '../ui/color.js'
import {renderChecks, renderFixPlan, renderSummary} from '../ui/doctor.js'

export default class Doctor extends VirtlabCommand {
  static override description = 'Check that this host can run a lab (or every lab): root, KVM (measured, not assumed), vhost-net, TUN, hugepages, IOMMU, VFIO, SR-IOV, vDPA, OVS/OVS-DPDK, libvirt, QEMU, iperf3. Each check is pass, warn or fail with a concrete fix; --fix installs missing packages and starts missing daemons. Exits 1 when a check fails'
  static override examples = [
    '<%= config.bin %> doctor',
    '<%= config.bin %> doctor vhost-user --json',
    '<%= config.bin %> doctor sriov --set pf=0000:03:00.0',
    '<%= config.bin %> doctor vhost-net --fix',
  ]
  static override args = {
    lab: Args.string({description: 'lab name or lab file (default: check everything)', required: false}),
  }
  static override flags = {
    fix: Flags.boolean({description: 'install missing packages (apt-get / dnf) and start missing daemons (virtlogd, libvirtd, system OVS), then check again', default: false}),
    set: Flags.string({description: 'override a lab parameter: key=value (repeatable)', multiple: true, multipleNonGreedy: true}),
    dir: Flags.string({description: 'search this directory for lab names before the shipped labs (repeatable)', multiple: true, multipleNonGreedy: true}),
    driver: Flags.string({description: 'the VM driver `up` will use (with libvirt, an unreachable libvirt that cannot be started fails)', options: ['libvirt', 'qemu']}),
    'allow-degraded': Flags.boolean({description: 'as `up --allow-degraded`: a missing /dev/vhost-net is a warning (userspace backend)', default: false}),
    'reprobe-kvm': Flags.boolean({description: 'measure KVM against TCG again instead of using the cached result', default: false}),
    'for-tests': Flags.boolean({description: 'check (with --fix: install) only the host packages the test suite needs (src/doctor/packages.ts); `npm test` runs `doctor --fix --for-tests`, a no-op when all are installed', default: false, exclusive: ['set', 'dir', 'driver', 'allow-degraded', 'reprobe-kvm']}),
  }

  private readonly painter = painter(colorEnabled(process.stdout))

  async run(): Promise<DoctorResult | TestPackagesResult> {
    const {args, flags} = await this.parse(Doctor)
    const json = this.jsonEnabled()
    const ctx = createContext({
      progress: (e) => {
        if (!json && (e.type === 'info' || e.type === 'warn')) this.logToStderr(`${e.type === 'warn' ? 'warning: ' : ''}${e.title}${e.detail ? `: ${e.detail}` : ''}`)
      },
    })
    if (flags['for-tests']) {
      if (args.lab !== undefined) throw new VirtlabError('USAGE', '--for-tests checks the test suite\'s packages, not a lab', {hint: 'drop the lab argument', exitCode: 2})
      return this.forTests(ctx, flags.fix, json)
    }
    const result = await doctor(ctx, {
      lab: args.lab,
      sets: parseSets(flags.set ?? []),
      dirs: flags.dir ?? [],
      fix: flags.fix,
      allowDegraded: flags['allow-degraded'],
      driver: flags.driver === 'libvirt' || flags.driver === 'qemu' ? flags.driver : undefined,
      reprobeKvm: flags['reprobe-kvm'],
      onFixPlan: json ? undefined : (plan) => this.printPlan(plan),
    })
    if (!result.ok) process.exitCode = 1
    if (json) return result

    if (!flags.fix) {
      this.log(`virtlab doctor${result.lab ? ` ${result.lab}` : ' (all checks)'}: ${result.host.os}, kernel ${result.host.kernel ?? '?'}, QEMU ${result.host.qemu ?? 'missing'}`)
      this.printChecks(result.checks)
      this.printSummary(result.summary)
      return result
    }
    const fix = result.fix
    if (fix !== undefined) {
      for (const r of fix.results) this.log(`${r.ok ? this.painter.paint('done', 'green') : this.painter.paint('FAILED', 'red')}  ${r.what}: ${r.detail}`)
      if (fix.results.length > 0) this.log('')
      this.log(`after --fix${result.lab ? ` (${result.lab})` : ''}: ${result.host.os}, kernel ${result.host.kernel ?? '?'}, QEMU ${result.host.qemu ?? 'missing'}`)
      this.printChecks(fix.checksAfter)
      this.printSummary(fix.summaryAfter)
    }
    return result
  }

  private async forTests(ctx: Context, fix: boolean, json: boolean): Promise<TestPackagesResult> {
    const result = await doctorForTests(ctx, {fix, onFixPlan: json ? undefined : (plan) => this.printPlan(plan)})
    if (!result.ok) process.exitCode = 1
    if (json) return result
    this.log(`virtlab doctor --for-tests: ${result.os}, ${result.packages.length} packages (src/doctor/packages.ts)`)
    for (const r of result.fix?.results ?? []) this.log(`${r.ok ? this.painter.paint('done', 'green') : this.painter.paint('FAILED', 'red')}  ${r.what}: ${r.detail}`)
    this.printChecks([result.fix?.checkAfter ?? result.check])
    return result
  }

  private printPlan(plan: FixPlan): void {
    for (const line of renderFixPlan(plan)) this.log(line)
  }

  private printChecks(checks: readonly CheckResult[]): void {
    for (const line of renderChecks(checks, this.painter)) this.log(line)
  }

  private printSummary(s: {pass: number; warn: number; fail: number}): void {
    this.log(renderSummary(s, this.painter))
  }
}
