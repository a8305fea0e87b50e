import { readFileSync } from 'node:fs'

import test from 'ava'

import { abiInfo, version } from '../index.mjs'
import { packageJson } from './support.js'

const NODE_ARCH: Record<string, string> = { x86_64: 'x64', aarch64: 'arm64' }
const NODE_PLATFORM: Record<string, string> = { linux: 'linux', macos: 'darwin', windows: 'win32' }

test('the addon reports the crate version, which is also the package version', (t) => {
  const cargoToml = readFileSync(new URL('../Cargo.toml', import.meta.url), 'utf8')
  const workspaceVersion = /\[workspace\.package\][^[]*?\nversion\s*=\s*"([^"]+)"/.exec(cargoToml)?.[1] ?? 'missing from Cargo.toml'

  t.is(version(), workspaceVersion)
  t.is(version(), packageJson.version)
})

test('abiInfo describes the binary that was loaded', (t) => {
  const info = abiInfo()

  t.is(info.crateVersion, version())
  t.is(info.nodeApiVersion, Number(process.versions.napi))
  t.is(NODE_PLATFORM[info.os], process.platform)
  t.is(NODE_ARCH[info.arch], process.arch)
  t.is(typeof info.debug, 'boolean')
})
