/**
 * The fuzzer (issue 11): seeded cases against six targets, each case judged by the oracle.
 *
 *   lab-field   one field of one shipped lab (labs/*.yaml) set to a value hostile for its schema
 *               type, or an optional field added, or a `${param}` reference to a broken parameter;
 *               the fields are visited round-robin so every field of every lab is hit.
 *   lab-text    raw text damage: NUL, U+FFFE, BOM, tabs, duplicate keys, tags, aliases, nesting.
 *   set         `--set` values (hostile, wrong type, unknown and inherited-property names).
 *   env         VIRTLAB_RUN_DIR / VIRTLAB_STATE_DIR / VIRTLAB_ROOT, then a plan is built from them.
 *   result      result files given to report (every format, thresholds) and compare.
 *   journal     journal files given to status and down (on a FakeHost with canary files).
 *
 * A case's outcome is accepted or rejected; findings are: a stack trace (anything thrown that is
 * not a VirtlabError), a hang (over the time bound), an unlocated rejection (a lab problem with no
 * file:line:col), a late rejection (validate accepted, compile/plan refused without a location)
 * and an oracle violation (see oracle.ts).
 */
import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {XMLValidator} from 'fast-xml-parser'
import {parseDocument, stringify} from 'yaml'

import {createContext} from '../../src/app/context.js'
import {downLab} from '../../src/app/down.js'
import {compileOptionsFor, planLab} from '../../src/app/plan.js'
import {compareResults, reportResults} from '../../src/app/report.js'
import {statusLabs} from '../../src/app/status.js'
import type {Artifacts} from '../../src/compile/artifacts.js'
import {compileLab} from '../../src/compile/index.js'
import {isVirtlabError} from '../../src/errors.js'
import {ASSUMED_FACTS} from '../../src/host/facts.js'
import {RootedFs} from '../../src/host/fs.js'
import {parseSets} from '../../src/lab/params.js'
import {validateLabText} from '../../src/lab/validate.js'
import {buildPlan} from '../../src/plan/build.js'
import type {Plan} from '../../src/plan/step.js'
import {FakeHost} from '../helpers/fake-host.js'
import {describeValue, formatSlot, HOSTILE_STRINGS, hostileValue, longString, nearMisses, Rng, type Slot, setAt, slotsOf} from './mutate.js'
import {checkInjected, checkPlan, checkStrictSchema, placedStrings, type Roots, type Violation} from './oracle.js'

const ROOT = join(import.meta.dirname, '..', '..')
const LAB_DIR = join(ROOT, 'labs')

export const TARGETS = ['lab-field', 'lab-text', 'set', 'env', 'result', 'journal'] as const
export type Target = typeof TARGETS[number]

export type FindingKind = 'stack-trace' | 'hang' | 'unlocated-rejection' | 'late-rejection' | 'oracle'

export interface Finding {
  kind: FindingKind
  /** The oracle rule or the error's code/name. */
  rule: string
  detail: string
}

export interface CaseResult {
  index: number
  seed: number
  target: Target
  /** What was done, printable (lab, field, value). */
  input: string
  accepted: boolean
  findings: Finding[]
  ms: number
}

/** Every case must finish within this much CPU time; more is a finding (the runner also kills a case silent for 3x this). */
export const CASE_LIMIT_MS = 10_000

// ---- shared inputs ---------------------------------------------------------------------------

interface ShippedLab {
  file: string
  text: string
  value: Record<string, unknown>
  slots: Slot[]
  /** Every string of its unmutated plans (both drivers): what the compiler itself emits. */
  baseline: Set<string>
}

const ROOTS: Roots = {runBase: '/run/virtlab', runDir: '', stateDir: '/var/lib/virtlab'}

let shipped: ShippedLab[] | undefined
let allSlots: {lab: ShippedLab; slot: Slot}[] | undefined

function compileBoth(model: NonNullable<ReturnType<typeof validateLabText>['model']>, roots: Roots): {plan: Plan; artifacts: Artifacts}[] {
  return (['libvirt', 'qemu'] as const).map((driver) => {
    const artifacts = compileLab(model, compileOptionsFor(model.name, {target: roots}, {driver}))
    return {artifacts, plan: buildPlan(artifacts, ASSUMED_FACTS)}
  })
}

