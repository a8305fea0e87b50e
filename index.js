'use strict'
// nemo-relay: the CommonJS entry point (index.mjs re-exports this module, so
// both entry points share one instance of the addon and its state).
//
// This file is the hand-written facade over the native addon. The generated
// loader and typings (binding.js, binding.d.ts) stay untouched; everything the
// JS API adds on top of the native functions lives here:
//
// * options objects, validated (unknown keys are rejected) and normalised into
//   the strict shapes native code takes;
// * the scope context of async code: an AsyncLocalStorage holds the current
//   ScopeStack of each async flow, and relay.scope() forks it, so concurrent
//   branches get their own parents with no user action;
// * error classes with stable `code`s (native code builds them through the
//   makeError hook);
// * batched subscriber delivery (one JSON string per batch), fan-out with
//   error isolation, and flush() that also waits for async subscribers;
// * async iterables over native streams, AbortSignal wiring, disposers.
//
// Native calls that can finish synchronously return their value directly and
// a Promise otherwise; the facade adopts either with Promise.resolve, so the
// fully synchronous pipeline costs no extra microtask hops.

const { AsyncLocalStorage } = require('node:async_hooks')

const native = require('./native.js')

// ---------------------------------------------------------------- errors ---

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

native.init({ makeError })

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
  for (const key in options) {
    if (!allowed.has(key)) {
      throw invalid(`unknown ${what} key '${key}' (expected one of: ${[...allowed].join(', ')})`)
    }
  }
}

function isThenable(value) {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof value.then === 'function'
}

// Native code awaits real Promises only; adopt any other thenable.
function settleable(value) {
  return isThenable(value) && !(value instanceof Promise) ? Promise.resolve(value) : value
}

// ---------------------------------------------------- stacks and context ---

const INTERNAL = Symbol('nemo-relay internal')
const context = new AsyncLocalStorage()

let stackNative
let releaseStack
/**
 * The open scopes of one logical flow of control. Get one from
 * `createScopeStack()` or `currentScopeStack()`.
 *
 * The stacks `scope()` forks and the child stacks of managed calls are
 * short-lived: they end when their callback settles. Code that outlives the
 * callback (a detached timer, say) then falls back to the stack the
 * callback was started from.
 */
