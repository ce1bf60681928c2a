//! # alloc_cookbook
//!
//! A memory allocator built the way Go's runtime builds its own (size classes,
//! per-thread caches, central lists per class, a page heap on memory from the
//! OS, a tiny allocator and a direct path for large objects), usable as a Rust
//! `#[global_allocator]`, and the analysis that explains what it costs: per-size
//! overhead, internal fragmentation, span tail waste, and the best sizes to ask for.
//!
//! Start with [`allocator`] (the overview every component file points back to),
//! then [`size_class`] (the table everything else is built on) and [`analysis`].
//!
//! ```
//! use alloc_cookbook::analysis::explain;
//! let e = explain(33);
//! assert_eq!(e.rounded, 48);
//! assert_eq!(e.waste, 15);
//! ```

pub mod allocator;
pub mod analysis;
pub mod c_abi;
pub mod counting;
pub mod fragmentation;
pub mod size_class;

pub use allocator::GoAlloc;
