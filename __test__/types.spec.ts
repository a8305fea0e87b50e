// What a TypeScript user writes, typechecked with the suite (`tsc --noEmit`
// fails on a declaration that makes it need a cast) and run.

import test from 'ava'

import * as relay from '../index.mjs'
import { unique } from './relay-support.js'

interface SearchArgs {
  q: string
  limit?: number
}

interface Hit {
  title: string
  at: Date
}

test.serial('interface-typed arguments and results, void tools and Dates need no casts', async (t) => {
  const args: SearchArgs = { q: 'rust', limit: undefined }
  const hits: Hit[] = await relay.toolCall(unique('search'), args, async (a) => {
    const q: string = a.q // `a` is SearchArgs, not any
    return [{ title: q, at: new Date(0) }]
  })
  t.is(hits[0]!.title, 'rust')
  const nothing: void = await relay.toolCall(unique('log'), { line: 'x' }, () => {})
  t.is(nothing, undefined)

  const request = { content: { messages: [{ role: 'user', content: 'hi' }] } }
  const answer = await relay.llmCall(unique('chat'), request, (req) => ({ text: req.content.messages[0]!.content }))
  t.is(answer.text, 'hi')
  const stream = await relay.llmStreamCall(unique('stream'), { content: { prompt: 'p' } }, async function* (req) {
    yield { delta: req.content.prompt }
  })
  const deltas: string[] = []
  for await (const chunk of stream) deltas.push(chunk.delta)
  t.deepEqual(deltas, ['p'])
})

test.serial('scope() gives a Promise for a thenable, and a call handle can parent a call', async (t) => {
  const thenable = {
    then(resolve: (v: number) => void) {
      resolve(7)
    },
  }
  const p: Promise<number> = relay.scope(unique('s'), () => thenable)
  t.true(p instanceof Promise)
  t.is(await p, 7)
  const llm = await relay.startLlmCall(unique('llm'), { content: {} })
  const tool = await relay.startToolCall(unique('tool'), {}, { parent: llm })
  t.is(tool.parentUuid, llm.uuid)
  await tool.end(null)
  await llm.end(null)
})

test('error classes construct as their declarations say', (t) => {
  const rejected = new relay.GuardrailRejectedError('blocked', 'no-rm', 'rm is blocked')
  t.is(rejected.code, 'ERR_RELAY_GUARDRAIL_REJECTED')
  t.is(rejected.reason, 'rm is blocked')
  t.is(new relay.ScopeStackError('x', 'ERR_RELAY_ROOT_SCOPE').code, 'ERR_RELAY_ROOT_SCOPE')
  t.is(new relay.RelayError('m', 'ERR_RELAY_TIMEOUT', { cause: rejected }).cause, rejected)
  t.true(new relay.InvalidArgumentError('bad') instanceof relay.RelayError)
})

test('a call that returns a Promise reports a bad name, callback or option through it', async (t) => {
  const invalid = { code: 'ERR_RELAY_INVALID_ARGUMENT' } as never
  const calls = [
    () => relay.toolCall('', {}, () => 1),
    () => relay.toolCall('t', {}, 5 as never),
    () => relay.llmCall('', { content: null }, () => 1),
    () => relay.llmStreamCall('s', { content: null }, null as never),
    // A call you run yourself cannot be aborted for you.
    () => relay.startToolCall('t', {}, { signal: new AbortController().signal } as never),
  ]
  for (const call of calls) {
    let p: Promise<unknown> | undefined
    t.notThrows(() => {
      p = call()
    })
    await t.throwsAsync(p!, invalid)
  }
})
