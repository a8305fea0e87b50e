'use strict'
// AbortSignal wiring shared by every call: one 'abort' listener per signal.
//
// Agents commonly hand one signal (a request's, a session's) to many
// concurrent calls. A listener per call would pass Node's limit of ten per
// EventTarget (MaxListenersExceededWarning) and keep every call that ever
// used a long-lived signal reachable from it. Instead each signal gets one
// listener, installed on first use, that runs the cancellations registered
// at that moment; a call removes its own when it settles, so a signal
// outliving its calls holds nothing of them.

const cancellations = new WeakMap()

function abortAll(signal) {
  const set = cancellations.get(signal)
  cancellations.delete(signal)
  if (set === undefined) return
  for (const cancel of set) {
    try {
      cancel(signal.reason)
    } catch {
      // One call failing to cancel must not keep the others running.
    }
  }
}

/**
 * Call `cancel(reason)` when `signal` aborts. Returns the function that
 * removes it (call it when the call settles). `signal` must not be aborted
 * yet: callers check `signal.aborted` first.
 */
function onAbort(signal, cancel) {
  let set = cancellations.get(signal)
  if (set === undefined) {
    set = new Set()
    cancellations.set(signal, set)
    signal.addEventListener('abort', () => abortAll(signal), { once: true })
  }
  set.add(cancel)
  return () => set.delete(cancel)
}

module.exports = { onAbort }
