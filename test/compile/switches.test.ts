import {describe, expect, it} from 'vitest'

import {compileLab} from '../../src/compile/index.js'
import {hostVethName} from '../../src/compile/ids.js'
import type {Step} from '../../src/plan/step.js'
import {bridge, lab, nic, options, ovsSwitch, vm} from './model.js'

const step = (steps: Step[], id: string): Step => {
  const s = steps.find((x) => x.id === id)
  if (s === undefined) throw new Error(`no step ${id}: ${steps.map((x) => x.id).join(', ')}`)
  return s
}
const argv = (steps: Step[], id: string): string[] => {
  const a = step(steps, id).action
  if (a.kind !== 'exec') throw new Error(`${id} is not exec`)
  return a.argv
}

describe('Linux bridge', () => {
  const model = lab({switches: [bridge('br0', {address: '10.0.0.1/24'})], vms: [vm('vm1', [nic({backend: 'virtio-qemu', switch: 'br0'})])]})
  const steps = compileLab(model, options()).steps
  const veth = hostVethName('lab', 0)

  it('is a host-namespace bridge with no address of its own', () => {
    // Created and tagged in one `ip -batch` run, so only a bridge virtlab made carries the lab's ifalias.
    expect(argv(steps, 'bridge:br0')).toEqual(['ip', '-batch', '-'])
    const create = step(steps, 'bridge:br0').action
    expect(create.kind === 'exec' ? create.input : undefined).toBe(`link add name br0 type bridge\nlink set dev br0 alias virtlab-lab=${model.name}\n`)
    // Never adopted: an existing br0 is refused before anything runs (issue 11 item 5), not skipped.
    expect(step(steps, 'bridge:br0').check).toBeUndefined()
    expect(step(steps, 'bridge:br0').refuseIf).toMatchObject({code: 'LINK_EXISTS', check: {kind: 'exec-ok', argv: ['ip', 'link', 'show', 'dev', 'br0']}})
    expect(step(steps, 'bridge:br0').undo).toEqual({kind: 'action', action: {kind: 'exec', argv: ['ip', 'link', 'del', 'dev', 'br0'], okExitCodes: [1]}})
    const onBridge = steps.filter((s) => s.action.kind === 'exec' && s.action.argv.includes('addr') && s.action.argv.includes('br0'))
    expect(onBridge).toEqual([])
  })
  it('puts the address on a veth whose far end (host0) is in the lab namespace', () => {
    expect(argv(steps, 'bridge:br0:veth')).toEqual(['ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'host0', 'netns', 'vl-lab'])
    expect(step(steps, 'bridge:br0:veth').dependsOn).toContain('netns')
    expect(argv(steps, 'bridge:br0:veth:attach')).toEqual(['ip', 'link', 'set', 'dev', veth, 'master', 'br0', 'up'])
    expect(argv(steps, 'bridge:br0:address')).toEqual(['ip', '-n', 'vl-lab', 'addr', 'add', '10.0.0.1/24', 'dev', 'host0'])
    expect(step(steps, 'bridge:br0:address').check).toEqual({kind: 'exec-stdout', argv: ['ip', '-n', 'vl-lab', '-o', 'addr', 'show', 'dev', 'host0'], pattern: ' inet 10\\.0\\.0\\.1/24 '})
  })
  it('host isolation: no namespace, the bridge carries the address', () => {
    const host = lab({...model, host: {...model.host, isolation: 'host'}})
    const s = compileLab(host, options()).steps
    expect(s.some((x) => x.id === 'netns')).toBe(false)
    expect(argv(s, 'bridge:br0:address')).toEqual(['ip', 'addr', 'add', '10.0.0.1/24', 'dev', 'br0'])
  })
  it('netns check matches the namespace as a whole word only', () => {
    const check = step(steps, 'netns').check
    expect(check?.kind).toBe('exec-stdout')
    const re = new RegExp((check as {pattern: string}).pattern)
    expect(re.test('vl-lab (id: 0)\nother')).toBe(true)
    expect(re.test('other\nvl-lab')).toBe(true)
    expect(re.test('vl-lab2 (id: 1)')).toBe(false)
  })
})

describe('OVS, private instance (OVS-DPDK)', () => {
  const model = lab({switches: [ovsSwitch('ovsbr')], vms: [vm('vm1', [nic({backend: 'vhost-user', switch: 'ovsbr'})])]})
  const a = compileLab(model, options())
  const db = '--db=unix:/run/virtlab/lab/ovs/db.sock'

  it('creates its database, starts ovsdb-server and the DPDK ovs-vswitchd in <runDir>/ovs with OVS_* env', () => {
    expect(argv(a.steps, 'ovs:db:create')).toEqual(['ovsdb-tool', 'create', '/run/virtlab/lab/ovs/conf.db', '/usr/share/openvswitch/vswitch.ovsschema'])
    expect(argv(a.steps, 'ovs:db')).toEqual(['ovsdb-server', '--remote=punix:/run/virtlab/lab/ovs/db.sock', '--pidfile=/run/virtlab/lab/ovs/ovsdb-server.pid', '--detach', '--log-file=/run/virtlab/lab/ovs/ovsdb-server.log', '/run/virtlab/lab/ovs/conf.db'])
    const vs = step(a.steps, 'ovs:vswitchd')
    expect(vs.action).toMatchObject({argv: ['/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk', 'unix:/run/virtlab/lab/ovs/db.sock', '--pidfile=/run/virtlab/lab/ovs/ovs-vswitchd.pid', '--detach', '--log-file=/run/virtlab/lab/ovs/ovs-vswitchd.log'],
      env: {OVS_RUNDIR: '/run/virtlab/lab/ovs', OVS_LOGDIR: '/run/virtlab/lab/ovs', OVS_DBDIR: '/run/virtlab/lab/ovs'}})
    expect(vs.check).toEqual({kind: 'exec-ok', argv: ['pgrep', '-F', '/run/virtlab/lab/ovs/ovs-vswitchd.pid']})
    expect(vs.undo.kind).toBe('actions')
    expect(JSON.stringify(vs.undo)).toContain('"pkill","-TERM","-F","/run/virtlab/lab/ovs/ovs-vswitchd.pid"')
    expect(vs.dependsOn).toEqual(expect.arrayContaining(['ovs:config', 'hugepages', 'mount:hugetlbfs']))
  })
  it('configures DPDK before ovs-vswitchd starts: --no-pci and a per-lab file prefix', () => {
    const config = argv(a.steps, 'ovs:config')
    expect(config.slice(0, 6)).toEqual(['ovs-vsctl', db, '--no-wait', 'set', 'Open_vSwitch', '.'])
    expect(config).toContain('other_config:dpdk-init=true')
    expect(config).toContain('other_config:pmd-cpu-mask=0x2')
    expect(config).toContain('other_config:dpdk-extra=--file-prefix=vl-lab --no-pci')
    expect(a.steps.findIndex((s) => s.id === 'ovs:config')).toBeLessThan(a.steps.findIndex((s) => s.id === 'ovs:vswitchd'))
  })
  it('waits for dpdk_initialized before adding the netdev bridge', () => {
    const wait = step(a.steps, 'ovs:dpdk')
    expect(wait.action).toMatchObject({kind: 'wait', until: {kind: 'exec-stdout', argv: ['ovs-vsctl', db, 'get', 'Open_vSwitch', '.', 'dpdk_initialized'], pattern: '^true'}})
    expect(argv(a.steps, 'ovs:bridge:ovsbr')).toEqual(['ovs-vsctl', db, 'add-br', 'ovsbr', '--', 'set', 'bridge', 'ovsbr', 'datapath_type=netdev', '--', 'set', 'bridge', 'ovsbr', 'external-ids:virtlab-lab=lab'])
    expect(step(a.steps, 'ovs:bridge:ovsbr').dependsOn).toContain('ovs:dpdk')
    expect(step(a.steps, 'ovs:bridge:ovsbr').undo).toEqual({kind: 'action', action: {kind: 'exec', argv: ['ovs-vsctl', db, '--if-exists', 'del-br', 'ovsbr']}})
  })
  it('derives hugepages from socket-mem when the lab names none', () => {
    expect(step(a.steps, 'hugepages').action).toEqual({kind: 'write', path: '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages', value: '256'})
    expect(a.notes.join('\n')).toContain('socket-mem 512 MiB -> 256 x 2 MiB pages')
  })
  it('physical ports: allow-list them instead of --no-pci, and add them as type=dpdk', () => {
    const phys = lab({switches: [ovsSwitch('ovsbr', {physicalPorts: [{name: 'phy0', pci: '0000:01:00.0', nRxq: 2}]})], vms: []})
    const s = compileLab(phys, options()).steps
    expect(argv(s, 'ovs:config')).toContain('other_config:dpdk-extra=--file-prefix=vl-lab -a 0000:01:00.0')
    expect(argv(s, 'ovs:bridge:ovsbr:phys:phy0')).toEqual(['ovs-vsctl', db, '--may-exist', 'add-port', 'ovsbr', 'phy0', '--', 'set', 'Interface', 'phy0', 'type=dpdk', 'options:dpdk-devargs=0000:01:00.0', 'options:n_rxq=2', '--', 'set', 'Interface', 'phy0', 'external-ids:virtlab-lab=lab'])
  })
  it('rejects an address on a netdev bridge', () => {
    const bad = lab({switches: [ovsSwitch('ovsbr', {address: '10.0.0.1/24'})], vms: []})
    expect(() => compileLab(bad, options())).toThrow(expect.objectContaining({code: 'OVS_ADDRESS_UNSUPPORTED'}))
  })
})

describe('OVS, system instance', () => {
  it('uses the host ovs-vsctl (no --db) and restores every other_config key it changes', () => {
    const model = lab({switches: [ovsSwitch('ovsbr', {ovs: 'auto'})], vms: []})
    const s = compileLab(model, options({autoOvs: 'system'})).steps
    expect(s.some((x) => x.id === 'ovs:db')).toBe(false)
    const pmd = step(s, 'ovs:system:config:pmd-cpu-mask')
    expect(pmd.action).toEqual({kind: 'exec', argv: ['ovs-vsctl', 'set', 'Open_vSwitch', '.', 'other_config:pmd-cpu-mask=0x2']})
    expect(pmd.undo).toEqual({
      kind: 'restore-exec',
      read: ['ovs-vsctl', '--if-exists', 'get', 'Open_vSwitch', '.', 'other_config:pmd-cpu-mask'],
      whenPresent: ['ovs-vsctl', 'set', 'Open_vSwitch', '.', 'other_config:pmd-cpu-mask={previous}'],
      whenAbsent: ['ovs-vsctl', 'remove', 'Open_vSwitch', '.', 'other_config', 'pmd-cpu-mask'],
    })
    // skip when the key already holds the value (as ovs-vsctl prints it, quoted or not)
    const re = new RegExp((pmd.check as {pattern: string}).pattern)
    expect(re.test('"0x2"\n')).toBe(true)
    expect(re.test('0x2\n')).toBe(true)
    expect(re.test('"0x6"\n')).toBe(false)
    expect(argv(s, 'ovs:bridge:ovsbr').slice(0, 3)).toEqual(['ovs-vsctl', 'add-br', 'ovsbr'])
  })
  it('system datapath with an address: an internal port moved into the lab namespace', () => {
    const model = lab({switches: [ovsSwitch('ovsbr', {ovs: 'system', datapath: 'system', address: '10.0.0.1/24'})], vms: [vm('vm1', [nic({backend: 'vhost-net', switch: 'ovsbr'})])]})
    const s = compileLab(model, options()).steps
    const port = hostVethName('lab', 0)
    expect(argv(s, 'ovs:bridge:ovsbr:endpoint')).toEqual(['ovs-vsctl', '--may-exist', 'add-port', 'ovsbr', port, '--', 'set', 'Interface', port, 'type=internal', '--', 'set', 'Interface', port, 'external-ids:virtlab-lab=lab'])
    expect(argv(s, 'ovs:bridge:ovsbr:endpoint:netns')).toEqual(['ip', 'link', 'set', 'dev', port, 'netns', 'vl-lab'])
    expect(argv(s, 'ovs:bridge:ovsbr:endpoint:address')).toEqual(['ip', '-n', 'vl-lab', 'addr', 'add', '10.0.0.1/24', 'dev', port])
    // a tap NIC on an OVS switch becomes an OVS port
    expect(argv(s, 'tap:vm1:0:attach').slice(0, 5)).toEqual(['ovs-vsctl', '--may-exist', 'add-port', 'ovsbr', 'vl' + port.slice(2, 6) + 't0n0'])
    expect(s.some((x) => x.id === 'ovs:dpdk' || x.id === 'ovs:system:dpdk')).toBe(false)
  })
})

describe('host preparation', () => {
  it('modules: modprobe with a /sys/module check (dash normalised) and hugepages per NUMA node', () => {
    const model = lab({
      host: {hugepages: {size: '1G', sizeKiB: 1048576, count: 2, node: 1, mount: '/dev/hugepages1G'}, modules: ['vfio-pci'], devices: ['/dev/vfio/vfio'], iommu: 'required', isolation: 'netns'},
      vms: [],
    })
    const s = compileLab(model, options()).steps
    // /sys/module/<m>, or (built-in code without parameters has none) the driver's own sysfs directory.
    expect(step(s, 'module:vfio-pci')).toMatchObject({action: {kind: 'exec', argv: ['modprobe', 'vfio-pci']}, check: {kind: 'any', checks: [{kind: 'file-exists', path: '/sys/module/vfio_pci'}, {kind: 'file-exists', path: '/sys/bus/pci/drivers/vfio-pci'}]}})
    expect(step(s, 'device:/dev/vfio/vfio').dependsOn).toEqual(['module:vfio-pci'])
    expect(step(s, 'hugepages').action).toMatchObject({path: '/sys/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages'})
    expect(step(s, 'hugepages').undo).toEqual({kind: 'restore-file', path: '/sys/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages'})
    expect(argv(s, 'mount:hugetlbfs')).toEqual(['mount', '-t', 'hugetlbfs', '-o', 'pagesize=1G', 'none', '/dev/hugepages1G'])
    expect(step(s, 'mount:hugetlbfs').undo).toEqual({kind: 'action', action: {kind: 'exec', argv: ['umount', '/dev/hugepages1G']}})
  })
})
