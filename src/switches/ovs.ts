/**
 * Open vSwitch: the host's system instance (its ovs-vsctl, no --db) or a private instance that
 * virtlab runs in <runDir>/ovs (its own conf.db, ovsdb-server and ovs-vswitchd, stopped at down).
 * A netdev-datapath switch means OVS-DPDK: other_config dpdk-* keys, the DPDK build of
 * ovs-vswitchd, and a wait until dpdk_initialized is true. docs/labs/vhost-user.md
 * (#a-private-ovs-instance, #dpdk-in-ovs, #teardown).
 */
import type {DpdkModel, SwitchModel} from '../lab/model.js'
import type {Action, Argv, Check, Refusal, Step} from '../plan/step.js'
import {checkEalArgs} from '../lab/eal.js'
import {assertArgSafe, type CompileEnv, compileError, names} from '../compile/context.js'
import {exec, execMatches, execOk, ipIn, NO_UNDO, reEscape, refuseExistingLink, runningByPidfile, step, stopByPidfile, undoExec} from '../compile/steps.js'
import {linkAliasTag, netnsName} from '../compile/ids.js'

export const OVS_VSWITCHD = '/usr/sbin/ovs-vswitchd'
export const OVS_VSWITCHD_DPDK = '/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk'
export const OVS_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema'
/** Where the system instance keeps its run files (dpdkvhostuser server sockets). */
export const OVS_SYSTEM_RUNDIR = '/var/run/openvswitch'

const REF_DPDK = 'docs/labs/vhost-user.md#dpdk-in-ovs'
const REF_TEARDOWN = 'docs/labs/vhost-user.md#teardown (del-port, del-br, stop the daemons)'

export const DEFAULT_DPDK: DpdkModel = {socketMem: '512', lcoreMask: undefined, pmdCpuMask: undefined, perPortMemory: true, extraArgs: [], hugepageDir: undefined}

export interface OvsInstance {
  mode: 'system' | 'private'
  /** Private instance: its directory (conf.db, sockets, pidfiles, logs). */
  dir: string | undefined
  /** ovs-vsctl and its --db option. */
  vsctl: Argv
  /** Does this instance run OVS-DPDK (a netdev switch is on it)? */
  dpdk: boolean
  /** Where ovs-vswitchd puts dpdkvhostuser (server) sockets. */
  rundir: string
  /** Step ids: prefix of this instance's steps and the step after which bridges may be added. */
  idPrefix: string
  readyStep: string
  switches: {sw: SwitchModel; index: number}[]
  /** Does any switch on this instance name a physical DPDK port? */
  physical: boolean
  dpdkConfig: DpdkModel
}

/** Which instance ('system' or 'private') a switch uses: `ovs: auto` resolves through CompileOptions.autoOvs. */
export function ovsMode(env: CompileEnv, sw: SwitchModel): 'system' | 'private' {
  return sw.ovs === 'auto' ? env.options.autoOvs : sw.ovs
}

/** Group the lab's OVS switches by instance. */
export function ovsInstances(env: CompileEnv): Map<'system' | 'private', OvsInstance> {
  const out = new Map<'system' | 'private', OvsInstance>()
  env.lab.switches.forEach((sw, index) => {
    if (sw.type !== 'ovs') return
    const mode = ovsMode(env, sw)
    let inst = out.get(mode)
    if (inst === undefined) {
      const dir = mode === 'private' ? `${env.runDir}/ovs` : undefined
      inst = {
        mode,
        dir,
        vsctl: dir === undefined ? ['ovs-vsctl'] : ['ovs-vsctl', `--db=unix:${dir}/db.sock`],
        dpdk: false,
        rundir: dir ?? OVS_SYSTEM_RUNDIR,
        idPrefix: mode === 'private' ? 'ovs' : 'ovs:system',
        readyStep: '',
        switches: [],
        physical: false,
        dpdkConfig: DEFAULT_DPDK,
      }
      out.set(mode, inst)
    }
    inst.switches.push({sw, index})
    if (sw.datapath === 'netdev') {
      if (inst.dpdk && sw.dpdk !== undefined && inst.dpdkConfig !== DEFAULT_DPDK && JSON.stringify(sw.dpdk) !== JSON.stringify(inst.dpdkConfig)) {
        throw compileError('OVS_DPDK_CONFLICT', `switches on the same ${mode} OVS instance give different dpdk settings (${sw.name})`, 'Give the dpdk block on one switch only, or the same block on each.')
      }
      inst.dpdk = true
      if (sw.dpdk !== undefined) inst.dpdkConfig = sw.dpdk
    }
    if (sw.physicalPorts.length > 0) inst.physical = true
  })
  for (const inst of out.values()) inst.readyStep = instanceReadyStep(inst)
  return out
}

