/**
 * The libvirt domain of a VM, built as an element tree (src/compile/xml.ts) and serialised by
 * fast-xml-parser: never by string concatenation. libvirt formatdomain; docs/labs/host.md,
 * docs/labs/vhost-user.md#shared-guest-memory (memoryBacking, cputune, NUMA memAccess), docs/labs/host.md#tcg-hosts (TCG, memfd, vectors=0).
 */
import {backendFor} from '../backends/index.js'
import {deriveUuid} from './ids.js'
import {names, paths} from './context.js'
import {type VmSite, guestCmdline, guestCpus} from './vm.js'
import {el, renderXml, textEl, type XmlElement} from './xml.js'

export const VIRTLAB_XMLNS = 'https://virtlab.dev/xmlns/domain/1'
export const QEMU_XMLNS = 'http://libvirt.org/schemas/domain/qemu/1.0'
export const QEMU_BINARY = '/usr/bin/qemu-system-x86_64'

export function domainXml(site: VmSite): string {
  const {env, vm} = site
  const lab = env.lab.name
  const hugepages = site.backing === 'hugepages' ? env.lab.host.hugepages : undefined

  const qemuArgs: string[][] = []
  const seen = new Set<string>()
  for (const nic of site.nics) {
    for (const group of backendFor(nic.nic.backend).domainQemuArgs(nic)) {
      const key = JSON.stringify(group)
      if (seen.has(key)) continue
      seen.add(key)
      qemuArgs.push(group)
    }
  }

  const memoryBacking: XmlElement | undefined = site.backing === 'memfd'
    ? el('memoryBacking', {}, el('source', {type: 'memfd'}), el('access', {mode: 'shared'}))
    : site.backing === 'hugepages'
      ? el('memoryBacking', {},
        el('hugepages', {}, el('page', {size: hugepages?.sizeKiB ?? 2048, unit: 'KiB', nodeset: hugepages?.node})),
        el('access', {mode: 'shared'}))
      : undefined

  const cputune = vm.cpuset === undefined ? undefined : el('cputune', {},
    Array.from({length: vm.vcpus}, (_, i) => el('vcpupin', {vcpu: i, cpuset: vm.cpuset})),
    el('emulatorpin', {cpuset: vm.cpuset}),
  )

  const os = vm.image.type === 'builtin'
    ? el('os', {},
      textEl('type', 'hvm', {arch: 'x86_64', machine: vm.machine}),
      textEl('kernel', env.options.guest.kernel),
      textEl('initrd', env.options.guest.initrd),
      textEl('cmdline', guestCmdline(site)))
    : el('os', {}, textEl('type', 'hvm', {arch: 'x86_64', machine: vm.machine}), el('boot', {dev: 'hd'}))

  // Under TCG the guest gets QEMU's default CPU model: mode='maximum' (-cpu max) emulates every
  // feature QEMU knows and made guests 2-3x slower here (measured). KVM passes the host CPU through.
  const numa = site.backing === 'hugepages' && el('numa', {}, el('cell', {id: 0, cpus: guestCpus(vm.vcpus), memory: vm.memoryMiB, unit: 'MiB', memAccess: 'shared'}))
  const cpu = site.accel === 'kvm'
    ? el('cpu', {mode: 'host-passthrough', check: 'none'}, numa)
    : numa && el('cpu', {}, numa)

  const disks = vm.image.type === 'cloud'
    ? [
      el('disk', {type: 'file', device: 'disk'},
        el('driver', {name: 'qemu', type: 'qcow2'}),
        el('source', {file: paths.overlay(env, vm.name)}),
        el('target', {dev: 'vda', bus: 'virtio'})),
      el('disk', {type: 'file', device: 'cdrom'},
        el('driver', {name: 'qemu', type: 'raw'}),
        el('source', {file: paths.seedIso(env, vm.name)}),
        el('target', {dev: 'sda', bus: 'sata'}),
        el('readonly')),
    ]
    : []

  const root = el('domain', {type: site.accel === 'kvm' ? 'kvm' : 'qemu', 'xmlns:qemu': qemuArgs.length > 0 ? QEMU_XMLNS : undefined},
    textEl('name', names.domain(env, vm.name)),
    textEl('uuid', deriveUuid(lab, vm.name)),
    textEl('title', `virtlab ${lab}/${vm.name}`),
    textEl('description', env.lab.description),
    el('metadata', {}, el('virtlab:lab', {'xmlns:virtlab': VIRTLAB_XMLNS, name: lab, vm: vm.name})),
    textEl('memory', vm.memoryMiB, {unit: 'MiB'}),
    memoryBacking,
    textEl('vcpu', vm.vcpus, {placement: 'static', cpuset: vm.cpuset}),
    cputune,
    vm.numaNode !== undefined && el('numatune', {}, el('memory', {mode: 'strict', nodeset: vm.numaNode})),
    os,
    el('features', {}, el('acpi')),
    cpu,
    el('clock', {offset: 'utc'}),
    textEl('on_poweroff', 'destroy'),
    textEl('on_reboot', 'destroy'),
    textEl('on_crash', 'destroy'),
    el('devices', {},
      textEl('emulator', QEMU_BINARY),
      disks,
      site.nics.flatMap((nic) => backendFor(nic.nic.backend).domainDevices(nic)),
      el('serial', {type: 'file'}, el('source', {path: paths.consoleLog(env, vm.name)}), el('target', {port: 0})),
      el('channel', {type: 'unix'},
        el('source', {mode: 'bind', path: paths.qgaSocket(env, vm.name)}),
        el('target', {type: 'virtio', name: 'org.qemu.guest_agent.0'})),
      el('memballoon', {model: 'none'}),
    ),
    qemuArgs.length > 0 && el('qemu:commandline', {}, qemuArgs.flat().map((value) => el('qemu:arg', {value}))),
  )
  return renderXml(root)
}
