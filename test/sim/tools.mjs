/**
 * The fake host tools (ip, vdpa, devlink, modprobe, ovs-vsctl) of the simulated host: each parses
 * its argv like the real tool, applies the change through kernel.mjs under $VIRTLAB_SIM_ROOT, and
 * prints what the real tool prints, failing with its messages and exit codes.
 */
import {lstatSync} from 'node:fs'
import {join} from 'node:path'

import * as k from './kernel.mjs'

class Exit extends Error {
  constructor(code, message) {
    super(message)
    this.exitCode = code
  }
}

const out = (s) => process.stdout.write(s.endsWith('\n') ? s : s + '\n')

// ---- ip ------------------------------------------------------------------------------------------

function ipUsageError(arg, what) {
  return new Exit(255, `Error: argument "${arg}" is wrong: ${what}`)
}

function rtnl(error) {
  if (error instanceof k.NetlinkError) return new Exit(2, `RTNETLINK answers: ${k.STRERROR[error.code] ?? error.code}`)
  return error
}

function vfJson(vf, i) {
  const o = {vf: i, link_type: 'ether', address: vf.mac, broadcast: 'ff:ff:ff:ff:ff:ff'}
  // iproute2 ipaddress.c print_vfinfo: vlan_list entries omit zero vlan/qos, protocol only for 802.1ad.
  const v = {}
  if (vf.vlan) v.vlan = vf.vlan
  if (vf.qos) v.qos = vf.qos
  if (vf.proto === '802.1ad') v.protocol = '802.1ad'
  o.vlan_list = [v]
  if (vf.max_tx_rate) o.max_tx_rate = vf.max_tx_rate
  if (vf.min_tx_rate) o.min_tx_rate = vf.min_tx_rate
  o.spoofchk = vf.spoofchk
  o.link_state = vf.link_state
  o.trust = vf.trust
  o.query_rss_en = false
  return o
}

function vfText(vf, i) {
  let s = `    vf ${i}     link/ether ${vf.mac} brd ff:ff:ff:ff:ff:ff`
  if (vf.vlan) s += `, vlan ${vf.vlan}`
  if (vf.qos) s += `, qos ${vf.qos}`
  if (vf.proto === '802.1ad') s += ' vlan protocol 802.1ad'
  if (vf.max_tx_rate) s += `, max_tx_rate ${vf.max_tx_rate}Mbps`
  if (vf.min_tx_rate) s += `, min_tx_rate ${vf.min_tx_rate}Mbps`
  s += `, spoof checking ${vf.spoofchk ? 'on' : 'off'}, link-state ${vf.link_state}, trust ${vf.trust ? 'on' : 'off'}, query_rss off`
  return s
}

