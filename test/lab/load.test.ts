import {mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {VirtlabError} from '../../src/errors.js'
import {RootedFs} from '../../src/host/fs.js'
import {listLabs} from '../../src/lab/find.js'
import {loadLab} from '../../src/lab/load.js'
import type {LabProblem} from '../../src/lab/problems.js'

const packageRoot = join(import.meta.dirname, '..', '..')
const fs = new RootedFs('/')
const tmp = mkdtempSync(join(tmpdir(), 'virtlab-load-'))
afterAll(() => rmSync(tmp, {recursive: true, force: true}))

const MINE = `name: mine
description: "my own lab"
switches:
  - {name: br0, type: linux-bridge, address: 10.9.0.1/24}
vms:
  - name: vm1
    nics:
      - {backend: virtio-qemu, switch: br0, address: 10.9.0.2/24}
`

async function rejected(promise: Promise<unknown>): Promise<VirtlabError> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(VirtlabError)
    return error as VirtlabError
  }
  throw new Error('expected a rejection')
}

describe('loadLab', () => {
  it('loads a shipped lab by name, with the absolute file in the model', async () => {
    const model = await loadLab('virtio-qemu', {fs, packageRoot})
    expect(model.name).toBe('virtio-qemu')
    expect(model.file).toBe(join(packageRoot, 'labs', 'virtio-qemu.yaml'))
  })

  it('loads by path and applies --set', async () => {
    const model = await loadLab(join(packageRoot, 'labs', 'vhost-net.yaml'), {fs, packageRoot, sets: {queues: '2'}})
    expect(model.vms[0]?.nics[0]?.queues).toBe(2)
  })

  it('searches --dir before the shipped labs', async () => {
    const dir = join(tmp, 'dir1')
    await fs.mkdir(dir)
    writeFileSync(join(dir, 'mine.yaml'), MINE)
    writeFileSync(join(dir, 'virtio-qemu.yaml'), MINE.replace('name: mine', 'name: shadow'))
    expect((await loadLab('mine', {fs, packageRoot, dirs: [dir]})).name).toBe('mine')
    expect((await loadLab('virtio-qemu', {fs, packageRoot, dirs: [dir]})).name).toBe('shadow')
  })

  it('an unknown name is LAB_NOT_FOUND with a suggestion', async () => {
    const error = await rejected(loadLab('vhost-usr', {fs, packageRoot}))
    expect(error.code).toBe('LAB_NOT_FOUND')
    expect(error.message).toBe('no lab named "vhost-usr" (did you mean "vhost-user"?)')
    expect(error.hint).toContain('virtio-qemu')
  })

  it('a missing file is LAB_NOT_FOUND', async () => {
    const error = await rejected(loadLab(join(tmp, 'nope.yaml'), {fs, packageRoot}))
    expect(error.code).toBe('LAB_NOT_FOUND')
  })

  it('an invalid lab is LAB_INVALID: details are the problems, the message lists every one', async () => {
    const file = join(tmp, 'broken.yaml')
    writeFileSync(file, MINE.replace('backend: virtio-qemu', 'backend: virtio').replace('switch: br0,', 'switch: br1,').replace('name: vm1', 'name: VM1'))
    const error = await rejected(loadLab(file, {fs, packageRoot}))
    expect(error.code).toBe('LAB_INVALID')
    const problems = error.details as LabProblem[]
    expect(problems.map((p) => p.path)).toEqual(['vms[0].name', 'vms[0].nics[0].backend', 'vms[0].nics[0].switch'])
    const lines = error.message.split('\n')
    expect(lines[0]).toBe(`lab ${file} is invalid (3 problems):`)
    expect(lines.slice(1)).toEqual([
      `  ${file}:6:11: name "VM1" is not valid [at vms[0].name] (hint: lower-case letters, digits and "-", starting with a letter, at most 23 characters)`,
      expect.stringMatching(new RegExp(`^  ${file}:8:19: backend must be one of virtio-qemu, vhost-net, vhost-user, sriov-vf, vdpa \\(got "virtio"\\)`)),
      `  ${file}:8:35: switch "br1" is not defined (did you mean "br0"?) [at vms[0].nics[0].switch] (hint: defined under switches: br0)`,
    ])
  })

  it('a file over 1 MiB is refused from its size, before it is read', async () => {
    const file = join(tmp, 'big.yaml')
    writeFileSync(file, '')
    truncateSync(file, 2 * 1024 * 1024)
    const error = await rejected(loadLab(file, {fs, packageRoot}))
    expect(error.code).toBe('LAB_INVALID')
    expect((error.details as LabProblem[])[0]?.message).toContain('file is too large (2097152 bytes')
  })
})

describe('listLabs', () => {
  it('lists --dir labs first, then the shipped ones, each with its description', async () => {
    const dir = join(tmp, 'dir2')
    await fs.mkdir(dir)
    writeFileSync(join(dir, 'mine.yaml'), MINE)
    writeFileSync(join(dir, 'notes.txt'), 'not a lab')
    writeFileSync(join(dir, 'broken.yaml'), 'name: [\n')
    const labs = await listLabs([dir], packageRoot, fs)
    const shipped = readdirSync(join(packageRoot, 'labs')).filter((f) => f.endsWith('.yaml')).sort().map((f) => f.slice(0, -5))
    expect(shipped).toEqual(expect.arrayContaining(['sriov', 'vdpa', 'vhost-net', 'vhost-user', 'virtio-qemu']))
    expect(labs.map((l) => l.name)).toEqual(['broken', 'mine', ...shipped])
    expect(labs.slice(2).map((l) => l.file)).toEqual(shipped.map((name) => join(packageRoot, 'labs', `${name}.yaml`)))
    expect(labs[0]?.description).toBe('(invalid YAML)')
    expect(labs[1]).toEqual({name: 'mine', description: 'my own lab', file: join(dir, 'mine.yaml')})
    expect(labs.find((l) => l.name === 'vdpa')?.description).toContain('vDPA device')
  })
})
