//! Named points at which a test can stop a real run, to prove that a kill
//! there loses nothing (the `fail` crate's fail points). A test starts
//! `facet run` with, for example,
//! `FAILPOINTS=writer::children_committed=2*off->return`: the third time the
//! run reaches that point it prints `facet-failpoint writer::children_committed`
//! to stderr and stops there, and the test kills it with SIGKILL. Without
//! `FAILPOINTS` a point costs one lookup in an empty registry.
//!
//! The points: `writer::children_committed` (a batch's child rows — faces —
//! are committed, its photo rows are not), `writer::photos_committed` (a
//! whole batch is committed), `scores::written`, `groups::written`,
//! `people::faces_written` (faces carry their new person, `persons` is not
//! written yet), `lifecycle::moves_journaled` (moves found and journaled,
//! no table rewritten yet), `lifecycle::table_moved` (one table of a move
//! rewritten).

pub(crate) use facet_engine::failpoint::hold;

/// A fail point named `$name` (see the module documentation).
macro_rules! point {
    ($name:literal) => {
        fail::fail_point!($name, |_| $crate::failpoint::hold($name))
    };
}
pub(crate) use point;

/// Reads `FAILPOINTS` for the life of the returned guard (the binary holds
/// it for the whole process).
pub fn setup() -> fail::FailScenario<'static> {
    fail::FailScenario::setup()
}
