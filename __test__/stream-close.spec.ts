// Closing a stream early: its provider cleans up inside the call, before
// the call's end event, unless a pull is still waiting on it.

import test from 'ava'

import * as relay from '../index.mjs'
import { collect, endOf, sleep, unique } from './relay-support.js'

test.serial('a stream closed early ends its call after the provider cleaned up, and return() waits for that cleanup', async (t) => {
  const c = collect()
  for (const kind of ['sync', 'async']) {
    const name = unique(`closed-${kind}`)
    const cleanup = unique(`cleanup-${kind}`)
    let finished = false
    const steps = function* () {
      const h = relay.pushScope(`${name}-child`)
      try {
        yield 1
        yield 2
      } finally {
        relay.mark(cleanup)
        h.end()
        finished = true
      }
    }
    const provider =
      kind === 'sync'
        ? steps
        : async function* () {
            yield* steps()
          }
    const stream = await relay.llmStreamCall(name, { content: null }, provider)
    t.is((await stream.next()).value, 1)
    t.deepEqual(await stream.return(), { done: true, value: undefined })
    t.true(finished, `${kind}: return() resolved after the provider's finally`)
    const events = await c.flushed()
    const order = events
      .filter((e) => e.name === cleanup || e.name === `${name}-child` || e.name === name)
      .map((e) => `${e.kind === 'mark' ? 'mark' : e.scope_category}:${e.name}`)
    t.deepEqual(order, [`start:${name}`, `start:${name}-child`, `mark:${cleanup}`, `end:${name}-child`, `end:${name}`], kind)
  }
  c.stop()
})

test.serial('a stream closed while a pull waits on its provider is recorded as cancelled at once, and return() does not wait for that pull', async (t) => {
  const c = collect()
  for (const late of ['never answers', 'answers later']) {
    const name = unique('closed-mid-pull')
    const stream = await relay.llmStreamCall(name, { content: null }, async function* () {
      yield 1
      await (late === 'never answers' ? new Promise(() => {}) : sleep(30))
      yield 2
    })
    t.is((await stream.next()).value, 1)
    const pending = stream.next()
    await sleep(5)
    t.deepEqual(await stream.return(), { done: true, value: undefined }, late)
    if (late === 'answers later') t.deepEqual(await pending, { done: true, value: undefined })
    else pending.catch(() => {})
    await sleep(40)
    const end = endOf(await c.flushed(), name)
    t.is(end.metadata?.['error.type'], 'cancelled', late)
  }
  c.stop()
})
