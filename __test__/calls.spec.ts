import test from 'ava'

import * as relay from '../index.mjs'
import { collect, endOf, sleep, startOf, unique } from './relay-support.js'

test.serial('a synchronous tool call resolves with the tool result and emits start and end events', async (t) => {
  const c = collect()
  const name = unique('search')
  const out = await relay.toolCall(name, { q: 'rust' }, (args: { q: string }) => ({ hits: [args.q] }), {
    toolCallId: 'call-1',
    metadata: { caller: 'test' },
  })
  t.deepEqual(out, { hits: ['rust'] })
  const events = await c.flushed()
  const start = startOf(events, name)
  const end = endOf(events, name)
  t.is(start.uuid, end.uuid)
  t.is(start.category, 'tool')
  t.deepEqual(start.data, { q: 'rust' })
  t.deepEqual(start.category_profile, { tool_call_id: 'call-1' })
  t.deepEqual(end.data, { hits: ['rust'] })
  t.is(end.metadata?.['otel.status_code'], 'OK')
  t.is(end.metadata?.caller, 'test')
  c.stop()
})

test.serial('a call whose stages are all synchronous is already settled when toolCall returns', async (t) => {
  let ran = false
  const p = relay.toolCall(unique('sync'), {}, () => {
    ran = true
    return 1
  })
  t.true(ran)
  let settled = false
  void p.then(() => {
    settled = true
  })
  // An already-resolved Promise settles after one microtask.
  await Promise.resolve()
  t.true(settled)
})

test.serial('an async tool call resolves after the tool Promise does', async (t) => {
  const out = await relay.toolCall(unique('slow'), { n: 2 }, async (args: { n: number }) => {
    await sleep(5)
    return args.n * 2
  })
  t.is(out, 4)
})

test.serial('a throwing tool rejects the call with the very error object it threw', async (t) => {
  class ToolFailure extends Error {
    extra = 'kept'
  }
  const c = collect()
  const name = unique('fails')
  const thrown = new ToolFailure('boom')
  const error = await t.throwsAsync(relay.toolCall(name, {}, () => { throw thrown }))
  t.is(error, thrown)
  const asyncThrown = new ToolFailure('later')
  t.is(await t.throwsAsync(relay.toolCall(name, {}, async () => { await sleep(1); throw asyncThrown })), asyncThrown)
  const events = await c.flushed()
  const end = endOf(events, name)
  t.is(end.metadata?.['otel.status_code'], 'ERROR')
  t.is(end.metadata?.['error.type'], 'callback_failed')
  c.stop()
})

// Arguments and results are converted to JSON when the call's events need
// them (someone subscribes). The tool still gets the caller's own values, as
// in a bare call, so what JSON cannot represent is recorded, never refused:
// a subscriber must not decide whether a call succeeds.
test.serial('a subscriber never makes a call fail: non-JSON arguments and results pass through, and the events record them as well as JSON can', async (t) => {
  const c = collect()
  const args: Record<string, unknown> = { n: 1n }
  args.me = args
  const name = unique('not-json')
  let got: unknown
  const out = await relay.toolCall(name, args as never, (a) => {
    got = a
    return 10n as never
  })
  t.is(got, args)
  t.is(out, 10n as never)
  // Also when a guardrail answers later and the call goes on from a Promise
  // (its copy is not exact, so it is never handed on in its stead).
  const guard = relay.register('tool_conditional_execution', unique('later'), async () => undefined)
  t.is(await relay.toolCall(unique('not-json-later'), args as never, (a) => a), args as never)
  const changed: Record<string, unknown> = { n: 2n }
  const pending = relay.toolCall(unique('changed-later'), changed as never, (a) => a)
  changed.more = true // while the guardrail is pending
  t.is(await pending, changed as never)
  // `undefined` arguments are allowed whoever watches.
  t.is(await relay.toolCall(unique('no-args'), undefined, (a) => a), undefined)
  guard.dispose()
  // What throws when read is recorded in its place; the request keeps its
  // shape (an LLM request must stay an object).
  const content = { ok: 1, get secret(): string { throw new Error('no access') } }
  const chat = unique('chat-not-json')
  t.true(await relay.llmCall(chat, { content }, (r) => r.content === content))
  // A "__proto__" member (JSON.parse makes them) is recorded as a member.
  const parsed = JSON.parse('{"__proto__":{"a":1},"n":0}')
  parsed.n = 3n
  const proto = unique('proto')
  await relay.toolCall(proto, parsed, () => 1)
  const events = await c.flushed()
  t.deepEqual(startOf(events, name).data, { n: '1', me: '[Circular]' })
  t.like(startOf(events, chat).data, { content: { ok: 1, secret: '[not recorded: no access]' } })
  t.is(JSON.stringify(startOf(events, proto).data), '{"__proto__":{"a":1},"n":"3"}')
  t.is(endOf(events, name).data, '10')
  // Values relay keeps, rather than hands on, must be JSON.
  t.throws(() => relay.mark(unique('m'), { data: { n: 1n } }), { code: 'ERR_RELAY_INVALID_ARGUMENT' } as never)
  c.stop()
  await t.throwsAsync(relay.toolCall(unique('bad-option'), {}, () => 1, { tolCallId: 'typo' } as never), {
    code: 'ERR_RELAY_INVALID_ARGUMENT',
  } as never)
})

