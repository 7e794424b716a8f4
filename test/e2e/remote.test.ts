/**
 * A lab on a remote target, for real: a private sshd on 127.0.0.1 (root; its own config, host key
 * and authorized key in a temporary directory; stopped at the end) and the real virtio-qemu lab
 * driven through `--host ssh://root@127.0.0.1:PORT` with the CLI: `up` -> `test` -> `down`, with
 * the direct-QEMU driver (the guest agent's socket is reached through the SSH connection, a
 * forwarded unix socket), the result shaped as a local one with provenance naming the host, and
 * the host exactly as before. `doctor` and `status` run through it too. The client trusts that
 * sshd through an ssh_config file the test writes (VIRTLAB_SSH_CONFIG, passed to ssh as -F).
 */
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {DoctorResult} from '../../src/app/doctor.js'
import type {DownResult} from '../../src/app/down.js'
import type {TestLabResult} from '../../src/app/measure.js'
import type {StatusResult} from '../../src/app/status.js'
import type {UpResult} from '../../src/app/up.js'
import {assertResult} from '../../src/measure/result.js'
import {startTestSshd, type TestSshd} from '../helpers/sshd.js'
import {cli, snapshot, useE2eEnv} from './harness.js'

const need = useE2eEnv('remote')
let sshd: TestSshd | undefined
// Private temp directories: the CLI's (the ControlMaster's 0700 directory) and the sessions' on
// the target (sshd SetEnv TMPDIR), so the test sees exactly what the transport left there.
const localTmp = mkdtempSync(join(tmpdir(), 'virtlab-remote-local-'))
const remoteTmp = mkdtempSync(join(tmpdir(), 'virtlab-remote-target-'))
const savedTmp = process.env.TMPDIR

beforeAll(async () => {
  sshd = await startTestSshd({sshdConfig: [`SetEnv TMPDIR=${remoteTmp}`]})
  process.env.VIRTLAB_SSH_CONFIG = sshd.configFile
  process.env.TMPDIR = localTmp
}, 60_000)
afterAll(async () => {
  delete process.env.VIRTLAB_SSH_CONFIG
  if (savedTmp === undefined) delete process.env.TMPDIR
  else process.env.TMPDIR = savedTmp
  await sshd?.stop()
  rmSync(localTmp, {recursive: true, force: true})
  rmSync(remoteTmp, {recursive: true, force: true})
})

const url = () => {
  if (sshd === undefined) throw new Error('sshd did not start')
  return sshd.url
}

