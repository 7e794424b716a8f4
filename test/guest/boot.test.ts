/**
 * Real, slow: builds the built-in guest image (apt-get download of Debian's cloud kernel and
 * qemu-guest-agent, an initramfs written by virtlab), boots it under QEMU TCG on a tap in a
 * network namespace this test creates, and talks to the real qemu-ga through the chardev socket
 * (and, in the second block, through libvirt). Needs root, qemu-system-x86_64, busybox-static,
 * iperf3, apt with the Debian mirror (the project's machines and CI have all of these).
 */
import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {chmodSync, existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type Context, createContext, type ProgressEvent} from '../../src/app/context.js'
import {buildGuestImage, type ImageBuildResult, showGuestImage} from '../../src/app/image.js'
import {connectSocketAgent, type GuestAgentClient, libvirtAgent, waitForAgent} from '../../src/guest/agent.js'
import {guestKernelCmdline, waitForReadyMarker} from '../../src/guest/boot.js'
import {ensureImage, REQUIRED_MODULES} from '../../src/guest/image.js'
import {ensureLibvirtd, type StartedDaemon, stopStartedDaemons} from '../../src/host/daemons.js'
import {QmpClient} from '../../src/host/socket.js'

const BOOT_TIMEOUT_MS = 60_000

const stateDir = mkdtempSync(join(tmpdir(), 'virtlab-guest-'))
chmodSync(stateDir, 0o755) // libvirt's QEMU (user libvirt-qemu) reads the kernel from here
const events: ProgressEvent[] = []
const commands: string[][] = []
const ctx: Context = createContext({stateDir, progress: (e) => events.push(e), onCommand: (argv) => commands.push([...argv])})
let image: ImageBuildResult
let buildMs = 0

