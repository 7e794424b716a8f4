/**
 * A Linux bridge switch. The bridge lives in the HOST namespace (libvirt's QEMU opens taps in
 * libvirtd's namespace, so the taps and their bridge must be there) and carries no address. The
 * switch's address sits on a veth pair: one end enslaved to the bridge in the host namespace, the
 * other end moved into the lab's namespace, so addresses, routes and iperf3 stay off the host's own
 * stack. docs/labs/vhost-net.md#the-linux-bridge, #the-tap-device.
 */
import type {SwitchModel} from '../lab/model.js'
import type {Step} from '../plan/step.js'
import {assertArgSafe, type CompileEnv, names} from '../compile/context.js'
import {exec, execMatches, ipIn, linkUpStep, NO_UNDO, reEscape, refuseExistingLink, step, undoExec} from '../compile/steps.js'
import {linkAliasTag} from '../compile/ids.js'

const REF = 'docs/labs/vhost-net.md#the-linux-bridge'

export function bridgeStepId(sw: SwitchModel): string {
  return `bridge:${sw.name}`
}

/** The id of the step after which ports may be attached to the bridge. */
export function bridgeReadyStepId(sw: SwitchModel): string {
  return `bridge:${sw.name}:up`
}

export function linuxBridgeSteps(env: CompileEnv, sw: SwitchModel, switchIndex: number): Step[] {
  assertArgSafe('switch name', sw.name)
  const br = sw.name
  const id = bridgeStepId(sw)
  const steps: Step[] = [
    step({
      id,
      title: `Create Linux bridge ${br} in the host namespace (no address, no routes), tagged with ifalias ${linkAliasTag(env.lab.name)}`,
      phase: 'switch',
      // One `ip -batch` run: only a bridge virtlab creates gets the tag (`down --force` finds it by it).
      action: exec(['ip', '-batch', '-'], {input: `link add name ${br} type bridge\nlink set dev ${br} alias ${linkAliasTag(env.lab.name)}\n`}),
      refuseIf: refuseExistingLink(undefined, br, `switch ${br}: a link named`),
      undo: undoExec(['ip', 'link', 'del', 'dev', br], [1]),
      ref: REF,
    }),
    linkUpStep({id: bridgeReadyStepId(sw), title: `Bring bridge ${br} up`, phase: 'switch', ifname: br, dependsOn: [id], ref: REF}),
  ]
  if (sw.uplink !== undefined) {
    assertArgSafe('uplink', sw.uplink)
    steps.push(step({
      id: `${id}:uplink`,
      title: `Enslave uplink ${sw.uplink} to bridge ${br}`,
      phase: 'switch',
      action: exec(['ip', 'link', 'set', 'dev', sw.uplink, 'master', br]),
      check: execMatches(['ip', 'link', 'show', 'dev', sw.uplink], ` master ${reEscape(br)} `),
      undo: undoExec(['ip', 'link', 'set', 'dev', sw.uplink, 'nomaster'], [1]),
      dependsOn: [bridgeReadyStepId(sw)],
      ref: 'docs/labs/vhost-net.md#the-linux-bridge (ip link set <nic> master <br>)',
    }))
  }
  if (sw.address !== undefined) steps.push(...addressSteps(env, sw, switchIndex))
  return steps
}

function addressSteps(env: CompileEnv, sw: SwitchModel, switchIndex: number): Step[] {
  const br = sw.name
  const cidr = sw.address as string
  assertArgSafe('switch address', cidr)
  const addrPattern = ` inet ${reEscape(cidr)} `
  if (env.netns === undefined) {
    // host isolation: the bridge itself carries the address in the host namespace.
    return [step({
      id: `${bridgeStepId(sw)}:address`,
      title: `Give bridge ${br} the address ${cidr} (host isolation: the host namespace)`,
      phase: 'switch',
      action: exec(['ip', 'addr', 'add', cidr, 'dev', br]),
      check: execMatches(['ip', '-o', 'addr', 'show', 'dev', br], addrPattern),
      dependsOn: [bridgeReadyStepId(sw)],
      ref: REF,
    })]
  }
  const ns = env.netns
  const hostEnd = names.hostVeth(env, switchIndex)
  const labEnd = names.hostEndpoint(switchIndex)
  const vethId = `${bridgeStepId(sw)}:veth`
  return [
    step({
      id: vethId,
      title: `Create veth ${hostEnd} <-> ${labEnd}, ${labEnd} inside namespace ${ns} (the lab's host endpoint on ${br})`,
      phase: 'switch',
      action: exec(['ip', 'link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', labEnd, 'netns', ns]),
      refuseIf: refuseExistingLink(undefined, hostEnd, `the veth of switch ${br}: a link named`),
      undo: undoExec(['ip', 'link', 'del', 'dev', hostEnd], [1]),
      dependsOn: ['netns'],
      ref: REF,
    }),
    step({
      id: `${vethId}:attach`,
      title: `Enslave ${hostEnd} to bridge ${br} and bring it up`,
      phase: 'switch',
      action: exec(['ip', 'link', 'set', 'dev', hostEnd, 'master', br, 'up']),
      check: execMatches(['ip', 'link', 'show', 'dev', hostEnd], `[<,]UP[,>].* master ${reEscape(br)} `),
      dependsOn: [vethId, bridgeReadyStepId(sw)],
      ref: REF,
    }),
    step({
      id: `${bridgeStepId(sw)}:endpoint`,
      title: `Bring ${labEnd} up in namespace ${ns}`,
      phase: 'switch',
      action: exec(ipIn(ns, 'link', 'set', 'dev', labEnd, 'up')),
      check: execMatches(ipIn(ns, 'link', 'show', 'dev', labEnd), '[<,]UP[,>]'),
      dependsOn: [vethId],
      ref: REF,
    }),
    step({
      id: `${bridgeStepId(sw)}:address`,
      title: `Give ${labEnd} the switch address ${cidr} in namespace ${ns}`,
      phase: 'switch',
      action: exec(ipIn(ns, 'addr', 'add', cidr, 'dev', labEnd)),
      check: execMatches(ipIn(ns, '-o', 'addr', 'show', 'dev', labEnd), addrPattern),
      undo: NO_UNDO,
      dependsOn: [`${bridgeStepId(sw)}:endpoint`],
      ref: REF,
    }),
  ]
}

/** Enslave an interface (a tap) to the bridge. The interface goes away with its own undo. */
export function linuxBridgeAttachStep(sw: SwitchModel, ifname: string, id: string, dependsOn: string[]): Step {
  return step({
    id,
    title: `Enslave ${ifname} to bridge ${sw.name}`,
    phase: 'switch',
    action: exec(['ip', 'link', 'set', 'dev', ifname, 'master', sw.name]),
    check: execMatches(['ip', 'link', 'show', 'dev', ifname], ` master ${reEscape(sw.name)} `),
    dependsOn: [...dependsOn, bridgeReadyStepId(sw)],
    ref: REF,
  })
}
