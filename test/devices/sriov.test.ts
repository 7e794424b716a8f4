/**
 * SR-IOV steps (src/devices/sriov.ts) run by the real executor against the simulated kernel:
 * the shipped sriov lab comes up as labs-reference.md §4.2 describes, `down` and every rollback
 * leave the host byte-identical, and every kernel error path gives its message.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {describeSysfsError, explainSysfsWriteError, probeSriovPf, sriovSteps} from '../../src/devices/index.js'
import type {LabModel} from '../../src/lab/model.js'
import {describeAction} from '../../src/plan/render.js'
import {createTokenRegistry} from '../../src/apply/tokens.js'
import {resolveTokens} from '../../src/plan/tokens.js'
import {IGB_PF, type SimHost, simHost, treeSnapshot} from '../sim/host.js'
import {holdVfioGroup, loadState, sysfsWrite} from '../sim/kernel.mjs'
import {deviceError, down, expectSameTree, planOf, prepareRunDir, RUN_DIR, shippedLab, up, upFails, withFaultAt} from './harness.js'

const hosts: SimHost[] = []
afterEach(() => {
  for (const h of hosts.splice(0)) h.cleanup()
})

function host(spec: Parameters<typeof simHost>[0] = {}, fsOptions: Parameters<typeof simHost>[1] = {}): SimHost {
  const h = simHost({pfs: [IGB_PF], bootModules: ['igb', 'igbvf', 'vfio-pci'], ...spec}, fsOptions)
  hosts.push(h)
  prepareRunDir(h)
  return h
}

const PF = '/sys/class/net/enp3s0f0/device'
const read = (h: SimHost, p: string) => fs.readFileSync(path.join(h.root, p), 'utf8')
const driverOf = (h: SimHost, bdf: string) => {
  try {
    return path.basename(fs.readlinkSync(path.join(h.root, `/sys/bus/pci/devices/${bdf}/driver`)))
  } catch {
    return undefined
  }
}
const vfinfo = (h: SimHost) => (loadState(h.root) as {vf: Record<string, Record<string, unknown>[]>}).vf['0000:03:00.0']

async function sriovLab(sets: Record<string, string> = {}): Promise<LabModel> {
  return shippedLab('sriov', sets)
}

describe('sriov lab: the plan', () => {
  it('reads like labs-reference.md §4.2: record, 0, autoprobe, N, re-read, per VF unbind + ip link set + driver_override + bind', async () => {
    const model = await sriovLab()
    const steps = sriovSteps(model, {runDir: RUN_DIR})
    const lines = steps.map((s) => `${s.id} | ${describeAction(s.action).replace(/\(\d+ bytes/, '(N bytes')}`)
    expect(lines).toEqual([
      'sriov:pf0:records | mkdir /run/virtlab/lab/sriov (mode 0700)',
      'sriov:pf0:record | write file /run/virtlab/lab/sriov/pf0.pf.json (N bytes, mode 0600)',
      'sriov:pf0:numvfs-zero | write "@{sriov-idle:enp3s0f0:0}" to /sys/class/net/enp3s0f0/device/sriov_numvfs',
      'sriov:pf0:autoprobe | write "0" to /sys/class/net/enp3s0f0/device/sriov_drivers_autoprobe',
      'sriov:pf0:numvfs | write "2" to /sys/class/net/enp3s0f0/device/sriov_numvfs',
      'sriov:pf0:vfs | write file /run/virtlab/lab/sriov/pf0.vfs.json (N bytes, mode 0600)',
      'sriov:pf0:vf:0:record | write file /run/virtlab/lab/sriov/pf0.vf0.json (N bytes, mode 0600)',
      'sriov:pf0:vf:0:unbind | write "@{vf-pci:enp3s0f0:0}" to /sys/class/net/enp3s0f0/device/virtfn0/driver/unbind',
      'sriov:pf0:vf:0:link | ip link set dev enp3s0f0 vf 0 mac 52:54:00:6d:90:01 vlan 100 spoofchk on trust off',
      'sriov:pf0:vf:0:override | write "vfio-pci" to /sys/class/net/enp3s0f0/device/virtfn0/driver_override',
      'sriov:pf0:vf:0:bind | write "@{vf-pci:enp3s0f0:0}" to /sys/bus/pci/drivers_probe',
      'sriov:pf0:vf:0:vfio | wait up to 10 s for VF 0 of enp3s0f0 bound to vfio-pci (the vfio-pci module must be loaded): until /sys/bus/pci/drivers/vfio-pci/@{vf-pci:enp3s0f0:0} exists',
      'sriov:pf0:vf:0:iommu | write file /run/virtlab/lab/sriov/pf0.vf0.iommu.json (N bytes, mode 0600)',
      'sriov:pf0:vf:1:record | write file /run/virtlab/lab/sriov/pf0.vf1.json (N bytes, mode 0600)',
      'sriov:pf0:vf:1:unbind | write "@{vf-pci:enp3s0f0:1}" to /sys/class/net/enp3s0f0/device/virtfn1/driver/unbind',
      'sriov:pf0:vf:1:link | ip link set dev enp3s0f0 vf 1 mac 52:54:00:6d:90:02 spoofchk on trust on max_tx_rate 10000',
      'sriov:pf0:vf:1:override | write "vfio-pci" to /sys/class/net/enp3s0f0/device/virtfn1/driver_override',
      'sriov:pf0:vf:1:bind | write "@{vf-pci:enp3s0f0:1}" to /sys/bus/pci/drivers_probe',
      'sriov:pf0:vf:1:vfio | wait up to 10 s for VF 1 of enp3s0f0 bound to vfio-pci (the vfio-pci module must be loaded): until /sys/bus/pci/drivers/vfio-pci/@{vf-pci:enp3s0f0:1} exists',
      'sriov:pf0:vf:1:iommu | write file /run/virtlab/lab/sriov/pf0.vf1.iommu.json (N bytes, mode 0600)',
    ])
    expect(steps.every((s) => s.phase === 'devices' && s.ref !== undefined)).toBe(true)
    // A chain: each step waits for the one before.
    for (const [i, s] of steps.entries()) expect(s.dependsOn).toEqual(i === 0 ? [] : [steps[i - 1]?.id])
    // numvfs N is undone by writing 0; the 0-step restores the old count afterwards (never non-zero over non-zero).
    expect(steps[4]?.undo).toEqual({kind: 'action', action: {kind: 'write', path: `${PF}/sriov_numvfs`, value: '0'}})
    expect(steps[2]?.undo).toEqual({kind: 'restore-file', path: `${PF}/sriov_numvfs`})
  })

  it('refuses lab mistakes at compile time: a VF index beyond vfs, a VM on a host-driver VF', async () => {
    const model = await sriovLab()
    if (model.sriov[0]) model.sriov[0].vfs = 1
    expect(() => sriovSteps(model, {runDir: RUN_DIR})).toThrow(/vf 1 is configured but only 1 VFs are created/)
    const m2 = await sriovLab()
    const pf0 = m2.sriov[0]
    if (pf0?.vf[0]) pf0.vf[0].driver = 'host'
    expect(() => sriovSteps(m2, {runDir: RUN_DIR})).toThrow(/vm vm1 uses VF 0 of pf0, which the lab keeps on its host driver/)
  })
})

describe('sriov lab: up and down on the simulated kernel', () => {
  it('creates 2 VFs, configures them through the PF, binds them to vfio-pci; down restores the host byte for byte', async () => {
    const h = host()
    const before = treeSnapshot(h.root)
    const model = await sriovLab()
    const plan = planOf(model, sriovSteps(model, {runDir: RUN_DIR}))
    const result = await up(h, plan)
    expect(result.skipped).toEqual(['sriov:pf0:numvfs-zero', 'sriov:pf0:vf:0:unbind', 'sriov:pf0:vf:1:unbind'])
    expect(read(h, `${PF}/sriov_numvfs`)).toBe('2\n')
    expect(read(h, `${PF}/sriov_drivers_autoprobe`)).toBe('0\n')
    expect(driverOf(h, '0000:03:10.0')).toBe('vfio-pci')
    expect(driverOf(h, '0000:03:10.2')).toBe('vfio-pci')
    expect(vfinfo(h)?.[0]).toMatchObject({mac: '52:54:00:6d:90:01', vlan: 100, spoofchk: true, trust: false})
    expect(vfinfo(h)?.[1]).toMatchObject({mac: '52:54:00:6d:90:02', vlan: 0, spoofchk: true, trust: true, max_tx_rate: 10000})
    // The tokens the compiler puts into libvirt XML / QEMU argv resolve to the VFs.
    expect(await resolveTokens('@{vf-pci:enp3s0f0:1}', h.ctx.target, createTokenRegistry())).toBe('0000:03:10.2')
    expect(await resolveTokens("domain='@{vf-pci-domain:enp3s0f0:1}' bus='@{vf-pci-bus:enp3s0f0:1}' slot='@{vf-pci-slot:enp3s0f0:1}' function='@{vf-pci-function:enp3s0f0:1}'", h.ctx.target, createTokenRegistry()))
      .toBe("domain='0x0000' bus='0x03' slot='0x10' function='0x2'")
    expect(await resolveTokens('@{vf-pci:0000:03:00.0:0}', h.ctx.target, createTokenRegistry())).toBe('0000:03:10.0')
    const group = read(h, `${RUN_DIR}/sriov/pf0.vf1.iommu.json`).trim()
    expect(fs.existsSync(path.join(h.root, `/dev/vfio/${group}`))).toBe(true)
    await down(h, 'sriov')
    expectSameTree(before, h.root)
  })

  it('down still restores exactly when libvirt (managed=yes) already gave a VF back to its host driver', async () => {
    const h = host()
    const before = treeSnapshot(h.root)
    const model = await sriovLab()
    await up(h, planOf(model, sriovSteps(model, {runDir: RUN_DIR})))
    // virPCIDeviceReattach: clear driver_override, unbind from vfio-pci, reprobe -> igbvf takes it.
    sysfsWrite(h.root, `${PF}/virtfn0/driver_override`, '\n')
    sysfsWrite(h.root, '/sys/bus/pci/drivers/vfio-pci/unbind', '0000:03:10.0')
    sysfsWrite(h.root, '/sys/bus/pci/drivers_probe', '0000:03:10.0')
    expect(driverOf(h, '0000:03:10.0')).toBe('igbvf')
    await down(h, 'sriov')
    expectSameTree(before, h.root)
  })

  it('a fault at any step rolls back to a byte-identical host', async () => {
    const model = await sriovLab()
    const plan = planOf(model, sriovSteps(model, {runDir: RUN_DIR}))
    for (let k = 0; k < plan.steps.length; k++) {
      const h = host()
      const before = treeSnapshot(h.root)
      const err = await upFails(h, withFaultAt(plan, k))
      expect(err.code, `fault at ${plan.steps[k]?.id}`).toBe('STEP_FAILED')
      expect((err.details as {failedStep: string}).failedStep).toBe(plan.steps[k]?.id)
      expectSameTree(before, h.root)
      h.cleanup()
      hosts.splice(hosts.indexOf(h), 1)
    }
  }, 240_000)

  it('VFs that already exist (same count, on igbvf, with admin settings) are reused and put back exactly: driver, MAC, trust', async () => {
    const h = host()
    // Someone made 2 VFs, set VF 1's admin settings, then let igbvf take both.
    sysfsWrite(h.root, `${PF}/sriov_drivers_autoprobe`, '0')
    await h.fs.writeFile(`${PF}/sriov_numvfs`, '2')
    const st = loadState(h.root) as {vf: Record<string, Record<string, unknown>[]>}
    Object.assign(st.vf['0000:03:00.0']?.[1] ?? {}, {mac: '02:00:00:00:00:99', trust: true, vlan: 7, qos: 2, link_state: 'disable'})
    const {saveState} = await import('../sim/kernel.mjs')
    saveState(h.root, st)
    sysfsWrite(h.root, `${PF}/sriov_drivers_autoprobe`, '1')
    sysfsWrite(h.root, '/sys/bus/pci/drivers_probe', '0000:03:10.0')
    sysfsWrite(h.root, '/sys/bus/pci/drivers_probe', '0000:03:10.2')
    expect(driverOf(h, '0000:03:10.2')).toBe('igbvf')
    const before = treeSnapshot(h.root)
    const model = await sriovLab()
    const plan = planOf(model, sriovSteps(model, {runDir: RUN_DIR}))
    const result = await up(h, plan)
    expect(result.skipped).toContain('sriov:pf0:numvfs')
    expect(result.ran).toContain('sriov:pf0:vf:1:unbind')
    expect(driverOf(h, '0000:03:10.2')).toBe('vfio-pci')
    expect(vfinfo(h)?.[1]).toMatchObject({mac: '52:54:00:6d:90:02', trust: true, vlan: 7, qos: 2, link_state: 'disable'})
    await down(h, 'sriov')
    expect(driverOf(h, '0000:03:10.2')).toBe('igbvf')
    expect(vfinfo(h)?.[1]).toMatchObject({mac: '02:00:00:00:00:99', trust: true, vlan: 7, qos: 2, link_state: 'disable'})
    expectSameTree(before, h.root)
  })

  it('a different existing count is taken down to 0 first and restored at down (0 -> old, kernel-correct)', async () => {
    const h = host()
    await h.fs.writeFile(`${PF}/sriov_numvfs`, '3')
    const before = treeSnapshot(h.root)
    const writes: string[] = []
    h.fs['options'].onWrite = (p: string, v: string) => {
      if (p.endsWith('sriov_numvfs')) writes.push(v)
    }
    const model = await sriovLab()
    await up(h, planOf(model, sriovSteps(model, {runDir: RUN_DIR})))
    await down(h, 'sriov')
    expect(writes).toEqual(['0', '2', '0', '3'])
    expectSameTree(before, h.root)
  })

  it('PF by PCI address, switchdev eswitch, a host-driver VF whose representor joins OVS (mlx5)', async () => {
    const mlx = {bdf: '0000:65:00.0', netdev: 'enp101s0f0', driver: 'mlx5_core', vendor: '15b3', device: '101d', vfDevice: '101e', totalvfs: 8, offset: 2, stride: 1, switchId: '0c42a1f0e2'}
    const h = host({pfs: [mlx], bootModules: ['mlx5_core', 'vfio-pci'], ovsBridges: ['br-vf']})
    const before = treeSnapshot(h.root)
    const model = await sriovLab({pf: '0000:65:00.0'})
    const pf0 = model.sriov[0]
    if (pf0 === undefined) throw new Error('no pf0')
    pf0.eswitchMode = 'switchdev'
    pf0.vf.push({index: 1, mac: undefined, vlan: undefined, spoofchk: undefined, trust: undefined, state: undefined, minTxRate: undefined, maxTxRate: undefined, driver: 'host', switch: 'br-vf'})
    pf0.vf.splice(1, 1)
    pf0.vf.sort((a, b) => a.index - b.index)
    model.vms = model.vms.filter((vm) => vm.name === 'vm1')
    model.switches.push({name: 'br-vf', type: 'ovs', datapath: 'system', ovs: 'system', dpdk: undefined, address: undefined, uplink: undefined, physicalPorts: []})
    const steps = sriovSteps(model, {runDir: RUN_DIR, ovs: () => ({dbArgs: ['--db=unix:/run/virtlab/lab/ovs/db.sock'], bridgeStepId: undefined})})
    expect(steps.find((s) => s.id === 'sriov:pf0:eswitch')?.action).toEqual({kind: 'exec', argv: ['devlink', 'dev', 'eswitch', 'set', 'pci/0000:65:00.0', 'mode', 'switchdev']})
    const port = steps.find((s) => s.id === 'sriov:pf0:vf:1:port')
    expect(port?.phase).toBe('switch')
    expect(port?.action).toEqual({kind: 'exec', argv: ['ovs-vsctl', '--db=unix:/run/virtlab/lab/ovs/db.sock', '--may-exist', 'add-port', 'br-vf', '@{vf-rep:0000:65:00.0:1}', '--', 'set', 'Port', '@{vf-rep:0000:65:00.0:1}', 'external-ids:virtlab-lab=sriov']})
    await up(h, planOf(model, steps))
    const st = loadState(h.root) as {eswitch: Record<string, string>; ovs: {ports: Record<string, {bridge: string; externalIds: Record<string, string>}>}; vf: Record<string, Record<string, unknown>[]>}
    expect(st.eswitch['0000:65:00.0']).toBe('switchdev')
    expect(st.ovs.ports).toEqual({enp101s0f0_1: {bridge: 'br-vf', externalIds: {'virtlab-lab': 'sriov'}}})
    expect(driverOf(h, '0000:65:00.2')).toBe('vfio-pci')
    expect(driverOf(h, '0000:65:00.3')).toBe('mlx5_core')
    await down(h, 'sriov')
    expectSameTree(before, h.root)
  })
})

describe('sriov error paths (real errno from the simulated kernel, messages with the fix)', () => {
  it('no such PF: SRIOV_PF_NOT_FOUND before anything is touched', async () => {
    const h = host()
    const before = treeSnapshot(h.root)
    const model = await sriovLab({pf: 'enp9s0'})
    const err = await upFails(h, planOf(model, sriovSteps(model, {runDir: RUN_DIR})))
    expect(deviceError(err)?.code).toBe('SRIOV_PF_NOT_FOUND')
    expect(err.message).toContain('no network interface enp9s0 on this host (/sys/class/net/enp9s0 is missing)')
    expectSameTree(before, h.root)
  })

  it('more VFs than sriov_totalvfs: SRIOV_TOO_MANY_VFS naming the maximum (and the kernel\'s ERANGE explained)', async () => {
    const h = host()
    const before = treeSnapshot(h.root)
    const model = await sriovLab({vfs: '8'})
    const err = await upFails(h, planOf(model, sriovSteps(model, {runDir: RUN_DIR})))
    expect(deviceError(err)?.code).toBe('SRIOV_TOO_MANY_VFS')
    expect(err.message).toContain('the lab asks for 8 VFs but enp3s0f0 supports at most 7 (sriov_totalvfs)')
    expectSameTree(before, h.root)
    const kernel = await h.fs.writeFile(`${PF}/sriov_numvfs`, '8').catch((e: unknown) => e)
    expect((kernel as {code: string}).code).toBe('ERANGE')
    const explained = await explainSysfsWriteError(h.fs, `${PF}/sriov_numvfs`, '8', kernel)
    expect(explained?.code).toBe('SRIOV_TOO_MANY_VFS')
    expect(explained?.message).toBe('enp3s0f0: 8 VFs is above sriov_totalvfs (at most 7) (ERANGE)')
  })

  it('a PF without a driver: SRIOV_NOT_SUPPORTED; the kernel\'s ENOENT explained', async () => {
    const h = host()
    sysfsWrite(h.root, '/sys/bus/pci/drivers/igb/unbind', '0000:03:00.0')
    const model = await sriovLab({pf: '0000:03:00.0'})
    const err = await upFails(h, planOf(model, sriovSteps(model, {runDir: RUN_DIR})))
    expect(deviceError(err)?.code).toBe('SRIOV_NOT_SUPPORTED')
    expect(err.message).toContain('0000:03:00.0 (0000:03:00.0) has no driver bound')
    const kernel = await h.fs.writeFile('/sys/bus/pci/devices/0000:03:00.0/sriov_numvfs', '2').catch((e: unknown) => e)
    expect((kernel as {code: string}).code).toBe('ENOENT')
    const explained = await explainSysfsWriteError(h.fs, '/sys/bus/pci/devices/0000:03:00.0/sriov_numvfs', '2', kernel)
    expect(explained?.code).toBe('SRIOV_NOT_SUPPORTED')
    expect(explained?.message).toContain('0000:03:00.0: the PF driver does not support SR-IOV configuration through sysfs, or no driver is bound to the PF (ENOENT)')
  })

  it('EBUSY when something else changed the count between our 0 and N: rolled back, and explained', async () => {
    const h = host()
    const before = treeSnapshot(h.root)
    const progress = h.ctx.operator.progress
    h.ctx.operator.progress = (e) => {
      progress(e)
      // Another tool races us right after our "write 0".
      if (e.type === 'step-start' && e.stepId === 'sriov:pf0:numvfs') sysfsWrite(h.root, `${PF}/sriov_numvfs`, '3')
    }
    const model = await sriovLab()
    const err = await upFails(h, planOf(model, sriovSteps(model, {runDir: RUN_DIR})))
    expect(err.message).toContain('(EBUSY)')
    const cause = (err.cause as {cause?: unknown} | undefined)?.cause ?? err.cause
    const explained = await explainSysfsWriteError(h.fs, `${PF}/sriov_numvfs`, '2', cause)
    expect(explained?.code).toBe('SRIOV_VFS_BUSY')
    expect(explained?.message).toBe('enp3s0f0: 3 VFs already enabled; the kernel refuses to change a non-zero VF count to 2 (EBUSY): write 0 first')
    sysfsWrite(h.root, `${PF}/sriov_numvfs`, '0') // the racer cleans up after itself
    expectSameTree(before, h.root)
  })

  it('a VF held by a running guest: SRIOV_VF_IN_USE naming the process; the count is not touched', async () => {
    const h = host()
    sysfsWrite(h.root, `${PF}/sriov_drivers_autoprobe`, '0')
    sysfsWrite(h.root, `${PF}/sriov_numvfs`, '4')
    sysfsWrite(h.root, `${PF}/virtfn3/driver_override`, 'vfio-pci')
    sysfsWrite(h.root, '/sys/bus/pci/drivers_probe', '0000:03:10.6')
    const group = path.basename(fs.readlinkSync(path.join(h.root, '/sys/bus/pci/devices/0000:03:10.6/iommu_group')))
    holdVfioGroup(h.root, 4242, group)
    const before = treeSnapshot(h.root)
    const model = await sriovLab()
    const err = await upFails(h, planOf(model, sriovSteps(model, {runDir: RUN_DIR})))
    expect(deviceError(err)?.code).toBe('SRIOV_VF_IN_USE')
    expect(err.message).toContain('refusing to change the VF count of enp3s0f0: VF 3 (0000:03:10.6) held by qemu-system-x86 (pid 4242)')
    expect(err.hint).toContain('Stop the guest')
    expectSameTree(before, h.root)
  })

  it('the driver enables fewer VFs than asked: SRIOV_VFS_FEWER with the count it gave', async () => {
    const h = host({driverOverrides: {igb: {maxEnable: 1}}})
    const before = treeSnapshot(h.root)
    const model = await sriovLab()
    const err = await upFails(h, planOf(model, sriovSteps(model, {runDir: RUN_DIR})))
    expect(deviceError(err)?.code).toBe('SRIOV_VFS_FEWER')
    expect(err.message).toContain('enp3s0f0: 2 VFs requested; the PF driver enabled only 1 (sriov_numvfs reads 1)')
    expectSameTree(before, h.root)
  })

  it('not root (EACCES) and read-only sysfs (EROFS): explained, and the record file is rolled back', async () => {
    for (const code of ['EACCES', 'EROFS'] as const) {
      const h = host({}, {denySysfsWrites: code})
      const before = treeSnapshot(h.root)
      const model = await sriovLab()
      const err = await upFails(h, planOf(model, sriovSteps(model, {runDir: RUN_DIR})))
      expect(err.message).toContain(`(${code})`)
      const explained = await explainSysfsWriteError(h.fs, `${PF}/sriov_drivers_autoprobe`, '0', Object.assign(new Error(code), {code}))
      expect(explained?.code).toBe(code === 'EACCES' ? 'HOST_NOT_ROOT' : 'SYSFS_READ_ONLY')
      expectSameTree(before, h.root)
    }
  })

  it('no IOMMU: IOMMU_MISSING; a group shared with a device on another driver: IOMMU_GROUP_NOT_VIABLE', async () => {
    const h = host({iommu: false})
    const before = treeSnapshot(h.root)
    const model = await sriovLab()
    const plan = planOf(model, sriovSteps(model, {runDir: RUN_DIR}))
    const err = await upFails(h, plan)
    expect(deviceError(err)?.code).toBe('IOMMU_MISSING')
    expect(err.message).toContain('VF 0 of enp3s0f0 (0000:03:10.0) has no IOMMU group')
    expectSameTree(before, h.root)

    const h2 = host()
    const before2 = treeSnapshot(h2.root)
    const progress = h2.ctx.operator.progress
    h2.ctx.operator.progress = (e) => {
      progress(e)
      if (e.type === 'step-start' && e.stepId === 'sriov:pf0:vf:0:iommu') {
        const group = path.basename(fs.readlinkSync(path.join(h2.root, '/sys/bus/pci/devices/0000:03:10.0/iommu_group')))
        fs.symlinkSync('../../../../devices/pci0000:00/0000:00:01.0/0000:03:00.0', path.join(h2.root, `/sys/kernel/iommu_groups/${group}/devices/0000:03:00.0`))
      }
    }
    const err2 = await upFails(h2, plan)
    expect(deviceError(err2)?.code).toBe('IOMMU_GROUP_NOT_VIABLE')
    expect(err2.message).toMatch(/IOMMU group \d+ of VF 0 \(0000:03:10.0\) is not viable: 0000:03:00.0 \(bound to igb\)/)
    const group = fs.readdirSync(path.join(h2.root, '/sys/kernel/iommu_groups')).find((g) => fs.existsSync(path.join(h2.root, `/sys/kernel/iommu_groups/${g}/devices/0000:03:00.0`)) && g !== '20')
    if (group !== undefined) fs.rmSync(path.join(h2.root, `/sys/kernel/iommu_groups/${group}`), {recursive: true})
    expectSameTree(before2, h2.root)
  })

  it('describeSysfsError covers every errno of sriov_numvfs and the bind files', () => {
    const p = '/sys/class/net/enp3s0f0/device/sriov_numvfs'
    expect(describeSysfsError(p, 'EBUSY', {value: '4', current: '2'})?.message).toBe('enp3s0f0: 2 VFs already enabled; the kernel refuses to change a non-zero VF count to 4 (EBUSY): write 0 first')
    expect(describeSysfsError(p, 'ERANGE', {value: '9', totalvfs: '7'})?.hint).toContain('at most 7')
    expect(describeSysfsError(p, 'ENOENT')?.code).toBe('SRIOV_NOT_SUPPORTED')
    expect(describeSysfsError(p, 'EINVAL', {value: 'x'})?.message).toBe('enp3s0f0: "x" is not a VF count (EINVAL)')
    expect(describeSysfsError(p, 'EPERM')?.code).toBe('HOST_NOT_ROOT')
    expect(describeSysfsError(p, 'ENODEV')?.code).toBe('SRIOV_NO_DEVICE')
    expect(describeSysfsError('/sys/bus/pci/drivers/vfio-pci/bind', 'ENODEV', {value: '0000:03:10.0'})?.hint).toContain('driver_override to vfio-pci')
    expect(describeSysfsError('/sys/bus/pci/drivers/vfio-pci/bind', 'EBUSY', {value: '0000:03:10.0'})?.code).toBe('DRIVER_ALREADY_BOUND')
    expect(describeSysfsError('/etc/hosts', 'EBUSY')).toBeUndefined()
  })
})

describe('probeSriovPf', () => {
  it('reports the PF as doctor/status show it, by netdev or by address', async () => {
    const h = host()
    sysfsWrite(h.root, `${PF}/sriov_numvfs`, '2')
    const byName = await probeSriovPf('enp3s0f0', h.fs)
    expect(byName).toEqual({
      bdf: '0000:03:00.0', netdev: 'enp3s0f0', driver: 'igb', totalvfs: 7, numvfs: 2, autoprobe: true, linkState: 'down', numaNode: 0, iommuGroup: '20', offset: 128, stride: 2,
      vfs: [{index: 0, bdf: '0000:03:10.0', driver: 'igbvf'}, {index: 1, bdf: '0000:03:10.2', driver: 'igbvf'}],
    })
    expect(await probeSriovPf('0000:03:00.0', h.fs)).toEqual(byName)
    await expect(probeSriovPf('0000:09:00.0', h.fs)).rejects.toMatchObject({code: 'SRIOV_PF_NOT_FOUND'})
  })
})
