'use strict'
// Managed and manual tool/LLM calls, streaming calls as async iterables, and
// AbortSignal wiring.

const native = require('../native.js')
const fast = require('./fast.js')
const { checkFunction, checkName, invalid, isThenable, settleable, settleThen, show, userThrew } = require('./errors.js')
const { llmCallsBare, toolCallsBare } = require('./activity.js')
const {
  CallHandle,
  INTERNAL,
  bareCallStack,
  childStack,
  context,
  currentStack,
  releaseStack,
  runIn,
  stackNative,
} = require('./context.js')
const { callOptions } = require('./options.js')
const { onAbort } = require('./abort.js')
const { DONE, scopedIterator, closeProvider, pullNext, resultOrEnd, readResult, toIterator } = require('./iterators.js')

const NEVER_ABORTED = new AbortController().signal

/**
 * How long a tool or provider may go on after its call was aborted before
 * its stack is let go without it (see `callbackWrapper`).
 */
const ABANDON_AFTER_MS = 1000

/**
 * Run `fn` (a tool or provider) in the call's child stack. Under a signal
 * the stack is also let go some time after the call is aborted: a tool
 * that ignores its signal may never settle, and its stack would then be
 * kept for the life of the process. One that honours it settles first, and
 * its own cleanup (ending its scopes) still finds them open.
 */
function callbackWrapper(fn, signal, caller) {
  const ctx = { signal }
  if (signal === NEVER_ABORTED) {
    return (request, stack) => settleable(runIn(childStack(stack, caller), fn, request, ctx))
  }
  return (request, stack) => {
    const child = childStack(stack, caller)
    let timer
    const forget = signal.aborted
      ? () => {}
      : onAbort(signal, () => {
          timer = setTimeout(releaseStack, ABANDON_AFTER_MS, child)
          timer.unref()
        })
    return settleThen(
      () => runIn(child, fn, request, ctx),
      () => {
        forget()
        clearTimeout(timer)
      },
    )
  }
}

/**
 * Run a stream provider in the call's child stack, and every later pull of
 * its iterator too (a provider's code runs at each `next()`, long after the
 * call started, while the consumer may be anywhere): its marks, scopes and
 * nested calls belong to the LLM call whoever consumes the stream. The
 * child stack is released when the iterator ends, fails or is closed.
 */
function providerWrapper(provider, signal, caller) {
  const ctx = { signal }
  return (request, stack) => {
    const child = childStack(stack, caller)
    let iter
    try {
      iter = context.run(child, provider, request, ctx)
    } catch (error) {
      releaseStack(child)
      throw userThrew(error)
    }
    return scopedIterator(iter, child, 'the stream provider')
  }
}

function startManaged(call, name, input, fn, options, fastCall = call, wrap = callbackWrapper) {
  checkName(name, 'call name')
  checkFunction(fn, 'the callback')
  const stack = currentStack()
  if (options === undefined) {
    try {
      return Promise.resolve(fastCall(name, input, wrap(fn, NEVER_ABORTED, stack), stackNative(stack)))
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
      return Promise.resolve(call(name, input, wrap(fn, NEVER_ABORTED, stack), stackNative(stack), o))
    } catch (error) {
      return Promise.reject(error)
    }
  }
  if (signal.aborted) return Promise.reject(signal.reason)
  const out = {}
  let result
  try {
    result = call(name, input, wrap(fn, signal, stack), stackNative(stack), o, out)
  } catch (error) {
    return Promise.reject(error)
  }
  if (out.token === undefined) return Promise.resolve(result)
  const token = out.token
  // Aborted by the call's own synchronous part (the tool, a guardrail)
  // before there was a listener to hear it.
  if (signal.aborted) {
    native.cancelCall(token, signal.reason)
    return result
  }
  const forget = onAbort(signal, (reason) => native.cancelCall(token, reason))
  return result.finally(forget)
}

/**
 * A bare call of `kind` ('tool' or 'llm'), run here: nothing observes it
 * (no subscriber, no middleware of its kind anywhere), so the core's
 * managed pipeline would only run `fn` in the call's own scope, with the
 * caller's own values. The scope is built natively only if `fn` asks for
 * it, or when `fn` returns a Promise: the call's place (its parent) is
 * fixed when it starts, not when the callback's later code first needs it.
 */
