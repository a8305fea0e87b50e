// A pure-JS implementation of the same pipeline shape as nemo-relay, used as
// the yardstick in bench.mjs. It does the same work per operation, minus the
// native boundary: a scope stack per async context (AsyncLocalStorage), uuid
// per scope, events built only when someone subscribes, delivered in batches
// off the caller's path, and a managed call that runs guardrails, request
// intercepts, sanitizers on a copy, start/end events and the callback (with
// the call as the current scope). It is deliberately lean: no validation
// beyond what the shape needs.

import { AsyncLocalStorage } from 'node:async_hooks'
import { randomUUID } from 'node:crypto'

const als = new AsyncLocalStorage()

class Frame {
  constructor(uuid, name, parent) {
    this.uuid = uuid
    this.name = name
    this.parent = parent
  }
}

const root = { top: new Frame(randomUUID(), 'root', null) }
const current = () => als.getStore() ?? root

const subscribers = []
let queue = []
let scheduled = false

function deliver() {
  scheduled = false
  const batch = queue
  queue = []
  for (const e of batch) for (const s of subscribers) s(e)
}

function emit(event) {
  queue.push(event)
  if (!scheduled) {
    scheduled = true
    setImmediate(deliver)
  }
}

export function subscribe(fn) {
  subscribers.push(fn)
  return () => subscribers.splice(subscribers.indexOf(fn), 1)
}

export function flush() {
  return new Promise((resolve) => setImmediate(() => {
    deliver()
    resolve()
  }))
}

const event = (kind, phase, name, uuid, parent, data) => ({
  kind,
  scope_category: phase,
  name,
  uuid,
  parent_uuid: parent,
  timestamp: new Date().toISOString(),
  data,
})

export function pushScope(name) {
  const stack = current()
  const frame = new Frame(randomUUID(), name, stack.top)
  stack.top = frame
  if (subscribers.length) emit(event('scope', 'start', name, frame.uuid, frame.parent.uuid, null))
  return frame
}

export function popScope(frame) {
  const stack = current()
  if (stack.top !== frame) throw new Error('scope not on top')
  stack.top = frame.parent
  if (subscribers.length) emit(event('scope', 'end', frame.name, frame.uuid, frame.parent.uuid, null))
}

export function mark(name, data) {
  if (subscribers.length) emit(event('mark', null, name, randomUUID(), current().top.uuid, data))
}

export const middleware = { guards: [], intercepts: [], sanitizers: [] }

export async function toolCall(name, args, fn) {
  for (const g of middleware.guards) {
    const verdict = await g(args, name)
    if (typeof verdict === 'string') throw new Error(verdict)
  }
  for (const i of middleware.intercepts) args = await i(args, name)
  const parent = current().top
  const uuid = randomUUID()
  if (subscribers.length) {
    let copy = structuredClone(args)
    for (const s of middleware.sanitizers) copy = await s(copy, name)
    emit(event('scope', 'start', name, uuid, parent.uuid, copy))
  }
  const child = { top: new Frame(uuid, name, parent) }
  const out = await als.run(child, fn, args)
  if (subscribers.length) emit(event('scope', 'end', name, uuid, parent.uuid, structuredClone(out)))
  return out
}

export async function* llmStream(name, request, provider) {
  const parent = current().top
  const uuid = randomUUID()
  if (subscribers.length) emit(event('scope', 'start', name, uuid, parent.uuid, request))
  const chunks = []
  let i = 0
  for await (const chunk of provider(request)) {
    if (subscribers.length) {
      emit(event('mark', null, 'llm.chunk', randomUUID(), uuid, { chunk_index: i }))
      chunks.push(chunk)
    }
    i++
    yield chunk
  }
  if (subscribers.length) emit(event('scope', 'end', name, uuid, parent.uuid, { chunks }))
}
