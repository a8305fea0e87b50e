//! Node.js addon for nemo-relay (napi-rs). Placeholder until the binding lands.
