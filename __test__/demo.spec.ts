import test from 'ava'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

import { repoRoot } from './support.js'

function runDemo(cwd: string, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'examples', 'demo.mjs')], {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function checkOutput(t: import('ava').ExecutionContext, out: string) {
  const lines = readFileSync(path.join(out, 'events.jsonl'), 'utf8').trim().split('\n')
  const events = lines.map((l) => JSON.parse(l) as { atof_version: string; name: string })
  t.true(events.length > 10)
  t.true(events.every((e) => e.atof_version === '0.1'))
  t.true(events.some((e) => e.name === 'research-agent'))
  t.false(lines.some((l) => l.includes('ada.lovelace@example.com')), 'the email is redacted')
  const trajectories = readdirSync(path.join(out, 'trajectories'))
  t.is(trajectories.length, 1)
  const doc = JSON.parse(readFileSync(path.join(out, 'trajectories', trajectories[0]!), 'utf8'))
  t.is(doc.schema_version, 'ATIF-v1.7')
  // One user turn: the model's second request continues it with the tool
  // results, and the streamed answer closes it.
  const steps = doc.steps as { source: string; message: string; tool_calls?: { function_name: string }[] }[]
  t.deepEqual(
    steps.map((s) => s.source),
    ['user', 'agent', 'agent'],
  )
  t.deepEqual(
    steps[1]!.tool_calls?.map((c) => c.function_name),
    ['get_weather', 'lookup_contact', 'delete_file'],
  )
  t.regex(steps[2]!.message, /^Lisbon is 21 degrees; I emailed \[REDACTED\]/)
}

test('the demo runs an agent, prints its scope tree and writes ATOF and ATIF under ./relay-output', (t) => {
  const cwd = mkdtempSync(path.join(tmpdir(), 'relay-demo-'))
  const r = runDemo(cwd)
  t.is(r.status, 0, r.stderr)
  t.regex(r.stdout, /^▶ agent research-agent$/m)
  t.regex(r.stdout, /^ {4}▶ tool get_weather$/m)
  t.regex(r.stdout, /blocked by guardrail 'no-deletes'/)
  t.regex(r.stdout, /relay-output/)
  checkOutput(t, path.join(cwd, 'relay-output'))
})

test('NEMO_RELAY_OUTPUT moves the demo output', (t) => {
  const cwd = mkdtempSync(path.join(tmpdir(), 'relay-demo-'))
  const out = path.join(cwd, 'elsewhere')
  const r = runDemo(cwd, { NEMO_RELAY_OUTPUT: out })
  t.is(r.status, 0, r.stderr)
  checkOutput(t, out)
})
