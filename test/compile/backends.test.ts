import {XMLParser} from 'fast-xml-parser'
import {describe, expect, it} from 'vitest'

import {BACKENDS} from '../../src/backends/index.js'
import {DEGRADED_NO_VHOST_NET} from '../../src/backends/vhost-net.js'
import {compileLab} from '../../src/compile/index.js'
import {tapName, vhostUserPortName} from '../../src/compile/ids.js'
import {NicBackendName} from '../../src/lab/schema.js'
import type {Step} from '../../src/plan/step.js'
import {bridge, lab, nic, options, ovsSwitch, vm} from './model.js'

const parser = new XMLParser({ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => ['interface', 'hostdev', 'vcpupin', 'qemu:arg'].includes(name)})
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed XML is untyped
type Any = Record<string, any>
const parse = (xml: string): Any => parser.parse(xml).domain as Any

function argvOf(steps: Step[], id: string): string[] {
  const s = steps.find((x) => x.id === id)
  if (s === undefined || s.action.kind !== 'exec') throw new Error(`no exec step ${id}`)
  return s.action.argv
}

/** The value following an option in an argv (all occurrences). */
function optionValues(argv: string[], option: string): string[] {
  return argv.flatMap((a, i) => (a === option ? [argv[i + 1] ?? ''] : []))
}

const tapLab = (backend: 'virtio-qemu' | 'vhost-net', queues = 1) => lab({
  switches: [bridge('br0', {address: '10.0.0.1/24'})],
  vms: [vm('vm1', [nic({backend, switch: 'br0', address: '10.0.0.2/24', queues})])],
})

describe('backend registry', () => {
  it('has exactly one backend per schema enum value', () => {
    const names = NicBackendName.anyOf.map((s: {const: string}) => s.const).sort()
    expect(Object.keys(BACKENDS).sort()).toEqual(names)
    for (const [kind, backend] of Object.entries(BACKENDS)) expect(backend.kind).toBe(kind)
  })
})

describe('virtio-qemu', () => {
  it('libvirt: ethernet interface on the pre-created tap with the userspace driver', () => {
    const a = compileLab(tapLab('virtio-qemu'), options())
    const iface = parse(a.domains[0]!.xml).devices.interface[0]
    expect(iface.type).toBe('ethernet')
    expect(iface.target).toEqual({dev: tapName('lab', 0, 0), managed: 'no'})
    expect(iface.model.type).toBe('virtio')
    expect(iface.driver.name).toBe('qemu')
  })
  it('qemu: -netdev tap with vhost=off, script=no', () => {
    const a = compileLab(tapLab('virtio-qemu'), options({driver: 'qemu'}))
    const argv = a.qemu[0]!.argv
    expect(optionValues(argv, '-netdev')).toEqual([`tap,id=n0,ifname=${tapName('lab', 0, 0)},script=no,downscript=no,vhost=off`])
    expect(optionValues(argv, '-device')).toContain(`virtio-net-pci,netdev=n0,mac=${a.lab.vms[0]!.nics[0]!.mac},id=nic0`)
  })
  it('creates the tap in the host namespace, brings it up and enslaves it to the bridge', () => {
    const a = compileLab(tapLab('virtio-qemu'), options())
    const tap = tapName('lab', 0, 0)
    expect(argvOf(a.steps, 'tap:vm1:0')).toEqual(['ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap', 'vnet_hdr'])
    expect(argvOf(a.steps, 'tap:vm1:0:up')).toEqual(['ip', 'link', 'set', 'dev', tap, 'up'])
    expect(argvOf(a.steps, 'tap:vm1:0:attach')).toEqual(['ip', 'link', 'set', 'dev', tap, 'master', 'br0'])
    const start = a.steps.find((s) => s.id === 'vm:vm1:start')!
    expect(start.dependsOn).toEqual(expect.arrayContaining(['tap:vm1:0', 'tap:vm1:0:attach', 'vm:vm1:define']))
  })
})