function bareCall(kind, name, args, fn, parent) {
  const stack = bareCallStack(kind, name, parent)
  let r
  try {
    r = context.run(stack, fn, args, { signal: NEVER_ABORTED })
  } catch (error) {
    releaseStack(stack)
    return Promise.reject(error)
  }
  if (isThenable(r)) {
    try {
      stackNative(stack)
    } catch (error) {
      releaseStack(stack)
      return Promise.reject(error)
    }
    return Promise.resolve(r).finally(() => releaseStack(stack))
  }
  releaseStack(stack)
  return Promise.resolve(r)
}

/**
 * Run a tool call through the managed pipeline: guardrails, request
 * intercepts, start event, execution intercepts, `fn(args, { signal })`, end
 * event. Resolves with the tool's result.
 */
function toolCall(name, args, fn, options) {
  if (options === undefined && toolCallsBare()) {
    checkName(name, 'call name')
    checkFunction(fn, 'the callback')
    return bareCall('tool', name, args, fn, currentStack())
  }
  return startManaged(native.toolCall, name, args, fn, options, fast.toolCall)
}

/**
 * Run a unary LLM call (`request` is `{ headers?, content }`) through the
 * managed pipeline. The provider gets `{ headers, content }` holding the
 * caller's own values, and the caller the provider's own response, unless
 * native middleware or an execution intercept sees them (as for tools).
 */
function llmCall(name, request, fn, options) {
  checkName(name, 'call name')
  checkFunction(fn, 'the callback')
  let view
  try {
    view = llmRequestView(request)
  } catch (error) {
    return Promise.reject(error)
  }
  if (options === undefined && llmCallsBare()) return bareCall('llm', name, view, fn, currentStack())
  return startManaged(native.llmCall, name, view, fn, options)
}

let streamOf
let bareStreamOf
let abortStreamWith
/** Bare streams dropped before their end: their providers are closed, their scopes released. */
const abandoned = new FinalizationRegistry(({ iter, stalled, stack }) => {
  const provider = iter ?? stalled?.deref()
  if (provider === undefined) releaseStack(stack)
  else closeProvider(provider, stack)
})
/** Streams dropped before their end: their cancellations leave their signals. */
const abandonedOnSignal = new FinalizationRegistry((forget) => forget())

/**
 * The chunks of a streaming call, pulled one at a time.
 *
 * Native code polls the core stream and answers each step with a chunk,
 * `undefined` (the end), this stream's `#pull` object (pull `#pull.iter` and
 * feed back what its `next()` gave) or a Promise of one of these. Pulling the
 * provider here, in JS, keeps a chunk to plain promise work and native calls.
 * A bare call's stream (`#stack` set) has no native side: it pulls the
 * provider in the call's scope and applies the same rules itself.
 */
