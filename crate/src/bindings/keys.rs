//! N-API bindings for `crate::keys` (placeholder until implemented).
