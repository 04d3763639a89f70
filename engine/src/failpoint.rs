//! Named points at which a test can stop a real run, to prove that a kill
//! there loses nothing (the `fail` crate's fail points, read from
//! `FAILPOINTS` by the binary). `facet-library` holds the store's points;
//! the engine's: `runtime::shipped` (in a cluster run, a batch of this
//! process's photos has been sent to process 0).

/// Reports the point on stderr (`facet-failpoint NAME`) and waits there
/// until the process is killed.
pub fn hold(name: &str) -> ! {
    eprintln!("facet-failpoint {name}");
    loop {
        std::thread::park();
    }
}
