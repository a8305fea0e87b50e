// Public types of nemo-relay (the CommonJS entry; index.d.mts re-exports them).
// Native signatures come from the generated binding.d.ts; this file describes
// the facade in index.js, which is what users call.

import type { AbiInfo, RelayStats as NativeStats } from './binding.js'

export { version, abiInfo } from './binding.js'
export type { AbiInfo }

// ------------------------------------------------------------------ JSON ---

/** A JSON value: what crosses into the runtime (arguments, results, payloads). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** A JSON object. */
export type JsonObject = { [key: string]: Json }

/**
 * A value handed to the runtime to pass on or record: anything
 * `JSON.stringify` can write. Objects typed by interfaces or classes are
 * fine (a `Date` is recorded as its ISO string, `undefined` members are
 * left out). What JSON cannot hold (a BigInt, a cycle, a function) is
 * refused at run time with `ERR_RELAY_INVALID_ARGUMENT` wherever the value
 * is kept or reaches native middleware; a managed call that only hands it
 * on to its tool records it as well as JSON can (a BigInt as its decimal
 * string, a cycle as `"[Circular]"`, what throws when read as
 * `"[not recorded: …]"`). What comes back from the runtime is
 * {@link Json}.
 */
export type JsonInput = string | number | boolean | null | undefined | object

/** A value that is either ready or a Promise of it. */
export type MaybePromise<T> = T | Promise<T>

// ---------------------------------------------------------------- scopes ---

/** What kind of work a scope represents (the ATOF `category`). */
export type ScopeType =
  | 'agent'
  | 'function'
  | 'tool'
  | 'llm'
  | 'retriever'
  | 'embedder'
  | 'reranker'
  | 'guardrail'
  | 'evaluator'
  | 'custom'
  | 'unknown'

/** Attribute flags of a scope or call. */
export type Attribute = 'parallel' | 'relocatable' | 'remote' | 'stateful' | 'streaming'

/** The open scopes of one logical flow of control. */
export declare class ScopeStack {
  private constructor()
  /** The innermost open scope (the implicit root when none is open). */
  readonly top: ScopeHandle
  /** Number of open scopes above the implicit root. */
  readonly depth: number
}

/**
 * What every handle knows about its scope, tool call or LLM call. A scope's
 * `uuid`, `name` and `type` can be read at any time; its other details while
 * it is open, and afterwards only if they were read while it was open (else
 * a `RelayError` with code `ERR_RELAY_NOT_FOUND`). A call handle's can be
 * read at any time.
 */
export type { Handle }
declare abstract class Handle {
  /** Unique id (UUID v7); the start and end events share it. */
  readonly uuid: string
  /** Id of the parent scope (`undefined` only for a stack's implicit root). */
  readonly parentUuid: string | undefined
  readonly name: string
  readonly type: ScopeType
  readonly attributes: Attribute[]
  readonly toolCallId: string | undefined
  readonly modelName: string | undefined
  /** Application data given when the scope was opened (never emitted). */
  readonly data: Json | undefined
  readonly metadata: JsonObject | undefined
  /** Start time, RFC 3339 with nanoseconds. */
  readonly startedAt: string
}

/** An open scope. `end()` closes it; so does `using` (`Symbol.dispose`). */
export declare class ScopeHandle extends Handle implements Disposable {
  private constructor()
  /** The stack this scope is open on. */
  readonly stack: ScopeStack
  /** Whether `end()` was called. */
  readonly ended: boolean
  /**
   * Close the scope and emit its end event. It must be the innermost open
   * scope of its stack (`ScopeStackError`, code `ERR_RELAY_SCOPE_NOT_ON_TOP`).
   */
  end(options?: EndScopeOptions): void
  /** Ends the scope unless it already ended. */
  [Symbol.dispose](): void
}

export interface ScopeOptions {
  /** Default `'function'`. */
  type?: ScopeType
  /** Record this parent instead of the stack's top (the scope is still pushed on the stack). */
  parent?: Handle | string
  attributes?: Attribute[]
  /** Emitted as the start event's `data`. */
  input?: JsonInput
  /** Kept on the handle, never emitted. */
  data?: JsonInput
  /** Emitted on start; end metadata is merged over it. */
  metadata?: JsonObject
}

export interface EndScopeOptions {
  /** Emitted as the end event's `data`. */
  output?: JsonInput
  /** Shallow-merged over the start metadata. */
  metadata?: JsonObject
}

