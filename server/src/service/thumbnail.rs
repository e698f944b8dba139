//! Thumbnails: which size answers a request, and rendering one from an image.
//!
//! Only the sizes the spec recommends are generated and kept, so a client asking for every
//! width from 1 to 10,000 cannot fill the disk: a request is answered with the smallest
//! recommended size that covers it, or with the original when none does. Images are never
//! upscaled, and decoding is refused above a pixel budget before any pixel is allocated.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, imageops::FilterType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The requested aspect ratio, cropped from the middle.
    Crop,
    /// The original aspect ratio, fitted inside the requested box.
    Scale,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crop => "crop",
            Self::Scale => "scale",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub width: u32,
    pub height: u32,
    pub method: Method,
}

/// The sizes the spec asks servers to produce.
const STANDARD: [Size; 5] = [
    Size {
        width: 32,
        height: 32,
        method: Method::Crop,
    },
    Size {
        width: 96,
        height: 96,
        method: Method::Crop,
    },
    Size {
        width: 320,
        height: 240,
        method: Method::Scale,
    },
    Size {
        width: 640,
        height: 480,
        method: Method::Scale,
    },
    Size {
        width: 800,
        height: 600,
        method: Method::Scale,
    },
];

/// The smallest standard size at least as large as the request, preferring the requested
/// method; `None` when the request is larger than every standard size.
pub fn standard_size(width: u32, height: u32, method: Method) -> Option<Size> {
    let covers = |s: &&Size| s.width >= width && s.height >= height;
    let smallest = |m: Option<Method>| {
        STANDARD
            .iter()
            .filter(covers)
            .filter(|s| m.is_none_or(|m| s.method == m))
            .min_by_key(|s| s.width * s.height)
            .copied()
    };
    smallest(Some(method)).or_else(|| smallest(None))
}

#[derive(Debug, PartialEq, Eq)]
pub enum Rendered {
    /// The original is no larger than the thumbnail would be: serve it as it is.
    Original,
    Thumbnail {
        bytes: Vec<u8>,
        content_type: &'static str,
    },
}

#[derive(Debug, PartialEq, Eq)]
pub enum RenderError {
    /// Not an image in a format the server decodes.
    NotAnImage,
    /// More pixels than the configured budget.
    TooLarge { width: u32, height: u32 },
}

/// Renders `content` at `size`. CPU-bound: call it off the async runtime.
pub fn render(content: &[u8], size: Size, max_pixels: u64) -> Result<Rendered, RenderError> {
    let reader = || {
        ImageReader::new(Cursor::new(content))
            .with_guessed_format()
            .map_err(|_| RenderError::NotAnImage)
    };
    let probe = reader()?;
    if !matches!(
        probe.format(),
        Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP)
    ) {
        return Err(RenderError::NotAnImage);
    }
    let (width, height) = probe
        .into_dimensions()
        .map_err(|_| RenderError::NotAnImage)?;
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(RenderError::TooLarge { width, height });
    }
    let smaller_than_target = match size.method {
        Method::Scale => width <= size.width && height <= size.height,
        Method::Crop => width <= size.width || height <= size.height,
    };
    if smaller_than_target {
        return Ok(Rendered::Original);
    }
    let mut decoder = reader()?;
    let mut limits = image::Limits::default();
    // Room for the decoded frame and the decoder's working buffers.
    limits.max_alloc = Some(max_pixels.saturating_mul(16));
    decoder.limits(limits);
    let image = decoder.decode().map_err(|_| RenderError::NotAnImage)?;
    let thumbnail = match size.method {
        Method::Scale => image.resize(size.width, size.height, FilterType::Triangle),
        Method::Crop => image.resize_to_fill(size.width, size.height, FilterType::Triangle),
    };
    encode(&thumbnail)
}

/// PNG keeps transparency; everything opaque becomes a smaller JPEG.
fn encode(image: &DynamicImage) -> Result<Rendered, RenderError> {
    let mut bytes = Vec::new();
    if image.color().has_alpha() {
        image
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .map_err(|_| RenderError::NotAnImage)?;
        Ok(Rendered::Thumbnail {
            bytes,
            content_type: "image/png",
        })
    } else {
        let rgb = DynamicImage::ImageRgb8(image.to_rgb8());
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 80)
            .encode_image(&rgb)
            .map_err(|_| RenderError::NotAnImage)?;
        Ok(Rendered::Thumbnail {
            bytes,
            content_type: "image/jpeg",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32, alpha: bool) -> Vec<u8> {
        let image = if alpha {
            DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
                width,
                height,
                image::Rgba([10, 20, 30, 128]),
            ))
        } else {
            DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
                width,
                height,
                image::Rgb([10, 20, 30]),
            ))
        };
        let mut bytes = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .unwrap();
        bytes
    }

    fn dimensions(bytes: &[u8]) -> (u32, u32) {
        ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .unwrap()
            .into_dimensions()
            .unwrap()
    }

    #[test]
    fn a_request_gets_the_smallest_standard_size_that_covers_it() {
        let s = standard_size(50, 40, Method::Crop).unwrap();
        assert_eq!((s.width, s.height, s.method), (96, 96, Method::Crop));
        let s = standard_size(300, 200, Method::Scale).unwrap();
        assert_eq!((s.width, s.height, s.method), (320, 240, Method::Scale));
        // No crop size covers 300×200, so the scaled one answers.
        let s = standard_size(300, 200, Method::Crop).unwrap();
        assert_eq!((s.width, s.height, s.method), (320, 240, Method::Scale));
        assert_eq!(standard_size(1000, 1000, Method::Scale), None);
    }

    #[test]
    fn scale_keeps_the_aspect_ratio_inside_the_box() {
        let out = render(&png(1000, 500, false), STANDARD[2], 1 << 30).unwrap();
        let Rendered::Thumbnail {
            bytes,
            content_type,
        } = out
        else {
            panic!("expected a thumbnail")
        };
        assert_eq!(content_type, "image/jpeg");
        assert_eq!(dimensions(&bytes), (320, 160));
    }

    #[test]
    fn crop_fills_the_requested_box_and_keeps_transparency() {
        let out = render(&png(1000, 500, true), STANDARD[1], 1 << 30).unwrap();
        let Rendered::Thumbnail {
            bytes,
            content_type,
        } = out
        else {
            panic!("expected a thumbnail")
        };
        assert_eq!(content_type, "image/png");
        assert_eq!(dimensions(&bytes), (96, 96));
    }

    #[test]
    fn a_small_image_is_never_upscaled() {
        assert_eq!(
            render(&png(20, 20, false), STANDARD[0], 1 << 30),
            Ok(Rendered::Original)
        );
        assert_eq!(
            render(&png(300, 200, false), STANDARD[3], 1 << 30),
            Ok(Rendered::Original)
        );
    }

    #[test]
    fn an_image_over_the_pixel_budget_is_refused_before_decoding() {
        assert_eq!(
            render(&png(200, 200, false), STANDARD[0], 100 * 100),
            Err(RenderError::TooLarge {
                width: 200,
                height: 200
            })
        );
    }

    #[test]
    fn non_images_and_truncated_images_are_refused() {
        assert_eq!(
            render(b"just some text", STANDARD[0], 1 << 30),
            Err(RenderError::NotAnImage)
        );
        let mut truncated = png(400, 400, false);
        truncated.truncate(truncated.len() / 2);
        assert!(render(&truncated, STANDARD[0], 1 << 30).is_err());
    }
}
