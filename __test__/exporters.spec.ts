import test from 'ava'
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

import * as relay from '../index.mjs'
import type { RelayEvent } from '../index.mjs'
import { collect, unique } from './relay-support.js'
import { repoRoot, runNode } from './support.js'

// Exporters subscribe to the process-wide runtime: one test at a time.

function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'relay-exporters-'))
}

test.serial('the ATOF file holds every emitted event, in order, once flush resolves', async (t) => {
  const file = path.join(tempDir(), 'events.jsonl')
  const c = collect()
  const atof = new relay.AtofExporter({ path: file, mode: 'overwrite' }).register({ name: unique('atof') })
  await relay.scope(unique('agent'), { type: 'agent' }, async () => {
    relay.mark('checkpoint', { data: { step: 1 } })
    await relay.toolCall('add', { a: 1, b: 2 }, (args: { a: number; b: number }) => args.a + args.b, { toolCallId: 'call_1' })
    await relay.llmCall('chat', { content: { prompt: 'hi' } }, () => ({ text: 'hello' }), { modelName: 'mock' })
  })
  await atof.flush()
  const emitted = await c.flushed()
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RelayEvent)
  t.deepEqual(atof.files(), [file])
  t.deepEqual(
    lines.map((e) => e.uuid + e.kind + e.name),
    emitted.map((e) => e.uuid + e.kind + e.name),
  )
  t.deepEqual(lines, emitted)
  t.is(atof.stats().events, lines.length)
  // Registered twice with one runtime, it would write every event twice.
  t.throws(() => atof.register({ name: unique('atof-again') }), { code: 'ERR_RELAY_ALREADY_EXISTS' } as never)
  await Promise.all([atof.shutdown(), atof.shutdown()]) // idempotent, also at once
  // A shut-down exporter writes nothing: it cannot subscribe again.
  t.throws(() => atof.register({ name: unique('atof-late') }), { code: 'ERR_RELAY_SHUT_DOWN', message: /this exporter has been shut down/ } as never)
  c.stop()
})

test.serial('an exporter removed with unsubscribe() can register again, and its shutdown leaves a newer subscriber of that name alone', async (t) => {
  const file = path.join(tempDir(), 'events.jsonl')
  const name = unique('atof')
  const atof = new relay.AtofExporter({ path: file, mode: 'overwrite' }).register({ name })
  t.true(relay.unsubscribe(name))
  const seen: string[] = []
  const newer = relay.subscribe(name, (e) => void seen.push(e.name))
  atof.register({ name: unique('atof-again') })
  relay.mark('before')
  await atof.shutdown()
  relay.mark('after')
  await relay.flush()
  t.deepEqual(seen, ['before', 'after'])
  t.deepEqual(readFileSync(file, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as RelayEvent).name), ['before'])
  newer.dispose()
})

test.serial('an ATIF export of a run with a tool call is an ATIF-v1.7 trajectory naming the call', async (t) => {
  const dir = tempDir()
  await using atif = new relay.AtifExporter({ dir, agentName: 'weather-agent' }).register({ name: unique('atif') })
  let session = ''
  await relay.scope('weather', { type: 'agent' }, async (agent) => {
    session = agent.uuid
    await relay.llmCall('chat', { content: 'weather?' }, () => ({ tool_calls: [{ id: 'call_7', name: 'get_weather' }] }))
    await relay.toolCall('get_weather', { city: 'Oslo' }, () => ({ temperature: -3 }), { toolCallId: 'call_7' })
  })
  await atif.flush()
  t.deepEqual(readdirSync(dir), [`${session}.json`])
  const written = JSON.parse(readFileSync(path.join(dir, `${session}.json`), 'utf8'))
  t.is(written.schema_version, 'ATIF-v1.7')
  t.is(written.session_id, session)
  t.is(written.agent.name, 'weather-agent')
  t.regex(JSON.stringify(written.steps), /get_weather/)
  t.regex(JSON.stringify(written.steps), /call_7/)
})

test.serial('a streamed answer reads in the trajectory like a unary one: its text and token counts', async (t) => {
  const atif = new relay.AtifExporter().register({ name: unique('atif') })
  await relay.scope('streamer', { type: 'agent' }, async () => {
    const stream = await relay.llmStreamCall('chat', { content: { messages: [{ role: 'user', content: 'hi' }] } }, async function* (): AsyncGenerator<relay.Json> {
      yield { model: 'gpt-4.1', choices: [{ index: 0, delta: { role: 'assistant', content: 'Hel' } }] }
      yield { choices: [{ index: 0, delta: { content: 'lo' }, finish_reason: 'stop' }] }
      yield { choices: [], usage: { prompt_tokens: 5, completion_tokens: 2 } }
    })
    for await (const _ of stream);
  })
  const answer = atif.export().steps.find((s) => s.source === 'agent')
  t.like(answer, { message: 'Hello', model_name: 'gpt-4.1', metrics: { prompt_tokens: 5, completion_tokens: 2 } })
  await atif.shutdown()
})

