/**
 * A synthetic plan exercising every action and undo kind against the FakeHost: modules,
 * hugepages (restore-file), a namespace, a run directory, a Linux bridge + tap in the namespace,
 * a host veth, a system OVS bridge and port with external_ids, an OVS other_config key
 * (restore-exec), a private OVS instance, a libvirt domain and a directly started QEMU, and a wait.
 */
import {domainName, labTag, netnsName} from '../../src/compile/ids.js'
import type {Check, Plan, Step} from '../../src/plan/step.js'

export function demoPlan(lab = 'demo', options: {driver?: 'libvirt' | 'qemu'} = {}): Plan {
  const ns = netnsName(lab)
  const tag = labTag(lab)
  const runDir = `/run/virtlab/${lab}`
  const tap = `vl${tag}t0n0`
  const hostVeth = `vl${tag}h0`
  const ovsBr = `vl${tag}ovs`
  const ovsPort = `vl${tag}u0n0`
  const vm1 = domainName(lab, 'vm1')
  const vm2 = domainName(lab, 'vm2')
  const ovsDir = `${runDir}/ovs`
  const pvsctl = ['ovs-vsctl', `--db=unix:${ovsDir}/db.sock`]
  const execOk = (argv: string[]): Check => ({kind: 'exec-ok', argv})
  const steps: Step[] = [
    {
      id: 'host:modules', title: 'Load tun', phase: 'host', dependsOn: [],
      action: {kind: 'exec', argv: ['modprobe', 'tun']},
      check: {kind: 'file-exists', path: '/sys/module/tun'},
      undo: {kind: 'action', action: {kind: 'exec', argv: ['modprobe', '-r', 'tun']}},
    },
    {
      id: 'host:hugepages', title: 'Reserve 64 hugepages', phase: 'host', dependsOn: [],
      action: {kind: 'write', path: '/proc/sys/vm/nr_hugepages', value: '64'},
      check: {kind: 'file-equals', path: '/proc/sys/vm/nr_hugepages', value: '64'},
      undo: {kind: 'restore-file', path: '/proc/sys/vm/nr_hugepages'},
    },
    {
      id: 'host:netns', title: `Create namespace ${ns}`, phase: 'host', dependsOn: [],
      action: {kind: 'exec', argv: ['ip', 'netns', 'add', ns]},
      check: {kind: 'exec-stdout', argv: ['ip', 'netns', 'list'], pattern: `^${ns}(\\s|$)`},
      undo: {kind: 'action', action: {kind: 'exec', argv: ['ip', 'netns', 'del', ns]}},
    },
    {
      id: 'host:rundir', title: `Create ${runDir}`, phase: 'host', dependsOn: [],
      action: {kind: 'mkdir', path: runDir, mode: 0o755},
      check: {kind: 'file-exists', path: runDir},
      undo: {kind: 'action', action: {kind: 'remove', path: runDir, recursive: true}},
    },
    {
      id: 'switch:br0', title: 'Create bridge vlbr0', phase: 'switch', dependsOn: ['host:netns'],
      action: {kind: 'exec', argv: ['ip', '-n', ns, 'link', 'add', 'vlbr0', 'type', 'bridge']},
      check: execOk(['ip', '-n', ns, 'link', 'show', 'vlbr0']),
      undo: {kind: 'action', action: {kind: 'exec', argv: ['ip', '-n', ns, 'link', 'del', 'vlbr0']}},
    },
    {
      id: 'switch:br0:hostveth', title: `Create host veth ${hostVeth}`, phase: 'switch', dependsOn: ['host:netns'],
      action: {kind: 'exec', argv: ['ip', 'link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', 'host0', 'netns', ns]},
      check: execOk(['ip', 'link', 'show', hostVeth]),
      undo: {kind: 'action', action: {kind: 'exec', argv: ['ip', 'link', 'del', hostVeth]}},
    },
    {
      id: 'nic:vm1:0:tap', title: `Create tap ${tap}`, phase: 'switch', dependsOn: ['host:netns'],
      action: {kind: 'exec', argv: ['ip', '-n', ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']},
      check: execOk(['ip', '-n', ns, 'link', 'show', tap]),
      undo: {kind: 'action', action: {kind: 'exec', argv: ['ip', '-n', ns, 'tuntap', 'del', 'dev', tap, 'mode', 'tap']}},
    },
    {
      id: 'nic:vm1:0:master', title: `Attach ${tap} to vlbr0`, phase: 'switch', dependsOn: ['switch:br0', 'nic:vm1:0:tap'],
      action: {kind: 'exec', argv: ['ip', '-n', ns, 'link', 'set', tap, 'master', 'vlbr0', 'up']},
      check: {kind: 'exec-stdout', argv: ['ip', '-n', ns, '-o', 'link', 'show', tap], pattern: 'master vlbr0 '},
      undo: {kind: 'action', action: {kind: 'exec', argv: ['ip', '-n', ns, 'link', 'set', tap, 'nomaster']}},
    },
    {
      id: 'ovs:bridge', title: `Create OVS bridge ${ovsBr}`, phase: 'switch', dependsOn: [],
      action: {kind: 'exec', argv: ['ovs-vsctl', '--may-exist', 'add-br', ovsBr, '--', 'set', 'bridge', ovsBr, 'datapath_type=netdev', '--', 'set', 'bridge', ovsBr, `external-ids:virtlab-lab=${lab}`]},
      check: execOk(['ovs-vsctl', 'br-exists', ovsBr]),
      undo: {kind: 'action', action: {kind: 'exec', argv: ['ovs-vsctl', '--if-exists', 'del-br', ovsBr]}},
    },
    {
      id: 'ovs:port', title: `Add OVS port ${ovsPort}`, phase: 'switch', dependsOn: ['ovs:bridge'],
      action: {kind: 'exec', argv: ['ovs-vsctl', 'add-port', ovsBr, ovsPort, '--', 'set', 'Interface', ovsPort, 'type=dpdkvhostuserclient', '--', 'set', 'Interface', ovsPort, `external-ids:virtlab-lab=${lab}`]},
      check: {kind: 'exec-stdout', argv: ['ovs-vsctl', 'list-ports', ovsBr], pattern: `^${ovsPort}$`},
      undo: {kind: 'action', action: {kind: 'exec', argv: ['ovs-vsctl', '--if-exists', 'del-port', ovsBr, ovsPort]}},
    },
    {
      id: 'ovs:config', title: 'Set other_config:pmd-cpu-mask', phase: 'switch', dependsOn: [],
      action: {kind: 'exec', argv: ['ovs-vsctl', 'set', 'Open_vSwitch', '.', 'other_config:pmd-cpu-mask=0x2']},
      check: {kind: 'exec-stdout', argv: ['ovs-vsctl', '--if-exists', 'get', 'Open_vSwitch', '.', 'other_config:pmd-cpu-mask'], pattern: '^"?0x2"?$'},
      undo: {
        kind: 'restore-exec',
        read: ['ovs-vsctl', '--if-exists', 'get', 'Open_vSwitch', '.', 'other_config:pmd-cpu-mask'],
        whenPresent: ['ovs-vsctl', 'set', 'Open_vSwitch', '.', 'other_config:pmd-cpu-mask={previous}'],
        whenAbsent: ['ovs-vsctl', 'remove', 'Open_vSwitch', '.', 'other_config', 'pmd-cpu-mask'],
      },
    },
    {
      id: 'ovs:private:dir', title: `Create ${ovsDir}`, phase: 'switch', dependsOn: ['host:rundir'],
      action: {kind: 'mkdir', path: ovsDir, mode: 0o750},
      check: {kind: 'file-exists', path: ovsDir},
      undo: {kind: 'action', action: {kind: 'remove', path: ovsDir, recursive: true}},
    },
    {
      id: 'ovs:private:db', title: 'Create the private OVS database', phase: 'switch', dependsOn: ['ovs:private:dir'],
      action: {kind: 'exec', argv: ['ovsdb-tool', 'create', `${ovsDir}/conf.db`, '/usr/share/openvswitch/vswitch.ovsschema']},
      check: {kind: 'file-exists', path: `${ovsDir}/conf.db`},
      undo: {kind: 'action', action: {kind: 'remove', path: `${ovsDir}/conf.db`}},
    },
    {
      id: 'ovs:private:server', title: 'Start the private ovsdb-server', phase: 'switch', dependsOn: ['ovs:private:db'],
      action: {kind: 'exec', argv: ['ovsdb-server', `--remote=punix:${ovsDir}/db.sock`, `--pidfile=${ovsDir}/ovsdb-server.pid`, '--detach', `${ovsDir}/conf.db`]},
      check: execOk(['pgrep', '-F', `${ovsDir}/ovsdb-server.pid`]),
      undo: {kind: 'actions', actions: [
        {kind: 'exec', argv: ['pkill', '-TERM', '-F', `${ovsDir}/ovsdb-server.pid`], okExitCodes: [1]},
        {kind: 'wait', what: 'ovsdb-server to exit', until: {kind: 'not', check: execOk(['pgrep', '-F', `${ovsDir}/ovsdb-server.pid`])}, timeoutMs: 2000, intervalMs: 20},
      ]},
    },
    {
      id: 'ovs:private:bridge', title: 'Create private OVS bridge br0', phase: 'switch', dependsOn: ['ovs:private:server'],
      action: {kind: 'exec', argv: [...pvsctl, '--no-wait', 'add-br', 'br0']},
      check: execOk([...pvsctl, 'br-exists', 'br0']),
      undo: {kind: 'action', action: {kind: 'exec', argv: [...pvsctl, '--if-exists', 'del-br', 'br0']}},
    },
    {
      id: 'vm:vm1:xml', title: 'Write vm1 domain XML', phase: 'vm', dependsOn: ['host:rundir'],
      action: {kind: 'file', path: `${runDir}/vm1.xml`, content: `<domain type='qemu'><name>${vm1}</name></domain>\n`, mode: 0o644},
      check: {kind: 'file-equals', path: `${runDir}/vm1.xml`, value: `<domain type='qemu'><name>${vm1}</name></domain>`},
      undo: {kind: 'restore-file', path: `${runDir}/vm1.xml`},
    },
    {
      id: 'vm:vm1:define', title: `Define ${vm1}`, phase: 'vm', dependsOn: ['vm:vm1:xml', 'nic:vm1:0:master'],
      action: {kind: 'exec', argv: ['virsh', '-c', 'qemu:///system', 'define', `${runDir}/vm1.xml`]},
      check: execOk(['virsh', '-c', 'qemu:///system', 'domstate', vm1]),
      undo: {kind: 'action', action: {kind: 'exec', argv: ['virsh', '-c', 'qemu:///system', 'undefine', vm1]}},
    },
    {
      id: 'vm:vm1:start', title: `Start ${vm1}`, phase: 'vm', dependsOn: ['vm:vm1:define'],
      action: {kind: 'exec', argv: ['virsh', '-c', 'qemu:///system', 'start', vm1]},
      check: {kind: 'exec-stdout', argv: ['virsh', '-c', 'qemu:///system', 'domstate', vm1], pattern: '^running'},
      undo: {kind: 'action', action: {kind: 'exec', argv: ['virsh', '-c', 'qemu:///system', 'destroy', vm1], okExitCodes: [1]}},
    },
    {
      id: 'vm:vm2:start', title: `Start ${vm2} (QEMU)`, phase: 'vm', dependsOn: ['host:rundir', 'ovs:port', 'host:hugepages', 'host:modules'],
      action: {kind: 'exec', argv: ['ip', 'netns', 'exec', ns, 'qemu-system-x86_64', '-name', `${vm2},debug-threads=on`, '-accel', 'tcg', '-daemonize', '-pidfile', `${runDir}/vm2.pid`]},
      check: execOk(['pgrep', '-F', `${runDir}/vm2.pid`]),
      undo: {kind: 'actions', actions: [
        {kind: 'exec', argv: ['pkill', '-TERM', '-F', `${runDir}/vm2.pid`], okExitCodes: [1]},
        {kind: 'remove', path: `${runDir}/vm2.pid`},
      ]},
    },
    {
      id: 'guest:vm2:ready', title: 'Wait for vm2', phase: 'guest', dependsOn: ['vm:vm2:start'],
      action: {kind: 'wait', what: 'vm2 to run', until: execOk(['pgrep', '-F', `${runDir}/vm2.pid`]), timeoutMs: 1000, intervalMs: 10},
      undo: {kind: 'none'},
    },
  ]
  return {
    lab,
    driver: options.driver ?? 'libvirt',
    netns: ns,
    runDir,
    degraded: [],
    notes: [],
    steps,
  }
}
