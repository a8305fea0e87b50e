import test from 'ava'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

import * as relay from '../index.mjs'
import type { Diagnostic, Family, PluginDocument, PolicyLevel } from '../index.mjs'
import { collect, unique } from './relay-support.js'

// The plugin host is process-wide: every test runs alone and clears what it
// activated.

const FAMILIES: (Family | 'subscriber')[] = [
  'tool_conditional_execution',
  'tool_request_intercept',
  'tool_sanitize_request',
  'tool_sanitize_response',
  'tool_execution_intercept',
  'llm_conditional_execution',
  'llm_request_intercept',
  'llm_sanitize_request',
  'llm_sanitize_response',
  'llm_execution_intercept',
  'llm_stream_execution_intercept',
  'subscriber',
]

/** Every global registration, by family. */
function listing(): Record<string, string[]> {
  return Object.fromEntries(FAMILIES.map((f) => [f, relay.registrations(f)]))
}

const headers = (h: Record<string, string>): PluginDocument => ({
  version: 1,
  components: [{ kind: 'header-injection', config: { headers: h } }],
})

const codes = (ds: Diagnostic[]) => ds.map((d) => `${d.level}:${d.code}`)

test.afterEach.always(() => {
  relay.plugins.clear()
})

test.serial('a valid document validates with no diagnostics', (t) => {
  t.deepEqual(relay.plugins.validate(headers({ 'x-team': 'agents' })), { diagnostics: [] })
})

test.serial('the built-in kinds and the observability kind are listed with descriptions', (t) => {
  const kinds = relay.plugins.kinds()
  for (const k of ['header-injection', 'redaction', 'policy', 'observability']) {
    const found = kinds.find((x) => x.kind === k)
    t.truthy(found, k)
    t.true((found?.description.length ?? 0) > 0)
  }
})

for (const [level, expected] of [
  ['ignore', []],
  ['warn', ['warning:plugin.unknown_component']],
  ['error', ['error:plugin.unknown_component']],
] as [PolicyLevel, string[]][]) {
  test.serial(`an unknown component under policy '${level}' gives ${expected.length ? expected[0] : 'no diagnostic'}`, (t) => {
    const report = relay.plugins.validate({
      version: 1,
      components: [{ kind: 'no-such-kind', config: {} }],
      policy: { unknown_component: level },
    })
    t.deepEqual(codes(report.diagnostics), expected)
    if (expected.length) t.is(report.diagnostics[0]?.field, 'kind')
  })
}

for (const [level, expected] of [
  ['ignore', []],
  ['warn', ['warning:plugin.unknown_field']],
  ['error', ['error:plugin.unknown_field']],
] as [PolicyLevel, string[]][]) {
  test.serial(`an unknown field under policy '${level}' gives ${expected.length ? expected[0] : 'no diagnostic'}`, (t) => {
    const report = relay.plugins.validate({
      version: 1,
      components: [{ kind: 'header-injection', config: { headers: { a: 'b' }, colour: 'red' } }],
      policy: { unknown_field: level },
    })
    t.deepEqual(codes(report.diagnostics), expected)
    if (expected.length) {
      t.like(report.diagnostics[0], { component: 0, kind: 'header-injection', field: 'config.colour' })
    }
  })
}

test.serial('a missing required field gives an actionable diagnostic naming the field', (t) => {
  const [d, ...rest] = relay.plugins.validate({ version: 1, components: [{ kind: 'header-injection', config: {} }] }).diagnostics
  t.deepEqual(rest, [])
  t.like(d, { level: 'error', code: 'plugin.missing_field', component: 0, kind: 'header-injection', field: 'config.headers' })
  t.regex(d?.message ?? '', /headers.*object of header name/)
})

