/**
 * The switches a lab can name: Linux bridges and OVS bridges (system or private instance).
 * The compiler asks here for a switch's steps and for the step that attaches a NIC's tap to it.
 */
import type {SwitchModel} from '../lab/model.js'
import type {Step} from '../plan/step.js'
import {type CompileEnv, compileError} from '../compile/context.js'
import {bridgeReadyStepId, linuxBridgeAttachStep, linuxBridgeSteps} from './linux-bridge.js'
import {type OvsInstance, ovsBridgeStepId, ovsBridgeSteps, ovsInstanceSteps, portStep} from './ovs.js'

export {type OvsInstance} from './ovs.js'

/**
 * Every switch's steps: OVS instances first (each once; env.ovs from ovsInstances), then bridges in
 * lab order. hostDeps: steps an OVS-DPDK vswitchd must wait for (hugepages, hugetlbfs mount).
 */
export function switchSteps(env: CompileEnv, hostDeps: string[]): Step[] {
  const instances = env.ovs
  const steps: Step[] = []
  for (const inst of instances.values()) steps.push(...ovsInstanceSteps(env, inst, hostDeps))
  env.lab.switches.forEach((sw, index) => {
    if (sw.type === 'linux-bridge') steps.push(...linuxBridgeSteps(env, sw, index))
    else steps.push(...ovsBridgeSteps(env, instanceOf(instances, sw), sw, index))
  })
  return steps
}

export function instanceOf(instances: Map<'system' | 'private', OvsInstance>, sw: SwitchModel): OvsInstance {
  for (const inst of instances.values()) if (inst.switches.some((s) => s.sw === sw)) return inst
  throw compileError('INTERNAL', `internal: switch ${sw.name} has no OVS instance`)
}

/** The step id after which ports can be added to the switch. */
export function switchReadyStepId(sw: SwitchModel): string {
  return sw.type === 'linux-bridge' ? bridgeReadyStepId(sw) : ovsBridgeStepId(sw)
}

/** Attach a tap (created by virtlab in the host namespace) to a switch. */
export function attachTapStep(env: CompileEnv, instances: Map<'system' | 'private', OvsInstance>, sw: SwitchModel, tap: string, id: string, dependsOn: string[]): Step {
  if (sw.type === 'linux-bridge') return linuxBridgeAttachStep(sw, tap, id, dependsOn)
  return portStep(env, instanceOf(instances, sw), sw, tap, id, `Add tap ${tap} to OVS bridge ${sw.name}`, [], dependsOn, 'docs/labs/vhost-net.md#the-ovs-kernel-datapath-variant (ovs-vsctl add-port)')
}
