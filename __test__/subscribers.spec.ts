import { pathToFileURL } from 'node:url'

import test from 'ava'

import * as relay from '../index.mjs'
import type { RelayEvent } from '../index.mjs'
import { collect, sleep, unique } from './relay-support.js'
import { repoRoot, runNode } from './support.js'

test.serial('subscribers receive typed events in emission order after flush', async (t) => {
  const seen: RelayEvent[] = []
  const sub = relay.subscribe(unique('ordered'), (e) => {
    seen.push(e)
  })
  const prefix = unique('m')
  for (let i = 0; i < 1000; i++) relay.mark(`${prefix}-${i}`, { data: { i } })
  await relay.flush()
  const marks = seen.filter((e) => e.name.startsWith(`${prefix}-`))
  t.is(marks.length, 1000)
  marks.forEach((e, i) => {
    t.is(e.kind, 'mark')
    if (e.kind === 'mark') t.deepEqual(e.data, { i })
  })
  sub.dispose()
})

test.serial('events narrow by kind, scope_category and category', async (t) => {
  const seen: RelayEvent[] = []
  const sub = relay.subscribe(unique('typed'), (e) => {
    seen.push(e)
  })
  const tool = unique('typed-tool')
  await relay.toolCall(tool, {}, () => 1, { toolCallId: 'tc' })
  await relay.flush()
  const ids = seen.flatMap((e) => (e.kind === 'scope' && e.category === 'tool' && e.name === tool ? [e.category_profile.tool_call_id] : []))
  t.deepEqual(ids, ['tc', 'tc'])
  const phases = seen.filter((e) => e.name === tool).map((e) => (e.kind === 'scope' ? e.scope_category : 'mark'))
  t.deepEqual(phases, ['start', 'end'])
  sub.dispose()
})

test.serial('a throwing or rejecting subscriber is isolated, reported to onError and counted', async (t) => {
  const healthy: string[] = []
  const errors: Array<[unknown, string]> = []
  const before = relay.stats().subscriberErrors
  const sync = relay.subscribe(unique('thrower'), () => { throw new Error('sync subscriber') }, {
    onError: (error, event) => errors.push([error, event.name]),
  })
  const async = relay.subscribe(unique('rejecter'), async () => { throw new Error('async subscriber') })
  const ok = relay.subscribe(unique('healthy'), (e) => {
    healthy.push(e.name)
  })
  const name = unique('isolated')
  relay.mark(name)
  await relay.flush()
  t.true(healthy.includes(name))
  t.true(errors.some(([e, n]) => n === name && (e as Error).message === 'sync subscriber'))
  t.true(relay.stats().subscriberErrors >= before + 2)
  for (const r of [sync, async, ok]) r.dispose()
})

test.serial('flush waits for the Promises async subscribers return', async (t) => {
  let finished = 0
  const sub = relay.subscribe(unique('slow'), async () => {
    await sleep(20)
    finished++
  })
  relay.mark(unique('awaited'))
  await relay.flush()
  t.is(finished, 1)
  sub.dispose()
})

test.serial('flush waits only for the subscriber Promises pending when it was called, and timeoutMs bounds a hung one', async (t) => {
  let release: () => void = () => {}
  let hung = true
  const sub = relay.subscribe(unique('hangs-once'), () => {
    if (!hung) return undefined
    hung = false
    // A subscriber Promise that settles only when the test lets it.
    return new Promise<void>((resolve) => {
      release = resolve
    })
  })
  relay.mark(unique('first'))
  await t.throwsAsync(relay.flush({ timeoutMs: 30 }), { instanceOf: relay.RelayError, code: 'ERR_RELAY_TIMEOUT' } as never)
  // The hung Promise is still pending: a flush waits for it...
  let flushed = false
  const waiting = relay.flush().then(() => {
    flushed = true
  })
  await sleep(30)
  t.false(flushed)
  // ...until it settles.
  release()
  await waiting
  t.true(flushed)
  await t.throwsAsync(relay.flush({ timeoutMs: -1 }), { code: 'ERR_RELAY_INVALID_ARGUMENT' } as never)
  await t.throwsAsync(relay.flush({ timeout: 5 } as never), { code: 'ERR_RELAY_INVALID_ARGUMENT' } as never)
  sub.dispose()
})

