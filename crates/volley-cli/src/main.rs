//! `volley`: command-line tools on the Volley Kafka producer.
//!
//! * `volley produce`: Kafka's `kafka-console-producer`, same options and reader properties.
//! * `volley perf`: Kafka's `kafka-producer-perf-test`, same options and output.
//!
//! As with Kafka's tools, a usage error exits with code 1 (clap's default would be 2).

mod common;
mod java;
mod line_reader;
mod perf;
mod produce;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "volley",
    version,
    about = "Produce to Apache Kafka with Volley, a pure-Rust Kafka producer",
    long_about = "Produce to Apache Kafka with Volley, a pure-Rust Kafka producer.\n\n\
                  Producer settings use the Java client's names (bootstrap.servers, acks, linger.ms, \
                  batch.size, compression.type, ...), given one by one or in a Java .properties \
                  file. Set RUST_LOG (e.g. RUST_LOG=volley=debug) for the producer's logs; by default \
                  only warnings are shown, on stderr.",
    propagate_version = true,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Produce(produce::ProduceArgs),
    Perf(perf::PerfArgs),
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version go to stdout and succeed; usage errors exit 1, as Kafka's tools.
            std::process::exit(if e.use_stderr() { 1 } else { 0 });
        }
    };
    init_logging();
    let code = match cli.command {
        Command::Produce(args) => produce::run(args),
        Command::Perf(args) => perf::run(args),
    };
    std::process::exit(code);
}
