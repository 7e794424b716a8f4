/** ssh's diagnostics -> connection error codes; tool stderr -> errno codes; errors shaped like node:fs's. */
import {readFile} from 'node:fs/promises'
import {describe, expect, it} from 'vitest'

import {RootedFs} from '../../src/host/fs.js'
import {ExecaRunner} from '../../src/host/runner.js'
import {classifySshFailure, connectSsh, errnoFromStderr, remoteErrnoError, sshFailureError, parseSshUrl} from '../../src/host/ssh/index.js'

describe('classifySshFailure', () => {
  it.each([
    ['ssh: connect to host 10.0.0.1 port 22: Connection refused', 'unreachable'],
    ['ssh: connect to host lab1 port 22: Connection timed out', 'unreachable'],
    ['ssh: connect to host lab1 port 22: No route to host', 'unreachable'],
    ['ssh: Could not resolve hostname lab9: Name or service not known', 'resolve'],
    ['root@127.0.0.1: Permission denied (publickey).', 'auth'],
    ['Received disconnect from 1.2.3.4 port 22:2: Too many authentication failures', 'auth'],
    ['@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.', 'hostkey-mismatch'],
    ['No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\nHost key verification failed.', 'hostkey-unknown'],
    ['Timeout, server lab1 not responding.', 'lost'],
    ['mux_client_request_session: read from master failed: Broken pipe', 'lost'],
    ['kex_exchange_identification: read: Connection reset by peer', 'lost'],
    ['some remote tool wrote this', undefined],
  ])('%j -> %s', (stderr, kind) => {
    expect(classifySshFailure(stderr)).toBe(kind)
  })

  it('every error names the host', () => {
    const target = parseSshUrl('ssh://ci@lab1:2222')
    for (const stderr of ['Connection refused', 'Permission denied (publickey)', 'Host key verification failed.', 'weird']) {
      const error = sshFailureError(target, `ssh: connect to host lab1 port 2222: ${stderr}`)
      expect(error.message).toContain('ssh://ci@lab1:2222')
      expect(error.hint).toBeTruthy()
    }
  })
})

describe('errnoFromStderr', () => {
  it.each([
    ['cat: write error: Device or resource busy', 'EBUSY'],
    ['cat: /sys/x: Invalid argument', 'EINVAL'],
    ['cat: write error: Numerical result out of range', 'ERANGE'],
    ['virtlab-write: 9: cannot create /x/y: Directory nonexistent', 'ENOENT'],
    ['virtlab-write: line 9: /x/y: No such file or directory', 'ENOENT'],
    ['virtlab-write: line 10: /tmp/lock: cannot overwrite existing file', 'EEXIST'],
    ['virtlab-write: 10: cannot create /tmp/lock: File exists', 'EEXIST'],
    ["mv: cannot overwrite directory '/t/d' with non-directory", 'EISDIR'],
    ["mv: cannot overwrite '/t/d': Directory not empty", 'ENOTEMPTY'],
    ["chmod: changing permissions of '/x': Operation not permitted", 'EPERM'],
    ['cat: /root/x: Permission denied', 'EACCES'],
    ['cat: write error: No such device', 'ENODEV'],
    ['cat: write error: No such device or address', 'ENXIO'],
    ['@errno ENOTDIR', 'ENOTDIR'],
    ['something else entirely', 'EIO'],
  ])('%j -> %s', (stderr, code) => {
    expect(errnoFromStderr(stderr)).toBe(code)
  })

  it('the error is shaped like node:fs\'s', async () => {
    const local = (await readFile('/nonexistent/x').then(() => undefined, (e: unknown) => e)) as NodeJS.ErrnoException
    const remote = remoteErrnoError('ENOENT', 'open', '/nonexistent/x', 'ssh://lab1')
    expect({message: remote.message, code: remote.code, errno: (remote as {errno?: number}).errno, syscall: (remote as {syscall?: string}).syscall, path: (remote as {path?: string}).path})
      .toEqual({message: local.message, code: local.code, errno: local.errno, syscall: local.syscall, path: local.path})
  })
})

describe('the control directory', () => {
  it('a TMPDIR with characters ssh would expand is SSH_CONTROL_DIR; ssh never runs', async () => {
    const calls: string[][] = []
    const runner = new (class extends ExecaRunner {
      override run(argv: readonly string[]) {
        calls.push([...argv])
        return super.run(argv)
      }
    })()
    await expect(connectSsh('ssh://root@127.0.0.1:1', {localRunner: runner, localFs: new RootedFs('/'), localTmpDir: '/tmp/a%hb'})).rejects.toMatchObject({code: 'SSH_CONTROL_DIR'})
    expect(calls).toEqual([])
  })
})
