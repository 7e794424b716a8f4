/**
 * The simulated kernel itself, checked against the kernel rules it claims to follow
 * (drivers/pci/iov.c sriov_numvfs_store, pci-iov-howto, drivers/base bind/unbind/driver_override,
 * sysfs-bus-vdpa, vdpa(8), ip-link(8)). If these fail, every device test above them is meaningless.
 */
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {holdVfioGroup, loadState} from './kernel.mjs'
import {IGB_PF, type SimHost, simHost} from './host.js'

const hosts: SimHost[] = []
afterEach(() => {
  for (const h of hosts.splice(0)) h.cleanup()
})

function host(spec: Parameters<typeof simHost>[0] = {pfs: [IGB_PF]}): SimHost {
  const h = simHost(spec)
  hosts.push(h)
  return h
}

const PF = '/sys/class/net/enp3s0f0/device'

function run(h: SimHost, argv: string[]) {
  const [cmd, ...args] = argv
  const r = spawnSync(cmd ?? '', args, {env: {...process.env, ...h.env}, encoding: 'utf8'})
  return {code: r.status, stdout: r.stdout, stderr: r.stderr}
}

async function expectErrno(p: Promise<unknown>, code: string) {
  await expect(p).rejects.toMatchObject({code})
}

const read = (h: SimHost, p: string) => fs.readFileSync(path.join(h.root, p), 'utf8')
const link = (h: SimHost, p: string) => fs.readlinkSync(path.join(h.root, p))
const has = (h: SimHost, p: string) => fs.existsSync(path.join(h.root, p))

describe('sriov_numvfs (drivers/pci/iov.c sriov_numvfs_store)', () => {
  it('creates virtfnN links at PF rid + offset + i*stride, probes VF drivers when autoprobe is 1, and removes them on 0', async () => {
    const h = host()
    await h.fs.writeFile(`${PF}/sriov_numvfs`, '2')
    expect(read(h, `${PF}/sriov_numvfs`)).toBe('2\n')
    expect(link(h, `${PF}/virtfn0`)).toBe('../0000:03:10.0')
    expect(link(h, `${PF}/virtfn1`)).toBe('../0000:03:10.2')
    expect(link(h, '/sys/bus/pci/devices/0000:03:10.2/physfn')).toBe('../0000:03:00.0')
    expect(path.basename(link(h, '/sys/bus/pci/devices/0000:03:10.0/driver'))).toBe('igbvf')
    expect(fs.readdirSync(path.join(h.root, '/sys/bus/pci/devices/0000:03:10.0/net'))).toEqual(['enp3s0f0v0'])
    expect(read(h, '/sys/bus/pci/devices/0000:03:10.0/driver_override')).toBe('(null)\n')
    await h.fs.writeFile(`${PF}/sriov_numvfs`, '0')
    expect(has(h, `${PF}/virtfn0`)).toBe(false)
    expect(has(h, '/sys/bus/pci/devices/0000:03:10.0')).toBe(false)
    expect(has(h, '/sys/class/net/enp3s0f0v0')).toBe(false)
  })

  it('refuses a non-zero count over a non-zero count with EBUSY and leaves the VFs alone', async () => {
    const h = host()
    await h.fs.writeFile(`${PF}/sriov_numvfs`, '2')
    await expectErrno(h.fs.writeFile(`${PF}/sriov_numvfs`, '3'), 'EBUSY')
    expect(read(h, `${PF}/sriov_numvfs`)).toBe('2\n')
    await h.fs.writeFile(`${PF}/sriov_numvfs`, '2') // the same count: no change, success
  })

  it('ERANGE above sriov_totalvfs, EINVAL for a non-number, ENOENT without a PF driver', async () => {
    const h = host()
    await expectErrno(h.fs.writeFile(`${PF}/sriov_numvfs`, '8'), 'ERANGE')
    await expectErrno(h.fs.writeFile(`${PF}/sriov_numvfs`, 'two'), 'EINVAL')
    await h.fs.writeFile('/sys/bus/pci/drivers/igb/unbind', '0000:03:00.0')
    expect(has(h, '/sys/class/net/enp3s0f0')).toBe(false)
    await expectErrno(h.fs.writeFile('/sys/bus/pci/devices/0000:03:00.0/sriov_numvfs', '2'), 'ENOENT')
  })

  it('a driver may enable fewer VFs than asked: the write succeeds and the file says how many', async () => {
    const h = host({pfs: [IGB_PF], driverOverrides: {igb: {maxEnable: 1}}})
    await h.fs.writeFile(`${PF}/sriov_numvfs`, '3')
    expect(read(h, `${PF}/sriov_numvfs`)).toBe('1\n')
  })

  it('read-only attributes answer EACCES', async () => {
    const h = host()
    await expectErrno(h.fs.writeFile(`${PF}/sriov_totalvfs`, '9'), 'EACCES')
  })

  it('refuses to drop VFs whose vfio group is held open (the real kernel blocks instead)', async () => {
    const h = host()
    await h.fs.writeFile(`${PF}/sriov_drivers_autoprobe`, '0')
    await h.fs.writeFile(`${PF}/sriov_numvfs`, '1')
    await h.fs.writeFile(`${PF}/virtfn0/driver_override`, 'vfio-pci')
    run(h, ['modprobe', 'vfio-pci'])
    await h.fs.writeFile('/sys/bus/pci/drivers_probe', '0000:03:10.0')
    const group = path.basename(link(h, '/sys/bus/pci/devices/0000:03:10.0/iommu_group'))
    expect(has(h, `/dev/vfio/${group}`)).toBe(true)
    holdVfioGroup(h.root, 4242, group)
    await expectErrno(h.fs.writeFile(`${PF}/sriov_numvfs`, '0'), 'EBUSY')
  })
})

