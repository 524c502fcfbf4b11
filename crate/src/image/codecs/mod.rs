//! Codecs added for AVIF and TIFF (one file per format).

pub mod avif;
pub mod tiff;
