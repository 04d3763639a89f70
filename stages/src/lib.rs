//! Facet's stage kinds, one module (file or folder) per stage with its config,
//! code and tests. [`registry`] is the explicit list pipelines choose from.

use facet_engine::DynStageKind;
use facet_engine::stage::register;

pub mod brisque;
pub mod decode;
pub mod exif;
pub mod faces;
pub mod fixtures;
pub mod groups;
pub mod onnx;
pub mod phash;
pub mod scan;
pub mod score;
pub mod technical;
pub mod thumbnail;
pub mod translate;
pub mod working;
pub mod zero_shot;

/// Every stage kind, by the name pipelines use.
pub fn registry() -> Vec<Box<dyn DynStageKind>> {
    vec![
        register(scan::Scan),
        register(decode::Decode),
        register(exif::Exif),
        register(thumbnail::Thumbnail),
        register(phash::Phash),
        register(technical::Technical),
        register(onnx::Onnx),
        register(brisque::BrisqueStage),
        register(zero_shot::ZeroShotTags),
        register(faces::Faces),
        register(translate::Translate),
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    #[test]
    fn stage_names_are_unique() {
        let mut seen = HashSet::new();
        for k in super::registry() {
            assert!(seen.insert(k.name()), "{} registered twice", k.name());
            assert!(!k.doc().is_empty());
        }
    }
}
