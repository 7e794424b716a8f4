/**
 * The lab format, defined once. TypeBox gives both the JSON Schema (validated by ajv, published as
 * schema/lab.schema.json) and the TypeScript types (Static<...>). Every object rejects unknown keys.
 * Every string a lab can carry into an argv, a path or an XML attribute is pattern-restricted here,
 * so hostile values (shell metacharacters, newlines, traversal) are rejected before anything runs.
 */
import {type Static, type TSchema, Type} from '@sinclair/typebox'

const strict = {additionalProperties: false} as const

// ---- scalar shapes -------------------------------------------------------------------------------

/** A lab or VM name: lower-case, starts with a letter, usable in netns, domain and file names. */
export const Name = Type.String({pattern: '^[a-z][a-z0-9-]{0,22}$', description: 'lower-case letters, digits and "-", starting with a letter, at most 23 characters'})
/** A Linux interface name: at most 15 bytes, no "/", no whitespace, not "." or "..". */
export const IfName = Type.String({pattern: '^(?!\\.{1,2}$)[A-Za-z0-9_.][A-Za-z0-9_.-]{0,14}$', description: 'a Linux interface name (at most 15 characters: letters, digits, "_", ".", "-"; not starting with "-")'})
export const Mac = Type.String({pattern: '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$', description: 'a MAC address such as 52:54:00:12:34:56'})
export const PciAddress = Type.String({pattern: '^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7]$', description: 'a PCI address such as 0000:03:00.0'})
export const Cidr = Type.String({pattern: '^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}/([0-9]|[12][0-9]|3[0-2])$', description: 'an IPv4 address with prefix length, such as 10.99.0.1/24'})
export const CpuList = Type.String({pattern: '^[0-9]{1,4}(-[0-9]{1,4})?(,[0-9]{1,4}(-[0-9]{1,4})?)*$', description: 'a CPU list such as "1" or "2-3,6"'})
export const HexMask = Type.String({pattern: '^0x[0-9a-fA-F]{1,64}$', description: 'a hexadecimal CPU mask such as 0x2'})
export const MemorySize = Type.String({pattern: '^[1-9][0-9]{0,7}(K|M|G)(iB)?$', description: 'a memory size such as 512M, 2G or 1048576K'})
/** An absolute, normalized host path: no "." or ".." segment, no "//", no newline, no NUL, no shell-special characters. */
export const HostPath = Type.String({pattern: '^(?!.*/\\.{1,2}(/|$))(?!.*//)/[A-Za-z0-9_./+@:-]{0,4095}$', description: 'an absolute path without "." or ".." segments, "//", spaces or shell characters'})
/** A device node the lab needs: a normalized /dev path of a kind virtlab knows. */
export const DevicePath = Type.String({pattern: '^/dev/(kvm|net/tun|vhost-net|vhost-vsock|vhost-vdpa-[0-9]{1,4}|vfio/vfio|vfio/[0-9]{1,4}|vduse/control|uio[0-9]{1,4})$', description: 'a device node: /dev/kvm, /dev/net/tun, /dev/vhost-net, /dev/vhost-vsock, /dev/vhost-vdpa-N, /dev/vfio/vfio, /dev/vfio/N, /dev/vduse/control or /dev/uioN'})
export const ModuleName = Type.String({pattern: '^[a-z0-9_-]{1,56}$'})
export const ParamName = Type.String({pattern: '^[a-z][a-z0-9_]{0,31}$'})
/**
 * A free-text label (descriptions): one line; no C0/C1 control characters, no line/paragraph
 * separators, no bidi controls (a terminal or an editor would act on them), nothing XML cannot
 * hold (U+FFFE, U+FFFF, lone surrogates). ("@{" is refused in every lab value by the rules.)
 */
export const Text = Type.String({pattern: '^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u200e\\u200f\\u061c\\u202a-\\u202e\\u2066-\\u2069\\ufffe\\uffff\\ud800-\\udfff]*$', maxLength: 400, description: 'one line of text without control, bidi or non-characters'})

const Int = (minimum: number, maximum: number, extra: Record<string, unknown> = {}) => Type.Integer({minimum, maximum, ...extra})