test('a subscriber Promise that can never settle is not kept: it and its event are collected', (t) => {
  const run = runNode(
    `
    import * as relay from ${JSON.stringify(pathToFileURL(`${repoRoot}/index.mjs`).href)}
    let collected = 0
    const tracked = new FinalizationRegistry(() => collected++)
    relay.subscribe('hangs', () => {
      const p = new Promise(() => {})
      tracked.register(p, 0)
      return p
    })
    for (let i = 0; i < 100; i++) relay.mark('m')
    await relay.flush({ timeoutMs: 100 }).catch((e) => e.code)
    for (let i = 0; i < 10 && collected < 100; i++) {
      globalThis.gc()
      await new Promise((r) => setTimeout(r, 10))
    }
    console.log(collected)
    process.exit(0)
    `,
    repoRoot,
    ['--expose-gc'],
  )
  t.is(run.status, 0, run.stderr)
  t.is(run.stdout.trim(), '100')
})

test.serial('flush called from inside a subscriber resolves instead of waiting for itself', async (t) => {
  let flushedInside = false
  const name = unique('reentrant')
  const sub = relay.subscribe(unique('flusher'), async (e) => {
    if (e.name !== name) return
    await relay.flush()
    flushedInside = true
  })
  relay.mark(name)
  await relay.flush()
  await sleep(10)
  t.true(flushedInside)
  sub.dispose()
})

test.serial('flush called after an await, from a scope a subscriber opened, resolves too', async (t) => {
  let flushedInside = false
  const name = unique('reentrant-scoped')
  const sub = relay.subscribe(unique('scoped-flusher'), async (e) => {
    if (e.name !== name) return
    await sleep(1)
    await relay.scope(unique('inside-subscriber'), async () => {
      await sleep(1)
      await relay.flush()
    })
    flushedInside = true
  })
  relay.mark(name)
  await relay.flush()
  t.true(flushedInside, 'the outer flush waited for the subscriber, whose own flush did not wait for itself')
  sub.dispose()
})

test.serial('flush called from an execution intercept of a call a subscriber makes resolves too', async (t) => {
  let flushedInside = false
  const name = unique('reentrant-call')
  const tool = unique('called-by-subscriber')
  const reg = relay.register('tool_execution_intercept', unique('flushing-intercept'), async (args, next, ctx) => {
    if (ctx.name === tool) await relay.flush()
    return next(args)
  })
  const sub = relay.subscribe(unique('calling-sub'), async (e) => {
    if (e.name !== name) return
    await relay.toolCall(tool, {}, async () => 'ok')
    flushedInside = true
  })
  relay.mark(name)
  await relay.flush()
  t.true(flushedInside)
  sub.dispose()
  reg.dispose()
})

test.serial('code a subscriber runs sees the root scope as its current scope, whatever the main flow has open', async (t) => {
  const name = unique('where')
  let parent: string | undefined
  const sub = relay.subscribe(unique('where-sub'), (e) => {
    if (e.name === name) parent = relay.currentScope().uuid
  })
  const root = relay.currentScope().uuid
  // Whatever the main flow has open when the batch arrives is not the
  // parent of what a subscriber does (an evaluator's call, say).
  const open = relay.pushScope(unique('main-flow'))
  relay.mark(name)
  await relay.flush()
  open.end()
  t.is(parent, root)
  sub.dispose()
})

test.serial('a scope-local subscriber sees only events emitted while its scope is open', async (t) => {
  const seen: string[] = []
  const inside = unique('inside')
  const outside = unique('outside')
  await relay.scope(unique('listening'), async (s) => {
    relay.subscribe(unique('local'), (e) => {
      seen.push(e.name)
    }, { scope: s })
    relay.mark(inside)
  })
  relay.mark(outside)
  await relay.flush()
  t.true(seen.includes(inside))
  t.false(seen.includes(outside))
})

