/**
 * `virtlab test <lab>`: run the lab's tests against the RUNNING lab (started by `virtlab up`):
 * read its journal, load its model with the same parameters, put the endpoints in place (the lab
 * namespace through the CommandRunner, guests through their QEMU guest agent), verify the
 * datapath around the measurement, collect provenance, and write one result document per test
 * (results/<lab>-<test>.json), checked against schema/result.schema.json.
 */
import {VirtlabError, isVirtlabError} from '../errors.js'
import {type GuestAgent, connectSocketAgent, libvirtAgent} from '../guest/agent.js'
import type {HostFs} from '../host/fs.js'
import type {CommandRunner} from '../host/runner.js'
import {loadLab} from '../lab/load.js'
import type {LabModel, TestModel} from '../lab/model.js'
import {
  type DatapathKind,
  type DatapathVerification,
  basenameOf,
  collectSriov,
  collectVdpa,
  collectVhostNet,
  collectVirtioQemu,
  readPidfile,
  readPmdRxqs,
  readPmdStats,
  unverified,
  verifyOvsDpdk,
} from '../measure/datapath.js'
import {type Endpoint, GuestEndpoint, NetnsEndpoint, type ProgramMap} from '../measure/endpoint.js'
import {
  type RunningLab,
  accelFromCmdline,
  agentTarget,
  privateOvsDir,
  qemuPidfile,
  readRunningLab,
  testEndpoints,
  vhostUserPorts,
} from '../measure/lab-state.js'
import {type Clock, collectHostProvenance, collectToolVersions} from '../measure/provenance.js'
import {assertResult, labArchitecture} from '../measure/result.js'
import {RESULT_KIND, RESULT_VERSION, type ArchitectureName, type ResultDocument} from '../measure/result-schema.js'
import {type MeasureOptions, type MeasureProgress, measureTest} from '../measure/run.js'
import {iperf3Tool} from '../measure/tools/iperf3.js'
import type {Context} from './context.js'

export interface TestLabOptions extends MeasureOptions {
  /** Lab name (as `up` journaled it) or lab file. */
  lab: string
  /** Only these tests (by name); default all. */
  tests?: string[] | undefined
  /** Where results go (default "results"). */
  outDir?: string | undefined
  dirs?: string[] | undefined
  signal?: AbortSignal | undefined
}

export interface TestLabResult {
  lab: string
  files: string[]
  results: ResultDocument[]
}

export interface MeasureDeps {
  clock: Clock
  sleep: (ms: number) => Promise<void>
  /** Load the lab model the journal names, with the journaled parameters. */
  loadModel: (running: RunningLab, ctx: Context, dirs: string[]) => Promise<LabModel>
  /** The guest agent of a VM of the running lab. */
  agentFor: (running: RunningLab, vm: string, ctx: Context) => Promise<GuestAgent>
  /** Watch the guests' QEMU processes during the measurement (default on; tests with fake guests turn it off). */
  watchGuests?: boolean
}