// ---- parameters ----------------------------------------------------------------------------------

export const Parameter = Type.Object({
  type: Type.Optional(Type.Union([Type.Literal('string'), Type.Literal('integer'), Type.Literal('boolean')], {default: 'string'})),
  default: Type.Union([Type.String({maxLength: 256}), Type.Integer(), Type.Boolean()]),
  description: Type.Optional(Text),
}, strict)

// ---- host preparation ----------------------------------------------------------------------------

export const Hugepages = Type.Object({
  size: Type.Optional(Type.Union([Type.Literal('2M'), Type.Literal('1G')], {default: '2M', description: 'page size (default 2M)'})),
  count: Int(1, 65536, {description: 'pages the lab needs (virtlab raises nr_hugepages to at least this and restores it at down)'}),
  node: Type.Optional(Int(0, 63, {description: 'NUMA node to reserve on (default: system-wide)'})),
  mount: Type.Optional(HostPath),
}, strict)

export const HostPrep = Type.Object({
  hugepages: Type.Optional(Hugepages),
  modules: Type.Optional(Type.Array(ModuleName, {maxItems: 32, description: 'kernel modules that must be loaded'})),
  devices: Type.Optional(Type.Array(DevicePath, {maxItems: 32, description: 'device nodes that must exist, e.g. /dev/vhost-net'})),
  iommu: Type.Optional(Type.Union([Type.Literal('required'), Type.Literal('optional')], {default: 'optional'})),
  isolation: Type.Optional(Type.Union([Type.Literal('netns'), Type.Literal('host')], {default: 'netns', description: 'netns: host-side endpoints live in a namespace the lab owns'})),
}, strict)

// ---- switches ------------------------------------------------------------------------------------

export const DpdkConfig = Type.Object({
  socketMem: Type.Optional(Type.String({pattern: '^[0-9]{1,6}(,[0-9]{1,6}){0,7}$', default: '512', description: 'other_config:dpdk-socket-mem, MiB per NUMA node'})),
  lcoreMask: Type.Optional(HexMask),
  pmdCpuMask: Type.Optional(HexMask),
  perPortMemory: Type.Optional(Type.Boolean({default: true})),
  extraArgs: Type.Optional(Type.Array(Type.String({pattern: '^(--?)?[A-Za-z0-9][A-Za-z0-9_=.,:*/-]{0,127}$'}), {maxItems: 16, description: 'extra EAL arguments (dpdk-extra) from an allow-list: --log-level, -n, -r, --iova-mode, --vfio-intr, --socket-limit, --base-virtaddr, --no-telemetry, --single-file-segments, --legacy-mem, --match-allocations, --no-hpet, --no-shconf, --in-memory, --huge-unlink'})),
  hugepageDir: Type.Optional(HostPath),
}, strict)

export const PhysicalPort = Type.Object({
  name: IfName,
  pci: PciAddress,
  nRxq: Type.Optional(Int(1, 64)),
}, strict)

export const Switch = Type.Object({
  name: IfName,
  type: Type.Union([Type.Literal('linux-bridge'), Type.Literal('ovs')]),
  datapath: Type.Optional(Type.Union([Type.Literal('system'), Type.Literal('netdev')], {description: 'OVS datapath type (netdev for OVS-DPDK)'})),
  ovs: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('system'), Type.Literal('private')], {default: 'auto', description: 'use the host OVS service, or run a private ovsdb-server/ovs-vswitchd'})),
  dpdk: Type.Optional(DpdkConfig),
  address: Type.Optional(Cidr),
  uplink: Type.Optional(IfName),
  physicalPorts: Type.Optional(Type.Array(PhysicalPort, {maxItems: 8})),
}, strict)

// ---- SR-IOV --------------------------------------------------------------------------------------

