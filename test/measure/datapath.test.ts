import * as nodefs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {RootedFs} from '../../src/host/fs.js'
import {
  collectSriov,
  collectVdpa,
  collectVhostNet,
  collectVirtioQemu,
  parsePmdRxqShow,
  parsePmdStatsShow,
  readPidfile,
  verifyOvsDpdk,
} from '../../src/measure/datapath.js'
import {measureFixture} from './helpers.js'

/** A fixture tree of /proc and /sys under a temp root, built like the kernel lays them out. */
class Tree {
  readonly root = nodefs.mkdtempSync(path.join(os.tmpdir(), 'vl-datapath-'))
  file(p: string, content: string): this {
    const full = path.join(this.root, p)
    nodefs.mkdirSync(path.dirname(full), {recursive: true})
    nodefs.writeFileSync(full, content)
    return this
  }
  link(p: string, target: string): this {
    const full = path.join(this.root, p)
    nodefs.mkdirSync(path.dirname(full), {recursive: true})
    nodefs.symlinkSync(target, full)
    return this
  }
  fs(): RootedFs {
    return new RootedFs(this.root)
  }
  /** A QEMU process: fds (fd -> target) and threads (tid -> comm). */
  qemu(pid: number, fds: Record<number, string>, threads: Record<number, string>): this {
    this.file(`/proc/${pid}/comm`, 'qemu-system-x86\n')
    for (const [fd, target] of Object.entries(fds)) this.link(`/proc/${pid}/fd/${fd}`, target)
    for (const [tid, comm] of Object.entries(threads)) this.file(`/proc/${pid}/task/${tid}/comm`, `${comm}\n`)
    return this
  }
}

const trees: Tree[] = []
function tree(): Tree {
  const t = new Tree()
  trees.push(t)
  return t
}
afterEach(() => {
  for (const t of trees.splice(0)) nodefs.rmSync(t.root, {recursive: true, force: true})
})

const QEMU_FDS = {0: '/dev/null', 1: '/run/virtlab/vhost-net/vm1.console.log', 17: '/dev/net/tun', 19: 'anon_inode:[eventfd]'}

describe('vhost-net verification', () => {
  it('verified: QEMU holds /dev/vhost-net and a vhost-<pid> worker thread runs (kernel >= 6.4)', async () => {
    const t = tree().qemu(4242, {...QEMU_FDS, 23: '/dev/vhost-net'}, {4242: 'qemu-system-x86', 4250: 'CPU 0/TCG', 4251: 'vhost-4242'})
    const v = await collectVhostNet(t.fs(), 4242)
    expect(v.verified).toBe(true)
    expect(v.reason).toBeUndefined()
    expect(v.evidence).toEqual([
      'QEMU pid 4242 holds /dev/net/tun (fd 17)',
      'QEMU pid 4242 holds /dev/vhost-net (fd 23)',
      'vhost worker thread vhost-4242 (tid 4251)',
    ])
  })

  it('verified: a vhost-<pid> kernel thread (older kernels)', async () => {
    const t = tree().qemu(4242, {...QEMU_FDS, 23: '/dev/vhost-net'}, {4242: 'qemu-system-x86'}).file('/proc/77/comm', 'vhost-4242\n').file('/proc/78/comm', 'kworker/0:1\n')
    const v = await collectVhostNet(t.fs(), 4242)
    expect(v.verified).toBe(true)
    expect(v.evidence).toContain('vhost kernel thread vhost-4242 (pid 77)')
  })

  it('not verified on the degraded path: no /dev/vhost-net fd (userspace backend)', async () => {
    const t = tree().qemu(4242, QEMU_FDS, {4242: 'qemu-system-x86'})
    const v = await collectVhostNet(t.fs(), 4242)
    expect(v.verified).toBe(false)
    expect(v.reason).toMatch(/does not hold \/dev\/vhost-net/)
    // the same process IS a verified virtio-qemu datapath
    const q = await collectVirtioQemu(t.fs(), 4242)
    expect(q).toMatchObject({kind: 'virtio-qemu', verified: true})
  })

  it('not verified: /dev/vhost-net open but no worker', async () => {
    const t = tree().qemu(4242, {...QEMU_FDS, 23: '/dev/vhost-net'}, {4242: 'qemu-system-x86', 4243: 'vhost-9999'})
    const v = await collectVhostNet(t.fs(), 4242)
    expect(v.verified).toBe(false)
    expect(v.reason).toMatch(/no vhost-4242 worker/)
  })

  it('virtio-qemu is not verified when QEMU uses vhost-net', async () => {
    const t = tree().qemu(4242, {...QEMU_FDS, 23: '/dev/vhost-net'}, {4242: 'qemu-system-x86'})
    expect((await collectVirtioQemu(t.fs(), 4242)).verified).toBe(false)
  })

  it('reads pidfiles', async () => {
    const t = tree().file('/run/libvirt/qemu/vl-vhost-net-vm1.pid', '4242').file('/run/x.pid', 'garbage\n')
    expect(await readPidfile(t.fs(), '/run/libvirt/qemu/vl-vhost-net-vm1.pid')).toBe(4242)
    expect(await readPidfile(t.fs(), '/run/x.pid')).toBeUndefined()
    expect(await readPidfile(t.fs(), '/run/none.pid')).toBeUndefined()
  })
})

