import { pathToFileURL } from 'node:url'

import test from 'ava'

import * as relay from '../index.mjs'
import type { Family } from '../index.mjs'
import { collect, endOf, sleep, startOf, unique } from './relay-support.js'
import { repoRoot, runNode } from './support.js'

// Every test here registers global middleware, so they run one at a time and
// each removes what it registered.

test.serial('a conditional guardrail that returns a reason rejects the call with GuardrailRejectedError', async (t) => {
  const c = collect()
  const guard = relay.register('tool_conditional_execution', unique('no-rm'), (args: { cmd?: string }, ctx) =>
    ctx.name === 'shell' && args.cmd?.startsWith('rm') ? 'destructive command' : undefined,
  )
  let ran = false
  const error = await t.throwsAsync(relay.toolCall('shell', { cmd: 'rm -rf /' }, () => (ran = true)), {
    instanceOf: relay.GuardrailRejectedError,
  })
  t.false(ran)
  t.is(error?.code, 'ERR_RELAY_GUARDRAIL_REJECTED')
  t.is(error?.reason, 'destructive command')
  t.is(error?.guardrail, guard.name)
  t.is(await relay.toolCall('shell', { cmd: 'ls' }, () => 'listed'), 'listed')
  const events = await c.flushed()
  const rejection = events.find((e) => e.kind === 'mark' && e.category === 'guardrail' && e.name === 'shell')
  t.deepEqual(rejection?.data, {
    guardrail: guard.name,
    kind: 'tool_conditional_execution',
    rejected: true,
    rejection_reason: 'destructive command',
  })
  guard.dispose()
  c.stop()
})

test.serial('an async guardrail that resolves false rejects, and one that resolves nothing allows', async (t) => {
  const r = relay.register('llm_conditional_execution', unique('budget'), async (request) => {
    await sleep(1)
    return (request.content as { tokens: number }).tokens < 100
  })
  t.deepEqual(await relay.llmCall('chat', { content: { tokens: 5 } }, () => 'ok'), 'ok')
  await t.throwsAsync(relay.llmCall('chat', { content: { tokens: 500 } }, () => 'no'), {
    instanceOf: relay.GuardrailRejectedError,
  })
  r.dispose()
})

test.serial('request intercepts rewrite what the tool receives, in priority order, and break_chain stops the rest', async (t) => {
  const a = relay.register('tool_request_intercept', unique('a'), (args: object) => ({ ...args, a: 1 }), { priority: 1 })
  const b = relay.register('tool_request_intercept', unique('b'), async (args: object) => ({ ...args, b: 2 }), {
    priority: 2,
    breakChain: true,
  })
  const c = relay.register('tool_request_intercept', unique('c'), (args: object) => ({ ...args, c: 3 }), { priority: 3 })
  t.deepEqual(await relay.toolCall('echo', { x: 0 }, (args) => args), { x: 0, a: 1, b: 2 })
  for (const r of [a, b, c]) t.true(r.dispose())
  t.false(a.dispose())
})

test.serial('sanitizers change only the emitted payloads, never the real arguments or result', async (t) => {
  const c = collect()
  const req = relay.register('tool_sanitize_request', unique('redact'), (args: { key?: string }) => ({ ...args, key: '[REDACTED]' }))
  const res = relay.register('tool_sanitize_response', unique('hide'), async () => ({ hidden: true }))
  const name = unique('secretive')
  let received: unknown
  const out = await relay.toolCall(name, { key: 'sk-1' }, (args) => {
    received = args
    return { secret: 42 }
  })
  t.deepEqual(received, { key: 'sk-1' })
  t.deepEqual(out, { secret: 42 })
  const events = await c.flushed()
  t.deepEqual(startOf(events, name).data, { key: '[REDACTED]' })
  t.deepEqual(endOf(events, name).data, { hidden: true })
  req.dispose()
  res.dispose()
  c.stop()
})

test.serial('an execution intercept wraps the tool through next, synchronously or with await', async (t) => {
  const outer = relay.register('tool_execution_intercept', unique('outer'), async (args: { n: number }, next) => {
    const r = (await next({ n: args.n + 1 })) as number
    return r * 10
  }, { priority: 0 })
  const inner = relay.register('tool_execution_intercept', unique('inner'), (args: { n: number }, next) => next({ n: args.n * 2 }), {
    priority: 1,
  })
  t.is(await relay.toolCall('math', { n: 1 }, (args: { n: number }) => args.n), 40)
  outer.dispose()
  inner.dispose()
})