test.serial('a failing register hook rolls the whole activation back, leaving the registry exactly as it was', async (t) => {
  const failing = relay.plugins.registerKind({
    kind: unique('half-done'),
    register(_config, ctx) {
      ctx.register('tool_request_intercept', 'first', (args) => args)
      ctx.subscribe('watcher', () => {})
      throw new Error('the database is down')
    },
  })
  const before = listing()
  const error = await t.throwsAsync(
    relay.plugins.initialize({
      version: 1,
      components: [{ kind: 'header-injection', config: { headers: { a: 'b' } } }, { kind: failing.kind }],
    }),
  )
  t.true(error instanceof relay.RelayError)
  t.is((error as relay.RelayError).code, 'ERR_RELAY_CALLBACK_FAILED')
  t.regex(error?.message ?? '', /the database is down/)
  t.is((error?.cause as Error).message, 'the database is down')
  t.deepEqual(listing(), before)
  t.is(relay.plugins.activeReport(), null)
  failing.dispose()
})

test.serial('a duplicate name inside one component fails with ERR_RELAY_ALREADY_EXISTS and installs nothing', async (t) => {
  const twice = relay.plugins.registerKind({
    kind: unique('twice'),
    register(_config, ctx) {
      ctx.register('llm_request_intercept', 'same', (r) => r)
      ctx.register('llm_request_intercept', 'same', (r) => r)
    },
  })
  const before = listing()
  await t.throwsAsync(relay.plugins.initialize({ version: 1, components: [{ kind: twice.kind }] }), {
    code: 'ERR_RELAY_ALREADY_EXISTS',
  })
  t.deepEqual(listing(), before)
  twice.dispose()
})

test.serial('two components of one kind coexist under qualified names and both run', async (t) => {
  const report = await relay.plugins.initialize({
    version: 1,
    components: [
      { kind: 'header-injection', config: { headers: { 'x-a': '1' } } },
      { kind: 'header-injection', config: { headers: { 'x-b': '2' } } },
    ],
  })
  t.deepEqual(
    report.components.map((c) => c.registrations),
    [[{ family: 'llm_request_intercept', name: 'header-injection#1/inject' }], [{ family: 'llm_request_intercept', name: 'header-injection#2/inject' }]],
  )
  const seen = await relay.llmCall('chat', { content: 'hi' }, (request) => request.headers)
  t.deepEqual(seen, { 'x-a': '1', 'x-b': '2' })
})

test.serial('a disabled component is validated but installs nothing', async (t) => {
  const before = listing()
  const report = await relay.plugins.initialize({
    version: 1,
    components: [{ kind: 'header-injection', enabled: false, config: { headers: { a: 'b' } } }],
  })
  t.like(report.components[0], { kind: 'header-injection', enabled: false, registrations: [] })
  t.deepEqual(listing(), before)
  t.deepEqual(codes(relay.plugins.validate({ version: 1, components: [{ kind: 'header-injection', enabled: false }] }).diagnostics), [
    'error:plugin.missing_field',
  ])
})

test.serial('a failed re-initialize keeps the previous configuration active and reports the diagnostics', async (t) => {
  const first = await relay.plugins.initialize(headers({ 'x-first': 'yes' }))
  const active = listing()
  const error = await t.throwsAsync(
    relay.plugins.initialize({ version: 1, components: [{ kind: 'header-injection', config: { headers: 'not an object' } }] }),
    { code: 'ERR_RELAY_INVALID_ARGUMENT' },
  )
  t.deepEqual(codes((error as relay.PluginConfigError).diagnostics ?? []), ['error:plugin.invalid_type'])
  t.deepEqual(relay.plugins.activeReport(), first)
  t.deepEqual(listing(), active)
  t.deepEqual(await relay.llmCall('chat', { content: 'hi' }, (r) => r.headers), { 'x-first': 'yes' })
})

test.serial('initialize replaces the active configuration and clear removes everything', async (t) => {
  const before = listing()
  await relay.plugins.initialize(headers({ 'x-one': '1' }))
  await relay.plugins.initialize(headers({ 'x-two': '2' }))
  t.deepEqual(await relay.llmCall('chat', { content: 'hi' }, (r) => r.headers), { 'x-two': '2' })
  t.true(relay.plugins.clear())
  t.deepEqual(listing(), before)
  t.is(relay.plugins.activeReport(), null)
  t.false(relay.plugins.clear())
  t.deepEqual(await relay.llmCall('chat', { content: 'hi' }, (r) => r.headers), {})
})

