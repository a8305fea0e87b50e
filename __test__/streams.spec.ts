import { pathToFileURL } from 'node:url'

import test, { type ExecutionContext } from 'ava'

import * as relay from '../index.mjs'
import type { Json } from '../index.mjs'
import { collect, endOf, sleep, startOf, unique } from './relay-support.js'
import { repoRoot, runNode } from './support.js'

test.serial('a streaming call yields the provider chunks and records them', async (t) => {
  const c = collect()
  const name = unique('stream')
  const stream = await relay.llmStreamCall(name, { content: { prompt: 'count' } }, async function* () {
    yield 'a'
    yield 'b'
    yield 'c'
  })
  const chunks: Json[] = []
  for await (const chunk of stream) chunks.push(chunk)
  t.deepEqual(chunks, ['a', 'b', 'c'])
  const events = await c.flushed()
  const end = endOf(events, name)
  t.deepEqual(end.data, { chunks: ['a', 'b', 'c'] })
  t.is(events.filter((e) => e.kind === 'mark' && e.name === 'llm.chunk' && e.parent_uuid === end.uuid).length, 3)
  c.stop()
})

test.serial('an observed stream hands on chunks JSON cannot hold and records them as well as JSON can', async (t) => {
  const c = collect()
  const name = unique('stream-not-json')
  const cyclic: Record<string, unknown> = { n: 1n }
  cyclic.me = cyclic
  const stream = await relay.llmStreamCall(name, { content: 'x' }, async function* () {
    yield cyclic as never
    yield 2n as never
  })
  const chunks: unknown[] = []
  for await (const chunk of stream) chunks.push(chunk)
  t.is(chunks[0], cyclic)
  t.is(chunks[1], 2n)
  t.deepEqual(endOf(await c.flushed(), name).data, { chunks: [{ n: '1', me: '[Circular]' }, '2'] })
  c.stop()
})

test.serial('the caller sees each chunk before the provider produces the next one', async (t) => {
  const log: string[] = []
  const stream = await relay.llmStreamCall(unique('lazy'), { content: null }, async function* () {
    for (let i = 0; i < 3; i++) {
      log.push(`produce ${i}`)
      yield i
      await sleep(1)
    }
    log.push('provider done')
  })
  for await (const chunk of stream) log.push(`consume ${String(chunk)}`)
  t.deepEqual(log, ['produce 0', 'consume 0', 'produce 1', 'consume 1', 'produce 2', 'consume 2', 'provider done'])
})

test.serial('breaking out of the loop closes the provider and records a cancelled end', async (t) => {
  const c = collect()
  const name = unique('early')
  let cleanedUp = false
  const stream = await relay.llmStreamCall(name, { content: null }, async function* () {
    try {
      for (let i = 0; ; i++) yield i
    } finally {
      cleanedUp = true
    }
  })
  for await (const chunk of stream) if (chunk === 2) break
  await sleep(5)
  t.true(cleanedUp)
  const end = endOf(await c.flushed(), name)
  t.is(end.metadata?.['error.type'], 'cancelled')
  c.stop()
})

test.serial('a provider error mid-stream rejects next() with the original error', async (t) => {
  const failure = new Error('connection reset')
  const stream = await relay.llmStreamCall(unique('broken'), { content: null }, async function* () {
    yield 1
    throw failure
  })
  const got: Json[] = []
  const error = await t.throwsAsync(async () => {
    for await (const chunk of stream) got.push(chunk)
  })
  t.is(error, failure)
  t.deepEqual(got, [1])
})

test.serial('a provider whose next() fails is closed with return(), observed or not', async (t) => {
  for (const observed of [false, true]) {
    const sub = observed ? relay.subscribe(unique('observer'), () => {}) : undefined
    const log: unknown[] = []
    let i = 0
    // A hand-written iterator (an SDK's stream, say) that holds a
    // connection until return() is called.
    const provider = (): AsyncIterableIterator<Json> => ({
      [Symbol.asyncIterator]() {
        return this
      },
      async next() {
        if (i++ === 1) throw new Error('connection reset')
        return { value: i, done: false }
      },
      async return() {
        log.push('return')
        return { value: undefined, done: true as const }
      },
    })
    const stream = await relay.llmStreamCall(unique('broken'), { content: null }, provider)
    await t.throwsAsync(async () => {
      for await (const chunk of stream) log.push(chunk)
    }, { message: 'connection reset' })
    t.deepEqual(log, [1, 'return'], observed ? 'observed' : 'bare')
    sub?.dispose()
  }
})