test.serial('a scope an execution intercept opens around next() stays open through the tool and ends with its event', async (t) => {
  const c = collect()
  const name = unique('timed')
  const spans: relay.ScopeHandle[] = []
  const timing = relay.register('tool_execution_intercept', unique('timing'), async (args, next) => {
    const span = relay.pushScope(name)
    spans.push(span)
    try {
      return await next(args)
    } finally {
      span.end()
    }
  })
  t.is(await relay.toolCall('sync-tool', {}, () => 1), 1)
  t.is(await relay.toolCall('async-tool', {}, async () => 2), 2)
  const events = await c.flushed()
  timing.dispose()
  c.stop()
  t.true(spans.every((s) => s.ended))
  const ends = events.filter((e) => e.kind === 'scope' && e.name === name && e.scope_category === 'end')
  t.is(ends.length, 2)
  for (const tool of ['sync-tool', 'async-tool']) {
    const call = startOf(events, tool)
    const span = events.find((e) => e.kind === 'scope' && e.name === name && e.parent_uuid === call.uuid)
    t.truthy(span, `${tool} has the intercept's scope inside it`)
  }
})

test.serial('scopes tools leave open under an intercept that runs next() twice at once are ended, in order, with their events', async (t) => {
  const c = collect()
  const after = unique('intercept-after')
  const fan = relay.register('tool_execution_intercept', unique('fan'), async (args, next) => {
    const [a, b] = await Promise.all([next({ n: 1 }), next({ n: 2 })])
    relay.pushScope(after).end()
    return (a as number) + (b as number)
  })
  const name = unique('fanned')
  const left: relay.ScopeHandle[] = []
  // The first run settles first, under the second run's scope.
  const sum = await relay.toolCall(name, {}, async (args: { n: number }) => {
    left.push(relay.pushScope(`${name}-left-${args.n}`))
    await sleep(args.n === 1 ? 5 : 30)
    return args.n
  })
  fan.dispose()
  t.is(sum, 3)
  t.deepEqual(
    left.map((h) => h.ended),
    [true, true],
  )
  const events = await c.flushed()
  c.stop()
  const call = startOf(events, name).uuid
  // Both runs share the call's stack, so the second one's scope is opened
  // above the first one's: each still gets its end event.
  t.is(endOf(events, `${name}-left-1`).parent_uuid, call)
  t.truthy(endOf(events, `${name}-left-2`))
  t.is(startOf(events, after).parent_uuid, call, 'nothing left open on the call stack')
})

test.serial('an execution intercept still running when its call is aborted gets ERR_RELAY_CANCELLED from next()', async (t) => {
  let seen: unknown
  const late = relay.register('tool_execution_intercept', unique('late'), async (args, next) => {
    await sleep(30)
    try {
      return await next(args)
    } catch (error) {
      seen = error
      throw error
    }
  })
  const ac = new AbortController()
  const call = relay.toolCall(unique('aborted'), {}, () => 1, { signal: ac.signal })
  const reason = new Error('user cancelled')
  setTimeout(() => ac.abort(reason), 5)
  await t.throwsAsync(call, { is: reason })
  for (let i = 0; i < 20 && seen === undefined; i++) await sleep(10)
  late.dispose()
  t.is((seen as { code?: string })?.code, 'ERR_RELAY_CANCELLED')
})

test.serial('an execution intercept may retry by calling next twice, and next expires once it settles', async (t) => {
  let attempts = 0
  let kept: ((r: unknown) => unknown) | undefined
  const retry = relay.register('tool_execution_intercept', unique('retry'), async (args, next) => {
    kept = next as (r: unknown) => unknown
    try {
      return await next(args)
    } catch {
      return next(args)
    }
  })
  const out = await relay.toolCall('flaky', {}, () => {
    attempts += 1
    if (attempts === 1) throw new Error('transient')
    return 'second time'
  })
  t.is(out, 'second time')
  t.is(attempts, 2)
  retry.dispose()
  const late = await t.throwsAsync(async () => kept?.({}))
  t.is((late as { code?: string }).code, 'ERR_RELAY_CONTINUATION_EXPIRED')
})