test.serial('export() returns the buffered trajectory and clear() forgets it', async (t) => {
  const atif = new relay.AtifExporter().register({ name: unique('atif') })
  await relay.scope('helper', { type: 'agent' }, () => relay.toolCall('noop', {}, () => null, { toolCallId: 'c1' }))
  const doc = atif.export()
  t.is(doc.schema_version, 'ATIF-v1.7')
  t.is(doc.agent.name, 'helper')
  t.is(atif.exportAll().length, 1)
  atif.clear()
  t.throws(() => atif.export(), { code: 'ERR_RELAY_EXPORT_FAILED' })
  await atif.shutdown()
})

test.serial('exporter options are checked: unknown keys, bad values and conflicting aliases throw InvalidArgumentError naming the option as written', (t) => {
  t.throws(() => new relay.AtofExporter({ pathh: 'x' } as never), { instanceOf: relay.InvalidArgumentError })
  t.throws(() => new relay.AtofExporter({ path: 'a/b.jsonl', outputDirectory: 'c' }), { code: 'ERR_RELAY_INVALID_ARGUMENT' })
  t.throws(() => new relay.AtofExporter({ outputDirectory: tempDir(), rotation: { maxBytes: 0 } }), {
    code: 'ERR_RELAY_INVALID_ARGUMENT',
    message: /rotation\.maxBytes: must be positive/,
  })
  t.throws(() => new relay.AtifExporter({ dir: tempDir(), filenameTemplate: 'fixed.json' }), { message: /filenameTemplate: must contain \{session_id\}/ })
  t.throws(() => new relay.OtlpExporter({ endpoint: 'not a url' }), { code: 'ERR_RELAY_INVALID_ARGUMENT', message: /endpoint/ })
})

test.serial('options that would silently mean "the working directory" or "no service" are refused', (t) => {
  const invalid = { code: 'ERR_RELAY_INVALID_ARGUMENT' }
  // An array is not an options object, even an empty one.
  t.throws(() => new relay.AtofExporter([] as never), { ...invalid, message: /not an array/ })
  t.throws(() => new relay.AtifExporter([] as never), { ...invalid, message: /not an array/ })
  t.throws(() => new relay.AtofExporter({ outputDirectory: '' }), { ...invalid, message: /outputDirectory/ })
  t.throws(() => new relay.AtifExporter({ dir: '' }), { ...invalid, message: /outputDirectory/ })
  t.throws(() => new relay.OtlpExporter({ serviceName: '' }), { ...invalid, message: /serviceName/ })
  t.throws(() => new relay.OtlpExporter({ serviceName: '  ' }), { ...invalid, message: /serviceName/ })
})

test.serial('an OTLP exporter maps its options, registers, and shuts down without a collector', async (t) => {
  const otlp = new relay.OtlpExporter({
    endpoint: 'http://127.0.0.1:9',
    protocol: 'http/json',
    headers: { 'x-tenant': 'a' },
    mode: 'openinference',
    maxRetries: 0,
    timeoutMillis: 200,
    useEnv: false,
  })
  const name = unique('otlp')
  otlp.register({ name })
  t.true(relay.registrations('subscriber').includes(name))
  await otlp.shutdown()
  t.false(relay.registrations('subscriber').includes(name))
  t.is(typeof otlp.stats().exported, 'number')
  // Nothing is left to send: flush() after shutdown resolves, as an ATOF
  // exporter's does (it said "the runtime has been shut down").
  await t.notThrowsAsync(otlp.flush())
  await t.notThrowsAsync(otlp.shutdown())
})

test.serial('the observability plugin writes ATOF and ATIF files and completes them on clear', async (t) => {
  const dir = tempDir()
  await relay.plugins.initialize({
    version: 1,
    components: [{ kind: 'observability', config: { atof: { path: path.join(dir, 'events.jsonl') }, atif: { dir: path.join(dir, 'atif') } } }],
  })
  await relay.scope('plugged', { type: 'agent' }, () => relay.toolCall('t', {}, () => 1))
  relay.plugins.clear()
  const lines = readFileSync(path.join(dir, 'events.jsonl'), 'utf8').trim().split('\n')
  t.is(lines.length, 4)
  const [file] = readdirSync(path.join(dir, 'atif'))
  t.is(JSON.parse(readFileSync(path.join(dir, 'atif', file ?? ''), 'utf8')).schema_version, 'ATIF-v1.7')
})

