/**
 * Golden files: every artifact of every shipped lab, for both drivers, compared with the committed
 * files under test/golden/<lab>/<driver>/ (CI=true fails on a missing or different file). And every
 * domain XML of every shipped lab is checked against libvirt's own schema with virt-xml-validate.
 */
import {execFileSync, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import {describe, expect, it} from 'vitest'

import {planModel} from '../../src/app/plan.js'
import {renderArtifacts} from '../../src/app/render.js'
import {RootedFs} from '../../src/host/fs.js'
import {loadLab} from '../../src/lab/load.js'

const root = path.resolve(import.meta.dirname, '../..')
const labs = fs.readdirSync(path.join(root, 'labs')).filter((f) => f.endsWith('.yaml')).map((f) => f.replace(/\.yaml$/, '')).sort()
const ctx = {target: {runBase: '/run/virtlab', stateDir: '/var/lib/virtlab'}}

/** Variants a shipped lab documents (a parameter that changes its architecture), golden under test/golden/<dir>. */
const VARIANTS: {lab: string; sets: Record<string, string>; dir: string}[] = [
  // labs/vhost-net.yaml: the OVS kernel-datapath variant (an OVS bridge with datapath_type=system).
  {lab: 'vhost-net', sets: {switch: 'ovs'}, dir: 'vhost-net-ovs'},
]

async function render(labName: string, driver: 'libvirt' | 'qemu', sets: Record<string, string> = {}) {
  const model = await loadLab(path.join(root, 'labs', `${labName}.yaml`), {fs: new RootedFs('/'), sets, dirs: [], packageRoot: root})
  // the model records the file it came from: make it independent of where the checkout lives
  model.file = `labs/${labName}.yaml`
  const {artifacts, plan} = planModel(model, {compile: {driver}}, ctx)
  return {artifacts, plan, files: renderArtifacts(artifacts, plan)}
}

describe('shipped labs: golden artifacts', () => {
  it('there are shipped labs', () => {
    expect(labs).toEqual(expect.arrayContaining(['sriov', 'vdpa', 'vhost-net', 'vhost-user', 'virtio-qemu']))
  })
  for (const labName of labs) {
    for (const driver of ['libvirt', 'qemu'] as const) {
      it(`${labName} (${driver}) matches test/golden/${labName}/${driver}`, async () => {
        const {files, artifacts} = await render(labName, driver)
        if (driver === 'libvirt') expect(artifacts.domains.length).toBe(artifacts.lab.vms.length)
        else expect(artifacts.qemu.length).toBe(artifacts.lab.vms.length)
        for (const f of files) {
          await expect(f.content).toMatchFileSnapshot(path.join('..', 'golden', labName, driver, f.path))
        }
      })
    }
  }
  for (const v of VARIANTS) {
    for (const driver of ['libvirt', 'qemu'] as const) {
      it(`${v.lab} ${JSON.stringify(v.sets)} (${driver}) matches test/golden/${v.dir}/${driver}`, async () => {
        const {files} = await render(v.lab, driver, v.sets)
        for (const f of files) {
          await expect(f.content).toMatchFileSnapshot(path.join('..', 'golden', v.dir, driver, f.path))
        }
      })
    }
  }

  it('vhost-net --set switch=ovs: the NIC\'s tap on an OVS bridge with the kernel datapath, the openvswitch module loaded before it', async () => {
    const {artifacts, plan} = await render('vhost-net', 'libvirt', {switch: 'ovs'})
    const ids = plan.steps.map((s) => s.id)
    expect(ids).toContain('module:openvswitch')
    const bridge = plan.steps.find((s) => s.id === 'ovs:bridge:vlbr-vhost')
    expect(bridge?.action).toMatchObject({kind: 'exec'})
    expect(bridge?.action.kind === 'exec' ? bridge.action.argv : []).toContain('datapath_type=system')
    expect(bridge?.dependsOn).toContain('module:openvswitch')
    expect(ids.indexOf('module:openvswitch')).toBeLessThan(ids.indexOf('ovs:bridge:vlbr-vhost'))
    expect(artifacts.ovsCommands.some((a) => a.includes('add-port') && a.includes('vlbr-vhost'))).toBe(true)
    // The default stays a Linux bridge, without the module.
    const plain = await render('vhost-net', 'libvirt')
    expect(plain.plan.steps.map((s) => s.id)).not.toContain('module:openvswitch')
    expect(plain.artifacts.ovsCommands).toEqual([])
  })
})

describe('shipped labs: every domain XML passes virt-xml-validate', () => {
  it('virt-xml-validate is installed (libvirt-clients + libxml2-utils)', () => {
    const found = spawnSync('virt-xml-validate', ['--help'], {encoding: 'utf8'})
    expect(found.error, 'virt-xml-validate is missing: apt-get install libvirt-clients libxml2-utils').toBeUndefined()
  })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'virtlab-xml-'))
  for (const labName of labs) {
    it(`${labName}: the domains render writes validate against libvirt's domain schema`, async () => {
      const {artifacts, files} = await render(labName, 'libvirt')
      expect(artifacts.domains.length).toBeGreaterThan(0)
      for (const d of artifacts.domains) {
        const file = path.join(dir, `${labName}-${d.vm}.xml`)
        const written = files.find((f) => f.path === `domains/${d.vm}.xml`)
        expect(written).toBeDefined()
        fs.writeFileSync(file, written?.content ?? '')
        const out = spawnSync('virt-xml-validate', [file, 'domain'], {encoding: 'utf8'})
        expect(out.error).toBeUndefined()
        expect(`${out.stdout}${out.stderr}`.trim() + ` (exit ${out.status})`).toMatch(/validates \(exit 0\)$/)
      }
    })
  }
  for (const v of VARIANTS) {
    it(`${v.lab} ${JSON.stringify(v.sets)}: its domains validate too`, async () => {
      const {artifacts, files} = await render(v.lab, 'libvirt', v.sets)
      for (const d of artifacts.domains) {
        const file = path.join(dir, `${v.dir}-${d.vm}.xml`)
        fs.writeFileSync(file, files.find((f) => f.path === `domains/${d.vm}.xml`)?.content ?? '')
        const out = spawnSync('virt-xml-validate', [file, 'domain'], {encoding: 'utf8'})
        expect(`${out.stdout}${out.stderr}`.trim() + ` (exit ${out.status})`).toMatch(/validates \(exit 0\)$/)
      }
    })
  }
  it('a broken domain is rejected (the validator really checks)', () => {
    const file = path.join(dir, 'broken.xml')
    fs.writeFileSync(file, '<domain type="qemu"><name>x</name><memory unit="MiB">many</memory></domain>\n')
    const out = spawnSync('virt-xml-validate', [file, 'domain'], {encoding: 'utf8'})
    expect(out.status).not.toBe(0)
  })
  it('xmllint parses what we emit (well-formed)', async () => {
    const {artifacts} = await render('vhost-user', 'libvirt')
    const file = path.join(dir, 'wf.xml')
    fs.writeFileSync(file, artifacts.domains[0]!.xml)
    expect(() => execFileSync('xmllint', ['--noout', file])).not.toThrow()
  })
})