class LlmStream {
  #native
  #done = false
  /** The latest pending step; a `next()` made meanwhile waits for it. */
  #inflight = null
  #pull = { iter: undefined, held: undefined, direct: false }
  /**
   * With nothing wrapping the provider (`#pull.direct`), the chunk fed last
   * (`{ value }`): the chunk the caller gets is that very value, not the
   * copy native code carries for the events (or its placeholder when
   * nothing records them), as a tool's caller gets the tool's own result.
   */
  #fed
  /** A bare call's stack: the provider's iterator is pulled here, in JS. */
  #stack
  /**
   * What closes a dropped bare stream's provider (`abandoned`). While a
   * pull waits, it holds the provider only weakly (`stalled`): the pending
   * pull's reactions hold this stream, so a strong hold would keep a
   * stream whose provider never answers alive forever. Such a provider is
   * then collected with the stream, as a plain async generator would be.
   */
  #held
  /** `{ reason }` once the call's AbortSignal aborted. */
  #aborted
  /** The rejections of `next()` Promises pending while the signal may abort. */
  #waiting
  /** Removes this stream's cancellation from its signal. */
  #forget
  /** Settles once a closed stream's provider has cleaned up (see `#closeObserved`). */
  #closing
  constructor(token, stream) {
    if (token !== INTERNAL) throw new TypeError('use llmStreamCall() to start a stream')
    this.#native = stream
  }
  static {
    streamOf = (ext) => new LlmStream(INTERNAL, ext)
    // The call's signal applies until the stream ends, not only until
    // llmStreamCall resolves: aborting then closes the provider, records
    // a cancelled end and rejects the pending and later next() calls with
    // the signal's reason.
    abortStreamWith = (s, signal) => {
      if (signal.aborted) {
        s.#abort(signal.reason)
        return s
      }
      s.#waiting = new Set()
      // Held weakly: a long-lived signal must not keep an abandoned stream
      // (and its provider, and its open call) alive. When the stream is
      // collected, its entry goes too.
      const ref = new WeakRef(s)
      const forget = onAbort(signal, (reason) => ref.deref()?.#abort(reason))
      s.#forget = forget
      abandonedOnSignal.register(s, forget, s)
      return s
    }
    bareStreamOf = (iter, stack) => {
      const s = new LlmStream(INTERNAL, undefined)
      s.#pull.iter = iter
      s.#stack = stack
      // A stream dropped before its end still lets go of its scope (a
      // native handle): when it is collected, if not at its end.
      s.#held = { iter, stalled: undefined, stack }
      abandoned.register(s, s.#held, s)
      return s
    }
  }
  /** A bare stream's step: pull the provider in the call's scope. */
  #bareStep() {
    let r
    try {
      r = context.run(this.#stack, pullNext, this.#pull.iter)
    } catch (error) {
      this.#fail()
      return Promise.reject(error)
    }
    if (isThenable(r)) {
      const held = this.#held
      held.stalled = new WeakRef(held.iter)
      held.iter = undefined
      const settled = () => {
        if (this.#inflight === q) this.#inflight = null
        if (held.stalled !== undefined) {
          held.iter = held.stalled.deref()
          held.stalled = undefined
        }
      }
      const q = Promise.resolve(r).then(
        (v) => {
          settled()
          return this.#bareResult(v)
        },
        (error) => {
          settled()
          this.#fail()
          throw error
        },
      )
      if (this.#inflight === null) this.#inflight = q
      return q
    }
    try {
      return Promise.resolve(this.#bareResult(r))
    } catch (error) {
      return Promise.reject(error)
    }
  }
  #bareResult(r) {
    if (this.#done) return DONE // closed meanwhile
    if (r === null || typeof r !== 'object') {
      this.#fail()
      throw invalid('the stream provider\'s iterator must return objects { done, value }')
    }
    return resultOrEnd(r, () => this.#end())
  }
  /**
   * A bare stream failed: its provider is closed (in the call's scope, what
   * it says ignored), as the native path closes an observed one, so that a
   * provider holding a connection lets it go; then its scope is released.
   */
  #fail() {
    const iter = this.#pull.iter
    this.#done = true
    abandoned.unregister(this)
    this.#pull.iter = undefined
    closeProvider(iter, this.#stack)
  }
  /** A bare stream is over: let go of its scope and its iterator. */
  #end() {
    this.#done = true
    if (this.#stack !== undefined) {
      abandoned.unregister(this)
      releaseStack(this.#stack)
      this.#pull.iter = undefined
    }
  }
  /** Turn a native answer into an iterator result, or a Promise of one. */
  #step(answer) {
    for (;;) {
      // Closed meanwhile: never pull or yield after close().
      if (this.#done) return DONE
      if (answer === undefined) {
        this.#done = true
        return DONE
      }
      if (answer === this.#pull) {
        let r
        let thenable
        try {
          r = this.#pull.iter.next()
          thenable = isThenable(r)
        } catch (error) {
          answer = native.streamFeed(this.#native, this.#pull, 2, error)
          continue
        }
        if (thenable) {
          // Only the pull holds the iterator while it answers (see
          // `Pulls::held`): a provider that never answers is collected with
          // a stream its caller dropped.
          const pending = Promise.resolve(r)
          const held = this.#pull.held
          const iter = held.iter
          held.iter = undefined
          return this.#later(
            pending,
            (v) => {
              held.iter = iter
              return this.#feed(v)
            },
            (error) => {
              held.iter = iter
              return native.streamFeed(this.#native, this.#pull, 2, error)
            },
          )
        }
        answer = this.#feed(r)
        continue
      }
      if (answer instanceof Promise) return this.#later(answer, (v) => v)
      const fed = this.#fed
      this.#fed = undefined
      return { done: false, value: fed === undefined ? answer : fed.value }
    }
  }
  #feed(r) {
    if (r === null || typeof r !== 'object') return native.streamFeed(this.#native, this.#pull, 3, r)
    let result
    try {
      result = readResult(r)
    } catch (error) {
      // A throwing getter fails the call like a throwing next().
      return native.streamFeed(this.#native, this.#pull, 2, error)
    }
    if (!result.done && this.#pull.direct) this.#fed = { value: result.value }
    return native.streamFeed(this.#native, this.#pull, result.done ? 1 : 0, result.value)
  }
  /** Continue stepping once `p` settles; `onError` turns a rejection into an answer. */
  #later(p, onValue, onError) {
    const go = (f) => (v) => {
      if (this.#inflight === q) this.#inflight = null
      try {
        return this.#step(f(v))
      } catch (error) {
        this.#done = true
        throw error
      }
    }
    const q = p.then(go(onValue), onError === undefined ? this.#failed : go(onError))
    if (this.#inflight === null) this.#inflight = q
    return q
  }
  #failed = (error) => {
    this.#done = true
    throw error
  }
  /** One step: an iterator result, or a Promise of one. */
  #advance() {
    if (this.#done) return Promise.resolve(DONE)
    if (this.#stack !== undefined) return this.#bareStep()
    try {
      // With nothing wrapping the provider, each step pulls it first.
      const answer = this.#pull.direct ? this.#pull : native.streamNext(this.#native, this.#pull)
      const r = this.#step(answer)
      return r instanceof Promise ? r : Promise.resolve(r)
    } catch (error) {
      this.#done = true
      return Promise.reject(error)
    }
  }
  #abort(reason) {
    if (this.#aborted !== undefined) return
    this.#aborted = { reason }
    const waiting = this.#waiting
    this.#waiting = undefined
    this.#forget = undefined
    abandonedOnSignal.unregister(this)
    this.close()
    if (waiting !== undefined) for (const reject of waiting) reject(reason)
  }
  /** The stream reached its end or was closed: its signal no longer applies. */
  #settled() {
    if (this.#forget === undefined) return
    this.#forget()
    abandonedOnSignal.unregister(this)
    this.#forget = undefined
    this.#waiting = undefined
  }
  /** The next chunk. Calls made while one is pending are queued. */
  next() {
    if (this.#aborted !== undefined) return Promise.reject(this.#aborted.reason)
    // Closed (or finished): done at once, not behind a pull that is still
    // waiting on the provider.
    if (this.#done) return Promise.resolve(DONE)
    const p = this.#queueNext()
    // Aborted by the provider's own synchronous code, during this pull:
    // this next() was pending then.
    if (this.#aborted !== undefined) {
      p.catch(() => {})
      return Promise.reject(this.#aborted.reason)
    }
    if (this.#waiting === undefined) return p
    // Abortable: the Promise also rejects when the signal aborts first, and
    // the signal is let go once the stream ends.
    return new Promise((resolve, reject) => {
      const waiting = this.#waiting
      waiting.add(reject)
      p.then(
        (r) => {
          waiting.delete(reject)
          if (r.done) this.#settled()
          resolve(r)
        },
        (error) => {
          waiting.delete(reject)
          this.#settled()
          reject(error)
        },
      )
    })
  }
  #queueNext() {
    if (this.#inflight !== null) {
      let p
      const go = () => {
        if (this.#inflight === p) this.#inflight = null
        return this.#advance()
      }
      p = this.#inflight.then(go, go)
      this.#inflight = p
      return p
    }
    return this.#advance()
  }
  /**
   * Stop early: the provider's iterator is closed and the call is recorded
   * as cancelled. Resolves once the provider's `finally` blocks have run.
   */
  return() {
    this.close()
    return (this.#closing ?? Promise.resolve()).then(() => DONE)
  }
  /** Same as `return()`, without a Promise. Idempotent. */
  close() {
    this.#settled()
    if (this.#done) return
    if (this.#stack === undefined) {
      this.#done = true
      this.#closeObserved()
      return
    }
    const iter = this.#pull.iter
    const stack = this.#stack
    this.#done = true
    abandoned.unregister(this)
    this.#pull.iter = undefined
    closeProvider(iter, stack)
  }
  /**
   * Close the JS iterator the call pulls (the provider's, or a stream
   * intercept's) before the call itself: its `finally` blocks belong to
   * the call, and the scopes they end must end before the call's own end
   * event. Not while a pull is in flight: the iterator would run its
   * `finally` only once that pull settles (never, for a provider that
   * never answers), and what the pull gives would reach the call after the
   * close. The call is closed first then, and native code closes the
   * iterator. A `return()` that does not settle holds the call open (and
   * the Promise `return()` gave) for ABANDON_AFTER_MS at most: its end
   * event must still be written, so the timer keeps the process alive.
   */
  #closeObserved() {
    let closed = false
    const closeCall = () => {
      if (closed) return
      closed = true
      native.streamClose(this.#native)
    }
    const iter = this.#pull.iter
    if (iter === undefined || this.#inflight !== null) return closeCall()
    let r
    try {
      r = iter.return()
    } catch {
      // Its own business, as a rejected return() is.
    }
    if (!isThenable(r)) return closeCall()
    this.#closing = new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        closeCall()
        resolve()
      }
      const timer = setTimeout(done, ABANDON_AFTER_MS)
      Promise.resolve(r).then(done, done)
    })
  }
  [Symbol.asyncIterator]() {
    return this
  }
  async [Symbol.asyncDispose]() {
    await this.return()
  }
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
  if (options === undefined && llmCallsBare()) {
    checkName(name, 'call name')
    return bareLlmStreamCall(name, request, provider, currentStack())
  }
  // Read once, before anything starts: a throwing getter rejects the call,
  // and leaves no second, unhandled rejection behind.
  let signal
  let view
  try {
    signal = options?.signal
    view = llmRequestView(request)
  } catch (error) {
    return Promise.reject(error)
  }
  const call = native.llmStreamCall
  const started = startManaged(call, name, view, provider, options, call, providerWrapper).then(streamOf)
  return signal === undefined ? started : started.then((stream) => abortStreamWith(stream, signal))
}

/**
 * A bare streaming call, run here (see `bareCall`): the provider is
 * called and pulled in the call's own scope, which is built at once (a
 * stream's chunks come later, when the caller's flow may have moved on).
 */
function bareLlmStreamCall(name, request, provider, parent) {
  let view
  try {
    view = llmRequestView(request)
  } catch (error) {
    return Promise.reject(error)
  }
  const stack = bareCallStack('llm', name, parent)
  let iter
  try {
    stackNative(stack)
    iter = context.run(stack, provider, view, { signal: NEVER_ABORTED })
    iter = toIterator(iter, 'the stream provider')
  } catch (error) {
    releaseStack(stack)
    return Promise.reject(error)
  }
  return Promise.resolve(bareStreamOf(iter, stack))
}

/**
 * What a provider (and JS middleware) receives for `request`: `{ headers,
 * content }`, headers `{}` when absent, holding the caller's own values.
 * Its shape is read as native code reads the request's JSON, so that every
 * mode of a call accepts and refuses the same requests: `toJSON` is
 * honoured, only own enumerable string keys count, members JSON leaves out
 * (undefined, functions, symbols) are no fields, and a getter that throws
 * makes the request "not JSON".
 */
function llmRequestView(request, what = 'the LLM request') {
  const fields = jsonFields(request, '', what)
  if (fields === undefined) throw invalid(`${what}: LLM request must be an object {content, headers}`)
  let headers
  let content = null
  for (const [key, value] of fields) {
    if (key === 'content') content = value
    else if (key === 'headers') headers = value
    else throw invalid(`${what}: unknown LLM request field '${key}' (expected 'content' and 'headers')`)
  }
  if (headers !== undefined && headers !== null) {
    const headerFields = jsonFields(headers, 'headers', what)
    if (headerFields === undefined) throw invalid(`${what}: LLM request 'headers' must be an object`)
    // Headers with a toJSON are handed on as what it returns; any other
    // object (a class instance, a Map) is the caller's own value, passed
    // through like content (events record its JSON, as always).
    if (headerFields.source !== headers) headers = Object.fromEntries(headerFields)
  }
  return { headers: headers ?? {}, content }
}

/**
 * The fields `JSON.stringify` would write for `value` (under `key`), as
 * `[key, value]` pairs with a `source` property (the object they were read
 * from, after `toJSON`), or `undefined` when it writes no object. A getter
 * or `toJSON` that throws makes `what` "not JSON".
 */
function jsonFields(value, key, what) {
  try {
    if (value !== null && typeof value === 'object' && typeof value.toJSON === 'function') value = value.toJSON(key)
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined
    const fields = []
    for (const k of Object.keys(value)) {
      const v = value[k]
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue
      fields.push([k, v])
    }
    fields.source = value
    return fields
  } catch (error) {
    throw invalid(`${what} is not JSON: ${error instanceof Error ? error.message : show(error)}`)
  }
}

function startManual(kind, name, input, options) {
  checkName(name, 'call name')
  // Only a managed call can be aborted for you; accepted here, a signal
  // would look like it cancels something.
  if (options?.signal !== undefined) {
    throw invalid('signal is for toolCall/llmCall: a call you run yourself ends with end() or fail()')
  }
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

/**
 * `f`, reporting what it throws synchronously (a bad name, a callback that
 * is no function) as a rejection: a call that returns a Promise reports
 * every failure through it, so `.catch()` sees them all.
 */
function rejecting(f) {
  return (a, b, c, d) => {
    try {
      return f(a, b, c, d)
    } catch (error) {
      return Promise.reject(error)
    }
  }
}

module.exports = {
  toolCall: rejecting(toolCall),
  llmCall: rejecting(llmCall),
  LlmStream,
  llmRequestView,
  asStream,
  llmStreamCall: rejecting(llmStreamCall),
  startToolCall,
  startLlmCall,
}
