/**
 * `up --dry-run` changes nothing and boots nothing, with the REAL host probe (gatherFacts, not
 * stubbed): on a host with /dev/kvm and no cached KVM probe result, no QEMU guest is started and
 * nothing is written under the state dir; the plan says accel is not yet measured. With a cached
 * result, the dry run uses it.
 */
import {readFileSync, readdirSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {defaultUpDeps, upLab, type UpDryRunResult} from '../../src/app/up.js'
import {KVM_PROBE_FILE, KVM_PROBE_VERSION} from '../../src/host/kvm-probe.js'
import {FakeHost} from '../helpers/fake-host.js'
import {FakeRunner} from '../helpers/fake-runner.js'

const QEMU_VERSION = 'QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)'
const RELEASE = '6.1.0-test'

const hosts: FakeHost[] = []
afterEach(() => {
  for (const h of hosts.splice(0)) h.cleanup()
})

/** Every path under dir in the fake root (files and directories). */
function tree(root: string): string[] {
  const out: string[] = []
  const walk = (dir: string): void => {
    let names: string[]
    try {
      names = readdirSync(dir)
    } catch {
      return
    }
    for (const name of names.sort()) {
      const p = join(dir, name)
      out.push(p.slice(root.length))
      if (statSync(p).isDirectory()) walk(p)
    }
  }
  walk(root)
  return out
}

async function setup() {
  // /dev/kvm present (so the probe would run), a QEMU that answers --version (so the probe has
  // what it needs to measure), the shipped lab where the loader looks.
  const host = new FakeHost({systemOvs: true, files: {'/dev/kvm': '', '/proc/sys/kernel/osrelease': `${RELEASE}\n`}})
  hosts.push(host)
  const inner = host.runner()
  const runner = new FakeRunner(async (argv, options) => {
    if (argv[0] === 'qemu-system-x86_64' && argv[1] === '--version') return {argv, exitCode: 0, stdout: `${QEMU_VERSION}\n`, stderr: ''}
    return inner.run(argv, {...options, allowFailure: true})
  })
  const ctx = host.context(runner)
  await ctx.operator.fs.mkdir(`${ctx.operator.packageRoot}/labs`)
  await ctx.operator.fs.writeFile(`${ctx.operator.packageRoot}/labs/vhost-net.yaml`, readFileSync(new URL('../../labs/vhost-net.yaml', import.meta.url), 'utf8'))
  return {host, ctx, runner}
}

describe('up --dry-run', () => {
  it('with no cached KVM probe: runs no QEMU guest, writes nothing under the state dir, says accel is not yet measured', async () => {
    const {host, ctx, runner} = await setup()
    const stateDir = host.fs.resolve(ctx.target.stateDir)
    const before = tree(host.root)
    const snap = host.snapshot()
    const result = (await upLab(ctx, {lab: 'vhost-net', dryRun: true, driver: 'qemu'}, defaultUpDeps)) as UpDryRunResult
    expect(result.dryRun).toBe(true)
    // The probe's guests are `qemu-system-x86_64 ... -bios <state>/kvm-probe/*.bin`: none ran, nor any other QEMU.
    expect(runner.calls.filter((argv) => argv[0]?.endsWith('qemu-system-x86_64') && argv[1] !== '--version')).toEqual([])
    expect(tree(host.root)).toEqual(before)
    expect(tree(stateDir).filter((p) => p.includes(KVM_PROBE_FILE) || p.includes('kvm-probe'))).toEqual([])
    expect(host.snapshot()).toEqual(snap)
    expect(result.notes).toContain('accel: not yet measured (virtlab doctor measures it); this plan assumes TCG where accel is auto')
    expect(result.text).toContain('accel: not yet measured')
  })

  it('with a cached KVM probe result: uses it, still boots nothing', async () => {
    const {host, ctx, runner} = await setup()
    const measurement = {tcg: {null: {outcome: 'ok', ms: 100}, work: {outcome: 'ok', ms: 400}}, kvm: {null: {outcome: 'ok', ms: 90}, work: {outcome: 'timeout', ms: 2000}}, kvmTimeoutMs: 2000}
    await ctx.target.fs.mkdir(ctx.target.stateDir)
    await ctx.target.fs.writeFile(`${ctx.target.stateDir}/${KVM_PROBE_FILE}`, JSON.stringify({
      version: KVM_PROBE_VERSION, key: {kernelRelease: RELEASE, qemuVersion: QEMU_VERSION}, kvm: 'unusable',
      reason: 'cached: KVM is slower than TCG', measurement, measuredAt: '2026-12-01T00:00:00Z',
    }))
    const before = tree(host.root)
    const result = (await upLab(ctx, {lab: 'vhost-net', dryRun: true, driver: 'qemu'}, defaultUpDeps)) as UpDryRunResult
    expect(runner.calls.filter((argv) => argv[0]?.endsWith('qemu-system-x86_64') && argv[1] !== '--version')).toEqual([])
    expect(tree(host.root)).toEqual(before)
    expect(result.notes.join('\n')).not.toContain('not yet measured')
    expect(result.notes.join('\n')).toContain('cached: KVM is slower than TCG')
  })
})
