import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import test from 'ava'

import { hostPlatform, packageJson, repoRoot, runNode } from './support.js'

// The JS files and directories a published `nemo-relay` package consists of:
// what package.json publishes, minus typings, the CLI and native binaries.
const PACKAGE_FILES = [
  'package.json',
  ...packageJson.files.filter((f) => f.endsWith('.js') || f.endsWith('.mjs') || f.endsWith('/')),
].filter((f) => !f.startsWith('bin/'))

const host = hostPlatform()
const platformPackage = `${packageJson.name}-${host}`
const localBinary = `${packageJson.napi.binaryName}.${host}.node`

/** A copy of the package's JS files in a fresh directory, without any native binary. */
function packageWithoutBinary(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'nemo-relay-loader-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const file of PACKAGE_FILES) cpSync(join(repoRoot, file), join(dir, file), { recursive: true })
  return dir
}

test('without a native binary, loading fails with an error that names the package to install', (t) => {
  const dir = packageWithoutBinary(t)

  const run = runNode(
    `
    import { createRequire } from 'node:module'
    const require = createRequire(process.cwd() + '/')
    try {
      require('./index.js')
      console.log(JSON.stringify({ loaded: true }))
    } catch (error) {
      const causes = []
      for (let c = error.cause; c; c = c.cause) causes.push(c.message)
      console.log(JSON.stringify({ message: error.message, code: error.code, causes }))
    }
    `,
    dir,
  )

  t.is(run.status, 0, run.stderr)
  const outcome = JSON.parse(run.stdout)
  t.falsy(outcome.loaded)
  t.is(outcome.code, 'ERR_RELAY_NATIVE_BINDING_NOT_FOUND')
  t.true(outcome.message.includes(`npm install ${platformPackage}`), outcome.message)
  t.true(outcome.message.includes('npm run build'), outcome.message)
  // Both places the loader looks are reported, the local build first.
  t.true(outcome.causes.some((m: string) => m.includes(localBinary)), outcome.causes.join('\n'))
  t.true(outcome.causes.some((m: string) => m.includes(`'${platformPackage}'`)), outcome.causes.join('\n'))
})

test('without a local build, the platform package from npm/ is loaded', (t) => {
  const built = join(repoRoot, localBinary)
  const npmDir = join(repoRoot, 'npm', host)
  if (!existsSync(npmDir)) {
    t.pass(`no npm/${host} package for this host`)
    return
  }
  if (!existsSync(built)) {
    t.fail(`${localBinary} is missing: run the addon build first`)
    return
  }

  const dir = packageWithoutBinary(t)
  const installed = join(dir, 'node_modules', platformPackage)
  mkdirSync(installed, { recursive: true })
  cpSync(join(npmDir, 'package.json'), join(installed, 'package.json'))
  copyFileSync(built, join(installed, localBinary))

  const run = runNode(
    `
    import { version } from ${JSON.stringify(join(dir, 'index.mjs'))}
    console.log(version())
    `,
    dir,
  )

  t.is(run.status, 0, run.stderr)
  t.is(run.stdout.trim(), packageJson.version)
})

test('import and require resolve "nemo-relay" to the same module instance', (t) => {
  // Evaluated from the repository root, the package resolves itself by name
  // through its "exports" map, as it would for a user.
  const run = runNode(
    `
    import { createRequire } from 'node:module'
    import * as esm from 'nemo-relay'
    const cjs = createRequire(process.cwd() + '/')('nemo-relay')
    console.log(JSON.stringify({
      esm: Object.keys(esm).sort(),
      cjs: Object.keys(cjs).sort(),
      same: Object.keys(cjs).every((k) => esm[k] === cjs[k]),
    }))
    `,
    repoRoot,
  )

  t.is(run.status, 0, run.stderr)
  const outcome = JSON.parse(run.stdout)
  t.deepEqual(outcome.esm, outcome.cjs)
  for (const name of ['abiInfo', 'version', 'toolCall', 'scope', 'subscribe', 'flush']) t.true(outcome.cjs.includes(name), name)
  t.true(outcome.same)
})
