'use strict'
// Options objects: validated (unknown keys are rejected) and normalised into
// the strict shapes native code takes.

const { checkKeys, invalid, show } = require('./errors.js')
const { Handle, ScopeHandle, handleNative, stackNative } = require('./context.js')

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

/** An optional string option, checked here: napi's own message names Rust types. */
function optionalString(value, key) {
  if (value === undefined || typeof value === 'string') return value
  throw invalid(`${key} must be a string, not ${show(value)}`)
}

/** Attribute names: an array of strings (each name is checked natively). */
function attributeNames(value) {
  if (value === undefined) return value
  if (!Array.isArray(value)) throw invalid(`attributes must be an array of attribute names, not ${show(value)}`)
  const bad = value.findIndex((a) => typeof a !== 'string')
  if (bad !== -1) throw invalid(`attribute names are strings, not ${show(value[bad])}`)
  return value
}

const PUSH_KEYS = new Set(['type', 'parent', 'attributes', 'input', 'data', 'metadata'])
function pushOptions(o) {
  checkKeys(o, PUSH_KEYS, 'scope option')
  if (o.type !== undefined && !SCOPE_TYPES.has(o.type)) {
    throw invalid(`unknown scope type ${show(o.type)} (one of: ${[...SCOPE_TYPES].join(', ')})`)
  }
  return {
    type: o.type,
    native: {
      parent: parentUuid(o.parent),
      attributes: attributeNames(o.attributes),
      input: o.input,
      data: o.data,
      metadata: o.metadata,
    },
  }
}


const MARK_KEYS = new Set(['parent', 'data', 'dataSchema', 'metadata', 'category', 'categoryProfile'])

const CALL_KEYS = new Set(['parent', 'attributes', 'data', 'metadata', 'toolCallId', 'modelName', 'signal'])
function callOptions(o) {
  checkKeys(o, CALL_KEYS, 'call option')
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw invalid('signal must be an AbortSignal')
  return {
    parent: parentUuid(o.parent),
    attributes: attributeNames(o.attributes),
    data: o.data,
    metadata: o.metadata,
    toolCallId: optionalString(o.toolCallId, 'toolCallId'),
    modelName: optionalString(o.modelName, 'modelName'),
  }
}

const I32_MIN = -(2 ** 31)
const I32_MAX = 2 ** 31 - 1
/**
 * A priority is a 32-bit integer. Checked here because the conversion to
 * Rust's i32 would silently wrap 2**31 to a negative number (running the
 * middleware first instead of last) and truncate 1.5.
 */
function checkPriority(priority) {
  if (priority === undefined) return undefined
  if (!Number.isInteger(priority) || priority < I32_MIN || priority > I32_MAX) {
    throw invalid(`priority must be an integer from ${I32_MIN} to ${I32_MAX}, not ${show(priority)}`)
  }
  return priority
}

const REGISTER_KEYS = new Set(['priority', 'breakChain', 'scope'])
const SUBSCRIBE_KEYS = new Set(['priority', 'scope', 'onError'])
function registerOptions(o, keys) {
  if (o === undefined) return undefined
  checkKeys(o, keys, 'registration option')
  if (o.breakChain !== undefined && typeof o.breakChain !== 'boolean') {
    throw invalid(`breakChain must be a boolean, not ${show(o.breakChain)}`)
  }
  const out = { priority: checkPriority(o.priority), breakChain: o.breakChain }
  if (o.scope !== undefined) {
    if (!(o.scope instanceof ScopeHandle)) throw invalid('scope must be a ScopeHandle')
    out.scope = handleNative(o.scope)
    out.stack = stackNative(o.scope.stack)
  }
  return out
}

module.exports = {
  parentUuid,
  pushOptions,
  MARK_KEYS,
  callOptions,
  REGISTER_KEYS,
  SUBSCRIBE_KEYS,
  registerOptions,
  checkPriority,
}
