// nemo-relay: the ES module entry point. It re-exports the CommonJS entry, so
// `import` and `require` see the same module instance.
import relay from './index.js'

export const { version, abiInfo } = relay
