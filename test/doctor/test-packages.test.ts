/**
 * `doctor --for-tests [--fix]`: the test suite's packages, asked of dpkg; --fix installs only the
 * missing ones (apt-get update, apt-get install), is a no-op when all are installed, and does not
 * try without root.
 */
import {writeFileSync} from 'node:fs'
import * as path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {TEST_ONLY_PACKAGES, testPackagesFor} from '../../src/doctor/packages.js'
import {detectOs} from '../../src/doctor/packages.js'
import {doctorForTests} from '../../src/doctor/test-packages.js'
import {commandNotFound, FakeRunner} from '../helpers/fake-runner.js'
import {copyFixture, makeContext, removeTree} from './host-tools.js'

const roots: string[] = []
afterEach(() => {
  for (const r of roots.splice(0)) removeTree(r)
})

/** dpkg-query answering from a set of installed packages, as the real one does (unknown ones: stderr, exit 1). */
function dpkg(installed: Set<string>): FakeRunner {
  const runner = new FakeRunner(commandNotFound).install('dpkg-query', 'apt-get')
  runner.on(['dpkg-query', '-W'], (argv) => {
    const names = argv.slice(3)
    const known = names.filter((n) => installed.has(n))
    const unknown = names.filter((n) => !installed.has(n))
    return {
      exitCode: unknown.length > 0 ? 1 : 0,
      stdout: known.map((n) => `${n}\tii \n`).join(''),
      stderr: unknown.map((n) => `dpkg-query: no packages found matching ${n}\n`).join(''),
    }
  })
  runner.on(['apt-get', 'update'], {})
  runner.on(['apt-get', 'install'], (argv) => {
    for (const p of argv.slice(4)) installed.add(p)
    return {}
  })
  return runner
}

async function setup(uid = 0) {
  const root = copyFixture('ours')
  roots.push(root)
  writeFileSync(path.join(root, 'proc/self/status'), `Name:\tnode\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\n`)
  const os = await detectOs(makeContext(root, new FakeRunner()).target.fs)
  return {root, os, all: testPackagesFor(os)}
}

describe('the test-package list', () => {
  it('holds the lab packages the real tests use and the test-only ones, concrete for Debian 12', async () => {
    const {all} = await setup()
    for (const p of ['qemu-system-x86', 'openvswitch-switch-dpdk', 'librte-mempool-ring23', 'librte-net-vhost23', 'libvirt-daemon-system', 'iperf3', 'busybox-static', 'cpio', 'openssh-server', 'openssh-client']) expect(all).toContain(p)
    expect(new Set(all).size).toBe(all.length)
    expect(all.some((p) => p.includes('{abi}'))).toBe(false)
    expect(TEST_ONLY_PACKAGES.debian).toContain('openssh-server')
  })
})

describe('doctor --for-tests', () => {
  it('everything installed: pass, and --fix runs nothing but the query', async () => {
    const {root, all} = await setup(1000)
    const runner = dpkg(new Set(all))
    const result = await doctorForTests(makeContext(root, runner), {fix: true})
    expect(result.ok).toBe(true)
    expect(result.check.status).toBe('pass')
    expect(result.fix).toBeUndefined()
    expect(runner.records.map((c) => c.argv[0])).toEqual(['dpkg-query'])
  })

  it('missing packages: fail listing them; --fix as root installs exactly those, then passes', async () => {
    const {root, all} = await setup(0)
    const installed = new Set(all.filter((p) => p !== 'cpio' && p !== 'openssh-server'))
    const runner = dpkg(installed)
    const check = await doctorForTests(makeContext(root, runner))
    expect(check.ok).toBe(false)
    expect(check.check.detail).toBe(`2 of ${all.length} missing: cpio openssh-server`)
    const fixed = await doctorForTests(makeContext(root, runner), {fix: true})
    expect(fixed.ok).toBe(true)
    expect(fixed.fix?.plan.packages).toEqual(['cpio', 'openssh-server'])
    const ran = runner.records.map((c) => c.argv).filter((a) => a[0] === 'apt-get')
    expect(ran).toEqual([['apt-get', 'update'], ['apt-get', 'install', '-y', '--no-install-recommends', 'cpio', 'openssh-server']])
    expect(fixed.fix?.checkAfter.status).toBe('pass')
  })

  it('missing packages without root: --fix does not call apt-get and says to run it as root', async () => {
    const {root, all} = await setup(1000)
    const runner = dpkg(new Set(all.filter((p) => p !== 'cpio')))
    const result = await doctorForTests(makeContext(root, runner), {fix: true})
    expect(result.ok).toBe(false)
    expect(runner.records.some((c) => c.argv[0] === 'apt-get')).toBe(false)
    expect(result.fix?.results[0]?.detail).toMatch(/^not root: cannot install cpio; run as root/)
  })
})
