/**
 * The NIC backend registry. The Record over the schema's NicBackendKind makes the compiler refuse a
 * schema enum value without a backend here (and a backend the schema does not know).
 */
import type {NicBackendKind} from '../lab/schema.js'
import type {NicBackend} from './backend.js'
import {sriovVf} from './sriov-vf.js'
import {vdpa} from './vdpa.js'
import {vhostNet} from './vhost-net.js'
import {vhostUser} from './vhost-user.js'
import {virtioQemu} from './virtio-qemu.js'

export type {NicBackend} from './backend.js'

export const BACKENDS: Readonly<Record<NicBackendKind, NicBackend>> = {
  'virtio-qemu': virtioQemu,
  'vhost-net': vhostNet,
  'vhost-user': vhostUser,
  'sriov-vf': sriovVf,
  vdpa,
}

export function backendFor(kind: NicBackendKind): NicBackend {
  return BACKENDS[kind]
}
