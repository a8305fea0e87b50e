// The JS runner of the cross-language golden test: the scripted agent run of
// tests/golden/README.md, through the public JS API, compared (after the
// shared normalisation) with tests/golden/agent_run.jsonl.

import { readFileSync } from 'node:fs'

import test from 'ava'

import * as relay from '../index.mjs'
import type { Json, RelayEvent } from '../index.mjs'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** The README's two rules: number UUIDs by first appearance, blank timestamps. */
function normalize(events: unknown[]): unknown[] {
  const ids = new Map<string, string>()
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk)
    if (value !== null && typeof value === 'object') {
      const obj = value as Record<string, unknown>
      return Object.fromEntries(Object.keys(obj).sort().map((k) => [k, walk(obj[k])]))
    }
    if (typeof value === 'string' && UUID.test(value)) {
      if (!ids.has(value)) ids.set(value, `uuid-${ids.size}`)
      return ids.get(value)
    }
    return value
  }
  return events.map((e) => {
    const out = walk(e) as Record<string, unknown>
    if ('timestamp' in out) out.timestamp = 'ts'
    return out
  })
}

test('the scripted agent run produces the golden event stream', async (t) => {
  const collected: RelayEvent[] = []
  const registrations = [
    relay.subscribe('golden', (e) => {
      collected.push(e)
    }),
    relay.register('tool_request_intercept', 'add-trace', (args: Json) =>
      args !== null && typeof args === 'object' && !Array.isArray(args) ? { ...args, trace: true } : args,
    ),
    relay.register('tool_sanitize_request', 'redact-api-key', (args: Json) =>
      args !== null && typeof args === 'object' && !Array.isArray(args) && 'api_key' in args
        ? { ...args, api_key: '[REDACTED]' }
        : args,
    ),
    relay.register('tool_conditional_execution', 'no-rm', (args: { cmd?: unknown }, ctx) =>
      ctx.name === 'shell' && typeof args.cmd === 'string' && args.cmd.startsWith('rm') ? 'destructive command' : undefined,
    ),
  ]

  let searchReceived: unknown
  let shellRan = false
  await relay.withScopeStack(relay.createScopeStack(), async () => {
    const agent = relay.pushScope('agent', { type: 'agent', input: { task: 'find docs' } })
    relay.mark('plan', { data: { step: 1 } })
    await relay.toolCall(
      'search',
      { query: 'nemo relay', api_key: 'sk-123' },
      (args: { query: string; trace: boolean }) => {
        searchReceived = args
        return { hits: [args.query], traced: args.trace }
      },
      { toolCallId: 'call-1' },
    )
    await relay.llmCall(
      'chat',
      {
        headers: { authorization: 'Bearer sk-live', 'x-team': 'docs' },
        content: { messages: [{ role: 'user', content: 'summarize' }] },
      },
      () => ({ message: { role: 'assistant', content: 'summary' } }),
      { modelName: 'demo-model' },
    )
    await t.throwsAsync(relay.toolCall('shell', { cmd: 'rm -rf /' }, () => (shellRan = true)), {
      instanceOf: relay.GuardrailRejectedError,
    })
    relay.mark('done', { data: { ok: true } })
    agent.end({ output: { answer: 'summary' } })
  })
  await relay.flush()
  for (const r of registrations) r.dispose()

  t.deepEqual(searchReceived, { api_key: 'sk-123', query: 'nemo relay', trace: true })
  t.false(shellRan)
  const golden = readFileSync(new URL('../tests/golden/agent_run.jsonl', import.meta.url), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as unknown)
  const actual = normalize(collected)
  t.is(actual.length, golden.length)
  actual.forEach((event, i) => t.deepEqual(event, golden[i], `event ${i + 1}`))
})
