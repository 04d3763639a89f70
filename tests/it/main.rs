//! Facet's integration tests: one binary (each extra test binary links Lance again).
//! They drive the real `facet` binary on real files, a real Lance store and real DataFusion.

mod check;
mod cluster;
mod common;
mod exif_oracle;
mod faces;
mod fidelity;
mod gallery;
mod groups;
mod heif_raw;
mod kill;
mod lifecycle;
mod models;
mod plugins;
mod run;
mod score;
mod shared_photos;
mod translate;
mod upgrade;
mod users;
mod watch;
mod xmp_sidecars;
mod zero_shot;
