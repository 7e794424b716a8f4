import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import * as path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {type CheckResult, runChecks, runDoctor} from '../../src/doctor/index.js'
import {RootedFs} from '../../src/host/fs.js'
import {loadLab} from '../../src/lab/load.js'
import type {LabModel} from '../../src/lab/model.js'
import type {FakeRunner} from '../helpers/fake-runner.js'
import {copyFixture, hostTools, makeContext, removeTree, type ToolOptions} from './host-tools.js'

const packageRoot = path.resolve(import.meta.dirname, '..', '..')
const LABS = ['virtio-qemu', 'vhost-net', 'vhost-user', 'sriov', 'vdpa'] as const

async function lab(name: string, sets: Record<string, string> = {}): Promise<LabModel> {
  return loadLab(name, {fs: new RootedFs('/'), packageRoot, sets})
}

const roots: string[] = []
afterEach(() => {
  for (const r of roots.splice(0)) removeTree(r)
})

function host(name: 'full' | 'ours', edit?: (root: string) => void): string {
  const root = copyFixture(name)
  roots.push(root)
  edit?.(root)
  return root
}

/** Our machines: KVM present but the KVM probe guest never finishes in time. */
const OURS_TOOLS: ToolOptions = {libvirt: 'up', vdpaMgmtdevs: 'no-netlink', kvm: {tcgNull: 60, tcgWork: 300, kvmNull: 75, kvmWork: 'timeout'}}

async function check(root: string, model: LabModel | undefined, tools: ToolOptions | FakeRunner = {}, options: Parameters<typeof runChecks>[2] = {}): Promise<CheckResult[]> {
  const clock = {now: 0}
  const runner = 'run' in tools ? tools : hostTools({...tools, clock})
  return runChecks(model, makeContext(root, runner), {kvmProbeOptions: {clock: () => clock.now}, ...options})
}

function byId(results: CheckResult[], id: string): CheckResult {
  const r = results.find((c) => c.id === id)
  if (r === undefined) throw new Error(`no check ${id} in ${results.map((c) => c.id).join(', ')}`)
  return r
}

const statuses = (results: CheckResult[]) => Object.fromEntries(results.map((c) => [c.id, c.status]))

describe('the full host', () => {
  it.each(LABS)('passes every check the %s lab needs', async (name) => {
    const results = await check(host('full'), await lab(name), {}, {driver: 'libvirt'})
    expect(results.filter((c) => c.status !== 'pass')).toEqual([])
  })

  it('checks what each lab needs and nothing else', async () => {
    const root = host('full')
    const ids = async (name: string) => (await check(root, await lab(name))).map((c) => c.id)
    expect(await ids('vhost-net')).toEqual(expect.arrayContaining(['root', 'kvm', 'qemu', 'qemu-devices', 'tun', 'vhost-net', 'libvirt', 'iperf3', 'guest-tools']))
    expect(await ids('vhost-net')).not.toContain('hugepages')
    expect(await ids('vhost-user')).toEqual(expect.arrayContaining(['hugepages', 'hugetlbfs', 'shared-memory', 'ovs-tools', 'ovs-dpdk', 'dpdk-mempool-ring']))
    expect(await ids('vhost-user')).not.toContain('vhost-net')
    expect(await ids('vhost-user')).not.toContain('ovs-system') // ovs: private
    expect(await ids('sriov')).toEqual(expect.arrayContaining(['iommu', 'vfio-pci', 'sriov:pf0']))
    expect(await ids('vdpa')).toEqual(expect.arrayContaining(['vdpa-tool', 'vdpa-bus', 'vdpa-mgmtdev:vdpasim_net', 'module:vhost_vdpa']))
  })

  it('uses the cached KVM result for its kernel and QEMU (usable, no probe run)', async () => {
    const runner = hostTools()
    const results = await check(host('full'), undefined, runner)
    expect(byId(results, 'kvm')).toMatchObject({status: 'pass'})
    expect(byId(results, 'kvm').detail).toMatch(/usable.*cached/)
    expect(runner.records.some((c) => c.argv.includes('-bios'))).toBe(false)
  })

  it('passes every check without a lab, except the system OVS that is not running (startable)', async () => {
    const results = await check(host('full'), undefined)
    const notPass = results.filter((c) => c.status !== 'pass')
    expect(notPass.map((c) => `${c.id}:${c.status}`)).toEqual(['ovs-system:warn'])
    expect(byId(results, 'hugepages').detail).toBe('2M: 1024 total, 1024 free (total/free node0 512/512, node1 512/512); 1G: 4 total, 4 free (total/free node0 2/2, node1 2/2)')
    expect(byId(results, 'sriov').detail).toMatch(/0000:03:00\.0 \(enp3s0f0\): 8 VFs, driver ixgbe/)
  })

  it('finds the PF by PCI address too', async () => {
    const results = await check(host('full'), await lab('sriov', {pf: '0000:03:00.0'}))
    expect(byId(results, 'sriov:pf0')).toMatchObject({status: 'pass', detail: '0000:03:00.0, driver ixgbe: sriov_totalvfs 8, sriov_numvfs 0; the lab creates 2'})
  })
})