function linkJson(nd) {
  const o = {ifindex: nd.ifindex, ifname: nd.name, flags: nd.up ? ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'] : ['BROADCAST', 'MULTICAST'], mtu: 1500, operstate: nd.up ? 'UP' : 'DOWN', link_type: 'ether', address: nd.mac, broadcast: 'ff:ff:ff:ff:ff:ff'}
  if (nd.vfs) o.vfinfo_list = nd.vfs.map(vfJson)
  return o
}

function linkText(nd) {
  const lines = [`${nd.ifindex}: ${nd.name}: <${nd.up ? 'BROADCAST,MULTICAST,UP,LOWER_UP' : 'BROADCAST,MULTICAST'}> mtu 1500 qdisc mq state ${nd.up ? 'UP' : 'DOWN'} mode DEFAULT group default qlen 1000`, `    link/ether ${nd.mac} brd ff:ff:ff:ff:ff:ff`]
  for (const [i, vf] of (nd.vfs ?? []).entries()) lines.push(vfText(vf, i))
  return lines.join('\n')
}

function onOff(v, name) {
  if (v === 'on') return true
  if (v === 'off') return false
  throw ipUsageError(v, `Invalid "${name}" value`)
}

function num(v, name, max) {
  if (!/^\d+$/.test(v ?? '') || Number(v) > max) throw ipUsageError(v, `Invalid "${name}" value`)
  return Number(v)
}

function ip(argv) {
  const root = k.simRoot()
  let json = false
  let netns = null
  const args = [...argv]
  while (args[0]?.startsWith('-')) {
    const o = args.shift()
    if (o === '-j' || o === '-json') json = true
    else if (o === '-p' || o === '-pretty' || o === '-d' || o === '-details') continue
    else if (o === '-n' || o === '-netns') {
      netns = args.shift()
      if (!existsSync(root, `/run/netns/${netns}`)) throw new Exit(1, `Cannot open network namespace "${netns}": No such file or directory`)
    } else throw new Exit(255, `Option "${o}" is unknown, try "ip -help".`)
  }
  const obj = args.shift()
  const cmd = args.shift() ?? 'show'
  if (obj === 'link' || obj === 'l') {
    if (cmd === 'show' || cmd === 'list' || cmd === 'sh') {
      if (args[0] === 'dev') args.shift()
      const name = args[0]
      const list = name === undefined ? k.netdevsIn(root, netns).map((nd) => k.netdevInfo(root, nd.name, netns)) : [k.netdevInfo(root, name, netns)]
      if (list[0] === undefined) throw new Exit(1, `Device "${name}" does not exist.`)
      out(json ? JSON.stringify(list.map(linkJson)) : list.map(linkText).join('\n'))
      return
    }
    if (cmd === 'set') {
      if (args[0] === 'dev') args.shift()
      const name = args.shift()
      if (name === undefined) throw new Exit(255, 'Not enough of information: "dev" argument is required.')
      if (!k.netdevInfo(root, name, netns)) throw new Exit(1, `Cannot find device "${name}"`)
      const changes = {}
      let vf
      const vfAttrs = {}
      while (args.length > 0) {
        const a = args.shift()
        if (a === 'up' || a === 'down') changes.up = a === 'up'
        else if (a === 'netns') changes.netns = args.shift()
        else if (a === 'vf') {
          vf = num(args.shift(), 'vf', 255)
          while (args.length > 0 && !['up', 'down', 'netns', 'vf'].includes(args[0])) {
            const key = args.shift()
            const v = args.shift()
            if (v === undefined) throw new Exit(255, `Command line is not complete. Try option "help"`)
            if (key === 'mac') {
              if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(v)) throw ipUsageError(v, 'Invalid "mac" value')
              vfAttrs.mac = v.toLowerCase()
            } else if (key === 'vlan') vfAttrs.vlan = num(v, 'vlan', 4095)
            else if (key === 'qos') vfAttrs.qos = num(v, 'qos', 7)
            else if (key === 'proto') {
              if (v !== '802.1Q' && v !== '802.1ad') throw ipUsageError(v, 'Invalid "proto" value')
              vfAttrs.proto = v
            } else if (key === 'spoofchk') vfAttrs.spoofchk = onOff(v, 'spoofchk')
            else if (key === 'trust') vfAttrs.trust = onOff(v, 'trust')
            else if (key === 'state') {
              if (!['auto', 'enable', 'disable'].includes(v)) throw ipUsageError(v, 'Invalid "state" value')
              vfAttrs.link_state = v
            } else if (key === 'min_tx_rate') vfAttrs.min_tx_rate = num(v, 'min_tx_rate', 4294967295)
            else if (key === 'max_tx_rate') vfAttrs.max_tx_rate = num(v, 'max_tx_rate', 4294967295)
            else throw new Exit(255, `Error: argument "${key}" is wrong: unknown vf parameter`)
          }
          if (('qos' in vfAttrs || 'proto' in vfAttrs) && !('vlan' in vfAttrs)) throw new Exit(255, 'Error: "qos"/"proto" need "vlan"')
          if ('vlan' in vfAttrs) {
            vfAttrs.qos ??= 0
            vfAttrs.proto ??= '802.1Q'
          }
        } else throw new Exit(255, `Error: either "dev" is duplicate, or "${a}" is a garbage.`)
      }
      try {
        if (vf !== undefined) k.setVf(root, name, vf, vfAttrs)
        if (changes.up !== undefined || changes.netns !== undefined) k.setLink(root, name, netns, changes)
      } catch (error) {
        throw rtnl(error)
      }
      return
    }
  }
  if (obj === 'addr' || obj === 'address' || obj === 'a') {
    if (cmd === 'add' || cmd === 'del') {
      const cidr = args.shift()
      if (args.shift() !== 'dev') throw new Exit(255, 'Not enough information: "dev" argument is required.')
      const name = args.shift()
      if (!k.netdevInfo(root, name, netns)) throw new Exit(1, `Cannot find device "${name}"`)
      try {
        k.addrChange(root, name, netns, cidr, cmd === 'add')
      } catch (error) {
        throw rtnl(error)
      }
      return
    }
  }
  throw new Exit(255, `Object "${obj}" is unknown to the simulated ip, try "ip help".`)
}

