//! rdkafka-perf: Kafka's `kafka-producer-perf-test` (`org.apache.kafka.tools.ProducerPerformance`
//! of Kafka 4.4) on librdkafka through the `rdkafka` crate, for Volley's benchmark harness
//! (bench/run).
//!
//! ```text
//! rdkafka-perf --topic T --num-records N (--record-size B | --payload-file F | --payload-monotonic)
//!              --throughput R [--bootstrap-server HOST:PORT | --mock-brokers N]
//!              [--producer-props k=v ... | --command-property k=v ...] [--reporting-interval MS]
//!              [--record-key-range K --key-distribution range|random] [--random-seed S]
//!              [--warmup-records N] [--threads N] [--print-config]
//! rdkafka-perf mock-cluster [--brokers N] [--topic NAME:PARTITIONS ...] [--exit-on-stdin-eof] [--no-proxy]
//! rdkafka-perf --version
//! ```
//!
//! The perf mode prints the tool's lines (a window line every --reporting-interval ms, then the
//! summary with 50th/95th/99th/99.9th percentiles) and sends the tool's workload: payloads and
//! keys drawn from the same `SplittableRandom` sequence, so each client of the harness sends the
//! same records. Java producer property names are mapped to librdkafka's (see `map_property`).
//!
//! `mock-cluster` starts librdkafka's in-memory mock cluster (brokers listen on 127.0.0.1 only),
//! behind a small proxy that lets non-librdkafka clients connect (see `mock_cluster`), prints
//! `bootstrap: HOST:PORT,...`, creates the `--topic`s, and then stays up until killed; it also
//! reads commands from stdin, one a line: `create TOPIC PARTITIONS` (answers `ok` or
//! `error: ...`). With --exit-on-stdin-eof it exits when stdin closes; --no-proxy exposes the
//! mock brokers directly (librdkafka clients only).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use perf_common::{die, number, parse_args, read_payloads, run_threads, Args, Clock, Records};
use perf_common::{Shared, Throttler, Value};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

// ---------------------------------------------------------------------------------------
// The producer context: delivery reports update the stats (on the ThreadedProducer's poll
// thread, as Java's callbacks run on its I/O thread).

struct PerfContext(Shared);

impl ClientContext for PerfContext {}