function instanceReadyStep(inst: OvsInstance): string {
  if (inst.dpdk) return `${inst.idPrefix}:dpdk`
  return inst.mode === 'private' ? 'ovs:vswitchd' : 'ovs:system'
}

/** The other_config keys a DPDK instance gets, in a stable order. */
export function dpdkOtherConfig(env: CompileEnv, inst: OvsInstance): [string, string][] {
  const d = inst.dpdkConfig
  const keys: [string, string][] = [['dpdk-init', 'true'], ['dpdk-socket-mem', d.socketMem]]
  if (d.lcoreMask !== undefined) keys.push(['dpdk-lcore-mask', d.lcoreMask])
  if (d.pmdCpuMask !== undefined) keys.push(['pmd-cpu-mask', d.pmdCpuMask])
  keys.push(['per-port-memory', d.perPortMemory ? 'true' : 'false'])
  const extra = [`--file-prefix=${netnsName(env.lab.name)}`]
  if (inst.physical) {
    // Only the named devices: never let DPDK probe a PCI device the lab did not name.
    for (const {sw} of inst.switches) for (const p of sw.physicalPorts) extra.push('-a', p.pci)
  } else {
    extra.push('--no-pci')
  }
  // Defence in depth: validate already refused anything outside the EAL allow-list (src/lab/eal.ts).
  const refused = checkEalArgs(d.extraArgs)[0]
  if (refused !== undefined) throw compileError('COMPILE_UNSAFE_VALUE', `DPDK EAL argument ${JSON.stringify(d.extraArgs[refused.index])}: ${refused.message}`, refused.hint)
  extra.push(...d.extraArgs)
  for (const arg of extra) {
    // EAL arguments are options by nature; they end up inside one other_config value, split on spaces by OVS.
    if (!/^(--?[A-Za-z0-9][A-Za-z0-9_=.,:*/-]*|[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]|[1-9][0-9]{0,3})$/.test(arg)) {
      throw compileError('COMPILE_UNSAFE_VALUE', `DPDK EAL argument ${JSON.stringify(arg)} cannot be used`, 'EAL arguments look like --name=value or -x.')
    }
  }
  keys.push(['dpdk-extra', extra.join(' ')])
  const hugepageDir = d.hugepageDir ?? env.lab.host.hugepages?.mount
  if (hugepageDir !== undefined) keys.push(['dpdk-hugepage-dir', hugepageDir])
  return keys
}

/** Where DPDK's EAL (run by root) keeps its runtime files: /var/run/dpdk/<file-prefix>. */
export const DPDK_RUNTIME_BASE = '/var/run/dpdk'
/** The tap OVS's userspace (netdev) datapath creates in the host namespace for itself. */
export const OVS_NETDEV_LINK = 'ovs-netdev'

/**
 * A step that records that something a daemon will create as a side effect is absent before it
 * starts (a tap of the netdev datapath, DPDK's runtime directory). When it already exists, the
 * check holds and the step is skipped (never undone); otherwise its undo removes what the daemon
 * left behind once the daemon is stopped (undo runs newest first, the daemon's stop before this).
 */
function sideEffectStep(input: {id: string; title: string; exists: Check; undo: Action; dependsOn?: string[]; ref?: string; refuse?: Refusal}): Step {
  return step({
    id: input.id,
    title: input.title,
    phase: 'switch',
    action: {kind: 'wait', what: 'nothing (it does not exist yet)', until: {kind: 'not', check: input.exists}, timeoutMs: 1_000, intervalMs: 100},
    // A link named like the lab's own bridge is refused, never adopted; ovs-netdev is OVS's own, shared by labs.
    ...(input.refuse === undefined ? {check: input.exists} : {refuseIf: input.refuse}),
    undo: {kind: 'action', action: input.undo},
    dependsOn: input.dependsOn ?? [],
    ...(input.ref === undefined ? {} : {ref: input.ref}),
  })
}

