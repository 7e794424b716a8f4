/** The FakeHost and FakeRunner behave as test/helpers/fake-host.md says. */
import {afterEach, describe, expect, it} from 'vitest'

import {VirtlabError} from '../../src/errors.js'
import {FakeHost} from '../helpers/fake-host.js'
import {commandNotFound, FakeRunner} from '../helpers/fake-runner.js'

const hosts: FakeHost[] = []
function newHost(options: ConstructorParameters<typeof FakeHost>[0] = {}): FakeHost {
  const h = new FakeHost(options)
  hosts.push(h)
  return h
}
afterEach(() => {
  for (const h of hosts.splice(0)) h.cleanup()
})

async function sh(host: FakeHost, ...argv: string[]) {
  return host.exec(argv)
}

describe('FakeHost', () => {
  it('namespaces: add/list/del, /run/netns files, duplicate and missing errors, exec inside', async () => {
    const h = newHost()
    expect((await sh(h, 'ip', 'netns', 'add', 'vl-x')).exitCode).toBe(0)
    expect(h.readHostFile('/run/netns/vl-x')).toBe('')
    expect((await sh(h, 'ip', 'netns', 'add', 'vl-x')).stderr).toMatch(/File exists/)
    expect((await sh(h, 'ip', 'netns', 'list')).stdout).toBe('vl-x\n')
    expect((await sh(h, 'ip', 'netns', 'exec', 'vl-x', 'ip', 'link', 'add', 'br0', 'type', 'bridge')).exitCode).toBe(0)
    expect(h.links.find((l) => l.name === 'br0')?.ns).toBe('vl-x')
    expect((await sh(h, 'ip', 'link', 'show', 'dev', 'br0')).exitCode).toBe(1)
    expect((await sh(h, 'ip', '-n', 'vl-x', 'link', 'show', 'dev', 'br0')).exitCode).toBe(0)
    expect((await sh(h, 'ip', 'netns', 'del', 'vl-x')).exitCode).toBe(0)
    expect(h.links.some((l) => l.name === 'br0')).toBe(false)
    expect((await sh(h, 'ip', 'netns', 'del', 'vl-x')).exitCode).toBe(1)
    expect((await sh(h, 'ip', '-n', 'vl-x', 'link', 'show')).stderr).toMatch(/Cannot open network namespace/)
  })

  it('links: veth pairs across namespaces die together, bridges release their ports, set up/master/nomaster', async () => {
    const h = newHost()
    await sh(h, 'ip', 'netns', 'add', 'ns1')
    expect((await sh(h, 'ip', 'link', 'add', 'vlh0', 'type', 'veth', 'peer', 'name', 'host0', 'netns', 'ns1')).exitCode).toBe(0)
    expect(h.links.find((l) => l.name === 'host0')?.ns).toBe('ns1')
    await sh(h, 'ip', 'link', 'add', 'name', 'br0', 'type', 'bridge')
    await sh(h, 'ip', 'tuntap', 'add', 'dev', 'tap0', 'mode', 'tap', 'vnet_hdr')
    expect((await sh(h, 'ip', 'link', 'set', 'dev', 'tap0', 'master', 'br0', 'up')).exitCode).toBe(0)
    const show = (await sh(h, 'ip', '-o', 'link', 'show', 'dev', 'tap0')).stdout
    expect(show).toMatch(/^\d+: tap0: <[^>]*\bUP\b[^>]*> .* master br0 state UP/)
    expect((await sh(h, 'ip', '-o', 'link', 'show', 'master', 'br0')).stdout).toMatch(/: tap0: /)
    expect((await sh(h, 'ip', 'link', 'set', 'tap0', 'master', 'tap0')).stderr).toMatch(/enslaving/)
    await sh(h, 'ip', 'link', 'del', 'dev', 'br0')
    expect(h.links.find((l) => l.name === 'tap0')?.master).toBeUndefined()
    await sh(h, 'ip', 'link', 'del', 'vlh0')
    expect(h.links.some((l) => l.name === 'host0')).toBe(false)
    expect((await sh(h, 'ip', 'link', 'add', 'a-very-long-name-x', 'type', 'dummy')).exitCode).toBe(255)
    await sh(h, 'ip', 'addr', 'add', '10.0.0.1/24', 'dev', 'tap0')
    expect((await sh(h, 'ip', '-o', 'addr', 'show', 'dev', 'tap0')).stdout).toContain(' inet 10.0.0.1/24 ')
    expect((await sh(h, 'ip', 'addr', 'add', '10.0.0.1/24', 'dev', 'tap0')).exitCode).toBe(2)
  })

  it('ovs-vsctl: transactions are atomic, external-ids/find/get/remove, --if-exists/--may-exist, no db -> error', async () => {
    const h = newHost({systemOvs: true})
    expect((await sh(h, 'ovs-vsctl', '--may-exist', 'add-br', 'br0', '--', 'set', 'bridge', 'br0', 'external-ids:virtlab-lab=x')).exitCode).toBe(0)
    expect((await sh(h, 'ovs-vsctl', '--may-exist', 'add-br', 'br0')).exitCode).toBe(0)
    expect((await sh(h, 'ovs-vsctl', 'add-br', 'br0')).stderr).toMatch(/already exists/)
    // A failing second command rolls back the first.
    expect((await sh(h, 'ovs-vsctl', 'add-port', 'br0', 'p1', '--', 'add-port', 'nope', 'p2')).exitCode).toBe(1)
    expect((await sh(h, 'ovs-vsctl', 'list-ports', 'br0')).stdout).toBe('')
    await sh(h, 'ovs-vsctl', 'add-port', 'br0', 'p1', '--', 'set', 'Interface', 'p1', 'type=dpdkvhostuserclient', 'external-ids:virtlab-lab=x')
    expect((await sh(h, 'ovs-vsctl', '--columns=name', '--format=csv', '--no-headings', 'find', 'Bridge', 'external_ids:virtlab-lab=x')).stdout).toBe('br0\n')
    expect((await sh(h, 'ovs-vsctl', '--columns=name', '--format=csv', 'find', 'Interface', 'external-ids:virtlab-lab=x')).stdout).toBe('name\np1\n')
    expect((await sh(h, 'ovs-vsctl', 'get', 'Interface', 'p1', 'type')).stdout).toBe('dpdkvhostuserclient\n')
    expect((await sh(h, 'ovs-vsctl', 'port-to-br', 'p1')).stdout).toBe('br0\n')
    await sh(h, 'ovs-vsctl', 'set', 'Open_vSwitch', '.', 'other_config:pmd-cpu-mask=0x2')
    expect((await sh(h, 'ovs-vsctl', 'get', 'Open_vSwitch', '.', 'other_config:pmd-cpu-mask')).stdout).toBe('0x2\n')
    await sh(h, 'ovs-vsctl', 'remove', 'Open_vSwitch', '.', 'other_config', 'pmd-cpu-mask')
    expect((await sh(h, 'ovs-vsctl', 'get', 'Open_vSwitch', '.', 'other_config:pmd-cpu-mask')).exitCode).toBe(1)
    expect((await sh(h, 'ovs-vsctl', '--if-exists', 'get', 'Open_vSwitch', '.', 'other_config:pmd-cpu-mask')).stdout).toBe('')
    expect((await sh(h, 'ovs-vsctl', 'br-exists', 'nope')).exitCode).toBe(2)
    await sh(h, 'ovs-vsctl', 'del-br', 'br0')
    expect(h.ovsDbs.get('system')?.ports.size).toBe(0)
    expect((await sh(h, 'ovs-vsctl', '--if-exists', 'del-br', 'br0')).exitCode).toBe(0)
    expect((await sh(h, 'ovs-vsctl', '--db=unix:/run/x/db.sock', 'list-br')).stderr).toMatch(/database connection failed/)
  })

  it('a private OVS: ovsdb-tool create, ovsdb-server with pidfile and socket, vswitchd-dpdk sets dpdk_initialized, pkill -F stops it', async () => {
    const h = newHost()
    h.writeHostFile('/run/x/.keep', '')
    await sh(h, 'ovsdb-tool', 'create', '/run/x/conf.db', '/usr/share/openvswitch/vswitch.ovsschema')
    expect((await sh(h, 'ovsdb-server', '--remote=punix:/run/x/db.sock', '--pidfile=/run/x/ovsdb-server.pid', '--detach', '/run/x/conf.db')).exitCode).toBe(0)
    const pid = Number(h.readHostFile('/run/x/ovsdb-server.pid'))
    expect(h.readHostFile(`/proc/${pid}/cmdline`)).toContain('ovsdb-server\0')
    expect(h.readHostFile('/run/x/db.sock')).toBe('')
    await sh(h, 'ovs-vsctl', '--db=unix:/run/x/db.sock', '--no-wait', 'set', 'Open_vSwitch', '.', 'other_config:dpdk-init=true')
    await h.exec(['/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk', 'unix:/run/x/db.sock', '--pidfile', '--detach'], {env: {OVS_RUNDIR: '/run/x'}})
    expect(h.readHostFile('/run/x/ovs-vswitchd.pid')).toMatch(/^\d+\n$/)
    expect((await sh(h, 'ovs-vsctl', '--db=unix:/run/x/db.sock', 'get', 'Open_vSwitch', '.', 'dpdk_initialized')).stdout).toBe('true\n')
    expect((await sh(h, 'pgrep', '-F', '/run/x/ovsdb-server.pid')).stdout).toBe(`${pid}\n`)
    expect((await sh(h, 'pkill', '-TERM', '-F', '/run/x/ovsdb-server.pid')).exitCode).toBe(0)
    expect(h.readHostFile('/run/x/ovsdb-server.pid')).toBeUndefined()
    expect(h.readHostFile('/run/x/db.sock')).toBeUndefined()
    expect((await sh(h, 'pgrep', '-F', '/run/x/ovsdb-server.pid')).exitCode).toBe(1)
    expect((await sh(h, 'ovs-vsctl', '--db=unix:/run/x/db.sock', 'list-br')).exitCode).toBe(1)
  })

  it('libvirt: define from a file, start spawns QEMU, domstate/domuuid/list, destroy, undefine; unreachable libvirt fails', async () => {
    const h = newHost()
    h.writeHostFile('/run/d.xml', "<domain type='qemu'><name>vl-x-vm1</name><uuid>1234</uuid></domain>")
    const v = ['virsh', '--connect', 'qemu:///system']
    expect((await h.exec([...v, 'define', '/run/d.xml'])).stdout).toMatch(/defined/)
    expect((await h.exec([...v, 'domstate', 'vl-x-vm1'])).stdout).toBe('shut off\n\n')
    expect((await h.exec([...v, 'domuuid', 'vl-x-vm1'])).stdout).toBe('1234\n\n')
    await h.exec([...v, 'start', 'vl-x-vm1'])
    const pid = h.domains.get('vl-x-vm1')?.pid as number
    expect(h.readHostFile(`/proc/${pid}/cmdline`)?.split('\0')).toContain('guest=vl-x-vm1,debug-threads=on')
    expect((await h.exec([...v, 'start', 'vl-x-vm1'])).stderr).toMatch(/already running/)
    expect((await h.exec([...v, 'list', '--name'])).stdout).toBe('vl-x-vm1\n\n')
    await h.exec([...v, 'destroy', 'vl-x-vm1'])
    expect(h.processes.size).toBe(0)
    expect((await h.exec([...v, 'list', '--name'])).stdout).toBe('\n')
    expect((await h.exec([...v, 'list', '--all', '--name'])).stdout).toBe('vl-x-vm1\n\n')
    await h.exec([...v, 'undefine', 'vl-x-vm1'])
    expect(h.domains.size).toBe(0)
    const down = newHost({libvirt: false})
    expect((await down.exec(['virsh', 'list', '--all', '--name'])).stderr).toMatch(/failed to connect/)
  })

  it('modules, mounts, QEMU pidfiles, kill and taskset', async () => {
    const h = newHost({missingModules: ['vhost_vdpa']})
    await sh(h, 'modprobe', 'tun')
    expect(h.readHostFile('/sys/module/tun/.x')).toBeUndefined()
    expect(await h.fs.exists('/sys/module/tun')).toBe(true)
    expect((await sh(h, 'modprobe', 'vhost_vdpa')).stderr).toMatch(/not found/)
    await sh(h, 'modprobe', '-r', 'tun')
    expect(await h.fs.exists('/sys/module/tun')).toBe(false)
    expect((await sh(h, 'mount', '-t', 'hugetlbfs', '-o', 'pagesize=2M', 'none', '/dev/hugepages')).exitCode).toBe(32)
    await h.fs.mkdir('/dev/hugepages')
    await sh(h, 'mount', '-t', 'hugetlbfs', '-o', 'pagesize=2M', 'none', '/dev/hugepages')
    expect(h.readHostFile('/proc/mounts')).toBe('none /dev/hugepages hugetlbfs pagesize=2M 0 0\n')
    expect((await sh(h, 'findmnt', '--types', 'hugetlbfs', '--mountpoint', '/dev/hugepages')).exitCode).toBe(0)
    await sh(h, 'umount', '/dev/hugepages')
    expect((await sh(h, 'findmnt', '--types', 'hugetlbfs', '--mountpoint', '/dev/hugepages')).exitCode).toBe(1)
    expect(h.readHostFile('/proc/mounts')).toBe('')
    await sh(h, 'taskset', '-c', '0', 'qemu-system-x86_64', '-name', 'vl-x-vm2', '-daemonize', '-pidfile', '/run/vm2.pid')
    const pid = Number(h.readHostFile('/run/vm2.pid'))
    expect(h.processes.get(pid)?.argv[0]).toBe('qemu-system-x86_64')
    expect((await sh(h, 'qemu-system-x86_64', '-name', 'again', '-daemonize', '-pidfile', '/run/vm2.pid')).stderr).toMatch(/lock pid file/)
    expect((await sh(h, 'kill', '-TERM', String(pid))).exitCode).toBe(0)
    expect(await h.fs.exists(`/proc/${pid}`)).toBe(false)
    expect((await sh(h, 'kill', String(pid))).exitCode).toBe(1)
    expect((await sh(h, 'nonexistent-tool')).exitCode).toBe(127)
  })

  it('snapshot: equal for equal states, different after any change', async () => {
    const h = newHost({systemOvs: true})
    const a = h.snapshot()
    expect(h.snapshot()).toEqual(a)
    await sh(h, 'ovs-vsctl', 'set', 'Open_vSwitch', '.', 'other_config:x=1')
    expect(h.snapshot()).not.toEqual(a)
    await sh(h, 'ovs-vsctl', 'remove', 'Open_vSwitch', '.', 'other_config', 'x')
    expect(h.snapshot()).toEqual(a)
    h.writeHostFile('/proc/sys/vm/nr_hugepages', '5')
    expect(h.snapshot()).not.toEqual(a)
    // The state dir is virtlab's own and excluded.
    h.writeHostFile('/proc/sys/vm/nr_hugepages', '0')
    h.writeHostFile('/var/lib/virtlab/x/journal.json', '{}')
    expect(h.snapshot()).toEqual(a)
  })
})