interface Variant {
  what: string
  lab: (typeof LABS)[number] | undefined
  sets?: Record<string, string>
  remove?: string[]
  edit?: (root: string) => void
  tools?: (r: FakeRunner) => void
  options?: Parameters<typeof runChecks>[2]
  id: string
  status: 'fail' | 'warn'
  detail: RegExp
  fix: RegExp
  packages?: string[]
  daemons?: string[]
  /** Checks that fail as a consequence (they depend on the missing thing). */
  alsoFail?: string[]
}

const rewrite = (file: string, map: (text: string) => string) => (root: string) => {
  const p = path.join(root, file)
  writeFileSync(p, map(readFileSync(p, 'utf8')))
}

const VARIANTS: Variant[] = [
  {what: 'no /dev/vhost-net', lab: 'vhost-net', remove: ['dev/vhost-net', 'sys/module/vhost_net'], id: 'vhost-net', status: 'fail',
    detail: /\/dev\/vhost-net missing .*`virtlab up vhost-net --allow-degraded` \(the run is labelled degraded\)/, fix: /^modprobe vhost_net \(needs a kernel with CONFIG_VHOST_NET\); or accept the degraded run: virtlab up vhost-net --allow-degraded$/},
  {what: 'no /dev/vhost-net, --allow-degraded', lab: 'vhost-net', remove: ['dev/vhost-net', 'sys/module/vhost_net'], options: {allowDegraded: true}, id: 'vhost-net', status: 'warn',
    detail: /^degraded: \/dev\/vhost-net missing/, fix: /modprobe vhost_net/},
  {what: 'no /dev/net/tun', lab: 'virtio-qemu', remove: ['dev/net/tun', 'sys/module/tun'], id: 'tun', status: 'fail', detail: /\/dev\/net\/tun missing: no tap devices \(CONFIG_TUN\)/, fix: /^modprobe tun/},
  {what: 'no /dev/kvm, lab asks for accel kvm', lab: 'virtio-qemu', remove: ['dev/kvm', 'sys/module/kvm'], edit: undefined, id: 'kvm', status: 'warn', detail: /\/dev\/kvm missing: no KVM acceleration; accel: auto resolves to tcg/, fix: /enable VT-x\/AMD-V/},
  {what: 'no IOMMU groups', lab: 'sriov', remove: ['sys/kernel/iommu_groups'], id: 'iommu', status: 'fail', detail: /^no IOMMU: \/sys\/kernel\/iommu_groups is empty; kernel command line has intel_iommu=on iommu=pt$/, fix: /intel_iommu=on iommu=pt/},
  {what: 'no vfio-pci', lab: 'sriov', remove: ['sys/bus/pci/drivers/vfio-pci', 'sys/module/vfio_pci'], id: 'vfio-pci', status: 'fail', detail: /vfio-pci is not loaded/, fix: /^modprobe vfio_pci/},
  {what: 'no /dev/vfio/vfio', lab: 'sriov', remove: ['dev/vfio/vfio'], id: 'vfio-pci', status: 'fail', detail: /\/dev\/vfio\/vfio is missing/, fix: /^modprobe vfio/},
  {what: 'no PF netdev', lab: 'sriov', remove: ['sys/class/net/enp3s0f0'], id: 'sriov:pf0', status: 'fail', detail: /^no SR-IOV capable PF: \/sys\/class\/net\/enp3s0f0 not found$/, fix: /--set pf=/},
  {what: 'no PF by PCI address', lab: 'sriov', sets: {pf: '0000:04:00.0'}, id: 'sriov:pf0', status: 'fail', detail: /^no SR-IOV capable PF: \/sys\/bus\/pci\/devices\/0000:04:00\.0 not found$/, fix: /--set pf=/},
  {what: 'PF without SR-IOV', lab: 'sriov', remove: ['sys/bus/pci/devices/0000:03:00.0/sriov_totalvfs'], id: 'sriov:pf0', status: 'fail', detail: /has no SR-IOV capability \(.*sriov_totalvfs missing\)/, fix: /--set pf=/},
  {what: 'PF without a driver', lab: 'sriov', remove: ['sys/bus/pci/devices/0000:03:00.0/driver'], id: 'sriov:pf0', status: 'fail', detail: /no driver bound/, fix: /bind/},
  {what: 'too few VFs', lab: 'sriov', sets: {vfs: '9'}, id: 'sriov:pf0', status: 'fail', detail: /supports at most 8 VFs; the lab asks for 9/, fix: /--set vfs=8/},
  {what: 'no vDPA bus', lab: 'vdpa', remove: ['sys/bus/vdpa', 'sys/module/vdpa'], id: 'vdpa-bus', status: 'fail', detail: /^the kernel has no vDPA bus: \/sys\/bus\/vdpa missing \(CONFIG_VDPA\)$/, fix: /modprobe vdpa/, alsoFail: ['vdpa-mgmtdev:vdpasim_net']},
  {what: 'no vhost_vdpa module', lab: 'vdpa', remove: ['sys/module/vhost_vdpa', 'sys/bus/vdpa/drivers/vhost_vdpa'], id: 'module:vhost_vdpa', status: 'fail', detail: /module vhost_vdpa is not loaded/, fix: /^modprobe vhost_vdpa \(needs a kernel with CONFIG_VHOST_VDPA\)$/},
  {what: 'no vdpasim_net mgmtdev', lab: 'vdpa', tools: (r) => { r.on(['vdpa', '-j', 'mgmtdev', 'show'], {stdout: '{"mgmtdev":{}}'}) }, id: 'vdpa-mgmtdev:vdpasim_net', status: 'fail', detail: /vdpasim_net not found \(vdpa mgmtdev show lists: none\)/, fix: /modprobe vdpa_sim_net/},
  {what: 'no vdpa tool', lab: 'vdpa', tools: (r) => { r.uninstall('vdpa') }, id: 'vdpa-tool', status: 'fail', detail: /vdpa tool/, fix: /apt-get install -y --no-install-recommends iproute2/, packages: ['iproute2'], alsoFail: ['vdpa-mgmtdev:vdpasim_net']},
  {what: 'no 2M hugepages', lab: 'vhost-user', remove: ['sys/kernel/mm/hugepages/hugepages-2048kB'], id: 'hugepages', status: 'fail', detail: /the kernel has no 2M hugepages/, fix: /CONFIG_HUGETLB_PAGE/},
  {what: 'hugepages used up, memory available', lab: 'vhost-user', edit: (root) => writeFileSync(path.join(root, 'sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages'), '100\n'), id: 'hugepages', status: 'warn',
    detail: /100 free 2M pages system-wide, the lab needs 512: `virtlab up` raises nr_hugepages from 1024 to 1436/, fix: /echo 1436 > \/sys\/kernel\/mm\/hugepages\/hugepages-2048kB\/nr_hugepages/},
  {what: 'hugepages used up, no memory', lab: 'vhost-user', edit: (root) => {
    writeFileSync(path.join(root, 'sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages'), '0\n')
    rewrite('proc/meminfo', (t) => t.replace(/MemAvailable:.*/, 'MemAvailable:     400000 kB'))(root)
  }, id: 'hugepages', status: 'fail', detail: /only 390 MiB of memory is available for the 1024 MiB more/, fix: /lower hugepages.count/},
  {what: 'hugetlbfs not mounted', lab: 'vhost-user', edit: rewrite('proc/mounts', (t) => t.split('\n').filter((l) => !l.includes('hugetlbfs')).join('\n')), id: 'hugetlbfs', status: 'warn',
    detail: /no hugetlbfs mounted with pagesize 2M .* virtlab up mounts it/, fix: /^mkdir -p \/dev\/hugepages && mount -t hugetlbfs -o pagesize=2M nodev \/dev\/hugepages$/},
  {what: 'no hugetlbfs in the kernel', lab: 'vhost-user', edit: (root) => {
    rewrite('proc/mounts', (t) => t.split('\n').filter((l) => !l.includes('hugetlbfs')).join('\n'))(root)
    rewrite('proc/filesystems', (t) => t.split('\n').filter((l) => !l.includes('hugetlbfs')).join('\n'))(root)
  }, id: 'hugetlbfs', status: 'fail', detail: /the kernel has no hugetlbfs/, fix: /CONFIG_HUGETLBFS/},
  {what: 'no OVS-DPDK build', lab: 'vhost-user', remove: ['usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk'], id: 'ovs-dpdk', status: 'fail', detail: /ovs-vswitchd-dpdk missing/, fix: /openvswitch-switch-dpdk/, packages: ['openvswitch-switch-dpdk']},
  {what: 'no librte-mempool-ring', lab: 'vhost-user', remove: ['usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0/librte_mempool_ring.so.23', 'usr/lib/x86_64-linux-gnu/librte_mempool_ring.so.23'], id: 'dpdk-mempool-ring', status: 'fail',
    detail: /Failed to create mempool/, fix: /librte-mempool-ring23/, packages: ['librte-mempool-ring23']},
  {what: 'no OVS tools', lab: 'vhost-user', tools: (r) => { r.uninstall('ovsdb-tool') }, id: 'ovs-tools', status: 'fail', detail: /missing ovsdb-tool/, fix: /openvswitch-switch/, packages: ['openvswitch-switch']},
  {what: 'libvirtd not running (driver libvirt)', lab: 'virtio-qemu', options: {driver: 'libvirt'}, tools: (r) => { r.on(['virsh', '-c', 'qemu:///system', 'uri'], {exitCode: 1, stderr: "error: Failed to connect socket to '/var/run/libvirt/libvirt-sock'"}) },
    id: 'libvirt', status: 'warn', detail: /libvirtd not reachable .*startable/, fix: /virtlab doctor --fix starts it/, daemons: ['virtlogd', 'libvirtd']},
  {what: 'libvirt not installed (driver libvirt)', lab: 'virtio-qemu', options: {driver: 'libvirt'}, tools: (r) => { r.uninstall('virsh', 'libvirtd', 'virtlogd') }, id: 'libvirt', status: 'fail', detail: /virsh not found/,
    fix: /libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu/, packages: ['libvirt-daemon-system', 'libvirt-clients', 'libvirt-daemon-driver-qemu']},
  {what: 'no iperf3', lab: 'vhost-net', tools: (r) => { r.uninstall('iperf3') }, id: 'iperf3', status: 'fail', detail: /iperf3 not found/, fix: /iperf3/, packages: ['iperf3']},
  {what: 'no busybox', lab: 'vhost-net', tools: (r) => { r.uninstall('busybox') }, id: 'guest-tools', status: 'fail', detail: /busybox missing/, fix: /busybox-static/, packages: ['busybox-static']},
  {what: 'no QEMU', lab: 'virtio-qemu', tools: (r) => { r.uninstall('qemu-system-x86_64') }, id: 'qemu', status: 'fail', detail: /qemu-system-x86_64 not found/, fix: /qemu-system-x86 qemu-utils/, packages: ['qemu-system-x86', 'qemu-utils']},
  {what: 'QEMU without vhost-user', lab: 'vhost-user', tools: (r) => { r.on(['qemu-system-x86_64', '-netdev', 'help'], {stdout: 'Available netdev backend types:\nsocket\ntap\nuser\n'}) }, id: 'qemu-devices', status: 'fail', detail: /lacks -netdev vhost-user/, fix: /install a QEMU built with -netdev vhost-user/},
  {what: 'not root', lab: 'virtio-qemu', edit: rewrite('proc/self/status', (t) => t.replace(/Uid:.*/, 'Uid:\t1000\t1000\t1000\t1000')), id: 'root', status: 'fail', detail: /running as uid 1000/, fix: /sudo virtlab/},
  {what: 'a device the lab lists', lab: 'virtio-qemu', remove: ['dev/net/tun'], id: 'tun', status: 'fail', detail: /\/dev\/net\/tun missing/, fix: /modprobe tun/},
]