describe('vhost-net', () => {
  it('libvirt: <driver name="vhost" queues="4"/> and a multi_queue tap', () => {
    const a = compileLab(tapLab('vhost-net', 4), options())
    expect(parse(a.domains[0]!.xml).devices.interface[0].driver).toEqual({name: 'vhost', queues: '4'})
    expect(argvOf(a.steps, 'tap:vm1:0')).toContain('multi_queue')
    expect(a.degraded).toEqual([])
  })
  it('qemu: vhost=on, queues=N, mq=on with 2N+2 vectors', () => {
    const argv = compileLab(tapLab('vhost-net', 4), options({driver: 'qemu'})).qemu[0]!.argv
    expect(optionValues(argv, '-netdev')[0]).toMatch(/,vhost=on,queues=4$/)
    expect(optionValues(argv, '-device').find((d) => d.startsWith('virtio-net-pci'))).toContain(',mq=on,vectors=10')
  })
  it('without /dev/vhost-net and without --allow-degraded: VHOST_NET_UNAVAILABLE with the hint', () => {
    let error: {code?: string; hint?: string} | undefined
    try {
      compileLab(tapLab('vhost-net'), options({hostHasVhostNet: false}))
    } catch (e) {
      error = e as {code?: string; hint?: string}
    }
    expect(error?.code).toBe('VHOST_NET_UNAVAILABLE')
    expect(error?.hint).toContain('--allow-degraded')
  })
  it('degraded: userspace backend, labelled, /dev/vhost-net and vhost_net waived', () => {
    const model = tapLab('vhost-net')
    model.host.modules = ['vhost_net', 'tun']
    model.host.devices = ['/dev/vhost-net', '/dev/net/tun']
    const libvirt = compileLab(model, options({hostHasVhostNet: false, allowDegraded: true}))
    expect(libvirt.degraded).toEqual([DEGRADED_NO_VHOST_NET])
    expect(parse(libvirt.domains[0]!.xml).devices.interface[0].driver.name).toBe('qemu')
    const ids = libvirt.steps.map((s) => s.id)
    expect(ids).toContain('module:tun')
    expect(ids).toContain('device:/dev/net/tun')
    expect(ids).not.toContain('module:vhost_net')
    expect(ids).not.toContain('device:/dev/vhost-net')
    const qemu = compileLab(model, options({driver: 'qemu', hostHasVhostNet: false, allowDegraded: true}))
    expect(optionValues(qemu.qemu[0]!.argv, '-netdev')[0]).toContain('vhost=off')
  })
})

const vhuLab = (accel: 'auto' | 'kvm' | 'tcg' = 'auto', queues = 1) => lab({
  host: {hugepages: {size: '2M', sizeKiB: 2048, count: 512, node: undefined, mount: '/dev/hugepages'}, modules: [], devices: [], iommu: 'optional', isolation: 'netns'},
  switches: [ovsSwitch('ovsbr')],
  vms: [vm('vm1', [nic({backend: 'vhost-user', switch: 'ovsbr', queues})], {accel})],
})

