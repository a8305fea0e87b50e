import { pathToFileURL } from 'node:url'

import test, { type ExecutionContext } from 'ava'

import * as relay from '../index.mjs'
import { collect, endOf, sleep, startOf, unique } from './relay-support.js'
import { repoRoot, runNode } from './support.js'

test.serial('a pushed scope is the parent of scopes pushed after it, and popping restores the parent', (t) => {
  const outer = relay.pushScope(unique('outer'), { type: 'agent' })
  const inner = relay.pushScope(unique('inner'))
  t.is(inner.parentUuid, outer.uuid)
  t.is(relay.currentScope().uuid, inner.uuid)
  relay.popScope(inner)
  t.is(relay.currentScope().uuid, outer.uuid)
  outer.end()
  t.true(outer.ended)
})

test.serial('ending a scope that is not on top fails with ERR_RELAY_SCOPE_NOT_ON_TOP and changes nothing', (t) => {
  const outer = relay.pushScope(unique('outer'))
  const inner = relay.pushScope(unique('inner'))
  const error = t.throws(() => outer.end(), { instanceOf: relay.ScopeStackError })
  t.is(error?.code, 'ERR_RELAY_SCOPE_NOT_ON_TOP')
  t.true(error instanceof relay.RelayError)
  t.is(relay.currentScope().uuid, inner.uuid)
  inner.end()
  outer.end()
})

test.serial('a scope handle closes itself with Symbol.dispose, once', (t) => {
  const before = relay.currentScope().uuid
  {
    const handle = relay.pushScope(unique('disposable'))
    t.is(relay.currentScope().uuid, handle.uuid)
    handle[Symbol.dispose]()
    handle[Symbol.dispose]()
  }
  t.is(relay.currentScope().uuid, before)
})

test.serial('scope handles describe their scope', (t) => {
  const name = unique('described')
  const handle = relay.pushScope(name, {
    type: 'retriever',
    attributes: ['remote'],
    data: { kept: true },
    metadata: { team: 'docs' },
  })
  t.is(handle.name, name)
  t.is(handle.type, 'retriever')
  t.deepEqual(handle.attributes, ['remote'])
  t.deepEqual(handle.data, { kept: true })
  t.deepEqual(handle.metadata, { team: 'docs' })
  t.regex(handle.uuid, /^[0-9a-f-]{36}$/)
  t.regex(handle.startedAt, /^\d{4}-\d\d-\d\dT.*Z$/)
  handle.end()
})

test.serial('a scope handle keeps its uuid, name and type after the scope ended, as a finally block reads them', async (t) => {
  const name = unique('ended')
  const handle = relay.pushScope(name, { type: 'retriever', data: { kept: true } })
  handle.end()
  t.regex(handle.uuid, /^[0-9a-f-]{36}$/)
  t.is(handle.name, name)
  t.is(handle.type, 'retriever')
  // The rest is read from the open scope: not kept for every ended one.
  t.throws(() => handle.data, { code: 'ERR_RELAY_NOT_FOUND', message: /has ended/ })
  let inner: relay.ScopeHandle | undefined
  await relay.scope(name, (s) => {
    inner = s
  })
  t.is(inner?.name, name)
  t.is(inner?.type, 'function')
})

test.serial('scope() ends the scope with an OK status when fn returns and ERROR when it throws', async (t) => {
  const c = collect()
  const ok = unique('ok')
  const failed = unique('failed')
  t.is(relay.scope(ok, () => 42), 42)
  t.throws(() => relay.scope(failed, () => { throw new RangeError('nope') }), { instanceOf: RangeError })
  const events = await c.flushed()
  t.is(endOf(events, ok).metadata?.['otel.status_code'], 'OK')
  const end = endOf(events, failed)
  t.is(end.metadata?.['otel.status_code'], 'ERROR')
  t.is(end.metadata?.['error.type'], 'RangeError')
  t.is(end.metadata?.['otel.status_description'], 'nope')
  c.stop()
})

test.serial('scope() with an async fn ends the scope when its Promise settles', async (t) => {
  const c = collect()
  const name = unique('async-scope')
  const result = await relay.scope(name, { type: 'agent', input: { task: 'x' } }, async (s) => {
    await sleep(5)
    t.is(relay.currentScope().uuid, s.uuid)
    return 'done'
  })
  t.is(result, 'done')
  await t.throwsAsync(relay.scope(unique('rejects'), async () => Promise.reject(new Error('late'))), { message: 'late' })
  const events = await c.flushed()
  t.deepEqual(startOf(events, name).data, { task: 'x' })
  t.is(endOf(events, name).metadata?.['otel.status_code'], 'OK')
  c.stop()
})