test.serial('events emitted in a tight loop are delivered in batches, not one crossing each', async (t) => {
  // Fewer events than the queue holds, so none can be dropped however slowly
  // the dispatcher runs on a loaded machine.
  let batches = 0
  let events = 0
  const prefix = unique('burst')
  const sub = relay.subscribe(unique('counter'), (e) => {
    if (e.name.startsWith(prefix)) events++
  })
  const original = JSON.parse
  JSON.parse = ((text: string, reviver?: Parameters<typeof JSON.parse>[1]) => {
    if (text.includes(prefix)) batches++
    return original(text, reviver)
  }) as typeof JSON.parse
  try {
    for (let i = 0; i < 10_000; i++) relay.mark(`${prefix}-${i}`)
    await relay.flush()
  } finally {
    JSON.parse = original
  }
  t.is(events, 10_000)
  t.true(batches < 200, `${batches} batches`)
  sub.dispose()
})

test('while the JS thread never yields, a subscriber buffers up to its bound and counts what it drops', (t) => {
  // Synchronous code keeps batches from reaching the subscriber until it
  // returns to the event loop. With a 64 KiB bound, 20,000 marks (~250 bytes
  // of JSON each) overflow it.
  process.env.NEMO_RELAY_SUBSCRIBER_BUFFER_BYTES = String(64 << 10)
  let run
  try {
    run = runNode(
      `
      import * as relay from ${JSON.stringify(pathToFileURL(`${repoRoot}/index.mjs`).href)}
      let seen = 0
      let last = -1
      let ordered = true
      relay.subscribe('bounded', (e) => {
        if (e.data.i <= last) ordered = false
        last = e.data.i
        seen++
      })
      for (let i = 0; i < 20000; i++) relay.mark('m', { data: { i } })
      // Stay busy until the dispatcher has handed every event to the
      // subscriber's buffer (on a loaded machine it may not have started).
      const deadline = Date.now() + 20000
      while (relay.stats().queued > 0 && Date.now() < deadline);
      // ... and has ended the last batch (it does once the queue is dry).
      const settle = Date.now() + 100
      while (Date.now() < settle);
      await relay.flush()
      const s = relay.stats()
      console.log(JSON.stringify({ seen, ordered, dropped: s.subscriberDropped, droppedFull: s.droppedFull }))
      `,
      repoRoot,
    )
  } finally {
    delete process.env.NEMO_RELAY_SUBSCRIBER_BUFFER_BYTES
  }
  t.is(run.status, 0, run.stderr)
  const out = JSON.parse(run.stdout.trim())
  t.true(out.seen > 0, 'what fit in the bound was delivered')
  t.true(out.dropped > 0, 'the rest was dropped, not buffered without bound')
  t.is(out.seen + out.dropped + out.droppedFull, 20000, 'every event delivered or counted')
  t.true(out.ordered, 'what arrives is in emission order')
})

test('a burst of marks larger than the queue\'s ring reaches the subscriber whole and in order', (t) => {
  // A 64-event ring cannot hold 20,000 marks emitted in one synchronous
  // loop: the rest wait in the overflow instead of being dropped.
  process.env.NEMO_RELAY_QUEUE_CAPACITY = '64'
  let run
  try {
    run = runNode(
      `
      import * as relay from ${JSON.stringify(pathToFileURL(`${repoRoot}/index.mjs`).href)}
      let seen = 0
      let ordered = true
      relay.subscribe('all', (e) => {
        if (e.data.i !== seen) ordered = false
        seen++
      })
      for (let i = 0; i < 20000; i++) relay.mark('m', { data: { i } })
      await relay.flush()
      const s = relay.stats()
      console.log(JSON.stringify({ seen, ordered, droppedFull: s.droppedFull, overflowed: s.overflowed, capacity: s.capacity }))
      `,
      repoRoot,
    )
  } finally {
    delete process.env.NEMO_RELAY_QUEUE_CAPACITY
  }
  t.is(run.status, 0, run.stderr)
  const out = JSON.parse(run.stdout.trim())
  t.is(out.capacity, 64)
  t.like(out, { seen: 20000, ordered: true, droppedFull: 0 })
  t.true(out.overflowed > 0, 'the burst went through the overflow')
})

test.serial('numbers reach subscribers bit-identical, however many digits they need', async (t) => {
  const c = collect()
  const name = unique('floats')
  const values = Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? Math.random() : Math.random() * 10 ** (i % 40 - 20)))
  values.push(0.1 + 0.2, 5e-324, 1.7976931348623157e308, -0)
  relay.mark(name, { data: values })
  const events = await c.flushed()
  const received = events.find((e) => e.kind === 'mark' && e.name === name)?.data as number[]
  t.is(received.length, values.length)
  const differing = values.filter((v, i) => !Object.is(v, received[i]) && !(v === 0 && received[i] === 0))
  t.deepEqual(differing, [])
  c.stop()
})

