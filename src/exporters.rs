//! The exporters of `nemo-relay-observability` as JS classes: ATOF JSON
//! Lines, ATIF trajectories and OTLP traces.
//!
//! Each class wraps the Rust exporter one to one (`new(config)` →
//! `register()` → `flush()` / `export()` → `shutdown()`). Configs arrive as
//! the snake_case JSON the Rust configs parse (the facade maps its camelCase
//! options onto it), so mistakes are reported with the Rust field paths.
//!
//! `flush()` and `shutdown()` block until files are written or spans sent
//! (and first wait for the runtime's dispatcher), so they run on a thread of
//! their own and settle a Promise through the realm's queue: the JS thread
//! never waits for I/O. An I/O or delivery failure rejects with code
//! `ERR_RELAY_EXPORT_FAILED`.

use std::sync::Arc;

use napi_derive::napi;
use nemo_relay_core::{Json, RelayError, Runtime};
use nemo_relay_observability::atif::{AtifConfig, AtifExporter};
use nemo_relay_observability::atof::{AtofConfig, AtofExporter};
use nemo_relay_observability::otel::{OtlpConfig, OtlpExporter};
use nemo_relay_observability::{ConfigError, ExportError};

use crate::convert;
use crate::js::{boundary, Arg, Js, Raw, Result, Value};
use crate::js_ref::JsRef;
use crate::realm::Realm;

/// The JS error for an export failure: a `RelayError` built by the facade
/// (code `ERR_RELAY_EXPORT_FAILED`), carried as a callback payload so it is
/// thrown as-is.
fn export_failed(js: Js, message: String) -> RelayError {
    facade_error(js, "ERR_RELAY_EXPORT_FAILED", message)
}

/// A `RelayError` of the facade's class for `code`, with a message of our
/// own (the core's error for that code would say something else).
fn facade_error(js: Js, code: &str, message: String) -> RelayError {
    let built = (|| -> Result<Option<Value>> {
        let Some(make) = crate::realm::hook(js, c"makeError")? else {
            return Ok(None);
        };
        let args = [js.string(code)?, js.string(&message)?, js.object()?];
        js.call(make, &args).map(Some)
    })();
    match built.ok().flatten().map(|v| JsRef::new(js, v)) {
        Some(Ok(r)) => RelayError::Callback {
            message,
            exception_type: Some("RelayError".into()),
            payload: Some(Arc::new(r) as nemo_relay_core::error::ErrorPayload),
        },
        _ => RelayError::Internal(message),
    }
}

/// An exporter error as the runtime error JS sees.
fn to_relay(js: Js, e: ExportError) -> RelayError {
    match e {
        ExportError::Config(c) => RelayError::invalid(c.to_string()),
        // The exporter's own shutdown, not the runtime's: same code, its
        // own message (as the C ABI reports it).
        e @ ExportError::ShutDown => facade_error(js, "ERR_RELAY_SHUT_DOWN", e.to_string()),
        ExportError::Timeout => RelayError::Timeout,
        // The runtime's own error, with its code (a name taken, a runtime
        // shut down).
        ExportError::Register(e) => e,
        other @ (ExportError::Io(_) | ExportError::Export(_)) => {
            export_failed(js, other.to_string())
        }
    }
}

fn config<T>(
    js: Js,
    v: Value,
    what: &str,
    parse: impl FnOnce(Json) -> std::result::Result<T, ConfigError>,
) -> Result<T> {
    let json = convert::to_json(js, v, what)?;
    parse(json).map_err(|e| RelayError::invalid(format!("{what}: {e}")))
}

/// Run `work` on a thread of its own; the returned Promise settles with its
/// outcome. The process stays alive until it does.
fn in_background(
    js: Js,
    work: impl FnOnce() -> std::result::Result<(), ExportError> + Send + 'static,
) -> Result<Value> {
    let realm = Realm::of(js)?;
    let (deferred, promise) = js.promise()?;
    realm.hold(js);
    let poster = realm.clone();
    let spawned = std::thread::Builder::new()
        .name("nemo-relay-export".into())
        .spawn(move || {
            let outcome = work();
            // Dropped when the environment is gone: nobody awaits it then.
            poster.post(Box::new(move |js: Js| {
                realm.release(js);
                let _ = match outcome {
                    Ok(()) => js.undefined().and_then(|u| deferred.resolve(js, u)),
                    Err(e) => {
                        let err = crate::errors::to_js(js, &to_relay(js, e));
                        deferred.reject(js, err)
                    }
                };
            }));
        });
    if let Err(e) = spawned {
        // The closure (and the deferred) was dropped with the failed spawn.
        if let Ok(r) = Realm::of(js) {
            r.release(js);
        }
        return Err(RelayError::Internal(format!("cannot start a thread: {e}")));
    }
    Ok(promise)
}

