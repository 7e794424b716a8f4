/** Small constructors for plan data, so step definitions read like the commands they run. */
import type {Action, Argv, Check, Refusal, Step, Undo} from '../plan/step.js'
import {token} from '../plan/tokens.js'

export function exec(argv: Argv, extra: Omit<Extract<Action, {kind: 'exec'}>, 'kind' | 'argv'> = {}): Action {
  return {kind: 'exec', argv, ...extra}
}

export function execOk(argv: Argv): Check {
  return {kind: 'exec-ok', argv}
}

export function execMatches(argv: Argv, pattern: string): Check {
  return {kind: 'exec-stdout', argv, pattern}
}

export function undoExec(argv: Argv, okExitCodes?: number[]): Undo {
  return {kind: 'action', action: exec(argv, okExitCodes === undefined ? {} : {okExitCodes})}
}

export const NO_UNDO: Undo = {kind: 'none'}

/** Escape a literal for use inside a regular expression. */
export function reEscape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** A regular expression that matches `name` as a whole line-leading word of a listing. */
export function lineWord(name: string): string {
  return `(^|\\n)${reEscape(name)}( |\\n|$)`
}

export interface StepInput extends Omit<Step, 'undo' | 'dependsOn'> {
  undo?: Undo
  dependsOn?: string[]
}

export function step(input: StepInput): Step {
  const {undo = NO_UNDO, dependsOn = [], ...rest} = input
  return {...rest, undo, dependsOn: [...new Set(dependsOn)]}
}

/** `ip` in the lab's namespace (or the host's when there is none). */
export function ipIn(netns: string | undefined, ...args: string[]): Argv {
  return netns === undefined ? ['ip', ...args] : ['ip', '-n', netns, ...args]
}

/**
 * Creating a link: refuse when one of that name already exists (in the host namespace or the
 * lab's) and the lab's journal does not own the step: virtlab never tags, addresses or deletes a
 * link it did not create.
 */
export function refuseExistingLink(netns: string | undefined, ifname: string, what: string): Refusal {
  return {
    check: linkExists(netns, ifname),
    code: 'LINK_EXISTS',
    message: `${what} ${ifname} already exists${netns === undefined ? ' on this host' : ` in namespace ${netns}`} and this lab did not create it`,
    hint: `virtlab never adopts a link it did not create: rename the switch in the lab, or remove ${ifname} yourself if it is a leftover (\`virtlab down <lab> --force\` removes the lab's own)`,
  }
}

/** A check that an interface exists (in a namespace or the host's). */
export function linkExists(netns: string | undefined, ifname: string): Check {
  return execOk(ipIn(netns, 'link', 'show', 'dev', ifname))
}

/** Bring a link up (in a namespace or the host's); skipped when it is UP already. No undo: deleting the link undoes it. */
export function linkUpStep(input: Omit<StepInput, 'action' | 'check' | 'undo'> & {netns?: string | undefined; ifname: string}): Step {
  const {netns, ifname, ...rest} = input
  return step({
    ...rest,
    action: exec(ipIn(netns, 'link', 'set', 'dev', ifname, 'up')),
    check: execMatches(ipIn(netns, 'link', 'show', 'dev', ifname), '[<,]UP[,>]'),
  })
}

/**
 * Stop a daemon by its pidfile and wait until it is gone. QEMU and the OVS daemons remove their
 * pidfile on the way out, before they have released their memory (hugepages, a hugetlbfs mount),
 * so the wait also watches the very process: its pid is read from the pidfile when the journal
 * records this undo (@{pidfile-pid}), and /proc/<pid>/exe lasts until its memory is gone.
 */
export function stopByPidfile(what: string, pidfile: string, timeoutMs = 30_000): Undo {
  return {
    kind: 'actions',
    actions: [
      exec(['pkill', '-TERM', '-F', pidfile], {okExitCodes: [1]}),
      {
        kind: 'wait',
        what: `${what} to exit`,
        until: {kind: 'not', check: {kind: 'any', checks: [execOk(['pgrep', '-F', pidfile]), {kind: 'file-exists', path: `/proc/${token('pidfile-pid', pidfile)}/exe`}]}},
        timeoutMs,
        intervalMs: 200,
      },
      {kind: 'remove', path: pidfile},
    ],
  }
}

export function runningByPidfile(pidfile: string): Check {
  return execOk(['pgrep', '-F', pidfile])
}
