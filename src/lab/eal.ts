/**
 * DPDK EAL arguments a lab may add (dpdk.extraArgs, passed to root's ovs-vswitchd as dpdk-extra).
 * An allow-list: each option with a validated value. Nothing that loads code (-d), adds or blocks
 * devices the lab did not name (--vdev, -a/--allow, -b/--block), moves EAL's files (a second
 * --file-prefix, --huge-dir, --proc-type), or takes the cores and memory OVS configures itself
 * (-c, -l, --lcores, --socket-mem). See https://doc.dpdk.org/guides/linux_gsg/linux_eal_parameters.html
 * (the options) and https://docs.openvswitch.org/en/latest/intro/install/dpdk/ (dpdk-extra).
 */

const LOG_LEVEL = /^([0-8]|emerg|alert|crit|error|warning|notice|info|debug|[a-z][a-z0-9_.*]{0,63}:([0-8]|emerg|alert|crit|error|warning|notice|info|debug))$/
const SMALL = (max: number) => (v: string) => /^[1-9][0-9]{0,3}$/.test(v) && Number(v) <= max
const MIB_LIST = /^[0-9]{1,7}(,[0-9]{1,7}){0,7}$/

/** Options that take a value: the check of the value, and what it must be (for the message). */
const WITH_VALUE: Record<string, {ok: (v: string) => boolean; what: string}> = {
  '--log-level': {ok: (v) => LOG_LEVEL.test(v), what: 'a level 0-8 or a name (error, info, debug...), optionally prefixed by a log type and ":"'},
  '-n': {ok: SMALL(32), what: 'a number of memory channels (1-32)'},
  '-r': {ok: SMALL(16), what: 'a number of memory ranks (1-16)'},
  '--iova-mode': {ok: (v) => v === 'pa' || v === 'va', what: 'pa or va'},
  '--vfio-intr': {ok: (v) => v === 'legacy' || v === 'msi' || v === 'msix', what: 'legacy, msi or msix'},
  '--socket-limit': {ok: (v) => MIB_LIST.test(v), what: 'MiB per NUMA node, such as 1024 or 1024,1024'},
  '--base-virtaddr': {ok: (v) => /^0x[0-9a-fA-F]{1,16}$/.test(v), what: 'a hexadecimal address such as 0x7f0000000000'},
}

/** Options without a value. */
const FLAGS = new Set([
  '--no-telemetry',
  '--single-file-segments',
  '--legacy-mem',
  '--match-allocations',
  '--no-hpet',
  '--no-shconf',
  '--in-memory',
  '--huge-unlink',
  '--create-uio-dev',
])

/** Refused with a reason (the rest: "not an EAL option virtlab allows"). */
const REFUSED: Record<string, string> = {
  '-d': 'it loads a shared object into root\'s ovs-vswitchd',
  '--driver-path': 'it loads shared objects into root\'s ovs-vswitchd',
  '--plugin': 'it loads a shared object',
  '--vdev': 'it adds a device the lab did not name (a virtual device can open host NICs or files)',
  '-a': 'it lets DPDK probe a PCI device; name physical ports under physicalPorts: instead',
  '--allow': 'it lets DPDK probe a PCI device; name physical ports under physicalPorts: instead',
  '-w': 'it lets DPDK probe a PCI device; name physical ports under physicalPorts: instead',
  '--pci-whitelist': 'it lets DPDK probe a PCI device; name physical ports under physicalPorts: instead',
  '-b': 'virtlab already decides which PCI devices DPDK probes (--no-pci or -a for physicalPorts)',
  '--block': 'virtlab already decides which PCI devices DPDK probes (--no-pci or -a for physicalPorts)',
  '--pci-blacklist': 'virtlab already decides which PCI devices DPDK probes (--no-pci or -a for physicalPorts)',
  '--no-pci': 'virtlab adds --no-pci itself when the lab names no physical port',
  '--file-prefix': 'virtlab gives each lab its own --file-prefix',
  '--huge-dir': 'use dpdk.hugepageDir (validated) instead',
  '--proc-type': 'a secondary process would attach to another DPDK instance',
  '--socket-mem': 'use dpdk.socketMem instead',
  '-m': 'use dpdk.socketMem instead',
  '-c': 'use dpdk.lcoreMask instead',
  '-l': 'use dpdk.lcoreMask instead',
  '--lcores': 'use dpdk.lcoreMask instead',
  '--main-lcore': 'use dpdk.lcoreMask instead',
  '--master-lcore': 'use dpdk.lcoreMask instead',
  '-s': 'service cores are configured by OVS',
  '-S': 'service cores are configured by OVS',
  '--syslog': 'EAL logging goes to the OVS log',
  '--trace': 'tracing writes files outside the lab',
  '--trace-dir': 'tracing writes files outside the lab',
  '--mbuf-pool-ops-name': 'OVS chooses the mempool driver',
}

export interface EalProblem {
  /** Index in the argument list of the offending item. */
  index: number
  message: string
  hint: string
}

function allowed(): string {
  return [...Object.keys(WITH_VALUE).map((o) => `${o}${o.startsWith('--') ? '=' : ' '}<value>`), ...FLAGS].join(', ')
}

/** Check a list of extra EAL arguments; every problem names the item. */
export function checkEalArgs(args: readonly string[]): EalProblem[] {
  const problems: EalProblem[] = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? ''
    let name = arg
    let value: string | undefined
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      if (eq > 0) {
        name = arg.slice(0, eq)
        value = arg.slice(eq + 1)
      }
    } else if (/^-[A-Za-z]./.test(arg)) {
      name = arg.slice(0, 2)
      value = arg.slice(2)
    } else if (!arg.startsWith('-')) {
      problems.push({index: i, message: `EAL argument ${JSON.stringify(arg)} is not an option`, hint: 'a value goes right after its option, e.g. ["-n", "4"] or "--log-level=8"'})
      continue
    }
    const refused = REFUSED[name]
    if (refused !== undefined) {
      problems.push({index: i, message: `EAL option ${name} is not allowed: ${refused}`, hint: `allowed EAL options: ${allowed()}`})
      if (value === undefined && i + 1 < args.length && !(args[i + 1] ?? '').startsWith('-')) i++
      continue
    }
    const spec = WITH_VALUE[name]
    if (spec !== undefined) {
      if (value === undefined) {
        const next = args[i + 1]
        if (next === undefined || next.startsWith('-')) {
          problems.push({index: i, message: `EAL option ${name} needs a value: ${spec.what}`, hint: name.startsWith('--') ? `write ${name}=<value>` : `write "${name}", "<value>"`})
          continue
        }
        value = next
        i++
        if (!spec.ok(value)) problems.push({index: i, message: `value ${JSON.stringify(value)} of EAL option ${name} is not valid: ${spec.what}`, hint: `${name} takes ${spec.what}`})
        continue
      }
      if (!spec.ok(value)) problems.push({index: i, message: `value ${JSON.stringify(value)} of EAL option ${name} is not valid: ${spec.what}`, hint: `${name} takes ${spec.what}`})
      continue
    }
    if (FLAGS.has(name)) {
      if (value !== undefined) problems.push({index: i, message: `EAL option ${name} takes no value`, hint: `write ${name} alone`})
      continue
    }
    problems.push({index: i, message: `EAL option ${name} is not one virtlab allows`, hint: `allowed EAL options: ${allowed()}`})
  }
  return problems
}