describe('a lab on an SSH target (loopback sshd)', () => {
  it('doctor and status run through --host', async () => {
    const e = need()
    const doctor = await cli(e, ['doctor', 'virtio-qemu', '--host', url()], {timeoutMs: 180_000})
    const result = doctor.json as DoctorResult
    expect(result.checks.length, doctor.stderr.slice(-2000)).toBeGreaterThan(5)
    // The same host as the local run: its kernel, and the virtio-qemu lab can run there.
    expect(result.host.kernel).toBe(readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim())
    expect(result.checks.filter((c) => c.status === 'fail'), JSON.stringify(result.checks.filter((c) => c.status === 'fail'))).toEqual([])
    expect(doctor.code).toBe(0)
    const status = await cli(e, ['status', '--host', url()], {timeoutMs: 120_000})
    expect(status.code, status.stderr.slice(-2000)).toBe(0)
    expect((status.json as StatusResult).labs.filter((l) => l.lab === 'virtio-qemu')).toEqual([])
  })

  it('virtio-qemu: up -> test -> down through --host ssh://root@127.0.0.1:PORT leaves the host exactly as before', async () => {
    const e = need()
    const before = snapshot(e)
    const timings: string[] = []
    let up: Awaited<ReturnType<typeof cli>> | undefined
    try {
      up = await cli(e, ['up', 'virtio-qemu', '--driver', 'qemu', '--host', url()], {timeoutMs: 480_000})
      timings.push(`up ${(up.ms / 1000).toFixed(1)} s`)
      expect(up.code, `up failed:\n${up.stdout.slice(-2000)}\n${up.stderr.slice(-3000)}`).toBe(0)
      const result = up.json as UpResult
      expect(result.driver).toBe('qemu')
      expect(result.stepsRun).toContain('vm:vm1:start')
      expect(result.stepsRun).toContain('vm:vm1:ready')

      const status = await cli(e, ['status', 'virtio-qemu', '--host', url()], {timeoutMs: 120_000})
      expect(status.code, status.stderr.slice(-2000)).toBe(0)
      const lab = (status.json as StatusResult).labs[0]
      expect(lab?.journal).toBe('ok')
      expect(lab?.vms.map((v) => [v.name, v.running])).toEqual([['vm1', true]])

      const test = await cli(e, ['test', 'virtio-qemu', '--host', url(), '--trials', '1', '--duration', '3', '--latency-samples', '20', '--out', e.resultsDir], {timeoutMs: 300_000})
      timings.push(`test ${(test.ms / 1000).toFixed(1)} s`)
      expect(test.code, `test failed:\n${test.stdout.slice(-2000)}\n${test.stderr.slice(-3000)}`).toBe(0)
      const file = join(e.resultsDir, 'virtio-qemu-host-to-vm1.json')
      expect((test.json as TestLabResult).files).toContain(file)
      // The result lands on the operator's machine and has the shape of a local one (the schema).
      const doc = assertResult(JSON.parse(readFileSync(file, 'utf8')), file)
      expect(doc.lab.name).toBe('virtio-qemu')
      expect(doc.lab.driver).toBe('qemu')
      expect(doc.cases[0]?.throughput.median ?? 0).toBeGreaterThan(0)
      expect(doc.latency?.received ?? 0).toBeGreaterThan(0)
      expect(doc.datapath.kind).toBe('virtio-qemu')
      expect(doc.datapath.verified, JSON.stringify(doc.datapath)).toBe(true)
      expect(doc.provenance.target).toEqual({name: url(), transport: 'ssh', url: url(), user: 'root', hostname: hostname()})
      console.log(`[e2e remote] virtio-qemu over ${url()}: ${(doc.cases[0]?.throughput.median ?? 0).toFixed(3)} Gbit/s, RTT p50 ${doc.latency?.p50Ms.toFixed(2) ?? '?'} ms`)
    } finally {
      const down = await cli(e, ['down', 'virtio-qemu', '--host', url(), ...(up?.code === 0 ? [] : ['--force'])], {timeoutMs: 240_000})
      timings.push(`down ${(down.ms / 1000).toFixed(1)} s`)
      console.log(`[e2e remote] virtio-qemu: ${timings.join(', ')}`)
      expect(down.code, `down failed:\n${down.stdout.slice(-2000)}\n${down.stderr.slice(-3000)}`).toBe(0)
      expect((down.json as DownResult).labs[0]?.notUndone ?? []).toEqual([])
    }
    expect(snapshot(e)).toEqual(before)
    // The transport's temp directories (control socket locally, scratch on the target) are gone too.
    expect(readdirSync(localTmp)).toEqual([])
    expect(readdirSync(remoteTmp)).toEqual([])
  })

  it('the connection dropping mid-up is a failed step: virtlab reconnects and rolls back', async () => {
    const e = need()
    const before = snapshot(e)
    let killed = 0
    const up = await cli(e, ['up', 'virtio-qemu', '--driver', 'qemu', '--host', url()], {
      timeoutMs: 480_000,
      onStderr: (_child, stderr) => {
        // QEMU runs on the target and up waits for the guest: kill the sshd side of the connection.
        if (killed === 0 && /"type":"step-done","stepId":"vm:vm1:start"/.test(stderr)) killed = sshd?.killSessions('SIGKILL') ?? 0
      },
    })
    expect(killed, `the connection was never cut:\n${up.stderr.slice(-3000)}`).toBeGreaterThan(0)
    expect(up.code, up.stdout.slice(-2000)).toBe(1)
    const error = (up.json as {error: {code: string; message: string; details?: {rolledBack?: string[]}}}).error
    expect(error.code, error.message).toBe('STEP_FAILED')
    expect(error.details?.rolledBack).toContain('vm:vm1:start')
    expect(snapshot(e)).toEqual(before)
    expect(readdirSync(localTmp)).toEqual([])
  })

  it('a target that stays down: up exits naming what is left there, and down --host finishes once it is back', async () => {
    const e = need()
    const before = snapshot(e)
    let stopped: Promise<void> | undefined
    const up = await cli(e, ['up', 'virtio-qemu', '--driver', 'qemu', '--host', url()], {
      timeoutMs: 480_000,
      onStderr: (_child, stderr) => {
        if (stopped === undefined && /"type":"step-done","stepId":"vm:vm1:start"/.test(stderr)) stopped = sshd?.kill()
      },
    })
    await stopped
    expect(stopped, `the host was never taken down:\n${up.stderr.slice(-3000)}`).toBeDefined()
    expect(up.code, up.stdout.slice(-2000)).toBe(1)
    const error = (up.json as {error: {code: string; message: string; hint?: string; details?: {notUndone?: string[]}}}).error
    expect(error.code, error.message).toBe('TARGET_UNREACHABLE')
    expect(error.message).toContain('vm:vm1:start')
    expect(error.hint).toContain(`virtlab down virtio-qemu --host ${url()}`)
    expect(error.details?.notUndone).toContain('vm:vm1:start')
    // Nothing could be undone: the journal on the target still holds the steps.
    expect(existsSync(join(e.stateDir, 'virtio-qemu', 'journal.json'))).toBe(true)
    await sshd?.restart()
    const down = await cli(e, ['down', 'virtio-qemu', '--host', url()], {timeoutMs: 240_000})
    expect(down.code, `down failed:\n${down.stdout.slice(-2000)}\n${down.stderr.slice(-3000)}`).toBe(0)
    expect((down.json as DownResult).labs[0]?.undone).toContain('vm:vm1:start')
    expect(snapshot(e)).toEqual(before)
  })

  it('a hostile --host is refused before ssh runs', async () => {
    const e = need()
    for (const host of ['ssh://-oProxyCommand=touch${IFS}/tmp/virtlab-pwned', 'ssh://root@127.0.0.1;id', 'nosuchhost']) {
      const r = await cli(e, ['status', '--host', host], {timeoutMs: 30_000})
      expect(r.code).toBe(1)
      expect(JSON.stringify(r.json)).toMatch(/SSH_URL_INVALID|HOST_UNKNOWN/)
      expect(r.stderr).not.toMatch(/\n\s+at /)
    }
  })
})
