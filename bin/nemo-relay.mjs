#!/usr/bin/env node
// nemo-relay: the operator CLI.
//
//   npx nemo-relay validate plugins.toml [--json]   check a plugin document
//   npx nemo-relay kinds [--json]                   list the plugin kinds
//   npx nemo-relay --version                        print the package version
//
// `validate` prints one line per diagnostic (level, code, component and
// kind, field path, message) and a summary line. Exit status: 0 when the
// document has no errors (warnings are fine), 1 when it has errors or does
// not parse, 2 for usage errors and unreadable files. Only the kinds built
// into the package are known here: components of kinds an application
// registers itself are reported as unknown (per the document's policy).

import { createRequire } from 'node:module'
import { accessSync, constants, statSync } from 'node:fs'

const require = createRequire(import.meta.url)

const USAGE = `usage: nemo-relay <command> [options]

commands:
  validate <file> [--json]  check a plugin configuration document (.toml or .json)
  kinds [--json]            list the registered plugin kinds
  help                      show this help
  version                   print the version (also --version)

'--' ends the options: \`validate -- -odd-name.toml\`.

exit status: 0 valid (warnings allowed), 1 errors found, 2 usage error or unreadable file`

function usage(message) {
  if (message) process.stderr.write(`nemo-relay: ${message}\n`)
  process.stderr.write(`${USAGE}\n`)
  return 2
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

/** One diagnostic as one line: `error[code] components[0] (kind) at field: message`. */
function line(d) {
  let out = `${d.level}[${d.code}]`
  if (d.component !== undefined) out += ` components[${d.component}]`
  if (d.kind !== undefined) out += ` (${d.kind})`
  if (d.field !== undefined) out += ` at ${d.field}`
  return `${out}: ${oneLine(d.message)}`
}

/**
 * A message on one line. A parser's report spans several (its position, a
 * source snippet, the reason): the position and the reason are kept. The
 * --json output has the message as it is.
 */
function oneLine(message) {
  const lines = message.split('\n').map((l) => l.trim())
  return lines.filter((l) => l !== '' && !/^(\d+\s*)?\|/.test(l)).join(': ')
}

/** Split `args` into options and operands; everything after `--` is an operand. */
function split(args) {
  const end = args.indexOf('--')
  const head = end === -1 ? args : args.slice(0, end)
  const tail = end === -1 ? [] : args.slice(end + 1)
  const options = head.filter((a) => a.startsWith('-') && a !== '-')
  const operands = [...head.filter((a) => !options.includes(a)), ...tail]
  return { options, operands }
}

function validate(args) {
  const { options, operands: files } = split(args)
  const unknown = options.find((a) => a !== '--json')
  if (unknown !== undefined) return usage(`unknown option '${unknown}'`)
  const json = options.includes('--json')
  if (files.length !== 1) return usage('validate takes exactly one file')
  const file = files[0]
  try {
    if (!statSync(file).isFile()) return usage(`${file} is not a file`)
    accessSync(file, constants.R_OK)
  } catch (error) {
    process.stderr.write(`nemo-relay: cannot read ${file}: ${error.code ?? error.message}\n`)
    return 2
  }
  const { plugins } = require('../index.js')
  let diagnostics
  try {
    diagnostics = plugins.validate(file).diagnostics
  } catch (error) {
    if (error.code === 'ERR_RELAY_NOT_FOUND') {
      process.stderr.write(`nemo-relay: ${error.message}\n`)
      return 2
    }
    // The file is not TOML/JSON: report it like any other error.
    diagnostics = [{ level: 'error', code: 'config.parse', message: error.message }]
  }
  const errors = diagnostics.filter((d) => d.level === 'error').length
  const warnings = diagnostics.length - errors
  if (json) {
    process.stdout.write(`${JSON.stringify({ file, errors, warnings, diagnostics }, null, 2)}\n`)
  } else {
    for (const d of diagnostics) process.stdout.write(`${line(d)}\n`)
    const verdict = errors > 0 ? 'invalid' : 'valid'
    process.stdout.write(`${file}: ${verdict}, ${plural(errors, 'error')}, ${plural(warnings, 'warning')}\n`)
  }
  return errors > 0 ? 1 : 0
}

function kinds(args) {
  const unknown = args.find((a) => a !== '--json')
  if (unknown !== undefined) return usage(`unknown argument '${unknown}'`)
  const { plugins } = require('../index.js')
  const all = plugins.kinds()
  if (args.includes('--json')) {
    process.stdout.write(`${JSON.stringify(all, null, 2)}\n`)
    return 0
  }
  const width = Math.max(...all.map((k) => k.kind.length))
  for (const k of all) process.stdout.write(`${k.kind.padEnd(width)}  ${k.description}\n`)
  return 0
}

function main(argv) {
  const [command, ...rest] = argv
  switch (command) {
    case 'validate':
      return validate(rest)
    case 'kinds':
      return kinds(rest)
    case 'help':
    case '--help':
    case '-h':
      if (rest.length > 0) return usage(`help takes no arguments`)
      process.stdout.write(`${USAGE}\n`)
      return 0
    case 'version':
    case '--version':
    case '-V':
      if (rest.length > 0) return usage(`version takes no arguments`)
      process.stdout.write(`${require('../package.json').version}\n`)
      return 0
    case undefined:
      return usage('missing command')
    default:
      return usage(`unknown command '${command}'`)
  }
}

// Output piped into a reader that stops early (`| head`) is not an error.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0)
  throw error
})
process.exitCode = main(process.argv.slice(2))
