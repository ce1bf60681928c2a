//! Fatal errors inside the allocator: one line to stderr with `write(2)`, then `abort()`.
//!
//! Part of the allocator described in [`crate::allocator`] (read its header first).
//!
//! The fact a reader gets wrong: an allocator must not `panic!` when it finds
//! a broken invariant (a double free, a foreign pointer). Unwinding out of
//! `GlobalAlloc::alloc`/`dealloc` or out of the C ABI's `malloc`/`free` is
//! undefined behaviour, and the panic machinery itself allocates (the
//! message, the backtrace) through the very allocator that is broken. So
//! the debug checks format their message into a buffer on the stack with
//! `core::fmt` (which never allocates), write it to file descriptor 2 and
//! abort; the death tests in `tests.rs` check for exactly that: SIGABRT and
//! the message. [`check!`] is the allocator's `debug_assert!`.

// Release builds keep the checks out, and with them every caller.
#![cfg_attr(not(debug_assertions), allow(dead_code))]

use core::fmt::{self, Write};

/// A fixed buffer that `core::fmt` writes into; overlong text is cut.
struct Line {
    buf: [u8; 320],
    len: usize,
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - 1 - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Writes `GoAlloc: <message>` and a newline to stderr and aborts the
/// process. Never allocates, never unwinds.
#[cold]
#[inline(never)]
pub(crate) fn fatal(args: fmt::Arguments<'_>) -> ! {
    let mut line = Line {
        buf: [0; 320],
        len: 0,
    };
    let _ = line.write_str("GoAlloc: ");
    let _ = line.write_fmt(args);
    line.buf[line.len] = b'\n';
    // SAFETY: writing our own stack buffer to fd 2; abort has no preconditions.
    unsafe {
        libc::write(2, line.buf.as_ptr().cast(), line.len + 1);
        libc::abort()
    }
}

/// `debug_assert!` for code inside the allocator: in debug builds, a false
/// condition reports with [`fatal`] instead of panicking.
macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {{
        if cfg!(debug_assertions) && !$cond {
            $crate::allocator::abort::fatal(format_args!($($msg)+));
        }
    }};
}
pub(crate) use check;
