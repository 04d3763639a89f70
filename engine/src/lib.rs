//! Facet's engine: the pipeline file, its validation ("compiler"), the stage
//! traits and registry, the memory budget and the timely-dataflow runtime.
//!
//! The engine knows nothing of images or models: stages live in `facet-stages`
//! and depend on the engine, never the other way round.

pub mod batch;
pub mod budget;
pub mod cluster;
pub mod compile;
pub mod diagnostic;
pub mod error;
pub mod failpoint;
pub mod locate;
mod operators;
pub mod passes;
pub mod runtime;
pub mod spec;
pub mod stage;
#[cfg(test)]
mod testkit;
pub mod tuning;

pub use batch::{ChildRows, split_children, with_columns};
pub use budget::{Budget, Reservation};
pub use cluster::Cluster;
pub use compile::{Alternative, Plan, PlannedStage, compile, compile_at};
pub use diagnostic::Diagnostic;
pub use error::{FacetError, StageError};
pub use stage::{
    BuildCx, Built, Configured, DynStageKind, Failure, FileEntry, ModelFile, PlanCx, Source, Stage,
    StageCx, StageKind, StagePlan,
};
