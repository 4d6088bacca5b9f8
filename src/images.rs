//! Profile pictures: checked by content, never trusted.
//!
//! An upload is accepted only when its bytes are a PNG, JPEG, WebP or GIF
//! (the file name and the declared type are ignored), its declared size is
//! within the pixel limit (checked from the header, before anything is
//! decoded: a decompression bomb never gets decoded), and it decodes
//! cleanly within a memory limit. What is stored is never the upload: the
//! pixels are re-encoded (EXIF orientation applied, then every metadata
//! chunk — EXIF, GPS, XMP, comments, ICC — left behind, along with
//! anything appended or hidden in the file), scaled down to at most
//! [`MAX_SIDE`] pixels on the longer side. JPEG stays JPEG (quality 90);
//! PNG, WebP and GIF become PNG (lossless, keeps transparency; an animated
//! GIF keeps its first frame).

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::Error;

/// Longest side of a stored picture, pixels.
pub const MAX_SIDE: u32 = 1024;

/// A picture ready to store.
#[derive(Debug, Clone)]
pub struct Normalized {
    /// The encoded bytes.
    pub bytes: Vec<u8>,
    /// `png` or `jpg`.
    pub extension: &'static str,
    /// Its media type.
    pub content_type: &'static str,
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
}

fn rejected(code: &'static str, message: impl Into<String>) -> Error {
    Error::invalid_field("profileImage", code, message)
}

/// Checks and re-encodes an upload. CPU-bound: run it off the async
/// threads.
pub fn normalize(upload: &[u8], max_pixels: u64) -> Result<Normalized, Error> {
    let reader = || {
        ImageReader::new(Cursor::new(upload))
            .with_guessed_format()
            .map_err(|_| unsupported())
    };
    let format = reader()?.format().ok_or_else(unsupported)?;
    if !matches!(
        format,
        ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP | ImageFormat::Gif
    ) {
        return Err(unsupported());
    }
    let (width, height) = reader()?
        .into_dimensions()
        .map_err(|_| rejected("INVALID_IMAGE", "profileImage could not be read"))?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels == 0 || pixels > max_pixels {
        return Err(rejected(
            "IMAGE_TOO_LARGE",
            format!("profileImage may have at most {max_pixels} pixels"),
        ));
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    // The decoded pixels (at most 16 bits × 4 channels) and some slack.
    limits.max_alloc = Some(pixels * 8 + 64 * 1024 * 1024);
    let mut reader = reader()?;
    reader.limits(limits);
    let decoded = reader.into_decoder().and_then(|mut decoder| {
        let orientation = decoder.orientation()?;
        let mut image = DynamicImage::from_decoder(decoder)?;
        image.apply_orientation(orientation);
        Ok(image)
    });
    let image =
        decoded.map_err(|_| rejected("INVALID_IMAGE", "profileImage could not be decoded"))?;
    let image = if image.width().max(image.height()) > MAX_SIDE {
        image.resize(MAX_SIDE, MAX_SIDE, image::imageops::FilterType::Triangle)
    } else {
        image
    };
    let mut bytes = Vec::new();
    let (extension, content_type) = if format == ImageFormat::Jpeg {
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90);
        DynamicImage::ImageRgb8(image.to_rgb8())
            .write_with_encoder(encoder)
            .map_err(|e| Error::Internal(anyhow::anyhow!("encoding a JPEG: {e}")))?;
        ("jpg", "image/jpeg")
    } else {
        image
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .map_err(|e| Error::Internal(anyhow::anyhow!("encoding a PNG: {e}")))?;
        ("png", "image/png")
    };
    Ok(Normalized {
        bytes,
        extension,
        content_type,
        width: image.width(),
        height: image.height(),
    })
}

fn unsupported() -> Error {
    rejected(
        "UNSUPPORTED_IMAGE",
        "profileImage must be a PNG, JPEG, WebP or GIF image",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbaImage::from_fn(width, height, |x, y| {
            image::Rgba([(x % 256) as u8, (y % 256) as u8, 7, 200])
        });
        let mut bytes = Vec::new();
        DynamicImage::ImageRgba8(image)
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .expect("encode");
        bytes
    }

    #[test]
    fn a_png_keeps_its_pixels_and_an_appended_payload_is_dropped() {
        let mut upload = png(40, 30);
        upload.extend_from_slice(b"<?php echo 'polyglot'; ?>");
        let stored = normalize(&upload, 1_000_000).expect("accepted");
        assert_eq!(
            (stored.width, stored.height, stored.extension),
            (40, 30, "png")
        );
        let original = image::load_from_memory(&upload).expect("decode").to_rgba8();
        let back = image::load_from_memory(&stored.bytes)
            .expect("decode")
            .to_rgba8();
        assert_eq!(original, back);
        assert!(!String::from_utf8_lossy(&stored.bytes).contains("polyglot"));
    }

    #[test]
    fn big_pictures_are_scaled_down_and_over_the_pixel_limit_refused() {
        let stored = normalize(&png(2048, 512), 10_000_000).expect("accepted");
        assert_eq!((stored.width, stored.height), (1024, 256));
        let error = normalize(&png(2048, 512), 1_000_000).expect_err("refused");
        assert!(error.public_message().contains("pixels"), "{error}");
    }

    #[test]
    fn other_content_is_refused_whatever_its_name() {
        for bytes in [&b"hello, I am text"[..], b"%PDF-1.7", b"<svg></svg>", b""] {
            let error = normalize(bytes, 1_000_000).expect_err("refused");
            assert_eq!(error.status(), http::StatusCode::BAD_REQUEST);
        }
        // A PNG signature followed by garbage is not a picture either.
        let mut broken = png(10, 10);
        broken.truncate(40);
        assert!(normalize(&broken, 1_000_000).is_err());
    }
}