describe('the full host missing one prerequisite', () => {
  it.each(VARIANTS)('$what -> $id $status', async (v) => {
    const root = host('full', (r) => {
      for (const p of v.remove ?? []) rmSync(path.join(r, p), {recursive: true, force: true})
      v.edit?.(r)
    })
    const clock = {now: 0}
    const runner = hostTools({clock})
    v.tools?.(runner)
    const model = v.lab === undefined ? undefined : await lab(v.lab, v.sets)
    const results = await check(root, model, runner, v.options)
    const c = byId(results, v.id)
    expect(c.status).toBe(v.status)
    expect(c.detail).toMatch(v.detail)
    expect(c.fix).toMatch(v.fix)
    if (v.packages) expect(c.fixAction?.packages).toEqual(v.packages)
    if (v.daemons) expect(c.fixAction?.daemons).toEqual(v.daemons)
    // Only that prerequisite is missing: every other check still passes.
    const others = results.filter((x) => x.id !== v.id && x.status === 'fail')
    expect(others.map((x) => x.id)).toEqual(v.alsoFail ?? [])
  })

  it('without the vdpa tool, the management device check points at the tool package', async () => {
    const runner = hostTools()
    runner.uninstall('vdpa')
    const results = await check(host('full'), await lab('vdpa'), runner)
    expect(byId(results, 'vdpa-mgmtdev:vdpasim_net')).toMatchObject({status: 'fail', fixAction: {packages: ['iproute2']}})
    expect(byId(results, 'vdpa-mgmtdev:vdpasim_net').detail).toBe('cannot list vDPA management devices (looking for vdpasim_net): the vdpa tool is not installed')
  })

  it('a lab that asks for accel: kvm fails on a host without usable KVM', async () => {
    const model = await lab('virtio-qemu')
    for (const vm of model.vms) vm.accel = 'kvm'
    const root = host('full', (r) => rmSync(path.join(r, 'var/lib/virtlab/kvm-probe.json')))
    const results = await check(root, model, {kvm: {tcgNull: 60, tcgWork: 300, kvmNull: 75, kvmWork: 'timeout'}})
    expect(byId(results, 'kvm')).toMatchObject({status: 'fail'})
    expect(byId(results, 'kvm').detail).toMatch(/KVM is not usable: the probe guest did not finish under KVM/)
  })

  it('on a host that can load modules says modprobe, on one that cannot says which kernel option', async () => {
    const loadable = await check(host('full', (r) => rmSync(path.join(r, 'sys/bus/vdpa'), {recursive: true})), await lab('vdpa'))
    expect(byId(loadable, 'vdpa-bus').fix).toBe('modprobe vdpa; modprobe vhost_vdpa (needs a kernel with CONFIG_VDPA, CONFIG_VHOST_VDPA)')
    const fixed = await check(host('full', (r) => {
      rmSync(path.join(r, 'sys/bus/vdpa'), {recursive: true})
      rmSync(path.join(r, 'lib/modules'), {recursive: true})
    }), await lab('vdpa'))
    expect(byId(fixed, 'vdpa-bus').fix).toBe('this kernel (6.1.0-27-amd64) cannot load modules (no /lib/modules/6.1.0-27-amd64): boot a kernel built with CONFIG_VDPA, CONFIG_VHOST_VDPA')
  })
})

