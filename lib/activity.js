'use strict'
// Whether the runtime has anything to do, read without calling native code.
//
// The addon maps the core's activity counters (subscribers, tool and LLM
// middleware, scopes that own scope-local registrations) as Uint32Arrays
// over the core's own memory. Reading them costs a few nanoseconds; asking
// native code costs hundreds. Where the engine refuses such views, every
// check answers "active" and the native code decides, as before.

const native = require('../native.js')

const views = native.activity()
const counters = views === undefined ? undefined : views[0] // [listeners, tool, llm]
const frames = views === undefined ? undefined : views[1] // [frames with locals]

/** Whether any subscriber might see an event emitted now. */
function listening() {
  return counters === undefined || counters[0] !== 0
}

/**
 * Whether a tool call started now is bare: no subscriber and no tool
 * middleware at any level, so it is only its callback, in its own scope. A
 * registration racing with the call (from a worker) may or may not apply.
 */
function toolCallsBare() {
  return counters !== undefined && (counters[0] | counters[1] | frames[0]) === 0
}

/** `toolCallsBare` for LLM calls. */
function llmCallsBare() {
  return counters !== undefined && (counters[0] | counters[2] | frames[0]) === 0
}

module.exports = { listening, toolCallsBare, llmCallsBare }