export function shippedLabs(): ShippedLab[] {
  if (shipped !== undefined) return shipped
  shipped = readdirSync(LAB_DIR).filter((f) => f.endsWith('.yaml')).sort().map((f) => {
    const text = readFileSync(join(LAB_DIR, f), 'utf8')
    const result = validateLabText(text, f)
    if (result.model === undefined) throw new Error(`shipped lab ${f} is invalid: ${JSON.stringify(result.problems[0])}`)
    // The plain value as the validator sees it (parameters unsubstituted).
    const value = JSON.parse(JSON.stringify((parseYaml(text)))) as Record<string, unknown>
    const baseline = new Set<string>()
    for (const {plan, artifacts} of compileBoth(result.model, {...ROOTS, runDir: `${ROOTS.runBase}/${result.model.name}`})) {
      for (const s of placedStrings(plan, artifacts)) baseline.add(s.text)
    }
    return {file: f, text, value, slots: slotsOf(value), baseline}
  })
  return shipped
}

function parseYaml(text: string): unknown {
  // parseDocument keeps warnings (unresolved tags) in the document instead of printing them.
  const doc = parseDocument(text, {uniqueKeys: false})
  if (doc.errors.length > 0) throw new Error('not YAML')
  return JSON.parse(JSON.stringify(doc.toJS({maxAliasCount: 64}))) as unknown
}


function slots(): {lab: ShippedLab; slot: Slot}[] {
  allSlots ??= shippedLabs().flatMap((lab) => lab.slots.map((slot) => ({lab, slot})))
  return allSlots
}

/** How many distinct lab fields there are (the round-robin period of lab-field cases). */
export function fieldCount(): number {
  return slots().length
}

// ---- judging -------------------------------------------------------------------------------

function thrown(error: unknown, where: string): Finding {
  if (isVirtlabError(error)) return {kind: 'late-rejection', rule: error.code, detail: `${where}: ${error.message.split('\n')[0]?.slice(0, 200)}`}
  const e = error instanceof Error ? error : new Error(String(error))
  return {kind: 'stack-trace', rule: e.name, detail: `${where}: ${e.message.slice(0, 200)} @ ${(e.stack ?? '').split('\n').slice(1, 3).map((l) => l.trim()).join(' < ')}`}
}

function violations(list: Violation[]): Finding[] {
  // One finding per rule per case (the first detail): a broken value tends to break many strings.
  const seen = new Set<string>()
  const out: Finding[] = []
  for (const v of list) {
    if (seen.has(v.rule)) continue
    seen.add(v.rule)
    out.push({kind: 'oracle', rule: v.rule, detail: v.detail})
  }
  return out
}

/** Validate a lab text (with --set), and if accepted compile it both ways and apply the oracle. */
function judgeLab(text: string, file: string, sets: Record<string, string>, plainValue: Record<string, unknown> | (() => Record<string, unknown> | undefined) | undefined, injected: string[], baseline: ReadonlySet<string>): {accepted: boolean; findings: Finding[]} {
  let result: ReturnType<typeof validateLabText>
  try {
    result = validateLabText(text, file, sets)
  } catch (error) {
    return {accepted: false, findings: [thrown(error, 'validate')].map((f) => (f.kind === 'late-rejection' ? {...f, kind: 'unlocated-rejection'} : f))}
  }
  if (result.model === undefined) {
    const unlocated = result.problems.filter((p) => !(p.line > 0 && p.column > 0) || p.file !== file)
    const findings: Finding[] = unlocated.slice(0, 1).map((p) => ({kind: 'unlocated-rejection', rule: 'no file:line:col', detail: `${p.file}:${p.line}:${p.column}: ${p.message.slice(0, 160)}`}))
    if (result.problems.length === 0) findings.push({kind: 'oracle', rule: 'rejected-without-problem', detail: 'no model and no problem'})
    return {accepted: false, findings}
  }
  const findings: Finding[] = []
  const model = result.model
  const plain = typeof plainValue === 'function' ? plainValue() : plainValue
  if (plain !== undefined) findings.push(...violations(checkStrictSchema(plain, sets)))
  for (const [name] of Object.entries(sets)) {
    const params = plain?.parameters
    const declared = typeof params === 'object' && params !== null && Object.hasOwn(params, name)
    if (!declared) findings.push({kind: 'oracle', rule: 'set-ignored', detail: `--set ${name}=... accepted although the lab declares no parameter ${JSON.stringify(name)}`})
  }
  const roots = {...ROOTS, runDir: `${ROOTS.runBase}/${model.name}`}
  let compiled: {plan: Plan; artifacts: Artifacts}[]
  try {
    compiled = compileBoth(model, roots)
  } catch (error) {
    return {accepted: true, findings: [...findings, thrown(error, 'compile/plan')]}
  }
  const all: Violation[] = []
  for (const {plan, artifacts} of compiled) {
    all.push(...checkPlan(plan, artifacts, roots))
    all.push(...checkInjected(injected, placedStrings(plan, artifacts), baseline))
    try {
      JSON.stringify(plan) // what `up --dry-run --json` prints
    } catch (error) {
      findings.push(thrown(error, 'plan JSON'))
    }
  }
  findings.push(...violations(all))
  return {accepted: true, findings}
}

