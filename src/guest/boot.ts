/**
 * What a compiler and an executor need to boot the built-in guest: its kernel command line (read
 * by /init, see guest/init.sh) and waiting for /init's ready marker in the serial console log.
 */
import {VirtlabError} from '../errors.js'
import type {HostFs} from '../host/fs.js'
import {AGENT_PORT_NAME, READY_MARKER} from './image.js'

export {AGENT_PORT_NAME, READY_MARKER}

export interface GuestNic {
  mac: string
  /** Address with prefix length (10.99.0.2/24); undefined: link up, no address. */
  cidr?: string | undefined
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/
const CIDR = /^[0-9a-fA-F.:]+\/\d{1,3}$/

/**
 * The kernel command line of the built-in guest (deterministic):
 * console=ttyS0 panic=-1 quiet virtlab.vm=<name> virtlab.net=<mac>,<cidr>;<mac>,<cidr>
 */
export function guestKernelCmdline(vm: string, nics: readonly GuestNic[], extra: readonly string[] = []): string {
  if (!NAME.test(vm)) throw new VirtlabError('GUEST_BAD_NAME', `Not a usable VM name for the guest command line: ${vm}`)
  const parts = ['console=ttyS0', 'panic=-1', 'quiet', `virtlab.vm=${vm}`]
  const specs = nics.map((nic) => {
    if (!MAC.test(nic.mac)) throw new VirtlabError('GUEST_BAD_MAC', `Not a MAC address: ${nic.mac}`)
    if (nic.cidr !== undefined && !CIDR.test(nic.cidr)) throw new VirtlabError('GUEST_BAD_ADDRESS', `Not an address/prefix: ${nic.cidr}`)
    return `${nic.mac.toLowerCase()},${nic.cidr ?? ''}`
  })
  if (specs.length > 0) parts.push(`virtlab.net=${specs.join(';')}`)
  for (const word of extra) {
    if (/\s/.test(word)) throw new VirtlabError('GUEST_BAD_CMDLINE', `Kernel parameter with whitespace: ${word}`)
    parts.push(word)
  }
  return parts.join(' ')
}

/** The line /init prints on the console when the guest is up. */
export function readyLine(vm: string): string {
  return `${READY_MARKER} ${vm}`
}

/**
 * Wait until the console log (QEMU -serial file:..., libvirt <serial type='file'> / <log>) shows
 * the ready marker of `vm`. Resolves with the milliseconds waited.
 */
export async function waitForReadyMarker(
  fs: HostFs,
  consoleLog: string,
  vm: string,
  options: {timeoutMs?: number; pollMs?: number; signal?: AbortSignal; isAlive?: () => boolean | Promise<boolean>} = {},
): Promise<number> {
  const timeoutMs = options.timeoutMs ?? 60_000
  const started = Date.now()
  const wanted = readyLine(vm)
  for (;;) {
    const text = (await fs.tryReadFile(consoleLog)) ?? ''
    if (text.split(/\r?\n/).some((line) => line.trim() === wanted)) return Date.now() - started
    if (options.signal?.aborted) throw new VirtlabError('CANCELLED', `Stopped waiting for ${vm} to boot`)
    if (options.isAlive !== undefined && !(await options.isAlive())) {
      throw new VirtlabError('GUEST_DIED', `${vm} stopped before it was ready`, {details: {consoleTail: text.slice(-2000)}, hint: `See ${consoleLog}.`})
    }
    if (Date.now() - started > timeoutMs) {
      const tail = text.trimEnd().split('\n').slice(-15).join('\n')
      throw new VirtlabError('GUEST_BOOT_TIMEOUT', `${vm} did not print "${wanted}" within ${Math.round(timeoutMs / 1000)} s`, {
        hint: `See the console log ${consoleLog}${tail ? `; last lines:\n${tail}` : ' (empty)'}`,
      })
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 100))
  }
}