const THROWING: Array<[Family, 'tool' | 'llm']> = [
  ['tool_conditional_execution', 'tool'],
  ['tool_request_intercept', 'tool'],
  ['tool_execution_intercept', 'tool'],
  ['llm_conditional_execution', 'llm'],
  ['llm_request_intercept', 'llm'],
  ['llm_execution_intercept', 'llm'],
]

for (const [family, kind] of THROWING) {
  for (const mode of ['sync', 'async'] as const) {
    test.serial(`a ${family} that throws (${mode}) rejects the call with the thrown error and never crashes`, async (t) => {
      const thrown = new Error(`${family} ${mode}`)
      const fn = mode === 'sync' ? () => { throw thrown } : async () => { await sleep(1); throw thrown }
      const r = relay.register(family, unique('thrower'), fn as never)
      let ran = false
      const call =
        kind === 'tool'
          ? relay.toolCall('t', {}, () => (ran = true))
          : relay.llmCall('m', { content: {} }, () => (ran = true))
      t.is(await t.throwsAsync(call), thrown)
      t.false(ran)
      r.dispose()
    })
  }
}

const SANITIZERS: Array<[Family, 'tool' | 'llm', 'start' | 'end']> = [
  ['tool_sanitize_request', 'tool', 'start'],
  ['tool_sanitize_response', 'tool', 'end'],
  ['llm_sanitize_request', 'llm', 'start'],
  ['llm_sanitize_response', 'llm', 'end'],
]

for (const [family, kind, phase] of SANITIZERS) {
  for (const mode of ['sync', 'async'] as const) {
    test.serial(`a ${family} that throws (${mode}) fails open: the call succeeds, the payload is omitted and counted`, async (t) => {
      const c = collect()
      const fn = mode === 'sync' ? () => { throw new Error('leak?') } : async () => Promise.reject(new Error('leak?'))
      const r = relay.register(family, unique('broken-sanitizer'), fn as never)
      const before = relay.stats().sanitizerFailures
      const name = unique('sanitized')
      const out =
        kind === 'tool'
          ? await relay.toolCall(name, { secret: 1 }, () => ({ secret: 2 }))
          : await relay.llmCall(name, { content: { secret: 1 } }, () => ({ secret: 2 }))
      t.deepEqual(out, { secret: 2 })
      const events = await c.flushed()
      const e = phase === 'start' ? startOf(events, name) : endOf(events, name)
      t.is(e.data, null)
      t.regex(String(e.metadata?.['nemo_relay.sanitizer_error']), /leak\?/)
      t.is(relay.stats().sanitizerFailures, before + 1)
      r.dispose()
      c.stop()
    })
  }
}

test.serial('a guardrail that returns something other than a verdict rejects with ERR_RELAY_INVALID_ARGUMENT', async (t) => {
  const r = relay.register('tool_conditional_execution', unique('confused'), () => 42 as never)
  const e = await t.throwsAsync(relay.toolCall('t', {}, () => 1))
  t.is((e as { code?: string }).code, 'ERR_RELAY_INVALID_ARGUMENT')
  r.dispose()
})

test.serial('a stale handle, whose name was removed and registered again, disposes nothing', async (t) => {
  const name = unique('reused')
  const old = relay.register('tool_request_intercept', name, (a) => a)
  relay.deregister('tool_request_intercept', name)
  const current = relay.register('tool_request_intercept', name, (a) => ({ ...(a as object), by: 'current' }))
  t.false(old.dispose())
  t.deepEqual(await relay.toolCall(unique('t'), {}, (a) => a), { by: 'current' })
  t.true(current.dispose())
  const sub = unique('reused-sub')
  const first = relay.subscribe(sub, () => {})
  relay.unsubscribe(sub)
  const seen: string[] = []
  const second = relay.subscribe(sub, (e) => void seen.push(e.name))
  t.false(first.dispose())
  const mark = unique('still-heard')
  relay.mark(mark)
  await relay.flush()
  t.deepEqual(seen, [mark])
  second.dispose()
})

test.serial('a scope-local registration applies inside its scope only and vanishes when the scope ends', async (t) => {
  const name = unique('local')
  await relay.scope(unique('owner'), async (owner) => {
    relay.register('tool_request_intercept', name, (args: object) => ({ ...args, local: true }), { scope: owner })
    t.deepEqual(await relay.toolCall('t', {}, (a) => a), { local: true })
    t.deepEqual(await relay.scope(unique('child'), () => relay.toolCall('t', {}, (a) => a)), { local: true })
  })
  t.deepEqual(await relay.toolCall('t', {}, (a) => a), {})
})

