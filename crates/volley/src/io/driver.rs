//! The background I/O thread: a current-thread tokio runtime that carries out what the sender
//! state machine asks (connect, write, close) and feeds it what happens (connected, frames,
//! disconnects), with `Instant::now()` read here and nowhere in the sender.
//!
//! Each connection has a reader task (frames in) and a writer task (frames out). Every
//! connection attempt gets a new generation number; events from an older generation of a
//! node's connection (one the sender already closed) are dropped, so the sender never hears
//! about a connection it no longer has.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{Error, ProtocolError};
use crate::io::connection::{self, ConnectOptions, Connection};
use crate::io::reauth::{self, ReauthTransport};
use crate::metrics::Counters;
use crate::protocol::frame::BrokerVersions;
use crate::protocol::request_frame::RequestFrame;
use crate::security::sasl::exchange;
use crate::sender::{Output, Sender};
use crate::shared::{Commands, Shared};

enum Event {
    Connected {
        node: i32,
        generation: u64,
        versions: BrokerVersions,
        writer: mpsc::UnboundedSender<RequestFrame>,
    },
    ConnectFailed {
        node: i32,
        generation: u64,
        error: Error,
    },
    Frame {
        node: i32,
        generation: u64,
        frame: Bytes,
    },
    Closed {
        node: i32,
        generation: u64,
        error: Error,
    },
    /// A connection's writer wrote everything queued and stopped (its queue was closed).
    WriterDone { node: i32, generation: u64 },
    /// A connection re-authenticated before its SASL session ended (KIP-368).
    Reauthenticated,
}

struct ConnHandle {
    generation: u64,
    writer: Option<mpsc::UnboundedSender<RequestFrame>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for ConnHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts the I/O thread. It runs until the sender finishes (after a close), then marks the
/// lifecycle stopped. If it ends abnormally (a panic), the producer becomes fatal and every
/// record still unresolved fails, so that no wait outlives it.
pub(crate) fn spawn(
    sender: Sender,
    shared: Arc<Shared>,
    commands: Commands,
    options: ConnectOptions,
    name: String,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new().name(name).spawn(move || {
        shared.lifecycle.set_io_thread();
        let s2 = shared.clone();
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(run(sender, shared, commands, options));
        }));
        // Let connection tasks finish their aborts before the runtime goes away.
        drop(rt);
        if ran.is_err() {
            tracing::error!("the producer's I/O thread panicked");
            s2.lifecycle.set_fatal(Error::IllegalState(
                "the producer's I/O thread panicked".into(),
            ));
            s2.acc
                .fail_incomplete(&Error::Closed("the producer's I/O thread stopped"));
        }
        s2.lifecycle.mark_stopped();
    })
}