function existsSync(root, hostPath) {
  try {
    lstatSync(join(root, hostPath))
    return true
  } catch {
    return false
  }
}

// ---- vdpa ----------------------------------------------------------------------------------------

function kernelAnswers(error) {
  if (error instanceof k.NetlinkError) {
    const lines = []
    if (error.extack) lines.push(`Error: vdpa: ${error.extack}`)
    lines.push(`kernel answers: ${k.STRERROR[error.code] ?? error.code}`)
    return new Exit(1, lines.join('\n'))
  }
  return error
}

function vdpa(argv) {
  const root = k.simRoot()
  let json = false
  let pretty = false
  const args = []
  for (const a of argv) {
    if (a === '-j' || a === '--json') json = true
    else if (a === '-p' || a === '--pretty') pretty = true
    else if (a === '-jp' || a === '-pj') json = pretty = true
    else args.push(a)
  }
  const dump = (o) => out(pretty ? JSON.stringify(o, null, 4) : JSON.stringify(o))
  const [obj, cmd = 'show', ...rest] = args
  const state = k.loadState(root)
  const config = k.loadConfig(root)
  if (!existsSync(root, '/sys/bus/vdpa')) throw new Exit(1, 'kernel answers: Not supported\nvdpa: Failed to connect to vdpa Netlink')
  if (obj === 'mgmtdev' && (cmd === 'show' || cmd === 'list')) {
    const all = k.vdpaMgmtdevs(root, state, config)
    const names = rest[0] ? [rest[0]] : Object.keys(all).sort()
    if (rest[0] && !all[rest[0]]) throw new Exit(1, 'kernel answers: No such device')
    const o = {}
    for (const n of names) {
      const m = all[n]
      o[n] = {supported_classes: m.classes, max_supported_vqs: m.maxVqs, dev_features: ['MTU', 'MAC', 'CTRL_VQ', 'CTRL_MAC_ADDR', 'VERSION_1', 'ACCESS_PLATFORM']}
    }
    if (json) dump({mgmtdev: o})
    else for (const n of names) out(`${n}: \n  supported_classes ${o[n].supported_classes.join(' ')}\n  max_supported_vqs ${o[n].max_supported_vqs}\n  dev_features ${o[n].dev_features.join(' ')}`)
    return
  }
  if (obj === 'dev') {
    if (cmd === 'show' || cmd === 'list') {
      const names = rest[0] ? [rest[0]] : Object.keys(state.vdpa).sort()
      if (rest[0] && !state.vdpa[rest[0]]) throw new Exit(1, 'kernel answers: No such device')
      const o = {}
      for (const n of names) o[n] = {type: 'network', mgmtdev: state.vdpa[n].mgmtdev, vendor_id: 0, max_vqs: 3, max_vq_size: 256}
      if (json) dump({dev: o})
      else for (const n of names) out(`${n}: type network mgmtdev ${o[n].mgmtdev} vendor_id 0 max_vqs 3 max_vq_size 256`)
      return
    }
    if (cmd === 'add') {
      let name
      let mgmtdev
      const attrs = {}
      for (let i = 0; i < rest.length; i += 2) {
        const key = rest[i]
        const v = rest[i + 1]
        if (v === undefined) throw new Exit(1, `Option "${key}" requires an argument`)
        if (key === 'name') name = v
        else if (key === 'mgmtdev') mgmtdev = v
        else if (key === 'mac') {
          if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(v)) throw new Exit(1, 'Invalid mac address')
          attrs.mac = v.toLowerCase()
        } else if (key === 'mtu') attrs.mtu = Number(v)
        else if (key === 'max_vqp') attrs.max_vqp = Number(v)
        else if (key === 'device_features') attrs.device_features = v
        else throw new Exit(1, `Unknown option "${key}"`)
      }
      if (!name) throw new Exit(1, 'Option "name" is missing')
      if (!mgmtdev) throw new Exit(1, 'Option "mgmtdev" is missing')
      try {
        k.vdpaDevAdd(root, name, mgmtdev, attrs)
      } catch (error) {
        throw kernelAnswers(error)
      }
      return
    }
    if (cmd === 'del') {
      try {
        k.vdpaDevDel(root, rest[0])
      } catch (error) {
        throw kernelAnswers(error)
      }
      return
    }
    if (cmd === 'config' && (rest[0] === 'show' || rest[0] === undefined)) {
      const n = rest[1]
      const d = state.vdpa[n]
      if (!d) throw new Exit(1, 'kernel answers: No such device')
      const o = {mac: d.mac ?? '00:00:00:00:00:00', link: 'up', link_announce: false, mtu: d.mtu ?? 1500}
      if (d.max_vqp) o.max_vq_pairs = d.max_vqp
      if (json) dump({config: {[n]: o}})
      else out(`${n}: mac ${o.mac} link up link_announce false mtu ${o.mtu}`)
      return
    }
  }
  throw new Exit(1, `Object "${obj}" not found`)
}