test.serial('a JS plugin kind validates through its check and installs middleware, subscribers and teardown', async (t) => {
  const teardowns: string[] = []
  let lent: relay.PluginContext | undefined
  const kind = relay.plugins.registerKind({
    kind: unique('audit'),
    description: 'tags tool calls and counts events',
    validate(config, check) {
      check.knownFields('', ['tag', 'level'])
      check.require('tag', 'the tag to add to tool arguments')
      const level = check.typed('level', 'a string', (v) => typeof v === 'string')
      if (level !== undefined && level !== 'info') check.unsupported('level', `level '${String(level)}' is not supported (only 'info')`)
    },
    register(config, ctx) {
      lent = ctx
      ctx.register('tool_request_intercept', 'tag', (args: object) => ({ ...args, tag: String(config.tag) }), { priority: 5 })
      ctx.subscribe('count', (event) => {
        if (event.kind === 'scope' && event.scope_category === 'start') seen.push(event.name)
      })
      ctx.onTeardown(() => teardowns.push(ctx.qualify('tag')))
    },
  })
  const seen: string[] = []
  t.true(relay.plugins.kinds().some((k) => k.kind === kind.kind && k.description === 'tags tool calls and counts events'))

  const bad = relay.plugins.validate({
    version: 1,
    components: [{ kind: kind.kind, config: { level: 3, extra: true } }],
    policy: { unknown_field: 'error' },
  })
  t.deepEqual(codes(bad.diagnostics), ['error:plugin.unknown_field', 'error:plugin.missing_field', 'error:plugin.invalid_type'])
  t.deepEqual(
    bad.diagnostics.map((d) => d.field),
    ['config.extra', 'config.tag', 'config.level'],
  )
  const unsupported = relay.plugins.validate({
    version: 1,
    components: [{ kind: kind.kind, config: { tag: 'x', level: 'debug' } }],
    policy: { unsupported_value: 'warn' },
  })
  t.deepEqual(codes(unsupported.diagnostics), ['warning:plugin.unsupported_value'])

  const report = await relay.plugins.initialize({ version: 1, components: [{ kind: kind.kind, config: { tag: 'audited' } }] })
  const prefix = `${kind.kind}#1/`
  t.deepEqual(report.components[0]?.registrations, [
    { family: 'tool_request_intercept', name: `${prefix}tag` },
    { family: 'subscriber', name: `${prefix}count` },
  ])
  t.deepEqual(await relay.toolCall('echo', { x: 1 }, (args) => args), { x: 1, tag: 'audited' })
  await relay.flush()
  t.deepEqual(seen, ['echo'])
  t.throws(() => lent?.register('tool_request_intercept', 'late', (a) => a), { code: 'ERR_RELAY_INVALID_ARGUMENT' })

  relay.plugins.clear()
  t.deepEqual(teardowns, [`${prefix}tag`])
  t.deepEqual(await relay.toolCall('echo', { x: 1 }, (args) => args), { x: 1 })
  t.true(kind.dispose())
  t.false(relay.plugins.kinds().some((k) => k.kind === kind.kind))
})

test.serial('a validator that throws is reported as plugin.validator_failed, not thrown', (t) => {
  const kind = relay.plugins.registerKind({
    kind: unique('broken'),
    validate() {
      throw new TypeError('oops')
    },
    register() {},
  })
  const [d] = relay.plugins.validate({ version: 1, components: [{ kind: kind.kind }] }).diagnostics
  t.like(d, { level: 'error', code: 'plugin.validator_failed', kind: kind.kind })
  t.regex(d?.message ?? '', /oops/)
  kind.dispose()
  // A single finding (not an array) must not validate clean either.
  const single = relay.plugins.registerKind({
    kind: unique('single'),
    validate: () => ({ level: 'error', field: 'x', message: 'bad x' }) as never,
    register() {},
  })
  const [s] = relay.plugins.validate({ version: 1, components: [{ kind: single.kind }] }).diagnostics
  t.like(s, { level: 'error', code: 'plugin.validator_failed', kind: single.kind })
  single.dispose()
  // In a list, a string is a finding's message; anything else without one
  // is the validator's mistake, not an empty message.
  const listed = relay.plugins.registerKind({
    kind: unique('listed'),
    validate: () => ['config needs foo', null as never],
    register() {},
  })
  const found = relay.plugins.validate({ version: 1, components: [{ kind: listed.kind }] }).diagnostics
  t.like(found[0], { level: 'error', code: `${listed.kind}.invalid_config`, message: 'config needs foo' })
  t.like(found[1], { level: 'error', code: 'plugin.validator_failed' })
  listed.dispose()
})

