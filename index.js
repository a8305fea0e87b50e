'use strict'
// nemo-relay: the CommonJS entry point (index.mjs re-exports this module, so
// both entry points share one instance of the addon and its state).
//
// This file is the hand-written facade over the native addon. The generated
// loader and typings (binding.js, binding.d.ts) stay untouched; anything the
// JS API adds on top of the native exports belongs here.

const native = require('./native.js')

module.exports = {
  version: native.version,
  abiInfo: native.abiInfo,
}