test.serial('a stream execution intercept transforms chunks as they flow', async (t) => {
  // `next` is leased for as long as the intercept runs: call it before
  // returning the transformed iterable (see the README).
  const r = relay.register('llm_stream_execution_intercept', unique('upper'), async (request, next) => {
    const upstream = await next(request)
    return (async function* () {
      for await (const chunk of upstream) yield String(chunk).toUpperCase()
    })()
  })
  t.teardown(() => r.dispose())
  const stream = await relay.llmStreamCall(unique('shout'), { content: null }, function* () {
    yield 'x'
    yield 'y'
  })
  const out: Json[] = []
  for await (const c of stream) out.push(c)
  t.deepEqual(out, ['X', 'Y'])
})

test.serial('an intercept that calls next() after its call was aborted gets ERR_RELAY_CONTINUATION_EXPIRED, and the provider never runs', async (t) => {
  let late: unknown
  let providerRan = false
  const r = relay.register('llm_stream_execution_intercept', unique('slow'), async (request, next) => {
    await sleep(100)
    try {
      return await next(request)
    } catch (error) {
      late = error
      throw error
    }
  })
  t.teardown(() => r.dispose())
  const ac = new AbortController()
  const call = relay.llmStreamCall(unique('aborted'), { content: null }, function* () {
    providerRan = true
    yield 'x'
  }, { signal: ac.signal })
  setTimeout(() => ac.abort(), 20)
  await t.throwsAsync(call, { any: true } as never)
  await sleep(200)
  t.false(providerRan, 'the provider of an ended call never starts')
  t.is((late as { code?: string } | undefined)?.code, 'ERR_RELAY_CONTINUATION_EXPIRED')
})

test.serial('a provider that does not return an iterable rejects with ERR_RELAY_INVALID_ARGUMENT', async (t) => {
  const e = await t.throwsAsync(relay.llmStreamCall(unique('bad'), { content: null }, () => 42 as never))
  t.is((e as { code?: string }).code, 'ERR_RELAY_INVALID_ARGUMENT')
  // A Promise of an iterable, observed or not.
  const promised = () => Promise.resolve([1, 2]) as never
  await t.throwsAsync(async () => {
    for await (const _ of await relay.llmStreamCall(unique('promised'), { content: null }, promised));
  }, { code: 'ERR_RELAY_INVALID_ARGUMENT' } as never)
  const guard = relay.register('llm_conditional_execution', unique('observe'), () => undefined)
  await t.throwsAsync(async () => {
    for await (const _ of await relay.llmStreamCall(unique('promised'), { content: null }, promised));
  }, { code: 'ERR_RELAY_INVALID_ARGUMENT' } as never)
  guard.dispose()
  // An iterable whose iterator method returns no iterator.
  for (const iterator of [null, 1, {}]) {
    const provider = () => ({ [Symbol.asyncIterator]: () => iterator }) as never
    const call = async () => {
      for await (const _ of await relay.llmStreamCall(unique('bad-iterator'), { content: null }, provider));
    }
    await t.throwsAsync(call, { code: 'ERR_RELAY_INVALID_ARGUMENT' } as never, String(iterator))
  }
})

test.serial('a synchronous iterable provider streams its chunks', async (t) => {
  const stream = await relay.llmStreamCall(unique('sync'), { content: null }, () => ['a', 'b'])
  const out: Json[] = []
  for await (const c of stream) out.push(c)
  t.deepEqual(out, ['a', 'b'])
})

