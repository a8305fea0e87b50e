'use strict'
// Batched subscriber delivery (one JSON string per batch), fan-out with error
// isolation, flush() that also waits for async subscribers, and stats.

const native = require('../native.js')
const { RelayError, checkFunction, checkKeys, checkName, invalid, isThenable, show } = require('./errors.js')
const { INTERNAL, inDelivery, runDelivering } = require('./context.js')
const { SUBSCRIBE_KEYS, registerOptions } = require('./options.js')
const { Registration, deregister, scopeOptions } = require('./middleware.js')

/**
 * Subscriber Promises still pending, counted, not kept: a Promise that never
 * settles must stay collectable (with the event its handler holds). Each
 * one started gets the next number; a flush waits for those numbered up to
 * the last one started before it (`waiters`), with no copy of them, so
 * flushing often while one hangs costs nothing more.
 */
let started = 0
let pending = 0
/** `{ upTo, remaining, resolve }` of each flush waiting for subscriber Promises. */
const waiters = new Set()
let subscriberErrors = 0

function settled(seq) {
  pending--
  for (const w of waiters) {
    if (seq <= w.upTo && --w.remaining === 0) {
      waiters.delete(w)
      w.resolve()
    }
  }
}

function report(error, event, onError) {
  subscriberErrors++
  if (onError === undefined) return
  try {
    onError(error, event)
  } catch {
    // An error handler that throws has nobody left to report to.
  }
}

/**
 * The events of a delivered batch, `[atofVersion, ...rows]`: each row is an
 * event's values in key order without `atof_version` (10 for a mark, 12 for
 * a scope event, which adds `attributes` and `scope_category`; see `Layout`
 * in the core's event writer). Parsing rows and making the objects here
 * costs about half of parsing the keyed objects.
 */
function eventsOf(text) {
  const rows = JSON.parse(text)
  const v = rows[0]
  const events = new Array(rows.length - 1)
  for (let i = 1; i < rows.length; i++) {
    const r = rows[i]
    // A mark's row has its kind at index 4, a scope event's row has
    // data_schema there (null or an object): Layout::Row in the core's
    // writer, whose test pins both shapes.
    events[i - 1] =
      r[4] === 'mark'
        ? {
            atof_version: v,
            category: r[0],
            category_profile: r[1],
            data: r[2],
            data_schema: r[3],
            kind: r[4],
            metadata: r[5],
            name: r[6],
            parent_uuid: r[7],
            timestamp: r[8],
            uuid: r[9],
          }
        : {
            atof_version: v,
            attributes: r[0],
            category: r[1],
            category_profile: r[2],
            data: r[3],
            data_schema: r[4],
            kind: r[5],
            metadata: r[6],
            name: r[7],
            parent_uuid: r[8],
            scope_category: r[9],
            timestamp: r[10],
            uuid: r[11],
          }
  }
  return events
}

