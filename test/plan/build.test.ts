import {describe, expect, it} from 'vitest'

import {compileLab} from '../../src/compile/index.js'
import {ASSUMED_FACTS, type HostFacts} from '../../src/host/facts.js'
import {buildPlan, checkGraph} from '../../src/plan/build.js'
import {renderPlanJson, renderPlanText} from '../../src/plan/render.js'
import type {Step} from '../../src/plan/step.js'
import {bridge, lab, nic, options, ovsSwitch, vm} from '../compile/model.js'

const facts = (over: Partial<HostFacts>): HostFacts => ({...ASSUMED_FACTS, probed: true, ...over})
const hpLab = () => lab({
  host: {hugepages: {size: '2M', sizeKiB: 2048, count: 512, node: undefined, mount: '/dev/hugepages'}, modules: [], devices: [], iommu: 'optional', isolation: 'netns'},
  switches: [ovsSwitch('ovsbr', {ovs: 'auto'})],
  vms: [vm('vm1', [nic({backend: 'vhost-user', switch: 'ovsbr'})])],
})
const hpStep = (steps: Step[]) => steps.find((s) => s.id === 'hugepages')!

describe('buildPlan: hugepages from host facts', () => {
  const artifacts = compileLab(hpLab(), options())
  it('raises nr_hugepages by what is missing: max(total, in use + count)', () => {
    const plan = buildPlan(artifacts, facts({hugepages: {'2048': {total: 100, free: 40}}}))
    // 60 in use + 512 needed
    expect(hpStep(plan.steps).action).toEqual({kind: 'write', path: '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages', value: '572'})
    expect(hpStep(plan.steps).check).toEqual({kind: 'file-equals', path: '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages', value: '572'})
    expect(plan.notes.join('\n')).toContain('40 of 100 free, 512 needed -> write nr_hugepages=572')
  })
  it('enough free pages: the value is the current total, so the check holds and the step is skipped', () => {
    const plan = buildPlan(artifacts, facts({hugepages: {'2048': {total: 1024, free: 600}}}))
    expect(hpStep(plan.steps).action).toMatchObject({value: '1024'})
    expect(hpStep(plan.steps).check).toMatchObject({kind: 'file-equals', value: '1024'})
    expect(plan.notes.join('\n')).toContain('nothing to reserve')
  })
  it('does not modify the artifacts (pure)', () => {
    const before = JSON.stringify(artifacts)
    buildPlan(artifacts, facts({hugepages: {'2048': {total: 7, free: 0}}}))
    expect(JSON.stringify(artifacts)).toBe(before)
  })
  it('a per-node reservation reads the node\'s pool', () => {
    const model = hpLab()
    model.host.hugepages!.node = 1
    const plan = buildPlan(compileLab(model, options()), facts({hugepagesByNode: {'1': {'2048': {total: 10, free: 10}}}}))
    expect(hpStep(plan.steps).action).toMatchObject({path: '/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages', value: '512'})
  })
})

describe('buildPlan: notes and degraded labels', () => {
  it('explains accel, OVS and DPDK decisions', () => {
    const plan = buildPlan(compileLab(hpLab(), options()), facts({kvm: 'unusable', ovs: {installed: true, systemRunning: false, dpdkBinary: '/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk'}}))
    expect(plan.notes).toEqual(expect.arrayContaining([
      'accel auto -> tcg (vm1): KVM present but unusable',
      'ovs auto -> private instance (ovsbr): no running system OVS',
      'DPDK --no-pci: the lab names no physical port',
    ]))
  })
  it('uses the DPDK vswitchd the host actually has, and warns when there is none', () => {
    const a = compileLab(hpLab(), options())
    const moved = buildPlan(a, facts({ovs: {installed: true, systemRunning: false, dpdkBinary: '/opt/ovs/sbin/ovs-vswitchd'}}))
    expect(moved.steps.find((s) => s.id === 'ovs:vswitchd')!.action).toMatchObject({argv: expect.arrayContaining(['/opt/ovs/sbin/ovs-vswitchd'])})
    const none = buildPlan(a, facts({ovs: {installed: true, systemRunning: false, dpdkBinary: undefined}}))
    expect(none.notes.join('\n')).toContain('warning: no DPDK build of ovs-vswitchd found')
  })
  it('copies degraded labels', () => {
    const model = lab({switches: [bridge('br0')], vms: [vm('vm1', [nic({backend: 'vhost-net', switch: 'br0'})])]})
    const plan = buildPlan(compileLab(model, options({hostHasVhostNet: false, allowDegraded: true})), facts({vhostNet: false}))
    expect(plan.degraded).toEqual(['degraded: no vhost-net (userspace virtio backend over tap)'])
    expect(renderPlanText(plan)).toContain('  degraded: no vhost-net (userspace virtio backend over tap)\n')
    expect(renderPlanText(plan)).not.toContain('degraded: degraded:')
  })
  it('refuses an invalid graph', () => {
    const s = (id: string, dependsOn: string[]): Step => ({id, title: id, phase: 'host', action: {kind: 'remove', path: '/x'}, undo: {kind: 'none'}, dependsOn})
    expect(() => checkGraph([s('a', []), s('a', [])])).toThrow(/appears twice/)
    expect(() => checkGraph([s('a', ['b']), s('b', [])])).toThrow(/not an earlier step/)
    expect(() => checkGraph([s('a', []), s('b', ['a'])])).not.toThrow()
  })
})

describe('renderPlanText / renderPlanJson', () => {
  const plan = buildPlan(compileLab(hpLab(), options()), ASSUMED_FACTS)
  const text = renderPlanText(plan)
  it('has a header with lab, driver, netns and notes, and numbers every step', () => {
    expect(text).toMatch(/^virtlab plan for lab lab \(driver: libvirt\)\n {2}netns: {4}vl-lab\n/)
    expect(text).toContain(`${plan.steps.length} steps`)
    plan.steps.forEach((s, i) => expect(text).toContain(`${String(i + 1).padStart(2)}. [${s.phase}] ${s.title}  (${s.id})`))
  })
  it('shows the exact argv (display-quoted), the check, the undo and restore semantics', () => {
    expect(text).toContain("'other_config:dpdk-extra=--file-prefix=vl-lab --no-pci'")
    expect(text).toContain('skip if: `ip netns list` prints /(^|\\n)vl-lab( |\\n|$)/')
    expect(text).toContain('undo:    write back the value /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages had before')
    expect(text).toContain('env OVS_RUNDIR=/run/virtlab/lab/ovs')
  })
  it('plan JSON round-trips', () => {
    expect(JSON.parse(renderPlanJson(plan))).toEqual(plan)
  })
})
