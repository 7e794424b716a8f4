/**
 * A private OpenSSH server on 127.0.0.1 for tests (root; openssh-server installed).
 *
 *   const sshd = await startTestSshd()
 *   // sshd.url = 'ssh://root@127.0.0.1:PORT'; sshd.configFile is a client ssh_config that trusts
 *   // exactly this server's host key and uses this server's authorized key (pass it as -F, e.g.
 *   // VIRTLAB_SSH_CONFIG=sshd.configFile or connectSsh(url, {configFile: sshd.configFile, ...})).
 *   await sshd.stop()
 *
 * Everything lives in a temp directory: sshd_config, host key, an authorized client key, the
 * client config and known_hosts (StrictHostKeyChecking yes). sshd runs in the foreground (-D)
 * as a child of the test process and is stopped, with its connection processes, by stop().
 */
import {execFileSync, spawn, type ChildProcess} from 'node:child_process'
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

export interface TestSshd {
  /** ssh://root@127.0.0.1:PORT (or the user given). */
  url: string
  host: '127.0.0.1'
  port: number
  user: string
  /** Client ssh_config: IdentityFile, UserKnownHostsFile with this host key, StrictHostKeyChecking yes. */
  configFile: string
  /** The temp directory holding everything. */
  dir: string
  identityFile: string
  knownHostsFile: string
  /** The server's pid. */
  readonly pid: number
  /** The sshd log so far (-e: sshd logs to stderr). */
  log(): string
  /** URL for another local user (authorized with the same key). */
  urlFor(user: string): string
  /** Kill the per-connection sshd processes (the connections drop; the listener stays). */
  killSessions(signal?: NodeJS.Signals): number
  /** Stop the server (and its connections) but keep its files: the host is "down". */
  kill(): Promise<void>
  /** Start it again on the same port with the same keys: the host is "back". */
  restart(): Promise<void>
  /** Stop the server and its connections and remove the temp directory. */
  stop(): Promise<void>
}

export interface TestSshdOptions {
  user?: string
  /** Extra sshd_config lines. */
  sshdConfig?: string[]
  /** A host key to reuse (to test a host-key change, start a second server with a different one). */
  hostKey?: string
  /**
   * Let bash source the user's ~/.bashrc for every session, as sshd normally makes it do (bash
   * reads it when started by sshd at SHLVL < 2). Default false: the server sets SHLVL=1 so a
   * heavy ~/.bashrc (this machine's root runs `pyenv init`, ~300 ms) does not slow every command.
   */
  sourceShellRc?: boolean
}

const SSHD = '/usr/sbin/sshd'

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** Direct children of a pid (from /proc/<pid>/stat's ppid field). */
function childrenOf(pid: number): number[] {
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[1]) === pid) out.push(Number(entry))
    } catch {
      // gone
    }
  }
  return out
}

function keygen(file: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'virtlab-test', '-f', file], {stdio: 'ignore'})
}

