/**
 * Integration with src/devices (SR-IOV PF/VF and vDPA provisioning, owned by the devices module):
 * `sriovSteps(model, opts)` and `vdpaSteps(model, opts)` (phase 'devices'; a VF's OVS port is phase
 * 'switch'). Importing them also registers the token resolvers (@{vf-pci...}, @{vdpa-dev:...}) the
 * sriov-vf and vdpa backends emit. Device steps come after the switches (a VF may join an OVS
 * bridge); every VM start depends on all of them.
 */
import {sriovSteps} from '../devices/sriov.js'
import {vdpaSteps} from '../devices/vdpa.js'
import type {Step} from '../plan/step.js'
import {instanceOf} from '../switches/index.js'
import {ovsBridgeStepId} from '../switches/ovs.js'
import {type CompileEnv, compileError} from './context.js'

export function deviceSteps(env: CompileEnv): Step[] {
  const {lab} = env
  if (lab.sriov.length === 0 && lab.vdpa.length === 0) return []
  const opts = {
    runDir: env.runDir,
    dependsOn: env.netns === undefined ? ['rundir'] : ['rundir', 'netns'],
    ovs: (switchName: string) => {
      const sw = lab.switches.find((s) => s.name === switchName)
      if (sw === undefined || sw.type !== 'ovs') throw compileError('COMPILE_UNKNOWN_SWITCH', `a VF joins switch ${switchName}, which is not an OVS switch of the lab`)
      return {dbArgs: instanceOf(env.ovs, sw).vsctl.slice(1), bridgeStepId: ovsBridgeStepId(sw)}
    },
  }
  return [...sriovSteps(lab, opts), ...vdpaSteps(lab, opts)]
}