test('options of the wrong type are refused with a message naming the option, not a Rust type', async (t) => {
  const cases: [() => Promise<unknown> | unknown, RegExp][] = [
    [() => relay.llmCall('chat', { content: {} }, () => ({}), { modelName: null as never }), /^modelName must be a string, not null$/],
    [() => relay.toolCall('t', {}, () => 1, { toolCallId: 5 as never }), /^toolCallId must be a string, not 5$/],
    [() => relay.toolCall('t', {}, () => 1, { attributes: 'remote' as never }), /^attributes must be an array of attribute names/],
    [() => relay.startToolCall('t', {}, { attributes: [1] as never }), /^attribute names are strings, not 1$/],
    [() => relay.pushScope('s', { attributes: [null] as never }), /^attribute names are strings, not null$/],
  ]
  for (const [call, message] of cases) {
    let error: unknown
    try {
      await call()
    } catch (e) {
      error = e
    }
    t.like(error, { code: 'ERR_RELAY_INVALID_ARGUMENT' }, String(message))
    t.regex((error as Error).message, message)
  }
})

test.serial('values nested deeper than 127 levels are refused as nested too deeply where relay keeps them, and recorded as such where it hands them on', async (t) => {
  const c = collect()
  const nest = (depth: number) => {
    let v: unknown = 1
    for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { v }
    return v as never
  }
  for (const depth of [200, 20_000]) {
    const e = await t.throwsAsync(async () => relay.startToolCall(unique('deep'), nest(depth)), { instanceOf: relay.InvalidArgumentError })
    t.regex(e?.message ?? '', /nested too deeply/, `depth ${depth}`)
  }
  const name = unique('deep-args')
  t.is(await relay.toolCall(name, nest(200), () => 'fine'), 'fine')
  t.is(await relay.toolCall(unique('shallow'), nest(100), () => 'fine'), 'fine')
  t.regex(JSON.stringify(startOf(await c.flushed(), name).data), /"\[nested too deeply\]"/)
  c.stop()
})

test.serial('NaN and the infinities are recorded as null at any depth, as JSON.stringify writes them', async (t) => {
  const c = collect()
  const name = unique('non-finite')
  relay.mark(name, { data: NaN })
  relay.mark(name, { data: { k: Infinity, list: [-Infinity] } })
  t.is(await relay.toolCall(unique('nan-tool'), NaN as never, () => Infinity), Infinity)
  const marks = (await c.flushed()).filter((e) => e.name === name)
  t.deepEqual(
    marks.map((e) => e.data),
    [null, { k: null, list: [null] }],
  )
  c.stop()
})

test.serial('a subscribed call hands the tool and the caller their own values, and its events record them with JSON.stringify semantics', async (t) => {
  const c = collect()
  const when = new Date(0)
  const args = { when, skip: undefined, n: NaN }
  const result = { at: new Date(1) } as never
  const name = unique('json')
  let got: unknown
  const out = await relay.toolCall(name, args as never, async (a) => {
    got = a
    await sleep(1)
    return result
  })
  t.is(got, args, 'subscribing never changes what the tool receives')
  t.is(out, result)
  const events = await c.flushed()
  t.deepEqual(startOf(events, name).data, { when: when.toISOString(), n: null })
  t.deepEqual(endOf(events, name).data, { at: new Date(1).toISOString() })
  c.stop()
})

