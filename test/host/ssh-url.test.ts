import {describe, expect, it} from 'vitest'

import {parseSshHostEntry, parseSshUrl, sshDestination} from '../../src/host/ssh/url.js'

describe('parseSshUrl', () => {
  it.each([
    ['ssh://lab1', {user: undefined, host: 'lab1', port: undefined}],
    ['ssh://root@127.0.0.1:2222', {user: 'root', host: '127.0.0.1', port: 2222}],
    ['ssh://ci.user@lab-1.example.com', {user: 'ci.user', host: 'lab-1.example.com', port: undefined}],
    ['ssh://root@[::1]:22', {user: 'root', host: '::1', port: 22}],
    ['ssh://root@[fe80::1]', {user: 'root', host: 'fe80::1', port: undefined}],
    ['ssh://host/', {user: undefined, host: 'host', port: undefined}],
  ])('accepts %s', (url, expected) => {
    expect(parseSshUrl(url)).toMatchObject({...expected, sudo: false})
  })

  it('normalises the URL and builds the ssh destination', () => {
    const target = parseSshUrl('ssh://root@[::1]:2222/')
    expect(target.url).toBe('ssh://root@[::1]:2222')
    expect(sshDestination(target)).toEqual({destination: 'root@::1', portArgs: ['-p', '2222']})
    expect(sshDestination(parseSshUrl('ssh://h'))).toEqual({destination: 'h', portArgs: []})
  })

  it.each([
    'ssh://-oProxyCommand=touch /tmp/pwned',
    'ssh://-oProxyCommand=id',
    'ssh://root@-oProxyCommand=id',
    'ssh://-root@host',
    'ssh://-l@host',
    'ssh://root@-host',
    'ssh://root@host name',
    'ssh://root@host\nProxyCommand id',
    'ssh://ro ot@host',
    'ssh://root@host;id',
    'ssh://root;id@host',
    'ssh://root@host%h',
    'ssh://%u@host',
    'ssh://root@ho$st',
    "ssh://root@ho'st",
    'ssh://root@ho`id`st',
    'ssh://root@host\t',
    'ssh://root@host\u0000',
    'ssh://root@host\u007f',
    'ssh://root@hóst',
    'ssh://root@host:0',
    'ssh://root@host:65536',
    'ssh://root@host:22x',
    'ssh://root@host:-22',
    'ssh://root@host:',
    'ssh://root@',
    'ssh://@host',
    'ssh://',
    'ssh://root@host/path',
    'ssh://root@host?x=1',
    'ssh://a@b@host',
    'ssh://root@[::1',
    'ssh://root@[zz]:22',
    'http://host',
    'root@host',
    '',
  ])('rejects %j with SSH_URL_INVALID', (url) => {
    expect(() => parseSshUrl(url)).toThrow(expect.objectContaining({code: 'SSH_URL_INVALID', hint: expect.stringContaining('ssh://')}))
  })

  it('host entries: {url, sudo}', () => {
    expect(parseSshHostEntry({url: 'ssh://ci@lab1', sudo: true})).toMatchObject({user: 'ci', host: 'lab1', sudo: true})
    expect(parseSshHostEntry({url: 'ssh://lab1'})).toMatchObject({sudo: false})
    expect(() => parseSshHostEntry({url: 'ssh://lab1', sudo: 'yes'})).toThrow(expect.objectContaining({code: 'SSH_HOST_ENTRY_INVALID'}))
    expect(() => parseSshHostEntry({url: 'ssh://lab1', proxy: 'x'})).toThrow(expect.objectContaining({code: 'SSH_HOST_ENTRY_INVALID'}))
    expect(() => parseSshHostEntry({url: 42})).toThrow(expect.objectContaining({code: 'SSH_HOST_ENTRY_INVALID'}))
    expect(() => parseSshHostEntry('ssh://lab1')).toThrow(expect.objectContaining({code: 'SSH_HOST_ENTRY_INVALID'}))
    expect(() => parseSshHostEntry({url: 'ssh://-oProxyCommand=id'})).toThrow(expect.objectContaining({code: 'SSH_URL_INVALID'}))
  })
})
