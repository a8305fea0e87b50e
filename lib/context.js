'use strict'
// Scope stacks and handles, and the async context that carries the current
// stack: an AsyncLocalStorage holds the ScopeStack of each async flow.

const { AsyncLocalStorage } = require('node:async_hooks')

const native = require('../native.js')
const fast = require('./fast.js')
const { checkFunction, checkKeys, invalid, isThenable, userThrew } = require('./errors.js')

const INTERNAL = Symbol('nemo-relay internal')
const context = new AsyncLocalStorage()

let stackNative
let releaseStack
let descendsFrom
let openedOn
let closedOn
let liveStack
let endAbove
/**
 * The open scopes of one logical flow of control. Get one from
 * `createScopeStack()` or `currentScopeStack()`.
 *
 * The stacks `scope()` forks and the child stacks of managed calls are
 * short-lived: they are released when their callback settles, which ends
 * the scopes the callback left open. Code that outlives the callback (a
 * detached timer, say) then works on a fork of the stack the callback was
 * started from, made on first use and started where the callback started
 * (see `liveStack`): its scopes are parented there, never to what that
 * stack pushed since, and never sit among that stack's own scopes (which
 * could then not end past them).
 */
class ScopeStack {
  #native
  #parent
  #released = false
  /**
   * The handles `pushScope` made on this stack and that have not ended, in
   * push order: `top` hands back these very objects (so that a scope ended
   * through `currentScope()` is ended in the handle its opener holds), and
   * `releaseStack` ends those a callback left open.
   */
  #pushed = []
  /** Builds `#native` when first needed (the stack of a bare call). */
  #make
  /**
   * Where on `#parent` this stack started: the handle `pushScope` made
   * that was its top then (undefined: its base). Late work starts there.
   */
  #anchor
  /** Released: the fork late work uses instead (see `liveStack`). */
  #late
  /** This stack is such a fork. */
  #isLate = false
  constructor(token, handle, parent, make) {
    if (token !== INTERNAL) throw new TypeError('use createScopeStack() to create a ScopeStack')
    this.#native = handle
    this.#parent = parent
    this.#make = make
    if (parent !== undefined) this.#anchor = liveStack(parent).#pushed.at(-1)
  }
  static {
    stackNative = (stack) => {
      stack = liveStack(stack)
      if (stack.#native === undefined) {
        stack.#native = stack.#make()
        stack.#make = undefined
      }
      return stack.#native
    }
    // A short-lived stack (a call's, a provider's) is released when its
    // callback settles. Scopes its code opened there and never ended would
    // never emit their end events and could never be ended (the stack is
    // gone): they are ended first, innermost first, as scope() does.
    releaseStack = (stack) => {
      if (stack.#released) return
      endAbove(stack, undefined, undefined) // every scope left open on it
      if (stack.#pushed.length > 0) {
        // Another flow's scope sits above one of them, on a native stack
        // they share (an intercept running `next` twice at once): they are
        // ended once they are on top again, when a flow lets go of its
        // stack (the other one, usually).
        stacksWaiting.add(stack)
        return
      }
      letGo(stack)
      for (const waiting of stacksWaiting) {
        endAbove(waiting, undefined, undefined)
        if (waiting.#pushed.length === 0) {
          stacksWaiting.delete(waiting)
          letGo(waiting)
        }
      }
    }
    const letGo = (stack) => {
      stack.#released = true
      if (stack.#native !== undefined) fast.releaseHandle(stack.#native)
    }
    // End, innermost first and with `options`, the scopes pushed on
    // `stack` above `handle` (all of them when `handle` is undefined) that
    // are still open. Stops at one it cannot end (not on top of this
    // stack; then ending `handle` reports why).
    endAbove = (stack, handle, options) => {
      const pushed = stack.#pushed
      while (pushed.length > 0) {
        const last = pushed[pushed.length - 1]
        if (last === handle) return
        try {
          if (!last.ended) last.end(options)
        } catch {
          return
        }
        if (pushed[pushed.length - 1] === last) pushed.pop() // it had ended elsewhere
      }
    }
    // The stack code given `stack` works on: itself unless released, else
    // its late fork.
    liveStack = (stack) => {
      if (stack.#released) {
        if (stack.#late === undefined) {
          const parent = liveStack(stack.#parent)
          const at = stack.#anchor === undefined ? undefined : handleNative(stack.#anchor)
          const id = native.forkScopeStackAt(stackNative(parent), at)
          stack.#late = new ScopeStack(INTERNAL, id, parent)
          stack.#late.#isLate = true
          lateForks.register(stack.#late, id)
        }
        return stack.#late
      }
      return stack
    }
    openedOn = (stack, handle) => {
      stack.#pushed.push(handle)
    }
    closedOn = (stack, handle) => {
      const pushed = stack.#pushed
      const id = handleNative(handle)
      for (let i = pushed.length - 1; i >= 0; i--) {
        if (handleNative(pushed[i]) === id) {
          if (i === pushed.length - 1) pushed.pop()
          else pushed.splice(i, 1)
          return
        }
      }
    }
    descendsFrom = (stack, ancestor) => {
      for (let s = stack; s !== undefined; s = s.#parent) if (s === ancestor) return true
      return false
    }
  }
  /**
   * The innermost open scope (the implicit root when none is open): the
   * handle `pushScope` returned, if it opened the scope on this stack.
   */
  get top() {
    const stack = liveStack(this)
    const top = native.scopeStackTop(stackNative(stack))
    if (typeof top === 'number') {
      // Late work sees the scope its fork started at as the opener made
      // it, so that ending it there ends it, as it did on the stack the
      // work came from.
      const mine = ScopeStack.#pushedWithId(stack, top)
      if (mine !== undefined) return mine
      const opener = stack.#isLate ? ScopeStack.#pushedWithId(stack.#parent, top) : undefined
      if (opener !== undefined) return opener
    }
    return new ScopeHandle(INTERNAL, top, stack)
  }
  /** The handle `pushScope` made on `stack` for the scope with native id `id`, if any. */
  static #pushedWithId(stack, id) {
    const pushed = stack.#pushed
    for (let i = pushed.length - 1; i >= 0; i--) if (handleNative(pushed[i]) === id) return pushed[i]
    return undefined
  }
  /** Number of open scopes above the implicit root. */
  get depth() {
    return native.scopeStackDepth(stackNative(this))
  }
}

/** Released stacks with scopes they could not end yet (see `releaseStack`). */
const stacksWaiting = new Set()

/** Late forks (rare) are freed natively once collected. */
const lateForks = new FinalizationRegistry((id) => fast.releaseHandle(id))

/** A short-lived stack (id `id`) that falls back to `parent` once released. */
function childStack(id, parent) {
  return new ScopeStack(INTERNAL, id, parent)
}

/**
 * The stack of a bare call `name` of `kind` ('tool' or 'llm') made from
 * `parent`: the native stack (topped by the call's scope, minted then) is
 * built only if code inside the call asks for it, as the core does for the
 * bare calls it runs. Falls back to `parent` once released.
 */
function bareCallStack(kind, name, parent) {
  return new ScopeStack(INTERNAL, undefined, parent, () => native.bareCallStack(kind, name, stackNative(parent)))
}

/** Run `fn(...args)` with `stack` as context; release `stack` once it settles. */
function runIn(stack, fn, a, b, c) {
  let r
  try {
    r = context.run(stack, fn, a, b, c)
  } catch (error) {
    releaseStack(stack)
    throw userThrew(error)
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

let deliveryStack
/**
 * The stack subscribers run in: a fork of the root stack at its base, so
 * the scopes and calls a subscriber makes are top-level, not children of
 * whatever the program's main flow has open when the batch arrives. It
 * can be recognized, and so can the stacks of scopes and calls a
 * subscriber opens, which descend from it: that is how `flush()` knows it
 * was called from inside a delivery, even after an `await`. The one
 * AsyncLocalStorage carries this too, on purpose: every AsyncLocalStorage
 * a process has enabled costs each Promise it creates from then on (a
 * second one made a 100-chunk stream 2.5x slower, with or without
 * subscribers).
 */
function runDelivering(fn, a, b, c, d) {
  if (deliveryStack === undefined) {
    const root = rootStack()
    deliveryStack = new ScopeStack(INTERNAL, native.forkScopeStackAt(stackNative(root), undefined), root)
  }
  return context.run(deliveryStack, fn, a, b, c, d)
}

/** Whether the current code runs in a subscriber's delivery (see `runDelivering`). */
function inDelivery() {
  const store = context.getStore()
  return store !== undefined && deliveryStack !== undefined && descendsFrom(store, deliveryStack)
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
  /** Known without asking native code (a pushed scope's): still readable once it ended. */
  #name
  #type
  constructor(handle, name, type) {
    this.#native = handle
    this.#name = name
    this.#type = type
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
   * Unique id (UUID v7); the start and end events share it. A pushed scope's
   * uuid, name and type stay readable once it ended; its other details can
   * be read while it is open (afterwards only if they were read before:
   * keeping them for every ended scope would cost each push).
   */
  get uuid() {
    return this.#uuid ?? this.#load().uuid
  }
  /** Id of the parent scope. */
  get parentUuid() {
    return this.#load().parentUuid
  }
  get name() {
    return this.#name ?? this.#load().name
  }
  /** Scope type (`'agent'`, `'function'`, `'tool'`, `'llm'`, …). */
  get type() {
    return this.#type ?? this.#load().type
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
let endedHere
class ScopeHandle extends Handle {
  #stack
  #ended = false
  constructor(token, handle, stack, name, type) {
    if (token !== INTERNAL) throw new TypeError('use pushScope() or scope() to open a scope')
    super(handle, name, type)
    this.#stack = stack
  }
  static {
    /** Whether this very handle ended its scope (no native call). */
    endedHere = (h) => h.#ended
  }
  /** The stack this scope is open on. */
  get stack() {
    return this.#stack
  }
  /** Whether the scope has ended, through this handle or another (`currentScope().end()`). */
  get ended() {
    if (!this.#ended && native.scopeEnded(handleNative(this))) this.#ended = true
    return this.#ended
  }
  /** Close the scope (it must be the innermost open one) and emit its end event. */
  end(options) {
    const uuid =
      options === undefined
        ? fast.popScope(stackNative(this.#stack), handleNative(this))
        : native.popScope(stackNative(this.#stack), handleNative(this), popOptions(options))
    setEndedUuid(this, uuid)
    this.#ended = true
    closedOn(this.#stack, this)
  }
  /** `using scope = relay.pushScope(...)`: ends the scope unless it has ended (through any handle). */
  [Symbol.dispose]() {
    if (!this.ended) this.end()
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
  /**
   * Emit the success end event with `output` (sanitizers apply). Every
   * failure (bad options, a call already ended) rejects the Promise.
   */
  end(output, options) {
    try {
      const o = options === undefined ? undefined : endOptions(options)
      return Promise.resolve(native.endCall(handleNative(this), output, stackNative(this.#stack), o))
    } catch (error) {
      return Promise.reject(error)
    }
  }
  /** Emit the failure end event for `error`. */
  fail(error, options) {
    const o = options === undefined ? undefined : endOptions(options)
    native.failCall(handleNative(this), error, stackNative(this.#stack), o)
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

module.exports = {
  INTERNAL,
  context,
  stackNative,
  releaseStack,
  liveStack,
  endAbove,
  openedOn,
  ScopeStack,
  childStack,
  bareCallStack,
  runIn,
  runDelivering,
  inDelivery,
  rootStack,
  currentStack,
  createScopeStack,
  currentScopeStack,
  withScopeStack,
  handleNative,
  Handle,
  ScopeHandle,
  endedHere,
  CallHandle,
}