test.serial('scope() ends scopes its fn left open before its own, with the same status, and keeps the error fn threw', async (t) => {
  const c = collect()
  const outer = unique('outer')
  const forgotten = unique('forgotten')
  t.is(
    relay.scope(outer, () => {
      relay.pushScope(forgotten)
      return 'value'
    }),
    'value',
  )
  const failing = unique('failing')
  const leaked = unique('leaked')
  await t.throwsAsync(
    relay.scope(failing, async () => {
      relay.pushScope(leaked)
      await sleep(1)
      throw new RangeError('the user error')
    }),
    { instanceOf: RangeError, message: 'the user error' },
  )
  const before = relay.currentScope().uuid
  const events = await c.flushed()
  t.is(endOf(events, forgotten).metadata?.['otel.status_code'], 'OK')
  t.is(endOf(events, outer).metadata?.['otel.status_code'], 'OK')
  t.is(endOf(events, leaked).metadata?.['otel.status_description'], 'the user error')
  t.is(endOf(events, failing).metadata?.['otel.status_code'], 'ERROR')
  const ends = events.filter((e) => e.kind === 'scope' && e.scope_category === 'end').map((e) => e.name)
  t.true(ends.indexOf(forgotten) < ends.indexOf(outer), 'the abandoned scope ends first')
  t.is(relay.currentScope().uuid, before, 'nothing stays open on the caller\'s stack')
  c.stop()
})

/**
 * Background work a callback starts and does not wait for: after 5 ms it
 * opens scope `name`, holds it `ms`, then ends it. Settles when it is done
 * (rejects if any of that threw).
 */
function backgroundScope(name: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) =>
    setTimeout(async () => {
      try {
        const h = relay.pushScope(name)
        await sleep(ms)
        h.end()
        resolve()
      } catch (error) {
        reject(error)
      }
    }, 5),
  )
}

test.serial('work a scope() callback leaves behind runs under that scope’s parent, never among the parent flow’s own scopes', async (t) => {
  const c = collect()
  const [session, poll, turn2] = [unique('session'), unique('poll'), unique('turn2')]
  let pollEnded: Promise<void> | undefined
  await relay.scope(session, async () => {
    await relay.scope(unique('turn1'), () => {
      // A poller the turn starts and does not wait for.
      pollEnded = backgroundScope(poll, 20)
    })
    await sleep(10)
    // The session goes on while the poller's scope is open.
    await relay.scope(turn2, () => sleep(1))
  })
  await t.notThrowsAsync(pollEnded!)
  const events = await c.flushed()
  const sessionUuid = startOf(events, session).uuid
  t.is(startOf(events, poll).parent_uuid, sessionUuid)
  t.is(startOf(events, turn2).parent_uuid, sessionUuid, 'not under the poller')
  c.stop()
})

test.serial('work a tool leaves behind runs under the tool’s caller, never among or under the caller’s later scopes', async (t) => {
  const c = collect()
  const agent = unique('agent')
  let lateEnded: Promise<void> | undefined
  await relay.scope(agent, async () => {
    await relay.toolCall(unique('tool'), {}, () => {
      lateEnded = backgroundScope('late', 30)
      return 1
    })
    const next = relay.pushScope('next-step')
    await sleep(15)
    // The late scope is open, but not on this flow's stack.
    t.notThrows(() => next.end())
  })
  await t.notThrowsAsync(lateEnded!)
  const events = await c.flushed()
  t.is(startOf(events, 'late').parent_uuid, startOf(events, agent).uuid, 'not under next-step')
  c.stop()
})

test.serial('late work sees the scope it started under as the handle its opener holds, and can end it', async (t) => {
  const request = relay.pushScope(unique('request'))
  const seen = await new Promise<relay.ScopeHandle>((resolve) => {
    void relay.scope(unique('step'), () => {
      setTimeout(() => resolve(relay.currentScope()), 5)
    })
  })
  t.is(seen, request)
  t.notThrows(() => seen.end())
  t.true(request.ended)
})