/** The strings a value carries (for the injection check). */
function stringsIn(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value)
  else if (typeof value === 'number') out.push(String(value))
  else if (Array.isArray(value)) value.slice(0, 50).forEach((v) => stringsIn(v, out))
  else if (typeof value === 'object' && value !== null) Object.values(value).slice(0, 50).forEach((v) => stringsIn(v, out))
  return out
}

// ---- targets -----------------------------------------------------------------------------------

const BROKEN_PARAMS: Record<string, unknown> = {
  big: 1e20, // written 100000000000000000000 in the YAML: above 2^53
  huge: 1e300,
  unsafe: 2 ** 53 + 2,
  nan: 'NaN',
  evil: 'x,romfile=/etc/shadow',
  dots: '../../etc',
  token: '@{saved:/etc/shadow:k}',
  newline: 'a\nb',
  dash: '-oProxyCommand=x',
}

function labFieldCase(index: number, rng: Rng): Omit<CaseResult, 'index' | 'seed' | 'target' | 'ms'> {
  const all = slots()
  const {lab, slot} = all[index % all.length] ?? all[0]!
  let value: unknown
  let label: string
  let mutated: Record<string, unknown>
  const injected: string[] = []
  if (rng.chance(0.2) && slot.path[0] !== 'parameters' && slot.path.length > 0) {
    // A ${reference} to a parameter whose default is hostile (or broken), in place of the field.
    const name = rng.pick(Object.keys(BROKEN_PARAMS))
    const def = BROKEN_PARAMS[name]
    const reference = rng.chance(0.5) || typeof slot.value !== 'string' ? `\${${name}}` : `${slot.value}\${${name}}`
    value = reference
    label = `\${${name}} with default ${describeValue(def)}`
    const params = {...(lab.value.parameters as Record<string, unknown> | undefined), [name]: {default: def}}
    mutated = setAt(setAt(lab.value, ['parameters'], params), slot.path, reference)
    injected.push(...stringsIn(def), reference.replace(`\${${name}}`, String(def)))
  } else {
    ({value, label} = hostileValue(slot, rng))
    mutated = setAt(lab.value, slot.path, value)
    injected.push(...stringsIn(value))
  }
  const text = stringify(mutated, {lineWidth: 0})
  const verdict = judgeLab(text, lab.file, {}, mutated, injected, lab.baseline)
  return {input: `${lab.file} ${formatSlot(slot.path)}${slot.present ? '' : ' (added)'} = ${describeValue(value)} [${label}]`, ...verdict}
}

