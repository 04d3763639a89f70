//! `thumbnail`: a JPEG of the photo, `processing.thumbnails.photo_size` on its
//! longest side at `photo_quality`, stored per `storage.mode`: a binary column
//! (`database`) or a file under `storage.filesystem_path`, sharded by the
//! SHA-256 of the photo path (`thumbnails/a3/a3f8…_640.jpg`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use facet_config::StorageMode;
use facet_engine::{
    BuildCx, Built, Diagnostic, PlanCx, Stage, StageCx, StageError, StageKind, StagePlan,
};
use fast_image_resize as fr;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::decode::resize;
use crate::working::{self, Images, Rgb, RgbRef, photos_field, with_columns};

pub struct Thumbnail;

/// `with:` of `thumbnail`; unset fields come from `processing.thumbnails` and `storage`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThumbnailConfig {
    /// Longest side in pixels (default `processing.thumbnails.photo_size`, 640).
    #[serde(default)]
    pub size: Option<u32>,
    /// JPEG quality 1-100 (default `processing.thumbnails.photo_quality`, 80).
    #[serde(default)]
    pub quality: Option<u8>,
}

impl StageKind for Thumbnail {
    const NAME: &'static str = "thumbnail";
    const DOC: &'static str =
        "Encodes a JPEG thumbnail, stored in the table or as files per `storage.mode`.";
    type Config = ThumbnailConfig;

    fn plan(&self, cfg: &ThumbnailConfig, cx: &PlanCx) -> Result<StagePlan, Vec<Diagnostic>> {
        let size = cfg
            .size
            .unwrap_or(cx.config.processing.thumbnails.photo_size);
        let mut problems = Vec::new();
        if !(16..=8192).contains(&size) {
            problems.push(Diagnostic::new(
                "size",
                format!("{size} is out of range 16..=8192"),
            ));
        }
        if let Some(q) = cfg.quality
            && !(1..=100).contains(&q)
        {
            problems.push(Diagnostic::new(
                "quality",
                format!("{q} is out of range 1..=100"),
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(StagePlan {
            reads: working::fields(),
            writes: vec![photos_field("thumbnail"), photos_field("thumbnail_path")],
            image_side: Some(size),
            bytes_per_photo: size as u64 * size as u64 * 4,
            ..Default::default()
        })
    }

    fn build(&self, cfg: &ThumbnailConfig, cx: &BuildCx) -> Result<Built, StageError> {
        let t = &cx.config.processing.thumbnails;
        let dir = match cx.config.storage.mode {
            StorageMode::Database => None,
            StorageMode::Filesystem => {
                let dir = cx.config.storage.filesystem_path.join("thumbnails");
                std::fs::create_dir_all(&dir).map_err(|e| {
                    StageError::Config(format!(
                        "storage.filesystem_path: cannot create {}: {e}",
                        dir.display()
                    ))
                })?;
                Some(dir)
            }
        };
        Ok(Built::Transform(Box::new(Thumbnailer {
            size: cfg.size.unwrap_or(t.photo_size),
            quality: cfg.quality.unwrap_or(t.photo_quality),
            dir,
            resizer: fr::Resizer::new(),
        })))
    }
}

struct Thumbnailer {
    size: u32,
    quality: u8,
    dir: Option<PathBuf>,
    resizer: fr::Resizer,
}

/// Encodes RGB pixels as a baseline JPEG.
pub fn encode_jpeg(img: RgbRef<'_>, quality: u8) -> Result<Vec<u8>, String> {
    catch_unwind(AssertUnwindSafe(|| -> std::io::Result<Vec<u8>> {
        let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        c.set_size(img.width as usize, img.height as usize);
        c.set_fastest_defaults();
        c.set_quality(quality as f32);
        let mut started = c.start_compress(Vec::new())?;
        started.write_scanlines(img.pixels)?;
        started.finish()
    }))
    .map_err(|_| "JPEG encoder failed".to_string())?
    .map_err(|e| e.to_string())
}

/// `<dir>/ab/abcdef…_<size>.jpg` for a photo path.
pub fn shard_path(dir: &std::path::Path, photo: &str, size: u32) -> PathBuf {
    let hash = hex::encode(Sha256::digest(photo.as_bytes()));
    dir.join(&hash[..2]).join(format!("{hash}_{size}.jpg"))
}

impl Thumbnailer {
    fn make(&mut self, img: RgbRef<'_>) -> Result<Vec<u8>, String> {
        let longest = img.width.max(img.height);
        if longest <= self.size {
            return encode_jpeg(img, self.quality);
        }
        let f = self.size as f64 / longest as f64;
        let w = ((img.width as f64 * f).round() as u32).max(1);
        let h = ((img.height as f64 * f).round() as u32).max(1);
        let owned = Rgb {
            width: img.width,
            height: img.height,
            pixels: img.pixels.to_vec(),
        };
        let small = resize(&mut self.resizer, &owned, w, h)?;
        encode_jpeg(small.as_ref(), self.quality)
    }
}

impl Stage for Thumbnailer {
    fn process(&mut self, batch: RecordBatch, cx: &mut StageCx) -> Result<RecordBatch, StageError> {
        let images = Images::of(&batch)?;
        let paths = working::paths(&batch)?;
        let mut blobs = BinaryBuilder::new();
        let mut files = StringBuilder::new();
        for row in 0..batch.num_rows() {
            let Some(img) = images.get(row) else {
                blobs.append_null();
                files.append_null();
                continue;
            };
            let result = self.make(img).and_then(|jpeg| match &self.dir {
                None => Ok((Some(jpeg), None)),
                Some(dir) => {
                    let file = shard_path(dir, paths.value(row), self.size);
                    std::fs::create_dir_all(file.parent().expect("sharded path has a parent"))
                        .and_then(|_| std::fs::write(&file, &jpeg))
                        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
                    Ok((None, Some(file.to_string_lossy().into_owned())))
                }
            });
            match result {
                Ok((blob, file)) => {
                    blobs.append_option(blob);
                    files.append_option(file);
                }
                Err(reason) => {
                    cx.fail(row, reason);
                    blobs.append_null();
                    files.append_null();
                }
            }
        }
        let columns: Vec<ArrayRef> = vec![Arc::new(blobs.finish()), Arc::new(files.finish())];
        with_columns(
            batch,
            vec![photos_field("thumbnail"), photos_field("thumbnail_path")],
            columns,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_fit_and_decode() {
        let pixels: Vec<u8> = (0..1200 * 800 * 3).map(|i| (i % 251) as u8).collect();
        let mut t = Thumbnailer {
            size: 640,
            quality: 80,
            dir: None,
            resizer: fr::Resizer::new(),
        };
        let jpeg = t
            .make(RgbRef {
                width: 1200,
                height: 800,
                pixels: &pixels,
            })
            .unwrap();
        let back = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((back.width(), back.height()), (640, 427));
    }

    #[test]
    fn shards_by_sha256_of_the_path() {
        let p = shard_path(std::path::Path::new("/s/thumbnails"), "/photos/a.jpg", 640);
        let s = p.to_string_lossy();
        let hash = hex::encode(Sha256::digest(b"/photos/a.jpg"));
        assert_eq!(s, format!("/s/thumbnails/{}/{}_640.jpg", &hash[..2], hash));
    }
}
