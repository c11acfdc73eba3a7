//! Proving, k2pow and scoring throughput (printed, never asserted).
fn main() {}