test.serial('next() calls made without awaiting get the chunks in order, then the end', async (t) => {
  const stream = await relay.llmStreamCall(unique('eager'), { content: null }, async function* () {
    yield 1
    await sleep(1)
    yield 2
    yield 3
  })
  const results = await Promise.all([stream.next(), stream.next(), stream.next(), stream.next(), stream.next()])
  t.deepEqual(
    results.map((r) => (r.done ? 'done' : r.value)),
    [1, 2, 3, 'done', 'done'],
  )
})

test.serial('an iterator whose next() gives a non-object rejects with ERR_RELAY_INVALID_ARGUMENT and ends the call', async (t) => {
  const c = collect()
  const name = unique('not-a-result')
  const stream = await relay.llmStreamCall(name, { content: null }, () => ({
    [Symbol.asyncIterator]() {
      return { next: async () => 7 }
    },
  }) as never)
  const e = await t.throwsAsync(stream.next())
  t.is((e as { code?: string }).code, 'ERR_RELAY_INVALID_ARGUMENT')
  t.deepEqual(await stream.next(), { done: true, value: undefined })
  t.is(endOf(await c.flushed(), name).metadata?.['error.type'], 'invalid_argument')
  c.stop()
})

test.serial('an asynchronous sanitize-response guardrail finishes the stream before it reports its end', async (t) => {
  const c = collect()
  const r = relay.register('llm_sanitize_response', unique('late'), async (response) => {
    await sleep(2)
    return { sanitized: response }
  })
  t.teardown(() => r.dispose())
  const name = unique('sanitized')
  const stream = await relay.llmStreamCall(name, { content: null }, async function* () {
    yield 'p'
  })
  const out: Json[] = []
  for await (const chunk of stream) out.push(chunk)
  t.deepEqual(out, ['p'])
  t.deepEqual(endOf(await c.flushed(), name).data, { sanitized: { chunks: ['p'] } })
  c.stop()
})

/** Close a stream while its next chunk is pending; the provider must close. */
async function closeWhilePending(t: ExecutionContext, name: string) {
  let release = () => {}
  let closed = false
  const stream = await relay.llmStreamCall(name, { content: null }, async function* () {
    try {
      yield 1
      await new Promise<void>((r) => (release = r))
      yield 2
    } finally {
      closed = true
    }
  })
  t.deepEqual(await stream.next(), { done: false, value: 1 })
  const pending = stream.next()
  await sleep(1)
  stream.close()
  release()
  t.deepEqual(await pending, { done: true, value: undefined })
  t.deepEqual(await stream.next(), { done: true, value: undefined })
  await sleep(5)
  t.true(closed)
}

test.serial('closing a stream while a chunk is pending ends it and closes the provider', async (t) => {
  const c = collect()
  const name = unique('closed')
  await closeWhilePending(t, name)
  t.is(endOf(await c.flushed(), name).metadata?.['error.type'], 'cancelled')
  c.stop()
})

test.serial('an iterator result whose getter throws fails the call with that error', async (t) => {
  const c = collect()
  const name = unique('throwing-getter')
  const failure = new Error('bad result')
  const stream = await relay.llmStreamCall(name, { content: null }, () => ({
    [Symbol.asyncIterator]() {
      return {
        next: async () => ({
          get done(): boolean {
            throw failure
          },
        }),
      }
    },
  }) as never)
  t.is(await t.throwsAsync(stream.next()), failure)
  t.deepEqual(await stream.next(), { done: true, value: undefined })
  t.is(endOf(await c.flushed(), name).metadata?.['error.type'], 'callback_failed')
  c.stop()
})

// With nobody observing (no subscriber, no LLM middleware) the facade runs a
// streaming call itself; these check that it keeps the observed path's rules.
test.serial('a bare streaming call pulls its provider inside the call scope, under the caller scope', async (t) => {
  const outer = relay.pushScope(unique('outer'))
  const name = unique('bare-stream')
  const seen: string[] = []
  const stream = await relay.llmStreamCall(name, { content: 'hi' }, async function* (request) {
    const here = relay.currentScope()
    seen.push(`${here.name}:${here.type}:${here.parentUuid === outer.uuid}`)
    yield request.content
    await sleep(1)
    seen.push(relay.currentScope().name)
    yield 'two'
  })
  const chunks: Json[] = []
  for await (const chunk of stream) chunks.push(chunk)
  outer.end()
  t.deepEqual(chunks, ['hi', 'two'])
  t.deepEqual(seen, [`${name}:llm:true`, name])
})