test.serial('a bare tool call passes the original arguments and result through, in the call scope', async (t) => {
  // Dates are not JSON: only a bare call can hand them through unchanged.
  const args = { when: new Date(0) } as never
  const result = { at: new Date(1) } as never
  const name = unique('bare')
  let scope: string | undefined
  const out = await relay.toolCall(name, args, (a) => {
    t.is(a, args)
    scope = relay.currentScope().name
    return result
  })
  t.is(out, result)
  t.is(scope, name)
  const later = await relay.toolCall(unique('bare-async'), args, async (a) => {
    await sleep(1)
    return a
  })
  t.is(later, args)
})

test.serial('an async bare tool call keeps the parent it started under when the caller opens scopes meanwhile', async (t) => {
  const outer = relay.pushScope(unique('outer'))
  const call = relay.toolCall(unique('bare-parent'), {}, async () => {
    await sleep(1)
    return relay.currentScope().parentUuid ?? null
  })
  // The caller's flow goes on while the tool awaits, on the same stack.
  const meanwhile = relay.pushScope(unique('meanwhile'))
  const parent = await call
  meanwhile.end()
  outer.end()
  t.is(parent, outer.uuid)
})

test.serial('a bare tool call that throws synchronously rejects with that error and leaves the caller in its scope', async (t) => {
  const outer = relay.pushScope(unique('outer'))
  const boom = new RangeError('boom')
  const e = await t.throwsAsync(
    relay.toolCall(unique('bare-throws'), {}, () => {
      throw boom
    }),
  )
  t.is(e, boom)
  t.is(relay.currentScope().uuid, outer.uuid)
  outer.end()
})

test.serial('scopes a tool left open end when it settles, before the call does, innermost first', async (t) => {
  const c = collect()
  const name = unique('forgetful')
  const [outer, inner] = [unique('left-open'), unique('left-open-too')]
  await relay.toolCall(name, {}, async () => {
    relay.pushScope(outer)
    await sleep(1)
    relay.pushScope(inner)
    return 'done'
  })
  const events = await c.flushed()
  const order = events.filter((e) => e.kind === 'scope' && e.scope_category === 'end' && [name, outer, inner].includes(e.name)).map((e) => e.name)
  t.deepEqual(order, [inner, outer, name])
  t.is(endOf(events, outer).parent_uuid, startOf(events, name).uuid)
  c.stop()
})

test.serial('the tool runs with the call as its current scope, also after await', async (t) => {
  const name = unique('scoped-tool')
  const seen = await relay.toolCall(name, {}, async () => {
    const before = relay.currentScope()
    await sleep(1)
    const after = relay.currentScope()
    return [before.name, before.type, after.name]
  })
  t.deepEqual(seen, [name, 'tool', name])
})

test.serial('1,000 concurrent async tool calls in separate scopes all have the right parents', async (t) => {
  const c = collect()
  const prefix = unique('fanout')
  const parents = new Map<string, string>()
  await Promise.all(
    Array.from({ length: 1000 }, (_, i) =>
      relay.scope(`${prefix}-scope-${i}`, async (s) => {
        parents.set(`${prefix}-tool-${i}`, s.uuid)
        await sleep(i % 5)
        return relay.toolCall(`${prefix}-tool-${i}`, { i }, async (args: { i: number }) => {
          await sleep(i % 3)
          t.is(relay.currentScope().parentUuid, s.uuid)
          return args.i
        })
      }),
    ),
  )
  const events = await c.flushed()
  const tools = events.filter((e) => e.kind === 'scope' && e.name.startsWith(`${prefix}-tool-`))
  t.is(tools.length, 2000)
  for (const e of tools) t.is(e.parent_uuid, parents.get(e.name) ?? 'missing', e.name)
  c.stop()
})

