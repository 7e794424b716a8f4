/**
 * Faults on real labs: a guest's QEMU killed during `virtlab test` (a clear error naming the guest,
 * then a clean `down`); SIGINT to the CLI during `up` (rollback, nothing left); `down --force`
 * after the journal was deleted (the tagged sweep leaves nothing). Each ends with the host
 * snapshot equal to the one taken before the lab came up.
 */
import {existsSync, readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import type {DownResult} from '../../src/app/down.js'
import type {UpResult} from '../../src/app/up.js'
import {alive, cli, qemuPids, snapshot, useE2eEnv} from './harness.js'

const need = useE2eEnv('faults')


interface ErrorBody {
  error?: {code?: string; message?: string; details?: {rolledBack?: string[]; notUndone?: string[]}}
}

describe('faults on real labs', () => {
  it('a guest QEMU killed during `virtlab test`: the test stops at once with an error naming the guest; `down` then leaves nothing', async () => {
    const e = need()
    const before = snapshot(e)
    const up = await cli(e, ['up', 'virtio-qemu', '--driver', 'qemu'], {timeoutMs: 300_000})
    expect(up.code, up.stderr.slice(-3000)).toBe(0)
    try {
      const pid = qemuPids('virtio-qemu').get('vm1')
      expect(pid).toBeDefined()
      // A 30 s trial; vm1's QEMU is killed a few seconds in, while iperf3 runs.
      let killedAt = 0
      const testRun = cli(e, ['test', 'virtio-qemu', '--trials', '1', '--duration', '30', '--latency-samples', '0', '--out', e.resultsDir], {timeoutMs: 180_000})
      await new Promise((resolve) => setTimeout(resolve, 6_000))
      process.kill(pid as number, 'SIGKILL')
      killedAt = Date.now()
      const test = await testRun
      const afterKillMs = Date.now() - killedAt
      console.log(`[e2e] test failed ${(afterKillMs / 1000).toFixed(1)} s after the kill: ${test.stdout.trim().split('\n').slice(0, 4).join(' ')}`)
      expect(test.code).not.toBe(0)
      const body = test.json as ErrorBody
      expect(body.error?.code).toBe('GUEST_GONE')
      expect(body.error?.message).toMatch(/guest vm1 of lab virtio-qemu stopped during the test/)
      expect(body.error?.message).toContain(`pid ${pid}`)
      // The watchdog stops the measurement: well before the 30 s trial would have ended.
      expect(afterKillMs).toBeLessThan(20_000)
      expect(existsSync(join(e.resultsDir, 'virtio-qemu-host-to-vm1.json'))).toBe(false)
    } finally {
      const down = await cli(e, ['down', 'virtio-qemu'], {timeoutMs: 180_000})
      expect(down.code, down.stdout.slice(-3000)).toBe(0)
      expect((down.json as DownResult).labs[0]?.notUndone).toEqual([])
    }
    expect(snapshot(e)).toEqual(before)
  })

  it('SIGINT to `virtlab up` while the guests boot: everything this run created is rolled back, nothing is left', async () => {
    const e = need()
    const before = snapshot(e)
    let interruptedAt = 0
    const up = await cli(e, ['up', 'vhost-user', '--driver', 'qemu'], {
      timeoutMs: 300_000,
      onStderr: (child, stderr) => {
        // Once the OVS-DPDK switch, its ports and both QEMUs exist and up waits for a guest to boot.
        if (interruptedAt === 0 && /"stepId":"vm:vm\d:ready"/.test(stderr) && /"type":"step-done","stepId":"vm:vm2:start"/.test(stderr)) {
          interruptedAt = Date.now()
          child.kill('SIGINT')
        }
      },
    })
    expect(interruptedAt, `up was never interrupted:\n${up.stderr.slice(-3000)}`).toBeGreaterThan(0)
    expect(up.code).toBe(130)
    const body = up.json as ErrorBody
    expect(body.error?.code).toBe('APPLY_INTERRUPTED')
    expect(body.error?.message).toMatch(/interrupted/)
    const rolledBack = body.error?.details?.rolledBack ?? []
    for (const id of ['vm:vm1:start', 'vm:vm2:start', 'ovs:vswitchd', 'ovs:bridge:vlbr-dpdk', 'hugepages', 'netns']) expect(rolledBack).toContain(id)
    expect(body.error?.details?.notUndone ?? []).toEqual([])
    console.log(`[e2e] SIGINT during up: rolled back ${rolledBack.length} steps in ${((Date.now() - interruptedAt) / 1000).toFixed(1)} s`)
    expect(existsSync(join(e.stateDir, 'vhost-user'))).toBe(false)
    expect(snapshot(e)).toEqual(before)
  })

  it('`down --force` after the journal was deleted: the tagged sweep removes the QEMU, taps, bridge, veth, namespace and directories', async () => {
    const e = need()
    const before = snapshot(e)
    const up = await cli(e, ['up', 'virtio-qemu', '--driver', 'qemu'], {timeoutMs: 300_000})
    expect(up.code, up.stderr.slice(-3000)).toBe(0)
    expect((up.json as UpResult).stepsRun).toContain('bridge:vlbr-virtio')
    const pid = qemuPids('virtio-qemu').get('vm1')
    expect(pid).toBeDefined()
    const journal = join(e.stateDir, 'virtio-qemu', 'journal.json')
    expect(JSON.parse(readFileSync(journal, 'utf8')).lab).toBe('virtio-qemu')
    rmSync(journal)

    const plain = await cli(e, ['down', 'virtio-qemu'], {timeoutMs: 60_000})
    expect(plain.code).not.toBe(0)
    const refused = plain.json as ErrorBody
    expect(refused.error?.code).toBe('NO_JOURNAL')
    // The Linux bridge is found by its ifalias tag, the rest by name.
    for (const what of ['QEMU process', 'link vlbr-virtio', 'netns vl-virtio-qemu', 'run directory']) expect(refused.error?.message).toContain(what)

    const forced = await cli(e, ['down', 'virtio-qemu', '--force'], {timeoutMs: 180_000})
    expect(forced.code, forced.stdout.slice(-3000)).toBe(0)
    const removed = (forced.json as DownResult).labs[0]?.removed ?? []
    expect(removed).toContain('link vlbr-virtio')
    expect(removed).toContain('netns vl-virtio-qemu')
    expect(removed.some((r) => r.startsWith(`QEMU process ${pid}`))).toBe(true)
    expect(alive(pid as number)).toBe(false)
    expect(snapshot(e)).toEqual(before)
  })
})
