#![no_main]
#[path = "../capped_alloc.rs"]
mod capped_alloc;

libfuzzer_sys::fuzz_target!(|data: &[u8]| capped_alloc::run("sasl", data));
