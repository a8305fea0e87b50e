'use strict'
// Error classes with stable `code`s, and the argument checks that raise them.


const ERR_INVALID_ARGUMENT = 'ERR_RELAY_INVALID_ARGUMENT'

/** Base class of every error nemo-relay raises (see `code`). */
class RelayError extends Error {
  constructor(message, code, options) {
    super(message, options)
    this.name = 'RelayError'
    this.code = code
  }

  // `InvalidArgumentError` extends TypeError (it is one), yet it is also a
  // relay error: `instanceof RelayError` accepts any error whose code is one of
  // ours. Subclasses keep the ordinary prototype check.
  static [Symbol.hasInstance](value) {
    if (this !== RelayError) return Function.prototype[Symbol.hasInstance].call(this, value)
    return (
      value instanceof Error && typeof value.code === 'string' && value.code.startsWith('ERR_RELAY_')
    )
  }
}

/** A malformed argument: wrong type, non-JSON value, bad name, unknown option. */
class InvalidArgumentError extends TypeError {
  constructor(message, options) {
    super(message, options)
    this.name = 'InvalidArgumentError'
    this.code = ERR_INVALID_ARGUMENT
  }
}

/** A conditional-execution guardrail blocked the call. */
class GuardrailRejectedError extends RelayError {
  constructor(message, guardrail, reason) {
    super(message, 'ERR_RELAY_GUARDRAIL_REJECTED')
    this.name = 'GuardrailRejectedError'
    this.guardrail = guardrail
    this.reason = reason
  }
}

/** A scope was popped out of order, on the wrong stack, or was the root. */
class ScopeStackError extends RelayError {
  constructor(message, code) {
    super(message, code)
    this.name = 'ScopeStackError'
  }
}

const SCOPE_STACK_CODES = new Set([
  'ERR_RELAY_SCOPE_NOT_ON_TOP',
  'ERR_RELAY_FOREIGN_SCOPE',
  'ERR_RELAY_ROOT_SCOPE',
])

function makeError(code, message, details) {
  if (code === ERR_INVALID_ARGUMENT) return new InvalidArgumentError(message)
  if (code === 'ERR_RELAY_GUARDRAIL_REJECTED') {
    return new GuardrailRejectedError(message, details.guardrail, details.reason)
  }
  if (SCOPE_STACK_CODES.has(code)) return new ScopeStackError(message, code)
  const error = new RelayError(message, code)
  if (details.exceptionType !== undefined) error.exceptionType = details.exceptionType
  return error
}


function invalid(message) {
  return new InvalidArgumentError(message)
}

function checkName(name, what) {
  if (typeof name !== 'string' || name === '') throw invalid(`${what} must be a non-empty string`)
}

function checkFunction(fn, what) {
  if (typeof fn !== 'function') throw invalid(`${what} must be a function`)
}

/** Throw on keys `allowed` does not list (typos must not be silent). */
function checkKeys(options, allowed, what) {
  if (options === null || typeof options !== 'object') throw invalid(`${what} must be an object`)
  // An array has no unknown keys when empty, and would pass as "no options".
  if (Array.isArray(options)) throw invalid(`${what} must be an object, not an array`)
  for (const key in options) {
    if (!allowed.has(key)) {
      throw invalid(`unknown ${what} key '${key}' (expected one of: ${[...allowed].join(', ')})`)
    }
  }
}

function isThenable(value) {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof value.then === 'function'
}

/**
 * `value` as error-message text, whatever it is. Building a message must
 * never throw in place of the error it reports: template literals throw on
 * a Symbol, `String()` on an object without a usable `toString`, and
 * `JSON.stringify` on a BigInt or a cycle.
 */
function show(value) {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)
    case 'symbol':
    case 'bigint':
      return value.toString() + (typeof value === 'bigint' ? 'n' : '')
    case 'function':
      return 'a function'
    case 'object':
      if (value === null) return 'null'
      try {
        // Array.isArray throws too, on a revoked Proxy.
        if (Array.isArray(value)) return 'an array'
        const text = JSON.stringify(value)
        if (typeof text === 'string' && text.length <= 80) return text
      } catch {
        // A cycle, a BigInt inside, a throwing getter or toJSON.
      }
      return 'an object'
    default:
      return String(value)
  }
}

// Native code awaits real Promises only; adopt any other thenable.
/**
 * `run()`, then `done()` once its outcome is known: at once for a value or a
 * throw, when it settles for a thenable (returned as a Promise).
 */
function settleThen(run, done) {
  let r
  try {
    r = run()
  } catch (error) {
    done()
    throw error
  }
  if (!isThenable(r)) {
    done()
    return r
  }
  return Promise.resolve(r).finally(done)
}

function settleable(value) {
  return isThenable(value) && !(value instanceof Promise) ? Promise.resolve(value) : value
}

/**
 * Values thrown by user callbacks (tools, providers, middleware) while a
 * native call ran them. They reach the caller as they are, so the wrapper
 * that turns napi-rs argument errors into InvalidArgumentError (native.js)
 * must leave them alone, even one that happens to carry a napi-rs code
 * (`InvalidArg`, say, from another addon the tool uses).
 */
const thrownByUser = new WeakSet()

/** Remember `error` as thrown by user code (see `thrownByUser`). */
function userThrew(error) {
  if (error !== null && (typeof error === 'object' || typeof error === 'function')) thrownByUser.add(error)
  return error
}

function isUserError(error) {
  return thrownByUser.has(error)
}

module.exports = {
  show,
  userThrew,
  isUserError,
  RelayError,
  InvalidArgumentError,
  GuardrailRejectedError,
  ScopeStackError,
  makeError,
  invalid,
  checkName,
  checkFunction,
  checkKeys,
  isThenable,
  settleable,
  settleThen,
}
