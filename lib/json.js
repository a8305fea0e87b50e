'use strict'
// Values cross into native code as JSON text, made here.
//
// Converting an object in native code means calling back into JS
// (`JSON.stringify`) from C: a native-to-JS transition per value, which
// costs more than the conversion itself. Made here, in JS, the text is one
// string argument, and native code only parses it. The rules are the ones
// native conversion follows (src/convert.rs): JSON.stringify's, plus a
// clear error for what JSON cannot represent.

const { invalid } = require('./errors.js')

/** `value` as JSON text; `what` names it in error messages. */
function jsonText(value, what) {
  switch (typeof value) {
    case 'object':
      if (value === null) return 'null'
      break
    case 'string':
      // A lone surrogate becomes U+FFFD, as native code reads a JS string
      // (JSON.stringify would keep an escape JSON parsers reject).
      return JSON.stringify(value.toWellFormed())
    case 'boolean':
      return value ? 'true' : 'false'
    case 'number':
      if (Number.isFinite(value)) return JSON.stringify(value)
      throw invalid(`${what}: ${value} is not a JSON number`)
    case 'undefined':
      return 'null'
    case 'bigint':
      throw invalid(`${what} is not JSON: a BigInt`)
    case 'symbol':
      throw invalid(`${what} is not JSON: a symbol`)
    default:
      throw invalid(`${what} is not JSON: a function`)
  }
  let text
  try {
    text = JSON.stringify(value)
  } catch (error) {
    // Cycles, BigInts inside, throwing getters or toJSON methods.
    throw invalid(`${what} is not JSON: ${error instanceof Error ? error.message : String(error)}`)
  }
  // An object whose toJSON returns undefined.
  return text === undefined ? 'null' : text
}

/**
 * JSON text of `value` for the record only, never an error (native code
 * asks for it when `jsonText`'s rules refuse a value that a watched call
 * hands on untouched: observing a call must not make it fail). A BigInt
 * is written as its decimal string and a cycle as "[Circular]"; anything
 * else that throws (a getter, a toJSON method) makes the whole value a
 * string that says why.
 */
function recordableText(value) {
  const ancestors = []
  function replacer(_key, v) {
    if (typeof v === 'bigint') return v.toString()
    if (v === null || typeof v !== 'object') return v
    // `this` holds `v`: leave the branches finished since, then look up.
    while (ancestors.length > 0 && ancestors[ancestors.length - 1] !== this) ancestors.pop()
    if (ancestors.includes(v)) return '[Circular]'
    ancestors.push(v)
    return v
  }
  try {
    return JSON.stringify(value, replacer) ?? 'null'
  } catch (error) {
    return JSON.stringify(`[not recorded: ${error instanceof Error ? error.message : String(error)}]`)
  }
}

/** `jsonText`, or `undefined` for "none" (`undefined` and `null`). */
function optionalJsonText(value, what) {
  return value === undefined || value === null ? undefined : jsonText(value, what)
}

module.exports = { jsonText, optionalJsonText, recordableText }
