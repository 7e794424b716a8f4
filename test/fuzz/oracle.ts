/**
 * The fuzzer's oracle: what must hold for every lab virtlab accepts, checked on what it compiled.
 *   - a strict re-validation: the lab with its parameters substituted (defaults, --set) passes the
 *     published JSON Schema with nothing skipped (a value that reached the compiler was validated);
 *   - every argv element, path, written value, file content and XML document: no control, C1,
 *     bidi or non-characters; XML well-formed (parsed back) with only XML 1.0 characters;
 *   - paths: absolute, no "." or ".." segments; what is written, created, removed or mounted lies
 *     under the roots virtlab owns or the kernel's interfaces (/sys, /proc/sys, /dev/hugepages,
 *     the run directory, the state directory, DPDK's runtime directory);
 *   - every `@{...}` is a token of the compiler's vocabulary, well-formed;
 *   - each injected value: if it carries ",", "=", "@{", "..", a control character or a leading
 *     "-", it must not appear inside an option string (QEMU/OVS `a=b,c=d`), a path or as a whole
 *     argv element (beyond what the compiler put there for the unmutated lab).
 */
import {Ajv} from 'ajv'
import {XMLValidator} from 'fast-xml-parser'

import type {Artifacts} from '../../src/compile/artifacts.js'
import type {Action, Check, Plan, Undo} from '../../src/plan/step.js'
import {LAB_SCHEMA} from './mutate.js'

export interface Violation {
  rule: string
  detail: string
}

// ---- strict re-validation ----------------------------------------------------------------------

let strictValidator: ReturnType<Ajv['compile']> | undefined
function strict(): ReturnType<Ajv['compile']> {
  strictValidator ??= new Ajv({allErrors: false, strict: false, logger: false}).compile(LAB_SCHEMA)
  return strictValidator
}

type ParamValue = string | number | boolean

/** The effective parameter values: defaults, overridden by --set coerced like the declared type. */
function parameterValues(lab: Record<string, unknown>, sets: Record<string, string>): Map<string, ParamValue> {
  const out = new Map<string, ParamValue>()
  const section = lab.parameters
  if (typeof section !== 'object' || section === null || Array.isArray(section)) return out
  for (const [name, decl] of Object.entries(section as Record<string, unknown>)) {
    if (typeof decl !== 'object' || decl === null) continue
    const d = decl as {default?: unknown; type?: unknown}
    if (typeof d.default === 'string' || typeof d.default === 'number' || typeof d.default === 'boolean') out.set(name, d.default)
  }
  for (const [name, raw] of Object.entries(sets)) {
    if (!Object.hasOwn(section, name)) continue
    const current = out.get(name)
    const type = (section as Record<string, {type?: unknown}>)[name]?.type ?? typeof current
    out.set(name, type === 'integer' || type === 'number' ? Number(raw) : type === 'boolean' ? raw === 'true' : raw)
  }
  return out
}

/** ${name} substitution done independently of src/lab/params.ts: exact references keep their type. */
export function substituted(lab: Record<string, unknown>, sets: Record<string, string>): Record<string, unknown> {
  const values = parameterValues(lab, sets)
  const visit = (value: unknown, top: boolean): unknown => {
    if (typeof value === 'string') {
      const exact = /^\$\{([^}]*)\}$/.exec(value)
      if (exact) return values.has(exact[1] ?? '') ? values.get(exact[1] ?? '') : value
      return value.replace(/\$\{([^}]*)\}/g, (whole, name: string) => (values.has(name) ? String(values.get(name)) : whole))
    }
    if (Array.isArray(value)) return value.map((v) => visit(v, false))
    if (typeof value === 'object' && value !== null) {
      const out: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(value)) out[k] = top && k === 'parameters' ? v : visit(v, false)
      return out
    }
    return value
  }
  return visit(lab, true) as Record<string, unknown>
}

/** The accepted lab, substituted, against the schema with nothing skipped. */
export function checkStrictSchema(lab: Record<string, unknown>, sets: Record<string, string>): Violation[] {
  const value = substituted(lab, sets)
  const validate = strict()
  if (validate(value)) return []
  const error = validate.errors?.[0]
  return [{rule: 'schema-bypass', detail: `accepted, but ${error?.instancePath ?? ''} ${error?.message ?? 'fails the schema'} once parameters are substituted`}]
}

// ---- strings in the plan -----------------------------------------------------------------------

/** The compiler's token vocabulary (src/plan/tokens.ts and the device resolvers). */
export const TOKEN_KINDS = new Set(['pci-id', 'pci-state', 'pf-netdev', 'pf-pci', 'pidfile-pid', 'saved', 'sriov-idle', 'sriov-pf', 'sriov-vfs', 'vdpa-dev', 'vdpa-netdev', 'vdpa-pci-module', 'vdpa-state', 'vf-iommu', 'vf-netdev', 'vf-pci', 'vf-pci-bus', 'vf-pci-domain', 'vf-pci-function', 'vf-pci-slot', 'vf-rep', 'vf-state'])
const TOKEN_AT = /^@\{([a-z][a-z0-9-]*)((?::[A-Za-z0-9_./-]+)*)\}/

