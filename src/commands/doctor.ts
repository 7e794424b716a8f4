import {Args, Flags} from '@oclif/core'

import {doctor, type DoctorResult} from '../app/doctor.js'
import {hostFlag, VirtlabCommand} from '../cli/base-command.js'
import type {CheckResult, FixPlan} from '../doctor/index.js'
import {quoteArgv} from '../errors.js'
import {parseSets} from '../lab/params.js'

const LABEL: Record<CheckResult['status'], string> = {pass: 'PASS', warn: 'WARN', fail: 'FAIL'}

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
    host: hostFlag,
    fix: Flags.boolean({description: 'install missing packages (apt-get / dnf) and start missing daemons (virtlogd, libvirtd, system OVS), then check again', default: false}),
    set: Flags.string({description: 'override a lab parameter: key=value (repeatable)', multiple: true, multipleNonGreedy: true}),
    dir: Flags.string({description: 'search this directory for lab names before the shipped labs (repeatable)', multiple: true, multipleNonGreedy: true}),
    driver: Flags.string({description: 'the VM driver `up` will use (with libvirt, an unreachable libvirt that cannot be started fails)', options: ['libvirt', 'qemu']}),
    'allow-degraded': Flags.boolean({description: 'as `up --allow-degraded`: a missing /dev/vhost-net is a warning (userspace backend)', default: false}),
    'reprobe-kvm': Flags.boolean({description: 'measure KVM against TCG again instead of using the cached result', default: false}),
  }

  async run(): Promise<DoctorResult> {
    const {args, flags} = await this.parse(Doctor)
    const json = this.jsonEnabled()
    const ctx = await this.openContext({
      host: flags.host,
      progress: (e) => {
        if (!json && (e.type === 'info' || e.type === 'warn')) this.logToStderr(`${e.type === 'warn' ? 'warning: ' : ''}${e.title}${e.detail ? `: ${e.detail}` : ''}`)
      },
    })
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
      for (const r of fix.results) this.log(`${r.ok ? 'done' : 'FAILED'}  ${r.what}: ${r.detail}`)
      if (fix.results.length > 0) this.log('')
      this.log(`after --fix${result.lab ? ` (${result.lab})` : ''}: ${result.host.os}, kernel ${result.host.kernel ?? '?'}, QEMU ${result.host.qemu ?? 'missing'}`)
      this.printChecks(fix.checksAfter)
      this.printSummary(fix.summaryAfter)
    }
    return result
  }

  private printPlan(plan: FixPlan): void {
    this.log('virtlab doctor --fix will:')
    if (plan.commands.length === 0) this.log('  nothing automatic to do (no missing packages, no daemons to start)')
    if (plan.packages.length > 0) this.log(`  install: ${plan.packages.join(' ')}`)
    if (plan.unsupported) this.log('  (no supported package manager here: install those by hand)')
    if (plan.daemons.length > 0) this.log(`  start: ${plan.daemons.map((d) => (d === 'libvirtd' ? 'virtlogd, libvirtd' : 'system Open vSwitch')).join('; ')}`)
    for (const argv of plan.commands) this.log(`    $ ${quoteArgv(argv)}`)
    if (plan.manual.length > 0) {
      this.log('  left for you (kernel, firmware or hardware):')
      for (const m of plan.manual) this.log(`    ${m.id}: ${m.fix}`)
    }
    this.log('')
  }

  private printChecks(checks: readonly CheckResult[]): void {
    for (const c of checks) {
      this.log(`${LABEL[c.status]}  ${c.title}: ${c.detail}`)
      if (c.status !== 'pass' && c.fix) this.log(`      fix: ${c.fix}`)
    }
  }

  private printSummary(s: {pass: number; warn: number; fail: number}): void {
    this.log(`${s.pass} pass, ${s.warn} warn, ${s.fail} fail`)
  }
}
