/**
 * Named hosts (hosts.yaml) and host selection: located errors, add/rm keeping the file, and
 * hostile names and URLs refused before any transport starts.
 */
import {mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {RootedFs} from '../../src/host/fs.js'
import {addHost, hostsFilePath, loadHostsFile, removeHost} from '../../src/host/hosts-file.js'
import {resolveHostSpec} from '../../src/host/select.js'

const dir = mkdtempSync(join(tmpdir(), 'virtlab-hosts-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))
const fs = new RootedFs('/')
let n = 0
const envFor = (text?: string) => {
  const sub = join(dir, `hosts-${++n}`)
  const file = join(sub, 'hosts.yaml')
  if (text !== undefined) {
    mkdirSync(sub, {recursive: true})
    writeFileSync(file, text)
  }
  return {VIRTLAB_HOSTS_FILE: file}
}

describe('hosts file', () => {
  it('lives in $XDG_CONFIG_HOME/virtlab/hosts.yaml, ~/.config by default, VIRTLAB_HOSTS_FILE wins', () => {
    expect(hostsFilePath({HOME: '/home/a'})).toBe('/home/a/.config/virtlab/hosts.yaml')
    expect(hostsFilePath({HOME: '/home/a', XDG_CONFIG_HOME: '/cfg'})).toBe('/cfg/virtlab/hosts.yaml')
    expect(hostsFilePath({HOME: '/home/a', XDG_CONFIG_HOME: 'relative'})).toBe('/home/a/.config/virtlab/hosts.yaml')
    expect(hostsFilePath({VIRTLAB_HOSTS_FILE: '/x/h.yaml', XDG_CONFIG_HOME: '/cfg'})).toBe('/x/h.yaml')
  })

  it('add, list and rm keep comments and write the file 0600', async () => {
    const env = envFor()
    expect((await loadHostsFile(fs, env)).hosts).toEqual([])
    await addHost(fs, env, {name: 'lab1', url: 'ssh://root@10.0.0.1:2222', sudo: false})
    await addHost(fs, env, {name: 'ci', url: 'ssh://ci@ci.example.com', sudo: true})
    expect((await loadHostsFile(fs, env)).hosts).toEqual([
      {name: 'lab1', url: 'ssh://root@10.0.0.1:2222', sudo: false},
      {name: 'ci', url: 'ssh://ci@ci.example.com', sudo: true},
    ])
    expect(statSync(env.VIRTLAB_HOSTS_FILE).mode & 0o777).toBe(0o600)
    writeFileSync(env.VIRTLAB_HOSTS_FILE, `# mine\n${readFileSync(env.VIRTLAB_HOSTS_FILE, 'utf8')}`)
    await expect(addHost(fs, env, {name: 'lab1', url: 'ssh://x@y', sudo: false})).rejects.toMatchObject({code: 'HOST_EXISTS'})
    await removeHost(fs, env, 'lab1')
    expect((await loadHostsFile(fs, env)).hosts.map((h) => h.name)).toEqual(['ci'])
    expect(readFileSync(env.VIRTLAB_HOSTS_FILE, 'utf8')).toContain('# mine')
    await expect(removeHost(fs, env, 'lab1')).rejects.toMatchObject({code: 'HOST_UNKNOWN'})
  })

  it('a hosts file in an existing directory (/tmp, /etc...) leaves that directory as it was; a missing one is made 0700', async () => {
    const shared = join(dir, 'shared')
    mkdirSync(shared, {mode: 0o755})
    const {chmodSync} = await import('node:fs')
    chmodSync(shared, 0o1777)
    const env = {VIRTLAB_HOSTS_FILE: join(shared, 'hosts.yaml')}
    await addHost(fs, env, {name: 'lab1', url: 'ssh://root@10.0.0.1', sudo: false})
    expect(statSync(shared).mode & 0o7777).toBe(0o1777)
    const fresh = envFor()
    await addHost(fs, fresh, {name: 'lab1', url: 'ssh://root@10.0.0.1', sudo: false})
    expect(statSync(join(fresh.VIRTLAB_HOSTS_FILE, '..')).mode & 0o7777).toBe(0o700)
  })

  it('reports every problem with file:line:column', async () => {
    const env = envFor('hosts:\n  lab2:\n    url: "ssh://root@a b"\n    sudo: yes\n    extra: 1\n  -bad:\n    url: ssh://x@y\n  ok:\n    url: ssh://-oProxyCommand=id\n')
    const error = await loadHostsFile(fs, env).catch((e: unknown) => e) as {code: string; message: string}
    expect(error.code).toBe('HOSTS_FILE_INVALID')
    const file = env.VIRTLAB_HOSTS_FILE
    expect(error.message).toContain(`${file}:3:10: Invalid SSH host`)
    expect(error.message).toContain(`${file}:4:11: sudo must be true or false`)
    expect(error.message).toContain(`${file}:5:5: unknown key "extra"`)
    expect(error.message).toContain(`${file}:6:3: invalid host name "-bad"`)
    expect(error.message).toContain(`${file}:9:10: Invalid SSH host "ssh://-oProxyCommand=id"`)
  })

  it('a YAML syntax error is located too', async () => {
    const env = envFor('hosts:\n  a: [\n')
    await expect(loadHostsFile(fs, env)).rejects.toMatchObject({code: 'HOSTS_FILE_INVALID', message: expect.stringMatching(/hosts\.yaml:\d+:\d+: YAML/)})
  })
})

describe('host selection', () => {
  const env = envFor('hosts:\n  lab1:\n    url: ssh://root@127.0.0.1:2222\n    sudo: true\n')

  it('defaults to this machine; VIRTLAB_HOST and --host choose another', async () => {
    expect(await resolveHostSpec(undefined, {env: {}, fs})).toMatchObject({name: 'local', transport: 'local'})
    expect(await resolveHostSpec('local', {env, fs})).toMatchObject({transport: 'local'})
    expect(await resolveHostSpec(undefined, {env: {...env, VIRTLAB_HOST: 'lab1'}, fs})).toEqual({name: 'lab1', transport: 'ssh', url: 'ssh://root@127.0.0.1:2222', sudo: true})
    expect(await resolveHostSpec('ssh://u@h:22', {env: {...env, VIRTLAB_HOST: 'lab1'}, fs})).toEqual({name: 'ssh://u@h:22', transport: 'ssh', url: 'ssh://u@h:22', sudo: false})
  })

  it('an unknown name is HOST_UNKNOWN naming the file and the fix', async () => {
    await expect(resolveHostSpec('lab9', {env, fs})).rejects.toMatchObject({code: 'HOST_UNKNOWN', message: expect.stringContaining('known: lab1'), hint: expect.stringContaining('virtlab host add lab9')})
  })

  it.each([
    'ssh://-oProxyCommand=touch${IFS}/tmp/pwned',
    'ssh://-oProxyCommand=x@host',
    'ssh://root@-host',
    'ssh://ro ot@host',
    'ssh://root@host\n-oProxyCommand=x',
    'ssh://root@ho;st',
    'ssh://root@host%h',
    'ssh://root@host:0',
    'ssh://root@host:99999',
    'ssh://root@host/path',
    'http://root@host',
    'ssh:root@host',
  ])('refuses the URL %j before any transport starts', async (url) => {
    await expect(resolveHostSpec(url, {env, fs})).rejects.toMatchObject({code: 'SSH_URL_INVALID'})
  })

  it.each(['-oProxyCommand=x', 'a b', 'a;b', 'a%b', 'a\nb', ''.padEnd(64, 'a')])('refuses the host name %j', async (name) => {
    await expect(resolveHostSpec(name, {env, fs})).rejects.toMatchObject({code: 'HOST_NAME_INVALID'})
  })
})
