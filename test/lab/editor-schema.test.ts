/**
 * The published schema in the editor: yaml-language-server (the npm package VS Code's YAML
 * extension and other editors run) validates every shipped lab and the `init` template through
 * their `# yaml-language-server: $schema=` modeline with zero diagnostics (parameter references
 * are accepted where parameters may stand), and still reports the real mistakes of a broken lab.
 */
import {readFileSync, readdirSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {Ajv} from 'ajv'
import {describe, expect, it} from 'vitest'

import {renameLabText, templatePath} from '../../src/app/lab-files.js'
import {EXACT_REFERENCE_PATTERN, INTERPOLATED_PATTERN, labEditorSchema} from '../../src/lab/editor-schema.js'
import {yamlDiagnostics} from '../helpers/yaml-ls.js'

const root = join(import.meta.dirname, '..', '..')
const shipped = [
  ...readdirSync(join(root, 'labs')).filter((f) => f.endsWith('.yaml')).map((f) => join(root, 'labs', f)),
  join(root, 'templates', 'lab.yaml'),
]

const BROKEN = `# yaml-language-server: $schema=../schema/lab.schema.json
name: broken
description: a lab with real mistakes next to valid parameter references
parameters:
  subnet:
    default: "10.99.9"
  cpus:
    default: 2
vms:
  - name: vm1
    vcpus: \${cpus}
    memory: \${memory
    cpus: 2
    nics:
      - backend: vhost-nett
        address: "\${subnet}.2/24"
        queues: 99
      - backend: vhost-net
        address: "10.99.300.2/24"
        rxQueueSize: \${cpus}
tests:
  - name: t1
    client: host
    server: vm1
    duration: ten
`

describe('the published lab schema in yaml-language-server', () => {
  it.each(shipped.map((f) => [f.slice(root.length + 1), f]))('%s: zero diagnostics', async (_name, file) => {
    expect(await yamlDiagnostics(file)).toEqual([])
  }, 30_000)

  it('what `virtlab init` writes elsewhere (modeline re-pointed at the shipped schema): zero diagnostics', async () => {
    const dir = join(tmpdir(), 'virtlab-init-elsewhere')
    const text = renameLabText(readFileSync(templatePath(root), 'utf8'), 'mylab', dir, root)
    expect(text).toMatch(/^# yaml-language-server: \$schema=\.\.\/.*schema\/lab\.schema\.json$/m)
    expect(await yamlDiagnostics(join(dir, 'mylab.yaml'), text)).toEqual([])
  }, 30_000)

  it('a broken lab: exactly its real mistakes, at their lines, and none on the valid references', async () => {
    const diagnostics = await yamlDiagnostics(join(root, 'labs', 'broken.yaml'), BROKEN)
    const byLine = diagnostics.map((d) => [d.line, d.message.split('\n')[0]] as const).sort((a, b) => a[0] - b[0])
    expect(byLine).toEqual([
      [12, 'String does not match the pattern of "^[1-9][0-9]{0,7}(K|M|G)(iB)?$".'], // memory: ${memory (no closing brace)
      [13, 'Property cpus is not allowed.'], // unknown key
      [15, 'Value must be "virtio-qemu" | "vhost-net" | "vhost-user" | "sriov-vf" | "vdpa".'], // backend typo
      [17, 'Value is above the maximum of 16.'], // queues out of range
      [19, expect.stringMatching(/^String does not match the pattern of "\^\(25\[0-5\]/)], // a literal address that is no CIDR
      [25, 'Incorrect type. Expected "integer".'], // duration: ten
    ])
  }, 30_000)
})

describe('reference patterns', () => {
  it('accept references where parameters stand and nothing else', () => {
    const exact = new RegExp(EXACT_REFERENCE_PATTERN, 'u')
    const interpolated = new RegExp(INTERPOLATED_PATTERN, 'u')
    expect(exact.test('${cpus}')).toBe(true)
    expect(exact.test('${cpus} ')).toBe(false)
    expect(exact.test('${Cpus}')).toBe(false)
    expect(interpolated.test('${subnet}.2/24')).toBe(true)
    expect(interpolated.test('$5 ${a}')).toBe(true)
    expect(interpolated.test('10.0.0.2/24')).toBe(false) // no reference: the original pattern decides
    expect(interpolated.test('${subnet.2/24')).toBe(false)
    expect(interpolated.test('${a}\n')).toBe(false)
  })

  it('the schema still rejects what virtlab rejects when there is no reference (ajv)', () => {
    const validate = new Ajv({allErrors: true, strict: false}).compile(labEditorSchema())
    const lab = (vm: Record<string, unknown>) => ({name: 'x', description: 'y', vms: [{name: 'vm1', nics: [{backend: 'vhost-net'}], ...vm}]})
    expect(validate(lab({vcpus: '${cpus}'}))).toBe(true)
    expect(validate(lab({vcpus: 0}))).toBe(false)
    expect(validate(lab({vcpus: 'two'}))).toBe(false)
    expect(validate(lab({vcpus: '${cpus}x'}))).toBe(false) // an integer takes exactly one reference
    expect(validate(lab({memory: '512X'}))).toBe(false)
    expect(validate(lab({memory: '${mem}'}))).toBe(true)
    // parameters: itself is not substituted: a reference there is not a default of the right shape
    expect(validate({...lab({}), parameters: {a: {default: 1, type: '${t}'}}})).toBe(false)
  })
})
