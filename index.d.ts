// Public types of nemo-relay. The native signatures come from the generated
// binding.d.ts; this file decides which of them are public.

export { version, abiInfo } from './binding.js'
export type { AbiInfo } from './binding.js'