const TEXT_DAMAGE: {name: string; apply: (text: string, rng: Rng) => string}[] = [
  {name: 'NUL byte', apply: (t, rng) => insertAt(t, rng, '\u0000')},
  {name: 'U+FFFE', apply: (t, rng) => insertAt(t, rng, '\ufffe')},
  {name: 'C1 control', apply: (t, rng) => insertAt(t, rng, '\u0085')},
  {name: 'bidi override', apply: (t, rng) => insertAt(t, rng, '\u202e')},
  {name: 'escape sequence', apply: (t, rng) => insertAt(t, rng, '\u001b[2J')},
  {name: 'BOM inside', apply: (t, rng) => insertAt(t, rng, '\ufeff')},
  {name: 'tab indent', apply: (t) => t.replace('\n  ', '\n\t')},
  {name: 'duplicate key', apply: (t) => `${t}name: again\n`},
  {name: 'second document', apply: (t) => `${t}---\nname: two\n`},
  {name: 'custom tag', apply: (t) => t.replace(/description: /, 'description: !!js/function ')},
  {name: 'binary tag', apply: (t) => t.replace(/description: /, 'description: !!binary ')},
  {name: 'alias bomb', apply: (t) => `${t}x0: &a0 [1,1,1,1,1,1,1,1,1,1]\n${Array.from({length: 12}, (_, i) => `x${i + 1}: &a${i + 1} [*a${i},*a${i},*a${i},*a${i},*a${i},*a${i},*a${i},*a${i},*a${i},*a${i}]`).join('\n')}\n`},
  {name: 'deep nesting', apply: (t, rng) => `${t}deep: ${'['.repeat(rng.pick([100, 5000, 100_000]))}\n`},
  {name: 'truncated', apply: (t, rng) => t.slice(0, rng.int(t.length))},
  {name: 'invalid UTF-8 (U+FFFD)', apply: (t, rng) => insertAt(t, rng, '\ufffd')},
  {name: 'CRLF', apply: (t) => t.replace(/\n/g, '\r\n')},
  {name: 'lone CR', apply: (t) => t.replace(/\n/g, '\r')},
  {name: 'many keys', apply: (t, rng) => `${t}${Array.from({length: rng.pick([1000, 30_000])}, (_, i) => `k${i}: ${i}`).join('\n')}\n`},
  {name: 'over 1 MiB', apply: (t) => `${t}# ${'x'.repeat(1024 * 1024)}\n`},
  {name: 'proto key', apply: (t) => `${t}__proto__: {polluted: true}\n`},
  {name: 'merge key', apply: (t) => `${t}base: &b {name: x}\nother:\n  <<: *b\n`},
  {name: 'empty', apply: () => ''},
]

function insertAt(text: string, rng: Rng, what: string): string {
  const at = rng.int(text.length + 1)
  return text.slice(0, at) + what + text.slice(at)
}

function labTextCase(_index: number, rng: Rng): Omit<CaseResult, 'index' | 'seed' | 'target' | 'ms'> {
  const lab = rng.pick(shippedLabs())
  const damage = rng.pick(TEXT_DAMAGE)
  const text = damage.apply(lab.text, rng)
  // The plain value for the strict oracle (only needed when the damaged text is accepted).
  const plain = () => {
    try {
      const value = parseYaml(text)
      return typeof value === 'object' && value !== null ? value as Record<string, unknown> : undefined
    } catch {
      return undefined
    }
  }
  const verdict = judgeLab(text, lab.file, {}, plain, [], lab.baseline)
  return {input: `${lab.file} text: ${damage.name}`, ...verdict}
}

function setCase(_index: number, rng: Rng): Omit<CaseResult, 'index' | 'seed' | 'target' | 'ms'> {
  const lab = rng.pick(shippedLabs().filter((l) => typeof l.value.parameters === 'object'))
  const declared = Object.keys(lab.value.parameters as Record<string, unknown>)
  const r = rng.int(10)
  const name = r === 0 ? rng.pick(['constructor', 'tostring', 'hasownproperty', 'valueof', 'nosuch', 'proto']) : rng.pick(declared)
  const current = (lab.value.parameters as Record<string, {default?: unknown}>)[name]?.default
  const raw = r === 1 ? longString(rng)
    : r < 5 && typeof current === 'string' ? rng.pick(nearMisses(current, rng))
      : String(rng.pick([...HOSTILE_STRINGS, '99999999999999999999', '1e300', '-5', '0', 'true', '512M,romfile=/etc/shadow']))
  let sets: Record<string, string>
  try {
    sets = parseSets([`${name}=${raw}`])
  } catch (error) {
    if (isVirtlabError(error)) return {input: `${lab.file} --set ${name}=${describeValue(raw)}`, accepted: false, findings: []}
    return {input: `${lab.file} --set ${name}=${describeValue(raw)}`, accepted: false, findings: [thrown(error, 'parseSets')]}
  }
  const verdict = judgeLab(lab.text, lab.file, sets, lab.value, [raw], lab.baseline)
  return {input: `${lab.file} --set ${name}=${describeValue(raw)}`, ...verdict}
}

