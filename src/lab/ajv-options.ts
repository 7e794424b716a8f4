/** ajv options for the lab schema: one definition for the runtime compile and the build-time standalone validator. */
export const LAB_AJV_OPTIONS = {allErrors: true, verbose: true, strict: true, strictTypes: false, strictTuples: false, logger: false} as const
