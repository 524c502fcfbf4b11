//! restthumbs native core.
//!
//! Everything outside `bindings` is plain Rust that never imports `napi`; it is exercised by
//! `cargo test`. `bindings` is the thin N-API layer that converts types, maps errors to stable
//! codes and schedules heavy work on the libuv pool.

pub mod bindings;
pub mod chunk;
pub mod error;
pub mod image;
pub mod keys;

pub use error::{Error, ErrorCode, Result};
