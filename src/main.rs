//! The `cookbook` command (placeholder; the subcommands follow).
fn main() {}