export const VfConfig = Type.Object({
  index: Int(0, 255),
  mac: Type.Optional(Mac),
  vlan: Type.Optional(Type.Object({
    id: Int(0, 4095),
    qos: Type.Optional(Int(0, 7)),
    proto: Type.Optional(Type.Union([Type.Literal('802.1Q'), Type.Literal('802.1ad')])),
  }, strict)),
  spoofchk: Type.Optional(Type.Boolean()),
  trust: Type.Optional(Type.Boolean()),
  state: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('enable'), Type.Literal('disable')])),
  minTxRate: Type.Optional(Int(0, 400000, {description: 'Mbit/s'})),
  maxTxRate: Type.Optional(Int(0, 400000, {description: 'Mbit/s'})),
  driver: Type.Optional(Type.Union([Type.Literal('vfio-pci'), Type.Literal('host')], {default: 'vfio-pci'})),
  switch: Type.Optional(IfName),
}, strict)

export const SriovPf = Type.Object({
  name: Name,
  pf: Type.Union([IfName, PciAddress], {description: 'the PF, by netdev name or PCI address'}),
  vfs: Int(1, 256),
  driversAutoprobe: Type.Optional(Type.Boolean({default: false})),
  eswitchMode: Type.Optional(Type.Union([Type.Literal('legacy'), Type.Literal('switchdev')], {default: 'legacy'})),
  vf: Type.Optional(Type.Array(VfConfig, {maxItems: 256})),
}, strict)

// ---- vDPA ----------------------------------------------------------------------------------------

export const VdpaDevice = Type.Object({
  name: Type.String({pattern: '^[a-z][a-z0-9_-]{0,30}$'}),
  mgmtdev: Type.String({pattern: '^(vdpasim_net|vduse|(pci/[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7])|(auxiliary/mlx5_core\\.sf\\.[0-9]{1,6}))$', description: 'vdpasim_net, vduse, pci/<BDF> or auxiliary/mlx5_core.sf.<n>'}),
  mac: Type.Optional(Mac),
  maxVqp: Type.Optional(Int(1, 256)),
  mtu: Type.Optional(Int(68, 9216)),
  driver: Type.Optional(Type.Union([Type.Literal('vhost_vdpa'), Type.Literal('virtio_vdpa')], {default: 'vhost_vdpa'})),
  address: Type.Optional(Cidr),
}, strict)

// ---- VMs and NICs --------------------------------------------------------------------------------

export const NicBackendName = Type.Union([
  Type.Literal('virtio-qemu'),
  Type.Literal('vhost-net'),
  Type.Literal('vhost-user'),
  Type.Literal('sriov-vf'),
  Type.Literal('vdpa'),
], {description: 'virtio-qemu: tap + QEMU userspace virtio; vhost-net: tap + in-kernel backend; vhost-user: OVS-DPDK port; sriov-vf: VF through vfio; vdpa: vhost-vdpa device'})

export const Nic = Type.Object({
  backend: NicBackendName,
  switch: Type.Optional(IfName),
  mac: Type.Optional(Mac),
  address: Type.Optional(Cidr),
  queues: Type.Optional(Int(1, 16, {default: 1})),
  rxQueueSize: Type.Optional(Type.Union([Type.Literal(256), Type.Literal(512), Type.Literal(1024)])),
  txQueueSize: Type.Optional(Type.Union([Type.Literal(256), Type.Literal(512), Type.Literal(1024)])),
  vhostUser: Type.Optional(Type.Object({
    qemuMode: Type.Optional(Type.Union([Type.Literal('server'), Type.Literal('client')], {default: 'server', description: 'server pairs with OVS dpdkvhostuserclient ports (recommended)'})),
  }, strict)),
  sriov: Type.Optional(Type.Object({
    pf: Name,
    vf: Int(0, 255),
    attach: Type.Optional(Type.Union([Type.Literal('interface'), Type.Literal('hostdev')], {default: 'interface'})),
  }, strict)),
  vdpa: Type.Optional(Type.Object({device: Type.String({pattern: '^[a-z][a-z0-9_-]{0,30}$'})}, strict)),
  guestDriver: Type.Optional(Type.Union([Type.Literal('virtio-net'), Type.Literal('virtio-pmd')], {default: 'virtio-net'})),
}, strict)

export const Image = Type.Union([
  Type.Object({type: Type.Literal('builtin')}, strict),
  Type.Object({type: Type.Literal('cloud'), path: HostPath, user: Type.Optional(Type.String({pattern: '^[a-z_][a-z0-9_-]{0,31}$'}))}, strict),
])