describe('FakeRunner', () => {
  it('records argv, fails at call N or on a matching argv, throws like ExecaRunner unless allowFailure', async () => {
    const r = new FakeRunner().failAtCall(2, 'second fails', 4).failOn(/^ip netns del/, 'busy', 1, 1)
    expect((await r.run(['a'])).exitCode).toBe(0)
    const e = (await r.run(['b']).catch((x: unknown) => x)) as VirtlabError
    expect(e.code).toBe('COMMAND_FAILED')
    expect(e.command).toMatchObject({argv: ['b'], exitCode: 4, stderrTail: 'second fails'})
    expect((await r.run(['ip', 'netns', 'del', 'x'], {allowFailure: true})).exitCode).toBe(1)
    expect((await r.run(['ip', 'netns', 'del', 'x'])).exitCode).toBe(0)
    expect(r.calls).toEqual([['a'], ['b'], ['ip', 'netns', 'del', 'x'], ['ip', 'netns', 'del', 'x']])
  })

  it('hangs a matching command until its signal aborts or its timeout passes', async () => {
    const r = new FakeRunner().hangOn(/sleep/)
    const c = new AbortController()
    const p = r.run(['sleep', '100'], {signal: c.signal}).catch((x: unknown) => x)
    c.abort()
    expect(((await p) as VirtlabError).code).toBe('COMMAND_NOT_RUN')
    expect(((await r.run(['sleep', '1'], {timeoutMs: 10}).catch((x: unknown) => x)) as VirtlabError).code).toBe('COMMAND_TIMEOUT')
  })

  it('answers scripted rules (latest first) for installed tools, then the handler', async () => {
    const r = new FakeRunner(commandNotFound).install('virsh', 'vdpa')
    r.on(['virsh', '--version'], {stdout: '9.0.0\n'})
    r.on((argv) => argv[0] === 'vdpa', {exitCode: 1, stderr: 'Failed to connect to vdpa Netlink\n'})
    expect((await r.run(['virsh', '--version'])).stdout).toBe('9.0.0\n')
    r.on(['virsh', '--version'], {stdout: '10.0.0\n'})
    expect((await r.run(['virsh', '--version'])).stdout).toBe('10.0.0\n')
    const failed = (await r.run(['vdpa', 'dev']).catch((x: unknown) => x)) as VirtlabError
    expect(failed).toMatchObject({code: 'COMMAND_FAILED', command: {exitCode: 1, stderrTail: 'Failed to connect to vdpa Netlink'}})
    // no rule: the handler (here: nothing else exists)
    expect(((await r.run(['virsh', 'list']).catch((x: unknown) => x)) as VirtlabError).message).toBe('virsh could not start (spawn virsh ENOENT)')
    // a rule for a program that is no longer installed does not answer
    r.uninstall('virsh')
    expect(((await r.run(['virsh', '--version']).catch((x: unknown) => x)) as VirtlabError).code).toBe('COMMAND_NOT_RUN')
    expect(await r.which('virsh')).toBeUndefined()
    expect(await r.which('vdpa')).toBe('/usr/bin/vdpa')
    expect(r.commandLines()).toEqual(['virsh --version', 'virsh --version', 'vdpa dev', 'virsh list', 'virsh --version'])
    expect(r.records.map((c) => c.argv)).toEqual(r.calls)
  })

  it('reports every program installed until install/setPrograms narrows it', async () => {
    const r = new FakeRunner()
    expect(await r.which('anything')).toBe('/usr/bin/anything')
    r.setPrograms(['ip'])
    expect(await r.which('anything')).toBeUndefined()
    expect(await r.which('ip')).toBe('/usr/bin/ip')
    // the default handler answers every unscripted call with success
    expect(await r.run(['anything', '-x'], {timeoutMs: 5})).toEqual({argv: ['anything', '-x'], exitCode: 0, stdout: '', stderr: ''})
    expect(r.records[0]?.options).toEqual({timeoutMs: 5})
  })
})
