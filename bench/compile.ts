/**
 * npm run bench:compile — how fast the pure core is on a big lab, and how fast the CLI starts.
 *   1. a generated 64-VM lab (two Linux bridges, vhost-net and virtio-qemu NICs, 2 NICs per VM):
 *      validate (YAML + schema + rules) + compileLab + buildPlan, target < 1 s (median of 5 runs);
 *   2. cold start of `node bin/run.js validate labs/vhost-net.yaml`, target < 0.6 s (needs dist:
 *      run `npm run build` first; median of 5 runs).
 * Exits non-zero when a target is missed.
 */
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {performance} from 'node:perf_hooks'

import {compileLab} from '../src/compile/index.js'
import {compileOptionsFor} from '../src/app/plan.js'
import {ASSUMED_FACTS} from '../src/host/facts.js'
import {validateLabText} from '../src/lab/validate.js'
import {buildPlan} from '../src/plan/build.js'

const root = path.resolve(import.meta.dirname, '..')
const VMS = 64

function bigLab(): string {
  const lines = [
    'name: bench64',
    'description: "64 VMs on two Linux bridges (compile benchmark)"',
    'host:',
    '  modules: [tun]',
    '  devices: [/dev/net/tun]',
    'switches:',
    '  - {name: vlbr-a, type: linux-bridge, address: 10.98.0.1/16}',
    '  - {name: vlbr-b, type: linux-bridge, address: 10.97.0.1/16}',
    'vms:',
  ]
  for (let i = 0; i < VMS; i++) {
    lines.push(
      `  - name: vm${i}`,
      '    vcpus: 1',
      '    memory: 256M',
      '    nics:',
      `      - {backend: vhost-net, switch: vlbr-a, address: 10.98.${Math.floor(i / 200)}.${(i % 200) + 2}/16, queues: 2}`,
      `      - {backend: virtio-qemu, switch: vlbr-b, address: 10.97.${Math.floor(i / 200)}.${(i % 200) + 2}/16}`,
    )
  }
  return lines.join('\n') + '\n'
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN

function coreOnce(text: string): {ms: number; steps: number} {
  const t0 = performance.now()
  const result = validateLabText(text, 'bench64.yaml', {})
  if (result.model === undefined) throw new Error(`generated lab invalid: ${JSON.stringify(result.problems.slice(0, 3))}`)
  const artifacts = compileLab(result.model, compileOptionsFor(result.model.name, {target: {runBase: '/run/virtlab', stateDir: '/var/lib/virtlab'}}))
  const plan = buildPlan(artifacts, ASSUMED_FACTS)
  return {ms: performance.now() - t0, steps: plan.steps.length}
}

const text = bigLab()
coreOnce(text) // warm-up (module loading is not what this measures)
const runs = Array.from({length: 5}, () => coreOnce(text))
const coreMs = median(runs.map((r) => r.ms))
console.log(`validate + compile + buildPlan, ${VMS} VMs (${runs[0]?.steps} steps): ${coreMs.toFixed(1)} ms median of 5 (target < 1000 ms)`)

let coldMs = Number.NaN
if (fs.existsSync(path.join(root, 'dist', 'commands', 'validate.js'))) {
  const times: number[] = []
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now()
    const r = spawnSync(process.execPath, [path.join(root, 'bin', 'run.js'), 'validate', path.join(root, 'labs', 'vhost-net.yaml')], {encoding: 'utf8', cwd: root})
    times.push(performance.now() - t0)
    if (r.status !== 0) throw new Error(`validate failed (exit ${r.status}): ${r.stderr}`)
  }
  coldMs = median(times)
  console.log(`cold start: node bin/run.js validate labs/vhost-net.yaml: ${coldMs.toFixed(0)} ms median of 5 (target < 600 ms)`)
} else {
  console.log('cold start: skipped — dist/ is not built (run `npm run build` first)')
}

const failed = coreMs >= 1000 || (!Number.isNaN(coldMs) && coldMs >= 600)
if (failed) {
  console.log('bench:compile: a target was missed')
  process.exitCode = 1
}
