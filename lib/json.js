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
      // NaN and the infinities are written as null, as JSON.stringify
      // writes them (at any depth: inside an object they are null too).
      return Number.isFinite(value) ? JSON.stringify(value) : 'null'
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
 * hands on untouched: observing a call must not make it fail). It follows
 * JSON.stringify, except that what would throw is written as a marker in
 * its place, so the rest (an LLM request's shape, say) is kept: a BigInt
 * as its decimal string, a cycle as "[Circular]", a getter, toJSON or
 * proxy that throws as "[not recorded: why]", nesting past 120 levels as
 * "[nested too deeply]".
 */
function recordableText(value) {
  const ancestors = []
  const why = (error) => {
    try {
      return `[not recorded: ${error instanceof Error ? error.message : String(error)}]`
    } catch {
      return '[not recorded]'
    }
  }
  const read = (holder, key) => {
    try {
      return holder[key]
    } catch (error) {
      return why(error)
    }
  }
  function copy(v, key) {
    try {
      if (typeof v?.toJSON === 'function') v = v.toJSON(key)
      // Boxed primitives, as JSON.stringify unboxes them.
      if (v instanceof Number || v instanceof String || v instanceof Boolean || v instanceof BigInt) v = v.valueOf()
    } catch (error) {
      return why(error)
    }
    if (typeof v === 'bigint') return v.toString()
    if (typeof v === 'number') return Number.isFinite(v) ? v : null
    if (v === null || typeof v !== 'object') return v // functions and symbols are left out below
    if (ancestors.includes(v)) return '[Circular]'
    if (ancestors.length >= 120) return '[nested too deeply]'
    ancestors.push(v)
    try {
      if (Array.isArray(v)) return Array.from({ length: v.length }, (_, i) => copy(read(v, i), String(i)) ?? null)
      // No prototype: a "__proto__" key (JSON.parse makes them) is a member.
      const out = Object.create(null)
      for (const k of Object.keys(v)) {
        const x = copy(read(v, k), k)
        if (x !== undefined && typeof x !== 'function' && typeof x !== 'symbol') out[k] = x
      }
      return out
    } catch (error) {
      return why(error) // a proxy whose traps throw
    } finally {
      ancestors.pop()
    }
  }
  const out = copy(value, '')
  return typeof out === 'function' || typeof out === 'symbol' || out === undefined ? 'null' : JSON.stringify(out)
}

/** `jsonText`, or `undefined` for "none" (`undefined` and `null`). */
function optionalJsonText(value, what) {
  return value === undefined || value === null ? undefined : jsonText(value, what)
}

module.exports = { jsonText, optionalJsonText, recordableText }