test.serial('registering a kind twice fails with ERR_RELAY_ALREADY_EXISTS', (t) => {
  t.throws(() => relay.plugins.registerKind({ kind: 'redaction', register() {} }), { code: 'ERR_RELAY_ALREADY_EXISTS' })
})

// The "header plugin" of the plugin guide (Build Plugins → Register Plugin
// Behavior), with this binding's names: a kind whose validate returns
// findings and whose register installs an LLM request intercept.
function registerHeaderPlugin(kind: string) {
  return relay.plugins.registerKind({
    kind,
    validate(config) {
      if (!('header_name' in config) || !('value' in config)) {
        return [{ level: 'error', code: 'header-plugin.invalid_config', message: 'header_name and value are required' }]
      }
      return []
    },
    register(config, ctx) {
      ctx.register(
        'llm_request_intercept',
        'inject-header',
        (request) => ({ headers: { ...request.headers, [String(config.header_name)]: config.value as string }, content: request.content }),
        { priority: 100, breakChain: false },
      )
    },
  })
}

test.serial('the guide’s header plugin works from a document object and from TOML and JSON files', async (t) => {
  const kind = registerHeaderPlugin(unique('header-plugin'))
  const document: PluginDocument = {
    version: 1,
    components: [{ kind: kind.kind, enabled: true, config: { header_name: 'x-tenant', value: 'tenant-a' } }],
    policy: { unknown_component: 'warn', unknown_field: 'warn', unsupported_value: 'error' },
  }
  t.deepEqual(relay.plugins.validate(document).diagnostics, [])
  const invalid = relay.plugins.validate({ version: 1, components: [{ kind: kind.kind, config: { header_name: 'x' } }] })
  t.like(invalid.diagnostics[0], { level: 'error', code: 'header-plugin.invalid_config', message: 'header_name and value are required' })

  const active = await relay.plugins.initialize(document)
  t.deepEqual(active.components[0]?.registrations, [{ family: 'llm_request_intercept', name: `${kind.kind}#1/inject-header` }])
  t.deepEqual(await relay.llmCall('chat', { content: 'hi' }, (r) => r.headers), { 'x-tenant': 'tenant-a' })

  const dir = mkdtempSync(path.join(tmpdir(), 'relay-plugins-'))
  const toml = path.join(dir, 'plugins.toml')
  writeFileSync(
    toml,
    `version = 1\n\n[[components]]\nkind = "${kind.kind}"\nconfig = { header_name = "x-tenant", value = "tenant-b" }\n`,
  )
  await relay.plugins.initialize(toml)
  t.deepEqual(await relay.llmCall('chat', { content: 'hi' }, (r) => r.headers), { 'x-tenant': 'tenant-b' })

  const json = path.join(dir, 'plugins.json')
  writeFileSync(json, JSON.stringify({ ...document, components: [{ kind: kind.kind, config: { header_name: 'x-tenant', value: 'tenant-c' } }] }))
  t.deepEqual(relay.plugins.validate(json).diagnostics, [])
  await relay.plugins.initialize(json)
  t.deepEqual(await relay.llmCall('chat', { content: 'hi' }, (r) => r.headers), { 'x-tenant': 'tenant-c' })

  t.throws(() => relay.plugins.validate(path.join(dir, 'missing.toml')), { code: 'ERR_RELAY_NOT_FOUND' })
  relay.plugins.clear()
  kind.dispose()
})