class ScopeStack {
  #native
  #parent
  #released = false
  constructor(token, handle, parent) {
    if (token !== INTERNAL) throw new TypeError('use createScopeStack() to create a ScopeStack')
    this.#native = handle
    this.#parent = parent
  }
  static {
    stackNative = (stack) => {
      while (stack.#released) stack = stack.#parent
      return stack.#native
    }
    releaseStack = (stack) => {
      if (stack.#released) return
      stack.#released = true
      native.releaseHandle(stack.#native)
    }
  }
  /** The innermost open scope (the implicit root when none is open). */
  get top() {
    return new ScopeHandle(INTERNAL, native.scopeStackTop(stackNative(this)), this)
  }
  /** Number of open scopes above the implicit root. */
  get depth() {
    return native.scopeStackDepth(stackNative(this))
  }
}

/** A short-lived stack (id `id`) that falls back to `parent` once released. */
function childStack(id, parent) {
  return new ScopeStack(INTERNAL, id, parent)
}

/** Run `fn(...args)` with `stack` as context; release `stack` once it settles. */
function runIn(stack, fn, a, b, c) {
  let r
  try {
    r = context.run(stack, fn, a, b, c)
  } catch (error) {
    releaseStack(stack)
    throw error
  }
  if (isThenable(r)) {
    return Promise.resolve(r).finally(() => releaseStack(stack))
  }
  releaseStack(stack)
  return r
}

function wrapStack(handle) {
  return new ScopeStack(INTERNAL, handle, undefined)
}

let defaultStack
/** The stack used by code that runs outside any scope context. */
function rootStack() {
  if (defaultStack === undefined) defaultStack = wrapStack(native.createScopeStack())
  return defaultStack
}

function currentStack() {
  const store = context.getStore()
  return store === undefined ? rootStack() : store
}

function nativeStack(stack) {
  try {
    return stackNative(stack)
  } catch {
    throw invalid('expected a ScopeStack')
  }
}

/** A new, empty scope stack (an independent root for a request or task). */
function createScopeStack() {
  return wrapStack(native.createScopeStack())
}

/** The scope stack of the calling async context. */
function currentScopeStack() {
  return currentStack()
}

/** Run `fn` with `stack` as the current scope stack of its async context. */
function withScopeStack(stack, fn) {
  nativeStack(stack)
  checkFunction(fn, 'fn')
  return context.run(stack, fn)
}

// ------------------------------------------------------------- handles ---

let handleNative
let setEndedUuid
/** What every handle knows about its scope, tool call or LLM call. */
class Handle {
  #native
  #info
  #uuid
  constructor(handle) {
    this.#native = handle
  }
  static {
    handleNative = (h) => h.#native
    setEndedUuid = (h, uuid) => {
      h.#uuid = uuid
    }
  }
  #load() {
    if (this.#info === undefined) this.#info = native.scopeInfo(this.#native)
    return this.#info
  }
  /**
   * Unique id (UUID v7); the start and end events share it. The other details
   * of a pushed scope can be read while it is open (afterwards only if they
   * were read before).
   */
  get uuid() {
    return this.#uuid ?? this.#load().uuid
  }
  /** Id of the parent scope. */
  get parentUuid() {
    return this.#load().parentUuid
  }
  get name() {
    return this.#load().name
  }
  /** Scope type (`'agent'`, `'function'`, `'tool'`, `'llm'`, …). */
  get type() {
    return this.#load().type
  }
  get attributes() {
    return this.#load().attributes
  }
  get toolCallId() {
    return this.#load().toolCallId
  }
  get modelName() {
    return this.#load().modelName
  }
  /** Application data given when the scope was opened (never emitted). */
  get data() {
    return this.#load().data
  }
  get metadata() {
    return this.#load().metadata
  }
  /** Start time, RFC 3339 with nanoseconds. */
  get startedAt() {
    return this.#load().startedAt
  }
}

function nativeHandle(handle) {
  try {
    return handleNative(handle)
  } catch {
    throw invalid('expected a ScopeHandle')
  }
}

/** An open scope. `end()` (or `using`) closes it. */
class ScopeHandle extends Handle {
  #stack
  #ended = false
  constructor(token, handle, stack) {
    if (token !== INTERNAL) throw new TypeError('use pushScope() or scope() to open a scope')
    super(handle)
    this.#stack = stack
  }
  /** The stack this scope is open on. */
  get stack() {
    return this.#stack
  }
  /** Whether `end()` was called. */
  get ended() {
    return this.#ended
  }
  /** Close the scope (it must be the innermost open one) and emit its end event. */
  end(options) {
    const o = options === undefined ? undefined : popOptions(options)
    setEndedUuid(this, native.popScope(stackNative(this.#stack), handleNative(this), o))
    this.#ended = true
  }
  /** `using scope = relay.pushScope(...)`: ends the scope unless already ended. */
  [Symbol.dispose]() {
    if (!this.#ended) this.end()
  }
}

/** A tool or LLM call started with `startToolCall` / `startLlmCall`. */
class CallHandle extends Handle {
  #stack
  constructor(token, handle, stack) {
    if (token !== INTERNAL) throw new TypeError('use startToolCall() or startLlmCall()')
    super(handle)
    this.#stack = stack
  }
  /** Emit the success end event with `output` (sanitizers apply). */
  end(output, options) {
    const o = options === undefined ? undefined : endOptions(options)
    return Promise.resolve(native.endCall(handleNative(this), output, stackNative(this.#stack), o))
  }
  /** Emit the failure end event for `error`. */
  fail(error, options) {
    const o = options === undefined ? undefined : endOptions(options)
    native.failCall(handleNative(this), error, stackNative(this.#stack), o)
  }
}

// --------------------------------------------------------------- options ---

const SCOPE_TYPES = new Set([
  'agent', 'function', 'tool', 'llm', 'retriever', 'embedder', 'reranker', 'guardrail', 'evaluator', 'custom', 'unknown',
])

function parentUuid(parent) {
  if (parent === undefined || typeof parent === 'string') return parent
  return nativeHandleUuid(parent)
}

function nativeHandleUuid(handle) {
  if (handle instanceof Handle) return handle.uuid
  throw invalid('parent must be a ScopeHandle or a uuid string')
}

const PUSH_KEYS = new Set(['type', 'parent', 'attributes', 'input', 'data', 'metadata'])
function pushOptions(o) {
  checkKeys(o, PUSH_KEYS, 'scope option')
  if (o.type !== undefined && !SCOPE_TYPES.has(o.type)) {
    throw invalid(`unknown scope type '${o.type}' (one of: ${[...SCOPE_TYPES].join(', ')})`)
  }
  return {
    type: o.type,
    native: {
      parent: parentUuid(o.parent),
      attributes: o.attributes,
      input: o.input,
      data: o.data,
      metadata: o.metadata,
    },
  }
}

const POP_KEYS = new Set(['output', 'metadata'])
function popOptions(o) {
  checkKeys(o, POP_KEYS, 'scope end option')
  return o
}

const END_KEYS = new Set(['metadata'])
function endOptions(o) {
  checkKeys(o, END_KEYS, 'call end option')
  return o
}

const MARK_KEYS = new Set(['parent', 'data', 'dataSchema', 'metadata', 'category', 'categoryProfile'])

const CALL_KEYS = new Set(['parent', 'attributes', 'data', 'metadata', 'toolCallId', 'modelName', 'signal'])
function callOptions(o) {
  checkKeys(o, CALL_KEYS, 'call option')
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw invalid('signal must be an AbortSignal')
  return {
    parent: parentUuid(o.parent),
    attributes: o.attributes,
    data: o.data,
    metadata: o.metadata,
    toolCallId: o.toolCallId,
    modelName: o.modelName,
  }
}

const REGISTER_KEYS = new Set(['priority', 'breakChain', 'scope'])
const SUBSCRIBE_KEYS = new Set(['priority', 'scope', 'onError'])
function registerOptions(o, keys) {
  if (o === undefined) return undefined
  checkKeys(o, keys, 'registration option')
  const out = { priority: o.priority, breakChain: o.breakChain }
  if (o.scope !== undefined) {
    if (!(o.scope instanceof ScopeHandle)) throw invalid('scope must be a ScopeHandle')
    out.scope = handleNative(o.scope)
    out.stack = stackNative(o.scope.stack)
  }
  return out
}

// --------------------------------------------------------------- scopes ---

/** Open a scope on the current stack and emit its start event. */
function pushScope(name, options) {
  checkName(name, 'scope name')
  return pushOn(currentStack(), name, options)
}

function pushOn(stack, name, options) {
  if (options === undefined) {
    return new ScopeHandle(INTERNAL, native.pushScope(stackNative(stack), name), stack)
  }
  const o = pushOptions(options)
  return new ScopeHandle(INTERNAL, native.pushScope(stackNative(stack), name, o.type, o.native), stack)
}

/** Close `handle` (the innermost open scope of its stack). Same as `handle.end(options)`. */
function popScope(handle, options) {
  if (!(handle instanceof ScopeHandle)) throw invalid('popScope expects a ScopeHandle')
  handle.end(options)
}

/** The innermost open scope of the current stack. */
function currentScope() {
  return currentStack().top
}

function statusOf(error) {
  const description = error instanceof Error ? error.message : String(error)
  const meta = { 'otel.status_code': 'ERROR', 'otel.status_description': description }
  if (error instanceof Error) meta['error.type'] = error.name
  return { metadata: meta }
}
const OK = { metadata: { 'otel.status_code': 'OK' } }

/**
 * Run `fn(scope)` inside a new scope. The scope opens on a fork of the current
 * stack and `fn` runs with that fork as its async context, so concurrent
 * `scope()` calls (`Promise.all`) each get the right parent and can never pop
 * each other's scopes. The scope ends when `fn` returns or its Promise settles,
 * with an OK or ERROR status. Returns what `fn` returns.
 */
function scope(name, options, fn) {
  if (typeof options === 'function' && fn === undefined) {
    fn = options
    options = undefined
  }
  checkName(name, 'scope name')
  checkFunction(fn, 'fn')
  const parent = currentStack()
  const fork = childStack(native.forkScopeStack(stackNative(parent)), parent)
  const handle = pushOn(fork, name, options)
  const finish = (status) => {
    try {
      if (!handle.ended) handle.end(status)
    } finally {
      releaseStack(fork)
    }
  }
  let result
  try {
    result = context.run(fork, fn, handle)
  } catch (error) {
    finish(statusOf(error))
    throw error
  }
  if (isThenable(result)) {
    return Promise.resolve(result).then(
      (value) => {
        finish(OK)
        return value
      },
      (error) => {
        finish(statusOf(error))
        throw error
      },
    )
  }
  finish(OK)
  return result
}

/** Emit a mark (a point-in-time event) under the current scope. */
function mark(name, options) {
  checkName(name, 'mark name')
  if (options === undefined) return native.mark(stackNative(currentStack()), name)
  checkKeys(options, MARK_KEYS, 'mark option')
  const { parent, dataSchema, metadata, category, categoryProfile } = options
  // The common mark carries only data: skip the options object natively.
  if (parent === undefined && dataSchema === undefined && metadata === undefined && category === undefined && categoryProfile === undefined) {
    return native.mark(stackNative(currentStack()), name, options.data)
  }
  native.mark(stackNative(currentStack()), name, options.data, {
    parent: parentUuid(parent),
    dataSchema,
    metadata,
    category,
    categoryProfile,
  })
}

// --------------------------------------------------------------- calls ---

const NEVER_ABORTED = new AbortController().signal

/** Run `fn` (a tool or provider) in the call's child stack. */
function callbackWrapper(fn, signal, caller) {
  const ctx = { signal }
  return (request, stack) => settleable(runIn(childStack(stack, caller), fn, request, ctx))
}

function startManaged(call, name, input, fn, options) {
  checkName(name, 'call name')
  checkFunction(fn, 'the callback')
  const stack = currentStack()
  if (options === undefined) {
    try {
      return Promise.resolve(call(name, input, callbackWrapper(fn, NEVER_ABORTED, stack), stackNative(stack)))
    } catch (error) {
      return Promise.reject(error)
    }
  }
  let o
  try {
    o = callOptions(options)
  } catch (error) {
    return Promise.reject(error)
  }
  const signal = options.signal
  if (signal === undefined) {
    try {
      return Promise.resolve(call(name, input, callbackWrapper(fn, NEVER_ABORTED, stack), stackNative(stack), o))
    } catch (error) {
      return Promise.reject(error)
    }
  }
  if (signal.aborted) return Promise.reject(signal.reason)
  const out = {}
  let result
  try {
    result = call(name, input, callbackWrapper(fn, signal, stack), stackNative(stack), o, out)
  } catch (error) {
    return Promise.reject(error)
  }
  if (out.token === undefined) return Promise.resolve(result)
  const token = out.token
  const onAbort = () => native.cancelCall(token, signal.reason)
  signal.addEventListener('abort', onAbort, { once: true })
  return result.finally(() => signal.removeEventListener('abort', onAbort))
}

/**
 * Run a tool call through the managed pipeline: guardrails, request
 * intercepts, start event, execution intercepts, `fn(args, { signal })`, end
 * event. Resolves with the tool's result.
 */
function toolCall(name, args, fn, options) {
  return startManaged(native.toolCall, name, args, fn, options)
}

/** Run a unary LLM call (`request` is `{ headers?, content }`) through the managed pipeline. */
function llmCall(name, request, fn, options) {
  return startManaged(native.llmCall, name, request, fn, options)
}

const DONE = Object.freeze({ done: true, value: undefined })

let streamOf
/** The chunks of a streaming call, pulled one at a time. */
class LlmStream {
  #native
  #done = false
  #inflight = null
  constructor(token, stream) {
    if (token !== INTERNAL) throw new TypeError('use llmStreamCall() to start a stream')
    this.#native = stream
  }
  static {
    streamOf = (ext) => new LlmStream(INTERNAL, ext)
  }
  #result(value) {
    if (value === undefined) {
      this.#done = true
      return DONE
    }
    return { done: false, value }
  }
  #pull() {
    if (this.#done) return Promise.resolve(DONE)
    let r
    try {
      r = native.streamNext(this.#native)
    } catch (error) {
      this.#done = true
      return Promise.reject(error)
    }
    if (!(r instanceof Promise)) return Promise.resolve(this.#result(r))
    const p = r.then(
      (value) => {
        if (this.#inflight === p) this.#inflight = null
        return this.#result(value)
      },
      (error) => {
        if (this.#inflight === p) this.#inflight = null
        this.#done = true
        throw error
      },
    )
    this.#inflight = p
    return p
  }
  /** The next chunk. Calls made while one is pending are queued. */
  next() {
    if (this.#inflight !== null) {
      const pull = () => this.#pull()
      const p = this.#inflight.then(pull, pull)
      this.#inflight = p
      return p
    }
    return this.#pull()
  }
  /** Stop early: the provider's iterator is closed and the call is recorded as cancelled. */
  return() {
    this.close()
    return Promise.resolve(DONE)
  }
  /** Same as `return()`, without a Promise. Idempotent. */
  close() {
    if (!this.#done) {
      this.#done = true
      native.streamClose(this.#native)
    }
  }
  [Symbol.asyncIterator]() {
    return this
  }
  async [Symbol.asyncDispose]() {
    this.close()
  }
}

function toIterator(value, what) {
  if (value !== null && typeof value === 'object') {
    if (typeof value[Symbol.asyncIterator] === 'function') return value[Symbol.asyncIterator]()
    if (typeof value[Symbol.iterator] === 'function') return value[Symbol.iterator]()
    if (typeof value.next === 'function') return value
  }
  throw invalid(`${what} must return an AsyncIterable of chunks`)
}

function asStream(value) {
  return value instanceof Promise ? value.then(streamOf) : streamOf(value)
}

/**
 * Run a streaming LLM call. `provider(request, { signal })` returns an
 * AsyncIterable of chunks; the result is an AsyncIterable that pulls them one
 * at a time through the pipeline (nothing is read ahead).
 */
function llmStreamCall(name, request, provider, options) {
  checkFunction(provider, 'provider')
  const wrapped = (req, ctx) => toIterator(provider(req, ctx), 'the stream provider')
  return startManaged(native.llmStreamCall, name, request, wrapped, options).then(streamOf)
}

function startManual(kind, name, input, options) {
  checkName(name, 'call name')
  const stack = currentStack()
  const o = options === undefined ? undefined : callOptions(options)
  const r = native.startCall(kind, name, input, stackNative(stack), o)
  const wrap = (h) => new CallHandle(INTERNAL, h, stack)
  return r instanceof Promise ? r.then(wrap) : Promise.resolve(wrap(r))
}

/** Start a tool call the application runs itself; emits the start event. */
function startToolCall(name, args, options) {
  try {
    return startManual('tool', name, args, options)
  } catch (error) {
    return Promise.reject(error)
  }
}

/** Start an LLM call the application runs itself; emits the start event. */
function startLlmCall(name, request, options) {
  try {
    return startManual('llm', name, request, options)
  } catch (error) {
    return Promise.reject(error)
  }
}

// ----------------------------------------------------------- middleware ---

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

function wrapperFor(shape, fn) {
  switch (shape) {
    case GUARD:
    case REWRITE:
      return (value, name, kind, uuid, parent, toolCallId, modelName) =>
        settleable(fn(value, new CallContext(INTERNAL, name, kind, uuid, parent, toolCallId, modelName)))
    case EXEC:
      return (request, next, stack, name, kind, uuid, parent, toolCallId, modelName) =>
        settleable(
          runIn(
            childStack(stack, rootStack()),
            fn,
            request,
            next,
            new CallContext(INTERNAL, name, kind, uuid, parent, toolCallId, modelName),
          ),
        )
    default:
      return (request, next, stack, name, kind, uuid, parent, toolCallId, modelName) => {
        const ctx = new CallContext(INTERNAL, name, kind, uuid, parent, toolCallId, modelName)
        const out = runIn(childStack(stack, rootStack()), fn, request, nextStream(next), ctx)
        return isThenable(out)
          ? Promise.resolve(out).then((v) => toIterator(v, 'a stream execution intercept'))
          : toIterator(out, 'a stream execution intercept')
      }
  }
}

function scopeOptions(options) {
  if (options === undefined || options.scope === undefined) return undefined
  return { scope: handleNative(options.scope), stack: stackNative(options.scope.stack) }
}

/** The handle `register` and `subscribe` return. */
class Registration {
  #family
  #name
  #scopeOptions
  #active = true
  constructor(token, family, name, scopeOpts) {
    if (token !== INTERNAL) throw new TypeError('use register() or subscribe()')
    this.#family = family
    this.#name = name
    this.#scopeOptions = scopeOpts
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
  const shape = FAMILIES[family]
  if (shape === undefined) {
    throw invalid(`unknown middleware family '${family}' (one of: ${Object.keys(FAMILIES).join(', ')})`)
  }
  checkName(name, 'registration name')
  checkFunction(fn, 'middleware')
  const o = registerOptions(options, REGISTER_KEYS)
  native.register(family, name, wrapperFor(shape, fn), o)
  return new Registration(INTERNAL, family, name, scopeOptions(options))
}

/** Remove registration `name` of `family` (scope-local with `{ scope }`). */
function deregister(family, name, options) {
  if (options === undefined) return native.deregister(family, name)
  checkKeys(options, new Set(['scope']), 'deregistration option')
  return native.deregister(family, name, scopeOptions(options))
}

/** Names of the global registrations of `family`, in run order. */
function registrations(family) {
  return native.registrations(family)
}

// ---------------------------------------------------------- subscribers ---

const delivering = new AsyncLocalStorage()
const inflight = new Set()
let subscriberErrors = 0

function report(error, event, onError) {
  subscriberErrors++
  if (onError === undefined) return
  try {
    onError(error, event)
  } catch {
    // An error handler that throws has nobody left to report to.
  }
}

function fanOut(events, fn, onError) {
  for (let i = 0; i < events.length; i++) {
    const event = events[i]
    let r
    try {
      r = fn(event)
    } catch (error) {
      report(error, event, onError)
      continue
    }
    if (isThenable(r)) {
      const p = Promise.resolve(r).then(
        () => inflight.delete(p),
        (error) => {
          inflight.delete(p)
          report(error, event, onError)
        },
      )
      inflight.add(p)
    }
  }
}

/**
 * Receive every event, in emission order, after it happened. Events arrive in
 * batches on the JS thread; `fn` may return a Promise (flush() waits for it).
 * A throwing subscriber is isolated: `onError(error, event)` is called and the
 * error is counted in `stats().subscriberErrors`.
 */
function subscribe(name, fn, options) {
  checkName(name, 'subscriber name')
  checkFunction(fn, 'subscriber')
  const onError = options === undefined ? undefined : options.onError
  if (onError !== undefined) checkFunction(onError, 'onError')
  const o = registerOptions(options, SUBSCRIBE_KEYS)
  const deliver = (text) => delivering.run(true, fanOut, JSON.parse(text), fn, onError)
  native.subscribe(name, deliver, o)
  return new Registration(INTERNAL, 'subscriber', name, scopeOptions(options))
}

/** Remove subscriber `name`. */
function unsubscribe(name, options) {
  return deregister('subscriber', name, options)
}

async function settleInflight() {
  // Called from inside a subscriber, waiting for subscribers would wait for
  // itself.
  if (delivering.getStore() === true) return
  if (inflight.size > 0) await Promise.allSettled([...inflight])
}

/**
 * Resolves once every event emitted before the call was delivered to the
 * subscribers and the Promises they returned settled. Never rejects because a
 * subscriber failed.
 */
async function flush() {
  await native.flush()
  await settleInflight()
}

/** Deliver what is queued and stop delivery (later events are dropped and counted). */
async function shutdown() {
  await native.shutdown()
  await settleInflight()
}

/** Counters of the runtime, plus `subscriberErrors` counted by the facade. */
function stats() {
  return { ...native.stats(), subscriberErrors }
}

// ---------------------------------------------------- plugins, exporters ---
// Modules of their own (plugins.js, exporters.js) that share the internals
// below, so plugin middleware and subscribers behave like register()'s.

const { plugins, ConfigCheck, PluginContext, PluginKindRegistration } = require('./plugins.js')({
  native,
  RelayError,
  invalid,
  checkName,
  checkFunction,
  checkKeys,
  isThenable,
  FAMILIES,
  wrapperFor,
  deliverTo: (fn, onError) => (text) => delivering.run(true, fanOut, JSON.parse(text), fn, onError),
})
const { AtofExporter, AtifExporter, OtlpExporter } = require('./exporters.js')({ native, invalid, checkKeys })

module.exports = {
  version: native.version,
  abiInfo: native.abiInfo,
  // scopes
  createScopeStack,
  currentScopeStack,
  withScopeStack,
  pushScope,
  popScope,
  currentScope,
  scope,
  mark,
  // calls
  toolCall,
  llmCall,
  llmStreamCall,
  startToolCall,
  startLlmCall,
  // middleware and subscribers
  register,
  deregister,
  registrations,
  subscribe,
  unsubscribe,
  flush,
  shutdown,
  stats,
  // plugins and exporters
  plugins,
  AtofExporter,
  AtifExporter,
  OtlpExporter,
  // classes
  ScopeStack,
  ScopeHandle,
  CallHandle,
  CallContext,
  LlmStream,
  Registration,
  RelayError,
  InvalidArgumentError,
  GuardrailRejectedError,
  ScopeStackError,
  ConfigCheck,
  PluginContext,
  PluginKindRegistration,
}