// eslint-disable-next-line no-control-regex -- control characters are what this looks for
const BAD_IN_ARG = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c\ufeff\ufffe\uffff]/
// eslint-disable-next-line no-control-regex -- in files and XML, \t \n \r are fine
const BAD_IN_TEXT = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\ufffe\uffff]/

export type Place = 'argv' | 'path' | 'mutable-path' | 'value' | 'content' | 'xml'

export interface PlacedString {
  place: Place
  text: string
  where: string
}

function fromAction(action: Action, where: string, out: PlacedString[]): void {
  switch (action.kind) {
    case 'exec':
      action.argv.forEach((a, i) => out.push({place: 'argv', text: a, where: `${where} argv[${i}]`}))
      if (action.input !== undefined) out.push({place: 'content', text: action.input, where: `${where} stdin`})
      for (const [k, v] of Object.entries(action.env ?? {})) out.push({place: 'argv', text: `${k}=${v}`, where: `${where} env`})
      if (action.argv[0] === 'mount') out.push({place: 'mutable-path', text: action.argv.at(-1) ?? '', where: `${where} mount target`})
      return
    case 'write':
      out.push({place: 'mutable-path', text: action.path, where: `${where} path`}, {place: 'value', text: action.value, where: `${where} value`})
      return
    case 'mkdir':
    case 'remove':
      out.push({place: 'mutable-path', text: action.path, where: `${where} path`})
      return
    case 'file':
      out.push({place: 'mutable-path', text: action.path, where: `${where} path`}, {place: action.path.endsWith('.xml') || action.content.trimStart().startsWith('<') ? 'xml' : 'content', text: action.content, where: `${where} content`})
      return
    case 'wait':
      fromCheck(action.until, `${where} until`, out)
      if (action.failIf !== undefined) fromCheck(action.failIf, `${where} failIf`, out)
  }
}

function fromCheck(check: Check, where: string, out: PlacedString[]): void {
  switch (check.kind) {
    case 'exec-ok':
    case 'exec-stdout':
      check.argv.forEach((a, i) => out.push({place: 'argv', text: a, where: `${where} argv[${i}]`}))
      return
    case 'file-exists':
    case 'file-equals':
      out.push({place: 'path', text: check.path, where: `${where} path`})
      return
    case 'not':
      fromCheck(check.check, where, out)
      return
    case 'all':
    case 'any':
      check.checks.forEach((c, i) => fromCheck(c, `${where}[${i}]`, out))
  }
}

function fromUndo(undo: Undo, where: string, out: PlacedString[]): void {
  switch (undo.kind) {
    case 'action': fromAction(undo.action, where, out); return
    case 'actions': undo.actions.forEach((a, i) => fromAction(a, `${where}[${i}]`, out)); return
    case 'restore-file': out.push({place: 'mutable-path', text: undo.path, where: `${where} path`}); return
    case 'restore-exec':
      for (const [name, argv] of [['read', undo.read], ['whenPresent', undo.whenPresent], ['whenAbsent', undo.whenAbsent]] as const) {
        argv.forEach((a, i) => out.push({place: 'argv', text: a, where: `${where} ${name}[${i}]`}))
      }
  }
}

/** Every string of a plan and its artifacts, with where it stands. */
export function placedStrings(plan: Plan, artifacts: Artifacts): PlacedString[] {
  const out: PlacedString[] = []
  for (const step of plan.steps) {
    fromAction(step.action, `step ${step.id} action`, out)
    if (step.check !== undefined) fromCheck(step.check, `step ${step.id} check`, out)
    fromUndo(step.undo, `step ${step.id} undo`, out)
  }
  for (const d of artifacts.domains) out.push({place: 'xml', text: d.xml, where: `domain ${d.name}`})
  for (const q of artifacts.qemu) q.argv.forEach((a, i) => out.push({place: 'argv', text: a, where: `qemu ${q.vm} argv[${i}]`}))
  artifacts.ovsCommands.forEach((argv, j) => argv.forEach((a, i) => out.push({place: 'argv', text: a, where: `ovs command ${j} argv[${i}]`})))
  return out
}

export interface Roots {
  runBase: string
  runDir: string
  stateDir: string
}

/** Where virtlab may write, create, remove or mount. */
function mutableRoots(roots: Roots): string[] {
  return ['/sys/', '/proc/sys/', '/dev/hugepages', '/mnt/huge', '/var/run/dpdk/vl-', '/run/dpdk/vl-', `${roots.runBase}/`, roots.runBase, `${roots.stateDir}/`, roots.stateDir]
}

