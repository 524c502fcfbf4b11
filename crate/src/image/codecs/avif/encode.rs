//! AVIF output: rav1e encodes 8-bit 4:2:0 AV1 (plus a monochrome plane for alpha), and
//! avif-serialize writes the HEIF container around it.
//!
//! `quality` 1..=100 maps linearly onto rav1e's quantizer 255..=0, the mapping libheif uses for
//! libaom, so a quality means about the same thing here as in sharp. `speed` is rav1e's preset
//! (0 slowest … 10 fastest). The encoder runs on the calling thread, one tile: thumbnails
//! already run one per libuv worker.

use rav1e::prelude::{
    ChromaSamplePosition, ChromaSampling, ColorDescription, ColorPrimaries, Config, Context,
    EncoderConfig, EncoderStatus, MatrixCoefficients, PixelRange, SpeedSettings,
    TransferCharacteristics,
};

use super::yuv::from_rgb;
use crate::error::{Error, Result};
use crate::image::Channels;

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvifOptions {
    /// 1..=100.
    pub quality: u8,
    /// rav1e speed preset 0..=10.
    pub speed: u8,
}

fn quantizer(quality: u8) -> usize {
    ((100 - quality.clamp(1, 100) as usize) * 255 + 50) / 100
}

fn config(width: usize, height: usize, mono: bool, opts: &AvifOptions) -> Config {
    let mut speed_settings = SpeedSettings::from_preset(opts.speed.min(10));
    // One still frame: nothing to look ahead to.
    speed_settings.rdo_lookahead_frames = 1;
    let enc = EncoderConfig {
        width,
        height,
        bit_depth: 8,
        chroma_sampling: if mono {
            ChromaSampling::Cs400
        } else {
            ChromaSampling::Cs420
        },
        chroma_sample_position: ChromaSamplePosition::Unknown,
        pixel_range: PixelRange::Full,
        color_description: Some(ColorDescription {
            color_primaries: ColorPrimaries::BT709,
            transfer_characteristics: TransferCharacteristics::SRGB,
            matrix_coefficients: MatrixCoefficients::BT601,
        }),
        still_picture: true,
        quantizer: quantizer(opts.quality),
        min_quantizer: quantizer(opts.quality) as u8,
        speed_settings,
        ..EncoderConfig::default()
    };
    Config::new().with_encoder_config(enc).with_threads(1)
}

/// Encodes `planes` (Y, then U and V unless `mono`) to one AV1 key frame.
fn encode_planes(
    width: usize,
    height: usize,
    planes: &[&[u8]],
    opts: &AvifOptions,
) -> Result<Vec<u8>> {
    let fail = |e: String| Error::encode(format!("AVIF encoding failed: {e}"));
    let cfg = config(width, height, planes.len() == 1, opts);
    let mut ctx: Context<u8> = cfg.new_context().map_err(|e| fail(e.to_string()))?;
    let mut frame = ctx.new_frame();
    for (i, data) in planes.iter().enumerate() {
        let w = if i == 0 { width } else { width.div_ceil(2) };
        frame.planes[i].copy_from_raw_u8(data, w, 1);
    }
    ctx.send_frame(frame).map_err(|e| fail(e.to_string()))?;
    ctx.flush();
    let mut out = Vec::new();
    loop {
        match ctx.receive_packet() {
            Ok(mut p) => out.append(&mut p.data),
            Err(EncoderStatus::Encoded) => continue,
            Err(EncoderStatus::LimitReached) => break,
            Err(e) => return Err(fail(e.to_string())),
        }
    }
    Ok(out)
}

/// Encodes packed RGB or RGBA. An RGBA image whose pixels are all opaque is written without an
/// alpha plane.
pub fn encode(
    pixels: &[u8],
    width: u32,
    height: u32,
    channels: Channels,
    opts: &AvifOptions,
) -> Result<Vec<u8>> {
    let (w, h) = (width as usize, height as usize);
    let bpp = channels.count();
    let planes = from_rgb(pixels, w, h, bpp);
    let color = encode_planes(w, h, &[&planes.y, &planes.u, &planes.v], opts)?;
    let alpha: Option<Vec<u8>> = (channels == Channels::Rgba)
        .then(|| {
            pixels
                .iter()
                .skip(3)
                .step_by(4)
                .copied()
                .collect::<Vec<u8>>()
        })
        .filter(|a| a.iter().any(|&v| v != 255));
    let alpha = match alpha {
        Some(a) => Some(encode_planes(w, h, &[&a], opts)?),
        None => None,
    };
    let mut writer = avif_serialize::Aviffy::new();
    writer
        .set_chroma_subsampling((true, true))
        .set_full_color_range(true)
        .set_matrix_coefficients(avif_serialize::constants::MatrixCoefficients::Bt601)
        .set_transfer_characteristics(avif_serialize::constants::TransferCharacteristics::Srgb)
        .set_color_primaries(avif_serialize::constants::ColorPrimaries::Bt709);
    Ok(writer.to_vec(&color, alpha.as_deref(), width, height, 8))
}