describe('driver binding (drivers/base/bus.c, driver_set_override)', () => {
  it('driver_override reads (null); "\\n" clears it; writing "(null)" sets an override literally named (null)', async () => {
    const h = host()
    await h.fs.writeFile(`${PF}/sriov_numvfs`, '1')
    const o = `${PF}/virtfn0/driver_override`
    await h.fs.writeFile(o, 'vfio-pci')
    expect(read(h, o)).toBe('vfio-pci\n')
    await h.fs.writeFile(o, '\n')
    expect(read(h, o)).toBe('(null)\n')
    await h.fs.writeFile(o, '(null)')
    expect(read(h, o)).toBe('(null)\n')
    // ... and that override now keeps every real driver away:
    await h.fs.writeFile('/sys/bus/pci/drivers/igbvf/unbind', '0000:03:10.0')
    await h.fs.writeFile('/sys/bus/pci/drivers_probe', '0000:03:10.0')
    expect(has(h, '/sys/bus/pci/devices/0000:03:10.0/driver')).toBe(false)
  })

  it('unbind from the wrong driver is ENODEV, bind while bound is EBUSY, bind of a non-matching driver is ENODEV', async () => {
    const h = host()
    run(h, ['modprobe', 'vfio-pci'])
    await h.fs.writeFile(`${PF}/sriov_numvfs`, '1')
    await expectErrno(h.fs.writeFile('/sys/bus/pci/drivers/vfio-pci/unbind', '0000:03:10.0'), 'ENODEV')
    await expectErrno(h.fs.writeFile('/sys/bus/pci/drivers/vfio-pci/bind', '0000:03:10.0'), 'EBUSY')
    await h.fs.writeFile('/sys/bus/pci/drivers/igbvf/unbind', '0000:03:10.0')
    await expectErrno(h.fs.writeFile('/sys/bus/pci/drivers/vfio-pci/bind', '0000:03:10.0'), 'ENODEV')
    await expectErrno(h.fs.writeFile('/sys/bus/pci/drivers_probe', '0000:99:00.0'), 'ENODEV')
    await h.fs.writeFile(`${PF}/virtfn0/driver_override`, 'vfio-pci')
    await h.fs.writeFile('/sys/bus/pci/drivers_probe', '0000:03:10.0')
    expect(path.basename(link(h, '/sys/bus/pci/devices/0000:03:10.0/driver'))).toBe('vfio-pci')
  })

  it('new_id binds matching unbound devices; a second new_id is EEXIST; remove_id of an unknown id is ENODEV', async () => {
    const h = host({pciDevices: [{bdf: '0000:00:04.0', vendor: '1af4', device: '1041'}]})
    expect(path.basename(link(h, '/sys/bus/pci/devices/0000:00:04.0/driver'))).toBe('virtio-pci')
    expect(run(h, ['modprobe', 'vp_vdpa']).code).toBe(0)
    await h.fs.writeFile('/sys/bus/pci/devices/0000:00:04.0/driver/unbind', '0000:00:04.0')
    await h.fs.writeFile('/sys/bus/pci/drivers/vp-vdpa/new_id', '1af4 1041')
    expect(path.basename(link(h, '/sys/bus/pci/devices/0000:00:04.0/driver'))).toBe('vp-vdpa')
    await expectErrno(h.fs.writeFile('/sys/bus/pci/drivers/vp-vdpa/new_id', '1af4 1041'), 'EEXIST')
    await expectErrno(h.fs.writeFile('/sys/bus/pci/drivers/vp-vdpa/remove_id', '1af4 1000'), 'ENODEV')
    await expectErrno(h.fs.writeFile('/sys/bus/pci/drivers/virtio-pci/new_id', '1af4 1041'), 'EEXIST')
  })
})

