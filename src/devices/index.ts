/**
 * Host device provisioning: SR-IOV PFs/VFs and vDPA devices as plan steps, their late-bound
 * tokens, PF discovery, and kernel/tool error messages. Importing this module registers the
 * device token resolvers.
 */
export {type DeviceStepOptions, labNetns, sriovRecordDir, sriovSteps, sriovTailStepId, vfAddressTokens, vfLinkArgs} from './sriov.js'
export {mgmtdevModule, qemuMemlockPrefix, vdpaAddArgv, vdpaRecordDir, vdpaSteps} from './vdpa.js'
export {probeSriovPf, type SriovPfProbe} from './sriov-probe.js'
export {type DeviceErrorInfo, describeSysfsError, describeToolFailure, explainSysfsWriteError, type SysfsErrorContext} from './errors.js'
export {bdfParts, registerDeviceTokenResolvers, type VfRecord, vfInfoFromIpJson, vfsInUse} from './tokens.js'