const ENV_VARS = ['VIRTLAB_RUN_DIR', 'VIRTLAB_STATE_DIR', 'VIRTLAB_ROOT'] as const

async function envCase(_index: number, rng: Rng): Promise<Omit<CaseResult, 'index' | 'seed' | 'target' | 'ms'>> {
  const variable = rng.pick(ENV_VARS)
  // Hostile values, and unusual ones that are accepted (the oracle then checks the plan built on them).
  const value = rng.chance(0.4)
    ? rng.pick(['/tmp/virtlab-run', '/run//virtlab/', '/srv/a:b', '/srv/x@y+z', `/${'r'.repeat(47)}`, '/', '/run/virtlab/', '/var/lib/virtlab-2'])
    : rng.pick([...HOSTILE_STRINGS, 'relative/dir', '/run/virtlab/../../etc', '/tmp/a,b=c', '/var/lib/virtlab\n', longString(rng)])
  const lab = rng.pick(shippedLabs())
  const input = `${variable}=${describeValue(value)} planLab ${lab.file}`
  const saved = process.env[variable]
  if (value.includes('\u0000')) return {input, accepted: false, findings: []} // the environment cannot hold a NUL
  process.env[variable] = value
  try {
    let ctx: ReturnType<typeof createContext>
    let result: Awaited<ReturnType<typeof planLab>>
    try {
      ctx = createContext()
      result = await planLab(join(LAB_DIR, lab.file), {}, ctx)
    } catch (error) {
      if (isVirtlabError(error)) return {input, accepted: false, findings: []}
      return {input, accepted: false, findings: [thrown(error, 'planLab')]}
    }
    const roots: Roots = {runBase: ctx.target.runBase.replace(/\/+$/, ''), runDir: result.plan.runDir, stateDir: ctx.target.stateDir.replace(/\/+$/, '')}
    const found: Violation[] = [...checkPlan(result.plan, result.artifacts, roots), ...checkInjected([value], placedStrings(result.plan, result.artifacts), lab.baseline)]
    // The value itself becomes the root of paths: accepted only if absolute and normal.
    if (variable !== 'VIRTLAB_ROOT' && (!value.startsWith('/') || value.split('/').some((s) => s === '..' || s === '.'))) {
      found.push({rule: 'env-path-unvalidated', detail: `${variable}=${describeValue(value)} accepted as a root of host paths (run dir ${JSON.stringify(result.plan.runDir.slice(0, 80))})`})
    }
    return {input, accepted: true, findings: violations(found)}
  } finally {
    if (saved === undefined) delete process.env[variable]
    else process.env[variable] = saved
  }
}

// ---- results (report / compare) -----------------------------------------------------------------

let resultFixtures: {name: string; value: unknown}[] | undefined
function results(): {name: string; value: unknown}[] {
  const dir = join(ROOT, 'test', 'report', 'fixtures')
  resultFixtures ??= readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => ({name: f, value: JSON.parse(readFileSync(join(dir, f), 'utf8')) as unknown}))
  return resultFixtures
}

/** Every path into a JSON value (containers and leaves). */
function jsonPaths(value: unknown, path: (string | number)[] = [], out: (string | number)[][] = [], depth = 0): (string | number)[][] {
  out.push(path)
  if (depth > 10) return out
  if (Array.isArray(value)) value.forEach((v, i) => jsonPaths(v, [...path, i], out, depth + 1))
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) jsonPaths(v, [...path, k], out, depth + 1)
  return out
}