describe('fake ip (ip-link(8), iproute2 print_vfinfo)', () => {
  it('sets VF admin settings through the PF and shows them in vfinfo_list', async () => {
    const h = host()
    await h.fs.writeFile(`${PF}/sriov_numvfs`, '2')
    expect(run(h, ['ip', 'link', 'set', 'dev', 'enp3s0f0', 'vf', '1', 'mac', '52:54:00:6d:90:02', 'vlan', '100', 'qos', '3', 'spoofchk', 'off', 'trust', 'on', 'max_tx_rate', '1000']).code).toBe(0)
    const j = JSON.parse(run(h, ['ip', '-j', 'link', 'show', 'enp3s0f0']).stdout) as {vfinfo_list: Record<string, unknown>[]}[]
    expect(j[0]?.vfinfo_list[1]).toMatchObject({vf: 1, address: '52:54:00:6d:90:02', vlan_list: [{vlan: 100, qos: 3}], spoofchk: false, trust: true, max_tx_rate: 1000, link_state: 'auto'})
    expect(j[0]?.vfinfo_list[0]).toMatchObject({vf: 0, address: '00:00:00:00:00:00', vlan_list: [{}], spoofchk: true, trust: false})
    expect(run(h, ['ip', 'link', 'show', 'enp3s0f0']).stdout).toContain('vf 1     link/ether 52:54:00:6d:90:02 brd ff:ff:ff:ff:ff:ff, vlan 100, qos 3, max_tx_rate 1000Mbps, spoof checking off, link-state auto, trust on')
  })

  it('fails like ip: unknown device (exit 1), bad value (exit 255), VF out of range (RTNETLINK, exit 2), not a PF', async () => {
    const h = host()
    await h.fs.writeFile(`${PF}/sriov_numvfs`, '1')
    expect(run(h, ['ip', 'link', 'set', 'dev', 'nope0', 'vf', '0', 'trust', 'on'])).toMatchObject({code: 1, stderr: 'Cannot find device "nope0"\n'})
    expect(run(h, ['ip', 'link', 'set', 'dev', 'enp3s0f0', 'vf', '0', 'trust', 'yes'])).toMatchObject({code: 255, stderr: 'Error: argument "yes" is wrong: Invalid "trust" value\n'})
    expect(run(h, ['ip', 'link', 'set', 'dev', 'enp3s0f0', 'vf', '5', 'trust', 'on'])).toMatchObject({code: 2, stderr: 'RTNETLINK answers: Invalid argument\n'})
    expect(run(h, ['ip', 'link', 'set', 'dev', 'enp3s0f0v0', 'vf', '0', 'trust', 'on'])).toMatchObject({code: 2, stderr: 'RTNETLINK answers: Operation not supported\n'})
  })
})