test.serial('concurrent scope() branches that await get their own parents and never pop each other', async (t) => {
  const root = relay.pushScope(unique('root'))
  const seen: Array<[string, string | undefined, string]> = []
  await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      relay.scope(`branch-${i}`, async (branch) => {
        await sleep(i % 3)
        await relay.scope(`leaf-${i}`, async (leaf) => {
          await sleep((7 * i) % 4)
          seen.push([`leaf-${i}`, leaf.parentUuid, branch.uuid])
        })
        seen.push([`branch-${i}`, branch.parentUuid, root.uuid])
      }),
    ),
  )
  t.is(seen.length, 100)
  for (const [name, parent, expected] of seen) t.is(parent, expected, name)
  // The surrounding stack is untouched by the branches.
  t.is(relay.currentScope().uuid, root.uuid)
  root.end()
})

test.serial('an explicit stack isolates a flow from the current one', (t) => {
  const stack = relay.createScopeStack()
  const outer = relay.pushScope(unique('outside'))
  const inside = relay.withScopeStack(stack, () => {
    const s = relay.pushScope(unique('inside'))
    t.is(relay.currentScopeStack(), stack)
    t.is(stack.depth, 1)
    return s
  })
  t.not(inside.parentUuid, outer.uuid)
  t.is(relay.currentScope().uuid, outer.uuid)
  relay.withScopeStack(stack, () => inside.end())
  t.is(stack.depth, 0)
  outer.end()
})

test.serial('marks are parented to the current scope and carry their data', async (t) => {
  const c = collect()
  const name = unique('mark')
  const holder = relay.pushScope(unique('holder'))
  relay.mark(name, { data: { step: 1 }, dataSchema: { name: 'plan', version: '1' }, category: 'custom' })
  holder.end()
  const events = await c.flushed()
  const m = events.find((e) => e.name === name)
  t.is(m?.kind, 'mark')
  t.is(m?.parent_uuid, holder.uuid)
  t.deepEqual(m?.data, { step: 1 })
  t.deepEqual(m?.data_schema, { name: 'plan', version: '1' })
  t.is(m?.category, 'custom')
  c.stop()
})

test.serial('mark data that is a string with a lone surrogate arrives with U+FFFD, as native strings do', async (t) => {
  const c = collect()
  const name = unique('surrogate')
  relay.mark(name, { data: 'cut \ud83d' })
  const m = (await c.flushed()).find((e) => e.name === name)
  t.is(m?.data, 'cut \ufffd')
  c.stop()
})

test.serial('a mark checks its options whether or not anyone listens', (t) => {
  const badOptions = [
    { typo: 1 },
    { parent: 42 },
    { category: 5 },
    { dataSchema: { name: 'a', version: '1', verison: '2' } },
    { dataSchema: { name: 'a' } },
  ]
  for (const bad of badOptions) {
    const error = t.throws(() => relay.mark(unique('unheard'), bad as never))
    t.is((error as { code?: string }).code, 'ERR_RELAY_INVALID_ARGUMENT')
  }
  // Event metadata is an object, as the event type says.
  const sub = relay.subscribe(unique('listener'), () => {})
  for (const metadata of ['text', [1], 5]) {
    t.throws(() => relay.mark(unique('heard'), { metadata } as never), { code: 'ERR_RELAY_INVALID_ARGUMENT' } as never)
  }
  sub.dispose()
})

test.serial('a mark with dataSchema null is a mark without one', async (t) => {
  const c = collect()
  const name = unique('null-schema')
  relay.mark(name, { data: 1, dataSchema: null as never })
  const events = await c.flushed()
  const mark = events.find((e) => e.kind === 'mark' && e.name === name)
  t.is(mark?.data, 1)
  t.is(mark?.data_schema ?? null, null)
  c.stop()
})

test('bad scope arguments are TypeErrors with the ERR_RELAY_INVALID_ARGUMENT code', (t) => {
  for (const bad of [() => relay.pushScope(''), () => relay.pushScope('x', { typo: 1 } as never), () => relay.pushScope('x', { type: 'robot' as never })]) {
    const error = t.throws(bad, { instanceOf: TypeError })
    t.is((error as { code?: string }).code, 'ERR_RELAY_INVALID_ARGUMENT')
    t.true(error instanceof relay.InvalidArgumentError)
    t.true(error instanceof relay.RelayError)
  }
  // Values a message cannot simply interpolate (a template literal throws
  // on a Symbol, String() on an object without toString).
  for (const type of [Symbol('agent'), Object.create(null), 10n]) {
    const error = t.throws(() => relay.pushScope('x', { type: type as never }), { instanceOf: relay.InvalidArgumentError })
    t.regex(error?.message ?? '', /unknown scope type/)
  }
  const cyclic: Record<string, unknown> = {}
  cyclic.self = cyclic
  const error = t.throws(() => relay.pushScope('cyclic', { input: cyclic as never }))
  t.is((error as { code?: string }).code, 'ERR_RELAY_INVALID_ARGUMENT')
  t.regex(error?.message ?? '', /circular/)
})