test.serial('duplicate registration names fail with ERR_RELAY_ALREADY_EXISTS and unknown families with a TypeError', (t) => {
  const name = unique('dup')
  const r = relay.register('tool_sanitize_request', name, (a) => a)
  t.throws(() => relay.register('tool_sanitize_request', name, (a) => a), { code: 'ERR_RELAY_ALREADY_EXISTS' } as never)
  t.deepEqual(relay.registrations('tool_sanitize_request'), [name])
  t.throws(() => relay.register('tool_everything' as never, unique('x'), (() => 1) as never), { instanceOf: TypeError })
  {
    using _scoped = r
  }
  t.deepEqual(relay.registrations('tool_sanitize_request'), [])
})

test.serial('middleware sees the call context', async (t) => {
  let seen: unknown
  const r = relay.register('tool_conditional_execution', unique('ctx'), (_args, ctx) => {
    seen = { name: ctx.name, kind: ctx.kind, toolCallId: ctx.toolCallId, uuid: typeof ctx.uuid }
  })
  await relay.toolCall('lookup', {}, () => 1, { toolCallId: 'tc-9' })
  t.deepEqual(seen, { name: 'lookup', kind: 'tool', toolCallId: 'tc-9', uuid: 'string' })
  r.dispose()
})

// When nobody subscribes and every tool middleware is a JS guardrail or
// request intercept, nothing has to leave JS: values pass through as they
// are (Dates, class instances, the very same objects).
test.serial('a tool call only JS guardrails and request intercepts see passes their values through untouched', async (t) => {
  const args = { when: new Date(0) }
  const rewritten = { when: new Date(1), by: 'intercept' }
  const result = { at: new Date(2) }
  const seen: unknown[] = []
  const regs = [
    relay.register('tool_conditional_execution', unique('look'), (a) => void seen.push(a)),
    relay.register('tool_request_intercept', unique('swap'), (a) => (seen.push(a), rewritten as never)),
    relay.register('tool_conditional_execution', unique('after'), (a) => void seen.push(a), { priority: 5 }),
  ]
  const name = unique('through')
  let scope: string | undefined
  const out = await relay.toolCall(name, args as never, (a) => {
    seen.push(a)
    scope = relay.currentScope().name
    return result as never
  })
  t.is(out as unknown, result)
  t.is(scope, name)
  // Guardrails run first (both of them), then the intercept, then the tool.
  t.is(seen.length, 4)
  t.is(seen[0], args)
  t.is(seen[1], args)
  t.is(seen[2], args)
  t.is(seen[3], rewritten)
  for (const r of regs) r.dispose()
})

test.serial('a JS-only tool call keeps its values through asynchronous middleware and an asynchronous tool', async (t) => {
  const args = { n: 1 }
  const rewritten = { n: 2, when: new Date(0) }
  const result = { ok: new Date(3) }
  const regs = [
    relay.register('tool_conditional_execution', unique('slow-look'), async (a: { n: number }) => {
      await sleep(1)
      return a === args
    }),
    relay.register('tool_request_intercept', unique('slow-swap'), async () => {
      await sleep(1)
      return rewritten as never
    }),
  ]
  let got: unknown
  const out = await relay.toolCall(unique('through-async'), args, async (a) => {
    got = a
    await sleep(1)
    return result as never
  })
  t.is(got, rewritten)
  t.is(out as unknown, result)
  for (const r of regs) r.dispose()
})

test.serial('a JS-only tool call still rejects on a guardrail and on an intercept that returns nothing', async (t) => {
  const guard = relay.register('tool_conditional_execution', unique('deny'), (a: { cmd: string }) =>
    a.cmd === 'rm' ? 'no deleting' : undefined,
  )
  let ran = false
  await t.throwsAsync(relay.toolCall('shell', { cmd: 'rm' }, () => (ran = true)), {
    instanceOf: relay.GuardrailRejectedError,
    message: /no deleting/,
  })
  t.false(ran)
  const forgetful = relay.register('tool_request_intercept', unique('forgetful'), () => undefined as never)
  await t.throwsAsync(relay.toolCall('shell', { cmd: 'ls' }, () => (ran = true)), {
    code: 'ERR_RELAY_INVALID_ARGUMENT',
    message: /returned undefined/,
  } as never)
  t.false(ran)
  guard.dispose()
  forgetful.dispose()
})

