/**
 * shellQuote/remoteCommand against real shells: the quoted command string is parsed by `sh -c`
 * (dash) and `bash -c`, as a remote login shell would, and must give back the exact bytes.
 */
import {execFileSync} from 'node:child_process'
import {describe, expect, it} from 'vitest'

import {remoteCommand, shellQuote} from '../../src/host/ssh/quote.js'

const SHELLS = ['sh', 'bash']

/** The argv a shell parses out of remoteCommand(['printf', '%s\0', ...args]), as bytes. */
function roundTrip(shell: string, args: string[]): Buffer[] {
  const out = execFileSync(shell, ['-c', remoteCommand(['printf', '%s\\0', ...args])], {maxBuffer: 64 * 1024 * 1024})
  const parts: Buffer[] = []
  let start = 0
  for (let i = 0; i < out.length; i++) {
    if (out[i] === 0) {
      parts.push(out.subarray(start, i))
      start = i + 1
    }
  }
  expect(start).toBe(out.length)
  return parts
}

function expectRoundTrip(args: string[]): void {
  for (const shell of SHELLS) {
    const parts = roundTrip(shell, args)
    expect(parts.map((p) => p.toString('hex')), shell).toEqual(args.map((a) => Buffer.from(a, 'utf8').toString('hex')))
  }
}

describe('shellQuote', () => {
  it('keeps plain words bare and quotes the rest', () => {
    expect(shellQuote('ip')).toBe('ip')
    expect(shellQuote('/sys/bus/pci/devices/0000:3b:00.0/sriov_numvfs')).toBe('/sys/bus/pci/devices/0000:3b:00.0/sriov_numvfs')
    expect(shellQuote('')).toBe("''")
    expect(shellQuote("it's")).toBe(`'it'\\''s'`)
    expect(shellQuote('a=b')).toBe("'a=b'")
    expect(shellQuote('~root')).toBe("'~root'")
  })

  it('every byte 0x01-0xff, each alone, round-trips through sh -c and bash -c', () => {
    const args: string[] = []
    for (let c = 1; c <= 0xff; c++) args.push(String.fromCharCode(c))
    expectRoundTrip(args)
  })

  it('every byte 0x01-0xff in one argument, and each byte between letters', () => {
    let all = ''
    for (let c = 1; c <= 0xff; c++) all += String.fromCharCode(c)
    const framed: string[] = []
    for (let c = 1; c <= 0xff; c++) framed.push(`a${String.fromCharCode(c)}b`)
    expectRoundTrip([all, all + all, ...framed])
  })

  it('raw bytes 0x01-0xff (not UTF-8: each byte as itself) round-trip through sh and bash reading the command as bytes', () => {
    const args: string[] = []
    for (let c = 1; c <= 0xff; c++) args.push(String.fromCharCode(c))
    let all = ''
    for (let c = 1; c <= 0xff; c++) all += String.fromCharCode(c)
    args.push(all)
    for (const shell of SHELLS) {
      // latin1: every char code 0x01-0xff becomes that one byte in the script the shell reads.
      const script = Buffer.from(remoteCommand(['printf', '%s\\0', ...args]), 'latin1')
      const out = execFileSync(shell, [], {input: script})
      const expected = Buffer.concat(args.map((a) => Buffer.concat([Buffer.from(a, 'latin1'), Buffer.from([0])])))
      expect(out.toString('hex'), shell).toBe(expected.toString('hex'))
    }
  })

  it('quotes, backslashes, newlines, leading dashes, empty strings, expansions', () => {
    expectRoundTrip([
      "'", "''", '"', `"'"`, "'\\''", '\\', '\\\\', '\\n', '\n', '\n\n', 'a\nb', '\r\n', '\t',
      '-', '--', '-n', '-e', '--help', '-oProxyCommand=touch /tmp/pwned', '',
      '$HOME', '${PATH}', '$(id)', '`id`', '!!', '!$', '*', '?', '[a]', '{a,b}', '~', '~root', '#', 'a#b',
      ';', '&&', '|', '>', '<', '2>&1', '&', '(', ')', 'a=b', 'FOO=bar', '%', '%1', ' ', '  lead', 'trail  ',
      'é', '日本語', '\u{1f600}', '\u00a0', '\u2028',
    ])
  })

  it('empty strings stay separate arguments', () => {
    expectRoundTrip(['', '', 'x', ''])
  })

  it('very long arguments: 100 000 bytes (newlines, backslashes, double quotes), 25 000 single quotes', () => {
    // One command string reaches the remote shell as one argv element: Linux caps those at 128 KiB.
    const long = 'abc"d\\e\n$f`g h '.repeat(10_000).slice(0, 100_000)
    expect(long.length).toBe(100_000)
    expectRoundTrip([long])
    expectRoundTrip(["'".repeat(25_000)])
    expectRoundTrip([`-${"x'".repeat(20_000)}-`])
  })

  it('refuses NUL and empty argv', () => {
    expect(() => shellQuote('a\0b')).toThrow(expect.objectContaining({code: 'SSH_ARG_NUL'}))
    expect(() => remoteCommand([])).toThrow(expect.objectContaining({code: 'RUNNER_EMPTY_ARGV'}))
  })
})