describe('our machines (the ours fixture)', () => {
  it('without a lab: KVM present but not usable, no vhost-net, hugepages available, no SR-IOV or vDPA, and no failure', async () => {
    const results = await check(host('ours'), undefined, OURS_TOOLS)
    expect(statuses(results)).toMatchObject({
      root: 'pass', kvm: 'warn', qemu: 'pass', 'qemu-devices': 'pass', tun: 'pass', 'vhost-net': 'warn', hugepages: 'pass', hugetlbfs: 'pass',
      iommu: 'warn', 'vfio-pci': 'warn', sriov: 'warn', 'vdpa-tool': 'pass', 'vdpa-bus': 'warn', 'vdpa-mgmtdev': 'warn', 'module:vhost_vdpa': 'warn',
      'ovs-tools': 'pass', 'ovs-system': 'warn', 'ovs-kernel-datapath': 'warn', 'ovs-dpdk': 'pass', 'dpdk-mempool-ring': 'pass', libvirt: 'pass', iperf3: 'pass', 'guest-tools': 'pass',
    })
    expect(results.filter((c) => c.status === 'fail')).toEqual([])
    expect(byId(results, 'kvm').detail).toMatch(/^\/dev\/kvm present but KVM is not usable: the probe guest did not finish under KVM within 2075 ms; TCG ran it in 300 ms .*accel: auto resolves to tcg$/)
    expect(byId(results, 'vhost-net').detail).toMatch(/^unavailable here: \/dev\/vhost-net missing/)
    expect(byId(results, 'sriov').detail).toBe('unavailable here: no SR-IOV capable PF (no PCI device has sriov_totalvfs)')
    expect(byId(results, 'vdpa-bus').detail).toBe('unavailable here: the kernel has no vDPA bus: /sys/bus/vdpa missing (CONFIG_VDPA)')
    expect(byId(results, 'iommu').detail).toBe('unavailable here: no IOMMU: /sys/kernel/iommu_groups is empty; kernel command line has no intel_iommu=on / amd_iommu / iommu=pt')
    expect(byId(results, 'hugepages').detail).toBe('2M: 0 total, 0 free (total/free node0 0/0); 1G: 0 total, 0 free (total/free node0 0/0) (none reserved: virtlab up reserves what a lab needs)')
    expect(byId(results, 'vhost-net').fix).toMatch(/^this kernel \(6\.18\.44-fc-v669\) cannot load modules/)
  })

  it('the vhost-net lab fails on vhost-net, naming the degraded way out; passes as a warning with --allow-degraded', async () => {
    const model = await lab('vhost-net')
    const results = await check(host('ours'), model, OURS_TOOLS)
    expect(results.filter((c) => c.status === 'fail').map((c) => c.id)).toEqual(['vhost-net'])
    expect(byId(results, 'vhost-net').detail).toMatch(/`virtlab up vhost-net --allow-degraded` \(the run is labelled degraded\)/)
    const degraded = await check(host('ours'), model, OURS_TOOLS, {allowDegraded: true})
    expect(degraded.filter((c) => c.status === 'fail')).toEqual([])
    expect(byId(degraded, 'vhost-net')).toMatchObject({status: 'warn'})
    expect(byId(degraded, 'vhost-net').detail).toMatch(/^degraded: /)
  })

  it('the sriov lab fails with plain reasons', async () => {
    const results = await check(host('ours'), await lab('sriov'), OURS_TOOLS)
    expect(statuses(results)).toMatchObject({iommu: 'fail', 'vfio-pci': 'fail', 'sriov:pf0': 'fail'})
    expect(byId(results, 'sriov:pf0').detail).toBe('no SR-IOV capable PF: /sys/class/net/enp3s0f0 not found')
    // eth0 exists here but is a virtio NIC, not a PCI function with SR-IOV.
    const eth0 = await check(host('ours'), await lab('sriov', {pf: 'eth0'}), OURS_TOOLS)
    expect(byId(eth0, 'sriov:pf0').detail).toMatch(/^no SR-IOV capable PF: eth0 \(virtio2\) has no SR-IOV capability/)
  })

  it('the vdpa lab fails with plain reasons', async () => {
    const results = await check(host('ours'), await lab('vdpa'), OURS_TOOLS)
    expect(byId(results, 'vdpa-bus')).toMatchObject({status: 'fail', detail: 'the kernel has no vDPA bus: /sys/bus/vdpa missing (CONFIG_VDPA)'})
    expect(byId(results, 'vdpa-mgmtdev:vdpasim_net')).toMatchObject({status: 'fail', detail: 'cannot find vDPA management device vdpasim_net: the kernel has no vDPA bus (/sys/bus/vdpa missing)'})
    for (const m of ['vhost_vdpa']) expect(byId(results, `module:${m}`).status).toBe('fail')
  })

  it('the vhost-user lab can run: hugepages are raised at up, OVS-DPDK and the mempool driver are there', async () => {
    const results = await check(host('ours'), await lab('vhost-user'), OURS_TOOLS)
    expect(results.filter((c) => c.status === 'fail')).toEqual([])
    expect(byId(results, 'hugepages')).toMatchObject({status: 'warn'})
    expect(byId(results, 'hugepages').detail).toMatch(/0 free 2M pages system-wide, the lab needs 512: `virtlab up` raises nr_hugepages from 0 to 512/)
    expect(byId(results, 'hugetlbfs')).toMatchObject({status: 'pass', detail: 'hugetlbfs mounted: /dev/hugepages (pagesize 2M)'})
    expect(byId(results, 'shared-memory').detail).toMatch(/vm1: memory-backend-memfd,share=on/)
  })

  it('the virtio-qemu lab passes everything but usable KVM', async () => {
    const results = await check(host('ours'), await lab('virtio-qemu'), OURS_TOOLS)
    expect(results.filter((c) => c.status !== 'pass').map((c) => c.id)).toEqual(['kvm'])
  })

  it('returns the facts the compiler needs (kvm unusable -> autoAccel tcg; no vhost-net)', async () => {
    const clock = {now: 0}
    const run = await runDoctor(undefined, makeContext(host('ours'), hostTools({...OURS_TOOLS, clock})), {kvmProbeOptions: {clock: () => clock.now}})
    expect(run.facts).toMatchObject({probed: true, root: true, kvm: 'unusable', vhostNet: false, tun: true, kernelRelease: '6.18.44-fc-v669', qemuVersion: '7.2.22', iommuGroups: 0, vdpaBus: false})
    expect(run.facts.hugetlbfsMounts).toEqual([{path: '/dev/hugepages', pagesizeKiB: 2048}])
    expect(run.os).toMatchObject({family: 'debian', packageManager: 'apt-get', dpdkAbi: '23'})
  })
})

