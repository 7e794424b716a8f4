import {mkdtempSync, rmSync, writeFileSync, mkdirSync, readdirSync, existsSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {RootedFs} from '../../src/host/fs.js'
import type {CommandRunner, RunOptions, RunResult} from '../../src/host/runner.js'
import {aptConfig, debFileNames, parseDeb822Sources, parseOneLineSources, parseShow, pickMirror, prepareApt, sourcesListText} from '../../src/nested/apt.js'
import {ensureBuild} from '../../src/nested/build.js'
import type {NestedEnv} from '../../src/nested/env.js'
import {kernelPackageFromDepends} from '../../src/nested/kernel.js'
import {hostPaths, validateHostName} from '../../src/nested/layout.js'
import {kernelCommandLine, machineArgv, machineMacs} from '../../src/nested/machine.js'
import {candidatePorts, listeningPorts} from '../../src/nested/ports.js'
import {missingPackages, mmdebstrapArgv} from '../../src/nested/rootfs.js'
import {knownHostsLine, sshConfigText} from '../../src/nested/ssh.js'
import type {BuildManifest} from '../../src/nested/build.js'

const DEB822 = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
`

describe('private apt sources', () => {
  it('picks the mirror the host uses from deb822 and one-line sources, never the security archive', () => {
    expect(pickMirror(parseDeb822Sources(DEB822))).toBe('http://deb.debian.org/debian')
    const oneLine = 'deb http://security.debian.org/debian-security bookworm-security main\n# deb http://x/debian sid main\ndeb [arch=amd64] http://ftp.de.debian.org/debian/ bookworm main contrib\n'
    expect(parseOneLineSources(oneLine)).toHaveLength(2)
    expect(pickMirror(parseOneLineSources(oneLine))).toBe('http://ftp.de.debian.org/debian')
    expect(pickMirror(parseOneLineSources('deb http://security.debian.org/debian-security bookworm-security main\n'))).toBeUndefined()
    expect(pickMirror(parseDeb822Sources('Types: deb\nURIs: http://a/debian\nSuites: bookworm\nEnabled: no\n'))).toBeUndefined()
  })

  it('lists trixie and bookworm-backports main on that mirror, and points every apt directory at its own', () => {
    expect(sourcesListText('http://m/debian')).toBe(
      'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://m/debian trixie main\n' +
      'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://m/debian bookworm-backports main\n')
    const c = aptConfig('/var/lib/virtlab', 'http://m/debian')
    expect(c.options).toEqual([
      '-o', 'Dir::Etc::SourceList=/var/lib/virtlab/nested/apt/sources.list',
      '-o', 'Dir::Etc::SourceParts=/dev/null',
      '-o', 'Dir::State=/var/lib/virtlab/nested/apt/state',
      '-o', 'Dir::Cache=/var/lib/virtlab/nested/apt/cache',
      '-o', 'Dir::State::status=/var/lib/dpkg/status',
    ])
  })

  it('reads apt-cache show, the kernel meta package and .deb names', () => {
    const show = 'Package: linux-image-amd64\nVersion: 6.12.57-1\nDepends: linux-image-6.12.57+deb13-amd64 (= 6.12.57-1)\nFilename: pool/main/l/linux-signed-amd64/linux-image-amd64_6.12.57-1_amd64.deb\n'
    expect(parseShow(show)).toEqual({version: '6.12.57-1', depends: 'linux-image-6.12.57+deb13-amd64 (= 6.12.57-1)', filename: 'pool/main/l/linux-signed-amd64/linux-image-amd64_6.12.57-1_amd64.deb'})
    expect(kernelPackageFromDepends('linux-image-6.12.57+deb13-amd64 (= 6.12.57-1)')).toBe('linux-image-6.12.57+deb13-amd64')
    expect(kernelPackageFromDepends('linux-base')).toBeUndefined()
    expect(debFileNames({name: 'qemu-system-x86', version: '1:10.0.2+ds-2~bpo12+1', filename: 'pool/main/q/qemu/qemu-system-x86_10.0.2+ds-2~bpo12+1_amd64.deb'}))
      .toEqual(['qemu-system-x86_1%3a10.0.2+ds-2~bpo12+1_amd64.deb', 'qemu-system-x86_10.0.2+ds-2~bpo12+1_amd64.deb'])
  })

  it('names the packages mmdebstrap could not find', () => {
    expect(missingPackages('E: Unable to locate package librte-net-vhost99\nE: Package \'nodejs\' has no installation candidate\n')).toEqual(['librte-net-vhost99', 'nodejs'])
    const argv = mmdebstrapArgv('/s/nested/.tmp-root', 'http://m/debian')
    expect(argv.slice(0, 5)).toEqual(['mmdebstrap', '--variant=essential', '--mode=root', '--format=directory', '--skip=cleanup/apt/lists'])
    expect(argv.slice(-3)).toEqual(['trixie', '/s/nested/.tmp-root', 'http://m/debian'])
    expect(argv.find((a) => a.startsWith('--include='))).toMatch(/openssh-server.*dpdk-dev.*openvswitch-switch-dpdk/)
  })
})

describe('the L1 machine', () => {
  const paths = hostPaths('/var/lib/virtlab', '/run/virtlab', 'lab1')
  const build = {
    key: 'b', dir: '/s/build-b', initrd: '/s/build-b/initrd.gz',
    kernel: {dir: '/s/kernel-k', vmlinuz: '/s/kernel-k/boot/vmlinuz-6.12.57+deb13-amd64'},
    qemu: {binary: '/s/qemu-q/usr/bin/qemu-system-x86_64', dataDir: '/s/qemu-q/usr/share/qemu'},
    root: {dir: '/s/root-r'},
  } as unknown as BuildManifest

  it('is q35 with a split irqchip, an intel-iommu, igb behind a root port, -cpu max under TCG, and no network but the restricted SSH forward', () => {
    const argv = machineArgv({name: 'lab1', memoryMiB: 6144, cpus: 2, sshPort: 22345}, build, paths)
    const joined = argv.join(' ')
    expect(argv[0]).toBe('/s/qemu-q/usr/bin/qemu-system-x86_64')
    expect(joined).toContain('-M q35,kernel-irqchip=split')
    expect(joined).toContain('-accel tcg,thread=multi,tb-size=512 -cpu max -smp 2 -m 6144M')
    expect(joined).toContain('-device intel-iommu,intremap=on,caching-mode=on')
    expect(joined).toContain('-nodefaults')
    expect(joined).toContain('-device pcie-root-port,id=rp0,slot=1,chassis=1 -netdev hubport,id=lan,hubid=0 -device igb,netdev=lan,bus=rp0')
    expect(joined).toContain('-netdev user,id=ctl,restrict=on,hostfwd=tcp:127.0.0.1:22345-:22')
    expect(joined).toContain('-serial file:/run/virtlab/hosts/lab1/console.log')
    expect(joined).toContain('-L /s/qemu-q/usr/share/qemu')
    expect(argv.filter((a) => a.startsWith('user,'))).toHaveLength(1)
    expect(argv.filter((a) => a.startsWith('local,')).every((a) => a.includes('readonly=on'))).toBe(true)
    expect(argv.indexOf('intel-iommu,intremap=on,caching-mode=on')).toBeLessThan(argv.indexOf('pcie-root-port,id=rp0,slot=1,chassis=1'))
    expect(kernelCommandLine({name: 'lab1', memoryMiB: 1, cpus: 1, sshPort: 1}))
      .toBe(`console=ttyS0 quiet loglevel=4 panic=-1 no_timer_check intel_iommu=on iommu=pt virtlab.host=lab1 virtlab.ctlmac=${machineMacs('lab1').control}`)
  })

  it('is deterministic and refuses paths QEMU would split', () => {
    const spec = {name: 'lab1', memoryMiB: 2048, cpus: 1, sshPort: 22345}
    expect(machineArgv(spec, build, paths)).toEqual(machineArgv(spec, build, paths))
    expect(machineMacs('lab1')).not.toEqual(machineMacs('lab2'))
    expect(() => machineArgv(spec, build, hostPaths('/var/lib/a,b', '/run/virtlab', 'lab1'))).toThrow(/comma/)
    expect(() => machineArgv({...spec, sshPort: 80}, build, paths)).toThrow(/port/)
  })

  it('validates host names before they reach a path', () => {
    expect(validateHostName('lab1')).toBe('lab1')
    for (const bad of ['', 'Lab1', '-x', '../x', 'a b', 'a;b', `a${'b'.repeat(40)}`]) expect(() => validateHostName(bad)).toThrow(/valid host name/)
  })
})

describe('control channel files', () => {
  it('pins the host key under an alias, with host-key checking on', () => {
    expect(knownHostsLine('lab1', 'ssh-ed25519 AAAAC3Nza root@lab1\n')).toBe('virtlab-lab1 ssh-ed25519 AAAAC3Nza\n')
    const text = sshConfigText('lab1', 22345, hostPaths('/v', '/r', 'lab1'))
    expect(text).toContain('Host virtlab-lab1\n  HostName 127.0.0.1\n  Port 22345\n  User root\n')
    expect(text).toContain('  StrictHostKeyChecking yes\n')
    expect(text).toContain('  HostKeyAlias virtlab-lab1\n')
    expect(text).toContain('  UserKnownHostsFile /v/nested/hosts/lab1/known_hosts\n')
    expect(text).not.toMatch(/StrictHostKeyChecking (no|accept-new)/)
  })

  it('picks a port nobody listens on', async () => {
    const tcp = '  sl  local_address rem_address   st\n   0: 0100007F:56CE 00000000:0000 0A 00000000\n   1: 0100007F:1F90 0100007F:C350 01 00000000\n'
    expect([...listeningPorts(tcp)]).toEqual([0x56ce])
    const root = mkdtempSync(join(tmpdir(), 'nested-ports-'))
    try {
      mkdirSync(join(root, 'proc/net'), {recursive: true})
      const ports = await candidatePorts(new RootedFs(root), 'lab1', 3)
      writeFileSync(join(root, 'proc/net/tcp'), `  sl  local_address rem_address   st\n   0: 0100007F:${ports[0]!.toString(16).toUpperCase()} 00000000:0000 0A 0\n`)
      const again = await candidatePorts(new RootedFs(root), 'lab1', 3, [ports[1]!])
      expect(again).not.toContain(ports[0])
      expect(again).not.toContain(ports[1])
      expect(again[0]).toBe(ports[2])
    } finally {
      rmSync(root, {recursive: true, force: true})
    }
  })
})

/** A runner that answers apt from a table and records what ran. */
class ScriptedRunner implements CommandRunner {
  readonly ran: string[][] = []
  constructor(private readonly answer: (argv: readonly string[], options: RunOptions) => RunResult) {}
  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    this.ran.push([...argv])
    const r = this.answer(argv, options)
    if (r.exitCode !== 0 && !options.allowFailure) throw new Error(`${argv.join(' ')} failed`)
    return r
  }
  async which(program: string): Promise<string | undefined> {
    return `/usr/bin/${program}`
  }
}

describe('building without the network or a package', () => {
  let root: string | undefined
  afterEach(() => {
    if (root !== undefined) rmSync(root, {recursive: true, force: true})
    root = undefined
  })

  function env(runner: CommandRunner): NestedEnv {
    root = mkdtempSync(join(tmpdir(), 'nested-build-'))
    mkdirSync(join(root, 'etc/apt/sources.list.d'), {recursive: true})
    writeFileSync(join(root, 'etc/apt/sources.list.d/debian.sources'), DEB822)
    return {runner, fs: new RootedFs(root), stateDir: '/var/lib/virtlab', runBase: '/run/virtlab', packageRoot: process.cwd(), resourceFs: new RootedFs('/'), progress: () => {}, env: {}}
  }

  it('apt-get update failing is a clear error, and the host\'s own sources are untouched', async () => {
    const runner = new ScriptedRunner((argv) => ({argv, exitCode: argv[0] === 'apt-get' ? 100 : 0, stdout: '', stderr: 'E: Failed to fetch http://deb.debian.org/debian/dists/trixie/InRelease  Could not resolve host\n'}))
    const e = env(runner)
    await expect(prepareApt(e)).rejects.toMatchObject({code: 'NESTED_APT_UPDATE_FAILED'})
    const update = runner.ran.find((a) => a.includes('update'))!
    expect(update).toContain('Dir::Etc::SourceParts=/dev/null')
    expect(readdirSync(join(root!, 'etc/apt/sources.list.d'))).toEqual(['debian.sources'])
    expect(existsSync(join(root!, 'etc/apt/sources.list'))).toBe(false)
  })

  it('a package missing from the mirror names the package and leaves no cache entry', async () => {
    const runner = new ScriptedRunner((argv) => {
      if (argv[0] === 'apt-cache' && argv.at(-1) === 'linux-image-amd64/trixie') {
        return {argv, exitCode: 0, stdout: 'Version: 6.12.57-1\nDepends: linux-image-6.12.57+deb13-amd64 (= 6.12.57-1)\n', stderr: ''}
      }
      if (argv[0] === 'apt-cache') return {argv, exitCode: 100, stdout: '', stderr: 'E: No packages found\n'}
      return {argv, exitCode: 0, stdout: '', stderr: ''}
    })
    const e = env(runner)
    await expect(ensureBuild(e)).rejects.toMatchObject({code: 'NESTED_PACKAGE_MISSING', message: expect.stringContaining('linux-image-6.12.57+deb13-amd64')})
    const nested = readdirSync(join(root!, 'var/lib/virtlab/nested'))
    expect(nested.filter((n) => n !== 'apt')).toEqual([])
  })
})

describe('hosts.yaml entries of nested hosts', () => {
  it('keep their sshConfig, and refuse one that is not an absolute plain path', async () => {
    const {addHost, loadHostsFile} = await import('../../src/host/hosts-file.js')
    const {resolveHostSpec} = await import('../../src/host/select.js')
    const dir = mkdtempSync(join(tmpdir(), 'nested-hosts-'))
    try {
      const env = {VIRTLAB_HOSTS_FILE: join(dir, 'hosts.yaml')}
      const fs = new RootedFs('/')
      await addHost(fs, env, {name: 'lab1', url: 'ssh://root@virtlab-lab1', sudo: false, sshConfig: '/var/lib/virtlab/nested/hosts/lab1/ssh_config'})
      expect((await loadHostsFile(fs, env)).hosts).toEqual([{name: 'lab1', url: 'ssh://root@virtlab-lab1', sudo: false, sshConfig: '/var/lib/virtlab/nested/hosts/lab1/ssh_config'}])
      expect(await resolveHostSpec('lab1', {env, fs})).toEqual({name: 'lab1', transport: 'ssh', url: 'ssh://root@virtlab-lab1', sudo: false, sshConfig: '/var/lib/virtlab/nested/hosts/lab1/ssh_config'})
      writeFileSync(env.VIRTLAB_HOSTS_FILE, 'hosts:\n  lab2:\n    url: ssh://root@x\n    sshConfig: "relative -oProxyCommand=x"\n')
      await expect(loadHostsFile(fs, env)).rejects.toMatchObject({code: 'HOSTS_FILE_INVALID', message: expect.stringContaining('sshConfig must be an absolute path')})
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