export const defaultMeasureDeps: MeasureDeps = {
  clock: () => new Date(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  loadModel: async (running, ctx, dirs) => {
    const sets = Object.fromEntries(Object.entries(running.params).map(([k, v]) => [k, String(v)]))
    return loadLab(running.file, {fs: ctx.operator.fs, sets, dirs, packageRoot: ctx.operator.packageRoot})
  },
  agentFor: async (running, vm, ctx) => {
    const target = agentTarget(running, vm)
    return target.kind === 'libvirt' ? libvirtAgent(ctx.target.runner, target.domain) : connectSocketAgent(target.path, {label: vm, sockets: ctx.target.sockets})
  },
}

function labNameOf(source: string): string {
  const base = source.split('/').pop() ?? source
  return base.replace(/\.ya?ml$/, '')
}

async function hostPrograms(runner: CommandRunner): Promise<ProgramMap> {
  // Debian's host often has no `ping` (iputils-ping) but has busybox.
  if (await runner.which('ping')) return {}
  return (await runner.which('busybox')) ? {ping: ['busybox', 'ping']} : {}
}

export async function virtlabVersion(fs: HostFs, packageRoot: string): Promise<string> {
  const text = await fs.tryReadFile(`${packageRoot}/package.json`)
  try {
    return text === undefined ? 'unknown' : String((JSON.parse(text) as {version?: unknown}).version ?? 'unknown')
  } catch {
    return 'unknown'
  }
}

/** The datapath of the VM a test talks to: a verifier run around the measurement. */
interface DatapathProbe {
  before(): Promise<void>
  after(): Promise<DatapathVerification>
}

function kindOf(architecture: ArchitectureName): DatapathKind {
  return architecture === 'mixed' || architecture === 'none' ? 'unknown' : architecture
}

/**
 * @param vm the VM whose QEMU process is inspected (the server's, else the client's)
 * @param vms every VM endpoint of the test (their OVS ports must all be polled)
 */
function datapathProbe(ctx: Context, running: RunningLab, model: LabModel, vm: string, vms: string[], architecture: ArchitectureName): DatapathProbe {
  const kind = kindOf(architecture)
  const guard = async (work: () => Promise<DatapathVerification>): Promise<DatapathVerification> => {
    try {
      return await work()
    } catch (error) {
      return unverified(kind, `could not verify: ${error instanceof Error ? error.message : String(error)}`)
    }
  }
  const qemuPid = async (): Promise<number> => {
    const pidfile = qemuPidfile(running, vm)
    const pid = await readPidfile(ctx.target.fs, pidfile)
    if (pid === undefined) throw new VirtlabError('DATAPATH_NO_QEMU', `no QEMU pid in ${pidfile}`)
    return pid
  }
  switch (architecture) {
    case 'vhost-net':
      return {before: async () => {}, after: () => guard(async () => collectVhostNet(ctx.target.fs, await qemuPid()))}
    case 'virtio-qemu':
      return {before: async () => {}, after: () => guard(async () => collectVirtioQemu(ctx.target.fs, await qemuPid()))}
    case 'vdpa':
      return {
        before: async () => {},
        after: () => guard(async () => {
          const nic = model.vms.find((v) => v.name === vm)?.nics.find((n) => n.vdpa !== undefined)
          if (nic?.vdpa === undefined) return unverified('vdpa', `${vm} has no vDPA NIC`)
          const entries = await ctx.target.fs.readdir(`/sys/bus/vdpa/devices/${nic.vdpa.device}`)
          const chardev = entries.find((e) => /^vhost-vdpa-\d+$/.test(e))
          if (chardev === undefined) return unverified('vdpa', `vDPA device ${nic.vdpa.device} has no vhost-vdpa character device (not bound to vhost_vdpa?)`)
          return collectVdpa(ctx.target.fs, await qemuPid(), `/dev/${chardev}`)
        }),
      }
    case 'sriov':
      return {
        before: async () => {},
        after: () => guard(async () => {
          const nic = model.vms.find((v) => v.name === vm)?.nics.find((n) => n.sriov !== undefined)
          const pool = model.sriov.find((p) => p.name === nic?.sriov?.pf)
          if (nic?.sriov === undefined || pool === undefined) return unverified('sriov', `${vm} has no SR-IOV NIC`)
          const pfDevice = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/i.test(pool.pf) ? `/sys/bus/pci/devices/${pool.pf}` : `/sys/class/net/${pool.pf}/device`
          const vf = basenameOf(await ctx.target.fs.readlink(`${pfDevice}/virtfn${nic.sriov.vf}`))
          if (vf === undefined) return unverified('sriov', `${pool.pf} has no virtfn${nic.sriov.vf}`)
          const pfPci = basenameOf(await ctx.target.fs.readlink(pfDevice)) ?? pool.pf
          const vfModel = pool.vf.find((v) => v.index === nic.sriov?.vf)
          return collectSriov(ctx.target.fs, vf, {pf: pfPci, ...(vfModel?.driver === 'host' ? {expectedDriver: 'host'} : {})})
        }),
      }
    case 'vhost-user': {
      let before = ''
      let target: string | undefined
      // A private instance (src/switches/ovs.ts: OVS_RUNDIR=<runDir>/ovs, --pidfile=<dir>/ovs-vswitchd.pid)
      // names its control socket after the program: ovs-vswitchd-dpdk.<pid>.ctl for the DPDK build.
      // No private instance: the system ovs-vswitchd (ovs-appctl's default target).
      const resolveTarget = async (): Promise<string | undefined> => {
        const dir = privateOvsDir(running)
        const pid = await readPidfile(ctx.target.fs, `${dir}/ovs-vswitchd.pid`)
        if (pid === undefined) return undefined
        for (const program of ['ovs-vswitchd-dpdk', 'ovs-vswitchd']) {
          const ctl = `${dir}/${program}.${pid}.ctl`
          if (await ctx.target.fs.exists(ctl)) return ctl
        }
        return `${dir}/ovs-vswitchd.${pid}.ctl`
      }
      return {
        before: async () => {
          try {
            target = await resolveTarget()
            before = await readPmdStats(ctx.target.runner, target)
          } catch {
            before = ''
          }
        },
        after: () => guard(async () => {
          const statsAfter = await readPmdStats(ctx.target.runner, target)
          const rxqShow = await readPmdRxqs(ctx.target.runner, target)
          return verifyOvsDpdk({ports: vms.flatMap((v) => vhostUserPorts(model, v)), rxqShow, statsBefore: before, statsAfter})
        }),
      }
    }
    default:
      return {before: async () => {}, after: async () => unverified(kind, `the lab's NICs use ${architecture === 'mixed' ? 'several backends' : 'no backend'}: no single datapath to verify`)}
  }
}

async function accelOf(ctx: Context, running: RunningLab, vm: string): Promise<'kvm' | 'tcg' | null> {
  const pid = await readPidfile(ctx.target.fs, qemuPidfile(running, vm)).catch(() => undefined)
  if (pid === undefined) return null
  const cmdline = await ctx.target.fs.tryReadFile(`/proc/${pid}/cmdline`).catch(() => undefined)
  return cmdline === undefined ? null : accelFromCmdline(cmdline)
}

export function resultFileName(lab: string, test: string): string {
  return `${lab}-${test}.json`
}

export async function testLab(ctx: Context, options: TestLabOptions, deps: MeasureDeps = defaultMeasureDeps): Promise<TestLabResult> {
  const labName = labNameOf(options.lab)
  const running = await readRunningLab(ctx.target.fs, ctx.target.stateDir, labName)
  const model = await deps.loadModel(running, ctx, options.dirs ?? [])
  let tests: TestModel[] = model.tests
  if (options.tests !== undefined && options.tests.length > 0) {
    const unknown = options.tests.filter((t) => !model.tests.some((m) => m.name === t))
    if (unknown.length > 0) throw new VirtlabError('TEST_UNKNOWN', `lab ${model.name} has no test ${unknown.join(', ')}`, {hint: `Its tests: ${model.tests.map((t) => t.name).join(', ') || 'none'}`})
    tests = model.tests.filter((t) => options.tests?.includes(t.name))
  }
  if (tests.length === 0) {
    throw new VirtlabError('LAB_NO_TESTS', `lab ${model.name} defines no tests`, {hint: 'Add a tests: list to the lab (client, server, protocol, duration...).'})
  }
  const {architecture, backends} = labArchitecture(model)
  const outDir = (options.outDir ?? 'results').replace(/\/+$/, '')
  const host = await collectHostProvenance(ctx.target.fs)
  const versions = await collectToolVersions(ctx.target.runner)
  const version = await virtlabVersion(ctx.operator.fs, ctx.operator.packageRoot)
  const programs = await hostPrograms(ctx.target.runner)
  const agents = new Map<string, GuestAgent>()
  const endpointFor = async (plan: {name: string; kind: 'host' | 'vm'; address: string}): Promise<Endpoint> => {
    if (plan.kind === 'host') return new NetnsEndpoint(ctx.target.runner, 'host', plan.address, running.netns, programs)
    let agent = agents.get(plan.name)
    if (agent === undefined) {
      agent = await deps.agentFor(running, plan.name, ctx)
      agents.set(plan.name, agent)
    }
    return new GuestEndpoint(agent, plan.name, plan.address)
  }

  const results: ResultDocument[] = []
  const files: string[] = []
  // A guest that dies during the measurement (its QEMU killed, crashed) would leave iperf3 waiting
  // for minutes: a watchdog notices, stops the measurement and names the guest.
  const watchedVms = [...new Set(tests.flatMap((t) => [t.client, t.server]).filter((e) => e !== 'host'))]
  const watchdog = deps.watchGuests === false ? undefined : startGuestWatchdog(ctx, running, watchedVms)
  const signal = watchdog === undefined ? options.signal : options.signal === undefined ? watchdog.signal : AbortSignal.any([options.signal, watchdog.signal])
  try {
    for (const test of tests) {
      const plans = testEndpoints(model, test)
      const client = await endpointFor(plans.client)
      const server = await endpointFor(plans.server)
      const vm = plans.server.kind === 'vm' ? plans.server.name : plans.client.name
      const vms = [plans.client, plans.server].filter((p) => p.kind === 'vm').map((p) => p.name)
      const probe = datapathProbe(ctx, running, model, vm, vms, architecture)
      ctx.operator.progress({type: 'info', title: `test ${test.name}: ${test.client} -> ${test.server} (${test.protocol}, ${test.direction})`})
      await probe.before()
      const measured = await measureTest(test, client, server, options, {
        clock: deps.clock,
        sleep: deps.sleep,
        ...(signal === undefined ? {} : {signal}),
        progress: (e: MeasureProgress) => ctx.operator.progress({
          type: 'info',
          title: `${test.name}: ${e.title}`,
          ...(e.detail === undefined && e.secondsLeft === undefined ? {} : {detail: [e.detail, e.secondsLeft === undefined ? undefined : `~${e.secondsLeft} s left`].filter(Boolean).join('; ')}),
        }),
      })
      const datapath = await probe.after()
      const degraded = [...running.degraded]
      const document: ResultDocument = {
        kind: RESULT_KIND,
        version: RESULT_VERSION,
        lab: {name: model.name, file: running.file, params: model.params, architecture, backends, driver: running.driver},
        test: {
          name: test.name,
          tool: iperf3Tool.name,
          client: test.client,
          server: test.server,
          protocol: test.protocol,
          direction: test.direction,
          durationS: measured.effective.durationS,
          warmupS: measured.effective.warmupS,
          streams: test.streams,
          sizes: measured.effective.sizes,
          trials: measured.effective.trials,
          bitrate: test.bitrate ?? null,
          zeroLoss: measured.effective.zeroLoss,
          lossTargetPct: measured.effective.lossTargetPct,
          noiseThresholdPct: measured.effective.noiseThresholdPct,
        },
        startedAt: measured.startedAt,
        finishedAt: measured.finishedAt,
        cases: measured.cases,
        zeroLoss: measured.zeroLoss,
        latency: measured.latency,
        datapath: datapath.reason === undefined
          ? {kind: datapath.kind, verified: datapath.verified, evidence: datapath.evidence}
          : {kind: datapath.kind, verified: datapath.verified, evidence: datapath.evidence, reason: datapath.reason},
        degraded,
        provenance: {
          virtlab: version,
          host,
          versions,
          accel: await accelOf(ctx, running, vm),
          commands: measured.commands,
          target: {
            name: ctx.target.name,
            transport: ctx.target.transport,
            url: ctx.target.identity.url ?? null,
            user: ctx.target.identity.user ?? null,
            hostname: ctx.target.identity.hostname ?? null,
          },
        },
      }
      assertResult(document, `the result of ${model.name}/${test.name}`)
      await ctx.operator.fs.mkdir(outDir)
      const file = `${outDir}/${resultFileName(model.name, test.name)}`
      await ctx.operator.fs.writeFile(file, JSON.stringify(document, null, 2) + '\n', {atomic: true, mode: 0o644})
      ctx.operator.progress({type: 'info', title: `wrote ${file}`})
      if (!datapath.verified) ctx.operator.progress({type: 'warn', title: `datapath not verified: ${datapath.reason ?? 'unknown reason'}`})
      for (const label of degraded) ctx.operator.progress({type: 'warn', title: label})
      results.push(document)
      files.push(file)
    }
  } catch (error) {
    const gone = watchdog === undefined ? undefined : (watchdog.gone() ?? (await firstGoneGuest(ctx, running, watchedVms)))
    if (gone !== undefined) {
      throw new VirtlabError('GUEST_GONE', `guest ${gone.vm} of lab ${labName} stopped during the test: ${gone.detail}`, {
        cause: error,
        hint: `Its QEMU is no longer running. See ${running.runDir}/${gone.vm}.console.log; \`virtlab down ${labName}\` removes the rest of the lab.`,
      })
    }
    if (isVirtlabError(error) && error.code.startsWith('GUEST_AGENT')) {
      throw new VirtlabError(error.code, error.message, {
        cause: error,
        hint: error.hint ?? `Is lab ${labName} up and its guests booted? \`virtlab up ${labName}\` waits for the guest agent.`,
      })
    }
    throw error
  } finally {
    watchdog?.stop()
    for (const agent of agents.values()) await agent.close().catch(() => {})
  }
  return {lab: model.name, files, results}
}

/** Is the QEMU of a VM of the running lab alive? undefined when it is; else why not. */
export async function guestGone(ctx: Context, running: RunningLab, vm: string): Promise<string | undefined> {
  const pidfile = qemuPidfile(running, vm)
  const pid = await readPidfile(ctx.target.fs, pidfile).catch(() => undefined)
  if (pid === undefined) return `no QEMU pid in ${pidfile}`
  // /proc/<pid>/exe lasts as long as the process (a zombie has none).
  if (!(await ctx.target.fs.exists(`/proc/${pid}/exe`))) return `its QEMU (pid ${pid}) has exited`
  return undefined
}

async function firstGoneGuest(ctx: Context, running: RunningLab, vms: string[]): Promise<{vm: string; detail: string} | undefined> {
  for (const vm of vms) {
    const detail = await guestGone(ctx, running, vm).catch(() => undefined)
    if (detail !== undefined) return {vm, detail}
  }
  return undefined
}

interface GuestWatchdog {
  signal: AbortSignal
  gone(): {vm: string; detail: string} | undefined
  stop(): void
}

function startGuestWatchdog(ctx: Context, running: RunningLab, vms: string[], intervalMs = 1000): GuestWatchdog {
  const controller = new AbortController()
  let found: {vm: string; detail: string} | undefined
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  const tick = async () => {
    if (stopped) return
    found = await firstGoneGuest(ctx, running, vms)
    if (found !== undefined) {
      controller.abort(new VirtlabError('GUEST_GONE', `guest ${found.vm} stopped during the test: ${found.detail}`))
      return
    }
    if (!stopped) timer = setTimeout(() => void tick(), intervalMs)
  }
  timer = setTimeout(() => void tick(), intervalMs)
  return {
    signal: controller.signal,
    gone: () => found,
    stop: () => {
      stopped = true
      if (timer !== undefined) clearTimeout(timer)
    },
  }
}