test.serial('a tool call that an execution intercept observes gets JSON copies; subscribers and sanitizers change nothing the tool gets', async (t) => {
  const args = { when: new Date(0) }
  const c = collect()
  const intercept = relay.register('tool_request_intercept', unique('pass'), (a: object) => ({ ...a, seen: true }))
  const sanitizer = relay.register('tool_sanitize_request', unique('mask'), (a: object) => ({ ...a, when: '[masked]' }))
  let got: unknown
  const tool = (a: relay.Json) => {
    got = a
    return a
  }
  // Subscribed, with this thread's intercept and sanitizer: the tool gets
  // the intercept's own object and the caller the tool's; the sanitizer
  // rewrites only the event's copy.
  const name = unique('own')
  const own = await relay.toolCall(name, args as never, tool)
  t.deepEqual(got, { when: args.when, seen: true })
  t.true((got as { when: unknown }).when === args.when)
  t.is(own as unknown, got)
  const events = await c.flushed()
  t.deepEqual(startOf(events, name).data, { when: '[masked]', seen: true })
  // An execution intercept gets the request as JSON, and so does what it wraps.
  const exec = relay.register('tool_execution_intercept', unique('wrap'), (req, next) => next(req))
  const copied = await relay.toolCall(unique('copied'), args as never, tool)
  t.deepEqual(got, { when: new Date(0).toISOString(), seen: true })
  t.deepEqual(copied, got)
  t.not(copied, got)
  for (const r of [exec, sanitizer, intercept]) r.dispose()
  c.stop()
})

test.serial('the middleware of one call share one frozen context object, and each call has its own', async (t) => {
  const seen: relay.CallContext[] = []
  const regs = [
    relay.register('tool_conditional_execution', unique('ctx-a'), (_a, ctx) => void seen.push(ctx)),
    relay.register('tool_request_intercept', unique('ctx-b'), (a, ctx) => (seen.push(ctx), a)),
  ]
  await relay.toolCall('first', {}, () => 1)
  await relay.toolCall('second', {}, () => 2)
  t.is(seen.length, 4)
  t.is(seen[0], seen[1])
  t.is(seen[2], seen[3])
  t.not(seen[0], seen[2])
  t.is(seen[0]?.name, 'first')
  t.is(seen[2]?.name, 'second')
  t.true(Object.isFrozen(seen[0]))
  for (const r of regs) r.dispose()
})

test.serial('a tool call made in a worker runs the main thread’s JS middleware and its own, each with its own context, and waits for them', async (t) => {
  const { Worker } = await import('node:worker_threads')
  const { fileURLToPath } = await import('node:url')
  const seen: unknown[] = []
  // Registered from another realm than the call's: the call converts its
  // values, so this guardrail gets a copy of the worker's arguments.
  const main = relay.register('tool_conditional_execution', unique('main-guard'), (a, ctx) => void seen.push(ctx.name, a))
  const entry = fileURLToPath(new URL('../index.js', import.meta.url))
  const code = `
    const { parentPort } = require('node:worker_threads')
    const relay = require(${JSON.stringify(entry)})
    const own = relay.register('tool_request_intercept', 'worker-intercept', (a, ctx) => ({ ...a, by: ctx.name }), { priority: 1 })
    // Nothing else keeps this thread's event loop alive while the main
    // thread's guardrail runs: the waiting call itself must.
    relay.toolCall('from-worker', { n: 1 }, (a) => a).then(
      (out) => { own.dispose(); parentPort.postMessage({ out }) },
      (error) => { own.dispose(); parentPort.postMessage({ error: String(error) }) },
    )
  `
  const worker = new Worker(code, { eval: true })
  const reply = await new Promise<{ out?: unknown; error?: string }>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  await worker.terminate()
  main.dispose()
  t.is(reply.error, undefined)
  t.deepEqual(reply.out, { n: 1, by: 'from-worker' })
  t.deepEqual(seen, ['from-worker', { n: 1 }])
})

