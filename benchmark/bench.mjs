// `npm run bench`: times native calls against a pure-JS baseline and prints
// the ratio. No dependencies: a warm-up, then the median of several timed
// rounds, each long enough for the timer to be meaningless noise.
//
// Today the only native call is the trivial `version()`, so this measures
// the fixed cost of crossing from JS into the addon and back.

import { abiInfo, version } from 'nemo-relay'

const ROUNDS = 7
const CALLS = 1_000_000

// Keeps results alive so the JIT cannot drop the calls.
let sink = 0

function nsPerCall(fn) {
  for (let i = 0; i < CALLS / 10; i++) sink += fn().length
  const samples = []
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < CALLS; i++) sink += fn().length
    samples.push(Number(process.hrtime.bigint() - start) / CALLS)
  }
  samples.sort((a, b) => a - b)
  return samples[Math.floor(ROUNDS / 2)]
}

const PACKAGE_VERSION = version()
const cases = [
  {
    name: 'version()',
    native: version,
    js: () => PACKAGE_VERSION,
  },
]

if (abiInfo().debug) {
  console.warn('warning: a debug build of the addon is loaded; run `npm run build` for release numbers\n')
}

console.log(`${'case'.padEnd(12)} ${'native ns/call'.padStart(15)} ${'js ns/call'.padStart(11)} ${'ratio'.padStart(8)}`)
for (const c of cases) {
  const native = nsPerCall(c.native)
  const js = nsPerCall(c.js)
  console.log(
    `${c.name.padEnd(12)} ${native.toFixed(1).padStart(15)} ${js.toFixed(1).padStart(11)} ${(native / js).toFixed(1).padStart(7)}x`,
  )
}
if (sink === 0) console.log('(unreachable)')