function linkSideEffectStep(id: string, link: string, why: string, dependsOn: string[] = [], refuse?: Refusal): Step {
  return sideEffectStep({
    id,
    title: refuse === undefined
      ? `Note that the host has no link ${link} yet (${why}; removed at down when it was not there before)`
      : `Make sure the host has no link ${link} yet (${why}; removed at down)`,
    exists: execOk(['ip', 'link', 'show', 'dev', link]),
    undo: exec(['ip', 'link', 'del', 'dev', link], {okExitCodes: [1]}),
    dependsOn,
    ...(refuse === undefined ? {} : {refuse}),
    ref: 'docs/labs/vhost-user.md#a-private-ovs-instance (netdev datapath taps stay after ovs-vswitchd exits)',
  })
}

/** Steps that make an instance ready for bridges: start a private one, or check and configure the system one. */
export function ovsInstanceSteps(env: CompileEnv, inst: OvsInstance, hostDeps: string[]): Step[] {
  return inst.mode === 'private' ? privateInstanceSteps(env, inst, hostDeps) : systemInstanceSteps(env, inst, hostDeps)
}

function privateInstanceSteps(env: CompileEnv, inst: OvsInstance, hostDeps: string[]): Step[] {
  const dir = inst.dir as string
  const daemonEnv = {OVS_RUNDIR: dir, OVS_LOGDIR: dir, OVS_DBDIR: dir}
  const dbPid = `${dir}/ovsdb-server.pid`
  const vsPid = `${dir}/ovs-vswitchd.pid`
  const binary = inst.dpdk ? OVS_VSWITCHD_DPDK : OVS_VSWITCHD
  const steps: Step[] = [
    step({
      id: 'ovs:dir',
      title: `Create the private OVS directory ${dir}`,
      phase: 'switch',
      action: {kind: 'mkdir', path: dir, mode: 0o755},
      check: {kind: 'file-exists', path: dir},
      undo: {kind: 'action', action: {kind: 'remove', path: dir, recursive: true}},
      dependsOn: ['rundir'],
      ref: 'docs/labs/vhost-user.md#a-private-ovs-instance',
    }),
    step({
      id: 'ovs:db:create',
      title: 'Create the private OVS database conf.db from the vswitch schema',
      phase: 'switch',
      action: exec(['ovsdb-tool', 'create', `${dir}/conf.db`, OVS_SCHEMA]),
      check: {kind: 'file-exists', path: `${dir}/conf.db`},
      undo: {kind: 'action', action: {kind: 'remove', path: `${dir}/conf.db`}},
      dependsOn: ['ovs:dir'],
      ref: 'docs/labs/vhost-user.md#a-private-ovs-instance (ovsdb-tool create)',
    }),
    step({
      id: 'ovs:db',
      title: `Start the private ovsdb-server on ${dir}/db.sock`,
      phase: 'switch',
      action: exec(['ovsdb-server', `--remote=punix:${dir}/db.sock`, `--pidfile=${dbPid}`, '--detach', `--log-file=${dir}/ovsdb-server.log`, `${dir}/conf.db`], {env: daemonEnv}),
      check: runningByPidfile(dbPid),
      undo: stopByPidfile('ovsdb-server', dbPid),
      dependsOn: ['ovs:db:create'],
      ref: REF_TEARDOWN,
    }),
    step({
      id: 'ovs:init',
      title: 'Initialise the private OVS database (ovs-vsctl init)',
      phase: 'switch',
      action: exec([...inst.vsctl, '--no-wait', 'init']),
      dependsOn: ['ovs:db'],
      ref: 'docs/labs/vhost-user.md#a-private-ovs-instance (ovs-vsctl --no-wait init)',
    }),
  ]
  let vswitchdDeps = ['ovs:init', ...hostDeps]
  const sideEffects: Step[] = []
  if (inst.switches.some(({sw}) => sw.datapath === 'netdev')) {
    sideEffects.push(linkSideEffectStep('ovs:link:ovs-netdev', OVS_NETDEV_LINK, 'the netdev datapath of ovs-vswitchd creates it'))
  }
  if (inst.dpdk) {
    const runtime = `${DPDK_RUNTIME_BASE}/${netnsName(env.lab.name)}`
    sideEffects.push(
      sideEffectStep({
        id: 'ovs:dpdk-runtime-base',
        title: `Note whether ${DPDK_RUNTIME_BASE} exists (DPDK creates it; removed at down if virtlab's DPDK made it and it is empty)`,
        exists: {kind: 'file-exists', path: DPDK_RUNTIME_BASE},
        undo: exec(['rmdir', '--ignore-fail-on-non-empty', DPDK_RUNTIME_BASE], {okExitCodes: [1]}),
      }),
      sideEffectStep({
        id: 'ovs:dpdk-runtime',
        title: `Note that DPDK's runtime directory ${runtime} does not exist yet (--file-prefix; removed at down)`,
        exists: {kind: 'file-exists', path: runtime},
        undo: {kind: 'remove', path: runtime, recursive: true},
        dependsOn: ['ovs:dpdk-runtime-base'],
      }),
    )
  }
  steps.push(...sideEffects)
  vswitchdDeps.push(...sideEffects.map((x) => x.id))
  if (inst.dpdk) {
    const settings = dpdkOtherConfig(env, inst).map(([k, v]) => `other_config:${k}=${v}`)
    steps.push(step({
      id: 'ovs:config',
      title: 'Configure DPDK in the private OVS database (other_config, before ovs-vswitchd starts)',
      phase: 'switch',
      action: exec([...inst.vsctl, '--no-wait', 'set', 'Open_vSwitch', '.', ...settings]),
      dependsOn: ['ovs:init'],
      ref: REF_DPDK,
    }))
    vswitchdDeps = ['ovs:config', ...hostDeps, ...sideEffects.map((x) => x.id)]
  }
  steps.push(step({
    id: 'ovs:vswitchd',
    title: `Start the private ovs-vswitchd${inst.dpdk ? ' (DPDK build)' : ''}`,
    phase: 'switch',
    action: exec([binary, `unix:${dir}/db.sock`, `--pidfile=${vsPid}`, '--detach', `--log-file=${dir}/ovs-vswitchd.log`], {env: daemonEnv, timeoutMs: 120_000}),
    check: runningByPidfile(vsPid),
    undo: stopByPidfile('ovs-vswitchd', vsPid),
    dependsOn: vswitchdDeps,
    timeoutMs: 120_000,
    ref: REF_DPDK,
  }))
  if (inst.dpdk) steps.push(dpdkWaitStep(inst, ['ovs:vswitchd']))
  return steps
}

