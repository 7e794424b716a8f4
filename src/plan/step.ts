/**
 * The plan model. A plan is an ordered list of steps; each step has an action, an optional check
 * ("already satisfied?") and an undo. Actions and checks are data, not closures, so a plan can be
 * printed (--dry-run), hashed, journaled and replayed by `down` from the journal alone.
 *
 * Every external command is an argv array run through the CommandRunner; every file access is a
 * HostFs call. Nothing here runs through a shell.
 */

export type Argv = string[]

export type Action =
  /** Run a command. Exit codes listed in okExitCodes (besides 0) count as success. env: extra environment variables. */
  | {kind: 'exec'; argv: Argv; timeoutMs?: number; input?: string; okExitCodes?: number[]; env?: Record<string, string>}
  /** Write a value to a host file (sysfs, procfs). */
  | {kind: 'write'; path: string; value: string}
  /** Create a directory (and parents) with a mode, optionally owned by a user:group resolved on the host. */
  | {kind: 'mkdir'; path: string; mode: number; owner?: {user: string; group: string}}
  /** Write a whole file (domain XML, seed, config). */
  | {kind: 'file'; path: string; content: string; mode: number}
  /** Remove a file or directory (no error if absent). */
  | {kind: 'remove'; path: string; recursive?: boolean}
  /**
   * Poll a check until it holds or the timeout passes. failIf (optional): when it holds at a poll,
   * stop waiting at once and fail with failMessage (a guest whose QEMU died will never boot).
   */
  | {kind: 'wait'; what: string; until: Check; timeoutMs: number; intervalMs?: number; failIf?: Check; failMessage?: string}

export type Check =
  /** True when the command exits 0. */
  | {kind: 'exec-ok'; argv: Argv}
  /** True when the command exits 0 and its stdout matches the regular expression. */
  | {kind: 'exec-stdout'; argv: Argv; pattern: string}
  | {kind: 'file-exists'; path: string}
  /** True when the file's trimmed content equals the value. */
  | {kind: 'file-equals'; path: string; value: string}
  /** True when the path is absent or an empty directory. */
  | {kind: 'dir-empty'; path: string}
  /** True when /proc/mounts (of the target) lists a mount of that type on exactly that mount point. */
  | {kind: 'mounted'; path: string; fstype: string}
  | {kind: 'not'; check: Check}
  | {kind: 'all'; checks: Check[]}
  | {kind: 'any'; checks: Check[]}

/**
 * How a completed step is undone. 'restore-file' and 'restore-exec' use the value recorded just
 * before the step ran (kept in the journal), so `down` puts back exactly what was there.
 */
export type Undo =
  | {kind: 'none'}
  | {kind: 'action'; action: Action}
  | {kind: 'actions'; actions: Action[]}
  /** Write back the file content recorded before the step's write. */
  | {kind: 'restore-file'; path: string}
  /**
   * Run `read` before the step (its trimmed stdout is the previous value; a failing read or empty
   * output means absent). At undo run `whenPresent` with every '{previous}' argument replaced by
   * that value, or `whenAbsent`.
   */
  | {kind: 'restore-exec'; read: Argv; whenPresent: Argv; whenAbsent: Argv}

export type Phase =
  | 'host'      // modules, hugepages, mounts, netns, directories
  | 'devices'   // SR-IOV VFs, driver binding, vDPA devices
  | 'switch'    // bridges, OVS daemons, OVS bridges and ports
  | 'vm'        // domains / QEMU processes
  | 'guest'     // guest readiness, addresses

export interface Refusal {
  check: Check
  /** Stable error code and message, e.g. LINK_EXISTS "link eth0 already exists on this host". */
  code: string
  message: string
  hint: string
}

export interface Step {
  /** Stable id, unique in the plan: 'netns', 'ovs:bridge:br0', 'vm:vm1:start'. */
  id: string
  title: string
  phase: Phase
  action: Action
  /** When it holds before the step runs, the step is skipped (and, not created by us, never undone). */
  check?: Check
  /**
   * When it holds before a step this lab's journal does not own, `up` refuses the whole plan before
   * running anything (virtlab never adopts what it did not create: a host link named like a switch).
   */
  refuseIf?: Refusal
  undo: Undo
  /** Ids of steps that must complete first. Steps with no path between them may run in parallel. */
  dependsOn: string[]
  /** Per-step timeout (ms); the executor's default applies otherwise. */
  timeoutMs?: number
  /** The reference this step follows (a section of docs/labs/<page>.md, `docs/labs/<page>.md#<heading>`, optionally followed by a note in parentheses), for reviewers. */
  ref?: string
}

export interface Plan {
  lab: string
  /** libvirt or direct QEMU. */
  driver: 'libvirt' | 'qemu'
  /** The network namespace that holds the lab's host-side endpoints (undefined: the host's). */
  netns: string | undefined
  runDir: string
  /** Labels of degraded paths ("degraded: no vhost-net"); empty when the lab runs faithfully. */
  degraded: string[]
  /** Decisions the planner made from host facts, for the reader ("accel auto -> tcg: ..."). */
  notes: string[]
  steps: Step[]
}
