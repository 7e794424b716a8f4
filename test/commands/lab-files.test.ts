/**
 * The lab-file commands through the BUILT CLI (node bin/run.js ...): list, validate, schema, init.
 * dist/ is (re)built with tsc when it is missing or older than the sources these commands use.
 */
import {execFile, spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse} from 'yaml'

const root = join(import.meta.dirname, '..', '..')
const badDir = join(root, 'test', 'fixtures', 'bad')
const tmp = mkdtempSync(join(tmpdir(), 'virtlab-cli-'))
afterAll(() => rmSync(tmp, {recursive: true, force: true}))

const SOURCES = ['commands/list.ts', 'commands/validate.ts', 'commands/schema.ts', 'commands/init.ts', 'app/lab-files.ts',
  ...readdirSync(join(root, 'src', 'lab')).map((f) => `lab/${f}`)]

function stale(): boolean {
  return SOURCES.some((source) => {
    const built = join(root, 'dist', source.replace(/\.ts$/, '.js'))
    return !existsSync(built) || statSync(built).mtimeMs < statSync(join(root, 'src', source)).mtimeMs
  })
}

beforeAll(() => {
  if (!stale()) return
  // Emits even when another module has type errors (noEmitOnError is off); the check below is what counts.
  spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {cwd: root, encoding: 'utf8'})
  expect(stale(), 'dist/ could not be built').toBe(false)
}, 120_000)

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function cli(args: string[], cwd = root): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, [join(root, 'bin', 'run.js'), ...args], {cwd, encoding: 'utf8', env: {...process.env, NO_COLOR: '1', VIRTLAB_DEBUG: ''}}, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null
      done({code, stdout, stderr})
    })
  })
}

function expectNoStack(run: Run): void {
  expect(`${run.stdout}\n${run.stderr}`).not.toMatch(/^ {4}at /m)
}

const expected = parse(readFileSync(join(badDir, 'expected.yaml'), 'utf8')) as Record<string, {line: number; column: number; message: string; sets?: Record<string, string>}>

