//! Resource limits, checked from headers before any pixel buffer is allocated.
//!
//! Image bombs are cheap to send and expensive to decode: a few hundred bytes of PNG can claim
//! 100000 × 100000 pixels. Limits are in megapixels rather than sides so real panoramas pass
//! (imgproxy's `MAX_SRC_RESOLUTION` lesson), and animation frames multiply.

use crate::error::{Error, Result};

/// Limits applied to every input and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted `width × height × frames` of the source.
    pub max_input_pixels: u64,
    /// Largest accepted input size in bytes.
    pub max_input_bytes: u64,
    /// Largest accepted side of the output, in pixels.
    pub max_output_side: u32,
    /// Most scans a progressive JPEG may have, counted by the marker walk before decoding
    /// (libjpeg-turbo's `-maxscans`): each scan costs a pass over the coefficients, so a file
    /// that repeats a tiny scan thousands of times costs minutes of CPU for a few hundred KB.
    pub max_scans: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_pixels: 50_000_000,
            max_input_bytes: 64 * 1024 * 1024,
            max_output_side: 8192,
            // real encoders write about 10 (libjpeg's default progression) and rarely over 30
            max_scans: 100,
        }
    }
}

impl Limits {
    /// Rejects an input whose byte length is over `max_input_bytes`.
    pub fn check_bytes(&self, len: usize) -> Result<()> {
        if len as u64 > self.max_input_bytes {
            return Err(Error::too_large(format!(
                "Input is {len} bytes, over the maxInputBytes limit of {}; raise maxInputBytes to accept it",
                self.max_input_bytes
            )));
        }
        Ok(())
    }

    /// Rejects a source whose header claims more than `max_input_pixels` (all frames counted).
    pub fn check_pixels(&self, width: u32, height: u32, frames: u32) -> Result<()> {
        if width == 0 || height == 0 {
            return Err(Error::decode(format!(
                "Image header claims an empty {width}x{height} image"
            )));
        }
        let pixels = width as u64 * height as u64 * frames.max(1) as u64;
        if pixels > self.max_input_pixels {
            let frames_note = if frames > 1 {
                format!(" × {frames} frames")
            } else {
                String::new()
            };
            return Err(Error::too_large(format!(
                "Input is {width}x{height}{frames_note} = {pixels} pixels, over the maxInputPixels limit of {}; raise maxInputPixels to accept it",
                self.max_input_pixels
            )));
        }
        Ok(())
    }

    /// Rejects a progressive JPEG with more than `max_scans` scans.
    pub fn check_scans(&self, scans: usize) -> Result<()> {
        if scans > self.max_scans as usize {
            return Err(Error::too_large(format!(
                "JPEG has more than {} scans, over the maxScans limit; every scan is another pass over the image, so files like this are a CPU denial of service; raise maxScans to accept it",
                self.max_scans
            )));
        }
        Ok(())
    }

    /// Rejects an output side over `max_output_side`; `name` is `width` or `height`.
    pub fn check_output_side(&self, name: &str, value: u32) -> Result<()> {
        if value > self.max_output_side {
            return Err(Error::too_large(format!(
                "Output {name} {value} is over the maxOutputSide limit of {}; raise maxOutputSide to allow it",
                self.max_output_side
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn pixel_limit_names_the_option_and_counts_frames() {
        let l = Limits::default();
        assert!(l.check_pixels(8000, 6000, 1).is_ok());
        let e = l.check_pixels(100_000, 100_000, 1).unwrap_err();
        assert_eq!(e.code, ErrorCode::TooLarge);
        assert!(e.message.contains("maxInputPixels"));
        assert!(l.check_pixels(5000, 5000, 2).is_ok());
        assert!(l.check_pixels(5000, 5001, 2).is_err());
    }

    #[test]
    fn byte_and_side_limits_name_their_options() {
        let l = Limits {
            max_input_bytes: 10,
            ..Limits::default()
        };
        assert!(l
            .check_bytes(11)
            .unwrap_err()
            .message
            .contains("maxInputBytes"));
        assert!(l
            .check_output_side("width", 9000)
            .unwrap_err()
            .message
            .contains("maxOutputSide"));
        assert!(l.check_output_side("width", 8192).is_ok());
    }
}
