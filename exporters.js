'use strict'
// nemo-relay: exporters — ATOF JSON Lines, ATIF trajectories, OTLP traces.
//
// index.js loads this module and hands it the facade internals it shares.
// Options are camelCase here and are mapped onto the snake_case configs of
// the Rust exporters (crates/observability), which validate them and name a
// bad field by its Rust path. Each exporter follows the same life cycle:
//
//   new XExporter(options) → register() → flush() / export() → shutdown()
//
// flush() and shutdown() run their blocking work on a native thread and
// return Promises; `await using` shuts an exporter down.

const path = require('node:path')

module.exports = function createExporters(internals) {
  const { native, invalid, checkKeys, removedByName } = internals

  /**
   * Map `options` onto a snake_case config. `fields` maps each allowed
   * camelCase key to its config key, or to a function returning entries.
   */
  function toConfig(options, fields, what) {
    if (options === undefined) return {}
    checkKeys(options, new Set(Object.keys(fields)), what)
    const out = {}
    for (const key of Object.keys(fields)) {
      const value = options[key]
      if (value === undefined) continue
      const target = fields[key]
      if (typeof target === 'function') Object.assign(out, target(value))
      else out[target] = value
    }
    return out
  }

  const ATOF_FIELDS = {
    path: (p) => {
      if (typeof p !== 'string' || p === '') throw invalid('path must be a file path')
      return { output_directory: path.dirname(p), filename: path.basename(p) }
    },
    outputDirectory: 'output_directory',
    filename: 'filename',
    mode: 'mode',
    // A nested section: keeps its own key.
    rotation: (r) => ({ rotation: toConfig(r, { maxBytes: 'max_bytes', maxFiles: 'max_files' }, 'ATOF rotation option') }),
    syncOnFlush: 'sync_on_flush',
    maxPendingBatches: 'max_pending_batches',
  }
  const ATIF_FIELDS = {
    dir: 'output_directory',
    outputDirectory: 'output_directory',
    filenameTemplate: 'filename_template',
    agentName: 'agent_name',
    agentVersion: 'agent_version',
    sessionId: 'session_id',
    includeRawEvents: 'include_raw_events',
  }

  const OTLP_FIELDS = {
    endpoint: 'endpoint',
    protocol: 'protocol',
    headers: 'headers',
    timeoutMillis: 'timeout_millis',
    mode: 'mode',
    captureContent: 'capture_content',
    serviceName: 'service_name',
    resourceAttributes: 'resource_attributes',
    maxQueueSize: 'max_queue_size',
    maxExportBatchSize: 'max_export_batch_size',
    scheduleDelayMillis: 'schedule_delay_millis',
    maxRetries: 'max_retries',
    initialBackoffMillis: 'initial_backoff_millis',
    maxBackoffMillis: 'max_backoff_millis',
    excludedMarks: 'excluded_marks',
    useEnv: 'use_env',
  }

  /**
   * `new Native(config)`, with the snake_case field paths of a config error
   * (`rotation.max_bytes`) said as the camelCase options the caller wrote
   * (`rotation.maxBytes`). A `{placeholder}` is left as it is.
   */
  function construct(Native, config) {
    try {
      return new Native(config)
    } catch (error) {
      if (error?.code === 'ERR_RELAY_INVALID_ARGUMENT' && typeof error.message === 'string') {
        error.message = error.message.replace(/(?<![{\w])[a-z]+(?:_[a-z]+)+(?![\w}])/g, (snake) =>
          snake.replace(/_([a-z])/g, (_, c) => c.toUpperCase()),
        )
      }
      throw error
    }
  }

  function exclusive(options, a, b) {
    if (options !== undefined && options !== null && options[a] !== undefined && options[b] !== undefined) {
      throw invalid(`give either '${a}' or '${b}', not both`)
    }
  }

  const REGISTER_KEYS = new Set(['name'])

  /**
   * Registered exporters, held until their shutdown: `new AtofExporter(…)
   * .register()` with the object dropped must keep exporting (a collected
   * exporter would unregister itself and close its file).
   */
  const registered = new Map()
  // One removed by name (`unsubscribe(name)`) is no longer held: dropped, it
  // is collected and shuts down, as one never registered is.
  removedByName.add((family, name) => {
    if (family !== 'subscriber') return
    for (const [e, as] of registered) if (as === name) registered.delete(e)
  })

  let nativeOf
  /** What every exporter does: register, flush, shut down. */
  class Exporter {
    #native
    /** The name `register()` uses by default (`nemo_relay.<format>`). */
    #defaultName
    constructor(handle, format) {
      this.#native = handle
      this.#defaultName = `nemo_relay.${format}`
    }
    static {
      nativeOf = (e) => e.#native
    }
    /**
     * Subscribe to the runtime's events (as `options.name`, default
     * `nemo_relay.<format>`). Returns the exporter.
     */
    register(options) {
      let name
      if (options !== undefined) {
        checkKeys(options, REGISTER_KEYS, 'exporter registration option')
        name = options.name
        if (name !== undefined && (typeof name !== 'string' || name === '')) throw invalid('name must be a non-empty string')
      }
      this.#native.register(name)
      registered.set(this, name ?? this.#defaultName)
      return this
    }
    /** Resolves once everything emitted so far has been exported. */
    flush() {
      return this.#native.flush()
    }
    /** Unsubscribe and finish every write. Idempotent. */
    shutdown() {
      const done = this.#native.shutdown()
      registered.delete(this)
      return done
    }
    async [Symbol.asyncDispose]() {
      await this.shutdown()
    }
  }

  /** Every event as one ATOF JSON line, in emission order. */
  class AtofExporter extends Exporter {
    constructor(options) {
      exclusive(options, 'path', 'outputDirectory')
      exclusive(options, 'path', 'filename')
      super(construct(native.NativeAtofExporter, toConfig(options, ATOF_FIELDS, 'ATOF exporter option')), 'atof')
    }
    /** The files written so far, oldest first. */
    files() {
      return nativeOf(this).files()
    }
    /** `{ events, droppedAfterShutdown, notWritten }`. */
    stats() {
      return nativeOf(this).stats()
    }
  }

  /** ATIF v1.7 trajectories: one per root agent scope. */
  class AtifExporter extends Exporter {
    constructor(options) {
      exclusive(options, 'dir', 'outputDirectory')
      super(construct(native.NativeAtifExporter, toConfig(options, ATIF_FIELDS, 'ATIF exporter option')), 'atif')
    }
    /** The trajectory of the configured (or most recent) session. */
    export() {
      return nativeOf(this).export()
    }
    /** One trajectory per buffered root agent scope, oldest first. */
    exportAll() {
      return nativeOf(this).exportAll()
    }
    /** Forget every buffered event. */
    clear() {
      nativeOf(this).clear()
    }
    /** Files written so far (one per ended root agent scope). */
    writtenFiles() {
      return nativeOf(this).writtenFiles()
    }
  }

  /** Scopes as OTLP/HTTP spans (GenAI or OpenInference attributes). */
  class OtlpExporter extends Exporter {
    constructor(options) {
      super(construct(native.NativeOtlpExporter, toConfig(options, OTLP_FIELDS, 'OTLP exporter option')), 'otlp')
    }
    /** Export counters. */
    stats() {
      return nativeOf(this).stats()
    }
  }

  return { AtofExporter, AtifExporter, OtlpExporter }
}
