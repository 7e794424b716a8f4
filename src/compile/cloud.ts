/**
 * A VM on a cloud image: a qcow2 overlay on the image (the image itself is never written) and a
 * cloud-init NoCloud seed ISO (meta-data, user-data, network-config with the NICs' addresses
 * matched by MAC). docs/labs/host.md#cloud-images (qemu-img create -b).
 */
import {stringify} from 'yaml'

import type {Step} from '../plan/step.js'
import {assertArgSafe, names, paths} from './context.js'
import {exec, step} from './steps.js'
import type {VmSite} from './vm.js'

export function cloudSeed(site: VmSite): {metaData: string; userData: string; networkConfig: string} {
  const {vm, env} = site
  const image = vm.image
  const user = image.type === 'cloud' ? image.user : 'virtlab'
  const metaData = stringify({'instance-id': names.domain(env, vm.name), 'local-hostname': vm.name})
  const userData = '#cloud-config\n' + stringify({
    hostname: vm.name,
    users: [{name: user, sudo: 'ALL=(ALL) NOPASSWD:ALL', shell: '/bin/sh', lock_passwd: true}],
    ssh_pwauth: false,
  })
  const ethernets: Record<string, unknown> = {}
  for (const nic of site.nics) {
    if (nic.nic.address === undefined) continue
    ethernets[`nic${nic.nic.index}`] = {match: {macaddress: nic.mac}, addresses: [nic.nic.address]}
  }
  const networkConfig = stringify({version: 2, ethernets})
  return {metaData, userData, networkConfig}
}

export function cloudImageSteps(site: VmSite): Step[] {
  const {env, vm} = site
  if (vm.image.type !== 'cloud') return []
  assertArgSafe('cloud image path', vm.image.path, /^\/[A-Za-z0-9_./+@:-]*$/)
  const overlay = paths.overlay(env, vm.name)
  const seedDir = paths.seedDir(env, vm.name)
  const iso = paths.seedIso(env, vm.name)
  const seed = cloudSeed(site)
  const id = `vm:${vm.name}`
  const files: [string, string][] = [['meta-data', seed.metaData], ['user-data', seed.userData], ['network-config', seed.networkConfig]]
  return [
    step({
      id: `${id}:disk`,
      title: `Create the qcow2 overlay ${overlay} on ${vm.image.path} (the image is never written)`,
      phase: 'vm',
      action: exec(['qemu-img', 'create', '-f', 'qcow2', '-F', 'qcow2', '-b', vm.image.path, overlay]),
      check: {kind: 'file-exists', path: overlay},
      undo: {kind: 'action', action: {kind: 'remove', path: overlay}},
      dependsOn: ['rundir'],
      ref: 'docs/labs/host.md#cloud-images (qemu-img create -f qcow2 -b <base> <overlay>)',
    }),
    step({
      id: `${id}:seed:dir`,
      title: `Create the cloud-init seed directory ${seedDir}`,
      phase: 'vm',
      action: {kind: 'mkdir', path: seedDir, mode: 0o755},
      undo: {kind: 'action', action: {kind: 'remove', path: seedDir, recursive: true}},
      dependsOn: ['rundir'],
    }),
    ...files.map(([name, content]) => step({
      id: `${id}:seed:${name}`,
      title: `Write cloud-init ${name} for ${vm.name}`,
      phase: 'vm',
      action: {kind: 'file', path: `${seedDir}/${name}`, content, mode: 0o644},
      dependsOn: [`${id}:seed:dir`],
    })),
    step({
      id: `${id}:seed`,
      title: `Build the cloud-init NoCloud seed ISO ${iso} (volume id cidata)`,
      phase: 'vm',
      action: exec(['genisoimage', '-quiet', '-output', iso, '-volid', 'cidata', '-joliet', '-rock', ...files.map(([name]) => `${seedDir}/${name}`)]),
      undo: {kind: 'action', action: {kind: 'remove', path: iso}},
      dependsOn: files.map(([name]) => `${id}:seed:${name}`),
    }),
  ]
}
