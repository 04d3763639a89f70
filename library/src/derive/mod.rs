//! Library-wide derivations: results that depend on the whole library, not
//! on one photo, brought up to date after every run from stored columns only
//! (no image is decoded again).

pub mod groups;
pub mod people;
pub mod scores;