test('after shutdown, what was emitted before it is delivered and new subscribers and exporters are refused with ERR_RELAY_SHUT_DOWN', (t) => {
  // shutdown() ends the process-wide runtime: a process of its own.
  const dir = tempDir()
  const run = runNode(
    `
    import * as relay from ${JSON.stringify(pathToFileURL(`${repoRoot}/index.mjs`).href)}
    let seen = 0
    relay.subscribe('before', () => { seen++ })
    for (let i = 0; i < 100; i++) relay.mark('m', { data: { i } })
    await relay.shutdown()
    const codeOf = (f) => { try { f(); return 'none' } catch (e) { return e.code } }
    const out = {
      seen,
      subscribe: codeOf(() => relay.subscribe('after', () => {})),
      atof: codeOf(() => new relay.AtofExporter({ path: ${JSON.stringify(path.join(dir, 'late.jsonl'))} }).register()),
      atif: codeOf(() => new relay.AtifExporter({ dir: ${JSON.stringify(dir)} }).register()),
    }
    await relay.flush()
    console.log(JSON.stringify(out))
    `,
    repoRoot,
  )
  t.is(run.status, 0, run.stderr)
  t.deepEqual(JSON.parse(run.stdout), { seen: 100, subscribe: 'ERR_RELAY_SHUT_DOWN', atof: 'ERR_RELAY_SHUT_DOWN', atif: 'ERR_RELAY_SHUT_DOWN' })
})

test('a plugin exporter that fails to write says so on stderr when it is torn down, not nowhere', (t) => {
  const dir = tempDir()
  const out = path.join(dir, 'atof')
  const run = runNode(
    `
    import * as relay from ${JSON.stringify(pathToFileURL(`${repoRoot}/index.mjs`).href)}
    import { rmSync } from 'node:fs'
    await relay.plugins.initialize({ version: 1, components: [{ kind: 'observability', config: {
      atof: { path: ${JSON.stringify(path.join(out, 'ev.jsonl'))}, rotation: { max_bytes: 1000 } } } }] })
    const work = async () => { for (let i = 0; i < 20; i++) relay.mark('m', { data: { pad: 'p'.repeat(200) } }); await relay.flush() }
    await work()
    rmSync(${JSON.stringify(out)}, { recursive: true })
    await work() // the next segment cannot be created
    relay.plugins.clear()
    `,
    repoRoot,
  )
  t.is(run.status, 0, run.stderr)
  t.regex(run.stderr, /the observability plugin's atof exporter failed: .*atof/)
})

test('a registered exporter keeps exporting when its object is dropped and collected, until shutdown', (t) => {
  const file = path.join(tempDir(), 'events.jsonl')
  const run = runNode(
    `
    import * as relay from ${JSON.stringify(pathToFileURL(`${repoRoot}/index.mjs`).href)}
    new relay.AtofExporter({ path: ${JSON.stringify(file)} }).register()
    relay.mark('before-gc')
    await relay.flush()
    for (let i = 0; i < 3; i++) {
      globalThis.gc()
      await new Promise((r) => setTimeout(r, 20))
    }
    relay.mark('after-gc')
    await relay.shutdown()
    `,
    repoRoot,
    ['--expose-gc'],
  )
  t.is(run.status, 0, run.stderr)
  const names = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l).name)
  t.deepEqual(names, ['before-gc', 'after-gc'])
})

test('an exporter removed by name with unsubscribe() and then dropped is collected, and its file closed', (t) => {
  const file = path.join(tempDir(), 'events.jsonl')
  const run = runNode(
    `
    import * as relay from ${JSON.stringify(pathToFileURL(`${repoRoot}/index.mjs`).href)}
    // Made in a function: a module's top-level bindings may stay alive.
    const start = () => new WeakRef(new relay.AtofExporter({ path: ${JSON.stringify(file)} }).register({ name: 'gone' }))
    const ref = start()
    relay.mark('while-registered')
    await relay.flush()
    relay.unsubscribe('gone')
    for (let i = 0; i < 10 && ref.deref() !== undefined; i++) {
      await new Promise((r) => setTimeout(r, 20))
      globalThis.gc()
    }
    console.log(ref.deref() === undefined ? 'collected' : 'held')
    `,
    repoRoot,
    ['--expose-gc'],
  )
  t.is(run.status, 0, run.stderr)
  t.is(run.stdout.trim(), 'collected')
  t.deepEqual(readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l).name), ['while-registered'])
})

