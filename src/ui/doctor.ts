/**
 * The terminal rendering of `virtlab doctor`: one line per check (PASS/WARN/FAIL, coloured when the
 * painter is enabled), the fix under a non-passing check, the summary, and the --fix plan. Pure:
 * returns lines, the command prints them.
 */
import type {CheckResult, FixPlan} from '../doctor/index.js'
import {quoteArgv} from '../errors.js'
import type {Color, Painter} from './color.js'

const LABEL: Record<CheckResult['status'], string> = {pass: 'PASS', warn: 'WARN', fail: 'FAIL'}
const COLOR: Record<CheckResult['status'], Color> = {pass: 'green', warn: 'yellow', fail: 'red'}

export function renderChecks(checks: readonly CheckResult[], p: Painter): string[] {
  const lines: string[] = []
  for (const c of checks) {
    lines.push(`${p.paint(LABEL[c.status], COLOR[c.status])}  ${c.title}: ${c.detail}`)
    if (c.status !== 'pass' && c.fix) lines.push(`      ${p.paint('fix:', 'dim')} ${c.fix}`)
  }
  return lines
}

export function renderSummary(s: {pass: number; warn: number; fail: number}, p: Painter): string {
  const part = (n: number, word: CheckResult['status']) => {
    const text = `${n} ${word}`
    return n > 0 ? p.paint(text, COLOR[word]) : text
  }
  return `${part(s.pass, 'pass')}, ${part(s.warn, 'warn')}, ${part(s.fail, 'fail')}`
}

export function renderFixPlan(plan: FixPlan): string[] {
  const lines = ['virtlab doctor --fix will:']
  if (plan.commands.length === 0) lines.push('  nothing automatic to do (no missing packages, no daemons to start)')
  if (plan.packages.length > 0) lines.push(`  install: ${plan.packages.join(' ')}`)
  if (plan.unsupported) lines.push('  (no supported package manager here: install those by hand)')
  if (plan.daemons.length > 0) lines.push(`  start: ${plan.daemons.map((d) => (d === 'libvirtd' ? 'virtlogd, libvirtd' : 'system Open vSwitch')).join('; ')}`)
  for (const argv of plan.commands) lines.push(`    $ ${quoteArgv(argv)}`)
  if (plan.manual.length > 0) {
    lines.push('  left for you (kernel, firmware or hardware):')
    for (const m of plan.manual) lines.push(`    ${m.id}: ${m.fix}`)
  }
  lines.push('')
  return lines
}