test.serial('1,000 concurrent subscribed calls through asynchronous JS middleware each get their own rewritten arguments and the right parent', async (t) => {
  const c = collect()
  const prefix = unique('async-fanout')
  const guard = relay.register('tool_conditional_execution', unique('slow-guard'), async (a: { i: number }) => {
    await sleep(a.i % 3)
    return undefined
  })
  const intercept = relay.register('tool_request_intercept', unique('slow-intercept'), async (a: { i: number }) => {
    await sleep(a.i % 2)
    return { ...a, doubled: a.i * 2 }
  })
  const parents = new Map<string, string>()
  const results = await Promise.all(
    Array.from({ length: 1000 }, (_, i) =>
      relay.scope(`${prefix}-scope-${i}`, async (s) => {
        parents.set(`${prefix}-tool-${i}`, s.uuid)
        return relay.toolCall(`${prefix}-tool-${i}`, { i }, async (args: { i: number; doubled: number }) => {
          await sleep(i % 4)
          t.is(relay.currentScope().parentUuid, s.uuid)
          return { i: args.i, doubled: args.doubled }
        })
      }),
    ),
  )
  t.deepEqual(results, Array.from({ length: 1000 }, (_, i) => ({ i, doubled: i * 2 })))
  const events = await c.flushed()
  const tools = events.filter((e) => e.kind === 'scope' && e.name.startsWith(`${prefix}-tool-`))
  t.is(tools.length, 2000)
  for (const e of tools) {
    t.is(e.parent_uuid, parents.get(e.name) ?? 'missing', e.name)
    const i = Number(e.name.slice(`${prefix}-tool-`.length))
    // The start event records the rewritten request; the end event the result.
    t.deepEqual(e.data, { i, doubled: i * 2 }, e.name)
  }
  guard.dispose()
  intercept.dispose()
  c.stop()
})

test.serial('an LLM call passes the request to the provider and strips credentials from events', async (t) => {
  const c = collect()
  const name = unique('chat')
  const out = await relay.llmCall(
    name,
    { headers: { authorization: 'Bearer secret', 'x-team': 'docs' }, content: { prompt: 'hi' } },
    (request) => ({ echo: request.content, auth: request.headers.authorization ?? null }),
    { modelName: 'demo-model' },
  )
  t.deepEqual(out, { echo: { prompt: 'hi' }, auth: 'Bearer secret' })
  const events = await c.flushed()
  const start = startOf(events, name)
  t.is(start.category, 'llm')
  t.deepEqual(start.category_profile, { model_name: 'demo-model' })
  t.deepEqual(start.data, { content: { prompt: 'hi' }, headers: { 'x-team': 'docs' } })
  c.stop()
})

test.serial('an LLM call hands the provider the caller’s own values and the caller the provider’s own response, whoever observes it with JS', async (t) => {
  class Completion {
    constructor(readonly text: string) {}
    get upper(): string {
      return this.text.toUpperCase()
    }
  }
  const image = new Uint8Array([1, 2, 3])
  const content = { at: new Date(0), image }
  const check = async (label: string) => {
    let got: { headers: Record<string, unknown>; content: unknown } | undefined
    const response = new Completion('hi')
    const out = await relay.llmCall(unique('own-values'), { content: content as never }, async (request) => {
      got = request as never
      await sleep(1)
      return response as never
    })
    t.is(got?.content, content, `${label}: the provider gets the caller's content`)
    t.deepEqual(got?.headers, {}, `${label}: headers default to {}`)
    t.is(out as unknown, response, `${label}: the caller gets the provider's response`)
  }
  await check('bare')
  const guard = relay.register('llm_conditional_execution', unique('guard'), (request) => {
    t.is((request as { content: unknown }).content, content)
    return undefined
  })
  await check('a JS guardrail')
  const c = collect()
  await check('a subscriber')
  guard.dispose()
  const events = await c.flushed()
  const start = events.find((e) => e.kind === 'scope' && e.scope_category === 'start' && e.category === 'llm' && e.name.startsWith('own-values'))
  t.deepEqual(start?.data, { content: { at: new Date(0).toISOString(), image: { 0: 1, 1: 2, 2: 3 } }, headers: {} }, 'events record a JSON copy')
  c.stop()
  // A request intercept's answer is checked and shaped as a request, not converted.
  const replacement = { kind: 'replaced', image }
  const intercept = relay.register('llm_request_intercept', unique('swap'), () => ({ content: replacement as never }))
  let seen: unknown
  await relay.llmCall(unique('swapped'), { content: content as never }, (request) => {
    seen = request
    return null
  })
  t.is((seen as { content: unknown }).content, replacement)
  t.deepEqual((seen as { headers: unknown }).headers, {})
  intercept.dispose()
  const bad = relay.register('llm_request_intercept', unique('bad'), () => ({ content: 1, extra: true }))
  await t.throwsAsync(relay.llmCall(unique('bad-answer'), { content: content as never }, () => null), {
    code: 'ERR_RELAY_INVALID_ARGUMENT',
    message: /unknown LLM request field 'extra'/,
  } as never)
  bad.dispose()
})