export interface MarkOptions {
  /** Default: the current scope. */
  parent?: Handle | string
  data?: JsonInput
  dataSchema?: { name: string; version: string }
  metadata?: JsonObject
  category?: ScopeType
  categoryProfile?: JsonObject
}

/** A new, empty scope stack: an independent root for a request or task. */
export declare function createScopeStack(): ScopeStack
/** The scope stack of the calling async context. */
export declare function currentScopeStack(): ScopeStack
/** Run `fn` with `stack` as the current scope stack of its async context. */
export declare function withScopeStack<T>(stack: ScopeStack, fn: () => T): T
/** Open a scope on the current stack and emit its start event. */
export declare function pushScope(name: string, options?: ScopeOptions): ScopeHandle
/** Close `handle`; the same as `handle.end(options)`. */
export declare function popScope(handle: ScopeHandle, options?: EndScopeOptions): void
/** The innermost open scope of the current stack. */
export declare function currentScope(): ScopeHandle
/**
 * Run `fn(scope)` inside a new scope opened on a fork of the current stack,
 * with that fork as `fn`'s async context: concurrent `scope()` calls each get
 * the right parent and cannot pop each other's scopes. The scope ends (status
 * OK or ERROR) when `fn` returns or its Promise settles. Returns what `fn`
 * returns.
 */
/** What `scope()` returns for `fn`'s `T`: a thenable comes back as a Promise. */
export type Scoped<T> = T extends { then(onFulfilled: (value: infer U) => any, ...rest: any[]): any } ? Promise<Awaited<U>> : T
export declare function scope<T>(name: string, fn: (scope: ScopeHandle) => T): Scoped<T>
export declare function scope<T>(name: string, options: ScopeOptions, fn: (scope: ScopeHandle) => T): Scoped<T>
/**
 * Emit a mark (a point-in-time event) under the current scope. When nobody
 * subscribes it does nothing: its payloads are converted (and refused when
 * JSON cannot represent them) only while someone listens.
 */
export declare function mark(name: string, options?: MarkOptions): void

// ----------------------------------------------------------------- calls ---

export interface CallOptions {
  /** Default: the current scope. */
  parent?: Handle | string
  attributes?: Attribute[]
  /** Application data; the end payload when the call fails. */
  data?: JsonInput
  /** Emitted on start and merged into the end event. */
  metadata?: JsonObject
  /** Tool calls only (an LLM call refuses it): the model's tool call id. */
  toolCallId?: string
  /** LLM calls only (a tool call refuses it): the model name. */
  modelName?: string
  /**
   * Aborts the call: its Promise rejects with `signal.reason`, the runtime
   * records a cancelled end event, and the callback sees the signal. For a
   * streaming call it applies until the stream ends: aborting then closes
   * the provider and rejects the pending and later `next()`. Many calls may
   * share one signal (it gets one listener, which holds no finished or
   * abandoned call).
   */
  signal?: AbortSignal
}

/** Options of a tool call: `modelName` belongs to LLM calls. */
export type ToolCallOptions = Omit<CallOptions, 'modelName'>
/** Options of an LLM call: `toolCallId` belongs to tool calls. */
export type LlmCallOptions = Omit<CallOptions, 'toolCallId'>

/** What a tool or provider callback receives besides its request. */
export interface CallbackContext {
  /** The call's `signal` option (a signal that never aborts when none was given). */
  signal: AbortSignal
}

/** An LLM request: provider headers (credentials never reach events) and body. */
export interface LlmRequest<C extends JsonInput = JsonInput> {
  headers?: { [name: string]: Json }
  content: C
}

/**
 * The request as a provider or middleware sees it (`headers` always
 * present). A provider's `C` is its caller's content type.
 */
export interface LlmRequestView<C = Json> {
  headers: { [name: string]: Json }
  content: C
}

/**
 * Run a tool call through the managed pipeline: conditional guardrails,
 * request intercepts, start event, execution intercepts, `fn`, end event.
 * `fn` runs with the call as its current scope; scopes it leaves open are
 * ended when it settles, before the call's end event.
 *
 * Values are converted with `JSON.stringify` semantics (and refused when JSON
 * cannot represent them) only where they must leave JS: for the events when
 * someone subscribes (sanitizers rewrite a copy of that), and for native
 * middleware, middleware registered on another thread (a worker) or a tool
 * execution intercept, which then get JSON copies, as does `fn`. Otherwise
 * they pass through as they are, subscribed or not: conditional guardrails
 * and request intercepts written in JS get the caller's own `args`, `fn` gets
 * what the last request intercept returned (or `args`), and the call
 * resolves with `fn`'s own result. Middleware should therefore not mutate
 * the value it is given; a request intercept returns a new one.
 */