// ---- devlink -------------------------------------------------------------------------------------

function devlink(argv) {
  const root = k.simRoot()
  const json = argv.includes('-j') || argv.includes('--json')
  const args = argv.filter((a) => !/^-(j|p|jp|-json|-pretty)$/.test(a))
  const [obj, sub, cmd, handle, ...rest] = args
  if (obj !== 'dev' || sub !== 'eswitch') throw new Exit(1, `Object "${obj}" not found`)
  const m = /^pci\/([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])$/.exec(handle ?? '')
  if (!m) throw new Exit(1, `Bus name "${handle}" is not valid; expected "pci/<bdf>"`)
  try {
    if (cmd === 'show') {
      const mode = k.eswitchGet(root, m[1])
      if (json) out(JSON.stringify({dev: {[handle]: {mode, 'inline-mode': 'none', 'encap-mode': 'basic'}}}))
      else out(`${handle}: mode ${mode} inline-mode none encap-mode basic`)
      return
    }
    if (cmd === 'set') {
      if (rest[0] !== 'mode' || !['legacy', 'switchdev'].includes(rest[1] ?? '')) throw new Exit(1, 'Unknown eswitch mode')
      k.eswitchSet(root, m[1], rest[1])
      return
    }
  } catch (error) {
    if (error instanceof k.NetlinkError) {
      throw new Exit(1, [error.extack ? `Error: mlx5_core: ${error.extack}.` : undefined, `kernel answers: ${k.STRERROR[error.code] ?? error.code}`].filter(Boolean).join('\n'))
    }
    throw error
  }
  throw new Exit(1, `Command "${cmd}" not found`)
}

// ---- modprobe ------------------------------------------------------------------------------------

