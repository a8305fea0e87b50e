'use strict'
// Provider iterators pulled in their call's scope: a provider's code (and a
// stream execution intercept's) runs at each `next()`, long after its call
// started, yet its marks, scopes and nested calls belong to the call. Also
// the reading of iterator results and the one way streams close providers.

const { isThenable, invalid, settleThen, userThrew } = require('./errors.js')
const { context, currentStack, releaseStack } = require('./context.js')

const DONE = Object.freeze({ done: true, value: undefined })


/**
 * What a stream provider or stream execution intercept returned, as an
 * iterator pulled in `child` (released if it is no iterator). With
 * `promised` (an async execution intercept may answer with a Promise of
 * its iterator), a Promise of one gives a Promise of the iterator; a
 * provider must return the iterable itself, observed or not.
 */
function scopedIterator(value, child, what, promised = false) {
  const wrap = (v) => {
    try {
      return new ScopedIterator(toIterator(v, what), child)
    } catch (error) {
      releaseStack(child)
      throw error
    }
  }
  if (!promised || !isThenable(value)) return wrap(value)
  return Promise.resolve(value).then(wrap, (error) => {
    releaseStack(child)
    throw error
  })
}

/**
 * The stacks of scoped iterators dropped before they ended (a provider
 * whose `return()` never settles, say): released when collected.
 */
const unreleased = new FinalizationRegistry(releaseStack)

/** An iterator pulled in `stack` (see `providerWrapper`). */
class ScopedIterator {
  #iter
  #stack
  /** `return()` was called: the stream closes it first, native code again. */
  #closed = false
  #end = () => {
    if (this.#stack === undefined) return
    unreleased.unregister(this)
    releaseStack(this.#stack)
    this.#stack = undefined
  }
  constructor(iter, stack) {
    this.#iter = iter
    this.#stack = stack
    unreleased.register(this, stack, this)
  }
  /**
   * The next result, read here once (its getters may throw) and handed on
   * as a plain object; the end of the iterator ends the stack.
   */
  next() {
    const stack = this.#stack ?? currentStack()
    let r
    try {
      r = context.run(stack, pullNext, this.#iter)
    } catch (error) {
      this.#end()
      throw userThrew(error)
    }
    if (!isThenable(r)) return this.#settle(r)
    return Promise.resolve(r).then(
      (v) => this.#settle(v),
      (error) => {
        this.#end()
        throw error
      },
    )
  }
  #settle(r) {
    // Not an iterator result: handed on as it is, for the stream to report.
    if (r === null || typeof r !== 'object') {
      this.#end()
      return r
    }
    return resultOrEnd(r, this.#end)
  }
  /**
   * Close the provider in the call's scope (its `finally` blocks belong to
   * the call, and an async generator runs them after a tick), then let the
   * scope go. A provider whose `return()` never settles keeps it only until
   * the iterator is collected (`unreleased`).
   */
  return(value) {
    if (this.#closed) return DONE
    this.#closed = true
    return returnIn(this.#stack ?? currentStack(), this.#iter, value, this.#end)
  }
}

/**
 * `iter.return(value)`, called in `stack` (a provider's `finally` blocks
 * belong to its call, and an async generator runs them a tick later), then
 * `done()` once that settled: the one way streams close their providers.
 */
function returnIn(stack, iter, value, done) {
  if (typeof iter.return !== 'function') {
    done()
    return DONE
  }
  return settleThen(() => context.run(stack, () => iter.return(value)), done)
}

/**
 * Close a bare stream's provider in its call's scope, as the native path
 * does for observed ones (also when the stream is dropped unfinished), then
 * let the scope go. What the provider says is ignored.
 */
function closeProvider(iter, stack) {
  try {
    const r = returnIn(stack, iter, undefined, () => releaseStack(stack))
    if (r instanceof Promise) r.catch(() => {})
  } catch {
    // A provider that fails to close has nothing left to tell us.
  }
}

function pullNext(iter) {
  return iter.next()
}

/** What an iterator result says, read once (its getters may throw). */
function readResult(r) {
  // Any truthy `done` ends the iteration, as it does for `for await`.
  return r.done ? DONE : { done: false, value: r.value }
}

/** `readResult(r)`, calling `end()` when that is the iterator's end or reading it fails. */
function resultOrEnd(r, end) {
  let result
  try {
    result = readResult(r)
  } catch (error) {
    end()
    throw error
  }
  if (result.done) end()
  return result
}

function toIterator(value, what) {
  if (value !== null && typeof value === 'object') {
    let iter = value
    if (typeof value[Symbol.asyncIterator] === 'function') iter = value[Symbol.asyncIterator]()
    else if (typeof value[Symbol.iterator] === 'function') iter = value[Symbol.iterator]()
    // What the iterable protocol returned must itself be an iterator.
    if (iter !== null && typeof iter === 'object' && typeof iter.next === 'function') return iter
  }
  throw invalid(`${what} must return an AsyncIterable of chunks`)
}

module.exports = { DONE, scopedIterator, returnIn, closeProvider, pullNext, readResult, resultOrEnd, toIterator }
