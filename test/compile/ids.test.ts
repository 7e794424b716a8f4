/**
 * Derived identifiers: lab tags long enough to tell labs apart within IFNAMSIZ, names that fit,
 * exact tag matching for leftovers, and MAC collisions caught by validate.
 */
import {describe, expect, it} from 'vitest'

import {
  IFNAMSIZ, LAB_TAG_LENGTH, MAX_NICS_PER_VM, MAX_SWITCHES, MAX_VMS, NAME_PREFIX, deriveMac, derivedLinkTag, hostVethName, labTag, tapName, vhostUserPortName,
} from '../../src/compile/ids.js'
import {LabSchema} from '../../src/lab/schema.js'
import {formatProblem} from '../../src/lab/problems.js'
import {validateLabText} from '../../src/lab/validate.js'

describe('lab tags and derived link names', () => {
  it('labs xkjg and vhost-net (same 4-hex tag before) get different tags, taps, vhost-user ports and veths', () => {
    expect(labTag('xkjg')).not.toBe(labTag('vhost-net'))
    expect(tapName('xkjg', 0, 0)).not.toBe(tapName('vhost-net', 0, 0))
    expect(vhostUserPortName('xkjg', 1, 0)).not.toBe(vhostUserPortName('vhost-net', 1, 0))
    expect(hostVethName('xkjg', 0)).not.toBe(hostVethName('vhost-net', 0))
  })

  it('the tag uses every byte the longest derived name leaves of IFNAMSIZ - 1', () => {
    const longest = [tapName('x', MAX_VMS - 1, MAX_NICS_PER_VM - 1), vhostUserPortName('x', MAX_VMS - 1, MAX_NICS_PER_VM - 1), hostVethName('x', MAX_SWITCHES - 1)]
    expect(Math.max(...longest.map((n) => Buffer.byteLength(n)))).toBe(IFNAMSIZ - 1)
    expect(LAB_TAG_LENGTH).toBe(8)
    expect(labTag('anything')).toMatch(new RegExp(`^[a-z2-7]{${LAB_TAG_LENGTH}}$`))
  })

  it('the bounds match the schema (a longer list would make names longer than 15 bytes)', () => {
    const props = (LabSchema as unknown as {properties: Record<string, {maxItems?: number; items?: {properties: Record<string, {maxItems?: number}>}}>}).properties
    expect(props.vms?.maxItems).toBe(MAX_VMS)
    expect(props.switches?.maxItems).toBe(MAX_SWITCHES)
    expect(props.vms?.items?.properties.nics?.maxItems).toBe(MAX_NICS_PER_VM)
  })

  it('no tag collisions among 20,000 lab names', () => {
    const seen = new Map<string, string>()
    for (let i = 0; i < 20_000; i++) {
      const lab = `lab${i.toString(36)}`
      const tag = labTag(lab)
      expect(seen.get(tag), `${lab} and ${seen.get(tag) ?? ''}`).toBeUndefined()
      seen.set(tag, lab)
    }
  })

  it('derivedLinkTag matches only virtlab\'s exact derived shapes, never a prefix', () => {
    const tag = labTag('demo')
    expect(derivedLinkTag(tapName('demo', 3, 1))).toBe(tag)
    expect(derivedLinkTag(vhostUserPortName('demo', 12, 0))).toBe(tag)
    expect(derivedLinkTag(hostVethName('demo', 2))).toBe(tag)
    for (const other of [`${NAME_PREFIX}${tag}`, `${NAME_PREFIX}${tag}x`, `${NAME_PREFIX}${tag}t1`, `${NAME_PREFIX}${tag.slice(0, 4)}t0n0`, `${NAME_PREFIX}${tag}t0n0x`, 'eth0', 'vlbr-virtio']) {
      expect(derivedLinkTag(other), other).toBeUndefined()
    }
  })
})

describe('MAC collisions are validation errors', () => {
  const lab = (vms: string[]) => `name: vhost-net
description: two VMs whose derived MACs collide
switches:
  - name: br0
    type: linux-bridge
    address: 10.9.0.1/24
vms:
${vms.map((vm, i) => `  - name: ${vm}
    nics:
      - backend: virtio-qemu
        switch: br0
        address: 10.9.0.${i + 2}/24`).join('\n')}
`
  it('in lab vhost-net, VMs v1y4 and v31l derive the same MAC: validate reports it with a location and the fix', () => {
    expect(deriveMac('vhost-net', 'v1y4', 0)).toBe(deriveMac('vhost-net', 'v31l', 0))
    const result = validateLabText(lab(['v1y4', 'v31l']), 'lab.yaml', {})
    expect(result.model).toBeUndefined()
    const text = result.problems.map(formatProblem).join('\n')
    expect(text).toMatch(/lab\.yaml:\d+/)
    expect(text).toMatch(/MAC 52:54:00:[0-9a-f:]+ .*v1y4|derived MAC/)
    expect(text).toMatch(/mac:/)
  })

  it('two VMs whose derived MACs differ validate', () => {
    expect(validateLabText(lab(['vm1', 'vm2']), 'lab.yaml', {}).problems).toEqual([])
  })
})
