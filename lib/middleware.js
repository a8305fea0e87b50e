'use strict'
// Middleware written in JS: the wrappers native code calls, the call context
// they see, and registrations.

const native = require('../native.js')
const { checkFunction, checkKeys, checkName, invalid, settleable, show, userThrew } = require('./errors.js')
const { INTERNAL, ScopeHandle, childStack, context, currentStack, handleNative, releaseStack, runIn, stackNative } = require('./context.js')
const { REGISTER_KEYS, registerOptions } = require('./options.js')
const { asStream } = require('./calls.js')
const { scopedIterator } = require('./iterators.js')

/** What middleware is told about the call it runs for. */
class CallContext {
  constructor(token, name, kind, uuid, parentUuid, toolCallId, modelName) {
    if (token !== INTERNAL) throw new TypeError('call contexts are created by nemo-relay')
    /** Tool name or LLM route name. */
    this.name = name
    /** `'tool'`, `'llm'` or `'llm_stream'`. */
    this.kind = kind
    /** Uuid the call's events carry. */
    this.uuid = uuid
    this.parentUuid = parentUuid
    this.toolCallId = toolCallId
    this.modelName = modelName
    Object.freeze(this)
  }
}

const GUARD = 0
const REWRITE = 1
const EXEC = 2
const STREAM_EXEC = 3

/** The shape of middleware `family`; anything else (`toString` included) is an InvalidArgumentError. */
function shapeOf(family) {
  if (typeof family === 'string' && Object.hasOwn(FAMILIES, family)) return FAMILIES[family]
  throw invalid(`unknown middleware family ${show(family)} (one of: ${Object.keys(FAMILIES).join(', ')})`)
}

const FAMILIES = {
  tool_conditional_execution: GUARD,
  tool_request_intercept: REWRITE,
  tool_sanitize_request: REWRITE,
  tool_sanitize_response: REWRITE,
  tool_execution_intercept: EXEC,
  llm_conditional_execution: GUARD,
  llm_request_intercept: REWRITE,
  llm_sanitize_request: REWRITE,
  llm_sanitize_response: REWRITE,
  llm_execution_intercept: EXEC,
  llm_stream_execution_intercept: STREAM_EXEC,
}

function nextStream(next) {
  return (request) => asStream(next(request))
}

/** The context of a call, once per call (native code caches it). */
function makeCallContext(name, kind, uuid, parentUuid, toolCallId, modelName) {
  return new CallContext(INTERNAL, name, kind, uuid, parentUuid, toolCallId, modelName)
}

function wrapperFor(shape, fn) {
  switch (shape) {
    case GUARD:
    case REWRITE:
      return (value, ctx) => {
        try {
          return settleable(fn(value, ctx))
        } catch (error) {
          throw userThrew(error)
        }
      }
    // Execution intercepts run in the call's child stack, which falls back
    // to the stack they were called from (that of the caller, or the root
    // when posted from another thread) once released: as a tool callback's.
    case EXEC:
      return (request, next, stack, ctx) =>
        settleable(runIn(childStack(stack, currentStack()), fn, request, next, ctx))
    // A stream execution intercept's iterator runs at every pull, long
    // after it was made: pulled in the call's child stack, as a provider's
    // is, whoever consumes the stream (its marks and nested calls belong to
    // the call). The stack is released when the iterator ends.
    default:
      return (request, next, stack, ctx) => {
        const child = childStack(stack, currentStack())
        let out
        try {
          out = context.run(child, fn, request, nextStream(next), ctx)
        } catch (error) {
          releaseStack(child)
          throw userThrew(error)
        }
        return scopedIterator(out, child, 'a stream execution intercept', true)
      }
  }
}

function scopeOptions(options) {
  if (options === undefined || options.scope === undefined) return undefined
  const scope = options.scope
  // As registerOptions checks it (a call's handle is no such scope).
  if (!(scope instanceof ScopeHandle)) throw invalid('scope must be a ScopeHandle')
  return { scope: handleNative(scope), stack: stackNative(scope.stack) }
}

/**
 * The handle each global registration name of this realm belongs to (by
 * `family` and name). Names are reused: after `unsubscribe(name)` and a
 * new `subscribe(name, …)`, the first handle is stale, and its `dispose()`
 * must not remove the newer registration. (Scope-local registrations are
 * not tracked: they vanish with their scope, which would leave entries
 * here.)
 */
const holders = new Map()
const holderKey = (family, name) => `${family}\0${name}`

/** The handle `register` and `subscribe` return. */
class Registration {
  #family
  #name
  #scopeOptions
  #active = true
  #onDispose
  constructor(token, family, name, scopeOpts, onDispose) {
    if (token !== INTERNAL) throw new TypeError('use register() or subscribe()')
    this.#family = family
    this.#name = name
    this.#scopeOptions = scopeOpts
    this.#onDispose = onDispose
    if (scopeOpts === undefined) holders.set(holderKey(family, name), this)
  }
  get family() {
    return this.#family
  }
  get name() {
    return this.#name
  }
  /** Remove the registration. Returns whether it was still registered. */
  dispose() {
    if (!this.#active) return false
    this.#active = false
    this.#onDispose?.()
    if (this.#scopeOptions === undefined) {
      const key = holderKey(this.#family, this.#name)
      // Removed by name meanwhile (and the name perhaps taken again).
      if (holders.get(key) !== this) return false
      holders.delete(key)
    }
    try {
      return native.deregister(this.#family, this.#name, this.#scopeOptions)
    } catch {
      return false // its scope already ended, taking the registration with it
    }
  }
  [Symbol.dispose]() {
    this.dispose()
  }
}

/**
 * Register middleware `fn` in `family` under `name`. With `{ scope }` it
 * belongs to that open scope and vanishes when it ends.
 */
function register(family, name, fn, options) {
  const shape = shapeOf(family)
  checkName(name, 'registration name')
  checkFunction(fn, 'middleware')
  const o = registerOptions(options, REGISTER_KEYS)
  native.register(family, name, wrapperFor(shape, fn), o)
  return new Registration(INTERNAL, family, name, scopeOptions(options))
}

/**
 * What is told, `(family, name)`, when a global registration is removed by
 * name: the exporters let go of one removed that way (see exporters.js).
 */
const removedByName = new Set()

/** Remove registration `name` of `family` (scope-local with `{ scope }`). */
function deregister(family, name, options) {
  checkName(family, 'middleware family')
  checkName(name, 'registration name')
  let scoped
  if (options !== undefined) {
    checkKeys(options, new Set(['scope']), 'deregistration option')
    scoped = scopeOptions(options)
  }
  if (scoped !== undefined) return native.deregister(family, name, scoped)
  holders.delete(holderKey(family, name))
  const removed = native.deregister(family, name)
  if (removed) for (const f of removedByName) f(family, name)
  return removed
}

/** Names of the global registrations of `family`, in run order. */
function registrations(family) {
  checkName(family, 'middleware family')
  return native.registrations(family)
}

module.exports = {
  CallContext,
  makeCallContext,
  FAMILIES,
  shapeOf,
  wrapperFor,
  scopeOptions,
  Registration,
  register,
  deregister,
  registrations,
  removedByName,
}
