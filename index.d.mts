// Types for the ES module entry point (index.mjs): the same API as index.d.ts.

export { version, abiInfo } from './index.js'
export type { AbiInfo } from './index.js'