const JSON_HOSTILE: unknown[] = [null, true, -1, 0, 1e308, -1e308, 2 ** 64, 0.1, [], {}, '', 'NaN', '<script>', '</text><text>', ']]>', '&', '"', 'a\u0000b', '\u001b[31m', '\u202e', '\ufffe', '\u0085', 'x'.repeat(10_000), [1, 2, 3], {a: {b: {c: 1}}}]

let scratch: string | undefined
function scratchDir(): string {
  scratch ??= mkdtempSync(join(tmpdir(), 'virtlab-fuzz-'))
  return scratch
}

export function cleanupScratch(): void {
  if (scratch !== undefined) rmSync(scratch, {recursive: true, force: true})
  scratch = undefined
}

// eslint-disable-next-line no-control-regex -- terminal controls in rendered text
const TERMINAL_UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/

async function resultCase(index: number, rng: Rng): Promise<Omit<CaseResult, 'index' | 'seed' | 'target' | 'ms'>> {
  const fixture = rng.pick(results())
  const paths = jsonPaths(fixture.value)
  let text: string
  let input: string
  if (rng.chance(0.1)) {
    const raw = JSON.stringify(fixture.value)
    const kind = rng.pick(['truncated', 'not json', 'huge number literal', 'BOM', 'empty', 'deep'])
    text = kind === 'truncated' ? raw.slice(0, rng.int(raw.length)) : kind === 'not json' ? `{${raw}` : kind === 'huge number literal' ? raw.replace(/:(\d+(\.\d+)?)/, ':1e999') : kind === 'BOM' ? `\ufeff${raw}` : kind === 'deep' ? `${'['.repeat(100_000)}${']'.repeat(100_000)}` : ''
    input = `${fixture.name} text: ${kind}`
  } else {
    const path = rng.pick(paths)
    const value = rng.pick(JSON_HOSTILE)
    const mutated = path.length === 0 ? value : setAt(fixture.value as Record<string, unknown>, path, value)
    text = JSON.stringify(mutated)
    input = `${fixture.name} ${formatSlot(path)} = ${describeValue(value)}`
  }
  const file = join(scratchDir(), `result-${index}.json`)
  writeFileSync(file, text)
  const fs = new RootedFs('/')
  const findings: Finding[] = []
  let accepted = false
  const format = rng.pick(['table', 'markdown', 'svg', 'junit'] as const)
  const thresholds = rng.chance(0.3) ? {minGbps: rng.pick([0, 1, 1e9]), maxLossPct: rng.pick([0, 50])} : {}
  const baseline = rng.chance(0.2) ? {baseline: file, maxRegressionPct: 10} : {}
  try {
    const out = await reportResults(fs, {files: [file], format, ...thresholds, ...baseline})
    accepted = true
    if (format === 'svg' || format === 'junit') {
      const xml = XMLValidatorCheck(out.text)
      if (xml !== undefined) findings.push({kind: 'oracle', rule: 'xml-malformed', detail: `report --format ${format}: ${xml}`})
    } else if (TERMINAL_UNSAFE.test(out.text)) {
      findings.push({kind: 'oracle', rule: 'control-character', detail: `report --format ${format} prints a raw control/bidi character`})
    }
  } catch (error) {
    if (!isVirtlabError(error)) findings.push(thrown(error, `report --format ${format}`))
  }
  try {
    const out = await compareResults(fs, {files: [file], format: rng.pick(['table', 'markdown'] as const)})
    accepted = true
    if (TERMINAL_UNSAFE.test(out.text)) findings.push({kind: 'oracle', rule: 'control-character', detail: 'compare prints a raw control/bidi character'})
  } catch (error) {
    if (!isVirtlabError(error)) findings.push(thrown(error, 'compare'))
  }
  rmSync(file, {force: true})
  return {input: `${input} -> report ${format}${Object.keys(thresholds).length > 0 ? ' with thresholds' : ''}${Object.keys(baseline).length > 0 ? ' with baseline' : ''} + compare`, accepted, findings}
}

function XMLValidatorCheck(xml: string): string | undefined {
  const result = XMLValidator.validate(xml)
  if (result !== true) return `${result.err.msg} (line ${result.err.line})`
  // eslint-disable-next-line no-control-regex -- characters XML 1.0 does not allow
  const bad = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/.exec(xml)
  return bad === null ? undefined : `U+${bad[0].charCodeAt(0).toString(16).padStart(4, '0')} is not an XML 1.0 character`
}