export const Vm = Type.Object({
  name: Name,
  image: Type.Optional(Image),
  vcpus: Type.Optional(Int(1, 256, {default: 1})),
  memory: Type.Optional(MemorySize),
  memoryBacking: Type.Optional(Type.Union([Type.Literal('default'), Type.Literal('memfd'), Type.Literal('hugepages')], {description: 'vhost-user needs memfd or hugepages (shared memory); default picks memfd then'})),
  cpuset: Type.Optional(CpuList),
  numaNode: Type.Optional(Int(0, 63)),
  accel: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('kvm'), Type.Literal('tcg')], {default: 'auto'})),
  machine: Type.Optional(Type.Union([Type.Literal('q35'), Type.Literal('pc')], {default: 'q35'})),
  nics: Type.Array(Nic, {minItems: 1, maxItems: 8}),
}, strict)

// ---- throughput tests ----------------------------------------------------------------------------

export const Endpoint = Type.String({pattern: '^(host|[a-z][a-z0-9-]{0,22})$', description: '"host" (the lab\'s host-side endpoint) or a VM name'})

export const ThroughputTest = Type.Object({
  name: Name,
  tool: Type.Optional(Type.Union([Type.Literal('iperf3')], {default: 'iperf3'})),
  client: Endpoint,
  server: Endpoint,
  protocol: Type.Optional(Type.Union([Type.Literal('tcp'), Type.Literal('udp')], {default: 'tcp'})),
  direction: Type.Optional(Type.Union([Type.Literal('tx'), Type.Literal('rx'), Type.Literal('both')], {default: 'tx'})),
  duration: Type.Optional(Int(1, 3600, {default: 10, description: 'seconds per trial'})),
  warmup: Type.Optional(Int(0, 60, {default: 1, description: 'seconds excluded at the start of each trial'})),
  streams: Type.Optional(Int(1, 128, {default: 1})),
  sizes: Type.Optional(Type.Array(Int(16, 65507), {maxItems: 16, description: 'message (TCP) or datagram (UDP) sizes in bytes'})),
  bitrate: Type.Optional(Type.String({pattern: '^[0-9]{1,6}(\\.[0-9]{1,3})?[KMG]?$', description: 'UDP offered rate (iperf3 -b)'})),
  trials: Type.Optional(Int(1, 100, {default: 3})),
}, strict)

// ---- the lab -------------------------------------------------------------------------------------

export const LabSchema = Type.Object({
  name: Name,
  description: Text,
  reference: Type.Optional(Text),
  parameters: Type.Optional(Type.Record(ParamName, Parameter)),
  host: Type.Optional(HostPrep),
  switches: Type.Optional(Type.Array(Switch, {maxItems: 16})),
  sriov: Type.Optional(Type.Array(SriovPf, {maxItems: 8})),
  vdpa: Type.Optional(Type.Array(VdpaDevice, {maxItems: 16})),
  vms: Type.Array(Vm, {maxItems: 64}),
  tests: Type.Optional(Type.Array(ThroughputTest, {maxItems: 64})),
}, {...strict, $id: 'https://virtlab.dev/schema/lab.schema.json', title: 'virtlab lab'})

export type Lab = Static<typeof LabSchema>
export type LabSwitch = Static<typeof Switch>
export type LabVm = Static<typeof Vm>
export type LabNic = Static<typeof Nic>
export type LabSriovPf = Static<typeof SriovPf>
export type LabVf = Static<typeof VfConfig>
export type LabVdpa = Static<typeof VdpaDevice>
export type LabTest = Static<typeof ThroughputTest>
export type LabHost = Static<typeof HostPrep>
export type LabParameter = Static<typeof Parameter>
export type NicBackendKind = Static<typeof NicBackendName>

/** The JSON Schema document published as schema/lab.schema.json. */
export function labJsonSchema(): TSchema {
  return {$schema: 'http://json-schema.org/draft-07/schema#', ...JSON.parse(JSON.stringify(LabSchema)) as TSchema}
}