test.serial('every call runs its tool when a worker’s execution intercept calls next() at once, whichever thread is faster', async (t) => {
  const { Worker } = await import('node:worker_threads')
  const { fileURLToPath } = await import('node:url')
  const entry = fileURLToPath(new URL('../index.js', import.meta.url))
  const name = unique('worker-exec')
  // The worker's next() reaches this thread's tool while this thread may
  // still be returning from the call's native entry.
  const code = `
    const { parentPort } = require('node:worker_threads')
    const relay = require(${JSON.stringify(entry)})
    relay.register('tool_execution_intercept', ${JSON.stringify(name)}, (args, next) => next(args))
    parentPort.on('message', () => {})
    parentPort.postMessage('ready')
  `
  const worker = new Worker(code, { eval: true })
  await new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  const failures: string[] = []
  for (let i = 0; i < 300; i++) {
    try {
      t.is(await relay.toolCall('t', { i }, (a: { i: number }) => a.i), i)
    } catch (e) {
      failures.push(String(e))
    }
  }
  await worker.terminate()
  t.deepEqual(failures, [])
})

test.serial('aborting a call that only JS guardrails observe, or that nothing observes, rejects it with the signal reason', async (t) => {
  const abortWhilePending = async (name: string) => {
    const controller = new AbortController()
    let seenSignal: AbortSignal | undefined
    const p = relay.toolCall(name, {}, (_a, { signal }) => {
      seenSignal = signal
      return new Promise<number>(() => {})
    }, { signal: controller.signal })
    await sleep(2)
    controller.abort(new Error(`stop ${name}`))
    await t.throwsAsync(p, { message: `stop ${name}` })
    t.true(seenSignal?.aborted)
  }
  await abortWhilePending(unique('bare-abort'))
  const guard = relay.register('tool_conditional_execution', unique('js-only'), () => undefined)
  await abortWhilePending(unique('through-abort'))
  guard.dispose()
})

test.serial('a tool behind an execution intercept that awaits before next() still runs inside its call, under the scope-local guardrails of its scopes', async (t) => {
  // A rate limiter: it awaits, then continues the chain from a later
  // microtask. The tool must still see its own call as the current scope,
  // and a nested call must be parented to it and checked by the guardrail
  // its enclosing scope owns.
  const limiter = relay.register('tool_execution_intercept', unique('rate-limit'), async (req, next) => {
    await sleep(1)
    return next(req)
  })
  const blocked: string[] = []
  const outcome = await relay.scope('sandbox', {}, async (sandbox) => {
    relay.register(
      'tool_conditional_execution',
      unique('no-shell'),
      (_a, ctx) => (ctx.name === 'shell' ? (blocked.push(ctx.name), 'no shell in the sandbox') : undefined),
      { scope: sandbox },
    )
    return relay.toolCall('agent-step', {}, async () => {
      const inside = relay.currentScope()
      // The result crosses as JSON (an execution intercept observes the
      // call), so report the nested outcome as text.
      const nested = await relay.toolCall('shell', { cmd: 'id' }, () => 'ran').then(
        (out) => `ran: ${out}`,
        (e: Error) => (e instanceof relay.GuardrailRejectedError ? 'rejected' : String(e)),
      )
      return { inside: inside.name, type: inside.type, nested }
    })
  })
  limiter.dispose()
  t.is(outcome.inside, 'agent-step')
  t.is(outcome.type, 'tool')
  t.is(outcome.nested, 'rejected')
  t.deepEqual(blocked, ['shell'])
})

test.serial('when a worker exits, the middleware and subscribers it registered go with it', async (t) => {
  const { Worker } = await import('node:worker_threads')
  const { fileURLToPath } = await import('node:url')
  const entry = fileURLToPath(new URL('../index.js', import.meta.url))
  const guard = unique('worker-guard')
  const sub = unique('worker-sub')
  const code = `
    const { parentPort } = require('node:worker_threads')
    const relay = require(${JSON.stringify(entry)})
    relay.register('tool_conditional_execution', ${JSON.stringify(guard)}, () => undefined)
    relay.subscribe(${JSON.stringify(sub)}, () => {})
    // Stays alive until told to go: otherwise it may be gone (and its
    // registrations with it) before the main thread looks.
    parentPort.once('message', () => parentPort.close())
    parentPort.postMessage('registered')
  `
  const worker = new Worker(code, { eval: true })
  await new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  t.true(relay.registrations('tool_conditional_execution').includes(guard))
  t.true(relay.registrations('subscriber').includes(sub))
  const exited = new Promise((resolve) => worker.once('exit', resolve))
  worker.postMessage('go')
  await exited
  t.false(relay.registrations('tool_conditional_execution').includes(guard))
  t.false(relay.registrations('subscriber').includes(sub))
  // The main thread's calls no longer reach the dead worker's guardrail.
  t.is(await relay.toolCall('after-worker', {}, () => 'ran'), 'ran')
})

