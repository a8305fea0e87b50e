// `npm run bench`: nemo-relay against a pure-JS baseline of the same pipeline
// shape (benchmark/baseline.mjs), measured in the same run, with the ratio.
// Each case reports the median of several timed rounds after a warm-up.
//
// Cases (targets are for a 2-core machine):
//   push+pop scope                              ≤ 1 µs
//   await toolCall, no middleware               ≤ 2 µs
//   await toolCall, 3 JS middleware             ≤ 4 µs  (guardrail, request
//     intercept, sanitize-request; sanitizers run only when someone
//     subscribes, so it is reported with and without a no-op subscriber)
//   100k marks → one JS subscriber, incl. flush ≥ 500k events/s, in order
//   100-chunk streaming call                    ≤ 200 µs
//   RSS after 1M push/pop with a subscriber, flushed and GC'd: ≤ +50 MB
//
// Run with --expose-gc for the RSS case (the npm script does).

import { loadavg } from 'node:os'

import * as relay from 'nemo-relay'

import * as base from './baseline.mjs'

const ROUNDS = 7

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

/** Median ns per op of `body(n)` (sync or async) over ROUNDS rounds of n ops. */
async function nsPerOp(n, body) {
  await body(Math.max(1, n / 10))
  const samples = []
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint()
    await body(n)
    samples.push(Number(process.hrtime.bigint() - t0) / n)
  }
  return median(samples)
}

const rows = []
function row(name, native, js, unit, target) {
  rows.push({ name, native, js, unit, target })
}

const fmt = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2))

// --------------------------------------------------------------- cases ---

async function scopes() {
  const N = 200_000
  const native = await nsPerOp(N, (n) => {
    for (let i = 0; i < n; i++) relay.pushScope('s').end()
  })
  const js = await nsPerOp(N, (n) => {
    for (let i = 0; i < n; i++) base.popScope(base.pushScope('s'))
  })
  row('push+pop scope', native / 1000, js / 1000, 'µs', '≤ 1 µs')
}

const tool = (args) => args
const ARGS = { cmd: 'ls', path: '/tmp' }

async function calls(label, target) {
  const N = 100_000
  const native = await nsPerOp(N, async (n) => {
    for (let i = 0; i < n; i++) await relay.toolCall('search', ARGS, tool)
  })
  const js = await nsPerOp(N, async (n) => {
    for (let i = 0; i < n; i++) await base.toolCall('search', ARGS, tool)
  })
  row(label, native / 1000, js / 1000, 'µs', target)
}

async function middleware() {
  const guard = (args, ctx) => (args.cmd === 'rm' ? 'blocked' : undefined)
  const intercept = (args) => ({ ...args, traced: true })
  const sanitize = (args) => ({ ...args, path: '[redacted]' })
  const regs = [
    relay.register('tool_conditional_execution', 'bench-guard', guard),
    relay.register('tool_request_intercept', 'bench-intercept', intercept),
    relay.register('tool_sanitize_request', 'bench-sanitize', sanitize),
  ]
  base.middleware.guards.push(guard)
  base.middleware.intercepts.push(intercept)
  base.middleware.sanitizers.push(sanitize)
  await calls('await toolCall, 3 middleware, no subscriber', '≤ 4 µs')
  const sub = relay.subscribe('bench-noop', () => {})
  const unsub = base.subscribe(() => {})
  await calls('await toolCall, 3 middleware + no-op subscriber', '≤ 4 µs')
  await relay.flush()
  await base.flush()
  sub.dispose()
  unsub()
  for (const r of regs) r.dispose()
  base.middleware.guards.length = 0
  base.middleware.intercepts.length = 0
  base.middleware.sanitizers.length = 0
}