describe('link names (issue 11 item 5)', () => {
  it('a host link named like the lab\'s switch fails doctor <lab>, naming it; free names pass', async () => {
    const model = await lab('virtio-qemu')
    const free = byId(await check(host('full'), model), 'links')
    expect(free.status).toBe('pass')
    const runner = hostTools()
    runner.on(['ip', 'link', 'show', 'dev', 'vlbr-virtio'], {stdout: '5: vlbr-virtio: <BROADCAST,MULTICAST,UP> mtu 1500\n'})
    const taken = byId(await check(host('full'), model, runner), 'links')
    expect(taken.status).toBe('fail')
    expect(taken.detail).toContain('vlbr-virtio (switch vlbr-virtio (Linux bridge))')
    expect(taken.fix).toMatch(/rename the switch/)
  })
  it('no lab, no link check', async () => {
    expect((await check(host('full'), undefined)).map((c) => c.id)).not.toContain('links')
  })
})

describe('hugepages beyond the host\'s memory (issue 11 item 13)', () => {
  it('a lab asking for more hugepage memory than MemTotal fails doctor (and so up)', async () => {
    const model = await lab('vhost-user')
    if (model.host.hugepages) model.host.hugepages.count = 65536
    const result = byId(await check(host('full'), model), 'hugepages')
    expect(result.status).toBe('fail')
    expect(result.detail).toMatch(/more than this host's memory \(MemTotal \d+ MiB\)/)
  })
})
