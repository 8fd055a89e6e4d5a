//! The global allocator of every fuzz target: the system allocator, but any single allocation
//! (or reallocation) larger than the running target's cap aborts the process with a message,
//! which libFuzzer reports as a crash and saves the input for. The caps are the ones the
//! library promises (`volley::fuzzing`); outside a run of the target there is no cap.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

static CAP: AtomicUsize = AtomicUsize::new(usize::MAX);

struct Capped;

#[global_allocator]
static ALLOCATOR: Capped = Capped;

fn check(size: usize) {
    let cap = CAP.load(Ordering::Relaxed);
    if size > cap {
        // No allocation from here on: the message is built on the stack.
        let mut buf = [0u8; 128];
        let mut w = &mut buf[..];
        let _ = write!(
            w,
            "\nfuzz: an allocation of {size} bytes, above the cap of {cap}\n"
        );
        let left = w.len();
        let _ = std::io::stderr().write_all(&buf[..buf.len() - left]);
        std::process::abort();
    }
}

unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

/// Runs the library's fuzz entry `name` on `data` under its allocation cap.
pub fn run(name: &str, data: &[u8]) {
    let (_, entry, cap) = volley::fuzzing::TARGETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .expect("a target of volley::fuzzing::TARGETS");
    CAP.store(*cap, Ordering::Relaxed);
    entry(data);
    CAP.store(usize::MAX, Ordering::Relaxed);
}