impl ProducerContext for PerfContext {
    /// The send start in ms on `clock`, shifted left by one; the low bit says "sent in the
    /// steady state" (after --warmup-records).
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        let (send_start_ms, in_steady) = ((opaque >> 1) as i64, opaque & 1 == 1);
        match result {
            Ok(msg) => self
                .0
                .acknowledged(send_start_ms, in_steady, msg.payload_len() as i64),
            Err((e, _)) => self.0.failed(|| e.to_string()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Arguments: Kafka's tool's (perf_common::parse_args), plus --mock-brokers.

const USAGE: &str = "usage: rdkafka-perf --topic T --num-records N (--record-size B | --payload-file F | --payload-monotonic)
       --throughput R [--bootstrap-server HOST:PORT | --mock-brokers N]
       [--producer-props k=v ... | --command-property k=v ...] [--payload-delimiter D]
       [--reporting-interval MS] [--record-key-range K --key-distribution range|random]
       [--random-seed S] [--warmup-records N] [--threads N] [--print-config]
       rdkafka-perf mock-cluster [--brokers N] [--topic NAME:PARTITIONS ...] [--exit-on-stdin-eof] [--no-proxy]
       rdkafka-perf --version
Kafka's kafka-producer-perf-test on librdkafka (rdkafka crate); Java producer property names are mapped
to librdkafka's.";

/// A Java producer property as librdkafka properties (name, value). librdkafka accepts many Java
/// names as aliases; the ones that differ are translated here.
fn map_property(k: &str, v: &str) -> Vec<(String, String)> {
    let one = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
    match k {
        // Same name and meaning in librdkafka (some are aliases there).
        "bootstrap.servers"
        | "client.id"
        | "acks"
        | "linger.ms"
        | "enable.idempotence"
        | "max.in.flight.requests.per.connection"
        | "retries"
        | "retry.backoff.ms"
        | "retry.backoff.max.ms"
        | "request.timeout.ms"
        | "delivery.timeout.ms"
        | "reconnect.backoff.ms"
        | "reconnect.backoff.max.ms"
        | "transactional.id" => one(k, v),
        // librdkafka >= 1.5: batch.size is bytes per MessageSet, as in Java. Its second bound,
        // batch.num.messages (default 10000), is raised out of the way so bytes decide.
        "batch.size" => vec![
            ("batch.size".into(), v.into()),
            ("batch.num.messages".into(), "1000000".into()),
        ],
        "compression.type" => one("compression.codec", v),
        // Java bounds the buffered bytes only; librdkafka bounds bytes (in KiB) and message
        // count (default 100000), which is lifted so that bytes are the bound here too.
        "buffer.memory" => {
            let bytes: u64 = v
                .parse()
                .unwrap_or_else(|_| die(format!("{k}: not a number")));
            vec![
                (
                    "queue.buffering.max.kbytes".into(),
                    bytes.div_ceil(1024).to_string(),
                ),
                ("queue.buffering.max.messages".into(), "2147483647".into()),
            ]
        }
        "max.request.size" => one("message.max.bytes", v),
        // TLS. librdkafka takes lower-case protocol names and reads a trust store from a PEM
        // file (ssl.ca.location) only: Java's PEM trust store maps to it, other types do not.
        "security.protocol" => one(k, &v.to_ascii_lowercase()),
        "ssl.truststore.type" => match v.to_ascii_uppercase().as_str() {
            "PEM" => vec![],
            _ => die(format!(
                "ssl.truststore.type={v}: librdkafka reads PEM CA files only (ssl.ca.location)"
            )),
        },
        "ssl.truststore.location" => one("ssl.ca.location", v),
        // Same name and values ("https": check the broker's host name; "none").
        "ssl.endpoint.identification.algorithm" => one(k, if v.is_empty() { "none" } else { v }),
        "partitioner.class" => die("partitioner.class has no librdkafka mapping"),
        // Anything else is passed through as a librdkafka property (it rejects unknown names).
        _ => one(k, v),
    }
}

fn client_config(a: &Args, bootstrap: Option<&str>) -> ClientConfig {
    let mut props: BTreeMap<String, String> = BTreeMap::new();
    // Java's default partitioner: murmur2 of the key (the same partition as Java for keyed
    // records); keyless records are sticky (librdkafka's sticky.partitioning.linger.ms).
    props.insert("partitioner".into(), "murmur2_random".into());
    for (k, v) in &a.props {
        for (k2, v2) in map_property(k, v) {
            props.insert(k2, v2);
        }
    }
    if let Some(b) = bootstrap {
        props.insert("bootstrap.servers".into(), b.to_string());
    }
    if !props.contains_key("bootstrap.servers") {
        die("no bootstrap server: use --bootstrap-server, --mock-brokers or bootstrap.servers=...");
    }
    let mut c = ClientConfig::new();
    for (k, v) in &props {
        c.set(k, v);
    }
    if a.print_config {
        let desc: Vec<String> = props.iter().map(|(k, v)| format!("{k}={v}")).collect();
        eprintln!("rdkafka-perf: {}", version_string());
        eprintln!("rdkafka-perf: librdkafka config: {}", desc.join(" "));
    }
    c
}

// OpenSSL's version string; librdkafka is built with --enable-ssl and links the system libssl.
extern "C" {
    fn OpenSSL_version(t: std::ffi::c_int) -> *const std::ffi::c_char;
}

fn version_string() -> String {
    let (_, v) = rdkafka::util::get_rdkafka_version();
    // SAFETY: OpenSSL_version(OPENSSL_VERSION = 0) returns a static NUL-terminated string.
    let ssl = unsafe { std::ffi::CStr::from_ptr(OpenSSL_version(0)) }.to_string_lossy();
    format!("rdkafka-perf (rdkafka crate 0.39.0, librdkafka {v}, bundled build, {ssl})")
}

// ---------------------------------------------------------------------------------------

fn perf(argv: &[String]) -> i32 {
    let mut mock_brokers: Option<i32> = None;
    let a = parse_args(argv, USAGE, &["--mock-brokers"], |flag, v| {
        mock_brokers = Some(number(v, flag))
    });
    // --mock-brokers: an in-process mock cluster (kept alive until the end of the run).
    let mock = mock_brokers.map(|n| {
        let m = MockCluster::new(n).unwrap_or_else(|e| die(format!("mock cluster: {e}")));
        m.create_topic(&a.topic, 1, n.min(3))
            .unwrap_or_else(|e| die(format!("mock topic: {e}")));
        m
    });
    let mock_bootstrap = mock.as_ref().map(|m| m.bootstrap_servers());
    let config = client_config(&a, mock_bootstrap.as_deref().or(a.bootstrap.as_deref()));
    let payloads = read_payloads(&a);
    let clock = Clock::start();
    let producer: ThreadedProducer<PerfContext> = config
        .create_with_context(PerfContext(Shared::new(clock, &a)))
        .unwrap_or_else(|e| die(format!("cannot create the producer: {e}")));
    let shared = &producer.context().0;

    run_threads(&a, |t, from, to| {
        let mut records = Records::new(&a, &payloads, t);
        let mut throttler = Throttler::new(a.throughput / a.threads as f64, clock.ms());
        let mut in_steady = false;
        for i in from..to {
            let (value, key) = records.next(i);
            let value: &[u8] = match value {
                Value::Payload(p) => p,
                Value::Bytes(b) => b,
            };
            let send_start = clock.ms();
            if a.warmup_records > 0 && i == a.warmup_records {
                shared.start_steady_state(clock.ms(), &a);
                in_steady = true;
            }
            let opaque = (send_start as usize) << 1 | usize::from(in_steady);
            let mut record =
                BaseRecord::<[u8], [u8], usize>::with_opaque_to(&a.topic, opaque).payload(value);
            if let Some(k) = key {
                record = record.key(k);
            }
            // librdkafka does not block when its queue is full (Java's send does): wait for
            // the I/O and poll threads to make room, then try again.
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        record = r;
                        std::thread::sleep(Duration::from_micros(500));
                    }
                    Err((e, _)) => die(format!("send failed after {i} records: {e}")),
                }
            }
            if throttler.should_throttle(i - from, send_start) {
                throttler.throttle();
            }
        }
    });
    if let Err(e) = producer.flush(Duration::from_secs(300)) {
        eprintln!("rdkafka-perf: flush: {e}");
    }
    shared.print_summary();
    let code = shared.exit_code(&a);
    drop(producer);
    drop(mock);
    code
}

