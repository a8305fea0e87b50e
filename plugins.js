'use strict'
// nemo-relay: plugins — configuration documents and plugin kinds.
//
// index.js loads this module and hands it the facade internals it shares
// (error classes, argument checks, the middleware wrappers), so plugin
// middleware behaves exactly like middleware registered with register().
//
// Documents use the canonical snake_case shape in every language and file
// format ({ version, components: [{ kind, enabled, config }], policy }); only
// the function names are camelCase. A document is a JS object or the path of
// a .toml / .json file.
//
// JS plugin kinds have two synchronous hooks, called on the JS thread from
// inside validate() / initialize():
//
// * validate(config, check): reports through `check` (or returns a list of
//   { level, code, message, field? }). The check records what it is told;
//   native code replays it onto the core's check, which applies the
//   document's policy (unknown fields, unsupported values).
// * register(config, ctx): installs middleware and subscribers through
//   `ctx`, the component's registration context. Names are qualified per
//   component ("<kind>#<n>/<name>") and everything joins one transaction:
//   if any component fails, nothing is installed and the previous
//   configuration stays active.

module.exports = function createPlugins(internals) {
  const { native, RelayError, invalid, checkName, checkFunction, checkKeys, isThenable, shapeOf, wrapperFor, deliverTo, trackGlobal, checkPriority, show } =
    internals
  const INTERNAL = Symbol('nemo-relay plugins internal')

  function describe(error) {
    return error instanceof Error ? error.message : String(error)
  }

  function checkDocument(config) {
    if (typeof config === 'string') {
      if (config === '') throw invalid('the plugin configuration path must not be empty')
      return
    }
    if (config === null || typeof config !== 'object' || Array.isArray(config)) {
      throw invalid('the plugin configuration must be an object { version, components, policy } or a file path')
    }
  }

  /** A diagnostic with only the keys that have values (the native shape). */
  function diagnostic(d) {
    const out = { level: d.level, code: d.code, message: d.message }
    if (d.component !== undefined) out.component = d.component
    if (d.kind !== undefined) out.kind = d.kind
    if (d.field !== undefined) out.field = d.field
    return out
  }

  function activation(report) {
    return {
      components: report.components.map((c) => ({
        index: c.index,
        kind: c.kind,
        enabled: c.enabled,
        registrations: c.registrations.map(([family, name]) => ({ family, name })),
        diagnostics: c.diagnostics.map(diagnostic),
      })),
      diagnostics: report.diagnostics.map(diagnostic),
    }
  }

  // ------------------------------------------------------------ check ---

  let checkEnd
  /**
   * What a kind's validate hook reports through. Field paths are relative to
   * the component's `config` (`'headers.x-team'`; `''` is the config itself).
   */
  class ConfigCheck {
    #config
    #ops
    #ended = false
    constructor(token, config, ops) {
      if (token !== INTERNAL) throw new TypeError('config checks are created by nemo-relay')
      this.#config = config
      this.#ops = ops
    }
    static {
      checkEnd = (c) => {
        c.#ended = true
      }
    }
    #push(op) {
      if (this.#ended) throw invalid('this config check has ended: use it only while the validate hook runs')
      this.#ops.push(op)
    }
    /** The component's `config` object. */
    get config() {
      return this.#config
    }
    /** Report an error (it blocks activation). */
    error(field, code, message) {
      this.#push(['error', String(field), String(code), String(message)])
    }
    /** Report a warning. */
    warn(field, code, message) {
      this.#push(['warn', String(field), String(code), String(message)])
    }
    /** A value this kind does not support (its level follows `policy.unsupported_value`). */
    unsupported(field, message) {
      this.#push(['unsupported', String(field), String(message)])
    }
    /** Report every key of the object at `path` not in `known` (level from `policy.unknown_field`). */
    knownFields(path, known) {
      if (!Array.isArray(known)) throw invalid('known must be an array of field names')
      this.#push(['known_fields', String(path), known.map(String)])
    }
    /** Report one unknown field by its path (level from `policy.unknown_field`). */
    unknownField(path) {
      this.#push(['unknown_field', String(path)])
    }
    /**
     * A required top-level field: its value, or `undefined` after reporting
     * `plugin.missing_field` (with `what` saying what the field should hold).
     */
    require(field, what) {
      const present = this.#config !== null && typeof this.#config === 'object' && Object.hasOwn(this.#config, field)
      if (present) return this.#config[field]
      this.#push(['require', String(field), String(what)])
      return undefined
    }
    /**
     * An optional top-level field of the expected type: its value, or
     * `undefined` (absent, or wrong type: `plugin.invalid_type` is reported).
     */
    typed(field, expected, ok) {
      checkFunction(ok, 'ok')
      if (this.#config === null || typeof this.#config !== 'object' || !Object.hasOwn(this.#config, field)) return undefined
      const value = this.#config[field]
      if (ok(value)) return value
      this.error(field, 'plugin.invalid_type', `'${String(field)}' must be ${String(expected)}, got ${show(value)}`)
      return undefined
    }
  }

  // ---------------------------------------------------------- context ---

  let contextEnd
  /**
   * The component's registration context, handed to a kind's register hook.
   * The same registration API as the global one; names are qualified per
   * component instance, and nothing is installed until the whole activation
   * commits.
   */
  class PluginContext {
    #kind
    #instance
    #prefix
    #ended = false
    constructor(token, kind, instance) {
      if (token !== INTERNAL) throw new TypeError('plugin contexts are created by nemo-relay')
      this.#kind = kind
      this.#instance = instance
      this.#prefix = native.pluginContextQualify('')
    }
    static {
      contextEnd = (c) => {
        c.#ended = true
      }
    }
    #live() {
      if (this.#ended) throw invalid('this plugin context has ended: use it only while the register hook runs')
    }
    /** The component's kind. */
    get kind() {
      return this.#kind
    }
    /** 1-based instance number among the enabled components of this kind. */
    get instance() {
      return this.#instance
    }
    /** The runtime-visible name of local registration name `local`. */
    qualify(local) {
      return this.#prefix + local
    }
    /**
     * Register middleware `fn` of `family` under local name `name`. Returns
     * the qualified name. Options: `priority`, `breakChain`.
     */
    register(family, name, fn, options) {
      this.#live()
      const shape = shapeOf(family)
      checkName(name, 'registration name')
      checkFunction(fn, 'middleware')
      let o
      if (options !== undefined) {
        checkKeys(options, REGISTER_KEYS, 'plugin registration option')
        o = { priority: checkPriority(options.priority), breakChain: options.breakChain }
      }
      native.pluginContextRegister(family, name, wrapperFor(shape, fn), o)
      return this.qualify(name)
    }
    /**
     * Register a subscriber under local name `name`. Returns the qualified
     * name. Options: `priority`, `onError`.
     */
    subscribe(name, fn, options) {
      this.#live()
      checkName(name, 'subscriber name')
      checkFunction(fn, 'subscriber')
      let o
      let onError
      if (options !== undefined) {
        checkKeys(options, SUBSCRIBE_KEYS, 'plugin subscription option')
        onError = options.onError
        if (onError !== undefined) checkFunction(onError, 'onError')
        o = { priority: checkPriority(options.priority) }
      }
      const live = { active: true }
      native.pluginContextSubscribe(name, deliverTo(fn, onError, live), o)
      // Stopped like subscribe()'s: by unsubscribe(qualified name), or when
      // the activation goes, even in the middle of a batch.
      native.pluginContextOnTeardown(trackGlobal(this.qualify(name), live))
      return this.qualify(name)
    }
    /**
     * Run `fn` when this activation is cleared or replaced, or discarded
     * because the activation failed. Errors it throws are ignored.
     */
    onTeardown(fn) {
      this.#live()
      checkFunction(fn, 'teardown')
      native.pluginContextOnTeardown(() => {
        try {
          const r = fn()
          if (isThenable(r)) Promise.resolve(r).catch(() => {})
        } catch {
          // A failing teardown must not stop the others.
        }
      })
    }
  }

  const REGISTER_KEYS = new Set(['priority', 'breakChain'])
  const SUBSCRIBE_KEYS = new Set(['priority', 'onError'])
  const KIND_KEYS = new Set(['kind', 'description', 'allowsMultiple', 'validate', 'register'])

  function validateHook(kind, validate) {
    return (config) => {
      const ops = []
      if (validate === undefined) return ops
      const check = new ConfigCheck(INTERNAL, config, ops)
      let returned
      try {
        returned = validate(config, check)
      } catch (error) {
        ops.push(['error', '', 'plugin.validator_failed', `the validator of kind '${kind}' threw: ${describe(error)}`])
        return ops
      } finally {
        checkEnd(check)
      }
      if (isThenable(returned)) {
        Promise.resolve(returned).catch(() => {})
        ops.push(['error', '', 'plugin.validator_failed', `the validator of kind '${kind}' returned a Promise; validate hooks are synchronous`])
      } else if (Array.isArray(returned)) {
        // The shape other bindings' validators return: a list of findings,
        // each an object or just its message.
        for (const d of returned) {
          if (typeof d === 'string') {
            ops.push(['error', '', `${kind}.invalid_config`, d])
          } else if (d !== null && typeof d === 'object' && typeof d.message === 'string') {
            const level = d.level === 'warning' || d.level === 'warn' ? 'warn' : 'error'
            ops.push([level, String(d.field ?? ''), String(d.code ?? `${kind}.invalid_config`), d.message])
          } else {
            ops.push(['error', '', 'plugin.validator_failed', `the validator of kind '${kind}' returned the finding ${show(d)}; a finding is a message or { message, level?, code?, field? }`])
          }
        }
      } else if (returned !== undefined && returned !== null) {
        // A single finding, a message: a mistake that must not let an
        // invalid configuration through as valid.
        ops.push(['error', '', 'plugin.validator_failed', `the validator of kind '${kind}' returned ${show(returned)}; return nothing or an array of findings`])
      }
      return ops
    }
  }

  function registerHook(kind, register) {
    return (config, kindName, instance) => {
      const ctx = new PluginContext(INTERNAL, kindName, instance)
      try {
        const r = register(config, ctx)
        if (isThenable(r)) {
          Promise.resolve(r).catch(() => {})
          throw new RelayError(
            `the register hook of plugin kind '${kind}' returned a Promise; register hooks are synchronous`,
            'ERR_RELAY_INVALID_ARGUMENT',
          )
        }
      } catch (error) {
        if (error instanceof RelayError) throw error
        throw new RelayError(`plugin kind '${kind}' (instance ${instance}) failed to register: ${describe(error)}`, 'ERR_RELAY_CALLBACK_FAILED', {
          cause: error,
        })
      } finally {
        contextEnd(ctx)
      }
    }
  }

  /** What `registerKind` returns; `dispose()` removes the kind. */
  class PluginKindRegistration {
    #kind
    #active = true
    constructor(token, kind) {
      if (token !== INTERNAL) throw new TypeError('use plugins.registerKind()')
      this.#kind = kind
    }
    get kind() {
      return this.#kind
    }
    /** Remove the kind (later validations and activations only). */
    dispose() {
      if (!this.#active) return false
      this.#active = false
      return native.pluginsDeregisterKind(this.#kind)
    }
    [Symbol.dispose]() {
      this.dispose()
    }
  }

  const plugins = {
    /** Check a document (object or file path); changes nothing. */
    validate(config) {
      checkDocument(config)
      const report = native.pluginsValidate(config)
      return { diagnostics: report.diagnostics.map(diagnostic) }
    },
    /**
     * Activate a document in place of the active one. Atomic: on failure the
     * promise rejects (a RelayError with a `code`; configuration errors also
     * carry `diagnostics`) and the previous configuration stays active.
     */
    async initialize(config) {
      checkDocument(config)
      try {
        return activation(native.pluginsInitialize(config))
      } catch (error) {
        if (error instanceof Error && error.code === 'ERR_RELAY_INVALID_ARGUMENT') {
          try {
            const { diagnostics } = native.pluginsValidate(config)
            if (diagnostics.some((d) => d.level === 'error')) error.diagnostics = diagnostics.map(diagnostic)
          } catch {
            // The document itself is unreadable; the error says so.
          }
        }
        throw error
      }
    },
    /** Remove everything the active configuration installed. Returns whether one was active. */
    clear() {
      return native.pluginsClear()
    },
    /** The report of the active configuration, or `null`. */
    activeReport() {
      const report = native.pluginsActiveReport()
      return report === null ? null : activation(report)
    },
    /** Every registered kind with its description, sorted by kind. */
    kinds() {
      return native.pluginsKinds()
    },
    /** Register a plugin kind written in JS. */
    registerKind(spec) {
      checkKeys(spec, KIND_KEYS, 'plugin kind')
      checkName(spec.kind, 'kind')
      if (spec.validate !== undefined) checkFunction(spec.validate, 'validate')
      checkFunction(spec.register, 'register')
      if (spec.description !== undefined && typeof spec.description !== 'string') throw invalid('description must be a string')
      if (spec.allowsMultiple !== undefined && typeof spec.allowsMultiple !== 'boolean') {
        throw invalid('allowsMultiple must be a boolean')
      }
      native.pluginsRegisterKind(
        spec.kind,
        spec.description ?? '',
        spec.allowsMultiple ?? true,
        validateHook(spec.kind, spec.validate),
        registerHook(spec.kind, spec.register),
      )
      return new PluginKindRegistration(INTERNAL, spec.kind)
    },
    /** Remove a kind by name. Returns whether it was registered. */
    deregisterKind(kind) {
      checkName(kind, 'kind')
      return native.pluginsDeregisterKind(kind)
    },
  }
  Object.freeze(plugins)

  return { plugins, ConfigCheck, PluginContext, PluginKindRegistration }
}
