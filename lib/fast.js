'use strict'
// The hottest native entries (push/pop scope, mark, toolCall without
// options, releaseHandle) as raw Node-API
// functions: same behaviour as their binding.js twins, without napi-rs's
// per-call machinery (see src/fast.rs). The twins serve the forms with
// options.

const native = require('../native.js')

module.exports = native.fastEntries()