/** Tokens in a string: each must be well-formed and of the compiler's vocabulary. Returns the text without them. */
function checkTokens(s: PlacedString, violations: Violation[]): string {
  let rest = ''
  let i = 0
  while (i < s.text.length) {
    const at = s.text.indexOf('@{', i)
    if (at < 0) {
      rest += s.text.slice(i)
      break
    }
    rest += s.text.slice(i, at)
    const match = TOKEN_AT.exec(s.text.slice(at))
    if (match === null || !TOKEN_KINDS.has(match[1] ?? '')) {
      violations.push({rule: 'foreign-token', detail: `${s.where}: ${JSON.stringify(s.text.slice(at, at + 60))} is not a compiler token`})
      return rest
    }
    rest += 'TOKEN'
    i = at + match[0].length
  }
  return rest
}

function checkPath(text: string, s: PlacedString, roots: Roots, violations: Violation[]): void {
  if (text === '') return
  if (!text.startsWith('/') && !text.startsWith('TOKEN')) {
    violations.push({rule: 'relative-path', detail: `${s.where}: ${JSON.stringify(text.slice(0, 80))}`})
    return
  }
  if (text.split('/').some((seg) => seg === '..' || seg === '.')) {
    violations.push({rule: 'path-traversal', detail: `${s.where}: ${JSON.stringify(text.slice(0, 120))}`})
    return
  }
  if (s.place === 'mutable-path' && !text.startsWith('TOKEN') && !mutableRoots(roots).some((r) => text === r.replace(/\/$/, '') || text.startsWith(r))) {
    violations.push({rule: 'path-outside-roots', detail: `${s.where}: ${JSON.stringify(text.slice(0, 120))} is outside the roots virtlab may change`})
  }
}

/** XML 1.0 characters only, and well-formed. */
function checkXml(s: PlacedString, violations: Violation[]): void {
  const result = XMLValidator.validate(s.text)
  if (result !== true) violations.push({rule: 'xml-malformed', detail: `${s.where}: ${result.err.msg} (line ${result.err.line})`})
}

/** Rules on every string of an accepted lab's plan. */
export function checkPlan(plan: Plan, artifacts: Artifacts, roots: Roots): Violation[] {
  const violations: Violation[] = []
  for (const s of placedStrings(plan, artifacts)) {
    const bad = (s.place === 'argv' || s.place === 'path' || s.place === 'mutable-path' ? BAD_IN_ARG : BAD_IN_TEXT).exec(s.text)
    if (bad !== null) {
      violations.push({rule: 'control-character', detail: `${s.where}: U+${bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} in ${s.place}`})
      continue
    }
    if (s.place === 'xml') {
      checkXml(s, violations)
      checkTokens(s, violations)
      continue
    }
    const text = checkTokens(s, violations)
    if (s.place === 'path' || s.place === 'mutable-path') checkPath(text, s, roots, violations)
    else if (s.place === 'argv') {
      // Paths inside arguments: a whole absolute argument, or key=/path in an option string.
      if (text.startsWith('/')) checkPath(text.split(',')[0] ?? text, {...s, place: 'path'}, roots, violations)
      for (const m of text.matchAll(/(?:^|[,=])(?:path|file|socket|iface|mount|dir|romfile|script|downscript|pidfile|logfile|source)=([^,]*)/g)) {
        const value = m[1] ?? ''
        // script=no, mount=off: not paths. A value naming a path must be absolute and normal.
        if (value.includes('/') || value.includes('..')) checkPath(value, {...s, place: 'path'}, roots, violations)
      }
    }
  }
  return violations
}

/** What an injected value may not carry into an option string, a path or a whole argument. */
// eslint-disable-next-line no-control-regex -- control characters are what this looks for
const DANGEROUS = /[,=\n\r\u0000-\u001f]|@\{|\.\.|^-/

/**
 * The injected value's own check: if it is dangerous and virtlab accepted it, it must not appear
 * where it would change meaning: inside a comma-separated option string, as a whole argument
 * starting with "-", or inside a path. (`baseline` are the strings of the unmutated lab's plan:
 * what the compiler itself put there.)
 */
export function checkInjected(injected: readonly string[], placed: readonly PlacedString[], baseline: ReadonlySet<string>): Violation[] {
  const violations: Violation[] = []
  for (const value of injected) {
    if (value.length < 2 || !DANGEROUS.test(value)) continue
    for (const s of placed) {
      if (baseline.has(s.text) || !s.text.includes(value)) continue
      if (s.place === 'xml' || s.place === 'content') continue // escaped or free text: checked by the XML and character rules
      const inOption = s.place === 'argv' && s.text !== value && /[,=]/.test(s.text) && /[,=]|@\{|(^|\/)\.\.(\/|$)/.test(value)
      const asOption = s.place === 'argv' && s.text === value && value.startsWith('-')
      // ".." inside a name ("eth0..", a file name) is not traversal; a ".." segment is caught by checkPath.
      const inPath = (s.place === 'path' || s.place === 'mutable-path') && /@\{|[\n\r]/.test(value)
      if (inOption || asOption || inPath) {
        violations.push({rule: 'injection', detail: `${s.where}: injected ${JSON.stringify(value.slice(0, 60))} reached ${s.place} ${JSON.stringify(s.text.slice(0, 120))}`})
        break
      }
    }
  }
  return violations
}