function modprobe(argv) {
  const root = k.simRoot()
  let remove = false
  let quiet = false
  const names = []
  for (const a of argv) {
    if (a === '-r' || a === '--remove') remove = true
    else if (a === '-q' || a === '--quiet') quiet = true
    else if (a.startsWith('-')) throw new Exit(1, `modprobe: unrecognized option '${a}'`)
    else names.push(a)
  }
  if (names.length === 0) throw new Exit(1, 'modprobe: ERROR: missing module name.')
  try {
    if (remove) for (const n of names) k.moduleUnload(root, n)
    else k.moduleLoad(root, names[0])
  } catch (error) {
    throw new Exit(error.exitCode ?? 1, quiet ? '' : error.message)
  }
}

function rmmod(argv) {
  const root = k.simRoot()
  const names = argv.filter((a) => !a.startsWith('-'))
  if (names.length === 0) throw new Exit(1, 'rmmod: ERROR: missing module name.')
  try {
    for (const n of names) k.moduleRemoveOnly(root, n)
  } catch (error) {
    throw new Exit(error.exitCode ?? 1, error.message)
  }
}

// ---- ovs-vsctl (ports only) ----------------------------------------------------------------------

function ovsVsctl(argv) {
  const root = k.simRoot()
  const args = argv.filter((a) => !a.startsWith('--db=') && a !== '--timeout=10' && a !== '--no-wait')
  const mayExist = args.includes('--may-exist')
  const ifExists = args.includes('--if-exists')
  const words = args.filter((a) => a !== '--may-exist' && a !== '--if-exists')
  const [cmd, ...rest] = words
  if (cmd === 'add-port') {
    const [bridge, port, sep, set, table, record, ...kv] = rest
    const ids = {}
    if (sep === '--') {
      if (set !== 'set' || table !== 'Port' || record !== port) throw new Exit(1, 'ovs-vsctl: unsupported command in the simulation')
      for (const p of kv) {
        const mm = /^external[-_]ids:([^=]+)=(.*)$/.exec(p)
        if (!mm) throw new Exit(1, `ovs-vsctl: unsupported column ${p}`)
        ids[mm[1]] = mm[2]
      }
    }
    if (!k.netdevInfo(root, port)) throw new Exit(1, `ovs-vsctl: Error detected while setting up '${port}': could not open network device ${port} (No such device).  See ovs-vswitchd log for details.`)
    try {
      k.ovsAddPort(root, bridge, port, ids, mayExist)
    } catch (error) {
      throw new Exit(1, error.message)
    }
    return
  }
  if (cmd === 'del-port') {
    const port = rest.length === 2 ? rest[1] : rest[0]
    try {
      k.ovsDelPort(root, rest.length === 2 ? rest[0] : undefined, port, ifExists)
    } catch (error) {
      throw new Exit(1, error.message)
    }
    return
  }
  if (cmd === 'list-ports') {
    const state = k.loadState(root)
    out(Object.entries(state.ovs.ports).filter(([, p]) => p.bridge === rest[0]).map(([n]) => n).sort().join('\n'))
    return
  }
  throw new Exit(1, `ovs-vsctl: unknown command '${cmd}'; use --help for help`)
}

// ---- entry ---------------------------------------------------------------------------------------

const TOOLS = {ip, vdpa, devlink, modprobe, rmmod, 'ovs-vsctl': ovsVsctl}

export function main() {
  const tool = process.argv[1].split('/').pop()
  const fn = TOOLS[tool]
  try {
    if (!fn) throw new Exit(127, `unknown simulated tool ${tool}`)
    fn(process.argv.slice(2))
    process.exitCode = 0
  } catch (error) {
    if (error instanceof Exit) {
      if (error.message) process.stderr.write(error.message + '\n')
      process.exitCode = error.exitCode
    } else {
      process.stderr.write(`${tool} (simulated): ${error instanceof Error ? error.stack : String(error)}\n`)
      process.exitCode = 70
    }
  }
}