test.serial('a bare stream refuses non-object iterator results and throwing getters, then ends', async (t) => {
  const failure = new Error('bad result')
  const results = [() => 7, () => ({ get done(): boolean { throw failure } })]
  for (const result of results) {
    const stream = await relay.llmStreamCall(unique('bare-bad'), { content: null }, () => ({
      [Symbol.asyncIterator]() {
        return { next: async () => result() }
      },
    }) as never)
    const e = await t.throwsAsync(stream.next())
    if (e === failure) t.pass()
    else t.is((e as { code?: string }).code, 'ERR_RELAY_INVALID_ARGUMENT')
    t.deepEqual(await stream.next(), { done: true, value: undefined })
  }
})

test.serial('closing a bare stream while a chunk is pending ends it and closes the provider', async (t) => {
  await closeWhilePending(t, unique('bare-closed'))
})

test.serial('next() after close() is done at once, even while an earlier pull waits on the provider', async (t) => {
  for (const observed of [false, true]) {
    const sub = observed ? relay.subscribe(unique('close-sub'), () => {}) : undefined
    const stream = await relay.llmStreamCall(unique('stuck'), { content: 'x' }, async function* () {
      yield 0
      await new Promise(() => {}) // never settles
    })
    t.deepEqual(await stream.next(), { value: 0, done: false })
    void stream.next() // waits on the provider forever
    stream.close()
    const after = await Promise.race([stream.next(), sleep(2000).then(() => 'still waiting')])
    t.deepEqual(after, { value: undefined, done: true }, observed ? 'observed' : 'bare')
    sub?.dispose()
  }
})

test.serial('a bare streaming call ignores request members JSON leaves out, as the observed path does', async (t) => {
  const request = { content: 'hi', model: undefined, toJSONish: () => 1 } as never
  const stream = await relay.llmStreamCall(unique('bare-undefined'), request, function* (req) {
    yield req.content
  })
  const chunks: unknown[] = []
  for await (const chunk of stream) chunks.push(chunk)
  t.deepEqual(chunks, ['hi'])
})

test.serial('a bare streaming call checks its request like an observed one', async (t) => {
  for (const request of [null, { content: 1, extra: 2 }, { content: 1, headers: 'x' }]) {
    await t.throwsAsync(relay.llmStreamCall(unique('bare-request'), request as never, function* () {}), {
      code: 'ERR_RELAY_INVALID_ARGUMENT',
    } as never)
  }
})

test.serial('aborting after the stream was returned rejects the pending next(), closes the provider and records a cancelled end', async (t) => {
  const c = collect()
  const name = unique('aborted-stream')
  const controller = new AbortController()
  let closed = false
  let providerSignal: AbortSignal | undefined
  const stream = await relay.llmStreamCall(
    name,
    { content: null },
    (_req, { signal }) => {
      providerSignal = signal
      // A provider whose second chunk never comes. (An async generator
      // could not be closed while it awaits: its return() would queue.)
      let n = 0
      const iterator: AsyncIterator<Json> = {
        next: () => (n++ === 0 ? Promise.resolve({ done: false, value: 'first' }) : new Promise<never>(() => {})),
        return: () => {
          closed = true
          return Promise.resolve({ done: true, value: undefined })
        },
      }
      return { [Symbol.asyncIterator]: () => iterator }
    },
    { signal: controller.signal },
  )
  t.deepEqual(await stream.next(), { done: false, value: 'first' })
  const pending = stream.next()
  await sleep(1)
  controller.abort(new Error('user pressed stop'))
  await t.throwsAsync(pending, { message: 'user pressed stop' })
  await t.throwsAsync(stream.next(), { message: 'user pressed stop' })
  t.true(providerSignal?.aborted)
  const events = await c.flushed()
  t.is(endOf(events, name).metadata?.['otel.status_code'], 'ERROR')
  await sleep(1)
  t.true(closed, 'the provider was closed')
  c.stop()
})

