/** labs/vhost-net.yaml --set switch=ovs: doctor requires the OVS kernel datapath for it (and only for it). */
import * as path from 'node:path'

import {describe, expect, it} from 'vitest'

import {labNeeds} from '../../src/doctor/needs.js'
import {RootedFs} from '../../src/host/fs.js'
import {loadLab} from '../../src/lab/load.js'

const root = path.resolve(import.meta.dirname, '../..')
const load = (sets: Record<string, string>) => loadLab(path.join(root, 'labs', 'vhost-net.yaml'), {fs: new RootedFs('/'), sets, dirs: [], packageRoot: root})

describe('vhost-net OVS kernel-datapath variant', () => {
  it('needs the openvswitch kernel datapath and the OVS tools; the default Linux bridge needs neither', async () => {
    const ovs = labNeeds(await load({switch: 'ovs'}), 'libvirt')
    expect(ovs.ovsKernelDatapath).toBe('required')
    expect(ovs.ovsTools).toBe('required')
    const bridge = labNeeds(await load({}), 'libvirt')
    expect(bridge.ovsKernelDatapath).toBeUndefined()
    expect(bridge.ovsTools).toBeUndefined()
  })
})
