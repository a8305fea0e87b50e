import test from 'ava'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

import { repoRoot } from './support.js'

const cli = path.join(repoRoot, 'bin', 'nemo-relay.mjs')

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function file(name: string, text: string): string {
  const p = path.join(mkdtempSync(path.join(tmpdir(), 'relay-cli-')), name)
  writeFileSync(p, text)
  return p
}

test('validate prints nothing but a summary and exits 0 for a valid document', (t) => {
  const p = file('plugins.toml', 'version = 1\n[[components]]\nkind = "redaction"\nconfig = { patterns = ["email"] }\n')
  const r = run('validate', p)
  t.is(r.status, 0, r.stderr)
  t.is(r.stdout, `${p}: valid, 0 errors, 0 warnings\n`)
})

test('validate prints one line per diagnostic and exits 1 when there are errors', (t) => {
  const p = file(
    'plugins.toml',
    'version = 1\n[[components]]\nkind = "header-injection"\nconfig = { colour = "red" }\n[[components]]\nkind = "mystery"\n',
  )
  const r = run('validate', p)
  t.is(r.status, 1)
  t.deepEqual(r.stdout.trim().split('\n'), [
    "warning[plugin.unknown_field] components[0] (header-injection) at config.colour: unknown field 'colour' (known: headers, overwrite, llm_names, priority)",
    "error[plugin.missing_field] components[0] (header-injection) at config.headers: missing required field 'headers': an object of header name → string value",
    "warning[plugin.unknown_component] components[1] (mystery) at kind: no plugin kind 'mystery' is registered (known: header-injection, observability, policy, redaction); the component is skipped",
    `${p}: invalid, 1 error, 2 warnings`,
  ])
})

test('validate exits 0 when there are only warnings, and --json prints the report', (t) => {
  const p = file('plugins.json', JSON.stringify({ version: 1, components: [{ kind: 'mystery' }] }))
  t.is(run('validate', p).status, 0)
  const r = run('validate', p, '--json')
  t.is(r.status, 0)
  t.like(JSON.parse(r.stdout), { file: p, errors: 0, warnings: 1 })
})

test('a file that does not parse is reported as one error line, position and reason, with exit status 1', (t) => {
  const r = run('validate', file('plugins.toml', 'version = 1\n[[components]\nkind = "x"\n'))
  t.is(r.status, 1)
  const [diagnostic, verdict, ...rest] = r.stdout.trim().split('\n')
  t.regex(diagnostic ?? '', /^error\[config\.parse\]: .*invalid TOML: .*line 2, column 14: unclosed array table/)
  t.regex(verdict ?? '', /: invalid, 1 error, 0 warnings$/)
  t.deepEqual(rest, [])
})

test('an unreadable file and usage errors exit 2', (t) => {
  const missing = run('validate', path.join(tmpdir(), 'no-such-dir', 'plugins.toml'))
  t.is(missing.status, 2)
  t.regex(missing.stderr, /cannot read/)
  t.is(run().status, 2)
  t.is(run('frobnicate').status, 2)
  t.is(run('validate').status, 2)
  t.is(run('validate', 'a.toml', 'b.toml').status, 2)
  const help = run('help')
  t.is(help.status, 0)
  t.regex(help.stdout, /usage: nemo-relay/)
  t.is(run('help', 'validate').status, 2)
  t.is(run('validate', '--jsn', 'a.toml').status, 2)
})

test('-- ends the options, so a file whose name starts with a dash can be validated', (t) => {
  const dir = path.dirname(file('x', ''))
  writeFileSync(path.join(dir, '-plugins.toml'), 'version = 1\n')
  const r = spawnSync(process.execPath, [cli, 'validate', '--json', '--', '-plugins.toml'], { cwd: dir, encoding: 'utf8' })
  t.is(r.status, 0, r.stderr)
  t.like(JSON.parse(r.stdout), { file: '-plugins.toml', errors: 0 })
})

test('--version prints the package version', (t) => {
  const r = run('--version')
  t.is(r.status, 0)
  t.is(r.stdout, `${JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version}\n`)
})

test('a file that is neither .toml nor .json and does not parse says it was read as TOML', (t) => {
  const r = run('validate', file('plugins.yaml', 'components:\n  - kind: redaction\n'))
  t.is(r.status, 1)
  t.regex(r.stdout, /^error\[config\.parse\]: .*read as TOML/m)
})

test('kinds lists every kind with its description', (t) => {
  const r = run('kinds')
  t.is(r.status, 0)
  const lines = r.stdout.trim().split('\n')
  t.deepEqual(
    lines.map((l) => l.split(/\s+/)[0]),
    ['header-injection', 'observability', 'policy', 'redaction'],
  )
  t.true(lines.every((l) => l.split(/\s{2,}/)[1]!.length > 0))
})
