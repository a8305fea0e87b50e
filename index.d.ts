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

/** What every handle knows about its scope, tool call or LLM call. */
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
  parent?: ScopeHandle | string
  attributes?: Attribute[]
  /** Emitted as the start event's `data`. */
  input?: Json
  /** Kept on the handle, never emitted. */
  data?: Json
  /** Emitted on start; end metadata is merged over it. */
  metadata?: JsonObject
}

export interface EndScopeOptions {
  /** Emitted as the end event's `data`. */
  output?: Json
  /** Shallow-merged over the start metadata. */
  metadata?: JsonObject
}

export interface MarkOptions {
  /** Default: the current scope. */
  parent?: ScopeHandle | string
  data?: Json
  dataSchema?: { name: string; version: string }
  metadata?: Json
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
export declare function scope<T>(name: string, fn: (scope: ScopeHandle) => T): T
export declare function scope<T>(name: string, options: ScopeOptions, fn: (scope: ScopeHandle) => T): T
/** Emit a mark (a point-in-time event) under the current scope. */
export declare function mark(name: string, options?: MarkOptions): void

// ----------------------------------------------------------------- calls ---

export interface CallOptions {
  /** Default: the current scope. */
  parent?: ScopeHandle | string
  attributes?: Attribute[]
  /** Application data; the end payload when the call fails. */
  data?: Json
  /** Emitted on start and merged into the end event. */
  metadata?: JsonObject
  /** Tool calls: the model's tool call id. */
  toolCallId?: string
  /** LLM calls: the model name. */
  modelName?: string
  /**
   * Aborts the call: its Promise rejects with `signal.reason`, the runtime
   * records a cancelled end event, and the callback sees the signal.
   */
  signal?: AbortSignal
}

/** What a tool or provider callback receives besides its request. */
export interface CallbackContext {
  /** The call's `signal` option (a signal that never aborts when none was given). */
  signal: AbortSignal
}

/** An LLM request: provider headers (credentials never reach events) and body. */
export interface LlmRequest {
  headers?: { [name: string]: Json }
  content: Json
}

/** The request as middleware sees it (`headers` always present). */
export interface LlmRequestView {
  headers: { [name: string]: Json }
  content: Json
}

/**
 * Run a tool call through the managed pipeline: conditional guardrails,
 * request intercepts, start event, execution intercepts, `fn`, end event.
 * `fn` runs with the call as its current scope.
 */
export declare function toolCall<R extends Json = Json>(
  name: string,
  args: Json,
  fn: (args: any, ctx: CallbackContext) => MaybePromise<R>,
  options?: CallOptions,
): Promise<R>

/** Run a unary LLM call through the managed pipeline. */
export declare function llmCall<R extends Json = Json>(
  name: string,
  request: LlmRequest,
  fn: (request: LlmRequestView, ctx: CallbackContext) => MaybePromise<R>,
  options?: CallOptions,
): Promise<R>

/** The chunks of a streaming call, pulled one at a time (no read-ahead). */
export declare class LlmStream implements AsyncIterableIterator<Json>, AsyncDisposable {
  private constructor()
  next(): Promise<IteratorResult<Json, undefined>>
  /** Stop early: the provider iterator is closed, the call is recorded as cancelled. */
  return(): Promise<IteratorResult<Json, undefined>>
  /** Same as `return()`, synchronously. Idempotent. */
  close(): void
  [Symbol.asyncIterator](): LlmStream
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * Run a streaming LLM call. `provider` returns an (async) iterable of chunks;
 * the result pulls them one at a time through the pipeline.
 */
export declare function llmStreamCall(
  name: string,
  request: LlmRequest,
  provider: (request: LlmRequestView, ctx: CallbackContext) => AsyncIterable<Json> | Iterable<Json>,
  options?: CallOptions,
): Promise<LlmStream>

/** A tool or LLM call the application runs itself. */
export declare class CallHandle extends Handle {
  private constructor()
  /** Emit the success end event (sanitize-response guardrails apply). */
  end(output: Json, options?: { metadata?: JsonObject }): Promise<void>
  /** Emit the failure end event for `error`. */
  fail(error: unknown, options?: { metadata?: JsonObject }): void
}

/** Start a tool call the application runs itself; emits its start event. */
export declare function startToolCall(name: string, args: Json, options?: Omit<CallOptions, 'signal'>): Promise<CallHandle>
/** Start an LLM call the application runs itself; emits its start event. */
export declare function startLlmCall(name: string, request: LlmRequest, options?: Omit<CallOptions, 'signal'>): Promise<CallHandle>

// ------------------------------------------------------------ middleware ---

/** What middleware is told about the call it runs for. */
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
  /** Receive only events emitted while this scope is open (removed when it ends). */
  scope?: ScopeHandle
  /** Called when the subscriber throws or rejects (it is isolated either way). */
  onError?: (error: unknown, event: RelayEvent) => void
}

/**
 * Receive every event, in emission order, after it happened (in batches, on
 * the JS thread). `fn` may return a Promise, which `flush()` waits for.
 */
export declare function subscribe(
  name: string,
  fn: (event: RelayEvent) => void | Promise<void>,
  options?: SubscribeOptions,
): Registration
/** Remove a subscriber by name. */
export declare function unsubscribe(name: string, options?: { scope?: ScopeHandle }): boolean
/**
 * Resolves once every event emitted before the call reached the subscribers
 * and the Promises they returned settled. Never rejects because of a subscriber.
 */
export declare function flush(): Promise<void>
/** Deliver what is queued, then stop delivery (later events are dropped and counted). */
export declare function shutdown(): Promise<void>

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

/**
 * Base class of nemo-relay's errors. `instanceof RelayError` is true for every
 * error with an `ERR_RELAY_*` code, including `InvalidArgumentError` (a TypeError).
 * Errors thrown by your own callbacks are passed through unchanged.
 */
export declare class RelayError extends Error {
  readonly code: RelayErrorCode
  /** For callback failures without an original error: the JS class name. */
  readonly exceptionType?: string
}

/** A malformed argument (wrong type, non-JSON value, bad name, unknown option). */
export declare class InvalidArgumentError extends TypeError {
  readonly code: 'ERR_RELAY_INVALID_ARGUMENT'
}

/** A conditional guardrail blocked the call. */
export declare class GuardrailRejectedError extends RelayError {
  readonly code: 'ERR_RELAY_GUARDRAIL_REJECTED'
  /** Registration name of the guardrail. */
  readonly guardrail: string
  /** The reason it gave. */
  readonly reason: string
}

/** A scope was ended out of order, on another stack, or was a stack's root. */
export declare class ScopeStackError extends RelayError {
  readonly code: 'ERR_RELAY_SCOPE_NOT_ON_TOP' | 'ERR_RELAY_FOREIGN_SCOPE' | 'ERR_RELAY_ROOT_SCOPE'
}
