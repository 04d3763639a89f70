//! Tests and benchmarks that need `../shared` (real photos, small models) or
//! ONNX Runtime report it when those are absent: on the process's stderr
//! (not the test harness's captured output, so that a plain `cargo test`
//! lists every skipped test), and as a failure when `FACET_REQUIRE_FIXTURES=1`
//! — CI sets it, so that no test passes there by skipping.

use std::io::Write;

/// The variable that turns a skip into a failure.
pub const REQUIRE: &str = "FACET_REQUIRE_FIXTURES";

/// Whether skipping is a failure (`FACET_REQUIRE_FIXTURES` set, not `0`).
pub fn required() -> bool {
    std::env::var(REQUIRE).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `test` cannot run because `why`: panics when fixtures are required, else
/// prints `SKIPPED test: why` where the developer sees it. The caller then
/// returns.
#[track_caller]
pub fn absent(test: &str, why: &str) {
    if required() {
        panic!("{test}: {why} ({REQUIRE} is set: a test may not skip)");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

#[cfg(test)]
mod tests {
    /// With fixtures required, a missing one fails the test.
    #[test]
    fn a_missing_fixture_fails_when_fixtures_are_required() {
        // SAFETY: the variable is read by this test only (others read it
        // only when a fixture is missing, which the tests do not provoke
        // where CI runs them).
        let before = std::env::var_os(super::REQUIRE);
        unsafe { std::env::set_var(super::REQUIRE, "1") };
        let failed = std::panic::catch_unwind(|| super::absent("t", "nothing here")).is_err();
        unsafe { std::env::set_var(super::REQUIRE, "0") };
        let skipped = std::panic::catch_unwind(|| super::absent("t", "nothing here")).is_ok();
        match before {
            Some(v) => unsafe { std::env::set_var(super::REQUIRE, v) },
            None => unsafe { std::env::remove_var(super::REQUIRE) },
        }
        assert!(failed && skipped);
    }
}