function fanOut(events, fn, onError, live) {
  for (let i = 0; i < events.length; i++) {
    // Removed while this batch was being delivered (by itself or by another
    // subscriber): not one event more.
    if (!live.active) return
    const event = events[i]
    let r
    let thenable
    try {
      r = fn(event)
      // Inside the isolation too: a returned object whose `then` getter
      // throws is this subscriber's error, not the end of its delivery.
      thenable = isThenable(r)
    } catch (error) {
      report(error, event, onError)
      continue
    }
    if (thenable) {
      let adopted
      try {
        // A Promise whose `constructor` getter throws makes this throw.
        adopted = Promise.resolve(r)
      } catch (error) {
        report(error, event, onError)
        continue
      }
      const seq = ++started
      pending++
      adopted.then(
        () => settled(seq),
        (error) => {
          settled(seq)
          report(error, event, onError)
        },
      )
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
  // Options are checked (null included) before any of them is read.
  const o = registerOptions(options, SUBSCRIBE_KEYS)
  const onError = options === undefined ? undefined : options.onError
  if (onError !== undefined) checkFunction(onError, 'onError')
  const live = { active: true }
  native.subscribe(name, deliverTo(fn, onError, live), o)
  const scoped = scopeOptions(options)
  const stop = scoped === undefined ? trackGlobal(name, live) : () => (live.active = false)
  return new Registration(INTERNAL, 'subscriber', name, scoped, stop)
}

/**
 * The delivery switch of each global subscriber this realm registered
 * (plugin subscribers included), by name, so that `unsubscribe(name)` stops
 * one in the middle of a batch as `dispose()` does.
 */
const globalSubscribers = new Map()

/**
 * Record `live`, the switch of global subscriber `name`, once it is
 * registered. Returns what stops it: `dispose()`, or a plugin teardown.
 *
 * A plugin activation registers its subscribers before it commits, under
 * the names the active one uses: if it fails, its teardown puts back the
 * switch of the subscriber that stays active.
 */
function trackGlobal(name, live) {
  const previous = globalSubscribers.get(name)
  globalSubscribers.set(name, live)
  return () => {
    live.active = false
    if (globalSubscribers.get(name) !== live) return
    if (previous?.active) globalSubscribers.set(name, previous)
    else globalSubscribers.delete(name)
  }
}

/** Remove subscriber `name`. */
function unsubscribe(name, options) {
  const removed = deregister('subscriber', name, options)
  // `{}` and `{ scope: undefined }` mean global, as for deregister.
  if (removed && scopeOptions(options) === undefined) {
    const live = globalSubscribers.get(name)
    if (live !== undefined) {
      live.active = false
      globalSubscribers.delete(name)
    }
  }
  return removed
}

/**
 * Settles once the subscriber Promises pending now have (undefined when
 * there are none); `waiting.cancel()` then stops waiting for them.
 */
function settleInflight(waiting) {
  // Called from inside a subscriber, waiting for subscribers would wait for
  // itself.
  if (inDelivery() || pending === 0 || waiting.timedOut) return undefined
  return new Promise((resolve) => {
    const w = { upTo: started, remaining: pending, resolve }
    waiters.add(w)
    waiting.cancel = () => waiters.delete(w)
  })
}

const WAIT_KEYS = new Set(['timeoutMs'])

/**
 * Run `work(waiting)` (a Promise), rejected with `ERR_RELAY_TIMEOUT` after
 * `options.timeoutMs` if it has not settled; `waiting.cancel()` then lets
 * go of what it waits for.
 */
function bounded(what, options, work) {
  let ms
  if (options !== undefined) {
    checkKeys(options, WAIT_KEYS, `${what} option`)
    ms = options.timeoutMs
    if (ms !== undefined && (typeof ms !== 'number' || !(ms >= 0) || ms > 2 ** 31 - 1)) {
      throw invalid(`timeoutMs must be a number of milliseconds from 0 to ${2 ** 31 - 1}, not ${show(ms)}`)
    }
  }
  const waiting = { cancel: () => {}, timedOut: false }
  const done = work(waiting)
  if (ms === undefined) return done
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiting.timedOut = true
      waiting.cancel()
      reject(new RelayError(`${what} timed out after ${ms} ms (a subscriber or exporter is still busy)`, 'ERR_RELAY_TIMEOUT'))
    }, ms)
    done.then(
      (v) => {
        clearTimeout(timer)
        resolve(v)
      },
      (error) => {
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}

/**
 * Resolves once every event emitted before the call was delivered to the
 * subscribers and the Promises they returned settled. Never rejects because a
 * subscriber failed; with `{ timeoutMs }`, rejects with `ERR_RELAY_TIMEOUT`
 * when that takes longer (a subscriber Promise that never settles, say).
 */
function flush(options) {
  return waitFor('flush', options, native.flush)
}

/**
 * Deliver what is queued and stop delivery (later events are dropped and
 * counted); `{ timeoutMs }` bounds the wait as for `flush`.
 */
function shutdown(options) {
  return waitFor('shutdown', options, native.shutdown)
}

/** `nativeWait()`, then the subscriber Promises pending then, bounded by `options`. */
function waitFor(what, options, nativeWait) {
  try {
    return bounded(what, options, async (waiting) => {
      await nativeWait()
      await settleInflight(waiting)
    })
  } catch (error) {
    return Promise.reject(error)
  }
}

/** Counters of the runtime, plus `subscriberErrors` counted by the facade. */
function stats() {
  return { ...native.stats(), subscriberErrors }
}

/**
 * Events still on their way to JS subscribers when the program's event loop
 * runs out of work would be lost: batches reach the JS thread through a
 * queue that never keeps the process alive on its own (it must not: an
 * idle subscriber would then keep every program running forever). So, once
 * a JS subscriber exists, each time the loop empties ('beforeExit') we hand
 * over what was emitted since the last time, which keeps the loop alive
 * until it is delivered; when nothing new was emitted, the program exits.
 * Only the hand-over is awaited: a subscriber Promise that never settles
 * does not keep the process alive.
 */
let exitHookInstalled = false
let handedOver = -1
function deliverBeforeExit() {
  const s = native.stats()
  const seen = s.delivered + s.droppedFull + s.droppedClosed
  if (s.queued === 0 && seen === handedOver) return
  handedOver = seen
  native.flush().then(undefined, () => {})
}

/**
 * At the main thread's exit (natural, or `process.exit()`), the runtime is
 * shut down: exporters that send in the background (OTLP, from the
 * observability plugin or `new OtlpExporter`) then send the spans they hold
 * instead of losing them with the process. Bounded by two request timeouts
 * when the collector does not answer. A worker's exit leaves the runtime
 * (shared by the whole process) alone.
 */
if (require('node:worker_threads').isMainThread) {
  process.on('exit', () => {
    try {
      native.shutdownNow()
    } catch {
      // Nothing left to report to.
    }
  })
}

/** The batch handler plugin subscribers use (same delivery as subscribe()). */
function deliverTo(fn, onError, live = { active: true }) {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.on('beforeExit', deliverBeforeExit)
  }
  return (text) => {
    if (live.active) runDelivering(fanOut, eventsOf(text), fn, onError, live)
  }
}

module.exports = {
  subscribe,
  unsubscribe,
  flush,
  shutdown,
  stats,
  deliverTo,
  trackGlobal,
}
