/**
 * Plan rendering: the text `virtlab up <lab> --dry-run` and `virtlab render` print (numbered steps
 * with the exact argv, writes, checks and the undo of each), and the plan as JSON. Argv quoting is
 * for display only (quoteArgv); nothing here is ever run.
 */
import {quoteArgv} from '../errors.js'
import type {Action, Check, Plan, Step, Undo} from './step.js'
import {hasTokens} from './tokens.js'

function mode(m: number): string {
  return `0${m.toString(8)}`
}

export function describeAction(a: Action): string {
  switch (a.kind) {
    case 'exec': {
      const env = a.env === undefined ? '' : Object.entries(a.env).map(([k, v]) => `${k}=${v} `).join('')
      const ok = a.okExitCodes === undefined ? '' : ` (exit ${a.okExitCodes.join(', ')} also ok)`
      const input = a.input === undefined ? '' : ` with stdin ${JSON.stringify(a.input)}`
      return `${env === '' ? '' : `env ${env}`}${quoteArgv(a.argv)}${input}${ok}`
    }
    case 'write': return `write ${JSON.stringify(a.value)} to ${a.path}`
    case 'mkdir': return `mkdir ${a.path} (mode ${mode(a.mode)}${a.owner === undefined ? '' : `, owner ${a.owner.user}:${a.owner.group}`})`
    case 'file': return `write file ${a.path} (${Buffer.byteLength(a.content)} bytes, mode ${mode(a.mode)})`
    case 'remove': return `remove ${a.path}${a.recursive ? ' (recursively)' : ''}`
    case 'wait': return `wait up to ${a.timeoutMs / 1000} s for ${a.what}: until ${describeCheck(a.until)}${a.failIf === undefined ? '' : `; fail at once if ${describeCheck(a.failIf)}`}`
  }
}

export function describeCheck(c: Check): string {
  switch (c.kind) {
    case 'exec-ok': return `\`${quoteArgv(c.argv)}\` succeeds`
    case 'exec-stdout': return `\`${quoteArgv(c.argv)}\` prints /${c.pattern}/`
    case 'file-exists': return `${c.path} exists`
    case 'file-equals': return `${c.path} contains ${JSON.stringify(c.value)}`
    case 'dir-empty': return `${c.path} is absent or an empty directory`
    case 'mounted': return `${c.path} is a ${c.fstype} mount (/proc/mounts)`
    case 'not': return `not (${describeCheck(c.check)})`
    case 'all': return c.checks.map(describeCheck).join(' and ')
    case 'any': return c.checks.map(describeCheck).join(' or ')
  }
}

export function describeUndo(u: Undo): string[] {
  switch (u.kind) {
    case 'none': return ['none']
    case 'action': return [describeAction(u.action)]
    case 'actions': return u.actions.map(describeAction)
    case 'restore-file': return [`write back the value ${u.path} had before`]
    case 'restore-exec': return [
      `restore the previous value read by \`${quoteArgv(u.read)}\`:`,
      `  if it had one: ${quoteArgv(u.whenPresent)}`,
      `  if it had none: ${quoteArgv(u.whenAbsent)}`,
    ]
  }
}

function stepText(s: Step, n: number, width: number): string[] {
  const pad = ' '.repeat(width + 2)
  const field = (label: string, text: string) => `${pad}  ${label.padEnd(8)} ${text}`
  const lines = [`${String(n).padStart(width)}. [${s.phase}] ${s.title}  (${s.id})`]
  lines.push(field('do:', describeAction(s.action)))
  if (s.check !== undefined) lines.push(field('skip if:', describeCheck(s.check)))
  if (s.refuseIf !== undefined) lines.push(field('refuse if:', `${describeCheck(s.refuseIf.check)} (and this lab did not create it): ${s.refuseIf.code}`))
  const undo = describeUndo(s.undo)
  lines.push(field('undo:', undo[0] ?? 'none'))
  for (const more of undo.slice(1)) lines.push(field('', more))
  if (s.dependsOn.length > 0) lines.push(field('after:', s.dependsOn.join(', ')))
  if (s.timeoutMs !== undefined) lines.push(field('timeout:', `${s.timeoutMs / 1000} s`))
  if (s.ref !== undefined) lines.push(field('ref:', s.ref))
  return lines
}

export function renderPlanText(plan: Plan): string {
  const lines = [
    `virtlab plan for lab ${plan.lab} (driver: ${plan.driver})`,
    `  netns:    ${plan.netns ?? 'none (host isolation: endpoints in the host namespace)'}`,
    `  run dir:  ${plan.runDir}`,
    // The labels start with "degraded: " themselves; the field name is not repeated.
    `  degraded: ${plan.degraded.length === 0 ? 'no (the lab runs as written)' : plan.degraded.map((d) => d.replace(/^degraded:\s*/i, '')).join('; ')}`,
  ]
  if (plan.notes.length > 0) {
    lines.push('  notes:')
    for (const note of plan.notes) lines.push(`    - ${note}`)
  }
  lines.push('', `${plan.steps.length} steps (run in order; a step whose "skip if" holds is skipped and never undone; down runs the undo of completed steps in reverse):`, '')
  const width = String(plan.steps.length).length
  plan.steps.forEach((s, i) => lines.push(...stepText(s, i + 1, width)))
  if (plan.steps.some((s) => hasTokens(JSON.stringify(s)))) {
    lines.push('', '@{...} values (VF PCI addresses, /dev/vhost-vdpa-N) are known at apply time, once the devices exist.')
  }
  return lines.join('\n') + '\n'
}

export function renderPlanJson(plan: Plan): string {
  return JSON.stringify(plan, null, 2) + '\n'
}