test.serial('every mode of an LLM call reads the request as JSON does: toJSON, own fields only, omitted members, throwing getters', async (t) => {
  class Request {
    model = 'm'
    toJSON() {
      return { content: 'from toJSON' }
    }
  }
  const inherited = Object.create({ headers: { authorization: 'inherited' } }, { content: { value: 'own', enumerable: true } })
  const throwing = {
    get content(): unknown {
      throw new Error('boom')
    },
  }
  const modes: Array<[string, () => () => void]> = [
    ['bare', () => () => {}],
    ['through', () => { const r = relay.register('llm_conditional_execution', unique('g'), () => undefined); return () => r.dispose() }],
    ['mirrored', () => { const s = relay.subscribe(unique('s'), () => {}); return () => s.dispose() }],
    ['managed', () => { const r = relay.register('llm_execution_intercept', unique('x'), (q, next) => next(q)); return () => r.dispose() }],
  ]
  for (const [mode, setUp] of modes) {
    const tearDown = setUp()
    const provider = (request: unknown) => request as never
    const out = (await relay.llmCall(unique(mode), new Request() as never, provider)) as unknown as { content: unknown }
    t.is(out.content, 'from toJSON', mode)
    const own = (await relay.llmCall(unique(mode), inherited, provider)) as unknown as { headers: object }
    t.deepEqual(own.headers, {}, `${mode}: inherited headers are no field`)
    const omitted = (await relay.llmCall(unique(mode), { content: 1, skip: undefined, s: Symbol('s'), f() {} } as never, provider)) as unknown as { content: unknown }
    t.is(omitted.content, 1, mode)
    await t.throwsAsync(relay.llmCall(unique(mode), throwing as never, provider), { code: 'ERR_RELAY_INVALID_ARGUMENT', message: /not JSON: boom/ } as never, mode)
    tearDown()
  }
  // A request intercept's answer is read the same way.
  const answer = relay.register('llm_request_intercept', unique('answer'), () => new Request() as never)
  const seen = (await relay.llmCall(unique('answered'), { content: 0 }, (request) => request as never)) as unknown as { content: unknown }
  t.is(seen.content, 'from toJSON')
  answer.dispose()
  // Read once: what the provider gets is what the events record, even from
  // an answer whose toJSON changes its mind.
  let reads = 0
  const fickle = relay.register('llm_request_intercept', unique('fickle'), () => ({ toJSON: () => ({ content: `read ${++reads}` }) }) as never)
  const c = collect()
  const name = unique('fickle-call')
  const ran = (await relay.llmCall(name, { content: 0 }, (request) => request as never)) as unknown as { content: unknown }
  t.deepEqual(startOf(await c.flushed(), name).data, { content: ran.content, headers: {} })
  c.stop()
  fickle.dispose()
})

test.serial('an LLM call an execution intercept observes gives the provider and the caller JSON copies', async (t) => {
  const exec = relay.register('llm_execution_intercept', unique('exec'), (request, next) => next(request))
  const content = { at: new Date(0) }
  let got: unknown
  const out = await relay.llmCall(unique('copied'), { content: content as never }, (request) => {
    got = (request as { content: unknown }).content
    return { when: new Date(1) } as never
  })
  t.deepEqual(got, { at: new Date(0).toISOString() })
  t.deepEqual(out, { when: new Date(1).toISOString() })
  exec.dispose()
})

test.serial('a manual tool call emits the start and end events the application asks for', async (t) => {
  const c = collect()
  const name = unique('manual')
  const call = await relay.startToolCall(name, { q: 1 }, { toolCallId: 'm-1' })
  t.is(call.type, 'tool')
  t.is(call.toolCallId, 'm-1')
  await call.end({ ok: true }, { metadata: { rows: 3 } })
  const failed = await relay.startLlmCall(unique('manual-llm'), { content: 'x' })
  failed.fail(new SyntaxError('bad json'))
  const events = await c.flushed()
  t.deepEqual(endOf(events, name).data, { ok: true })
  t.is(endOf(events, name).metadata?.rows, 3)
  const llmEnd = endOf(events, failed.name)
  t.is(llmEnd.metadata?.['otel.status_code'], 'ERROR')
  t.is(llmEnd.metadata?.['exception.type'], 'SyntaxError')
  c.stop()
})

