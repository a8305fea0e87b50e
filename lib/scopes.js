'use strict'
// Scopes and marks: pushScope/popScope, scope(name, fn), mark.

const native = require('../native.js')
const fast = require('./fast.js')
const { checkFunction, checkKeys, checkName, invalid, isThenable, show } = require('./errors.js')
const { INTERNAL, ScopeHandle, childStack, context, currentStack, endAbove, endedHere, liveStack, openedOn, releaseStack, stackNative } = require('./context.js')
const { MARK_KEYS, parentUuid, pushOptions } = require('./options.js')
const { listening } = require('./activity.js')
const { optionalJsonText } = require('./json.js')

/** Open a scope on the current stack and emit its start event. */
function pushScope(name, options) {
  checkName(name, 'scope name')
  return pushOn(currentStack(), name, options)
}

function pushOn(stack, name, options) {
  return pushChecked(stack, name, options === undefined ? undefined : pushOptions(options))
}

/** `pushOn` with options `pushOptions` already checked. */
function pushChecked(stack, name, o) {
  // A released stack (code that outlived its callback) pushes on the stack
  // it falls back to: the scope belongs there.
  stack = liveStack(stack)
  const id = o === undefined ? fast.pushScope(stackNative(stack), name) : native.pushScope(stackNative(stack), name, o.type, o.native)
  const handle = new ScopeHandle(INTERNAL, id, stack, name, o?.type ?? 'function')
  openedOn(stack, handle)
  return handle
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
  // Checked before the fork exists: a bad option must not leave it behind.
  const checked = options === undefined ? undefined : pushOptions(options)
  const parent = currentStack()
  const fork = childStack(native.forkScopeStack(stackNative(parent)), parent)
  let handle
  try {
    handle = pushChecked(fork, name, checked)
  } catch (error) {
    releaseStack(fork)
    throw error
  }
  const finish = (status) => {
    try {
      if (!endedHere(handle)) endWithAbandoned(fork, handle, status)
    } catch (error) {
      // `fn` ended the scope itself, through another handle: nothing to do.
      if (!(error?.code === 'ERR_RELAY_NOT_FOUND' && handle.ended)) throw error
    } finally {
      releaseStack(fork)
    }
  }
  // When `fn` failed, its error is what the caller must see: a failure to
  // end the scope afterwards must not replace it.
  const fail = (error) => {
    try {
      finish(statusOf(error))
    } catch {}
    return error
  }
  let result
  try {
    result = context.run(fork, fn, handle)
  } catch (error) {
    throw fail(error)
  }
  if (isThenable(result)) {
    return Promise.resolve(result).then(
      (value) => {
        finish(OK)
        return value
      },
      (error) => {
        throw fail(error)
      },
    )
  }
  finish(OK)
  return result
}

/**
 * End `handle`, and first any scope `fn` opened above it on `stack` and left
 * open (a forgotten `end()`, or an early return past it), each with the same
 * status. Without this the abandoned scopes never emit their end events and
 * `handle` cannot end either (it is not on top). The common case, nothing
 * abandoned, costs nothing extra.
 */
function endWithAbandoned(stack, handle, status) {
  // The scopes `fn` pushed on this stack are known: ended directly.
  endAbove(stack, handle, status)
  try {
    handle.end(status)
    return
  } catch (error) {
    if (error?.code !== 'ERR_RELAY_SCOPE_NOT_ON_TOP') throw error
  }
  // Something else is still above it: end whatever is on top. Only scopes
  // above `handle` remain to end: the ones below it belong to the parent
  // (the fork cannot pop them), so this loop cannot run away.
  for (let top = stack.top; top.uuid !== handle.uuid; top = stack.top) top.end(status)
  handle.end(status)
}

/** Emit a mark (a point-in-time event) under the current scope. */
const SCHEMA_KEYS = new Set(['name', 'version'])

function mark(name, options) {
  checkName(name, 'mark name')
  if (options === undefined) {
    // Nobody would see it: like the core, do nothing.
    if (listening()) fast.mark(stackNative(currentStack()), name)
    return
  }
  checkKeys(options, MARK_KEYS, 'mark option')
  const parent = parentUuid(options.parent)
  // null says "none", as an absent key does.
  const category = options.category ?? undefined
  if (category !== undefined && typeof category !== 'string') throw invalid(`category must be a scope type name, not ${show(category)}`)
  const dataSchema = options.dataSchema ?? undefined
  if (dataSchema !== undefined) {
    checkKeys(dataSchema, SCHEMA_KEYS, 'dataSchema')
    if (typeof dataSchema.name !== 'string' || typeof dataSchema.version !== 'string') {
      throw invalid('dataSchema must be { name: string, version: string }')
    }
  }
  // Nobody would see it: do nothing. Its payloads are not even converted,
  // so a payload JSON cannot represent is reported only when someone
  // listens (as for a bare call's arguments).
  if (!listening()) return
  const { metadata, categoryProfile } = options
  const data = optionalJsonText(options.data, 'mark data')
  // The common mark carries only data: skip the options object natively.
  if (parent === undefined && dataSchema === undefined && metadata === undefined && category === undefined && categoryProfile === undefined) {
    return fast.mark(stackNative(currentStack()), name, data)
  }
  native.mark(stackNative(currentStack()), name, data, { parent, dataSchema, metadata, category, categoryProfile })
}

module.exports = {
  pushScope,
  popScope,
  currentScope,
  scope,
  mark,
}
