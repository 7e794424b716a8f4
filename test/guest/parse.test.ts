import {describe, expect, it} from 'vitest'

import {
  parseAptCandidate,
  parseBusyboxApplets,
  parseCloudKernels,
  parseDpkgQuery,
  parseLdd,
  parseModulesBuiltin,
  parseModulesDep,
  resolveModuleOrder,
} from '../../src/guest/parse.js'
import {REQUIRED_MODULES} from '../../src/guest/image.js'

describe('parseLdd', () => {
  it('takes the resolved paths and the loader, skips the vdso', () => {
    const out = `\tlinux-vdso.so.1 (0x00007fd1fabd4000)
\tlibiperf.so.0 => /lib/x86_64-linux-gnu/libiperf.so.0 (0x00007fd1fab8c000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007fd1fa9aa000)
\tlibcrypto.so.3 => /lib/x86_64-linux-gnu/libcrypto.so.3 (0x00007fd1fa400000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007fd1fabd6000)
`
    expect(parseLdd(out)).toEqual({
      libraries: ['/lib/x86_64-linux-gnu/libiperf.so.0', '/lib/x86_64-linux-gnu/libc.so.6', '/lib/x86_64-linux-gnu/libcrypto.so.3', '/lib64/ld-linux-x86-64.so.2'],
      missing: [],
    })
  })

  it('reports missing libraries and static binaries', () => {
    expect(parseLdd('\tlibnuma.so.1 => not found\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n')).toEqual({
      libraries: ['/lib/x86_64-linux-gnu/libc.so.6'],
      missing: ['libnuma.so.1'],
    })
    expect(parseLdd('\tnot a dynamic executable\n')).toEqual({libraries: [], missing: []})
  })
})

describe('apt and dpkg output', () => {
  it('picks the newest 6.1 cloud kernel numerically, ignoring 6.12 and meta packages', () => {
    const search = `linux-image-6.1.0-47-cloud-amd64 - Linux 6.1 for x86-64 cloud (signed)
linux-image-6.1.0-9-cloud-amd64 - Linux 6.1 for x86-64 cloud (signed)
linux-image-6.12-cloud-amd64 - Linux for x86-64 cloud (meta-package)
linux-image-6.12.117+deb12-cloud-amd64 - Linux 6.12 for x86-64 cloud (signed)
linux-image-6.1.0-56-cloud-amd64 - Linux 6.1 for x86-64 cloud (signed)
linux-image-6.1.0-53-cloud-amd64 - Linux 6.1 for x86-64 cloud (signed)
`
    const kernels = parseCloudKernels(search)
    expect(kernels.map((k) => k.pkg)).toEqual([
      'linux-image-6.1.0-56-cloud-amd64',
      'linux-image-6.1.0-53-cloud-amd64',
      'linux-image-6.1.0-47-cloud-amd64',
      'linux-image-6.1.0-9-cloud-amd64',
    ])
    expect(kernels[0]?.abi).toBe('6.1.0-56-cloud-amd64')
  })

  it('reads the candidate version, and none', () => {
    expect(parseAptCandidate('qemu-guest-agent:\n  Installed: (none)\n  Candidate: 1:7.2+dfsg-7+deb12u18+b3\n  Version table:\n')).toBe('1:7.2+dfsg-7+deb12u18+b3')
    expect(parseAptCandidate('foo:\n  Installed: (none)\n  Candidate: (none)\n')).toBeUndefined()
    expect(parseAptCandidate('')).toBeUndefined()
  })

  it('keeps only installed packages from dpkg-query', () => {
    const out = 'busybox-static ii  1:1.35.0-4+deb12u1+b1\niperf3 rc  3.12-1\nlibfoo:amd64 ii  2.0\n'
    expect([...parseDpkgQuery(out)]).toEqual([['busybox-static', '1:1.35.0-4+deb12u1+b1'], ['libfoo', '2.0']])
  })

  it('lists busybox applets', () => {
    expect(parseBusyboxApplets('usr/bin/[\nusr/bin/[[\nsbin/ip\nbin/sh\n\n')).toEqual(['usr/bin/[', 'usr/bin/[[', 'sbin/ip', 'bin/sh'])
  })
})

describe('module order', () => {
  const dep = parseModulesDep(`kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/net/core/failover.ko:
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/char/virtio_console.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/lib/dimlib.ko:
`)

  it('keeps the required order when the dependencies agree (Debian 6.1 cloud kernel)', () => {
    const order = resolveModuleOrder([...REQUIRED_MODULES, 'virtio_console'], dep, new Set())
    expect(order.load.map((m) => m.name)).toEqual([...REQUIRED_MODULES, 'virtio_console'])
    expect(order.load[4]).toEqual({name: 'virtio_pci', path: 'kernel/drivers/virtio/virtio_pci.ko'})
  })

  it('loads a dependency the list does not name before its user, skips built-ins, reports absent modules', () => {
    const withDim = new Map(dep)
    withDim.set('virtio_net', {path: 'kernel/drivers/net/virtio_net.ko.xz', deps: ['kernel/lib/dimlib.ko', ...(dep.get('virtio_net')?.deps ?? [])]})
    withDim.delete('virtio')
    withDim.delete('virtio_ring')
    const builtin = parseModulesBuiltin('kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_ring.ko\n')
    const order = resolveModuleOrder([...REQUIRED_MODULES, 'nosuch'], withDim, builtin)
    const names = order.load.map((m) => m.name)
    expect(names).toEqual(['virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'failover', 'net_failover', 'dimlib', 'virtio_net'])
    expect(order.builtin).toEqual(['virtio_ring', 'virtio'])
    expect(order.absent).toEqual(['nosuch'])
  })
})
