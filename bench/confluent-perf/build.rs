//! Puts the locked versions of the client, TLS and runtime crates into the binary
//! (`CONFLUENT_PERF_VERSIONS`), for `--version` and `--print-config`.

fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let version_of = |name: &str| -> String {
        let header = format!("name = \"{name}\"\nversion = \"");
        lock.find(&header)
            .and_then(|at| {
                let rest = &lock[at + header.len()..];
                rest.find('"').map(|end| rest[..end].to_string())
            })
            .unwrap_or_else(|| "?".into())
    };
    println!(
        "cargo:rustc-env=CONFLUENT_PERF_VERSIONS=confluent-kafka crate {}, rustls {} with aws-lc-rs {}, tokio {}",
        version_of("confluent-kafka"),
        version_of("rustls"),
        version_of("aws-lc-rs"),
        version_of("tokio"),
    );
}