test.serial('many calls and streams sharing one AbortSignal are all cancelled by it, with no listener-leak warning', async (t) => {
  const warnings: Error[] = []
  const onWarning = (w: Error) => warnings.push(w)
  process.on('warning', onWarning)
  const controller = new AbortController()
  const guard = relay.register('tool_conditional_execution', unique('observe'), () => undefined)
  const sub = relay.subscribe(unique('observer'), () => {})
  const finished = await Promise.all(
    Array.from({ length: 5 }, (_, i) => relay.toolCall(unique('quick'), { i }, () => i, { signal: controller.signal })),
  )
  t.deepEqual(finished, [0, 1, 2, 3, 4])
  const hanging = Array.from({ length: 30 }, () =>
    relay.toolCall(unique('shared'), {}, () => new Promise<number>(() => {}), { signal: controller.signal }),
  )
  const streams = await Promise.all(
    Array.from({ length: 5 }, () =>
      relay.llmStreamCall(unique('shared-stream'), { content: null }, async function* () {
        yield 1
        await new Promise(() => {})
      }, { signal: controller.signal }),
    ),
  )
  await sleep(1)
  controller.abort(new Error('everyone stops'))
  for (const p of hanging) await t.throwsAsync(p, { message: 'everyone stops' })
  for (const s of streams) await t.throwsAsync(s.next(), { message: 'everyone stops' })
  await new Promise((r) => setImmediate(r))
  process.off('warning', onWarning)
  t.deepEqual(warnings.map((w) => w.name), [])
  guard.dispose()
  sub.dispose()
})

test.serial('a stream provider runs in its call’s scope at every pull, whoever consumes it, observed or not', async (t) => {
  const run = async () => {
    const name = unique('provider-scope')
    const seen: string[] = []
    const stream = await relay.llmStreamCall(name, { content: null }, async function* () {
      seen.push(relay.currentScope().name)
      yield 1
      await sleep(1)
      seen.push(relay.currentScope().name)
      yield 2
    })
    await relay.scope(unique('consumer'), async () => {
      for await (const _ of stream);
    })
    t.deepEqual(seen, [name, name])
  }
  await run()
  const sub = relay.subscribe(unique('observer'), () => {})
  await run()
  const intercept = relay.register('llm_request_intercept', unique('noop'), (r) => r)
  await run()
  intercept.dispose()
  sub.dispose()
})

test.serial('a stream execution intercept runs in its call’s scope at every pull, whoever consumes the stream', async (t) => {
  const c = collect()
  const name = unique('intercepted-stream')
  const seen: string[] = []
  const markName = unique('from-intercept')
  const intercept = relay.register('llm_stream_execution_intercept', unique('scoped'), async function* (request, next) {
    for await (const chunk of await next(request)) {
      seen.push(relay.currentScope().name)
      relay.mark(markName)
      yield chunk
    }
    seen.push(relay.currentScope().name)
  })
  const stream = await relay.llmStreamCall(name, { content: null }, async function* () {
    yield 1
    await sleep(1)
    yield 2
  })
  await relay.scope(unique('consumer'), async () => {
    for await (const _ of stream);
  })
  intercept.dispose()
  t.deepEqual(seen, [name, name, name])
  const events = await c.flushed()
  const call = startOf(events, name)
  const marks = events.filter((e) => e.name === markName)
  t.is(marks.length, 2)
  for (const m of marks) t.is(m.parent_uuid, call.uuid)
  c.stop()
})

