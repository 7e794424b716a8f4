/**
 * End to end, for real: each shipped lab that this kind of machine can run — virtio-qemu, vhost-net
 * (with --allow-degraded: no /dev/vhost-net here) and vhost-user (OVS-DPDK) — with each driver
 * (libvirt, direct QEMU): `virtlab up` -> the guests answer their QEMU guest agent -> `virtlab test`
 * moves iperf3 traffic (1 trial x 3 s; the measurement suite does more) and writes a result that
 * follows schema/result.schema.json -> `virtlab down` -> the host is exactly as before.
 * Needs root, QEMU, libvirt, OVS-DPDK, iperf3 and the Debian mirror (CI has them all).
 */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import type {DownResult} from '../../src/app/down.js'
import type {TestLabResult} from '../../src/app/measure.js'
import type {UpResult} from '../../src/app/up.js'
import {connectSocketAgent, libvirtAgent} from '../../src/guest/agent.js'
import {assertResult} from '../../src/measure/result.js'
import {type E2eEnv, cli, snapshot, useE2eEnv} from './harness.js'

const need = useE2eEnv('labs')

interface LabCase {
  lab: 'virtio-qemu' | 'vhost-net' | 'vhost-user'
  vms: string[]
  test: string
  flags: string[]
  /** The datapath verdict this host gives. */
  verified: boolean
  degraded: RegExp | undefined
}

const LABS: LabCase[] = [
  {lab: 'virtio-qemu', vms: ['vm1'], test: 'host-to-vm1', flags: [], verified: true, degraded: undefined},
  {lab: 'vhost-net', vms: ['vm1'], test: 'host-to-vm1', flags: ['--allow-degraded'], verified: false, degraded: /^degraded: no vhost-net/},
  {lab: 'vhost-user', vms: ['vm1', 'vm2'], test: 'vm1-to-vm2', flags: [], verified: true, degraded: undefined},
]


async function pingAgent(e: E2eEnv, lab: string, vm: string, driver: 'libvirt' | 'qemu'): Promise<void> {
  const agent = driver === 'libvirt'
    ? libvirtAgent(e.ctx.target.runner, `vl-${lab}-${vm}`)
    : await connectSocketAgent(join(e.runBase, lab, `${vm}.qga.sock`), {label: vm})
  try {
    await agent.ping({timeoutMs: 10_000})
  } finally {
    await agent.close()
  }
}

describe.each(['libvirt', 'qemu'] as const)('driver %s', (driver) => {
  for (const c of LABS) {
    it(`${c.lab}: up -> guests answer their agent -> iperf3 traffic -> down leaves the host exactly as before`, async () => {
      const e = need()
      const before = snapshot(e)
      const timings: string[] = []
      let up: Awaited<ReturnType<typeof cli>> | undefined
      try {
        up = await cli(e, ['up', c.lab, '--driver', driver, ...c.flags], {timeoutMs: 480_000})
        timings.push(`up ${(up.ms / 1000).toFixed(1)} s`)
        expect(up.code, `up failed:\n${up.stdout.slice(-2000)}\n${up.stderr.slice(-3000)}`).toBe(0)
        const result = up.json as UpResult
        expect(result.driver).toBe(driver)
        expect(result.dryRun).toBe(false)
        // `up` returned only after each guest booted (ready marker) and, under libvirt, answered guest-ping.
        for (const vm of c.vms) {
          expect(result.stepsRun).toContain(`vm:${vm}:start`)
          expect(result.stepsRun).toContain(`vm:${vm}:ready`)
          if (driver === 'libvirt') expect(result.stepsRun).toContain(`vm:${vm}:agent`)
        }
        if (c.degraded) expect(result.degraded.some((d) => c.degraded?.test(d))).toBe(true)
        else expect(result.degraded).toEqual([])

        for (const vm of c.vms) await pingAgent(e, c.lab, vm, driver)

        const test = await cli(e, ['test', c.lab, '--trials', '1', '--duration', '3', '--latency-samples', '20', '--out', e.resultsDir], {timeoutMs: 300_000})
        timings.push(`test ${(test.ms / 1000).toFixed(1)} s`)
        expect(test.code, `test failed:\n${test.stdout.slice(-2000)}\n${test.stderr.slice(-3000)}`).toBe(0)
        const measured = test.json as TestLabResult
        const file = join(e.resultsDir, `${c.lab}-${c.test}.json`)
        expect(measured.files).toContain(file)
        const doc = assertResult(JSON.parse(readFileSync(file, 'utf8')), file)
        expect(doc.lab.name).toBe(c.lab)
        expect(doc.lab.driver).toBe(driver)
        expect(doc.test.name).toBe(c.test)
        expect(doc.cases).toHaveLength(1)
        const gbps = doc.cases[0]?.throughput.median ?? 0
        expect(gbps).toBeGreaterThan(0)
        expect(doc.latency?.received ?? 0).toBeGreaterThan(0)
        expect(doc.provenance.accel).toBe('tcg')
        expect(doc.datapath.kind).toBe(c.lab)
        expect(doc.datapath.verified, JSON.stringify(doc.datapath)).toBe(c.verified)
        if (c.degraded) {
          expect(doc.degraded.some((d) => c.degraded?.test(d))).toBe(true)
          // No /dev/vhost-net: the evidence says QEMU does not hold it, and the result says so.
          expect(doc.datapath.reason).toMatch(/does not hold \/dev\/vhost-net/)
        } else {
          expect(doc.degraded).toEqual([])
        }
        console.log(`[e2e] ${c.lab} (${driver}): ${gbps.toFixed(3)} Gbit/s, RTT p50 ${doc.latency?.p50Ms.toFixed(2) ?? '?'} ms, datapath ${doc.datapath.verified ? 'verified' : `unverified (${doc.datapath.reason ?? ''})`}${doc.degraded.length > 0 ? `, ${doc.degraded.join('; ')}` : ''}`)
      } finally {
        const down = await cli(e, ['down', c.lab, ...(up?.code === 0 ? [] : ['--force'])], {timeoutMs: 240_000})
        timings.push(`down ${(down.ms / 1000).toFixed(1)} s`)
        console.log(`[e2e] ${c.lab} (${driver}): ${timings.join(', ')}`)
        expect(down.code, `down failed:\n${down.stdout.slice(-2000)}\n${down.stderr.slice(-3000)}`).toBe(0)
        expect((down.json as DownResult).labs[0]?.notUndone ?? []).toEqual([])
      }
      expect(snapshot(e)).toEqual(before)
    })
  }
})