test.serial('ending a manual call wrongly rejects its Promise, never throws, and leaves the call open', async (t) => {
  const call = await relay.startToolCall(unique('manual-end'), {})
  for (const metadata of [5, 'text', [1], true]) {
    let end: Promise<void> | undefined
    t.notThrows(() => {
      end = call.end(1, { metadata: metadata as never })
    })
    await t.throwsAsync(end!, { code: 'ERR_RELAY_INVALID_ARGUMENT', message: /metadata must be a JSON object/ } as never)
    t.throws(() => call.fail(new Error('x'), { metadata: metadata as never }), { code: 'ERR_RELAY_INVALID_ARGUMENT' } as never)
  }
  let typo: Promise<void> | undefined
  t.notThrows(() => {
    typo = call.end(1, { metdata: {} } as never)
  })
  await t.throwsAsync(typo!, { code: 'ERR_RELAY_INVALID_ARGUMENT' } as never)
  await call.end(1)
  let again: Promise<void> | undefined
  t.notThrows(() => {
    again = call.end(2)
  })
  await t.throwsAsync(again!, { code: 'ERR_RELAY_NOT_FOUND' } as never)
})

test.serial('a manual call fails with any thrown value, even one that cannot be printed, and records the failure', async (t) => {
  const c = collect()
  const hostile = [
    Object.create(null),
    new Proxy({}, { get: () => { throw new Error('proxy') } }),
    { toString: () => { throw new Error('toString') } },
    Symbol('s'),
  ]
  const names: string[] = []
  for (const error of hostile) {
    const call = await relay.startToolCall(unique('fails'), {})
    names.push(call.name)
    t.notThrows(() => call.fail(error))
  }
  const events = await c.flushed()
  for (const name of names) t.is(endOf(events, name).metadata?.['otel.status_code'], 'ERROR', name)
  c.stop()
})

test.serial('aborting a pending call rejects it with the signal reason and records a cancelled end', async (t) => {
  const c = collect()
  const name = unique('abortable')
  const controller = new AbortController()
  let seenSignal: AbortSignal | undefined
  const p = relay.toolCall(
    name,
    {},
    (_args, { signal }) => {
      seenSignal = signal
      return new Promise<number>(() => {})
    },
    { signal: controller.signal },
  )
  await sleep(2)
  controller.abort(new Error('user hit stop'))
  await t.throwsAsync(p, { message: 'user hit stop' })
  t.true(seenSignal?.aborted)
  const end = endOf(await c.flushed(), name)
  t.is(end.metadata?.['error.type'], 'cancelled')
  let ran = false
  const early = relay.toolCall(unique('pre-aborted'), {}, () => (ran = true), { signal: AbortSignal.abort('early') })
  t.is(await early.catch((reason: unknown) => reason), 'early')
  t.false(ran)
  c.stop()
})

test.serial('aborting a call whose tool ignores the signal and never settles ends the scopes the tool left open', async (t) => {
  const c = collect()
  const [name, inner] = [unique('hung'), unique('inner')]
  const controller = new AbortController()
  const p = relay.toolCall(
    name,
    {},
    () => {
      relay.pushScope(inner)
      return new Promise<number>(() => {})
    },
    { signal: controller.signal },
  )
  await sleep(2)
  controller.abort(new Error('stop'))
  await t.throwsAsync(p, { message: 'stop' })
  // After a grace period, in which a tool that honours its signal ends its
  // own scopes.
  await sleep(1100)
  const events = await c.flushed()
  t.is(endOf(events, inner).parent_uuid, startOf(events, name).uuid)
  t.is(endOf(events, name).metadata?.['error.type'], 'cancelled')
  c.stop()
})

test.serial('a tool that honours its signal ends its own scopes in its cleanup after the abort', async (t) => {
  const controller = new AbortController()
  let cleanup: string | undefined
  const p = relay.toolCall(
    unique('honours'),
    {},
    async (_a, { signal }) => {
      const h = relay.pushScope(unique('work'))
      try {
        await new Promise((_, reject) => signal.addEventListener('abort', () => setTimeout(reject, 5, signal.reason)))
      } finally {
        try {
          h.end()
          cleanup = 'ended'
        } catch (e) {
          cleanup = (e as { code?: string }).code
        }
      }
    },
    { signal: controller.signal },
  )
  await sleep(2)
  controller.abort(new Error('stop'))
  await t.throwsAsync(p, { message: 'stop' })
  await sleep(20)
  t.is(cleanup, 'ended')
})

