//! Sets `cfg(volley_avx512)` when rustc is 1.89 or later, where the AVX-512 target features
//! are stable (`volley perf`'s letter generator has an AVX-512 variant; the crate itself builds
//! from Rust 1.85).

use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(volley_avx512)");
    println!("cargo::rerun-if-changed=build.rs");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let minor = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok());
    let major = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    if matches!((major, minor), (Some(1), Some(m)) if m >= 89) || major.is_some_and(|m| m > 1) {
        println!("cargo::rustc-cfg=volley_avx512");
    }
}