describe('SR-IOV and vDPA verification', () => {
  it('SR-IOV: the VF under its PF, bound to vfio-pci', async () => {
    const t = tree()
      .link('/sys/bus/pci/devices/0000:03:10.0/physfn', '../0000:03:00.0')
      .link('/sys/bus/pci/devices/0000:03:10.0/driver', '../../../../bus/pci/drivers/vfio-pci')
      .link('/sys/bus/pci/devices/0000:03:10.2/physfn', '../0000:03:00.0')
      .link('/sys/bus/pci/devices/0000:03:10.2/driver', '../../../../bus/pci/drivers/igbvf')
    expect(await collectSriov(t.fs(), '0000:03:10.0', {pf: '0000:03:00.0'})).toMatchObject({kind: 'sriov', verified: true})
    const wrongDriver = await collectSriov(t.fs(), '0000:03:10.2')
    expect(wrongDriver.verified).toBe(false)
    expect(wrongDriver.reason).toBe('0000:03:10.2 is bound to igbvf, expected vfio-pci')
    expect((await collectSriov(t.fs(), '0000:03:10.2', {expectedDriver: 'host'})).verified).toBe(true)
    expect((await collectSriov(t.fs(), '0000:03:00.0')).reason).toMatch(/not a virtual function/)
    expect((await collectSriov(t.fs(), '0000:03:10.0', {pf: '0000:04:00.0'})).reason).toMatch(/belongs to 0000:03:00.0/)
  })

  it('vDPA: QEMU holds the /dev/vhost-vdpa-N of the lab', async () => {
    const t = tree().qemu(5151, {...QEMU_FDS, 30: '/dev/vhost-vdpa-0'}, {5151: 'qemu-system-x86'})
    expect(await collectVdpa(t.fs(), 5151, '/dev/vhost-vdpa-0')).toMatchObject({verified: true, evidence: ['QEMU pid 5151 holds /dev/vhost-vdpa-0 (fd 30)']})
    expect((await collectVdpa(t.fs(), 5151, '/dev/vhost-vdpa-1')).verified).toBe(false)
  })
})

// Recorded from a private OVS-DPDK instance on this machine (ovs-vswitchd-dpdk 3.1.0, DPDK 22.11.11,
// two dpdkvhostuserclient ports and a net_tap port; 5 pings + 3 arpings sent into the tap between the snapshots).
describe('OVS-DPDK verification on recorded ovs-appctl output', () => {
  const rxq = measureFixture('ovs', 'pmd-rxq-show.txt')
  const before = measureFixture('ovs', 'pmd-stats-show-before.txt')
  const after = measureFixture('ovs', 'pmd-stats-show-after.txt')

  it('parses pmd-rxq-show', () => {
    const threads = parsePmdRxqShow(rxq)
    expect(threads).toHaveLength(1)
    expect(threads[0]).toMatchObject({numaId: 0, coreId: 1, isolated: false})
    expect(threads[0]?.rxqs.map((q) => `${q.port}:${q.queueId}`)).toEqual(['vl1234u0n0:0', 'vl1234u1n0:0', 'vltapdpdk:0', 'vltapdpdk:1'])
    expect(threads[0]?.rxqs[0]).toMatchObject({enabled: true, usage: 'NOT AVAIL'})
  })

  it('parses pmd-stats-show (pmd and main threads)', () => {
    const stats = parsePmdStatsShow(after)
    expect(stats.map((s) => s.thread)).toEqual(['pmd', 'main'])
    expect(stats[0]).toMatchObject({coreId: 1, packetsReceived: 7, processingCycles: 783174, idleCycles: 12510019030})
    expect(parsePmdStatsShow(before)[0]).toMatchObject({packetsReceived: 1, processingCycles: 153932})
  })

  it('verified: the lab ports are on a PMD and the counters moved', () => {
    const v = verifyOvsDpdk({ports: ['vl1234u0n0', 'vl1234u1n0'], rxqShow: rxq, statsBefore: before, statsAfter: after})
    expect(v.verified).toBe(true)
    expect(v.evidence).toContain('port vl1234u0n0 is polled by PMD core 1')
    expect(v.evidence).toContain('PMD packets received 1 -> 7 (+6), processing cycles 153932 -> 783174 (+629242)')
  })

  it('not verified when the counters did not move, a port is not polled, or there is no PMD', () => {
    expect(verifyOvsDpdk({ports: ['vl1234u0n0'], rxqShow: rxq, statsBefore: after, statsAfter: after}).reason).toBe('the PMD threads received no packets during the test')
    expect(verifyOvsDpdk({ports: ['vl1234u0n0', 'vlffffu0n0'], rxqShow: rxq, statsBefore: before, statsAfter: after}).reason).toBe('port vlffffu0n0 not assigned to any PMD thread')
    expect(verifyOvsDpdk({ports: ['vl1234u0n0'], rxqShow: '', statsBefore: '', statsAfter: 'main thread:\n  packets received: 5\n'}).reason).toMatch(/no PMD thread/)
  })
})
