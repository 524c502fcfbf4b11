//! One error type for the whole native core, with codes that stay stable across the FFI.
//!
//! `ts/native.ts` maps each code to a typed TypeScript error class, so a code here is an API
//! promise: add new ones, never rename.

use std::fmt;

/// Stable error codes shared with the TypeScript side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The input bytes could not be decoded (corrupt, truncated, or a codec panic).
    Decode,
    /// The magic bytes name no format we decode.
    UnsupportedFormat,
    /// A pixel, byte or dimension limit was exceeded; checked before allocating pixels.
    TooLarge,
    /// An option was out of range; TypeScript validates first, this is the defence in depth.
    InvalidOption,
    /// The encoder failed.
    Encode,
    /// Reading or writing a file failed.
    Io,
    /// A stored chunk is missing, tampered with or does not decompress.
    ChunkCorrupt,
    /// The operation was aborted through its `AbortSignal`.
    Aborted,
}

impl ErrorCode {
    /// The string code seen by JavaScript, e.g. `ERR_DECODE`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Decode => "ERR_DECODE",
            ErrorCode::UnsupportedFormat => "ERR_UNSUPPORTED_FORMAT",
            ErrorCode::TooLarge => "ERR_TOO_LARGE",
            ErrorCode::InvalidOption => "ERR_INVALID_OPTION",
            ErrorCode::Encode => "ERR_ENCODE",
            ErrorCode::Io => "ERR_IO",
            ErrorCode::ChunkCorrupt => "ERR_CHUNK_CORRUPT",
            ErrorCode::Aborted => "ERR_ABORTED",
        }
    }
}

/// An error from the native core: a stable code plus a human message that says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The stable code.
    pub code: ErrorCode,
    /// What went wrong, and where possible how to fix it.
    pub message: String,
}

impl Error {
    /// Builds an error from a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }
    /// Shorthand for [`ErrorCode::Decode`].
    pub fn decode(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Decode, message)
    }
    /// Shorthand for [`ErrorCode::TooLarge`].
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::TooLarge, message)
    }
    /// Shorthand for [`ErrorCode::InvalidOption`].
    pub fn invalid_option(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidOption, message)
    }
    /// Shorthand for [`ErrorCode::Encode`].
    pub fn encode(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Encode, message)
    }
    /// Shorthand for [`ErrorCode::Io`].
    pub fn io(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Io, message)
    }
    /// Shorthand for [`ErrorCode::ChunkCorrupt`].
    pub fn chunk_corrupt(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ChunkCorrupt, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::io(e.to_string())
    }
}

/// Result alias used across the native core.
pub type Result<T> = std::result::Result<T, Error>;

/// Runs `f`, turning a panic (e.g. inside a C codec's error handler) into an error with `code`,
/// so a bad input can never take the Node process down.
pub fn catch_panic<T>(code: ErrorCode, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            // hooks inside C codecs (libjpeg's progress monitor) unwind with a typed error
            if let Some(e) = p.downcast_ref::<Error>() {
                return Err(e.clone());
            }
            let msg = p
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| p.downcast_ref::<&str>().copied())
                .unwrap_or("codec panicked");
            Err(Error::new(code, msg.to_string()))
        }
    }
}
