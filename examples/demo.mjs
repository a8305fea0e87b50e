// The nemo-relay demo: `npm run demo`.
//
// A small research agent with a mock LLM and mock tools (no network) runs
// through the runtime:
//
// * an agent scope with nested scopes (plan → act → answer), opened with
//   relay.scope(), which keeps the right parent across async code;
// * managed tool calls: one rewritten by a request intercept, one blocked by
//   a conditional guardrail (the GuardrailRejectedError is handled);
// * a managed LLM call and a streaming LLM call;
// * plugins from one configuration document: `redaction` scrubs an email
//   address from everything emitted, `observability` writes the trace as
//   ATOF JSON Lines and ATIF trajectories;
// * a subscriber that prints the scope tree as it unfolds.
//
// Output goes to ./relay-output/ (set NEMO_RELAY_OUTPUT to change it).

import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'

import * as relay from 'nemo-relay'

const outputDir = path.resolve(process.env.NEMO_RELAY_OUTPUT ?? 'relay-output')
const atofPath = path.join(outputDir, 'events.jsonl')
const atifDir = path.join(outputDir, 'trajectories')

// ----------------------------------------------------------- the trace ---

// Depth of every open scope, by uuid: a scope is one deeper than its parent
// (top-level scopes hang off their stack's implicit root, which is unknown).
const depth = new Map()
function printEvent(e) {
  if (e.kind === 'scope' && e.scope_category === 'start') {
    const d = (depth.get(e.parent_uuid) ?? -1) + 1
    depth.set(e.uuid, d)
    console.log(`${'  '.repeat(d)}▶ ${e.category} ${e.name}`)
  } else if (e.kind === 'scope') {
    const d = depth.get(e.uuid) ?? 0
    depth.delete(e.uuid)
    const status = e.metadata?.['otel.status_code'] ?? (e.metadata?.['error.type'] ? 'ERROR' : 'OK')
    console.log(`${'  '.repeat(d)}◀ ${e.name} (${status})`)
  } else {
    const d = (depth.get(e.parent_uuid) ?? -1) + 1
    const detail = e.name === 'llm.chunk' ? JSON.stringify(e.data) : e.category ?? ''
    console.log(`${'  '.repeat(d)}• ${e.name} ${detail}`)
  }
}

// ---------------------------------------------------- mock model, tools ---

/** A "model" that plans two tool calls, then answers. */
function mockLlm(request) {
  const last = request.content.messages.at(-1)
  if (last.role === 'user') {
    return {
      role: 'assistant',
      tool_calls: [
        { id: 'call_1', name: 'get_weather', arguments: { city: 'Lisbon' } },
        { id: 'call_2', name: 'lookup_contact', arguments: { name: 'Ada' } },
        { id: 'call_3', name: 'delete_file', arguments: { path: '/tmp/notes.txt' } },
      ],
    }
  }
  return { role: 'assistant', content: 'Done.' }
}

/** A streaming "model": the answer from the tool results, a few words per chunk. */
async function* mockStream(request) {
  const result = (name) => JSON.parse(request.content.messages.find((m) => m.role === 'tool' && m.name === name).content)
  const words = `Lisbon is ${result('get_weather').temperature} degrees; I emailed ${result('lookup_contact').email}.`.split(' ')
  for (const word of words) {
    await new Promise((resolve) => setTimeout(resolve, 5))
    yield { delta: `${word} ` }
  }
}

const tools = {
  get_weather: (args) => ({ city: args.city, temperature: args.units === 'metric' ? 21 : 70, units: args.units }),
  lookup_contact: (args) => ({ name: args.name, email: 'ada.lovelace@example.com' }),
  delete_file: () => ({ deleted: true }),
}

// ----------------------------------------------------------- the agent ---

async function agent(question) {
  return relay.scope('research-agent', { type: 'agent', input: { question } }, async () => {
    const messages = [{ role: 'user', content: question }]
    const plan = await relay.scope('plan', () =>
      relay.llmCall('chat', { headers: { authorization: 'Bearer sk-demo-not-a-secret' }, content: { messages } }, mockLlm, {
        modelName: 'mock-gpt',
      }),
    )

    const results = {}
    await relay.scope('act', async () => {
      for (const call of plan.tool_calls) {
        try {
          results[call.name] = await relay.toolCall(call.name, call.arguments, tools[call.name], { toolCallId: call.id })
        } catch (error) {
          if (!(error instanceof relay.GuardrailRejectedError)) throw error
          console.log(`  ✋ ${call.name} blocked by guardrail '${error.guardrail}': ${error.reason}`)
          results[call.name] = { blocked: error.reason }
        }
      }
    })

    // The conversation goes on: the model's tool calls, then their results.
    messages.push(plan)
    for (const call of plan.tool_calls) {
      messages.push({ role: 'tool', tool_call_id: call.id, name: call.name, content: JSON.stringify(results[call.name]) })
    }

    return relay.scope('answer', async () => {
      const stream = await relay.llmStreamCall(
        'chat',
        { content: { messages } },
        mockStream,
        { modelName: 'mock-gpt' },
      )
      let text = ''
      for await (const chunk of stream) text += chunk.delta
      relay.mark('answer.ready', { data: { chars: text.length } })
      return text.trim()
    })
  })
}

// ---------------------------------------------------------------- main ---

const trace = relay.subscribe('demo.trace', printEvent)

// Behaviour from a configuration document (the same shape as plugins.toml).
const report = await relay.plugins.initialize({
  version: 1,
  components: [
    { kind: 'redaction', config: { patterns: ['email'], fields: ['authorization'] } },
    {
      kind: 'observability',
      config: { atof: { path: atofPath, mode: 'overwrite' }, atif: { dir: atifDir } },
    },
  ],
})
for (const c of report.components) {
  console.log(`plugin ${c.kind}: ${c.registrations.map((r) => r.name).join(', ')}`)
}

// Middleware registered in code: default units for the weather tool, and a
// guardrail that keeps the agent from deleting files.
const units = relay.register('tool_request_intercept', 'default-units', (args, ctx) =>
  ctx.name === 'get_weather' ? { units: 'metric', ...args } : args,
)
const noDeletes = relay.register('tool_conditional_execution', 'no-deletes', (_args, ctx) =>
  ctx.name === 'delete_file' ? 'deleting files needs a human' : undefined,
)

console.log('')
const answer = await agent('What is the weather in Lisbon, and can you email Ada about it?')
await relay.flush() // every event printed before the summary
console.log(`\nanswer: ${answer}`)

units.dispose()
noDeletes.dispose()
trace.dispose()
// Clearing the plugins tears the exporters down: queued events are written
// and the files closed.
relay.plugins.clear()

const lines = readFileSync(atofPath, 'utf8').trim().split('\n')
const redacted = !lines.some((l) => l.includes('ada.lovelace@example.com'))
console.log(`\nATOF events:       ${atofPath} (${lines.length} events; email redacted: ${redacted ? 'yes' : 'NO'})`)
for (const f of readdirSync(atifDir)) {
  const t = JSON.parse(readFileSync(path.join(atifDir, f), 'utf8'))
  console.log(`ATIF trajectory:   ${path.join(atifDir, f)} (${t.schema_version}, ${t.steps.length} steps)`)
}