export async function startTestSshd(options: TestSshdOptions = {}): Promise<TestSshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} missing: install openssh-server (the tests start their own sshd)`)
  const user = options.user ?? 'root'
  const dir = mkdtempSync(join(tmpdir(), 'virtlab-sshd-'))
  // Readable by other users: sshd reads authorized_keys as the logging-in user.
  chmodSync(dir, 0o755)
  mkdirSync('/run/sshd', {recursive: true, mode: 0o755})
  const hostKey = join(dir, 'host_ed25519')
  if (options.hostKey) {
    writeFileSync(hostKey, readFileSync(options.hostKey), {mode: 0o600})
    writeFileSync(`${hostKey}.pub`, readFileSync(`${options.hostKey}.pub`))
  } else {
    keygen(hostKey)
  }
  const identityFile = join(dir, 'id_ed25519')
  keygen(identityFile)
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${identityFile}.pub`), {mode: 0o644})

  let lastError = ''
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    const sshdConfig = join(dir, 'sshd_config')
    writeFileSync(sshdConfig, [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'AllowStreamLocalForwarding yes',
      'X11Forwarding no',
      'PrintMotd no',
      'MaxStartups 100:30:200',
      'LogLevel VERBOSE',
      ...(options.sourceShellRc ? [] : ['SetEnv SHLVL=1']),
      ...(options.sshdConfig ?? []),
      '',
    ].join('\n'))
    const knownHostsFile = join(dir, 'known_hosts')
    writeFileSync(knownHostsFile, `[127.0.0.1]:${port} ${readFileSync(`${hostKey}.pub`, 'utf8').trim()}\n`)
    const configFile = join(dir, 'ssh_config')
    writeFileSync(configFile, [
      'Host *',
      `  IdentityFile ${identityFile}`,
      '  IdentitiesOnly yes',
      '  IdentityAgent none',
      `  UserKnownHostsFile ${knownHostsFile}`,
      '  GlobalKnownHostsFile /dev/null',
      '  StrictHostKeyChecking yes',
      '  PasswordAuthentication no',
      '  KbdInteractiveAuthentication no',
      '',
    ].join('\n'))

    let log = ''
    let child: ChildProcess
    const launch = async (): Promise<boolean> => {
      child = spawn(SSHD, ['-D', '-e', '-f', sshdConfig], {stdio: ['ignore', 'ignore', 'pipe']})
      const mark = log.length
      child.stderr?.setEncoding('utf8')
      child.stderr?.on('data', (chunk: string) => {
        log += chunk
      })
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 10_000)
        child.stderr?.on('data', () => {
          if (/Server listening on 127\.0\.0\.1 port/.test(log.slice(mark))) {
            clearTimeout(timer)
            resolve(true)
          }
        })
        child.once('exit', () => {
          clearTimeout(timer)
          resolve(false)
        })
      })
    }
    if (!(await launch())) {
      lastError = log
      child!.kill('SIGKILL')
      continue
    }
    const killSessions = (signal: NodeJS.Signals = 'SIGKILL') => {
      const kids = childrenOf(child.pid ?? 0)
      for (const kid of kids) {
        try {
          process.kill(kid, signal)
        } catch {
          // gone already
        }
      }
      return kids.length
    }
    const kill = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      killSessions('SIGTERM')
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.kill('SIGTERM')
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))])
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      killSessions('SIGKILL')
    }
    const sshd: TestSshd = {
      url: `ssh://${user}@127.0.0.1:${port}`,
      host: '127.0.0.1',
      port,
      user,
      configFile,
      dir,
      identityFile,
      knownHostsFile,
      get pid() {
        return child.pid ?? 0
      },
      log: () => log,
      urlFor: (other) => `ssh://${other}@127.0.0.1:${port}`,
      killSessions,
      kill,
      async restart() {
        await kill()
        if (!(await launch())) throw new Error(`sshd did not restart:\n${log}`)
      },
      async stop() {
        await kill()
        rmSync(dir, {recursive: true, force: true})
      },
    }
    return sshd
  }
  rmSync(dir, {recursive: true, force: true})
  throw new Error(`sshd did not start:\n${lastError}`)
}

/** A throwaway local user for non-root tests (login shell /bin/sh, no password, a temp home). */
export function createTestUser(prefix = 'vlt'): {name: string; uid: number; gid: number; home: string; remove(): void} {
  const name = `${prefix}${process.pid % 100000}${Math.floor(Math.random() * 1000)}`
  const home = mkdtempSync(join(tmpdir(), `virtlab-home-${name}-`))
  execFileSync('useradd', ['-M', '-U', '-d', home, '-s', '/bin/sh', '-p', '*', name], {stdio: 'ignore'})
  const uid = Number(execFileSync('id', ['-u', name], {encoding: 'utf8'}).trim())
  const gid = Number(execFileSync('id', ['-g', name], {encoding: 'utf8'}).trim())
  execFileSync('chown', [`${uid}:${gid}`, home])
  return {
    name,
    uid,
    gid,
    home,
    remove() {
      execFileSync('userdel', ['-f', name], {stdio: 'ignore'})
      rmSync(home, {recursive: true, force: true})
    },
  }
}
