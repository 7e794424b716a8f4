/**
 * Failures through the BUILT CLI (node bin/run.js ...): under --json every failure, oclif's usage
 * errors included, is one JSON object on stdout with a code, the message, the hint and the exit
 * code (0 ok, 1 failure, 2 usage); without --json it is `Error [CODE]` on stderr. Also help,
 * the image topic and completion come from oclif's plugins.
 */
import {execFile, spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

const root = join(import.meta.dirname, '..', '..')
const cache = mkdtempSync(join(tmpdir(), 'virtlab-cli-cache-'))
afterAll(() => rmSync(cache, {recursive: true, force: true}))

const SOURCES = ['commands/validate.ts', 'commands/up.ts', ...readdirSync(join(root, 'src', 'cli')).map((f) => `cli/${f}`)]

function stale(): boolean {
  return SOURCES.some((source) => {
    const built = join(root, 'dist', source.replace(/\.ts$/, '.js'))
    return !existsSync(built) || statSync(built).mtimeMs < statSync(join(root, 'src', source)).mtimeMs
  })
}

beforeAll(() => {
  if (!stale()) return
  spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {cwd: root, encoding: 'utf8'})
  expect(stale(), 'dist/ could not be built').toBe(false)
}, 120_000)

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function cli(args: string[]): Promise<Run> {
  return new Promise((done) => {
    const env = {...process.env, NODE_ENV: 'production', NO_COLOR: '1', VIRTLAB_DEBUG: '', XDG_CACHE_HOME: cache, VIRTLAB_STATE_DIR: join(cache, 'state')}
    execFile(process.execPath, [join(root, 'bin', 'run.js'), ...args], {cwd: root, encoding: 'utf8', env}, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null
      done({code, stdout, stderr})
    })
  })
}

interface ErrorBody {
  error: {code: string; message: string; hint?: string; exitCode: number}
}

function oneObject(run: Run): ErrorBody {
  // JSON.parse of the whole stdout: exactly one value, nothing before or after it.
  const body = JSON.parse(run.stdout) as ErrorBody
  expect(Object.keys(body)).toEqual(['error'])
  expect(run.stdout.length).toBeLessThan(2000)
  expect(body.error.exitCode).toBe(run.code)
  return body
}

describe('--json failures: one object, a stable code, exit 2 for usage', {timeout: 120_000}, () => {
  it.each([
    [['validate', 'labs/vhost-net.yaml', '--bogus', '--json'], 'UNKNOWN_FLAG', /Nonexistent flag: --bogus/],
    [['up', 'vhost-net', '--dry-rn', '--json'], 'UNKNOWN_FLAG', /--dry-rn/],
    [['validate', '--json'], 'MISSING_ARGUMENT', /Missing 1 required arg/],
    [['up', 'vhost-net', '--driver', 'foo', '--json'], 'INVALID_FLAG_VALUE', /one of: libvirt, qemu/],
    [['validate', 'labs/vhost-net.yaml', '--json', '--set'], 'USAGE', /--set expects a value/],
    [['vaildate', 'labs/vhost-net.yaml', '--json'], 'COMMAND_NOT_FOUND', /vaildate is not a virtlab command/],
    [['image', 'buidl', '--json'], 'COMMAND_NOT_FOUND', /image buidl is not a virtlab command/],
    [['--bogus', '--json'], 'UNKNOWN_FLAG', /--bogus/],
    [['validate', 'sriov', '--set', 'vfs', '--json'], 'BAD_SET', /expected key=value/],
  ])('%j -> %s', async (args, code, message) => {
    const run = await cli(args)
    expect(run.code).toBe(2)
    const body = oneObject(run)
    expect(body.error.code).toBe(code)
    expect(body.error.message).toMatch(message)
    expect(body.error.hint).toBeTruthy()
  })

  it('suggests the nearest flag and the nearest command', async () => {
    expect(oneObject(await cli(['up', 'vhost-net', '--dry-rn', '--json'])).error.hint).toMatch(/^did you mean --dry-run\?/)
    expect(oneObject(await cli(['up', 'vhost-net', '--alow-degraded', '--json'])).error.hint).toMatch(/^did you mean --allow-degraded\?/)
    expect(oneObject(await cli(['vaildate', 'labs/vhost-net.yaml', '--json'])).error.hint).toMatch(/did you mean `virtlab validate`\?/)
    expect(oneObject(await cli(['image', 'buidl', '--json'])).error.hint).toMatch(/did you mean `virtlab image build`\?/)
  })

  it('a failure that is not a usage error exits 1, also as one object', async () => {
    const run = await cli(['render', 'no-such-lab', '--json'])
    expect(run.code).toBe(1)
    expect(oneObject(run).error.code).toBe('LAB_NOT_FOUND')
  })

  it('without --json: Error [CODE] and the hint on stderr, nothing on stdout, no stack, no help dump', async () => {
    const run = await cli(['vaildate', 'labs/vhost-net.yaml'])
    expect(run.code).toBe(2)
    expect(run.stdout).toBe('')
    expect(run.stderr).toContain('Error [COMMAND_NOT_FOUND]: vaildate is not a virtlab command')
    expect(run.stderr).toContain('hint: did you mean `virtlab validate`?')
    const flag = await cli(['up', 'vhost-net', '--dry-rn'])
    expect(flag.code).toBe(2)
    expect(flag.stderr.trim().split('\n')).toEqual(['Error [UNKNOWN_FLAG]: Nonexistent flag: --dry-rn', '  hint: did you mean --dry-run? `virtlab up --help` lists its flags and arguments'])
    expect(flag.stderr).not.toMatch(/^ {4}at /m)
  })
})

describe('help, topics and completion (oclif plugins)', {timeout: 120_000}, () => {
  it('`help` and `help up` work; the image topic has its own description', async () => {
    const help = await cli(['help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^TOPICS\n(?: {2}\S.*\n(?: {9}.*\n)*)*? {2}image +Build and inspect the built-in guest image/m)
    expect(help.stdout).toMatch(/^ {2}host +Target hosts/m)
    expect(help.stdout).toMatch(/^ {2}validate\n/m)
    const up = await cli(['help', 'up'])
    expect(up.code).toBe(0)
    expect(up.stdout).toContain('$ virtlab up LAB')
    expect(up.stdout).toContain('--allow-degraded')
    const missing = await cli(['help', 'nosuch'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('Error [COMMAND_NOT_FOUND]')
  })

  it('autocomplete builds a bash completion that knows the commands', async () => {
    const run = await cli(['autocomplete', 'bash'])
    expect(run.code).toBe(0)
    const script = await cli(['autocomplete', 'script', 'bash'])
    expect(script.code).toBe(0)
    expect(script.stdout).toContain('VIRTLAB_AC_BASH_SETUP_PATH')
    const {readFileSync} = await import('node:fs')
    const functions = readFileSync(join(cache, 'virtlab', 'autocomplete', 'functions', 'bash', 'virtlab.bash'), 'utf8')
    for (const command of ['validate', 'up', 'down', 'doctor', 'image:build']) expect(functions).toContain(command)
  })
})