function dpdkWaitStep(inst: OvsInstance, dependsOn: string[]): Step {
  return step({
    id: `${inst.idPrefix}:dpdk`,
    title: `Wait until DPDK is initialised in the ${inst.mode} ovs-vswitchd (dpdk_initialized = true)`,
    phase: 'switch',
    action: {kind: 'wait', what: 'dpdk_initialized to become true', until: execMatches([...inst.vsctl, 'get', 'Open_vSwitch', '.', 'dpdk_initialized'], '^true'), timeoutMs: 60_000, intervalMs: 500},
    dependsOn,
    ref: 'docs/labs/vhost-user.md#dpdk-in-ovs (ovs-vsctl get Open_vSwitch . dpdk_initialized)',
  })
}

function systemInstanceSteps(env: CompileEnv, inst: OvsInstance, hostDeps: string[]): Step[] {
  const steps: Step[] = [step({
    id: 'ovs:system',
    title: "Check that the host's OVS answers (ovs-vsctl show)",
    phase: 'switch',
    action: {kind: 'wait', what: "the system OVS to answer", until: execOk([...inst.vsctl, 'show']), timeoutMs: 5_000, intervalMs: 500},
    dependsOn: hostDeps,
    ref: 'docs/labs/vhost-user.md#dpdk-in-ovs',
  })]
  if (!inst.dpdk) return steps
  const ids: string[] = []
  for (const [key, value] of dpdkOtherConfig(env, inst)) {
    const id = `ovs:system:config:${key}`
    ids.push(id)
    steps.push(step({
      id,
      title: `Set other_config:${key} on the system OVS (the previous value is restored at down)`,
      phase: 'switch',
      action: exec([...inst.vsctl, 'set', 'Open_vSwitch', '.', `other_config:${key}=${value}`]),
      check: execMatches([...inst.vsctl, '--if-exists', 'get', 'Open_vSwitch', '.', `other_config:${key}`], `^"?${reEscape(value)}"?\\s*$`),
      undo: {
        kind: 'restore-exec',
        read: [...inst.vsctl, '--if-exists', 'get', 'Open_vSwitch', '.', `other_config:${key}`],
        whenPresent: [...inst.vsctl, 'set', 'Open_vSwitch', '.', `other_config:${key}={previous}`],
        whenAbsent: [...inst.vsctl, 'remove', 'Open_vSwitch', '.', 'other_config', key],
      },
      dependsOn: ['ovs:system'],
      ref: `${REF_DPDK} (at down: remove Open_vSwitch . other_config <key>)`,
    }))
  }
  steps.push(dpdkWaitStep(inst, ids))
  return steps
}

