/**
 * `virtlab doctor --for-tests [--fix]`: are the host packages the test suite needs installed
 * (src/doctor/packages.ts: TEST_PACKAGE_KEYS + TEST_ONLY_PACKAGES)? Asked of the package database
 * (dpkg-query on Debian/Ubuntu, rpm on Fedora), not by looking for programs: a package such as a
 * DPDK PMD has no program. With --fix the missing ones are installed with the same planFix /
 * applyFix as `doctor --fix` (apt-get update, then apt-get install); nothing runs when all are
 * installed, so a developer without root runs it as a no-op.
 */
import type {Context, TargetHost} from '../host/target.js'
import {effectiveUid, tryRun} from '../host/probe.js'
import {applyFix, planFix, type FixPlan, type FixStepResult} from './fix.js'
import {detectOs, installArgv, testPackagesFor, type OsInfo} from './packages.js'
import type {CheckResult} from './types.js'

/** Which of these packages are installed, from the package database. */
export async function installedPackages(ctx: {target: Pick<TargetHost, 'runner'>}, os: OsInfo, packages: readonly string[]): Promise<Set<string>> {
  const installed = new Set<string>()
  if (packages.length === 0) return installed
  if (os.packageManager === 'apt-get') {
    // One line per known package; unknown ones go to stderr ("no packages found matching") with exit 1.
    const r = await tryRun(ctx, ['dpkg-query', '-W', '-f=${Package}\t${db:Status-Abbrev}\n', ...packages], 30_000)
    for (const line of r.result?.stdout.split('\n') ?? []) {
      const [name, status] = line.split('\t')
      if (name !== undefined && status?.startsWith('ii') === true) installed.add(name.replace(/:.*$/, ''))
    }
  } else if (os.packageManager === 'dnf') {
    // `rpm -q` prints NAME for an installed package and "package X is not installed" otherwise.
    const r = await tryRun(ctx, ['rpm', '-q', '--qf', '%{NAME}\n', ...packages], 30_000)
    for (const line of r.result?.stdout.split('\n') ?? []) if (line !== '' && !line.startsWith('package ')) installed.add(line.trim())
  }
  return installed
}

export async function checkTestPackages(ctx: {target: Pick<TargetHost, 'runner'>}, os: OsInfo): Promise<CheckResult> {
  const wanted = testPackagesFor(os)
  const title = 'packages the test suite needs'
  if (wanted.length === 0 || os.packageManager === undefined) {
    return {id: 'test-packages', title, status: 'fail', detail: `no package list for ${os.id} (virtlab knows Debian/Ubuntu and Fedora package names)`, fix: 'install by hand what TEST_PACKAGE_KEYS and TEST_ONLY_PACKAGES in src/doctor/packages.ts name'}
  }
  const installed = await installedPackages(ctx, os, wanted)
  const missing = wanted.filter((p) => !installed.has(p))
  if (missing.length === 0) return {id: 'test-packages', title, status: 'pass', detail: `all ${wanted.length} installed (${wanted.join(' ')})`}
  return {
    id: 'test-packages',
    title,
    status: 'fail',
    detail: `${missing.length} of ${wanted.length} missing: ${missing.join(' ')}`,
    fix: `${(installArgv(os, missing) ?? []).join(' ')} (or, as root: virtlab doctor --fix --for-tests)`,
    fixAction: {packages: missing},
  }
}

export interface TestPackagesResult {
  forTests: true
  os: string
  ok: boolean
  packages: string[]
  check: CheckResult
  fix?: {plan: FixPlan; results: FixStepResult[]; checkAfter: CheckResult}
}

export async function doctorForTests(ctx: Context, options: {fix?: boolean; onFixPlan?: (plan: FixPlan) => void} = {}): Promise<TestPackagesResult> {
  const os = await detectOs(ctx.target.fs)
  const check = await checkTestPackages(ctx, os)
  const result: TestPackagesResult = {forTests: true, os: os.prettyName ?? os.id, ok: check.status === 'pass', packages: testPackagesFor(os), check}
  if (!options.fix || check.status === 'pass' || check.fixAction === undefined) return result
  const plan = planFix([check], os)
  options.onFixPlan?.(plan)
  let results: FixStepResult[]
  if ((await effectiveUid(ctx.target.fs)) !== 0) {
    results = [{what: 'packages', ok: false, detail: `not root: cannot install ${plan.packages.join(' ')}; run as root (sudo node bin/run.js doctor --fix --for-tests)`}]
  } else {
    results = await applyFix(ctx, plan, os)
  }
  const checkAfter = await checkTestPackages(ctx, os)
  result.fix = {plan, results, checkAfter}
  result.ok = checkAfter.status === 'pass'
  return result
}