test.serial('a pull waiting on a worker intercept whose worker is terminated fails with ERR_RELAY_CANCELLED and the call ends', async (t) => {
  const { Worker } = await import('node:worker_threads')
  const { fileURLToPath } = await import('node:url')
  const entry = fileURLToPath(new URL('../index.js', import.meta.url))
  const c = collect()
  const worker = new Worker(
    `
    const { parentPort } = require('node:worker_threads')
    const relay = require(${JSON.stringify(entry)})
    relay.register('llm_stream_execution_intercept', 'worker-pass', async function* (request, next) {
      for await (const chunk of await next(request)) yield 'w' + chunk
    })
    parentPort.on('message', () => {}) // stay alive until terminated
    parentPort.postMessage('ready')
    `,
    { eval: true },
  )
  t.is(await new Promise((r) => worker.once('message', r)), 'ready')
  const name = unique('worker-gone')
  const stream = await relay.llmStreamCall(name, { content: null }, async function* () {
    yield 0
    await sleep(300)
    yield 1
  })
  t.deepEqual(await stream.next(), { value: 'w0', done: false })
  const pending = stream.next() // the worker's intercept waits on chunk 1
  await sleep(50)
  await worker.terminate()
  const outcome = await Promise.race([pending.then((r) => JSON.stringify(r), (e) => (e as { code?: string }).code), sleep(5000).then(() => 'still waiting')])
  t.is(outcome, 'ERR_RELAY_CANCELLED')
  const events = await c.flushed()
  t.truthy(endOf(events, name), 'the call has its end event')
  c.stop()
})