test.serial('a scope ended through another handle reads as ended, and disposing it does nothing', (t) => {
  const before = relay.currentScope().uuid
  const handle = relay.pushScope(unique('ended-elsewhere'))
  relay.currentScope().end()
  t.true(handle.ended)
  t.notThrows(() => handle[Symbol.dispose]())
  t.is(relay.currentScope().uuid, before)
})

test.serial('scope() whose fn ended the scope itself, through any handle, returns normally', (t) => {
  const before = relay.currentScope().uuid
  t.is(relay.scope(unique('self-ended'), () => {
    relay.currentScope().end()
    return 'fine'
  }), 'fine')
  t.is(relay.scope(unique('self-ended-same-handle'), (s) => {
    s.end()
    return 'also fine'
  }), 'also fine')
  t.is(relay.currentScope().uuid, before)
})

/**
 * RSS growth (MB) of a fresh process over rounds 2 to 5 of `round` (source
 * run with `relay` and `i` in scope, 'count' times a round), each round
 * followed by garbage collection: a leak grows linearly, a cache plateaus.
 */
function rssGrowth(t: ExecutionContext, count: number, round: string): number {
  const run = runNode(
    `
    import * as relay from ${JSON.stringify(pathToFileURL(`${repoRoot}/index.mjs`).href)}
    const rss = []
    for (let r = 0; r < 5; r++) {
      for (let i = 0; i < ${count}; i++) {
        ${round}
      }
      for (let i = 0; i < 3; i++) {
        globalThis.gc()
        await new Promise((resolve) => setTimeout(resolve, 30))
      }
      rss.push(process.memoryUsage().rss)
    }
    console.log((rss[4] - rss[1]) / 2 ** 20)
    `,
    repoRoot,
    ['--expose-gc'],
  )
  t.is(run.status, 0, run.stderr)
  return Number(run.stdout.trim())
}

test('scopes ended through another handle leave nothing behind', (t) => {
  // pushScope() keeps its scope in a native table until the scope ends; a
  // scope ended through currentScope() (or ended for you when a call's
  // stack is released) must leave that table too. Before, every scope
  // kept ~400 bytes for the life of the process (60 MB over these rounds).
  const growth = rssGrowth(
    t,
    50000,
    `const h = relay.pushScope('x')
    relay.currentScope().end()
    if (!h.ended) throw new Error('the pushed handle does not see the end')`,
  )
  t.true(growth < 20, `RSS grew ${growth.toFixed(1)} MB over three rounds of 50,000 scopes`)
})

test('a scope stack dropped with scopes still open frees them and the data they were opened with', (t) => {
  // A request handler with its own stack that throws past its end().
  const growth = rssGrowth(
    t,
    10000,
    `relay.withScopeStack(relay.createScopeStack(), () => relay.pushScope('request', { data: { blob: 'x'.repeat(4096) } }))`,
  )
  // Kept, they would be 4 KB each: about 120 MB over these three rounds.
  t.true(growth < 30, `RSS grew ${growth.toFixed(1)} MB over three rounds of 10,000 dropped stacks`)
})

test('scopes late work leaves open go when its fork is collected', (t) => {
  const growth = rssGrowth(
    t,
    10000,
    `relay.scope('step', () => {
      setTimeout(() => relay.pushScope('late', { data: { blob: 'x'.repeat(4096) } }), 0)
    })`,
  )
  // Kept, they would be 4 KB each: about 120 MB over these three rounds.
  t.true(growth < 30, `RSS grew ${growth.toFixed(1)} MB over three rounds of 10,000 forks`)
})

test.serial('currentScope() gives back the handle pushScope() returned, so ending it there keeps that handle whole', async (t) => {
  const h = relay.pushScope(unique('mine'))
  t.is(relay.currentScope(), h)
  relay.currentScope().end()
  t.true(h.ended)
  t.regex(h.uuid, /^[0-9a-f-]{36}$/, 'its uuid is still readable')
  t.notThrows(() => relay.mark(unique('after'), { parent: h }))

  // Scopes a callback leaves open are ended through the handles it holds.
  let left: relay.ScopeHandle | undefined
  await relay.toolCall(unique('t'), {}, () => {
    left = relay.pushScope(unique('left-open'))
    return 1
  })
  t.true(left!.ended)
  t.regex(left!.uuid, /^[0-9a-f-]{36}$/)
})
