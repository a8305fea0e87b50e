'use strict'
// Loads the native addon through the generated loader (binding.js, written by
// `napi build`; never edit it) and, when that fails, throws an error that
// names the exact package to install instead of the loader's generic advice.
//
// The loader tries, in order: the local build `nemo-relay.<platform>.node`
// next to this file (what `npm run build` writes), then the per-platform
// package `nemo-relay-<platform>`. Every failed attempt ends up in `cause`.

const { platform, arch } = process

const ARCH_NAMES = { x86_64: 'x64', aarch64: 'arm64' }

// `x86_64-unknown-linux-gnu` -> `linux-x64-gnu`, the suffix napi-rs gives
// the binary (`nemo-relay.linux-x64-gnu.node`) and its package.
function platformSuffix(triple) {
  const [cpu, , os, abi] = triple.split('-')
  const jsArch = ARCH_NAMES[cpu] || cpu
  if (os === 'darwin') return `darwin-${jsArch}`
  if (os === 'windows') return `win32-${jsArch}-${abi}`
  return `${os}-${jsArch}-${abi}`
}

function isMusl() {
  if (platform !== 'linux') return false
  try {
    return !process.report.getReport().header.glibcVersionRuntime
  } catch {
    return false
  }
}

// The suffix for this machine, whether or not a binary is published for it.
function hostSuffix() {
  if (platform === 'linux') return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

function loadError(loaderError) {
  const pkg = require('./package.json')
  const host = hostSuffix()
  const supported = pkg.napi.targets.map(platformSuffix)
  const build = 'or build it from a source checkout with `npm run build` (needs Rust, see README.md)'
  const advice = supported.includes(host)
    ? `Install the prebuilt binary with \`npm install ${pkg.name}-${host}\`, ${build}.`
    : `No prebuilt binary is published for ${host} (published: ${supported.join(', ')}); build it from a source checkout with \`npm run build\` (needs Rust, see README.md).`
  const error = new Error(
    `Cannot load the ${pkg.name} native addon for ${host}. ${advice} The failed attempts are listed in \`cause\`.`,
    // The generated loader's own error only says "Cannot find native binding";
    // its cause is the chain of attempts, which is what helps.
    { cause: loaderError.cause || loaderError },
  )
  error.code = 'ERR_RELAY_NATIVE_BINDING_NOT_FOUND'
  return error
}

function load() {
  try {
    return require('./binding.js')
  } catch (loaderError) {
    throw loadError(loaderError)
  }
}

// napi-rs converts arguments before our Rust code sees them, and reports a
// value of the wrong type with its own status name as `code`
// (`StringExpected`, `InvalidArg`, …): no stable code of ours, not even a
// TypeError. Every native function is wrapped once, here, so that such an
// error reaches the user as an InvalidArgumentError
// (ERR_RELAY_INVALID_ARGUMENT) whatever entry point it came through; the
// napi-rs error stays its `cause`. Classes (the exporters) are left as they
// are: their facade checks its options itself.
const NAPI_ARGUMENT_CODES = new Set([
  'InvalidArg', 'ObjectExpected', 'StringExpected', 'NameExpected', 'FunctionExpected', 'NumberExpected',
  'BooleanExpected', 'ArrayExpected', 'BigintExpected', 'DateExpected', 'ArrayBufferExpected',
  'DetachableArraybufferExpected',
])

function argumentError(error) {
  if (error === null || typeof error !== 'object') return error
  // Required here, not at the top: lib/errors.js is plain JS with no native
  // dependency, but the loader above must not depend on the facade.
  const { InvalidArgumentError, isUserError } = require('./lib/errors.js')
  // A user callback's own error passes through unchanged, whatever its code
  // (and without reading it: a user's `code` getter may throw).
  if (isUserError(error)) return error
  let code
  try {
    code = error.code
  } catch {
    return error
  }
  if (!NAPI_ARGUMENT_CODES.has(code)) return error
  return new InvalidArgumentError(error.message, { cause: error })
}

// Fixed arity (no native function takes more than six arguments): a rest
// parameter would allocate an array on every call, and stream steps call
// natively several times per chunk. Trailing undefined arguments read as
// absent ones in napi-rs.
function guarded(f) {
  return function (a, b, c, d, e, g) {
    try {
      return f(a, b, c, d, e, g)
    } catch (error) {
      throw argumentError(error)
    }
  }
}

function withArgumentErrors(binding) {
  const out = {}
  for (const [name, value] of Object.entries(binding)) {
    const isClass = typeof value === 'function' && /^[A-Z]/.test(name)
    out[name] = typeof value === 'function' && !isClass ? guarded(value) : value
  }
  return Object.freeze(out)
}

module.exports = withArgumentErrors(load())