test('a program that ends without flush() still delivers its last events to its subscribers, then exits', (t) => {
  const run = runNode(
    `
    import * as relay from ${JSON.stringify(pathToFileURL(`${repoRoot}/index.mjs`).href)}
    let seen = 0
    relay.subscribe('to-the-end', (e) => {
      seen++
      // A Promise that never settles must not keep the process alive.
      return new Promise(() => {})
    })
    process.on('exit', () => console.log(JSON.stringify({ seen })))
    for (let i = 0; i < 1000; i++) relay.mark('last-words', { data: { i } })
    relay.scope('late', () => relay.mark('inside'))
    `,
    repoRoot,
  )
  t.is(run.status, 0, run.stderr)
  t.deepEqual(JSON.parse(run.stdout.trim()), { seen: 1003 })
})

test.serial('a subscriber removed in the middle of a batch receives no event after its removal', async (t) => {
  const name = unique('burst')
  const seenByDisposed: number[] = []
  const seenByUnsubscribed: number[] = []
  const disposed = relay.subscribe(unique('disposes-itself'), (e) => {
    if (e.kind !== 'mark' || e.name !== name) return
    seenByDisposed.push((e.data as { i: number }).i)
    if (seenByDisposed.length === 3) disposed.dispose()
  })
  const other = unique('unsubscribed')
  relay.subscribe(other, (e) => {
    if (e.kind !== 'mark' || e.name !== name) return
    seenByUnsubscribed.push((e.data as { i: number }).i)
    if (seenByUnsubscribed.length === 5) relay.unsubscribe(other)
  })
  // One synchronous burst: the events arrive in one or a few batches.
  for (let i = 0; i < 100; i++) relay.mark(name, { data: { i } })
  await relay.flush()
  t.deepEqual(seenByDisposed, [0, 1, 2])
  t.deepEqual(seenByUnsubscribed, [0, 1, 2, 3, 4])
})

test.serial('a subscriber returning an object whose then getter throws is isolated, reported, and keeps receiving', async (t) => {
  const name = unique('then-getter')
  let seen = 0
  const reported: unknown[] = []
  const sub = relay.subscribe(
    unique('odd-return'),
    (e) => {
      if (e.kind !== 'mark' || e.name !== name) return
      seen++
      return {
        get then() {
          throw new Error('then getter')
        },
      } as never
    },
    { onError: (error) => reported.push(error) },
  )
  for (let i = 0; i < 5; i++) relay.mark(name, { data: { i } })
  await relay.flush()
  t.is(seen, 5)
  t.is(reported.length, 5)
  sub.dispose()
})

test.serial('a subscriber Promise that cannot be adopted is reported, and flush does not wait for it', async (t) => {
  const name = unique('hostile')
  const reported: unknown[] = []
  const sub = relay.subscribe(
    unique('hostile-promise'),
    (e) => {
      if (e.kind !== 'mark' || e.name !== name) return undefined
      const p = Promise.resolve()
      Object.defineProperty(p, 'constructor', {
        get() {
          throw new Error('constructor getter')
        },
      })
      return p
    },
    { onError: (error) => reported.push(error) },
  )
  relay.mark(name)
  await relay.flush({ timeoutMs: 2000 })
  t.is(reported.length, 1)
  sub.dispose()
})

test.serial('unsubscribe(name, {}) removes a global subscriber mid-batch, as unsubscribe(name) does', async (t) => {
  const name = unique('empty-options')
  const burst = unique('empty-options-burst')
  const seen: number[] = []
  relay.subscribe(name, (e) => {
    if (e.kind !== 'mark' || e.name !== burst) return
    seen.push((e.data as { i: number }).i)
    if (seen.length === 2) t.true(relay.unsubscribe(name, {}))
  })
  for (let i = 0; i < 20; i++) relay.mark(burst, { data: { i } })
  await relay.flush()
  t.deepEqual(seen, [0, 1])
  t.false(relay.registrations('subscriber').includes(name))
})
