/** Result documents for report tests, built from recorded iperf3 output with the real builders. */
import type {ResultDocument} from '../../src/measure/result-schema.js'
import {searchZeroLoss} from '../../src/measure/zero-loss.js'
import {sampleResult} from '../measure/helpers.js'

export const DEGRADED = 'degraded: no vhost-net (userspace virtio backend over tap)'

export function vhostNetDegraded(): ResultDocument {
  return sampleResult({
    lab: 'vhost-net', architecture: 'vhost-net', degraded: [DEGRADED], verified: false,
    cases: [
      {fixture: 'tcp-tx', protocol: 'tcp', direction: 'tx', size: null, scales: [0.14, 0.13, 0.15]},
    ],
  })
}

export function vhostUser(): ResultDocument {
  return sampleResult({
    lab: 'vhost-user', architecture: 'vhost-user',
    cases: [
      {fixture: 'tcp-tx', protocol: 'tcp', direction: 'tx', size: null, scales: [0.016, 0.0158, 0.0161]},
    ],
  })
}

export function virtioQemuUdp(): ResultDocument {
  return sampleResult({
    lab: 'virtio-qemu', architecture: 'virtio-qemu', test: 'udp-sizes',
    cases: [
      {fixture: 'udp-64', protocol: 'udp', direction: 'tx', size: 64, scales: [1, 1, 1]},
      {fixture: 'udp-1472', protocol: 'udp', direction: 'tx', size: 1472, scales: [1, 0.9, 1.1]},
    ],
  })
}

/** A zero-loss result from the real search over a noise-free simulated link of `capacity` bit/s. */
export async function withZeroLoss(doc: ResultDocument, capacityBps: number, found = true): Promise<ResultDocument> {
  const result = await searchZeroLoss(async (rate) => {
    const loss = !found ? 100 : rate > capacityBps ? ((rate - capacityBps) / rate) * 100 : 0
    return {offeredBps: rate, receivedBps: rate * (1 - loss / 100), lossPct: loss, receivedPps: (rate * (1 - loss / 100)) / (64 * 8)}
  }, {maxRateBps: 10e9, resolutionBps: 0.01e9})
  const {zeroLossCase} = await import('../../src/measure/result.js')
  return {...doc, test: {...doc.test, zeroLoss: true}, zeroLoss: [zeroLossCase(64, result)]}
}