test.serial('a stream execution intercept registered on another thread wraps this thread’s streams, and this one wraps that thread’s', async (t) => {
  const { Worker } = await import('node:worker_threads')
  const { fileURLToPath } = await import('node:url')
  const entry = fileURLToPath(new URL('../index.js', import.meta.url))
  const c = collect()
  // The worker's intercept wraps our provider: each side's iterator is
  // pulled on its own thread.
  const code = `
    const { parentPort } = require('node:worker_threads')
    const relay = require(${JSON.stringify(entry)})
    const own = relay.register('llm_stream_execution_intercept', 'worker-upper', async function* (request, next) {
      for await (const chunk of await next(request)) yield String(chunk).toUpperCase()
    })
    parentPort.on('message', async (m) => {
      if (m === 'stop') { own.dispose(); parentPort.close(); return }
      try {
        const got = []
        for await (const chunk of await relay.llmStreamCall('from-worker', { content: null }, function* () { yield 'x'; yield 'y' })) got.push(chunk)
        parentPort.postMessage({ got })
      } catch (error) {
        parentPort.postMessage({ error: String(error) })
      }
    })
    parentPort.postMessage('ready')
  `
  const worker = new Worker(code, { eval: true })
  const next = () =>
    new Promise<unknown>((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
  t.is(await next(), 'ready')
  const name = unique('wrapped-by-worker')
  const got: unknown[] = []
  for await (const chunk of await relay.llmStreamCall(name, { content: null }, async function* () {
    yield 'a'
    await sleep(1)
    yield 'b'
  })) got.push(chunk)
  t.deepEqual(got, ['A', 'B'])
  // Ours wraps the worker's streams too (both intercepts run there).
  const mine = relay.register('llm_stream_execution_intercept', unique('main-suffix'), async function* (request, next) {
    for await (const chunk of await next(request)) yield `${String(chunk)}!`
  })
  const reply = next()
  worker.postMessage('go')
  const out = (await reply) as { got?: unknown[]; error?: string }
  mine.dispose()
  worker.postMessage('stop')
  await new Promise((resolve) => worker.once('exit', resolve))
  t.is(out.error, undefined)
  // Upper-cased and suffixed, in whichever order the two wrap.
  t.deepEqual(out.got, ['X!', 'Y!'])
  const events = await c.flushed()
  t.is(endOf(events, name).metadata?.['otel.status_code'], 'OK')
  c.stop()
})

test.serial('a streaming call hands the provider the caller’s own request values unless a stream execution intercept sees them', async (t) => {
  const content = { at: new Date(0), image: new Uint8Array([1, 2]) }
  const seen = async (label: string) => {
    let got: { headers: unknown; content: unknown } | undefined
    const stream = await relay.llmStreamCall(unique('own-request'), { content: content as never }, async function* (request) {
      await sleep(1)
      got = request as never
      yield 1
    })
    for await (const _ of stream);
    t.deepEqual(got?.headers, {}, `${label}: headers default to {}`)
    return got?.content
  }
  t.is(await seen('bare'), content)
  const guard = relay.register('llm_conditional_execution', unique('guard'), async (request) => {
    await sleep(1)
    t.is((request as { content: unknown }).content, content)
    return undefined
  })
  t.is(await seen('an async JS guardrail'), content)
  const c = collect()
  t.is(await seen('a subscriber'), content)
  guard.dispose()
  const events = await c.flushed()
  const start = events.find((e) => e.kind === 'scope' && e.scope_category === 'start' && e.name.startsWith('own-request'))
  t.deepEqual(start?.data, { content: { at: new Date(0).toISOString(), image: { 0: 1, 1: 2 } }, headers: {} }, 'events record a JSON copy')
  c.stop()
  const replacement = { replaced: true }
  const intercept = relay.register('llm_request_intercept', unique('swap'), () => ({ content: replacement as never }))
  t.is(await seen('a request intercept'), replacement)
  intercept.dispose()
  const exec = relay.register('llm_stream_execution_intercept', unique('exec'), (request, next) => next(request))
  t.deepEqual(await seen('a stream execution intercept'), { at: new Date(0).toISOString(), image: { 0: 1, 1: 2 } })
  exec.dispose()
})

test.serial('a streaming call hands the caller the provider’s own chunks unless a stream execution intercept sees them', async (t) => {
  const chunks = [{ at: new Date(0) }, new Uint8Array([1])]
  const got = async () => {
    const out: unknown[] = []
    for await (const chunk of await relay.llmStreamCall(unique('own-chunks'), { content: null }, () => chunks as never)) out.push(chunk)
    return out
  }
  const same = (out: unknown[], label: string) => out.forEach((chunk, i) => t.is(chunk, chunks[i], label))
  same(await got(), 'bare')
  const guard = relay.register('llm_conditional_execution', unique('guard'), () => undefined)
  same(await got(), 'a JS guardrail')
  // Nothing records a chunk here, so a chunk JSON cannot represent passes as in a bare call.
  const big: unknown[] = []
  for await (const chunk of await relay.llmStreamCall(unique('bigint'), { content: null }, () => [10n] as never)) big.push(chunk)
  t.deepEqual(big, [10n])
  const c = collect()
  same(await got(), 'a subscriber')
  guard.dispose()
  const events = await c.flushed()
  const end = events.find((e) => e.kind === 'scope' && e.scope_category === 'end' && e.name.startsWith('own-chunks'))
  t.deepEqual(end?.data, { chunks: [{ at: new Date(0).toISOString() }, { 0: 1 }] }, 'events record JSON copies')
  c.stop()
  const exec = relay.register('llm_stream_execution_intercept', unique('exec'), (request, next) => next(request))
  t.deepEqual(await got(), [{ at: new Date(0).toISOString() }, { 0: 1 }])
  exec.dispose()
})

test.serial('a stream whose chunk a stream execution intercept cannot be given fails, and its provider is still closed', async (t) => {
  // The intercept gets JSON copies of the chunks, so they must be JSON.
  const pass = async function* (request: unknown, next: (r: never) => Promise<AsyncIterable<unknown>>) {
    yield* await next(request as never)
  }
  const sub = relay.register('llm_stream_execution_intercept', unique('pass'), pass as never)
  let closed = false
  const stream = await relay.llmStreamCall(unique('bigint-chunk'), { content: null }, async function* () {
    try {
      yield 1
      yield 2n as never
      yield 3
    } finally {
      closed = true
    }
  })
  t.deepEqual(await stream.next(), { done: false, value: 1 })
  await t.throwsAsync(stream.next(), { instanceOf: relay.InvalidArgumentError })
  await sleep(5)
  t.true(closed)
  sub.dispose()
})

test.serial('a stream’s later stages still have the call’s values: an intercept that pulls lazily, an async sanitize-response', async (t) => {
  const c = collect()
  const guard = relay.register('llm_conditional_execution', unique('guard'), () => undefined)
  const wrap = async function* (request: unknown, next: (r: never) => Promise<AsyncIterable<unknown>>) {
    for await (const chunk of await next(request as never)) yield chunk
  }
  const outer = relay.register('llm_stream_execution_intercept', unique('outer'), wrap as never)
  const inner = relay.register('llm_stream_execution_intercept', unique('inner'), wrap as never)
  const redact = relay.register('llm_sanitize_response', unique('redact'), async () => {
    await sleep(1)
    return { redacted: true }
  })
  const name = unique('later-stages')
  const got: unknown[] = []
  for await (const chunk of await relay.llmStreamCall(name, { content: null }, () => ['a', 'b'])) got.push(chunk)
  for (const r of [guard, outer, inner, redact]) r.dispose()
  t.deepEqual(got, ['a', 'b'])
  t.deepEqual(endOf(await c.flushed(), name).data, { redacted: true })
  c.stop()
})

test.serial('breaking out of a stream runs the provider’s finally in its call’s scope, where it can end its own scopes, observed or not', async (t) => {
  const run = async (name: string, inner: string) => {
    let ended = false
    const stream = await relay.llmStreamCall(name, { content: null }, async function* () {
      const h = relay.pushScope(inner)
      try {
        yield 1
        yield 2
      } finally {
        h.end()
        ended = true
      }
    })
    for await (const chunk of stream) if (chunk === 1) break
    for (let i = 0; i < 10 && !ended; i++) await sleep(5)
    return ended
  }
  t.true(await run(unique('bare-closed-early'), unique('inside-bare-provider')), 'bare')
  const c = collect()
  const name = unique('closed-early')
  const inner = unique('inside-provider')
  t.true(await run(name, inner), 'observed')
  const events = await c.flushed()
  t.is(endOf(events, inner).parent_uuid, startOf(events, name).uuid)
  c.stop()
})

test.serial('a provider that aborts its own call while it is pulled rejects that pull with the reason', async (t) => {
  for (const observe of [false, true]) {
    const sub = observe ? relay.subscribe(unique('observer'), () => {}) : undefined
    const ac = new AbortController()
    const stream = await relay.llmStreamCall(unique('self-abort'), { content: null }, function* () {
      yield 'a'
      ac.abort(new Error('enough'))
      yield 'b'
    }, { signal: ac.signal })
    t.is((await stream.next()).value, 'a')
    await t.throwsAsync(stream.next(), { message: 'enough' }, observe ? 'observed' : 'bare')
    sub?.dispose()
  }
})

test('options whose getters throw reject the streaming call once, leaving no unhandled rejection', (t) => {
  const run = runNode(
    `
    import * as relay from ${JSON.stringify(pathToFileURL(`${repoRoot}/index.mjs`).href)}
    relay.subscribe('observer', () => {})
    const options = { get signal() { throw new Error('getter boom') } }
    let caught
    try {
      await relay.llmStreamCall('chat', { content: 'hi' }, function* () { yield 1 }, options)
    } catch (e) {
      caught = e.message
    }
    await new Promise((r) => setTimeout(r, 50))
    console.log(JSON.stringify({ caught }))
    `,
    repoRoot,
  )
  t.is(run.status, 0, run.stderr)
  t.deepEqual(JSON.parse(run.stdout.trim()), { caught: 'getter boom' })
})

test.serial('an iterator result with any truthy done ends the stream, as for await would', async (t) => {
  const provider = () => {
    let n = 0
    const iterator = {
      next: () => Promise.resolve(n++ === 0 ? { done: 0, value: 'only' } : { done: 1, value: 'never' }),
    }
    return { [Symbol.asyncIterator]: () => iterator } as never
  }
  const collectAll = async () => {
    const stream = await relay.llmStreamCall(unique('truthy-done'), { content: null }, provider)
    const chunks: unknown[] = []
    for await (const chunk of stream) chunks.push(chunk)
    return chunks
  }
  t.deepEqual(await collectAll(), ['only'], 'bare')
  const sub = relay.subscribe(unique('observer'), () => {})
  t.deepEqual(await collectAll(), ['only'], 'observed')
  const exec = relay.register('llm_stream_execution_intercept', unique('wrap'), (req, next) => next(req))
  t.deepEqual(await collectAll(), ['only'], 'through a stream intercept')
  exec.dispose()
  sub.dispose()
})