fn paths(p: Vec<std::path::PathBuf>) -> Vec<String> {
    p.into_iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

/// ATOF JSON Lines exporter (every event, one line each, in order).
#[napi]
pub struct NativeAtofExporter {
    inner: Arc<AtofExporter>,
}

/// Counters of an ATOF exporter.
#[napi(object)]
pub struct AtofExporterStats {
    /// Events written (one line each).
    pub events: f64,
    /// Events that arrived after shutdown and were not written.
    pub dropped_after_shutdown: f64,
    /// Events not written because a write failed (the file stops there).
    pub not_written: f64,
}

#[napi]
impl NativeAtofExporter {
    /// Open the output file and start the writer thread; `config` is an
    /// `AtofConfig` in snake_case JSON.
    #[napi(constructor, ts_args_type = "config: object")]
    pub fn new(env: napi::Env, config_: Arg) -> napi::Result<Self> {
        boundary(env.raw(), |js| {
            let c = config(
                js,
                config_.0,
                "ATOF exporter options",
                AtofConfig::from_json,
            )?;
            let inner = AtofExporter::new(c).map_err(|e| to_relay(js, e))?;
            Ok(NativeAtofExporter {
                inner: Arc::new(inner),
            })
        })
    }

    /// Subscribe to the process-wide runtime (default name `nemo_relay.atof`).
    #[napi]
    pub fn register(&self, env: napi::Env, name: Option<String>) -> napi::Result<()> {
        boundary(env.raw(), |js| {
            let rt = Runtime::global();
            match name {
                Some(n) => self.inner.register_as(rt, &n),
                None => self.inner.register(rt),
            }
            .map_err(|e| to_relay(js, e))
        })
    }

    /// Resolves once every event emitted so far is in the file.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn flush(&self, env: napi::Env) -> napi::Result<Raw> {
        let inner = self.inner.clone();
        boundary(env.raw(), |js| {
            in_background(js, move || inner.flush()).map(Raw)
        })
    }

    /// Unsubscribe, write everything and close the file. Idempotent.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn shutdown(&self, env: napi::Env) -> napi::Result<Raw> {
        let inner = self.inner.clone();
        boundary(env.raw(), |js| {
            in_background(js, move || inner.shutdown()).map(Raw)
        })
    }

    /// The files written so far, oldest first.
    #[napi]
    pub fn files(&self) -> Vec<String> {
        paths(self.inner.files())
    }

    /// Current counters.
    #[napi]
    pub fn stats(&self) -> AtofExporterStats {
        let s = self.inner.stats();
        AtofExporterStats {
            events: s.events as f64,
            dropped_after_shutdown: s.dropped_after_shutdown as f64,
            not_written: s.not_written as f64,
        }
    }
}

/// ATIF trajectory exporter.
#[napi]
pub struct NativeAtifExporter {
    inner: Arc<AtifExporter>,
}

#[napi]
impl NativeAtifExporter {
    /// `config` is an `AtifConfig` in snake_case JSON.
    #[napi(constructor, ts_args_type = "config: object")]
    pub fn new(env: napi::Env, config_: Arg) -> napi::Result<Self> {
        boundary(env.raw(), |js| {
            let c = config(
                js,
                config_.0,
                "ATIF exporter options",
                AtifConfig::from_json,
            )?;
            let inner = AtifExporter::new(c).map_err(|e| to_relay(js, e))?;
            Ok(NativeAtifExporter {
                inner: Arc::new(inner),
            })
        })
    }

    /// Subscribe to the process-wide runtime (default name `nemo_relay.atif`).
    #[napi]
    pub fn register(&self, env: napi::Env, name: Option<String>) -> napi::Result<()> {
        boundary(env.raw(), |js| {
            let rt = Runtime::global();
            match name {
                Some(n) => self.inner.register_as(rt, &n),
                None => self.inner.register(rt),
            }
            .map_err(|e| to_relay(js, e))
        })
    }

