/**
 * Every `ref:` of every compiled plan, every lab's `reference:` and every docs link in the README
 * points into the project's own docs: an existing docs/<page>.md and a heading anchor on it
 * (GitHub's slugs), never a file users do not have.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

import {describe, expect, it} from 'vitest'
import {parse} from 'yaml'

import {planModel} from '../../src/app/plan.js'
import {RootedFs} from '../../src/host/fs.js'
import {ASSUMED_FACTS, type HostFacts} from '../../src/host/facts.js'
import {loadLab} from '../../src/lab/load.js'

const root = path.resolve(import.meta.dirname, '../..')
const labs = fs.readdirSync(path.join(root, 'labs')).filter((f) => f.endsWith('.yaml')).map((f) => f.replace(/\.yaml$/, '')).sort()
const ctx = {target: {runBase: '/run/virtlab', stateDir: '/var/lib/virtlab'}}

/** GitHub's heading anchors: lower case, punctuation other than "-" and "_" dropped, spaces to "-". */
export function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-')
}

function anchorsOf(file: string): Set<string> {
  const text = fs.readFileSync(file, 'utf8')
  const seen = new Map<string, number>()
  const out = new Set<string>()
  let fenced = false
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced
    const m = !fenced && /^#{1,6} (.+)$/.exec(line)
    if (!m) continue
    const base = slug(m[1] ?? '')
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    out.add(n === 0 ? base : `${base}-${n}`)
  }
  return out
}

const DOC_LINK = /docs\/[a-z0-9/_-]+\.md(#[a-z0-9_-]+)?/g

/** Problems of one reference text: no docs link, a missing file or anchor, a private source. */
function problems(where: string, ref: string, requireLink = true): string[] {
  const out: string[] = []
  if (/labs-reference|this-machine|\.\.\/shared|§/.test(ref)) out.push(`${where}: cites a private source: ${ref}`)
  const links = [...ref.matchAll(DOC_LINK)].map((m) => m[0])
  if (requireLink && links.length === 0) out.push(`${where}: no docs/<page>.md#<anchor> in "${ref}"`)
  // In order: a docs link names a page; a following ", #anchor" continues that page.
  let page: string | undefined
  for (const m of ref.matchAll(/(docs\/[a-z0-9/_-]+\.md)(?:#([a-z0-9_-]+))?|(?:^|[ ,;(])#([a-z0-9_-]+)/g)) {
    const anchor = m[2] ?? m[3]
    if (m[1] !== undefined) {
      page = m[1]
      if (!fs.existsSync(path.join(root, page))) {
        out.push(`${where}: ${page} does not exist`)
        continue
      }
    } else if (page === undefined) {
      out.push(`${where}: #${anchor} without a page`)
      continue
    }
    if (anchor !== undefined && fs.existsSync(path.join(root, page)) && !anchorsOf(path.join(root, page)).has(anchor)) out.push(`${where}: ${page} has no heading #${anchor}`)
  }
  return out
}

const PROBED: HostFacts = {...ASSUMED_FACTS, probed: true, root: true, kvm: 'usable', vhostNet: true, tun: true}

describe('docs references', () => {
  it('the slug function follows GitHub: "Physical DPDK ports (PVP)" -> physical-dpdk-ports-pvp', () => {
    expect(slug('Physical DPDK ports (PVP)')).toBe('physical-dpdk-ports-pvp')
    expect(slug('The vp_vdpa variant')).toBe('the-vp_vdpa-variant')
    expect(slug('Hardware vDPA: mlx5 VFs in switchdev')).toBe('hardware-vdpa-mlx5-vfs-in-switchdev')
  })

  it('a wrong anchor or page is caught', () => {
    expect(problems('t', 'docs/labs/vhost-net.md#no-such-heading')).toEqual(['t: docs/labs/vhost-net.md has no heading #no-such-heading'])
    expect(problems('t', 'docs/labs/nope.md#x')).toEqual(['t: docs/labs/nope.md does not exist'])
    expect(problems('t', 'labs-reference.md §2')[0]).toMatch(/private source/)
    expect(problems('t', 'docs/labs/vdpa.md#the-simulator, #nope')).toEqual(['t: docs/labs/vdpa.md has no heading #nope'])
  })

  for (const lab of labs) {
    for (const driver of ['libvirt', 'qemu'] as const) {
      for (const [factsName, facts] of [['assumed host', ASSUMED_FACTS], ['probed KVM host', PROBED]] as const) {
        it(`${lab} (${driver}, ${factsName}): every step's ref points to an existing docs page and heading`, async () => {
          const model = await loadLab(path.join(root, 'labs', `${lab}.yaml`), {fs: new RootedFs('/'), sets: {}, dirs: [], packageRoot: root})
          const {plan} = planModel(model, {compile: {driver}, facts}, ctx)
          const refs = plan.steps.filter((s) => s.ref !== undefined)
          expect(refs.length).toBeGreaterThan(plan.steps.length / 2)
          expect(refs.flatMap((s) => problems(`${s.id}`, s.ref ?? ''))).toEqual([])
        })
      }
    }
  }

  it('every lab\'s reference: and comments cite the project\'s docs only', () => {
    const found: string[] = []
    for (const lab of labs) {
      const file = path.join(root, 'labs', `${lab}.yaml`)
      const text = fs.readFileSync(file, 'utf8')
      const reference = (parse(text) as {reference?: string}).reference
      expect(reference, lab).toBeDefined()
      found.push(...problems(`labs/${lab}.yaml reference`, reference ?? ''))
      for (const [i, line] of text.split('\n').entries()) if (line.trimStart().startsWith('#')) found.push(...problems(`labs/${lab}.yaml:${i + 1}`, line, false))
    }
    expect(found).toEqual([])
  })

  it('README and docs/labs link to existing pages and headings', () => {
    const files = ['README.md', ...fs.readdirSync(path.join(root, 'docs', 'labs')).map((f) => `docs/labs/${f}`)]
    const found: string[] = []
    for (const f of files) {
      const text = fs.readFileSync(path.join(root, f), 'utf8')
      for (const m of text.matchAll(/\]\(([^)#\s]*\.md)?(#[a-z0-9_-]+)?\)/g)) {
        if (m[1] === undefined && m[2] === undefined) continue
        const target = m[1] === undefined ? path.join(root, f) : path.join(path.dirname(path.join(root, f)), m[1])
        if (!fs.existsSync(target)) found.push(`${f}: ${m[0]} -> missing file`)
        else if (m[2] !== undefined && !anchorsOf(target).has(m[2].slice(1))) found.push(`${f}: ${m[0]} -> missing heading`)
      }
      found.push(...problems(f, text, false).filter((p) => p.includes('private source')))
    }
    expect(found).toEqual([])
  })
})