function sh(argv: string[]): string {
  return execFileSync(argv[0] as string, argv.slice(1), {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']})
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

beforeAll(async () => {
  const started = Date.now()
  image = await buildGuestImage(ctx)
  buildMs = Date.now() - started
}, 600_000)

afterAll(() => {
  rmSync(stateDir, {recursive: true, force: true})
})

describe('virtlab image build (real)', () => {
  it('builds a kernel and a gzip newc initramfs with busybox, iperf3, qemu-ga and the virtio modules', () => {
    console.log(`[guest] build ${(buildMs / 1000).toFixed(1)} s; kernel ${image.manifest.kernel.package ?? image.manifest.kernel.version} ${image.manifest.kernel.packageVersion ?? ''}; ` +
      `initrd ${(image.manifest.initrdBytes / 1048576).toFixed(2)} MiB; kernel ${(image.manifest.kernelBytes / 1048576).toFixed(2)} MiB`)
    expect(image.built).toBe(true)
    expect(image.kernel).toBe(join(stateDir, 'images/builtin/vmlinuz'))
    expect(image.initrd).toBe(join(stateDir, 'images/builtin/initrd.gz'))
    expect(readlinkSync(join(stateDir, 'images/builtin'))).toBe(`builtin-${image.key}`)
    expect(statSync(image.kernel).size).toBe(image.manifest.kernelBytes)
    expect(image.manifest.agent.kind).toBe('qemu-ga')

    // The initramfs as the kernel will see it: list it with the system's cpio.
    const work = mkdtempSync(join(tmpdir(), 'virtlab-initrd-'))
    try {
      const cpioFile = join(work, 'initrd.cpio')
      writeFileSync(cpioFile, gunzipSync(readFileSync(image.initrd)))
      const listing = execFileSync('cpio', ['-it', '--quiet', '-F', cpioFile], {encoding: 'utf8'}).split('\n')
      for (const path of ['init', 'bin/busybox', 'bin/sh', 'sbin/ip', 'usr/bin/iperf3', 'usr/sbin/qemu-ga', 'lib64/ld-linux-x86-64.so.2', 'dev/console', 'etc/virtlab/modules']) {
        expect(listing, path).toContain(path)
      }
      expect(listing.some((p) => /^lib\/x86_64-linux-gnu\/libglib-2\.0\.so\.0$/.test(p))).toBe(true)
      expect(listing.some((p) => /^lib\/x86_64-linux-gnu\/libiperf\.so\.0$/.test(p))).toBe(true)
      // The module list /init loads, in the order the brief requires (skipping built-ins).
      execFileSync('cpio', ['-id', '--quiet', '-F', cpioFile, 'etc/virtlab/modules', 'init'], {cwd: work})
      const modules = readFileSync(join(work, 'etc/virtlab/modules'), 'utf8').trim().split('\n')
      const required = modules.filter((m) => (REQUIRED_MODULES as readonly string[]).includes(m))
      expect(required).toEqual(REQUIRED_MODULES.filter((m) => !image.manifest.modules.builtin.includes(m)))
      expect(modules).toEqual(image.manifest.modules.load)
      expect(readFileSync(join(work, 'init'), 'utf8')).toBe(readFileSync(join(ctx.operator.packageRoot, 'guest/init.sh'), 'utf8'))
      expect(statSync(join(work, 'init')).mode & 0o111).not.toBe(0)
    } finally {
      rmSync(work, {recursive: true, force: true})
    }
    expect(events.some((e) => e.type === 'step-done' && e.stepId === 'image:initramfs')).toBe(true)
    // No shell anywhere: every command is an argv.
    expect(commands.some((c) => c[0] === 'sh' || c[0] === 'bash')).toBe(false)
  })

  it('is cached: building again with the same inputs reuses it, ensureImage is a no-op, --force rebuilds', async () => {
    commands.length = 0
    const again = await buildGuestImage(ctx)
    expect(again.built).toBe(false)
    expect(again.key).toBe(image.key)
    expect(commands.some((c) => c[0] === 'apt-get' || c[0] === 'dpkg')).toBe(false)

    commands.length = 0
    const ensured = await ensureImage(ctx)
    expect(ensured.built).toBe(false)
    expect(ensured.paths.kernel).toBe(image.kernel)
    expect(commands).toEqual([]) // not even apt-cache

    const shown = await showGuestImage(ctx)
    expect(shown.present).toBe(true)
    expect(shown.manifest?.key).toBe(image.key)

    const before = readFileSync(image.initrd)
    // An entry left by an older build (other inputs) is pruned by the next build.
    const stale = join(stateDir, 'images/builtin-00000000deadbeef')
    execFileSync('mkdir', ['-p', stale])
    const forced = await buildGuestImage(ctx, {force: true})
    expect(existsSync(stale)).toBe(false)
    expect(forced.built).toBe(true)
    expect(forced.key).toBe(image.key)
    // Deterministic: the same inputs give the same initramfs bytes.
    expect(Buffer.compare(readFileSync(forced.initrd), before)).toBe(0)
    expect(existsSync(join(stateDir, `images/builtin-${image.key}/manifest.json`))).toBe(true)
  }, 300_000)
})

describe('the built-in guest under QEMU TCG, agent over the chardev socket (real)', () => {
  const ns = `vltest-${process.pid}`
  const runDir = mkdtempSync(join(tmpdir(), 'virtlab-run-'))
  const vm = 'guest1'
  const mac = '52:54:00:7a:00:02'
  const guestCidr = '10.99.7.2/24'
  const consoleLog = join(runDir, `${vm}.console.log`)
  const qgaSock = join(runDir, `${vm}.qga.sock`)
  const qmpSock = join(runDir, `${vm}.qmp.sock`)
  let qemu: ChildProcess | undefined
  let qemuExit: Promise<number | null> | undefined
  let agent: GuestAgentClient | undefined
  let readyMs = 0

  beforeAll(() => {
    sh(['ip', 'netns', 'add', ns])
    sh(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up'])
    sh(['ip', 'netns', 'exec', ns, 'ip', 'tuntap', 'add', 'dev', 'vltap0', 'mode', 'tap'])
    sh(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'vltap0', 'up'])
    sh(['ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', '10.99.7.1/24', 'dev', 'vltap0'])
  })

  afterAll(async () => {
    await agent?.close()
    if (qemu?.pid !== undefined && alive(qemu.pid)) qemu.kill('SIGKILL')
    await qemuExit
    try {
      sh(['ip', 'netns', 'del', ns])
    } catch {
      // already gone
    }
    rmSync(runDir, {recursive: true, force: true})
  })

  it('boots to the ready marker', async () => {
    const argv = [
      'ip', 'netns', 'exec', ns,
      'qemu-system-x86_64', '-accel', 'tcg', '-m', '256', '-smp', '1',
      '-display', 'none', '-nodefaults', '-no-reboot', '-name', vm,
      '-kernel', image.kernel, '-initrd', image.initrd,
      '-append', guestKernelCmdline(vm, [{mac, cidr: guestCidr}]),
      '-serial', `file:${consoleLog}`,
      '-netdev', 'tap,id=n0,ifname=vltap0,script=no,downscript=no,vhost=off',
      '-device', `virtio-net-pci,netdev=n0,mac=${mac}`,
      '-device', 'virtio-serial-pci,id=vser0',
      '-chardev', `socket,id=qga0,path=${qgaSock},server=on,wait=off`,
      '-device', 'virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0',
      '-chardev', `socket,id=qmp0,path=${qmpSock},server=on,wait=off`,
      '-mon', 'chardev=qmp0,mode=control',
    ]
    const started = Date.now()
    qemu = spawn(argv[0] as string, argv.slice(1), {stdio: ['ignore', 'ignore', 'pipe']})
    let stderr = ''
    qemu.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
    const child = qemu
    qemuExit = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
    await waitForReadyMarker(ctx.target.fs, consoleLog, vm, {timeoutMs: BOOT_TIMEOUT_MS, isAlive: () => child.exitCode === null && child.signalCode === null})
      .catch((error: unknown) => {
        throw new Error(`${String(error)}\nqemu stderr: ${stderr}\nconsole: ${existsSync(consoleLog) ? readFileSync(consoleLog, 'utf8') : ''}`)
      })
    readyMs = Date.now() - started
    console.log(`[guest] QEMU start to VIRTLAB-READY under TCG: ${(readyMs / 1000).toFixed(2)} s`)
    expect(readFileSync(consoleLog, 'utf8')).toContain(`VIRTLAB-READY ${vm}`)
    expect(readFileSync(consoleLog, 'utf8')).not.toContain('VIRTLAB-NET-MISSING')
    expect(readyMs).toBeLessThan(BOOT_TIMEOUT_MS)
  }, BOOT_TIMEOUT_MS + 10_000)

  it('answers guest-ping through the real qemu-ga', async () => {
    agent = await connectSocketAgent(qgaSock)
    const waited = await waitForAgent(agent, 20_000)
    console.log(`[guest] agent answered ${waited} ms after the ready marker was seen`)
    await agent.ping()
  }, 30_000)

  it('runs iperf3 --version with guest-exec and captures its output', async () => {
    const result = await (agent as GuestAgentClient).exec('/usr/bin/iperf3', ['--version'], {timeoutMs: 20_000})
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toContain('iperf 3')
    // PATH lookup works too, and a failing command reports its exit code and stderr.
    const failed = await (agent as GuestAgentClient).exec('ls', ['/no/such/path'], {timeoutMs: 20_000})
    expect(failed.exitCode).not.toBe(0)
    expect(failed.stderr).toMatch(/no\/such\/path/)
  }, 60_000)

  it('configured the address given on the kernel command line on the NIC with that MAC', async () => {
    const result = await (agent as GuestAgentClient).exec('ip', ['-o', 'addr', 'show'], {timeoutMs: 20_000})
    expect(result.exitCode).toBe(0)
    const line = result.stdout.split('\n').find((l) => l.includes(`inet ${guestCidr}`))
    expect(line, result.stdout).toBeDefined()
    const ifname = /^\d+:\s+(\S+)/.exec(line as string)?.[1] as string
    const link = await (agent as GuestAgentClient).exec('cat', [`/sys/class/net/${ifname}/address`])
    expect(link.stdout.trim()).toBe(mac)
    const hostname = await (agent as GuestAgentClient).exec('hostname', [])
    expect(hostname.stdout.trim()).toBe(vm)
  }, 60_000)

  it('carries traffic over virtio-net: ping and a 1 s iperf3 from the namespace to the guest', async () => {
    const pid = await (agent as GuestAgentClient).execBackground('/usr/bin/iperf3', ['-s', '-1', '-p', '5201'])
    expect(pid).toBeGreaterThan(0)
    const status = await (agent as GuestAgentClient).execStatus(pid)
    expect(status.exited).toBe(false)
    // The guest reaches the namespace's end of the tap (busybox ping in the guest).
    const ping = await (agent as GuestAgentClient).exec('ping', ['-c', '1', '-W', '5', '10.99.7.1'], {timeoutMs: 20_000})
    expect(ping.exitCode, ping.stdout + ping.stderr).toBe(0)
    expect(ping.stdout).toContain('1 packets received')
    // Wait until the server listens (it is started asynchronously by the agent).
    let listening = ''
    for (let attempt = 0; attempt < 50 && !/:5201\s/.test(listening); attempt++) {
      listening = (await (agent as GuestAgentClient).exec('netstat', ['-ltn'])).stdout
      if (!/:5201\s/.test(listening)) await new Promise((r) => setTimeout(r, 200))
    }
    expect(listening).toMatch(/:5201\s/)
    const report = execFileSync('ip', ['netns', 'exec', ns, 'iperf3', '-c', '10.99.7.2', '-p', '5201', '-t', '1', '-J'], {encoding: 'utf8'})
    const parsed = JSON.parse(report) as {end?: {sum_received?: {bits_per_second?: number}}}
    const bps = parsed.end?.sum_received?.bits_per_second
    expect(bps, report).toBeGreaterThan(0)
    console.log(`[guest] iperf3 namespace -> guest over tap + virtio-net (TCG): ${((bps as number) / 1e9).toFixed(2)} Gbit/s`)
    // iperf3 -s -1 exits after one test: the agent reports it.
    let final = await (agent as GuestAgentClient).execStatus(pid)
    for (let i = 0; i < 50 && !final.exited; i++) {
      await new Promise((r) => setTimeout(r, 100))
      final = await (agent as GuestAgentClient).execStatus(pid)
    }
    expect(final).toMatchObject({exited: true, exitCode: 0})
  }, 90_000)

  it('a new connection resynchronises past stale data left by an abandoned one', async () => {
    await agent?.close()
    // A client that sends half a command and a command whose reply it never reads, then leaves.
    const {UnixSocketClient} = await import('../../src/host/socket.js')
    const rude = await UnixSocketClient.connect(qgaSock)
    await rude.write('{"execute":"guest-ping"}\n{"execute":"guest-info"}\n{"execute": "guest-exec", "argu')
    await new Promise((r) => setTimeout(r, 500))
    rude.close()
    agent = await connectSocketAgent(qgaSock)
    const result = await agent.exec('echo', ['resynced'], {timeoutMs: 20_000})
    expect(result).toMatchObject({exitCode: 0, stdout: 'resynced\n'})
  }, 60_000)

  it('stops with QMP quit and the QEMU process is gone', async () => {
    const qmp = await QmpClient.connect(qmpSock)
    expect(await qmp.queryStatus()).toMatchObject({status: 'running', running: true})
    await qmp.quit()
    const pid = qemu?.pid as number
    const code = await Promise.race([qemuExit, new Promise((r) => setTimeout(() => r('timeout'), 15_000))])
    expect(code).toBe(0)
    expect(alive(pid)).toBe(false)
    expect(existsSync(`/proc/${pid}`)).toBe(false)
  }, 30_000)
})

describe('the built-in guest under libvirt (domain type qemu), agent through virsh qemu-agent-command (real)', () => {
  const domain = `vltest-${process.pid}`
  const runDir = mkdtempSync(join(tmpdir(), 'virtlab-lvrun-'))
  const mac = '52:54:00:7a:01:02'
  const guestCidr = '10.0.2.15/24'
  const consoleLog = join(runDir, `${domain}.console.log`)
  let daemons: StartedDaemon[] = []
  let defined = false

  beforeAll(async () => {
    const t = Date.now()
    daemons = await ensureLibvirtd(ctx)
    console.log(`[guest] libvirt: started ${daemons.map((d) => d.name).join(', ') || 'nothing (already running)'} in ${Date.now() - t} ms`)
    // libvirt's QEMU runs as libvirt-qemu: it writes the console log here.
    chmodSync(runDir, 0o777)
  }, 120_000)

  afterAll(async () => {
    if (defined) {
      try {
        sh(['virsh', '-c', 'qemu:///system', 'destroy', domain])
      } catch {
        // not running
      }
      sh(['virsh', '-c', 'qemu:///system', 'undefine', domain])
    }
    const stopped = await stopStartedDaemons(ctx, daemons)
    for (const s of stopped) expect(s.stopped, s.detail).toBe(true)
    rmSync(runDir, {recursive: true, force: true})
  }, 120_000)

  it('boots, answers guest-ping and guest-exec through libvirt, and is destroyed', async () => {
    const xml = `<domain type='qemu'>
  <name>${domain}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${image.kernel}</kernel>
    <initrd>${image.initrd}</initrd>
    <cmdline>${guestKernelCmdline(domain, [{mac, cidr: guestCidr}])}</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='user'>
      <mac address='${mac}'/>
      <model type='virtio'/>
    </interface>
    <serial type='file'>
      <source path='${consoleLog}'/>
      <target port='0'/>
    </serial>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <memballoon model='none'/>
  </devices>
</domain>
`
    const xmlFile = join(runDir, `${domain}.xml`)
    writeFileSync(xmlFile, xml)
    sh(['virsh', '-c', 'qemu:///system', 'define', xmlFile])
    defined = true
    const started = Date.now()
    sh(['virsh', '-c', 'qemu:///system', 'start', domain])
    await waitForReadyMarker(ctx.target.fs, consoleLog, domain, {timeoutMs: BOOT_TIMEOUT_MS})
    console.log(`[guest] libvirt start to VIRTLAB-READY under TCG: ${((Date.now() - started) / 1000).toFixed(2)} s`)

    const agent = libvirtAgent(ctx.target.runner, domain)
    const waited = await waitForAgent(agent, 30_000)
    console.log(`[guest] libvirt: agent answered ${waited} ms after the ready marker`)
    const version = await agent.exec('/usr/bin/iperf3', ['--version'], {timeoutMs: 20_000})
    expect(version.exitCode).toBe(0)
    expect(version.stdout).toContain('iperf 3')
    const addr = await agent.exec('ip', ['-o', 'addr', 'show'], {timeoutMs: 20_000})
    expect(addr.stdout).toContain(`inet ${guestCidr}`)

    console.log(`[guest] libvirt: exec done ${Date.now() - started} ms after start`)
    const pid = Number(readFileSync(`/run/libvirt/qemu/${domain}.pid`, 'utf8').trim())
    expect(alive(pid)).toBe(true)
    sh(['virsh', '-c', 'qemu:///system', 'destroy', domain])
    sh(['virsh', '-c', 'qemu:///system', 'undefine', domain])
    defined = false
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100))
    expect(alive(pid)).toBe(false)
  }, 180_000)
})
