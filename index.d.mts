// Types for the ES module entry point (index.mjs): the same API as index.d.ts.

export * from './index.js'
