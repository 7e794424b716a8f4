/**
 * The token registry a run resolves late-bound values with (src/plan/tokens.ts), built explicitly:
 * the plan's own resolvers (pidfile-pid) and the device resolvers (SR-IOV, vDPA, PCI). Resolvers
 * read and run on the target host through the TokenHost the executor passes.
 */
import {registerDeviceTokenResolvers} from '../devices/tokens.js'
import {registerPlanTokenResolvers, TokenRegistry} from '../plan/tokens.js'

export function createTokenRegistry(): TokenRegistry {
  return registerDeviceTokenResolvers(registerPlanTokenResolvers(new TokenRegistry()))
}
