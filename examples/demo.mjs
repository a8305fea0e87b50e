// The nemo-relay demo: `npm run demo`.
//
// For now it only proves that the native addon loads. The full demo (an agent
// run whose trace is written to ./relay-output/) arrives with the Node API.

import { abiInfo, version } from 'nemo-relay'

const info = abiInfo()
console.log(`nemo-relay ${version()} loaded`)
console.log(
  `native addon: ${info.os}/${info.arch}, ${info.debug ? 'debug' : 'release'} build, Node-API ${info.nodeApiVersion}`,
)
