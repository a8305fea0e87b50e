// Streams and garbage collection: what a dropped stream lets go of, and
// what it must not. Each test runs in a process of its own (--expose-gc).

import { pathToFileURL } from 'node:url'

import test from 'ava'

import { repoRoot, runNode } from './support.js'

test('a stream dropped unfinished, under a long-lived AbortSignal or none, is still collected, and its provider closed', (t) => {
  const run = runNode(
    `
    import v8 from 'node:v8'
    import vm from 'node:vm'
    import * as relay from ${JSON.stringify(pathToFileURL(`${repoRoot}/index.mjs`).href)}
    v8.setFlagsFromString('--expose-gc')
    const gc = vm.runInNewContext('gc')
    // Nothing observes these yet: bare streams, closed by the facade.
    let bareClosed = 0
    for (let i = 0; i < 20; i++) {
      const s = await relay.llmStreamCall('bare', { content: null }, async function* () {
        try { yield 1; yield 2 } finally { bareClosed++ }
      })
      await s.next()
    }
    // Observed streams, closed by native code. (While they are open, they
    // keep their subscriber: later calls would not be bare.)
    relay.subscribe('observer', () => {})
    const session = new AbortController()
    let closed = 0
    for (let i = 0; i < 20; i++) {
      const s = await relay.llmStreamCall('chat', { content: null }, async function* () {
        try { yield 1; yield 2 } finally { closed++ }
      }, { signal: i % 2 ? session.signal : undefined })
      await s.next()
    }
    for (let i = 0; i < 10 && closed + bareClosed < 40; i++) {
      gc()
      // A collection between a stream's finalizer and the return() it posts.
      await new Promise((r) => setImmediate(r))
      gc()
      await new Promise((r) => setTimeout(r, 10))
    }
    console.log(JSON.stringify({ closed, bareClosed }))
    process.exit(0)
    `,
    repoRoot,
  )
  t.is(run.status, 0, run.stderr)
  const { closed, bareClosed } = JSON.parse(run.stdout.trim())
  t.true(closed >= 18, run.stdout)
  t.true(bareClosed >= 18, run.stdout)
})

test('a stream dropped while its provider stalls is collected, and its call ends; one whose next() is still awaited is not', (t) => {
  // A consumer that gives up on a hung model (a timeout, no close()) and
  // drops the stream; another that keeps only the Promise of its chunk.
  // Bare (nothing observes) and observed (a subscriber records the call).
  const run = runNode(
    `
    import * as relay from ${JSON.stringify(pathToFileURL(`${repoRoot}/index.mjs`).href)}
    async function* stalled() {
      yield 'first'
      await new Promise(() => {})
    }
    let collected = 0
    const tracked = new FinalizationRegistry(() => collected++)
    const ended = []
    const watch = (e) => {
      if (e.name === 'hung' && e.scope_category === 'end') ended.push(e.metadata['otel.status_description'])
    }
    async function giveUp() {
      const s = await relay.llmStreamCall('hung', { content: {} }, stalled)
      await s.next()
      const got = await Promise.race([s.next(), new Promise((r) => setImmediate(r, 'gave up'))])
      if (got !== 'gave up') throw new Error('the provider answered')
      tracked.register(s, 0)
    }
    async function collect() {
      for (let i = 0; i < 10; i++) {
        globalThis.gc()
        await new Promise((r) => setTimeout(r, 20))
      }
    }
    async function firstChunk(observed) {
      const sub = observed ? relay.subscribe('observer', () => {}) : undefined
      const s = await relay.llmStreamCall('slow', { content: {} }, async function* () {
        await new Promise((r) => setTimeout(r, 50))
        yield 'hello'
      })
      sub?.dispose()
      return s.next()
    }
    for (let i = 0; i < 100; i++) await giveUp()
    const watching = relay.subscribe('watch', watch)
    for (let i = 0; i < 100; i++) await giveUp()
    await collect()
    await relay.flush()
    watching.dispose()
    const awaited = [firstChunk(false), firstChunk(true)]
    await collect()
    const chunks = (await Promise.all(awaited)).map((r) => r.value)
    console.log(JSON.stringify({ collected, ended: ended.length, why: [...new Set(ended)], chunks }))
    `,
    repoRoot,
    ['--expose-gc'],
  )
  t.is(run.status, 0, run.stderr)
  t.deepEqual(JSON.parse(run.stdout), {
    collected: 200,
    ended: 100,
    why: ['cancelled: stream dropped before completion'],
    chunks: ['hello', 'hello'],
  })
})
