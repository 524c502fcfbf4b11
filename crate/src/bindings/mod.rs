//! The thin N-API layer: type conversion, error mapping and `AsyncTask`s. No image or cache
//! logic lives here.

mod chunk;
mod error;
mod keys;
mod options;
mod thumbnail;