// ---- journals (status / down) ---------------------------------------------------------------------

/** Build a FakeHost with its temporary root in /dev/shm when there is one (journal cases are file-system bound). */
function inMemory<T>(make: () => T): T {
  const saved = process.env.TMPDIR
  if (existsSync('/dev/shm')) process.env.TMPDIR = '/dev/shm'
  try {
    return make()
  } finally {
    if (saved === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = saved
  }
}

let journalBaseline: unknown
async function baselineJournal(): Promise<unknown> {
  if (journalBaseline !== undefined) return journalBaseline
  // A real journal: the virtio-qemu lab's plan applied to a FakeHost.
  const host = new FakeHost({systemOvs: true})
  try {
    const ctx = host.context()
    const {upLab} = await import('../../src/app/up.js')
    await upLab(ctx, {lab: join(LAB_DIR, 'virtio-qemu.yaml'), maxWorkers: 1}, {
      gatherFacts: async () => ({...ASSUMED_FACTS, probed: true}),
      planLab: async (source, options) => planLab(source, options, {...ctx, operator: {...ctx.operator, fs: new RootedFs('/')}}),
      runChecks: async () => [],
    })
    journalBaseline = JSON.parse(readFileSync(host.fs.resolve('/var/lib/virtlab/virtio-qemu/journal.json'), 'utf8')) as unknown
  } finally {
    host.cleanup()
  }
  return journalBaseline
}

const JOURNAL_HOSTILE: unknown[] = ['/', '/etc', '/run/virtlab/../../etc', '../x', 'other-lab', '', null, 0, 2, [], {}, 'x'.repeat(5000), '@{saved:/etc/shadow:k}', '/run/virtlab/virtio-qemu\n', {kind: 'remove', path: '/etc', recursive: true}, {kind: 'exec', argv: ['rm', '-rf', '/etc']}, {kind: 'write', path: '/etc/canary', value: 'x'}]

async function journalCase(_index: number, rng: Rng): Promise<Omit<CaseResult, 'index' | 'seed' | 'target' | 'ms'>> {
  const base = await baselineJournal()
  const host = inMemory(() => new FakeHost({systemOvs: true, files: {'/etc/canary': 'canary\n', '/home/user/canary': 'canary\n', '/run/virtlab/other-lab/canary': 'canary\n', '/var/lib/virtlab/other-lab/journal.json': JSON.stringify({...(base as object), lab: 'other-lab', runDir: '/run/virtlab/other-lab', entries: []})}}))
  const findings: Finding[] = []
  let input: string
  let accepted = false
  try {
    const file = host.fs.resolve('/var/lib/virtlab/virtio-qemu/journal.json')
    mkdirSync(join(file, '..'), {recursive: true})
    const r = rng.int(10)
    if (r === 0) {
      const kind = rng.pick(['directory', 'truncated', 'empty', 'not json', 'huge'])
      if (kind === 'directory') mkdirSync(file, {recursive: true})
      else writeFileSync(file, kind === 'truncated' ? JSON.stringify(base).slice(0, rng.int(500)) : kind === 'empty' ? '' : kind === 'not json' ? '{{' : JSON.stringify({...(base as object), entries: Array.from({length: 20_000}, () => ({stepId: 'x', title: 'x', phase: 'host', undo: []}))}))
      input = `journal file: ${kind}`
    } else {
      const paths = jsonPaths(base)
      const entries = (base as {entries: unknown[]}).entries.length
      const path = rng.chance(0.5) ? rng.pick([['runDir'], ['lab'], ['netns'], ['version'], ['driver'], ['entries'], ['entries', rng.int(entries), 'undo'], ['entries', rng.int(entries), 'undo', 0]]) : rng.pick(paths)
      const value = path.at(-1) === 'undo' ? [rng.pick(JOURNAL_HOSTILE)] : rng.pick(JOURNAL_HOSTILE)
      writeFileSync(file, JSON.stringify(setAt(base as Record<string, unknown>, path, value)))
      input = `journal ${formatSlot(path)} = ${describeValue(value)}`
    }
    const force = rng.chance(0.5)
    for (const [what, run] of [
      ['status', () => statusLabs(host.context())],
      [`down virtio-qemu${force ? ' --force' : ''}`, () => downLab(host.context(), {lab: 'virtio-qemu', force})],
    ] as const) {
      try {
        const out = await (run as () => Promise<unknown>)()
        if (what === 'status') {
          accepted = true
          const labs = (out as {labs: {lab: string}[]}).labs.map((l) => l.lab)
          if (!labs.includes('other-lab')) findings.push({kind: 'oracle', rule: 'status-hides-labs', detail: `status lists ${JSON.stringify(labs)} without other-lab`})
        }
      } catch (error) {
        if (!isVirtlabError(error)) findings.push(thrown(error, what))
        else if (what === 'status') findings.push({kind: 'oracle', rule: 'status-fails', detail: `status failed for every lab: ${error.code} ${error.message.slice(0, 120)}`})
      }
    }
    for (const canary of ['/etc/canary', '/home/user/canary', '/run/virtlab/other-lab/canary', '/var/lib/virtlab/other-lab/journal.json']) {
      if (!existsSync(host.fs.resolve(canary))) findings.push({kind: 'oracle', rule: 'removed-outside-lab', detail: `${canary} is gone after status/down`})
      else if (canary.endsWith('canary') && readFileSync(host.fs.resolve(canary), 'utf8') !== 'canary\n') findings.push({kind: 'oracle', rule: 'changed-outside-lab', detail: `${canary} was changed`})
    }
  } finally {
    host.cleanup()
  }
  return {input, accepted, findings}
}

// ---- running cases -------------------------------------------------------------------------------

/** Which target case `index` exercises: lab fields most, then results, journals, --set, text, env. */
export function targetOf(index: number): Target {
  const r = index % 20
  if (r < LAB_FIELD_SHARE) return 'lab-field'
  if (r < 14) return 'lab-text'
  if (r < 16) return 'set'
  if (r < 17) return 'env'
  if (r < 19) return 'result'
  return 'journal'
}

/** Of every 20 cases, this many mutate a lab field. */
const LAB_FIELD_SHARE = 12

/** The index of a lab-field case among lab-field cases (the round-robin position in the fields). */
function fieldIndex(index: number): number {
  return Math.floor(index / 20) * LAB_FIELD_SHARE + (index % 20)
}

export async function runCase(index: number, seed: number): Promise<CaseResult> {
  const target = targetOf(index)
  const rng = new Rng(seed)
  const start = performance.now()
  const cpuStart = process.cpuUsage()
  let outcome: Omit<CaseResult, 'index' | 'seed' | 'target' | 'ms'>
  try {
    switch (target) {
      case 'lab-field': outcome = labFieldCase(fieldIndex(index), rng); break
      case 'lab-text': outcome = labTextCase(index, rng); break
      case 'set': outcome = setCase(index, rng); break
      case 'env': outcome = await envCase(index, rng); break
      case 'result': outcome = await resultCase(index, rng); break
      case 'journal': outcome = await journalCase(index, rng); break
    }
  } catch (error) {
    outcome = {input: '(the case itself failed)', accepted: false, findings: [{kind: 'stack-trace', rule: 'fuzzer', detail: error instanceof Error ? `${error.message} @ ${error.stack?.split('\n')[1]?.trim()}` : String(error)}]}
  }
  const ms = performance.now() - start
  // The bound is on this process's CPU time: on a shared machine wall time also counts waiting for
  // a core. (A case that never returns is caught by the runner's watchdog on wall time.)
  const cpu = process.cpuUsage(cpuStart)
  const cpuMs = (cpu.user + cpu.system) / 1000
  if (cpuMs > CASE_LIMIT_MS) outcome.findings.push({kind: 'hang', rule: 'time bound', detail: `took ${cpuMs.toFixed(0)} ms of CPU, ${ms.toFixed(0)} ms wall (bound ${CASE_LIMIT_MS} ms of CPU)`})
  return {index, seed, target, ms, ...outcome}
}