describe('virtlab validate', {timeout: 120_000}, () => {
  it('exits 0 for every shipped lab (labs/*.yaml)', async () => {
    const labs = readdirSync(join(root, 'labs')).filter((f) => f.endsWith('.yaml')).map((f) => `labs/${f}`)
    const run = await cli(['validate', ...labs])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(run.stdout.trim().split('\n')).toEqual(labs.map((f) => `ok  ${f} (${f.slice(5, -5)})`))
  })

  it('accepts lab names; --set applies to every lab, so a lab without that parameter reports it', async () => {
    const run = await cli(['validate', 'sriov', '--set', 'vfs=4'])
    expect(run.code).toBe(0)
    expect(run.stdout).toBe('ok  labs/sriov.yaml (sriov)\n')
    const both = await cli(['validate', 'sriov', 'vhost-user', '--set', 'vfs=4'])
    expect(both.code).toBe(1)
    expect(both.stdout).toBe('ok  labs/sriov.yaml (sriov)\n')
    expect(both.stderr).toMatch(/^labs\/vhost-user\.yaml:\d+:1: --set vfs: the lab has no parameter "vfs"/m)
  })

  it.each([
    '30-enum-backend.yaml', '54-hostile-shell-vm-name.yaml', '10-yaml-alias-bomb.yaml', '17-binary-garbage.yaml',
    '56-hostile-newline-in-name.yaml', '66-huge-float-infinity.yaml', '89-set-bad-integer.yaml', '04-yaml-duplicate-key.yaml',
  ])('rejects %s with the located message on stderr and no stack trace', async (file) => {
    const want = expected[file]
    if (want === undefined) throw new Error(`no expectation for ${file}`)
    const sets = Object.entries(want.sets ?? {}).flatMap(([k, v]) => ['--set', `${k}=${v}`])
    const rel = `test/fixtures/bad/${file}`
    const run = await cli(['validate', rel, ...sets])
    expect(run.code).not.toBe(0)
    expect(run.code).not.toBeNull()
    const line = run.stderr.split('\n').find((l) => l.startsWith(`${rel}:${want.line}:${want.column}: `))
    expect(line, run.stderr).toBeDefined()
    expect(line).toContain(want.message)
    expect(run.stderr).toContain('Error [LAB_INVALID]: 1 of 1 lab invalid')
    expect(run.stdout).toBe('')
    expectNoStack(run)
  })

  it('reports every problem of every file at once', async () => {
    const files = ['test/fixtures/bad/32-ref-switch.yaml', 'labs/vdpa.yaml', 'test/fixtures/bad/55-hostile-command-substitution.yaml']
    const run = await cli(['validate', ...files])
    expect(run.code).toBe(1)
    expect(run.stdout).toBe('ok  labs/vdpa.yaml (vdpa)\n')
    const located = run.stderr.split('\n').filter((l) => /^test\/fixtures\/bad\/[^:]+:\d+:\d+: /.test(l))
    expect(located).toHaveLength(3)
    expect(run.stderr).toContain('2 of 3 labs invalid (3 problems)')
    expectNoStack(run)
  })

  it('--json prints {valid, labs:[{file, valid, problems}]} and still exits non-zero', async () => {
    const run = await cli(['validate', 'labs/virtio-qemu.yaml', 'test/fixtures/bad/45-dup-address.yaml', '--json'])
    expect(run.code).toBe(1)
    const body = JSON.parse(run.stdout) as {valid: boolean; labs: {file: string; valid: boolean; problems: {line: number; column: number; path: string; message: string}[]}[]}
    expect(body.valid).toBe(false)
    expect(body.labs.map((l) => [l.file, l.valid, l.problems.length])).toEqual([['labs/virtio-qemu.yaml', true, 0], ['test/fixtures/bad/45-dup-address.yaml', false, 1]])
    expect(body.labs[1]?.problems[0]).toMatchObject({line: 12, column: 18, path: 'vms[0].nics[0].address'})
    const ok = await cli(['validate', 'labs/virtio-qemu.yaml', '--json'])
    expect(ok.code).toBe(0)
    expect(JSON.parse(ok.stdout)).toMatchObject({valid: true})
  })

  it('an unknown lab and a malformed --set are clean errors', async () => {
    const missing = await cli(['validate', 'no-such-lab'])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('no-such-lab: no lab named "no-such-lab"')
    expectNoStack(missing)
    const badSet = await cli(['validate', 'sriov', '--set', 'vfs'])
    expect(badSet.code).toBe(2)
    expect(badSet.stderr).toContain('Error [BAD_SET]: --set "vfs": expected key=value')
    expectNoStack(badSet)
  })
})

describe('virtlab list', {timeout: 120_000}, () => {
  it('lists the shipped labs with their descriptions, and --dir labs', async () => {
    const run = await cli(['list'])
    expect(run.code).toBe(0)
    for (const name of ['sriov', 'vdpa', 'vhost-net', 'vhost-user', 'virtio-qemu']) expect(run.stdout).toMatch(new RegExp(`^${name} +\\S`, 'm'))
    expect(run.stdout).toContain('OVS-DPDK netdev bridge')
    const dir = join(tmp, 'mylabs')
    expect((await cli(['init', 'extra', '--dir', dir])).code).toBe(0)
    const withDir = await cli(['list', '--dir', dir, '--json'])
    expect(withDir.code).toBe(0)
    const body = JSON.parse(withDir.stdout) as {labs: {name: string; description: string; file: string}[]}
    expect(body.labs[0]).toMatchObject({name: 'extra', file: join(dir, 'extra.yaml')})
    expect(body.labs.map((l) => l.name)).toContain('vdpa')
  })
})