async fn run(
    mut sender: Sender,
    shared: Arc<Shared>,
    mut commands: Commands,
    options: ConnectOptions,
) {
    let (events_tx, mut events_rx) = mpsc::unbounded_channel::<Event>();
    let mut conns: HashMap<i32, ConnHandle> = HashMap::new();
    let mut generation = 0u64;
    let lifecycle = shared.lifecycle.clone();
    let wakeup = lifecycle.io_wakeup().clone();
    // One timer for the loop's waits, moved only when the deadline changes: registering a
    // timer earlier than the runtime's next wake-up makes tokio wake its driver (an eventfd
    // write and one more `epoll_wait`), which a new timer per wait did at every turn.
    let timer = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(timer);
    let mut timer_at: Option<Instant> = None;
    loop {
        // Before the poll looks at the queues: a new batch from now on wakes this thread.
        lifecycle.io_awake();
        sender.poll(Instant::now());
        while let Some(out) = sender.poll_output() {
            match out {
                Output::Connect {
                    node,
                    addr,
                    timeout,
                } => {
                    generation += 1;
                    let options = ConnectOptions {
                        connect_timeout: timeout,
                        ..options.clone()
                    };
                    let task = tokio::spawn(connect_task(
                        node,
                        generation,
                        addr,
                        options,
                        events_tx.clone(),
                    ));
                    conns.insert(
                        node,
                        ConnHandle {
                            generation,
                            writer: None,
                            tasks: vec![task],
                        },
                    );
                }
                Output::Send { node, frame } => {
                    let sent = conns
                        .get(&node)
                        .and_then(|c| c.writer.as_ref())
                        .is_some_and(|w| w.send(frame).is_ok());
                    if !sent {
                        // The sender thinks the connection is up but its writer has stopped
                        // (its Closed event may be queued): treat it as closed now.
                        conns.remove(&node);
                        let error = Error::Network {
                            broker: format!("node {node}"),
                            message: "connection writer stopped".into(),
                            source: None,
                        };
                        sender.handle_disconnected(Instant::now(), node, &error);
                    }
                }
                Output::Close { node } => {
                    conns.remove(&node);
                }
            }
        }
        if sender.is_finished() {
            break;
        }
        // The sender's next timeout, or an async user wait's deadline, whichever comes first.
        let deadline = match (sender.poll_timeout(), lifecycle.next_timer()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // A new batch whose linger ends before this deadline wakes this thread; one whose
        // linger ends later waits for the poll at the deadline, which sets its timer.
        lifecycle.io_waiting_until(deadline);
        if let Some(d) = deadline.filter(|d| timer_at != Some(*d)) {
            timer.as_mut().reset(d.into());
            timer_at = Some(d);
        }
        tokio::select! {
            ev = events_rx.recv() => {
                if let Some(ev) = ev {
                    handle(&mut sender, &mut conns, &shared.counters, ev);
                }
            }
            cmd = commands.recv() => {
                if let Some(cmd) = cmd {
                    sender.handle_command(Instant::now(), cmd);
                }
            }
            _ = wakeup.notified() => {}
            _ = &mut timer, if deadline.is_some() => {}
        }
        // Take whatever else has arrived before the next poll, so one poll serves many events.
        while let Ok(cmd) = commands.try_recv() {
            sender.handle_command(Instant::now(), cmd);
        }
        while let Ok(ev) = events_rx.try_recv() {
            handle(&mut sender, &mut conns, &shared.counters, ev);
        }
        lifecycle.fire_timers(Instant::now());
    }
    flush_writers(&mut conns, &mut events_rx, options.request_timeout).await;
}

/// After a graceful finish: lets every open connection write what is still queued (acks=0
/// batches count as done once handed to the writer) before the connections close, bounded by
/// `request.timeout.ms`. A forced close has already dropped its connections.
async fn flush_writers(
    conns: &mut HashMap<i32, ConnHandle>,
    events: &mut mpsc::UnboundedReceiver<Event>,
    bound: std::time::Duration,
) {
    // Closing a writer's queue lets it drain and then report WriterDone.
    let mut open = conns.values_mut().filter_map(|c| c.writer.take()).count();
    let deadline = crate::util::time::deadline(Instant::now(), bound);
    while open > 0 {
        match tokio::time::timeout_at(deadline.into(), events.recv()).await {
            Ok(Some(Event::WriterDone { node, generation }))
            | Ok(Some(Event::Closed {
                node, generation, ..
            })) => {
                if conns.get(&node).is_some_and(|c| c.generation == generation) {
                    conns.remove(&node);
                    open -= 1;
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    conns.clear();
}

/// The read buffer of a connection: a Produce response to a request of many partitions fits,
/// and larger frames are read through it in pieces of this size.
const READ_BUFFER: usize = 16 * 1024;

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

fn handle(
    sender: &mut Sender,
    conns: &mut HashMap<i32, ConnHandle>,
    counters: &Counters,
    ev: Event,
) {
    let now = Instant::now();
    let current = |conns: &HashMap<i32, ConnHandle>, node: i32, g: u64| {
        conns.get(&node).is_some_and(|c| c.generation == g)
    };
    match ev {
        Event::Connected {
            node,
            generation,
            versions,
            writer,
        } => {
            if current(conns, node, generation) {
                conns.get_mut(&node).expect("current").writer = Some(writer);
                sender.handle_connected(now, node, versions);
            }
        }
        Event::ConnectFailed {
            node,
            generation,
            error,
        } => {
            if current(conns, node, generation) {
                conns.remove(&node);
                sender.handle_connect_failed(now, node, &error);
            }
        }
        Event::Frame {
            node,
            generation,
            frame,
        } => {
            if current(conns, node, generation) {
                sender.handle_frame(now, node, frame);
            }
        }
        // Only awaited when the driver finishes (`flush_writers`).
        Event::WriterDone { .. } => {}
        Event::Reauthenticated => {
            Counters::add(&counters.reauthentication, 1);
        }
        Event::Closed {
            node,
            generation,
            error,
        } => {
            if current(conns, node, generation) {
                conns.remove(&node);
                sender.handle_disconnected(now, node, &error);
            }
        }
    }
}

async fn connect_task(
    node: i32,
    generation: u64,
    addr: String,
    options: ConnectOptions,
    events: mpsc::UnboundedSender<Event>,
) {
    let conn = match Connection::connect(&addr, &options).await {
        Ok(c) => c,
        Err(error) => {
            let _ = events.send(Event::ConnectFailed {
                node,
                generation,
                error,
            });
            return;
        }
    };
    let session_lifetime = conn.session_lifetime();
    let (stream, versions, _) = conn.into_parts();
    let (rd, mut wr) = stream.split();
    let (wtx, mut wrx) = mpsc::unbounded_channel::<RequestFrame>();
    // Responses to re-authentication requests, which the reader hands to the writer.
    // Bounded: the broker decides what arrives, and stray frames must not pile up.
    let (reauth_tx, mut reauth_rx) = mpsc::channel::<Bytes>(reauth::RESPONSE_QUEUE);
    let ev_w = events.clone();
    let addr_w = addr.clone();
    let versions_w = versions.clone();
    let options_w = options.clone();
    // The writer runs as its own task; this task goes on as the reader.
    let writer = tokio::spawn(async move {
        let mut next_reauth =
            session_lifetime.map(|l| reauth::reauth_at(Instant::now(), l, fastrand::f64()));
        loop {
            tokio::select! {
                biased;
                _ = sleep_until(next_reauth) => {
                    let Some(sasl) = options_w.security.sasl.as_deref() else {
                        next_reauth = None;
                        continue;
                    };
                    // A faulty broker's stray frame with a negative correlation id must not be
                    // taken for this re-authentication's answer.
                    while reauth_rx.try_recv().is_ok() {}
                    let mut t = ReauthTransport {
                        broker: &addr_w,
                        client_id: &options_w.client_id,
                        versions: &versions_w,
                        writer: &mut wr,
                        responses: &mut reauth_rx,
                        timeout: options_w.request_timeout,
                        next_correlation_id: -1,
                    };
                    match exchange::authenticate(&mut t, sasl).await {
                        Ok(done) => {
                            tracing::debug!(broker = %addr_w, "re-authenticated");
                            next_reauth = done.session_lifetime.map(|l| {
                                reauth::reauth_at(Instant::now(), l, fastrand::f64())
                            });
                            let _ = ev_w.send(Event::Reauthenticated);
                        }
                        Err(error) => {
                            tracing::warn!(broker = %addr_w, %error, "re-authentication failed");
                            let _ = ev_w.send(Event::Closed { node, generation, error });
                            return;
                        }
                    }
                }
                frame = wrx.recv() => {
                    let Some(frame) = frame else { break };
                    // Write what is queued, then flush: a TLS stream may keep encrypted
                    // records buffered when the socket is full, and nothing else would push
                    // them out before the next frame (a no-op on plain TCP). A frame's pieces
                    // (a Produce request's batches are referenced, not copied) go out with
                    // vectored writes; each frame is dropped, and its batches' bytes released,
                    // once written.
                    let mut next = Some(frame);
                    let written = async {
                        while let Some(f) = next.take() {
                            wr.write_all_buf(&mut f.into_buf()).await?;
                            next = wrx.try_recv().ok();
                        }
                        wr.flush().await
                    }
                    .await;
                    if let Err(e) = written {
                        let _ = ev_w.send(Event::Closed {
                            node,
                            generation,
                            error: Error::network(&addr_w, e),
                        });
                        return;
                    }
                }
            }
        }
        let _ = wr.flush().await;
        let _ = ev_w.send(Event::WriterDone { node, generation });
    });
    let _ = events.send(Event::Connected {
        node,
        generation,
        versions,
        writer: wtx,
    });
    // Abort the writer when this reader ends (the handle's abort reaches only this task).
    struct AbortOnDrop(JoinHandle<()>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let _writer = AbortOnDrop(writer);
    // Frames are read through a buffer: a small response (a Produce answer) and its size
    // prefix, or several responses that arrived together, take one read, not one each.
    let mut rd = tokio::io::BufReader::with_capacity(READ_BUFFER, rd);
    loop {
        match connection::read_frame(&mut rd, options.max_response_size, &addr).await {
            Ok(frame) if reauth::is_reauth_response(&frame) => match reauth_tx.try_send(frame) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    let _ = events.send(Event::Closed {
                        node,
                        generation,
                        error: Error::protocol(
                            &addr,
                            ProtocolError::Decode {
                                what: "response",
                                reason: "responses with negative correlation ids (a \
                                              re-authentication's) that no request asked for"
                                    .into(),
                            },
                        ),
                    });
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            },
            Ok(frame) => {
                if events
                    .send(Event::Frame {
                        node,
                        generation,
                        frame,
                    })
                    .is_err()
                {
                    return;
                }
            }
            Err(error) => {
                let _ = events.send(Event::Closed {
                    node,
                    generation,
                    error,
                });
                return;
            }
        }
    }
}