    /// The trajectory of the configured (or most recent) session. Waits for
    /// the dispatcher to deliver what was emitted before (it never waits for
    /// JS, so this cannot deadlock on the JS thread).
    #[napi(ts_return_type = "unknown")]
    pub fn export(&self, env: napi::Env) -> napi::Result<Raw> {
        boundary(env.raw(), |js| {
            let v = self.inner.export_value().map_err(|e| to_relay(js, e))?;
            convert::to_js(js, &v).map(Raw)
        })
    }

    /// One trajectory per buffered root agent scope, oldest first.
    #[napi(ts_return_type = "unknown[]")]
    pub fn export_all(&self, env: napi::Env) -> napi::Result<Raw> {
        boundary(env.raw(), |js| {
            let v = serde_json::to_value(self.inner.export_all())
                .map_err(|e| RelayError::Internal(e.to_string()))?;
            convert::to_js(js, &v).map(Raw)
        })
    }

    /// Forget every buffered event.
    #[napi]
    pub fn clear(&self) {
        self.inner.clear()
    }

    /// Files written so far (one per ended root agent scope).
    #[napi]
    pub fn written_files(&self) -> Vec<String> {
        paths(self.inner.written_files())
    }

    /// Resolves once ended sessions are written.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn flush(&self, env: napi::Env) -> napi::Result<Raw> {
        let inner = self.inner.clone();
        boundary(env.raw(), |js| {
            in_background(js, move || inner.flush()).map(Raw)
        })
    }

    /// Unsubscribe and write open sessions as partial trajectories. Idempotent.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn shutdown(&self, env: napi::Env) -> napi::Result<Raw> {
        let inner = self.inner.clone();
        boundary(env.raw(), |js| {
            in_background(js, move || inner.shutdown()).map(Raw)
        })
    }
}

/// OTLP/HTTP trace exporter.
#[napi]
pub struct NativeOtlpExporter {
    inner: Arc<OtlpExporter>,
}

/// Counters of an OTLP exporter.
#[napi(object)]
pub struct OtlpExporterStats {
    /// Spans the collector accepted.
    pub exported: f64,
    /// Spans dropped because the queue was full.
    pub dropped_queue_full: f64,
    /// Spans dropped because their batch failed after all retries.
    pub dropped_export_failed: f64,
    /// HTTP requests that succeeded.
    pub requests: f64,
    /// Retries made.
    pub retries: f64,
    /// The latest export failure, if any.
    pub last_error: Option<String>,
}

#[napi]
impl NativeOtlpExporter {
    /// `config` is an `OtlpConfig` in snake_case JSON.
    #[napi(constructor, ts_args_type = "config: object")]
    pub fn new(env: napi::Env, config_: Arg) -> napi::Result<Self> {
        boundary(env.raw(), |js| {
            let c = config(
                js,
                config_.0,
                "OTLP exporter options",
                OtlpConfig::from_json,
            )?;
            let inner = OtlpExporter::new(c).map_err(|e| to_relay(js, e))?;
            Ok(NativeOtlpExporter {
                inner: Arc::new(inner),
            })
        })
    }

    /// Subscribe to the process-wide runtime (default name `nemo_relay.otlp`).
    #[napi]
    pub fn register(&self, env: napi::Env, name: Option<String>) -> napi::Result<()> {
        boundary(env.raw(), |js| {
            let rt = Runtime::global();
            match name {
                Some(n) => self.inner.register_as(rt, &n),
                None => self.inner.register(rt),
            }
            .map_err(|e| to_relay(js, e))
        })
    }

    /// Resolves once every finished span was sent (or dropped and counted).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn flush(&self, env: napi::Env) -> napi::Result<Raw> {
        let inner = self.inner.clone();
        boundary(env.raw(), |js| {
            in_background(js, move || inner.flush()).map(Raw)
        })
    }

    /// Unsubscribe, send what is queued and stop the exporter thread.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn shutdown(&self, env: napi::Env) -> napi::Result<Raw> {
        let inner = self.inner.clone();
        boundary(env.raw(), |js| {
            in_background(js, move || inner.shutdown()).map(Raw)
        })
    }

    /// Current counters.
    #[napi]
    pub fn stats(&self) -> OtlpExporterStats {
        let s = self.inner.stats();
        OtlpExporterStats {
            exported: s.exported as f64,
            dropped_queue_full: s.dropped_queue_full as f64,
            dropped_export_failed: s.dropped_export_failed as f64,
            requests: s.requests as f64,
            retries: s.retries as f64,
            last_error: s.last_error,
        }
    }
}