describe('vhost-user', () => {
  it('libvirt under TCG: vhostuser interface in server mode, memfd shared memory, -global vectors=0', () => {
    const a = compileLab(vhuLab(), options())
    const d = parse(a.domains[0]!.xml)
    const port = vhostUserPortName('lab', 0, 0)
    expect(d.type).toBe('qemu')
    expect(d.devices.interface[0].source).toEqual({type: 'unix', path: `/run/virtlab/lab/vhu/${port}.sock`, mode: 'server'})
    expect(d.memoryBacking).toEqual({source: {type: 'memfd'}, access: {mode: 'shared'}})
    expect(d['qemu:commandline']['qemu:arg'].map((x: Any) => x.value)).toEqual(['-global', 'virtio-net-pci.vectors=0'])
    expect(a.notes.join('\n')).toContain('memoryBacking default -> memfd')
  })
  it('libvirt under KVM: no vectors workaround, domain type kvm, host-passthrough', () => {
    const d = parse(compileLab(vhuLab('kvm'), options()).domains[0]!.xml)
    expect(d.type).toBe('kvm')
    expect(d['qemu:commandline']).toBeUndefined()
    expect(d.cpu.mode).toBe('host-passthrough')
  })
  it('qemu: chardev server socket, netdev vhost-user, vectors=0 under TCG / mq vectors under KVM', () => {
    const tcg = compileLab(vhuLab('tcg', 2), options({driver: 'qemu'})).qemu[0]!.argv
    const port = vhostUserPortName('lab', 0, 0)
    expect(optionValues(tcg, '-chardev')).toContain(`socket,id=c0,path=/run/virtlab/lab/vhu/${port}.sock,server=on,wait=off`)
    expect(optionValues(tcg, '-netdev')).toEqual(['vhost-user,id=n0,chardev=c0,queues=2'])
    expect(optionValues(tcg, '-device').find((d) => d.startsWith('virtio-net-pci'))).toMatch(/,vectors=0$/)
    expect(optionValues(tcg, '-object')).toEqual(['memory-backend-memfd,id=mem,size=512M,share=on'])
    const kvm = compileLab(vhuLab('kvm', 2), options({driver: 'qemu'})).qemu[0]!.argv
    expect(optionValues(kvm, '-device').find((d) => d.startsWith('virtio-net-pci'))).toContain('mq=on,vectors=6')
    expect(kvm).toContain('host')
  })
  it('adds a dpdkvhostuserclient port pointing at the socket, and a libvirt-writable socket directory', () => {
    const a = compileLab(vhuLab(), options())
    const port = vhostUserPortName('lab', 0, 0)
    expect(argvOf(a.steps, 'ovs:port:vm1:0')).toEqual(['ovs-vsctl', '--db=unix:/run/virtlab/lab/ovs/db.sock', '--may-exist', 'add-port', 'ovsbr', port,
      '--', 'set', 'Interface', port, 'type=dpdkvhostuserclient', `options:vhost-server-path=/run/virtlab/lab/vhu/${port}.sock`,
      '--', 'set', 'Interface', port, 'external-ids:virtlab-lab=lab'])
    const dir = a.steps.find((s) => s.id === 'vhu-dir')!
    expect(dir.action).toEqual({kind: 'mkdir', path: '/run/virtlab/lab/vhu', mode: 0o775, owner: {user: 'root', group: 'libvirt-qemu'}})
  })
  it('hugepage-backed VM: file backend on the hugetlbfs mount (qemu), hugepages + shared NUMA cell (libvirt)', () => {
    const model = vhuLab()
    model.vms[0]!.memoryBacking = 'hugepages'
    const argv = compileLab(model, options({driver: 'qemu'})).qemu[0]!.argv
    expect(optionValues(argv, '-object')).toEqual(['memory-backend-file,id=mem,size=512M,mem-path=/dev/hugepages,share=on,prealloc=on'])
    const d = parse(compileLab(model, options()).domains[0]!.xml)
    expect(d.memoryBacking.hugepages.page).toEqual({size: '2048', unit: 'KiB'})
    expect(d.cpu.numa.cell).toEqual({id: '0', cpus: '0', memory: '512', unit: 'MiB', memAccess: 'shared'})
  })
  it('refuses a vhost-user NIC on a Linux bridge', () => {
    const model = lab({switches: [bridge('br0')], vms: [vm('vm1', [nic({backend: 'vhost-user', switch: 'br0'})])]})
    expect(() => compileLab(model, options())).toThrow(expect.objectContaining({code: 'VHOST_USER_NEEDS_OVS_DPDK'}))
  })
})

const sriovLab = (attach: 'interface' | 'hostdev') => lab({
  host: {hugepages: undefined, modules: ['vfio-pci'], devices: [], iommu: 'required', isolation: 'netns'},
  sriov: [{name: 'pf0', pf: 'enp3s0f0', vfs: 2, driversAutoprobe: false, eswitchMode: 'legacy', vf: [
    {index: 1, mac: '52:54:00:6d:90:02', vlan: {id: 100, qos: undefined, proto: undefined}, spoofchk: true, trust: false, state: undefined, minTxRate: undefined, maxTxRate: undefined, driver: 'vfio-pci', switch: undefined},
  ]}],
  vms: [vm('vm1', [nic({backend: 'sriov-vf', sriov: {pf: 'pf0', vf: 1, attach}, address: '10.0.4.2/24'})])],
})

