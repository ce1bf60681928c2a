//! The preloadable library: `GoAlloc` as the C `malloc` of any dynamically
//! linked program.
//!
//! ```sh
//! cargo build --release --features preload --example goalloc_preload
//! LD_PRELOAD=target/release/examples/libgoalloc_preload.so python3 -c 'print(1)'
//! ```
//!
//! Everything lives in [`alloc_cookbook::c_abi`]; with the `preload` feature
//! its functions carry `#[no_mangle]`, and this `cdylib` exports them. The
//! reference below makes sure the linker keeps them.

#[doc(hidden)]
pub use alloc_cookbook::c_abi::*;