test('options of the wrong type are InvalidArgumentErrors with a stable code, and register nothing', async (t) => {
  const guard = unique('typed')
  const bad: Array<[string, () => unknown]> = [
    ['a string priority', () => relay.register('tool_conditional_execution', guard, () => undefined, { priority: 'high' as never })],
    ['a priority past i32', () => relay.register('tool_conditional_execution', guard, () => undefined, { priority: 2 ** 31 })],
    ['a fractional priority', () => relay.register('tool_conditional_execution', guard, () => undefined, { priority: 1.5 })],
    ['a numeric breakChain', () => relay.register('tool_request_intercept', guard, (a) => a, { breakChain: 1 as never })],
    ['null subscribe options', () => relay.subscribe(guard, () => undefined, null as never)],
    ['a numeric family', () => relay.registrations(5 as never)],
    ['a numeric toolCallId', () => relay.toolCall('typed', {}, () => 1, { toolCallId: 5 as never })],
    ['string attributes', () => relay.pushScope('typed', { attributes: 'remote' as never })],
  ]
  for (const [what, attempt] of bad) {
    const error = await t.throwsAsync(async () => attempt(), { instanceOf: relay.InvalidArgumentError }, what)
    t.is(error?.code, 'ERR_RELAY_INVALID_ARGUMENT', what)
    t.notRegex(error?.message ?? '', /rust type/, `${what}: the message names the option, not a Rust type`)
  }
  t.false(relay.registrations('tool_conditional_execution').includes(guard))
  t.false(relay.registrations('tool_request_intercept').includes(guard))
  t.false(relay.registrations('subscriber').includes(guard))
  // The bounds themselves are valid priorities.
  for (const priority of [-(2 ** 31), 2 ** 31 - 1]) {
    relay.register('tool_conditional_execution', guard, () => undefined, { priority }).dispose()
  }
})

test('families and names of any other type are refused with ERR_RELAY_INVALID_ARGUMENT, never with a bare TypeError', (t) => {
  const cyclic: unknown[] = []
  cyclic.push(cyclic)
  const { proxy: revoked, revoke } = Proxy.revocable({}, {})
  revoke()
  for (const bad of [Symbol('family'), Object.create(null), cyclic, 7n, revoked]) {
    t.throws(() => relay.register('toString' as never, unique('n'), (() => undefined) as never), { code: 'ERR_RELAY_INVALID_ARGUMENT' } as never)
    const code = { code: 'ERR_RELAY_INVALID_ARGUMENT' } as never
    t.throws(() => relay.register(bad as never, unique('n'), (() => undefined) as never), code)
    t.throws(() => relay.registrations(bad as never), code)
    t.throws(() => relay.deregister(bad as never, 'n'), code)
    t.throws(() => relay.deregister('tool_request_intercept', bad as never), code)
    t.throws(() => relay.unsubscribe(bad as never), code)
  }
  // A scope option that is no scope handle.
  for (const scope of [5, 'abc', {}]) {
    t.throws(() => relay.unsubscribe('x', { scope } as never), { code: 'ERR_RELAY_INVALID_ARGUMENT' } as never)
    t.throws(() => relay.deregister('tool_request_intercept', 'x', { scope } as never), { code: 'ERR_RELAY_INVALID_ARGUMENT' } as never)
  }
})

test.serial('an error whose code getter throws still reaches the caller unchanged', async (t) => {
  const thrown = {
    message: 'hostile',
    get code(): string {
      throw new Error('the code getter')
    },
  }
  for (const family of ['tool_conditional_execution', 'llm_conditional_execution'] as const) {
    const r = relay.register(family, unique('hostile'), () => {
      throw thrown
    })
    const call = family.startsWith('tool') ? relay.toolCall(unique('t'), {}, () => 1) : relay.llmCall(unique('l'), { content: {} }, () => 1)
    t.is(await call.then(() => undefined, (e: unknown) => e), thrown, family)
    r.dispose()
  }
})