describe('vDPA (vdpa(8), sysfs-bus-vdpa, vdpa_sim_net)', () => {
  it('modprobe + vdpa dev add on vdpasim_net binds vhost_vdpa and makes /dev/vhost-vdpa-0; del removes it', () => {
    const h = host({})
    expect(run(h, ['modprobe', 'vhost_vdpa']).code).toBe(0)
    expect(run(h, ['modprobe', 'vdpa_sim_net']).code).toBe(0)
    expect(has(h, '/sys/module/vdpa')).toBe(true)
    const m = JSON.parse(run(h, ['vdpa', '-j', 'mgmtdev', 'show']).stdout) as {mgmtdev: Record<string, {max_supported_vqs: number}>}
    expect(Object.keys(m.mgmtdev)).toEqual(['vdpasim_net'])
    expect(run(h, ['vdpa', 'dev', 'add', 'name', 'vdpa0', 'mgmtdev', 'vdpasim_net', 'mac', '00:e8:ca:33:ba:05']).code).toBe(0)
    expect(path.basename(link(h, '/sys/bus/vdpa/devices/vdpa0/driver'))).toBe('vhost_vdpa')
    expect(fs.readdirSync(path.join(h.root, '/sys/bus/vdpa/devices/vdpa0')).filter((e) => e.startsWith('vhost-vdpa'))).toEqual(['vhost-vdpa-0'])
    expect(has(h, '/dev/vhost-vdpa-0')).toBe(true)
    expect(run(h, ['vdpa', 'dev', 'del', 'vdpa0']).code).toBe(0)
    expect(has(h, '/dev/vhost-vdpa-0')).toBe(false)
    expect(has(h, '/sys/bus/vdpa/devices/vdpa0')).toBe(false)
  })

  it('answers like the kernel: the module name is not the mgmtdev, names are unique, the simulator takes no max_vqp', () => {
    const h = host({})
    run(h, ['modprobe', 'vhost_vdpa'])
    run(h, ['modprobe', 'vdpa_sim_net'])
    expect(run(h, ['vdpa', 'dev', 'add', 'name', 'vdpa0', 'mgmtdev', 'vdpa_sim_net'])).toMatchObject({code: 1, stderr: 'kernel answers: No such device\n'})
    expect(run(h, ['vdpa', 'dev', 'add', 'name', 'vdpa0', 'mgmtdev', 'vdpasim_net', 'max_vqp', '1'])).toMatchObject({code: 1, stderr: expect.stringContaining('kernel answers: Operation not supported')})
    expect(run(h, ['vdpa', 'dev', 'add', 'name', 'vdpa0', 'mgmtdev', 'vdpasim_net']).code).toBe(0)
    expect(run(h, ['vdpa', 'dev', 'add', 'name', 'vdpa0', 'mgmtdev', 'vdpasim_net'])).toMatchObject({code: 1, stderr: 'kernel answers: File exists\n'})
    expect(run(h, ['modprobe', '-r', 'vdpa_sim_net'])).toMatchObject({code: 1, stderr: 'modprobe: FATAL: Module vdpa_sim_net is in use.\n'})
  })

  it('unbind from vhost_vdpa and bind to virtio_vdpa gives a host netdev (sysfs-bus-vdpa)', async () => {
    const h = host({})
    run(h, ['modprobe', 'vhost_vdpa'])
    run(h, ['modprobe', 'virtio_vdpa'])
    run(h, ['modprobe', 'vdpa_sim_net'])
    run(h, ['vdpa', 'dev', 'add', 'name', 'vdpa0', 'mgmtdev', 'vdpasim_net', 'mac', '00:e8:ca:33:ba:05'])
    await h.fs.writeFile('/sys/bus/vdpa/devices/vdpa0/driver/unbind', 'vdpa0')
    expect(has(h, '/dev/vhost-vdpa-0')).toBe(false)
    await h.fs.writeFile('/sys/bus/vdpa/drivers/virtio_vdpa/bind', 'vdpa0')
    expect(read(h, '/sys/class/net/eth0/address')).toBe('00:e8:ca:33:ba:05\n')
    await expectErrno(h.fs.writeFile('/sys/bus/vdpa/drivers/vhost_vdpa/bind', 'vdpa0'), 'EBUSY')
  })

  it('modprobe -r removes the module and the dependencies that became unused (kmod)', () => {
    const h = host({})
    run(h, ['modprobe', 'vhost_vdpa'])
    run(h, ['modprobe', 'vdpa_sim_net'])
    expect(run(h, ['modprobe', '-r', 'vdpa_sim_net']).code).toBe(0)
    expect(has(h, '/sys/module/vdpa_sim')).toBe(false)
    expect(has(h, '/sys/module/vdpa')).toBe(true) // still held by vhost_vdpa
    expect(run(h, ['modprobe', '-r', 'vhost_vdpa']).code).toBe(0)
    expect(loadState(h.root).modules).toEqual(['igb', 'igbvf', 'mlx5_core', 'virtio_pci'])
    expect(run(h, ['modprobe', 'nosuchmod'])).toMatchObject({code: 1, stderr: 'modprobe: FATAL: Module nosuchmod not found in directory /lib/modules/6.1.0-sim\n'})
  })
})
