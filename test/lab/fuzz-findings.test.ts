/**
 * Lab values the fuzzer (npm run fuzz) found accepted by validate and refused only later, each now
 * a located problem at validate: seed 1, case 1800 `host.modules[0] = "-vfio-pci"` (compile then
 * refused it: COMPILE_UNSAFE_VALUE, modprobe would read it as an option).
 */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {validateLabText} from '../../src/lab/validate.js'

const sriov = readFileSync(join(import.meta.dirname, '..', '..', 'labs', 'sriov.yaml'), 'utf8')

describe('fuzz findings, fixed at validate', () => {
  it.each(['-vfio-pci', '-1', '--help'])('a module name %j (starts with "-") is a located problem', (name) => {
    const text = sriov.replace(/modules: \[[a-z0-9_-]+/, `modules: ["${name}"`)
    expect(text).not.toBe(sriov)
    const result = validateLabText(text, 'sriov.yaml')
    expect(result.model).toBeUndefined()
    expect(result.problems).toEqual([expect.objectContaining({path: 'host.modules[0]', message: expect.stringContaining('is not valid') as string})])
    expect(result.problems[0]?.line).toBeGreaterThan(0)
  })
})

describe('fuzz findings, fixed in compile', () => {
  it('a module named "constructor" compiles (seed 1, case 6244: a TypeError from an inherited-property lookup)', async () => {
    const {compileLab} = await import('../../src/compile/index.js')
    const {compileOptionsFor} = await import('../../src/app/plan.js')
    const {buildPlan} = await import('../../src/plan/build.js')
    const {ASSUMED_FACTS} = await import('../../src/host/facts.js')
    const result = validateLabText(sriov.replace(/modules: \[[a-z0-9_-]+/, 'modules: [constructor'), 'sriov.yaml')
    expect(result.problems).toEqual([])
    if (result.model === undefined) return
    const artifacts = compileLab(result.model, compileOptionsFor(result.model.name, {target: {runBase: '/run/virtlab', stateDir: '/var/lib/virtlab'}}))
    const plan = buildPlan(artifacts, ASSUMED_FACTS)
    expect(plan.steps.some((s) => s.action.kind === 'exec' && s.action.argv.join(' ') === 'modprobe constructor')).toBe(true)
  })
})
