//! Callgrind bench (gungraun): PLACEHOLDER until its issue lands.
fn main() {}