export declare function toolCall<A extends JsonInput, R extends JsonInput | void, P = A>(
  name: string,
  args: A,
  /** `P`: what `fn` is given, `args` unless a request intercept rewrites it. */
  fn: (args: P, ctx: CallbackContext) => R | PromiseLike<R>,
  options?: ToolCallOptions,
): Promise<R>

/**
 * Run a unary LLM call through the managed pipeline. `fn` (the provider)
 * gets `{ headers, content }` (headers `{}` when absent) and runs with the
 * call as its current scope.
 *
 * Values pass through and are converted as for {@link toolCall}: `fn` gets
 * the caller's own `content` and headers (or what the last request
 * intercept returned, checked as a request), and the call resolves with
 * `fn`'s own response, unless native middleware, middleware registered on
 * another thread or an LLM execution intercept sees the request; then they
 * are JSON copies. Events record a JSON copy.
 */
export declare function llmCall<C extends JsonInput, R extends JsonInput | void>(
  name: string,
  request: LlmRequest<C>,
  fn: (request: LlmRequestView<C>, ctx: CallbackContext) => R | PromiseLike<R>,
  options?: LlmCallOptions,
): Promise<R>

/** The chunks of a streaming call, pulled one at a time (no read-ahead). */
export declare class LlmStream<T = Json> implements AsyncIterableIterator<T>, AsyncDisposable {
  private constructor()
  next(): Promise<IteratorResult<T, undefined>>
  /** Stop early: the provider iterator is closed (its `finally` blocks run, and resolve this), then the call is recorded as cancelled. */
  return(): Promise<IteratorResult<T, undefined>>
  /** Same as `return()`, without waiting for the provider to clean up. Idempotent. */
  close(): void
  [Symbol.asyncIterator](): LlmStream<T>
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * Run a streaming LLM call. `provider` returns an (async) iterable of chunks;
 * the result pulls them one at a time through the pipeline.
 *
 * Values pass through as for {@link llmCall}: the provider gets the
 * caller's own request values unless native middleware, middleware of
 * another thread or a stream execution intercept sees the request, and the
 * caller gets the provider's own chunks unless a stream execution
 * intercept wraps the provider; otherwise they get JSON copies. Events
 * record JSON copies.
 */
export declare function llmStreamCall<C extends JsonInput, T extends JsonInput>(
  name: string,
  request: LlmRequest<C>,
  provider: (request: LlmRequestView<C>, ctx: CallbackContext) => AsyncIterable<T> | Iterable<T>,
  options?: LlmCallOptions,
): Promise<LlmStream<T>>

/** A tool or LLM call the application runs itself. */
export declare class CallHandle extends Handle {
  private constructor()
  /** Emit the success end event (sanitize-response guardrails apply). */
  end(output: JsonInput, options?: { metadata?: JsonObject }): Promise<void>
  /** Emit the failure end event for `error`. */
  fail(error: unknown, options?: { metadata?: JsonObject }): void
}

/** Start a tool call the application runs itself; emits its start event. */
export declare function startToolCall(name: string, args: JsonInput, options?: Omit<ToolCallOptions, 'signal'>): Promise<CallHandle>
/** Start an LLM call the application runs itself; emits its start event. */
export declare function startLlmCall(name: string, request: LlmRequest, options?: Omit<LlmCallOptions, 'signal'>): Promise<CallHandle>

// ------------------------------------------------------------ middleware ---

/**
 * What middleware is told about the call it runs for. The middleware of one
 * `toolCall` or `llmCall` share one frozen object; other calls (streams,
 * manually ended calls, calls made on another thread) may give each stage
 * its own, so key per-call state on `uuid`, not on the object.
 */
export declare class CallContext {
  private constructor()
  /** Tool name or LLM route name. */
  readonly name: string
  readonly kind: 'tool' | 'llm' | 'llm_stream'
  /** Uuid the call's start and end events carry. */
  readonly uuid: string
  readonly parentUuid: string
  readonly toolCallId: string | undefined
  readonly modelName: string | undefined
}

/**
 * A conditional guardrail's verdict: nothing, `null` or `true` allows the
 * call; `false` or a reason string rejects it (`GuardrailRejectedError`).
 */
export type Verdict = void | null | boolean | string

/**
 * Continue an execution chain. Returns the result directly when the rest of
 * the chain finished synchronously and a Promise otherwise; `await` both.
 */
export type Next<Req, Res> = (request: Req) => MaybePromise<Res>

/** Every middleware family and the callback it takes. */
export interface MiddlewareFamilies {
  tool_conditional_execution: (args: any, ctx: CallContext) => MaybePromise<Verdict>
  tool_request_intercept: (args: any, ctx: CallContext) => MaybePromise<Json>
  tool_sanitize_request: (args: any, ctx: CallContext) => MaybePromise<Json>
  tool_sanitize_response: (result: any, ctx: CallContext) => MaybePromise<Json>
  tool_execution_intercept: (args: any, next: Next<Json, Json>, ctx: CallContext) => MaybePromise<Json>
  llm_conditional_execution: (request: LlmRequestView, ctx: CallContext) => MaybePromise<Verdict>
  llm_request_intercept: (request: LlmRequestView, ctx: CallContext) => MaybePromise<LlmRequest>
  llm_sanitize_request: (request: LlmRequestView, ctx: CallContext) => MaybePromise<LlmRequest>
  llm_sanitize_response: (response: any, ctx: CallContext) => MaybePromise<Json>
  llm_execution_intercept: (request: LlmRequestView, next: Next<LlmRequest, Json>, ctx: CallContext) => MaybePromise<Json>
  llm_stream_execution_intercept: (
    request: LlmRequestView,
    next: Next<LlmRequest, LlmStream>,
    ctx: CallContext,
  ) => MaybePromise<AsyncIterable<Json> | Iterable<Json>>
}

/** A middleware family's stable wire name. */
export type Family = keyof MiddlewareFamilies

export interface RegisterOptions {
  /** Lower runs first. Default 0; negative allowed. */
  priority?: number
  /** Request intercepts: skip later request intercepts. Default false. */
  breakChain?: boolean
  /** Make the registration scope-local: it is removed when this scope ends. */
  scope?: ScopeHandle
}

/** A registration; `dispose()` (or `using`) removes it. */
export declare class Registration implements Disposable {
  private constructor()
  readonly family: Family | 'subscriber'
  readonly name: string
  /** Remove it. Returns whether it was still registered. */
  dispose(): boolean
  [Symbol.dispose](): void
}

/**
 * Register middleware. A callback may return a value or a Promise; a throw
 * (or rejection) rejects the managed call, except for sanitizers, which fail
 * open (the payload is omitted from the event and counted).
 */
export declare function register<F extends Family>(
  family: F,
  name: string,
  fn: MiddlewareFamilies[F],
  options?: RegisterOptions,
): Registration
/** Remove a registration by name. */
export declare function deregister(family: Family | 'subscriber', name: string, options?: { scope?: ScopeHandle }): boolean
/** Names of the global registrations of `family`, in run order. */
export declare function registrations(family: Family | 'subscriber'): string[]

// ---------------------------------------------------------------- events ---

interface EventBase {
  atof_version: '0.1'
  uuid: string
  /** The parent scope (top-level scopes point at their stack's implicit root). */
  parent_uuid: string
  /** RFC 3339, nanoseconds, UTC. */
  timestamp: string
  name: string
  data: Json
  data_schema: { name: string; version: string } | null
  metadata: JsonObject | null
}

interface ScopeEventBase extends EventBase {
  kind: 'scope'
  attributes: Attribute[]
}

/** Start or end of a tool call (`category_profile.tool_call_id` when known). */
export interface ToolScopeEvent extends ScopeEventBase {
  category: 'tool'
  scope_category: 'start' | 'end'
  category_profile: { tool_call_id?: string }
}

/** Start or end of an LLM call (`category_profile.model_name` when known). */
export interface LlmScopeEvent extends ScopeEventBase {
  category: 'llm'
  scope_category: 'start' | 'end'
  category_profile: { model_name?: string }
}

/** Start or end of any other scope. */
export interface PlainScopeEvent extends ScopeEventBase {
  category: Exclude<ScopeType, 'tool' | 'llm'>
  scope_category: 'start' | 'end'
  category_profile: null
}

export type ScopeEvent = ToolScopeEvent | LlmScopeEvent | PlainScopeEvent

/** A point-in-time event (checkpoints, guardrail rejections, `llm.chunk`s). */
export interface MarkEvent extends EventBase {
  kind: 'mark'
  category: ScopeType | null
  category_profile: JsonObject | null
}

/** An event as subscribers receive it: the canonical ATOF 0.1 record. */
export type RelayEvent = ScopeEvent | MarkEvent

export interface SubscribeOptions {
  priority?: number
  /**
   * Receive only the events of this scope and what runs inside it while it
   * is open (removed when it ends). A managed call (`toolCall`, `llmCall`,
   * `llmStreamCall`) started inside it still delivers its end event here,
   * even when that comes after the scope ended. A manual call
   * (`startToolCall`) ended after the scope ended does not.
   */
  scope?: ScopeHandle
  /** Called when the subscriber throws or rejects (it is isolated either way). */
  onError?: (error: unknown, event: RelayEvent) => void
}

/**
 * Receive every event, in emission order, after it happened (in batches, on
 * the JS thread). `fn` may return a Promise, which `flush()` waits for.
 * A program that ends without `flush()` still delivers what it emitted
 * before exiting (it does not wait for the Promises subscribers return).
 * Removing a subscriber (`dispose()`, or `unsubscribe(name)` for a global
 * one) stops its delivery at once, even in the middle of a batch.
 */
export declare function subscribe(
  name: string,
  fn: (event: RelayEvent) => void | Promise<void>,
  options?: SubscribeOptions,
): Registration
/** Remove a subscriber by name. */
export declare function unsubscribe(name: string, options?: { scope?: ScopeHandle }): boolean
/** How long `flush()` or `shutdown()` may wait. */
export interface WaitOptions {
  /**
   * Reject with `ERR_RELAY_TIMEOUT` after this many milliseconds (a
   * subscriber Promise that never settles, an exporter whose collector
   * does not answer). Default: wait as long as it takes.
   */
  timeoutMs?: number
}
/**
 * Resolves once every event emitted before the call reached the subscribers
 * and the Promises they returned settled. Never rejects because of a
 * subscriber (only on `timeoutMs`).
 */
export declare function flush(options?: WaitOptions): Promise<void>
/** Deliver what is queued, then stop delivery (later events are dropped and counted). */
export declare function shutdown(options?: WaitOptions): Promise<void>

/** Runtime counters. */
export interface RelayStats extends NativeStats {
  /** Subscriber callbacks that threw or rejected (isolated). */
  subscriberErrors: number
}
export declare function stats(): RelayStats

// ---------------------------------------------------------------- errors ---

/** Every stable error code. */
export type RelayErrorCode =
  | 'ERR_RELAY_INVALID_ARGUMENT'
  | 'ERR_RELAY_NOT_FOUND'
  | 'ERR_RELAY_ALREADY_EXISTS'
  | 'ERR_RELAY_SCOPE_NOT_ON_TOP'
  | 'ERR_RELAY_FOREIGN_SCOPE'
  | 'ERR_RELAY_ROOT_SCOPE'
  | 'ERR_RELAY_GUARDRAIL_REJECTED'
  | 'ERR_RELAY_CALLBACK_FAILED'
  | 'ERR_RELAY_CANCELLED'
  | 'ERR_RELAY_CONTINUATION_EXPIRED'
  | 'ERR_RELAY_SHUT_DOWN'
  | 'ERR_RELAY_TIMEOUT'
  | 'ERR_RELAY_INTERNAL'
  | 'ERR_RELAY_EXPORT_FAILED'

/**
 * Base class of nemo-relay's errors. `instanceof RelayError` is true for every
 * error with an `ERR_RELAY_*` code, including `InvalidArgumentError` (a TypeError).
 * Errors thrown by your own callbacks are passed through unchanged.
 */
export declare class RelayError extends Error {
  constructor(message: string, code: RelayErrorCode, options?: ErrorOptions)
  readonly code: RelayErrorCode
  /** For callback failures without an original error: the JS class name. */
  readonly exceptionType?: string
}

/** A malformed argument (wrong type, non-JSON value, bad name, unknown option). */
export declare class InvalidArgumentError extends TypeError {
  constructor(message: string, options?: ErrorOptions)
  readonly code: 'ERR_RELAY_INVALID_ARGUMENT'
}

/** A conditional guardrail blocked the call. */
export declare class GuardrailRejectedError extends RelayError {
  constructor(message: string, guardrail: string, reason: string)
  readonly code: 'ERR_RELAY_GUARDRAIL_REJECTED'
  /** Registration name of the guardrail. */
  readonly guardrail: string
  /** The reason it gave. */
  readonly reason: string
}

/** A scope was ended out of order, on another stack, or was a stack's root. */
export declare class ScopeStackError extends RelayError {
  constructor(message: string, code: 'ERR_RELAY_SCOPE_NOT_ON_TOP' | 'ERR_RELAY_FOREIGN_SCOPE' | 'ERR_RELAY_ROOT_SCOPE')
  readonly code: 'ERR_RELAY_SCOPE_NOT_ON_TOP' | 'ERR_RELAY_FOREIGN_SCOPE' | 'ERR_RELAY_ROOT_SCOPE'
}

// --------------------------------------------------------------- plugins ---

/** How to treat one class of problem in a plugin document. */
export type PolicyLevel = 'ignore' | 'warn' | 'error'

/** One component of a plugin document. */
export interface ComponentDocument {
  /** Plugin kind (list them with `plugins.kinds()` or `npx nemo-relay kinds`). */
  kind: string
  /** Default true. A disabled component is validated but installs nothing. */
  enabled?: boolean
  /** Kind-specific settings, snake_case. Default `{}`. */
  config?: JsonObject
}

/**
 * A plugin configuration document. Keys are snake_case in every language and
 * file format (the same document as `plugins.toml`).
 */
export interface PluginDocument {
  /** Must be 1. */
  version?: number
  /** Activated in order. */
  components?: ComponentDocument[]
  policy?: {
    /** A component whose kind is not registered. Default `'warn'` (it is skipped). */
    unknown_component?: PolicyLevel
    /** A field nobody understands. Default `'warn'`. */
    unknown_field?: PolicyLevel
    /** A value of the right type that a kind does not support. Default `'error'`. */
    unsupported_value?: PolicyLevel
  }
}

/** One finding about a plugin document. */
export interface Diagnostic {
  level: 'warning' | 'error'
  /** Stable machine-readable code (`plugin.unknown_field`, `plugin.missing_field`, …). */
  code: string
  /** What is wrong and how to fix it. */
  message: string
  /** Index of the component in `components`, when the finding is about one. */
  component?: number
  /** Kind of that component. */
  kind?: string
  /** Path of the field (`config.headers`, `policy.unknown_field`, `kind`). */
  field?: string
}

/** What `plugins.validate` returns. */
export interface ConfigReport {
  diagnostics: Diagnostic[]
}

/** What one component installed. */
export interface ComponentReport {
  index: number
  kind: string
  enabled: boolean
  /** Installed registrations with their qualified names (`<kind>#<n>/<name>`). */
  registrations: { family: Family | 'subscriber'; name: string }[]
  diagnostics: Diagnostic[]
}

/** What `plugins.initialize` resolves with. */
export interface ActivationReport {
  components: ComponentReport[]
  /** Document-level warnings. */
  diagnostics: Diagnostic[]
}

/** A registered plugin kind. */
export interface PluginKindInfo {
  kind: string
  description: string
}

/**
 * What a JS plugin kind's validate hook reports through. Field paths are
 * relative to the component's `config` (`''` is the config itself).
 */
export declare class ConfigCheck {
  private constructor()
  /** The component's `config` object. */
  readonly config: JsonObject
  /** Report an error (it blocks activation). */
  error(field: string, code: string, message: string): void
  /** Report a warning. */
  warn(field: string, code: string, message: string): void
  /** A value this kind does not support (level from `policy.unsupported_value`). */
  unsupported(field: string, message: string): void
  /** Report every key of the object at `path` that is not in `known` (level from `policy.unknown_field`). */
  knownFields(path: string, known: string[]): void
  /** Report one unknown field (level from `policy.unknown_field`). */
  unknownField(path: string): void
  /** A required top-level field's value, or `undefined` after reporting `plugin.missing_field`. */
  require(field: string, what: string): Json | undefined
  /** An optional top-level field of the right type, or `undefined` (wrong types report `plugin.invalid_type`). */
  typed(field: string, expected: string, ok: (value: Json) => boolean): Json | undefined
}

/** Options of a registration through a plugin context. */
export interface PluginRegisterOptions {
  priority?: number
  breakChain?: boolean
}

/**
 * The component's registration context, handed to a JS plugin kind's
 * register hook: the global registration API, with names qualified per
 * component and everything installed atomically with the whole activation.
 * Usable only while the hook runs.
 */
export declare class PluginContext {
  private constructor()
  readonly kind: string
  /** 1-based instance number among the enabled components of this kind. */
  readonly instance: number
  /** The runtime-visible name of a local registration name. */
  qualify(local: string): string
  /** Register middleware under a local name; returns the qualified name. */
  register<F extends Family>(family: F, name: string, fn: MiddlewareFamilies[F], options?: PluginRegisterOptions): string
  /** Register a subscriber under a local name; returns the qualified name. */
  subscribe(
    name: string,
    fn: (event: RelayEvent) => void | Promise<void>,
    options?: { priority?: number; onError?: (error: unknown, event: RelayEvent) => void },
  ): string
  /** Run `fn` when the activation is cleared, replaced or discarded. */
  onTeardown(fn: () => void): void
}

/**
 * A finding a validate hook may return instead of (or besides) using the
 * check; a plain string is an error finding with that message.
 */
export interface ValidationFinding {
  level?: 'error' | 'warning' | 'warn'
  /** Default `<kind>.invalid_config`. */
  code?: string
  message: string
  field?: string
}

/** A plugin kind written in JS. Both hooks are synchronous. */
export interface PluginKindSpec {
  /** The stable kind string documents name. */
  kind: string
  /** One line, shown by `nemo-relay kinds`. */
  description?: string
  /** Whether a document may hold several components of this kind. Default true. */
  allowsMultiple?: boolean
  /** Check the component's config; must not have side effects. */
  validate?(config: JsonObject, check: ConfigCheck): void | (ValidationFinding | string)[]
  /** Install the component's behaviour through `ctx`. A throw rolls the whole activation back. */
  register(config: JsonObject, ctx: PluginContext): void
}

/** What `plugins.registerKind` returns; `dispose()` removes the kind. */
export declare class PluginKindRegistration implements Disposable {
  private constructor()
  readonly kind: string
  dispose(): boolean
  [Symbol.dispose](): void
}

/** Plugin documents and kinds. `config` is a document or a `.toml` / `.json` path. */
export declare const plugins: {
  /** Check a document; changes nothing. Throws for an unreadable (`ERR_RELAY_NOT_FOUND`) or unparsable file. */
  validate(config: PluginDocument | string): ConfigReport
  /**
   * Activate a document in place of the active one, atomically: on failure
   * it rejects with a `RelayError` (configuration errors carry
   * `diagnostics`) and the previous configuration stays active.
   */
  initialize(config: PluginDocument | string): Promise<ActivationReport>
  /** Remove everything the active configuration installed; whether one was active. */
  clear(): boolean
  /** The report of the active configuration, or `null`. */
  activeReport(): ActivationReport | null
  /** Registered kinds, sorted. */
  kinds(): PluginKindInfo[]
  /** Register a plugin kind written in JS (`ERR_RELAY_ALREADY_EXISTS` if taken). */
  registerKind(spec: PluginKindSpec): PluginKindRegistration
  /** Remove a kind; whether it was registered. */
  deregisterKind(kind: string): boolean
}

/** A `RelayError` from a failed configuration (`plugins.initialize`). */
export interface PluginConfigError extends RelayError {
  diagnostics?: Diagnostic[]
}

// ------------------------------------------------------------- exporters ---

/** What every exporter does. Failed writes reject with `ERR_RELAY_EXPORT_FAILED`. */
declare abstract class Exporter implements AsyncDisposable {
  /**
   * Subscribe to the runtime's events (default name `nemo_relay.<format>`).
   * Throws `ERR_RELAY_ALREADY_EXISTS` when the name is taken or this
   * exporter is registered already (it would write every event twice), and
   * `ERR_RELAY_SHUT_DOWN` once it (or the runtime) was shut down.
   */
  register(options?: { name?: string }): this
  /** Resolves once everything emitted so far has been exported. */
  flush(): Promise<void>
  /**
   * Unsubscribe and finish every write. Idempotent: a second call, even a
   * concurrent one, resolves once the first has finished.
   */
  shutdown(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}
export type { Exporter }

export interface AtofExporterOptions {
  /** The output file (directory and name); or give `outputDirectory` / `filename`. */
  path?: string
  /** Default `'.'`; created if missing. */
  outputDirectory?: string
  /** `{timestamp}` is replaced by the start time. Default `nemo-relay-events-{timestamp}.jsonl`. */
  filename?: string
  /** Default `'append'` (resume after existing records); `'overwrite'` starts the stream anew, removing its earlier rotated segments. */
  mode?: 'append' | 'overwrite'
  rotation?: { maxBytes: number; maxFiles?: number }
  /** fsync on every flush. Default false. */
  syncOnFlush?: boolean
  maxPendingBatches?: number
}

/** Every event as one ATOF 0.1 JSON line, in emission order. */
export declare class AtofExporter extends Exporter {
  constructor(options?: AtofExporterOptions)
  /** Files written so far, oldest first. */
  files(): string[]
  /**
   * `events` serialized; `droppedAfterShutdown`; `notWritten`: events lost
   * to a failed write (the file stops at the first error, which `flush()`
   * and `shutdown()` reject with).
   */
  stats(): { events: number; droppedAfterShutdown: number; notWritten: number }
}

export interface AtifExporterOptions {
  /** Write `<dir>/<session>.json` when a root agent scope ends (alias of `outputDirectory`). */
  dir?: string
  outputDirectory?: string
  /** Must contain `{session_id}`. Default `{session_id}.json`. */
  filenameTemplate?: string
  agentName?: string
  agentVersion?: string
  /** Which session `export()` returns. Default: the most recent root. */
  sessionId?: string
  /** Keep the raw events under `extra.observed_events`. */
  includeRawEvents?: boolean
}

/** An ATIF trajectory document (`schema_version: 'ATIF-v1.7'`). */
export interface AtifTrajectory {
  schema_version: string
  session_id?: string
  agent: { name: string; version: string; [key: string]: unknown }
  steps: JsonObject[]
  [key: string]: unknown
}

/** ATIF v1.7 trajectories: one per root agent scope. */
export declare class AtifExporter extends Exporter {
  constructor(options?: AtifExporterOptions)
  /** The trajectory of the configured (or most recent) session. */
  export(): AtifTrajectory
  /** One trajectory per buffered root agent scope, oldest first. */
  exportAll(): AtifTrajectory[]
  /** Forget every buffered event. */
  clear(): void
  /** Files written so far, oldest first (the most recent 10,000). */
  writtenFiles(): string[]
}

export interface OtlpExporterOptions {
  /** Traces URL or base URL. Default from `OTEL_EXPORTER_OTLP_*`, else `http://localhost:4318`. */
  endpoint?: string
  protocol?: 'http/protobuf' | 'http/json'
  headers?: { [name: string]: string }
  timeoutMillis?: number
  /** Attribute conventions. Default `'genai'`. */
  mode?: 'genai' | 'openinference'
  /**
   * Record prompts, answers, tool arguments and results. Default: true in
   * `'openinference'` mode, false in `'genai'`. In `'openinference'` mode the
   * `OPENINFERENCE_HIDE_{INPUTS,OUTPUTS,INPUT_MESSAGES,INPUT_TEXT,INPUT_IMAGES,
   * OUTPUT_MESSAGES,OUTPUT_TEXT,LLM_INVOCATION_PARAMETERS}=true` variables hide
   * parts of it (hidden text is written as `__REDACTED__`).
   */
  captureContent?: boolean
  /** Beats `OTEL_SERVICE_NAME`, as does `service.name` in `resourceAttributes`. */
  serviceName?: string
  resourceAttributes?: { [name: string]: string }
  maxQueueSize?: number
  maxExportBatchSize?: number
  scheduleDelayMillis?: number
  maxRetries?: number
  initialBackoffMillis?: number
  maxBackoffMillis?: number
  /** Marks not turned into span events. Default `['llm.chunk']`. */
  excludedMarks?: string[]
  /** Read the `OTEL_*` variables. Default true. */
  useEnv?: boolean
}

/** Scopes as OTLP/HTTP spans. Delivery is best effort; `stats()` counts drops. */
export declare class OtlpExporter extends Exporter {
  constructor(options?: OtlpExporterOptions)
  stats(): {
    exported: number
    droppedQueueFull: number
    /** Lost in a batch that failed after its retries, or rejected by the collector (OTLP partial success). */
    droppedExportFailed: number
    requests: number
    retries: number
    lastError?: string
  }
}