// ---------------------------------------------------------------------------------------
// mock-cluster: librdkafka's mock cluster in its own process, behind a small TCP proxy.
//
// librdkafka's mock brokers (2.12.1) support ApiVersions v0-v2 only, and answer a v3/v4 request
// (which Java, Volley and franz-go send first on every connection) with an UNSUPPORTED_VERSION
// response that is neither in the v0 layout those clients then expect (KIP-511) nor a valid v3
// one, so they cannot connect. The proxy answers a connection's first request itself when it is
// ApiVersions v3 or later (from the version ranges the mock reports for v0), and copies all
// other bytes both ways unchanged. Each mock broker advertises its proxy's address, so every
// client (librdkafka too) reaches the mock through the proxy.

use rdkafka::bindings as rdsys;
use std::io::Read;
use std::net::{TcpListener, TcpStream};

/// The mock cluster, owned through the raw librdkafka API (the rdkafka crate's `MockCluster`
/// does not expose the pointer that `rd_kafka_mock_broker_set_host_port` needs).
struct RawMock {
    ptr: *mut rdsys::rd_kafka_mock_cluster_t,
    _handle: rdkafka::producer::BaseProducer,
}

unsafe impl Send for RawMock {}
unsafe impl Sync for RawMock {}

impl RawMock {
    fn new(brokers: i32) -> RawMock {
        use rdkafka::producer::Producer as _;
        let handle: rdkafka::producer::BaseProducer = ClientConfig::new()
            .create()
            .unwrap_or_else(|e| die(format!("mock cluster handle: {e}")));
        let ptr =
            unsafe { rdsys::rd_kafka_mock_cluster_new(handle.client().native_ptr(), brokers) };
        if ptr.is_null() {
            die("rd_kafka_mock_cluster_new failed");
        }
        RawMock {
            ptr,
            _handle: handle,
        }
    }

    /// The brokers' own listeners, "127.0.0.1:port" in broker id order (1, 2, ...).
    fn listeners(&self) -> Vec<String> {
        let s =
            unsafe { std::ffi::CStr::from_ptr(rdsys::rd_kafka_mock_cluster_bootstraps(self.ptr)) };
        s.to_string_lossy().split(',').map(str::to_string).collect()
    }