export function ovsBridgeStepId(sw: SwitchModel): string {
  return `ovs:bridge:${sw.name}`
}

/** The bridge, its uplink, physical DPDK ports and (system datapath) the host endpoint. */
export function ovsBridgeSteps(env: CompileEnv, inst: OvsInstance, sw: SwitchModel, switchIndex: number): Step[] {
  assertArgSafe('switch name', sw.name)
  const br = sw.name
  const id = ovsBridgeStepId(sw)
  const v = inst.vsctl
  const add = [...v, 'add-br', br, '--', 'set', 'bridge', br, `datapath_type=${sw.datapath}`, '--', 'set', 'bridge', br, `external-ids:virtlab-lab=${env.lab.name}`]
  const steps: Step[] = []
  // The netdev datapath gives the bridge a tap of its name in the host namespace.
  const netdevTap = sw.datapath === 'netdev' && inst.mode === 'private'
  if (netdevTap) steps.push(linkSideEffectStep(`${id}:link`, br, `the netdev datapath makes a tap for bridge ${br}`, [], refuseExistingLink(undefined, br, `switch ${br}: a link named`)))
  steps.push(step({
    id,
    title: `Create OVS bridge ${br} (datapath ${sw.datapath}) on the ${inst.mode} OVS`,
    phase: 'switch',
    action: exec(add),
    // Never adopt: an OVS bridge (or a host link) of that name that this lab did not create is refused.
    refuseIf: {...refuseExistingLink(undefined, br, `switch ${br}: an OVS bridge or link named`), check: {kind: 'any', checks: [execOk([...v, 'br-exists', br]), execOk(['ip', 'link', 'show', 'dev', br])]}},
    undo: undoExec([...v, '--if-exists', 'del-br', br]),
    // A kernel-datapath bridge needs the openvswitch module (loaded by a host step, src/compile/host.ts).
    dependsOn: [inst.readyStep, ...(netdevTap ? [`${id}:link`] : []), ...(sw.datapath === 'system' ? ['module:openvswitch'] : [])],
    ref: sw.datapath === 'netdev' ? 'docs/labs/vhost-user.md#the-netdev-bridge (add-br <br> -- set bridge <br> datapath_type=netdev)' : 'docs/labs/vhost-net.md#the-ovs-kernel-datapath-variant (ovs-vsctl add-br)',
  }))
  if (netdevTap) {
    steps.push(step({
      id: `${id}:tag`,
      title: `Tag the host tap ${br} of the netdev bridge with ifalias ${linkAliasTag(env.lab.name)} (\`down --force\` finds it)`,
      phase: 'switch',
      action: exec(['ip', 'link', 'set', 'dev', br, 'alias', linkAliasTag(env.lab.name)]),
      dependsOn: [id],
    }))
  }
  if (sw.uplink !== undefined) {
    assertArgSafe('uplink', sw.uplink)
    steps.push(portStep(env, inst, sw, sw.uplink, `${id}:uplink`, `Add uplink ${sw.uplink} to OVS bridge ${br}`, [], [id]))
  }
  for (const p of sw.physicalPorts) {
    assertArgSafe('physical port name', p.name)
    assertArgSafe('physical port PCI address', p.pci)
    const extra = ['type=dpdk', `options:dpdk-devargs=${p.pci}`, ...(p.nRxq === undefined ? [] : [`options:n_rxq=${p.nRxq}`])]
    steps.push(portStep(env, inst, sw, p.name, `${id}:phys:${p.name}`, `Add physical DPDK port ${p.name} (${p.pci}) to ${br}`, extra, [id], 'docs/labs/vhost-user.md#physical-dpdk-ports-pvp (type=dpdk options:dpdk-devargs)'))
  }
  if (sw.address !== undefined) steps.push(...ovsAddressSteps(env, inst, sw, switchIndex))
  return steps
}

