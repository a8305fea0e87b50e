'use strict'
// nemo-relay: the CommonJS entry point (index.mjs re-exports this module, so
// both entry points share one instance of the addon and its state).
//
// The hand-written facade over the native addon. The generated loader and
// typings (binding.js, binding.d.ts) stay untouched; everything the JS API
// adds on top of the native functions lives in lib/, one concern per module,
// and this file is their table of contents:
//
// | module               | concern                                            |
// |----------------------|----------------------------------------------------|
// | lib/errors.js        | error classes with stable codes, argument checks   |
// | lib/context.js       | scope stacks, handles, the AsyncLocalStorage context |
// | lib/options.js       | options objects, validated and normalised          |
// | lib/scopes.js        | pushScope/popScope, scope(), mark()                |
// | lib/calls.js         | managed and manual calls, streams, AbortSignal     |
// | lib/iterators.js     | provider iterators pulled in their call's scope    |
// | lib/middleware.js    | JS middleware wrappers, CallContext, register()    |
// | lib/subscribers.js   | batched delivery, flush(), shutdown(), stats()     |
// | plugins.js           | plugin documents and JS plugin kinds               |
// | exporters.js         | ATOF, ATIF and OTLP exporter classes               |
//
// What the facade adds:
//
// * options objects, validated (unknown keys are rejected) and normalised into
//   the strict shapes native code takes;
// * the scope context of async code: an AsyncLocalStorage holds the current
//   ScopeStack of each async flow, and relay.scope() forks it, so concurrent
//   branches get their own parents with no user action;
// * error classes with stable `code`s (native code builds them through the
//   makeError hook);
// * batched subscriber delivery (one JSON string per batch), fan-out with
//   error isolation, and flush() that also waits for async subscribers;
// * async iterables over native streams, AbortSignal wiring, disposers.
//
// Native calls that can finish synchronously return their value directly and
// a Promise otherwise; the facade adopts either with Promise.resolve, so the
// fully synchronous pipeline costs no extra microtask hops.

const native = require('./native.js')
const errors = require('./lib/errors.js')

// Native code builds its errors through this hook, so they are instances of
// the classes in lib/errors.js; it must be installed before any native call.
// A hook is looked up when first used and then kept: `makeCallContext` is
// added below, once its module (which makes native calls as it loads) is
// loaded, and before any call can use it. Reassigning a hook later has no
// effect.
const hooks = { makeError: errors.makeError, makeCallContext: undefined, llmRequestView: undefined, recordableText: require('./lib/json.js').recordableText }
native.init(hooks)

const { RelayError, InvalidArgumentError, GuardrailRejectedError, ScopeStackError, invalid, checkName, checkFunction, checkKeys, isThenable } = errors
const { createScopeStack, currentScopeStack, withScopeStack, ScopeStack, ScopeHandle, CallHandle } = require('./lib/context.js')
const { pushScope, popScope, currentScope, scope, mark } = require('./lib/scopes.js')
const { toolCall, llmCall, llmStreamCall, startToolCall, startLlmCall, LlmStream, llmRequestView } = require('./lib/calls.js')
hooks.llmRequestView = llmRequestView
const { register, deregister, registrations, removedByName, CallContext, Registration, shapeOf, wrapperFor, makeCallContext } = require('./lib/middleware.js')
hooks.makeCallContext = makeCallContext
const { subscribe, unsubscribe, flush, shutdown, stats, deliverTo, trackGlobal } = require('./lib/subscribers.js')

// Plugins and exporters share the internals above, so plugin middleware and
// subscribers behave like register()'s.

const { plugins, ConfigCheck, PluginContext, PluginKindRegistration } = require('./plugins.js')({
  native,
  RelayError,
  invalid,
  checkName,
  checkFunction,
  checkKeys,
  isThenable,
  shapeOf,
  wrapperFor,
  deliverTo,
  trackGlobal,
  checkPriority: require('./lib/options.js').checkPriority,
  show: errors.show,
})
const { AtofExporter, AtifExporter, OtlpExporter } = require('./exporters.js')({ native, invalid, checkKeys, removedByName })

module.exports = {
  version: native.version,
  abiInfo: native.abiInfo,
  // scopes
  createScopeStack,
  currentScopeStack,
  withScopeStack,
  pushScope,
  popScope,
  currentScope,
  scope,
  mark,
  // calls
  toolCall,
  llmCall,
  llmStreamCall,
  startToolCall,
  startLlmCall,
  // middleware and subscribers
  register,
  deregister,
  registrations,
  subscribe,
  unsubscribe,
  flush,
  shutdown,
  stats,
  // plugins and exporters
  plugins,
  AtofExporter,
  AtifExporter,
  OtlpExporter,
  // classes
  ScopeStack,
  ScopeHandle,
  CallHandle,
  CallContext,
  LlmStream,
  Registration,
  RelayError,
  InvalidArgumentError,
  GuardrailRejectedError,
  ScopeStackError,
  ConfigCheck,
  PluginContext,
  PluginKindRegistration,
}
