//! N-API bindings for `crate::chunk` (placeholder until implemented).