function ovsAddressSteps(env: CompileEnv, inst: OvsInstance, sw: SwitchModel, switchIndex: number): Step[] {
  if (sw.datapath !== 'system') {
    throw compileError('OVS_ADDRESS_UNSUPPORTED', `switch ${sw.name}: an address on a netdev (DPDK) OVS bridge is not supported`, 'Put the address on a Linux bridge or a system-datapath OVS switch, or remove it.')
  }
  const cidr = sw.address as string
  assertArgSafe('switch address', cidr)
  const port = names.hostVeth(env, switchIndex)
  const id = `${ovsBridgeStepId(sw)}:endpoint`
  const steps: Step[] = [portStep(env, inst, sw, port, id, `Add internal port ${port} to ${sw.name} (the lab's host endpoint)`, ['type=internal'], [ovsBridgeStepId(sw)])]
  let last = id
  if (env.netns !== undefined) {
    steps.push(step({
      id: `${id}:netns`,
      title: `Move internal port ${port} into namespace ${env.netns}`,
      phase: 'switch',
      action: exec(['ip', 'link', 'set', 'dev', port, 'netns', env.netns]),
      check: execOk(ipIn(env.netns, 'link', 'show', 'dev', port)),
      dependsOn: [id, 'netns'],
      ref: 'docs/labs/vhost-net.md#the-ovs-kernel-datapath-variant',
    }))
    last = `${id}:netns`
  }
  steps.push(
    step({
      id: `${id}:up`,
      title: `Bring ${port} up${env.netns === undefined ? '' : ` in namespace ${env.netns}`}`,
      phase: 'switch',
      action: exec(ipIn(env.netns, 'link', 'set', 'dev', port, 'up')),
      check: execMatches(ipIn(env.netns, 'link', 'show', 'dev', port), '[<,]UP[,>]'),
      dependsOn: [last],
    }),
    step({
      id: `${id}:address`,
      title: `Give ${port} the switch address ${cidr}`,
      phase: 'switch',
      action: exec(ipIn(env.netns, 'addr', 'add', cidr, 'dev', port)),
      check: execMatches(ipIn(env.netns, '-o', 'addr', 'show', 'dev', port), ` inet ${reEscape(cidr)} `),
      undo: NO_UNDO,
      dependsOn: [`${id}:up`],
    }),
  )
  return steps
}

/** Add a port to an OVS bridge, tagged with the lab; undo deletes it (if it still exists). */
export function portStep(env: CompileEnv, inst: OvsInstance, sw: SwitchModel, port: string, id: string, title: string, interfaceSettings: string[], dependsOn: string[], ref = REF_DPDK): Step {
  const v = inst.vsctl
  const argv = [...v, '--may-exist', 'add-port', sw.name, port]
  if (interfaceSettings.length > 0) argv.push('--', 'set', 'Interface', port, ...interfaceSettings)
  argv.push('--', 'set', 'Interface', port, `external-ids:virtlab-lab=${env.lab.name}`)
  return step({
    id,
    title,
    phase: 'switch',
    action: exec(argv),
    check: execMatches([...v, 'port-to-br', port], `^${reEscape(sw.name)}\\s*$`),
    undo: undoExec([...v, '--if-exists', 'del-port', sw.name, port]),
    dependsOn: [...dependsOn, ovsBridgeStepId(sw)],
    ref,
  })
}