describe('sriov-vf', () => {
  it('libvirt interface mode: hostdev interface with the VF MAC, VLAN and late-bound PCI address tokens', () => {
    const a = compileLab(sriovLab('interface'), options())
    const iface = parse(a.domains[0]!.xml).devices.interface[0]
    expect(iface.type).toBe('hostdev')
    expect(iface.managed).toBe('yes')
    expect(iface.mac.address).toBe('52:54:00:6d:90:02')
    expect(iface.vlan.tag.id).toBe('100')
    expect(iface.source.address).toEqual({type: 'pci', domain: '@{vf-pci-domain:enp3s0f0:1}', bus: '@{vf-pci-bus:enp3s0f0:1}', slot: '@{vf-pci-slot:enp3s0f0:1}', function: '@{vf-pci-function:enp3s0f0:1}'})
    expect(a.domains[0]!.xml).toContain('virtlab.net=52:54:00:6d:90:02,10.0.4.2/24')
  })
  it('libvirt hostdev mode: plain <hostdev> with an untyped address', () => {
    const d = parse(compileLab(sriovLab('hostdev'), options()).domains[0]!.xml)
    expect(d.devices.interface).toBeUndefined()
    expect(d.devices.hostdev[0].source.address.type).toBeUndefined()
    expect(d.devices.hostdev[0].source.address.bus).toBe('@{vf-pci-bus:enp3s0f0:1}')
  })
  it('qemu: vfio-pci with the VF token, started with RLIMIT_MEMLOCK raised', () => {
    const a = compileLab(sriovLab('interface'), options({driver: 'qemu'}))
    expect(optionValues(a.qemu[0]!.argv, '-device')).toContain('vfio-pci,host=@{vf-pci:enp3s0f0:1},id=nic0')
    const start = argvOf(a.steps, 'vm:vm1:start')
    expect(start[0]).toBe('prlimit')
    expect(start[1]).toMatch(/^--memlock=\d+:\d+$/)
    expect(start.slice(start.indexOf('--') + 1)[0]).toBe('qemu-system-x86_64')
    // the VF is provisioned by src/devices before the VM starts
    const devices = a.steps.filter((s) => s.phase === 'devices')
    expect(devices.length).toBeGreaterThan(0)
    expect(a.steps.find((s) => s.id === 'vm:vm1:start')!.dependsOn).toEqual(expect.arrayContaining(devices.map((s) => s.id)))
  })
  it('refuses a VF that does not exist or stays on its host driver', () => {
    const model = sriovLab('interface')
    model.vms[0]!.nics[0]!.sriov = {pf: 'pf0', vf: 5, attach: 'interface'}
    expect(() => compileLab(model, options())).toThrow(expect.objectContaining({code: 'SRIOV_VF_OUT_OF_RANGE'}))
    const host = sriovLab('interface')
    host.sriov[0]!.vf[0]!.driver = 'host'
    expect(() => compileLab(host, options())).toThrow(expect.objectContaining({code: 'SRIOV_VF_HOST_DRIVER'}))
  })
})

const vdpaLab = (driver: 'vhost_vdpa' | 'virtio_vdpa' = 'vhost_vdpa') => lab({
  vdpa: [{name: 'vdpa0', mgmtdev: 'vdpasim_net', mac: '00:e8:ca:33:ba:05', maxVqp: 1, mtu: undefined, driver, address: undefined}],
  vms: [vm('vm1', [nic({backend: 'vdpa', vdpa: {device: 'vdpa0'}})])],
})

describe('vdpa', () => {
  it('libvirt: <interface type="vdpa"> with the device token and the device MAC', () => {
    const a = compileLab(vdpaLab(), options())
    const iface = parse(a.domains[0]!.xml).devices.interface[0]
    expect(iface.type).toBe('vdpa')
    expect(iface.source.dev).toBe('@{vdpa-dev:vdpa0}')
    expect(iface.mac.address).toBe('00:e8:ca:33:ba:05')
    expect(a.notes.join('\n')).toContain('vdpasim_net loops TX back to RX')
  })
  it('qemu: -netdev vhost-vdpa,vhostdev=<token>', () => {
    const argv = compileLab(vdpaLab(), options({driver: 'qemu'})).qemu[0]!.argv
    expect(optionValues(argv, '-netdev')).toEqual(['vhost-vdpa,id=n0,vhostdev=@{vdpa-dev:vdpa0}'])
  })
  it('refuses a device bound to virtio_vdpa', () => {
    expect(() => compileLab(vdpaLab('virtio_vdpa'), options())).toThrow(expect.objectContaining({code: 'VDPA_NOT_VHOST'}))
  })
})