    fn create_topic(&self, topic: &str, partitions: i32, rf: i32) -> Result<(), String> {
        let t = std::ffi::CString::new(topic).map_err(|e| e.to_string())?;
        let err =
            unsafe { rdsys::rd_kafka_mock_topic_create(self.ptr, t.as_ptr(), partitions, rf) };
        if err == rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            Ok(())
        } else {
            Err(format!("{:?}", rdkafka::error::RDKafkaErrorCode::from(err)))
        }
    }

    fn advertise(&self, broker_id: i32, host: &str, port: u16) {
        let h = std::ffi::CString::new(host).unwrap();
        unsafe {
            rdsys::rd_kafka_mock_broker_set_host_port(
                self.ptr,
                broker_id,
                h.as_ptr(),
                i32::from(port),
            )
        };
    }
}

impl Drop for RawMock {
    fn drop(&mut self) {
        unsafe { rdsys::rd_kafka_mock_cluster_destroy(self.ptr) };
    }
}

fn read_frame(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let n = i32::from_be_bytes(len);
    if !(0..=100 << 20).contains(&n) {
        return Err(std::io::Error::other(format!("bad frame length {n}")));
    }
    let mut frame = vec![0u8; n as usize];
    s.read_exact(&mut frame)?;
    Ok(frame)
}

/// (api key, min version, max version) of every API the mock broker at `addr` supports, from an
/// ApiVersions v0 request.
fn mock_api_versions(addr: &str) -> Vec<(i16, i16, i16)> {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| die(format!("connect {addr}: {e}")));
    let client_id = b"mock-proxy";
    let mut req = Vec::new();
    req.extend_from_slice(&18i16.to_be_bytes());
    req.extend_from_slice(&0i16.to_be_bytes());
    req.extend_from_slice(&1i32.to_be_bytes());
    req.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    req.extend_from_slice(client_id);
    let mut msg = (req.len() as i32).to_be_bytes().to_vec();
    msg.extend_from_slice(&req);
    s.write_all(&msg)
        .unwrap_or_else(|e| die(format!("ApiVersions to {addr}: {e}")));
    let f = read_frame(&mut s).unwrap_or_else(|e| die(format!("ApiVersions from {addr}: {e}")));
    let i16_at = |o: usize| i16::from_be_bytes([f[o], f[o + 1]]);
    let n = i32::from_be_bytes([f[6], f[7], f[8], f[9]]) as usize;
    (0..n)
        .map(|k| 10 + 6 * k)
        .map(|o| (i16_at(o), i16_at(o + 2), i16_at(o + 4)))
        .collect()
}

/// An ApiVersions v3/v4 response (flexible body, header v0) with the given ranges.
fn api_versions_response(correlation_id: i32, apis: &[(i16, i16, i16)]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&correlation_id.to_be_bytes());
    b.extend_from_slice(&0i16.to_be_bytes()); // error_code
    let mut n = apis.len() as u32 + 1; // compact array length: unsigned varint N+1
    while n >= 0x80 {
        b.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    b.push(n as u8);
    for &(key, min, max) in apis {
        b.extend_from_slice(&key.to_be_bytes());
        b.extend_from_slice(&min.to_be_bytes());
        b.extend_from_slice(&max.to_be_bytes());
        b.push(0); // tagged fields
    }
    b.extend_from_slice(&0i32.to_be_bytes()); // throttle_time_ms
    b.push(0); // tagged fields
    let mut msg = (b.len() as i32).to_be_bytes().to_vec();
    msg.extend_from_slice(&b);
    msg
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
    let _ = from.shutdown(std::net::Shutdown::Read);
}

fn proxy_connection(
    mut client: TcpStream,
    upstream: String,
    apis: std::sync::Arc<Vec<(i16, i16, i16)>>,
) {
    let Ok(mut server) = TcpStream::connect(&upstream) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    // The connection's first request.
    let Ok(first) = read_frame(&mut client) else {
        return;
    };
    if first.len() >= 8 {
        let key = i16::from_be_bytes([first[0], first[1]]);
        let version = i16::from_be_bytes([first[2], first[3]]);
        let correlation_id = i32::from_be_bytes([first[4], first[5], first[6], first[7]]);
        if key == 18 && version >= 3 {
            if client
                .write_all(&api_versions_response(correlation_id, &apis))
                .is_err()
            {
                return;
            }
        } else {
            let mut msg = (first.len() as i32).to_be_bytes().to_vec();
            msg.extend_from_slice(&first);
            if server.write_all(&msg).is_err() {
                return;
            }
        }
    }
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    std::thread::spawn(move || pump(s2, c2));
    pump(client, server);
}