describe('virtlab schema', {timeout: 60_000}, () => {
  it('prints the JSON Schema, identical to schema/lab.schema.json', async () => {
    const run = await cli(['schema'])
    expect(run.code).toBe(0)
    expect(run.stdout).toBe(readFileSync(join(root, 'schema', 'lab.schema.json'), 'utf8'))
  })
})

describe('virtlab init', {timeout: 180_000}, () => {
  it('writes a valid lab from the template and refuses to overwrite it without --force', async () => {
    const dir = join(tmp, 'init1')
    const run = await cli(['init', 'my-lab', '--dir', dir])
    expect(run.code).toBe(0)
    const file = join(dir, 'my-lab.yaml')
    const text = readFileSync(file, 'utf8')
    expect(text).toMatch(/^name: my-lab$/m)
    const modeline = /^# yaml-language-server: \$schema=(.*)$/m.exec(text)?.[1]
    expect(modeline).toBeDefined()
    expect(resolve(dirname(file), modeline ?? '')).toBe(join(root, 'schema', 'lab.schema.json'))
    expect((await cli(['validate', file])).code).toBe(0)

    writeFileSync(file, text + '# my edits\n')
    const again = await cli(['init', 'my-lab', '--dir', dir])
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('Error [FILE_EXISTS]')
    expect(again.stderr).toContain('--force')
    expectNoStack(again)
    expect(readFileSync(file, 'utf8')).toContain('# my edits')
    expect((await cli(['init', 'my-lab', '--dir', dir, '--force'])).code).toBe(0)
    expect(readFileSync(file, 'utf8')).toBe(text)
  })

  it('--from <each shipped lab> copies it under the new name, valid as written', async () => {
    const files: string[] = []
    for (const from of ['virtio-qemu', 'vhost-net', 'vhost-user', 'sriov', 'vdpa']) {
      const dir = join(tmp, `from-${from}`)
      const run = await cli(['init', 'copy', '--from', from, '--dir', dir, '--json'])
      expect(run.code).toBe(0)
      expect(JSON.parse(run.stdout)).toMatchObject({name: 'copy', file: join(dir, 'copy.yaml'), from: join(root, 'labs', `${from}.yaml`)})
      files.push(join(dir, 'copy.yaml'))
    }
    const validate = await cli(['validate', ...files, '--json'])
    expect(validate.code).toBe(0)
    const body = JSON.parse(validate.stdout) as {valid: boolean; labs: {valid: boolean; name: string}[]}
    expect(body.valid).toBe(true)
    expect(body.labs.map((l) => [l.valid, l.name])).toEqual(files.map(() => [true, 'copy']))
  })

  it('rejects a bad name', async () => {
    const run = await cli(['init', 'Bad;Name', '--dir', tmp])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('Error [BAD_NAME]')
    expectNoStack(run)
  })
})

describe('a file that is not a lab is never echoed (issue 11 item 13)', {timeout: 120_000}, () => {
  const secret = 'root:$y$j9T$NOTAREALHASHxyz$abcdefghijklmnopqrstuvwxyz0123456789ABCD:19000:0:99999:7:::\nsshd:*:19000:0:99999:7:::\n'
  it('validate and init --from show positions and the reason, not the content', async () => {
    const file = join(tmp, 'shadow')
    writeFileSync(file, secret)
    const dir = join(tmp, 'init-from-secret')
    for (const run of [await cli(['validate', file]), await cli(['init', 'copy', '--from', file, '--dir', dir])]) {
      expect(run.code).not.toBe(0)
      const out = `${run.stdout}\n${run.stderr}`
      expect(out).toMatch(/shadow:1:1: not a lab file/)
      for (const piece of ['NOTAREALHASH', 'sshd', '19000', '99999']) expect(out).not.toContain(piece)
      expectNoStack(run)
    }
    expect(existsSync(join(dir, 'copy.yaml'))).toBe(false)
  })
})