async function marks() {
  const N = 100_000
  const rates = { native: [], js: [] }
  let ordered = true
  let dropped = 0
  for (let r = 0; r < 5; r++) {
    // Under overload the queue drops (and counts) events; what arrives must
    // still be in emission order.
    let seen = 0
    let last = -1
    const sub = relay.subscribe(`bench-marks-${r}`, (e) => {
      if (e.data.i <= last) ordered = false
      last = e.data.i
      seen++
    })
    const before = relay.stats().droppedFull
    let t0 = process.hrtime.bigint()
    for (let i = 0; i < N; i++) relay.mark('m', { data: { i } })
    await relay.flush()
    rates.native.push(N / (Number(process.hrtime.bigint() - t0) / 1e9))
    dropped += relay.stats().droppedFull - before
    if (seen !== N - (relay.stats().droppedFull - before)) ordered = false
    sub.dispose()

    let jsSeen = 0
    const unsub = base.subscribe(() => jsSeen++)
    t0 = process.hrtime.bigint()
    for (let i = 0; i < N; i++) base.mark('m', { i })
    await base.flush()
    rates.js.push(N / (Number(process.hrtime.bigint() - t0) / 1e9))
    unsub()
  }
  row('100k marks → 1 subscriber, incl. flush', median(rates.native) / 1e3, median(rates.js) / 1e3, 'k ev/s', '≥ 500 k/s')
  return { ordered, dropped }
}

async function* chunks(n) {
  for (let i = 0; i < n; i++) yield i
}

async function streams() {
  const N = 2_000
  const request = { content: { prompt: 'p' } }
  const native = await nsPerOp(N, async (n) => {
    for (let i = 0; i < n; i++) {
      const s = await relay.llmStreamCall('chat', request, () => chunks(100))
      for await (const _ of s);
    }
  })
  const js = await nsPerOp(N, async (n) => {
    for (let i = 0; i < n; i++) for await (const _ of base.llmStream('chat', request, () => chunks(100)));
  })
  row('100-chunk streaming call', native / 1000, js / 1000, 'µs', '≤ 200 µs')
}

async function rss() {
  if (typeof globalThis.gc !== 'function') return undefined
  globalThis.gc()
  const start = process.memoryUsage().rss
  const sub = relay.subscribe('bench-rss', () => {})
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < 100_000; i++) relay.pushScope('s').end()
    await relay.flush()
  }
  sub.dispose()
  for (let i = 0; i < 3; i++) {
    globalThis.gc()
    await new Promise((r) => setImmediate(r))
  }
  return (process.memoryUsage().rss - start) / 2 ** 20
}

// ---------------------------------------------------------------- main ---

if (relay.abiInfo().debug) {
  console.warn('warning: a debug build of the addon is loaded; run `npm run build` for release numbers\n')
}
const loadBefore = loadavg()

// The RSS case runs first, from a fresh process state: the later cases
// leave hundreds of MB behind (V8 keeps its grown heap, and a JS subscriber
// buffers every batch while a loop of awaited synchronous calls keeps the
// event loop from delivering), which would swamp what this case measures.
const rssGrowth = await rss()
await scopes()
await calls('await toolCall, no middleware', '≤ 2 µs')
await middleware()
const { ordered, dropped } = await marks()
await streams()

const loadAfter = loadavg()
console.log(`load average: ${loadBefore.map((x) => x.toFixed(2)).join(' ')} (start), ${loadAfter.map((x) => x.toFixed(2)).join(' ')} (end)\n`)
const w = Math.max(...rows.map((r) => r.name.length))
console.log(`${'case'.padEnd(w)}  ${'nemo-relay'.padStart(12)}  ${'pure JS'.padStart(12)}  ${'ratio'.padStart(7)}  target`)
for (const r of rows) {
  const ratio = r.unit === 'k ev/s' ? r.js / r.native : r.native / r.js
  console.log(
    `${r.name.padEnd(w)}  ${`${fmt(r.native)} ${r.unit}`.padStart(12)}  ${`${fmt(r.js)} ${r.unit}`.padStart(12)}  ${`${ratio.toFixed(2)}x`.padStart(7)}  ${r.target}`,
  )
}
console.log(`\nmarks delivered in order: ${ordered ? 'yes' : 'NO'}; dropped (queue full): ${dropped}`)
console.log(
  rssGrowth === undefined
    ? 'RSS case skipped (run with --expose-gc)'
    : `RSS growth after 1M push/pop with a subscriber, flushed and GC'd: ${rssGrowth.toFixed(1)} MB (target ≤ 50 MB)`,
)
console.log('(ratio = nemo-relay cost / pure-JS cost; below 1 means nemo-relay is faster)')
