/**
 * Defence in depth (issue 11 items 1-2): a hand-built model (another front-end, a test, a bug in
 * validate) with values the schema would refuse must not compile, and text from the lab never
 * becomes an apply-time token.
 */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {compileOptionsFor} from '../../src/app/plan.js'
import {compileLab} from '../../src/compile/index.js'
import {el, renderXml, textEl, xmlToken} from '../../src/compile/xml.js'
import type {LabModel} from '../../src/lab/model.js'
import {validateLabText} from '../../src/lab/validate.js'
import {hasTokens, token} from '../../src/plan/tokens.js'

const labsDir = join(import.meta.dirname, '..', '..', 'labs')

function model(lab: string, sets: Record<string, string> = {}): LabModel {
  const result = validateLabText(readFileSync(join(labsDir, `${lab}.yaml`), 'utf8'), `${lab}.yaml`, sets)
  if (result.model === undefined) throw new Error(JSON.stringify(result.problems))
  return result.model
}

function compile(m: LabModel, driver: 'libvirt' | 'qemu' = 'libvirt') {
  return compileLab(m, compileOptionsFor(m.name, {target: {runBase: '/run/virtlab', stateDir: '/var/lib/virtlab'}}, {driver}))
}

function refused(m: LabModel, driver: 'libvirt' | 'qemu' = 'libvirt'): void {
  expect(() => compile(m, driver)).toThrow(expect.objectContaining({code: 'COMPILE_UNSAFE_VALUE'}) as Error)
}

describe('compileLab refuses unvalidated values (hand-built models)', () => {
  it.each(['libvirt', 'qemu'] as const)('a NIC mac with QEMU option syntax (%s)', (driver) => {
    const m = model('virtio-qemu')
    m.vms[0]!.nics[0]!.mac = '52:54:00:12:34:56,romfile=/etc/shadow'
    refused(m, driver)
  })
  it('machine, vcpus, cpuset', () => {
    const a = model('virtio-qemu')
    ;(a.vms[0] as {machine: string}).machine = 'q35,accel=kvm'
    refused(a, 'qemu')
    const b = model('virtio-qemu')
    b.vms[0]!.vcpus = Number.NaN
    refused(b, 'qemu')
    const c = model('virtio-qemu')
    c.vms[0]!.cpuset = '0,1e300'
    refused(c, 'qemu')
  })
  it('socketMem, isolation, nr_hugepages NaN, hugetlbfs mount', () => {
    const a = model('vhost-user')
    a.switches[0]!.dpdk!.socketMem = '512,x'
    refused(a)
    const b = model('virtio-qemu')
    ;(b.host as {isolation: string}).isolation = '${big}'
    refused(b)
    const c = model('vhost-user')
    c.host.hugepages!.count = Number.NaN
    refused(c)
    const d = model('vhost-user')
    d.host.hugepages!.mount = '/etc'
    refused(d)
  })
  it('an SR-IOV pf that walks out of sysfs', () => {
    const m = model('sriov')
    m.sriov[0]!.pf = '../../../etc'
    refused(m)
  })
  it('a description carrying a token', () => {
    const m = model('virtio-qemu')
    m.description = 'x @{saved:/etc/shadow:root} y'
    refused(m)
  })
})

describe('tokens in XML come from the compiler only', () => {
  it('lab text with "@{" is written so that no token appears; compiler tokens stay', () => {
    const xml = renderXml(el('domain', {}, textEl('description', 'a @{saved:/etc/shadow:root} b'), el('source', {dev: xmlToken(token('vdpa-dev', 'vd0')), name: '@{x}'})))
    expect(xml).toContain('a &#64;{saved:/etc/shadow:root} b')
    expect(xml).toContain('dev="@{vdpa-dev:vd0}"')
    expect(xml).toContain('name="&#64;{x}"')
    expect(hasTokens(xml.replace('@{vdpa-dev:vd0}', ''))).toBe(false)
  })
  it('XML-illegal characters never reach the XML writer', () => {
    expect(() => renderXml(textEl('description', 'a\ufffeb'))).toThrow()
    expect(() => renderXml(textEl('description', 'a\ud800b'))).toThrow()
    expect(renderXml(textEl('description', 'a 🙂 b'))).toContain('🙂')
  })
})