test('a process that exits inside its agent scope keeps its events and its trajectory so far', (t) => {
  const dir = tempDir()
  const run = runNode(
    `
    import * as relay from ${JSON.stringify(pathToFileURL(`${repoRoot}/index.mjs`).href)}
    new relay.AtofExporter({ path: ${JSON.stringify(path.join(dir, 'events.jsonl'))} }).register()
    new relay.AtifExporter({ dir: ${JSON.stringify(dir)} }).register()
    await relay.scope('agent', { type: 'agent' }, async () => {
      await relay.llmCall('chat', { content: { messages: [{ role: 'user', content: 'hi' }] } }, () => ({ content: 'hello' }))
      await relay.toolCall('search', { q: 'x' }, () => 'found')
      process.exit(0)
    })
    `,
    repoRoot,
  )
  t.is(run.status, 0, run.stderr)
  const names = readFileSync(path.join(dir, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).name)
  t.deepEqual(names, ['agent', 'chat', 'chat', 'search', 'search'])
  const trajectories = readdirSync(dir).filter((f) => f.endsWith('.json'))
  t.is(trajectories.length, 1)
  const doc = JSON.parse(readFileSync(path.join(dir, trajectories[0]!), 'utf8'))
  t.deepEqual(doc.steps.map((s: { source: string }) => s.source), ['user', 'agent'])
  t.is(doc.steps[1].tool_calls[0].function_name, 'search')
})

/** A local OTLP/HTTP JSON collector: the spans it received, by name. */
async function collector(): Promise<{ url: string; names: () => string[]; close: () => Promise<void> }> {
  const { createServer } = await import('node:http')
  const names: string[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      for (const rs of JSON.parse(body).resourceSpans ?? [])
        for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) names.push(s.name)
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  return { url: `http://127.0.0.1:${port}`, names: () => names, close: () => new Promise((r) => server.close(() => r())) }
}

test.serial('spans of the observability plugin reach the collector when the process exits, however it exits', async (t) => {
  const { spawn } = await import('node:child_process')
  const c = await collector()
  try {
    for (const ending of ['', 'process.exit(0)']) {
      const before = c.names().length
      const child = spawn(process.execPath, [
        '--input-type=module',
        '--eval',
        `
        import * as relay from ${JSON.stringify(pathToFileURL(`${repoRoot}/index.mjs`).href)}
        await relay.plugins.initialize({ version: 1, components: [{ kind: 'observability', config: {
          opentelemetry: { endpoint: ${JSON.stringify(c.url)}, protocol: 'http/json', use_env: false } } }] })
        await relay.scope('agent', () => relay.toolCall('search', { q: 1 }, (a) => a))
        ${ending}
        `,
      ], { stdio: ['ignore', 'ignore', 'pipe'] })
      let stderr = ''
      child.stderr.on('data', (d) => (stderr += d))
      const code = await new Promise((r) => child.on('exit', r))
      t.is(code, 0, stderr)
      t.deepEqual(c.names().slice(before).sort(), ['agent', 'execute_tool search'], `ending: ${ending || 'natural'}`)
    }
  } finally {
    await c.close()
  }
})

test.serial('shutdown() waits for a silent collector off the JS thread: timers keep running', async (t) => {
  const { spawn } = await import('node:child_process')
  const { createServer } = await import('node:net')
  const held: import('node:net').Socket[] = []
  const server = createServer((socket) => held.push(socket)) // accepts, never answers
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  try {
    const child = spawn(process.execPath, [
      '--input-type=module',
      '--eval',
      `
      import * as relay from ${JSON.stringify(pathToFileURL(`${repoRoot}/index.mjs`).href)}
      new relay.OtlpExporter({ endpoint: ${JSON.stringify(endpoint)}, timeoutMillis: 400, useEnv: false }).register()
      await relay.toolCall('search', {}, () => 1)
      let ticks = 0
      const timer = setInterval(() => ticks++, 10)
      const started = Date.now()
      await relay.shutdown()
      clearInterval(timer)
      console.log(JSON.stringify({ ticks, waited: Date.now() - started }))
      `,
    ])
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const code = await new Promise((r) => child.on('exit', r))
    t.is(code, 0, stderr)
    const { ticks, waited } = JSON.parse(stdout.trim())
    t.true(waited >= 300, `shutdown waited for the collector (${waited} ms)`)
    t.true(ticks >= 5, `the event loop ran while it did (${ticks} ticks in ${waited} ms)`)
  } finally {
    for (const s of held) s.destroy()
    server.close()
  }
})
