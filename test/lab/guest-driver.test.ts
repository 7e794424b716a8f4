import {describe, expect, it} from 'vitest'

import {formatProblem} from '../../src/lab/problems.js'
import {validateLabText} from '../../src/lab/validate.js'

const lab = (image: string, driver: string) => `name: demo
description: a test lab
switches:
  - name: br0
    type: linux-bridge
    address: 10.9.0.1/24
vms:
  - name: vm1
${image}    nics:
      - backend: virtio-qemu
        switch: br0
        address: 10.9.0.2/24
        guestDriver: ${driver}
`

describe('guestDriver: virtio-pmd', () => {
  it('on the built-in guest (no DPDK) is a located error', () => {
    for (const image of ['', '    image: {type: builtin}\n']) {
      const result = validateLabText(lab(image, 'virtio-pmd'), 'lab.yaml', {})
      expect(result.model).toBeUndefined()
      const texts = result.problems.map(formatProblem)
      expect(texts).toHaveLength(1)
      expect(texts[0]).toMatch(/^lab\.yaml:\d+:\d+: guestDriver: virtio-pmd needs DPDK in the guest, and the built-in guest image has no DPDK/)
      expect(result.problems[0]?.line).toBe(image === '' ? 13 : 14)
    }
  })

  it('virtio-net on the built-in guest, and virtio-pmd on a cloud image, stay valid', () => {
    expect(validateLabText(lab('', 'virtio-net'), 'lab.yaml', {}).problems).toEqual([])
    expect(validateLabText(lab('    image: {type: cloud, path: /var/lib/images/dpdk.qcow2}\n', 'virtio-pmd'), 'lab.yaml', {}).problems.map(formatProblem)).toEqual([])
  })
})
