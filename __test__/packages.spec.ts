import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

import test from 'ava'

import { packageJson, repoRoot } from './support.js'

const ARCH: Record<string, string> = { x86_64: 'x64', aarch64: 'arm64' }

/** `x86_64-unknown-linux-gnu` -> `linux-x64-gnu`, as napi-rs names platform packages. */
function suffix(triple: string): string {
  const [cpu = '', , os = '', abi = ''] = triple.split('-')
  const arch = ARCH[cpu] ?? cpu
  if (os === 'darwin') return `darwin-${arch}`
  if (os === 'windows') return `win32-${arch}-${abi}`
  return `${os}-${arch}-${abi}`
}

for (const triple of packageJson.napi.targets) {
  const platform = suffix(triple)

  test(`npm/${platform} is the platform package for ${triple}`, (t) => {
    const dir = join(repoRoot, 'npm', platform)
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
    const binary = `${packageJson.napi.binaryName}.${platform}.node`

    t.is(manifest.name, `${packageJson.name}-${platform}`)
    t.is(manifest.version, packageJson.version)
    t.is(manifest.main, binary)
    t.deepEqual(manifest.files, [binary])
    t.deepEqual(manifest.os, [platform.split('-')[0]])
    t.deepEqual(manifest.cpu, [platform.split('-')[1]])
    const abi = platform.split('-')[2]
    t.deepEqual(manifest.libc, abi === 'gnu' ? ['glibc'] : abi === 'musl' ? ['musl'] : undefined)
    // An `engines` field can make package managers skip the package.
    t.false('engines' in manifest)
    t.true(existsSync(join(dir, 'README.md')))
  })
}

test('the root package lists every platform package as an optional dependency at its own version', (t) => {
  const dirs = readdirSync(join(repoRoot, 'npm'))
  const expected = Object.fromEntries(dirs.map((d) => [`nemo-relay-${d}`, packageJson.version]))
  t.deepEqual(packageJson.optionalDependencies, expected)
})