test.serial('plugin middleware emits events like any other (redaction scrubs an email from the trace)', async (t) => {
  const c = collect()
  await relay.plugins.initialize({ version: 1, components: [{ kind: 'redaction', config: { patterns: ['email'] } }] })
  const result = await relay.toolCall('lookup', { who: 'ada' }, () => ({ email: 'ada@example.com' }))
  t.deepEqual(result, { email: 'ada@example.com' })
  const events = await c.flushed()
  const end = events.find((e) => e.kind === 'scope' && e.name === 'lookup' && e.scope_category === 'end')
  t.deepEqual(end?.data, { email: '[REDACTED]' })
  c.stop()
})

test.serial('a plugin subscriber removed in the middle of a batch receives no event after its removal', async (t) => {
  const burst = unique('plugin-burst')
  const seen: Record<string, number[]> = { cleared: [], unsubscribed: [] }
  const kind = relay.plugins.registerKind({
    kind: unique('counter'),
    register(config, ctx) {
      const label = String(config.label)
      const qualified = ctx.subscribe('count', (e) => {
        if (e.kind !== 'mark' || e.name !== burst) return
        const got = seen[label]!
        got.push((e.data as { i: number }).i)
        if (got.length === 3) {
          if (label === 'unsubscribed') relay.unsubscribe(qualified)
          else relay.plugins.clear()
        }
      })
    },
  })
  for (const label of ['unsubscribed', 'cleared']) {
    await relay.plugins.initialize({ version: 1, components: [{ kind: kind.kind, config: { label } }] })
    // One synchronous burst: the events arrive in one or a few batches.
    for (let i = 0; i < 100; i++) relay.mark(burst, { data: { i } })
    await relay.flush()
    relay.plugins.clear()
  }
  t.deepEqual(seen, { cleared: [0, 1, 2], unsubscribed: [0, 1, 2] })
  kind.dispose()
})

test.serial('after a failed re-initialize, unsubscribe() still stops the active plugin subscriber mid-batch', async (t) => {
  const burst = unique('after-failed')
  const got: number[] = []
  const kind = relay.plugins.registerKind({
    kind: unique('fragile'),
    register(config, ctx) {
      ctx.subscribe('sub', (e) => {
        if (e.kind === 'mark' && e.name === burst) got.push((e.data as { i: number }).i)
      })
      if (config.fail) throw new Error('boom')
    },
  })
  const doc = (fail: boolean) => ({ version: 1, components: [{ kind: kind.kind, config: { fail } }] })
  await relay.plugins.initialize(doc(false))
  await t.throwsAsync(relay.plugins.initialize(doc(true)))
  const qualified = `${kind.kind}#1/sub`
  const killer = relay.subscribe(
    unique('killer'),
    (e) => {
      if (e.kind === 'mark' && e.name === burst && (e.data as { i: number }).i === 0) relay.unsubscribe(qualified)
    },
    { priority: -10 },
  )
  for (let i = 0; i < 4; i++) relay.mark(burst, { data: { i } })
  await relay.flush()
  killer.dispose()
  // Removed while the killer handles mark 0: the plugin subscriber gets
  // no later mark (mark 0 itself only if it came in a batch of its own
  // that reached the plugin subscriber first).
  t.deepEqual(
    got.filter((i) => i > 0),
    [],
  )
  kind.dispose()
})

test.serial('clear() leaves a subscriber that took over the name of a plugin subscriber removed before', async (t) => {
  const kind = relay.plugins.registerKind({
    kind: unique('named'),
    register(_config, ctx) {
      ctx.subscribe('sub', () => {})
    },
  })
  await relay.plugins.initialize({ version: 1, components: [{ kind: kind.kind, config: {} }] })
  const qualified = `${kind.kind}#1/sub`
  t.true(relay.unsubscribe(qualified))
  const mine: string[] = []
  const name = unique('still-mine')
  const sub = relay.subscribe(qualified, (e) => {
    if (e.kind === 'mark') mine.push(e.name)
  })
  relay.plugins.clear()
  t.true(relay.registrations('subscriber').includes(qualified))
  relay.mark(name)
  await relay.flush()
  t.deepEqual(mine, [name])
  sub.dispose()
  kind.dispose()
})