fn mock_cluster(argv: &[String]) -> i32 {
    let mut brokers = 1;
    let mut topics: Vec<(String, i32)> = Vec::new();
    let mut exit_on_eof = false;
    let mut proxy = true;
    let mut i = 0;
    while i < argv.len() {
        match argv[i].as_str() {
            "--brokers" => {
                i += 1;
                brokers = argv
                    .get(i)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| die("--brokers needs a number"));
            }
            "--topic" => {
                i += 1;
                let spec = argv
                    .get(i)
                    .unwrap_or_else(|| die("--topic needs NAME:PARTITIONS"));
                let (name, p) = spec.rsplit_once(':').unwrap_or((spec.as_str(), "1"));
                topics.push((
                    name.to_string(),
                    p.parse().unwrap_or_else(|_| die("bad partition count")),
                ));
            }
            "--exit-on-stdin-eof" => exit_on_eof = true,
            "--no-proxy" => proxy = false,
            other => die(format!("mock-cluster: unknown argument {other:?}\n{USAGE}")),
        }
        i += 1;
    }
    let mock = RawMock::new(brokers);
    let listeners = mock.listeners();
    let mut bootstrap = listeners.clone();
    if proxy {
        let mut apis = mock_api_versions(&listeners[0]);
        // The proxy answers ApiVersions v3 and v4 itself.
        for a in apis.iter_mut().filter(|a| a.0 == 18) {
            a.2 = a.2.max(4);
        }
        let apis = std::sync::Arc::new(apis);
        bootstrap.clear();
        for (k, upstream) in listeners.iter().enumerate() {
            let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| die(format!("bind: {e}")));
            let port = l.local_addr().unwrap().port();
            mock.advertise(k as i32 + 1, "127.0.0.1", port);
            bootstrap.push(format!("127.0.0.1:{port}"));
            let (upstream, apis) = (upstream.clone(), apis.clone());
            std::thread::spawn(move || {
                for c in l.incoming().flatten() {
                    let (u, a) = (upstream.clone(), apis.clone());
                    std::thread::spawn(move || proxy_connection(c, u, a));
                }
            });
        }
    }
    let rf = brokers.min(3);
    for (t, p) in &topics {
        mock.create_topic(t, *p, rf)
            .unwrap_or_else(|e| die(format!("create {t}: {e}")));
    }
    let bootstrap = bootstrap.join(",");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "bootstrap: {bootstrap}");
    let _ = out.flush();
    drop(out);
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply = match words.as_slice() {
            [] => continue,
            ["create", topic, partitions] => match partitions.parse::<i32>() {
                Ok(p) => match mock.create_topic(topic, p, rf) {
                    Ok(()) => "ok".to_string(),
                    Err(e) => format!("error: {e}"),
                },
                Err(_) => "error: bad partition count".to_string(),
            },
            ["bootstrap"] => bootstrap.clone(),
            _ => "error: commands: create TOPIC PARTITIONS | bootstrap".to_string(),
        };
        println!("{reply}");
    }
    if exit_on_eof {
        return 0;
    }
    loop {
        std::thread::park();
    }
}

/// Prints librdkafka's log lines (through the `log` crate) to stderr, with the time since start.
struct StderrLogger(Instant);

impl log::Log for StderrLogger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        eprintln!(
            "{:>9.3} {} {}",
            self.0.elapsed().as_secs_f64(),
            r.level(),
            r.args()
        );
    }
    fn flush(&self) {}
}

fn main() {
    perf_common::set_program("rdkafka-perf");
    if std::env::var_os("RDKAFKA_PERF_LOG").is_some() {
        let logger: &'static StderrLogger = Box::leak(Box::new(StderrLogger(Instant::now())));
        let _ = log::set_logger(logger);
        log::set_max_level(log::LevelFilter::Trace);
    }
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let code = match argv.first().map(String::as_str) {
        Some("mock-cluster") => mock_cluster(&argv[1..]),
        Some("--version") => {
            println!("{}", version_string());
            0
        }
        _ => perf(&argv),
    };
    std::process::exit(code);
}
