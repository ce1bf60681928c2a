//! # alloc_recipes
//!
//! Copyable allocation-performance recipes. Each module stands alone (std plus
//! the one crate it teaches), so it can be copied into real code as it is, and
//! each says when to use the pattern and when not to. The measurements behind
//! every claim are in the workspace's `benches/` and the book.
pub mod batch;
pub mod cache_friendly;
pub mod pooling;
pub mod real_world;
pub mod size_aligned;
pub mod tiny;
