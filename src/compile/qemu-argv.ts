/**
 * The QEMU command line of a VM run directly by virtlab (driver: qemu). One argv array, never a
 * shell string; QEMU daemonizes and writes a pidfile, which is how virtlab finds and stops it.
 * docs/labs/host.md#guests-under-libvirt-or-plain-qemu, docs/labs/vhost-user.md#the-vhost-user-ports, docs/labs/host.md#tcg-hosts (TCG guest on vhost-user).
 */
import {backendFor} from '../backends/index.js'
import type {Argv} from '../plan/step.js'
import {deriveUuid} from './ids.js'
import {assertQemuOptionValue} from './safety.js'
import {names, paths} from './context.js'
import {QEMU_BINARY} from './domain-xml.js'
import {type VmSite, guestCmdline} from './vm.js'

export function qemuArgv(site: VmSite): Argv {
  const {env, vm} = site
  for (const [what, value] of [['run directory', env.runDir], ['VM name', vm.name], ['machine', vm.machine]] as const) assertQemuOptionValue(what, value)
  const argv: Argv = [
    QEMU_BINARY.split('/').pop() ?? 'qemu-system-x86_64',
    '-name', `${names.domain(env, vm.name)},debug-threads=on`,
    '-uuid', deriveUuid(env.lab.name, vm.name),
    '-accel', site.accel,
    '-machine', vm.machine,
    // TCG: QEMU's default CPU model; -cpu max made guests 2-3x slower here (measured).
    ...(site.accel === 'kvm' ? ['-cpu', 'host'] : []),
    '-m', `${vm.memoryMiB}M`,
    '-smp', String(vm.vcpus),
    '-nodefaults',
    '-display', 'none',
    '-no-reboot',
    '-daemonize',
    '-pidfile', paths.pidfile(env, vm.name),
    '-qmp', `unix:${paths.qmpSocket(env, vm.name)},server=on,wait=off`,
    '-serial', `file:${paths.consoleLog(env, vm.name)}`,
  ]
  if (vm.image.type === 'builtin') {
    argv.push('-kernel', env.options.guest.kernel, '-initrd', env.options.guest.initrd, '-append', guestCmdline(site))
  } else {
    argv.push(
      '-drive', `file=${paths.overlay(env, vm.name)},format=qcow2,if=virtio`,
      '-drive', `file=${paths.seedIso(env, vm.name)},format=raw,if=virtio,readonly=on`,
    )
  }
  if (site.backing === 'memfd') {
    argv.push('-object', `memory-backend-memfd,id=mem,size=${vm.memoryMiB}M,share=on`, '-numa', 'node,memdev=mem')
  } else if (site.backing === 'hugepages') {
    const mount = env.lab.host.hugepages?.mount ?? '/dev/hugepages'
    assertQemuOptionValue('hugetlbfs mount', mount)
    argv.push('-object', `memory-backend-file,id=mem,size=${vm.memoryMiB}M,mem-path=${mount},share=on,prealloc=on`, '-numa', 'node,memdev=mem')
  }
  argv.push(
    '-device', 'virtio-serial-pci,id=vser0',
    '-chardev', `socket,id=qga0,path=${paths.qgaSocket(env, vm.name)},server=on,wait=off`,
    '-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0',
  )
  for (const nic of site.nics) argv.push(...backendFor(nic.nic.backend).qemuArgs(nic))
  return argv
}
