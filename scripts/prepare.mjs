// `npm install` (and `npm ci`) in a source checkout runs this as the "prepare"
// script: it builds the native addon from source, in release mode, so that
// `npm install && npm run demo` works on a fresh clone.
//
// npm never runs "prepare" when nemo-relay is installed from the registry as
// a dependency; there the binary comes from a per-platform package instead.
// It does run before `npm pack` / `npm publish`, where the binaries come from
// the per-platform packages too, so the build is skipped there.
//
// Skip the build with `npm install --ignore-scripts` (CI does, and then builds
// the addon itself as part of `npm test`).

import { spawnSync } from 'node:child_process'

const command = process.env.npm_command
if (command === 'pack' || command === 'publish') {
  console.log(`nemo-relay: not building the addon for \`npm ${command}\``)
  process.exit(0)
}

const cargo = spawnSync('cargo', ['--version'], { encoding: 'utf8' })
if (cargo.error || cargo.status !== 0) {
  console.error(
    'nemo-relay: building the native addon from source needs Rust (cargo on PATH), see README.md.\n' +
      'Install it from https://rustup.rs, or skip the build with `npm install --ignore-scripts`.',
  )
  process.exit(1)
}

const npm = process.env.npm_execpath
const build = npm
  ? spawnSync(process.execPath, [npm, 'run', 'build'], { stdio: 'inherit' })
  : spawnSync('npm', ['run', 'build'], { stdio: 'inherit', shell: process.platform === 'win32' })
process.exit(build.status ?? 1)