test.serial('a callback’s own error reaches the caller unchanged, even one carrying a napi-rs status code', async (t) => {
  // What another napi-rs addon used inside a tool throws: it must not be
  // mistaken for a bad argument of ours.
  const foreign = () => Object.assign(new Error('from another addon'), { code: 'InvalidArg' })
  const observe = relay.register('tool_conditional_execution', unique('observe'), () => undefined)
  // With options and without: the two native entry points.
  for (const options of [undefined, { toolCallId: 'call_1' }]) {
    const fromTool = foreign()
    t.is(await t.throwsAsync(relay.toolCall(unique('tool-throws'), {}, () => { throw fromTool }, options)), fromTool)
  }
  observe.dispose()
  const fromGuard = foreign()
  const guard = relay.register('tool_conditional_execution', unique('guard-throws'), () => { throw fromGuard })
  t.is(await t.throwsAsync(relay.toolCall(unique('guarded'), {}, () => 1, { toolCallId: 'call_2' })), fromGuard)
  guard.dispose()
})

test.serial('calls racing with a worker that exits normally fail as cancelled when they reach its middleware, never as a callback failure', async (t) => {
  const { Worker } = await import('node:worker_threads')
  const { fileURLToPath } = await import('node:url')
  const entry = fileURLToPath(new URL('../index.js', import.meta.url))
  const codes = new Map<string, number>()
  let settled = 0
  for (let round = 0; round < 10; round++) {
    const guard = unique('exiting-guard')
    // Registers, says so, and ends: its event loop has nothing left to do.
    const worker = new Worker(
      `const relay = require(${JSON.stringify(entry)})
       relay.register('tool_request_intercept', ${JSON.stringify(guard)}, (a) => a)
       require('node:worker_threads').parentPort.postMessage('ready')`,
      { eval: true },
    )
    await new Promise((resolve) => worker.once('message', resolve))
    const deadline = Date.now() + 2000
    while (relay.registrations('tool_request_intercept').includes(guard) && Date.now() < deadline) {
      const outcomes = await Promise.allSettled(Array.from({ length: 10 }, () => relay.toolCall('racing', { a: 1 }, (a) => a)))
      for (const o of outcomes) {
        settled++
        if (o.status === 'rejected') {
          const code = String((o.reason as { code?: string }).code)
          codes.set(code, (codes.get(code) ?? 0) + 1)
        }
      }
    }
    await worker.terminate()
  }
  t.true(settled > 0)
  t.deepEqual([...codes.keys()].filter((code) => code !== 'ERR_RELAY_CANCELLED'), [], JSON.stringify([...codes]))
  // The race was there to lose: some calls did reach an exiting worker.
  t.true((codes.get('ERR_RELAY_CANCELLED') ?? 0) > 0, JSON.stringify([...codes]))
})

test('terminating workers whose middleware calls are running settles every call, and the process still exits', (t) => {
  // Workers register an execution intercept and a subscriber; the main
  // thread keeps calling through them while they are terminated. Every call
  // must settle (a result, or ERR_RELAY_CANCELLED) and nothing may keep the
  // process alive. Before, some calls waited forever (and the process never
  // exited), and a post racing the teardown could abort the process.
  const worker = `
    const relay = require(${JSON.stringify(`${repoRoot}/index.js`)})
    relay.register('tool_execution_intercept', 'w' + Math.random(), (a, next) => next(a))
    relay.subscribe('s' + Math.random(), () => {})
    require('node:worker_threads').parentPort.postMessage('ready')
  `
  const run = runNode(
    `
    import { Worker } from 'node:worker_threads'
    import * as relay from ${JSON.stringify(pathToFileURL(`${repoRoot}/index.mjs`).href)}
    const worker = ${JSON.stringify(worker)}
    let stuck = 0
    for (let round = 0; round < 40; round++) {
      const ws = [0, 1, 2].map(() => new Worker(worker, { eval: true, execArgv: [] }))
      await Promise.all(ws.map((w) => new Promise((r) => w.once('message', r))))
      const calls = []
      let stop = false
      setTimeout(() => { stop = true; ws.forEach((w) => w.terminate()) }, round % 10)
      while (!stop) {
        for (let i = 0; i < 20; i++) calls.push(relay.toolCall('t', { i }, (a) => a).catch(() => {}))
        await new Promise((r) => setImmediate(r))
      }
      const settled = await Promise.race([Promise.all(calls).then(() => true), new Promise((r) => setTimeout(r, 2000, false))])
      if (!settled) stuck++
    }
    console.log(JSON.stringify({ stuck }))
    `,
    repoRoot,
  )
  t.is(run.status, 0, run.stderr)
  t.deepEqual(JSON.parse(run.stdout.trim()), { stuck: 0 })
})