test.serial('a caller that changes its arguments while a guardrail is pending cannot make the tool run on what nobody approved or recorded', async (t) => {
  const c = collect()
  const guard = relay.register('tool_conditional_execution', unique('tmp-only'), async (a: { path: string }) => {
    const ok = a.path.startsWith('/tmp/')
    await sleep(1)
    return ok ? undefined : 'outside /tmp'
  })
  const name = unique('rm')
  const args = { path: '/tmp/x' }
  const call = relay.toolCall(name, args, (a: { path: string }) => `removed ${a.path}`)
  args.path = '/etc/passwd'
  t.is(await call, 'removed /tmp/x')
  // Nor can a later stage act on it: a request intercept gets the approved copy.
  const tag = relay.register('tool_request_intercept', unique('tag'), (a: { path: string }) => ({ ...a, tagged: true }), { priority: 1 })
  const tagged = { path: '/tmp/y' }
  const later = relay.toolCall(unique('rm'), tagged, (a: { path: string }) => `removed ${a.path}`)
  tagged.path = '/etc/shadow'
  t.is(await later, 'removed /tmp/y')
  tag.dispose()
  const events = await c.flushed()
  t.deepEqual(startOf(events, name).data, { path: '/tmp/x' })
  guard.dispose()
  c.stop()
})

test.serial('a call its own synchronous code aborts is cancelled all the same', async (t) => {
  const controller = new AbortController()
  const guard = relay.register('tool_conditional_execution', unique('observe'), () => undefined)
  const call = relay.toolCall(unique('self-abort'), {}, () => {
    controller.abort(new Error('stopped from inside'))
    return new Promise<string>(() => {})
  }, { signal: controller.signal })
  await t.throwsAsync(call, { message: 'stopped from inside' })
  guard.dispose()
})

test.serial('text cut in the middle of an emoji is recorded with U+FFFD and never fails a subscribed call', async (t) => {
  const c = collect()
  const cut = 'héllo 😀'.slice(0, 7) // ends with a lone high surrogate
  const lowFirst = '\udc00 tail'
  const name = unique('summarize')
  const result = { summary: cut, list: [lowFirst, '😀 whole'] }
  const out = await relay.toolCall(name, { text: cut }, () => result)
  t.is(out, result, 'the caller gets the tool’s own value')
  relay.mark(name, { data: { cut } })
  const events = await c.flushed()
  t.deepEqual(startOf(events, name).data, { text: 'héllo \ufffd' })
  t.deepEqual(endOf(events, name).data, { summary: 'héllo \ufffd', list: ['\ufffd tail', '😀 whole'] })
  const mark = events.find((e) => e.kind === 'mark' && e.name === name)
  t.deepEqual(mark?.data, { cut: 'héllo \ufffd' })
  c.stop()
})

test.serial('an option of the other kind of call is refused, whether or not anything observes the call', async (t) => {
  let ran = 0
  const tool = (a: unknown) => {
    ran++
    return a as relay.Json
  }
  for (const observed of [false, true]) {
    const sub = observed ? relay.subscribe(unique('kinds'), () => {}) : undefined
    try {
      // @ts-expect-error modelName is an option of LLM calls
      await t.throwsAsync(relay.toolCall('t', {}, tool, { modelName: 'gpt' }), { code: 'ERR_RELAY_INVALID_ARGUMENT', message: /model_name/ })
      // @ts-expect-error toolCallId is an option of tool calls
      await t.throwsAsync(relay.llmCall('m', { content: {} }, () => ({}), { toolCallId: 'call_1' }), { code: 'ERR_RELAY_INVALID_ARGUMENT', message: /tool_call_id/ })
      // @ts-expect-error modelName is an option of LLM calls
      await t.throwsAsync(relay.startToolCall('t', {}, { modelName: 'gpt' }), { code: 'ERR_RELAY_INVALID_ARGUMENT' })
    } finally {
      sub?.dispose()
    }
  }
  t.is(ran, 0, 'the callback never ran')
})