describe('compiled artifacts', () => {
  it('are deterministic: compiling twice gives identical artifacts', () => {
    for (const make of [() => tapLab('vhost-net', 2), () => vhuLab(), () => sriovLab('interface'), () => vdpaLab()]) {
      for (const driver of ['libvirt', 'qemu'] as const) {
        expect(JSON.stringify(compileLab(make(), options({driver})))).toBe(JSON.stringify(compileLab(make(), options({driver}))))
      }
    }
  })

  it('escape XML: a hostile-looking (but schema-valid) value never breaks the document', () => {
    const model = tapLab('virtio-qemu')
    model.description = `"><evil/>&`
    const xml = compileLab(model, options()).domains[0]!.xml
    expect(xml).not.toContain('<evil/>')
    expect(parse(xml).name).toBe('vl-lab-vm1')
    expect(parse(xml).description).toBe(`"><evil/>&`)
  })

  it('names only ever appear as whole argv elements or after a fixed key= prefix', () => {
    // a switch name that is a valid interface name but looks like shell/option syntax
    const model = lab({
      switches: [bridge('a.b_c-d', {address: '10.0.0.1/24'})],
      vms: [vm('vm1', [nic({backend: 'virtio-qemu', switch: 'a.b_c-d'})])],
    })
    const a = compileLab(model, options())
    const argvs = a.steps.flatMap((s) => (s.action.kind === 'exec' ? [s.action.argv] : []))
    for (const argv of argvs) {
      for (const arg of argv) {
        if (arg.includes('a.b_c-d')) expect(arg === 'a.b_c-d' || /^[a-z_-]+=a\.b_c-d$/.test(arg), `${JSON.stringify(argv)}`).toBe(true)
      }
    }
  })

  it('refuses names that would read as options or carry separators', () => {
    const dash = lab({switches: [bridge('-rf')], vms: [vm('vm1', [nic({backend: 'virtio-qemu', switch: '-rf'})])]})
    expect(() => compileLab(dash, options())).toThrow(expect.objectContaining({code: 'COMPILE_UNSAFE_VALUE'}))
    const comma = lab({vms: [vm('vm1', [nic({backend: 'virtio-qemu'})])]})
    expect(() => compileLab(comma, options({runDir: '/run/x,share=off'}))).toThrow(expect.objectContaining({code: 'COMPILE_UNSAFE_VALUE'}))
    const space = lab({switches: [bridge('br0', {address: '10.0.0.1/24 dev lo'})], vms: []})
    expect(() => compileLab(space, options())).toThrow(expect.objectContaining({code: 'COMPILE_UNSAFE_VALUE'}))
  })

  it('step ids are unique and every dependency comes earlier', () => {
    for (const model of [tapLab('vhost-net'), vhuLab(), sriovLab('hostdev'), vdpaLab()]) {
      const seen = new Set<string>()
      for (const s of compileLab(model, options()).steps) {
        expect(seen.has(s.id)).toBe(false)
        for (const d of s.dependsOn) expect(seen.has(d), `${s.id} -> ${d}`).toBe(true)
        seen.add(s.id)
      }
    }
  })

  it('VM starts of different VMs do not depend on each other (they may run in parallel)', () => {
    const model = vhuLab()
    model.vms.push(vm('vm2', [nic({backend: 'vhost-user', switch: 'ovsbr'}, 'lab', 'vm2')]))
    const steps = compileLab(model, options()).steps
    const deps = (id: string): Set<string> => {
      const out = new Set<string>()
      const visit = (x: string) => {
        for (const d of steps.find((s) => s.id === x)?.dependsOn ?? []) if (!out.has(d)) { out.add(d); visit(d) }
      }
      visit(id)
      return out
    }
    expect([...deps('vm:vm2:start')].some((d) => d.startsWith('vm:vm1'))).toBe(false)
    expect([...deps('vm:vm1:start')].some((d) => d.startsWith('vm:vm2'))).toBe(false)
  })

  it('every step that creates something has an undo, and libvirt undo tolerates "already gone"', () => {
    const a = compileLab(vhuLab(), options())
    for (const id of ['netns', 'rundir', 'ovs:db', 'ovs:vswitchd', 'ovs:bridge:ovsbr', 'ovs:port:vm1:0', 'hugepages', 'mount:hugetlbfs', 'vm:vm1:define', 'vm:vm1:start']) {
      expect(a.steps.find((s) => s.id === id)?.undo.kind, id).not.toBe('none')
    }
    const start = a.steps.find((s) => s.id === 'vm:vm1:start')!
    expect(start.undo).toEqual({kind: 'action', action: {kind: 'exec', argv: ['virsh', '--connect', 'qemu:///system', 'destroy', 'vl-lab-vm1'], okExitCodes: [1]}})
  })
})
