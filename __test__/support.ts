// Helpers shared by the specs: where the repository is, what this host's
// binary is called, and a way to run a script in a separate Node process.

import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const repoRoot = fileURLToPath(new URL('..', import.meta.url))

export const packageJson: {
  name: string
  version: string
  napi: { binaryName: string; targets: string[] }
  optionalDependencies?: Record<string, string>
  files: string[]
} =
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))

/** `linux-x64-gnu`, `darwin-arm64`, … for this machine, computed independently of native.js. */
export function hostPlatform(): string {
  const { platform, arch } = process
  if (platform === 'linux') {
    const header = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header
    return `linux-${arch}-${header?.glibcVersionRuntime ? 'gnu' : 'musl'}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

export interface NodeRun {
  status: number | null
  stdout: string
  stderr: string
}

/**
 * Runs `source` as an ES module in a fresh Node process with `cwd` as its
 * working directory, without the variables that redirect the napi-rs loader.
 */
export function runNode(source: string, cwd: string, nodeArgs: string[] = []): NodeRun {
  const env = { ...process.env }
  for (const name of Object.keys(env)) {
    if (name.startsWith('NAPI_RS_')) delete env[name]
  }
  const result = spawnSync(process.execPath, [...nodeArgs, '--input-type=module', '--eval', source], {
    cwd,
    env,
    encoding: 'utf8',
    timeout: 60_000,
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}
