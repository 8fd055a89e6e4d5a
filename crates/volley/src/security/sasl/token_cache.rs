//! The OAUTHBEARER token of one producer, shared by all its connections: fetched from its
//! source when there is none, reused while valid, refreshed ahead of expiry by Java's rules
//! (`ExpiringCredentialRefreshingLogin`), with every source call bounded in time and failed
//! calls retried after an exponential backoff.
//!
//! Java refreshes from a thread of its own on a timer; here the refresh happens when a
//! connection (or a KIP-368 re-authentication) asks for the token after its refresh time:
//! that connection waits for the new token (bounded by the timeout; the old one is used if
//! the refresh fails or is late and the old one is still valid), and the connections after it
//! share the new one.
//!
//! Each source call runs on a thread of its own (`volley-token`), not on tokio's blocking
//! pool: a source that never returns would otherwise keep the application's runtime from
//! shutting down (tokio waits for its blocking tasks). After `timeout` the waiting connection
//! fails and the call is abandoned (a result it gives later is still kept if it is a token);
//! the next call starts after the backoff.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::config::ProducerConfig;
use crate::security::{OAuthBearerToken, TokenProvider};

/// When a token is refreshed: Java's `sasl.login.refresh.*` settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RefreshPolicy {
    /// `sasl.login.refresh.window.factor`.
    pub factor: f64,
    /// `sasl.login.refresh.window.jitter`.
    pub jitter: f64,
    /// `sasl.login.refresh.min.period.seconds`.
    pub min_period: Duration,
    /// `sasl.login.refresh.buffer.seconds`.
    pub buffer: Duration,
}

impl RefreshPolicy {
    pub(crate) fn from_config(cfg: &ProducerConfig) -> RefreshPolicy {
        RefreshPolicy {
            factor: cfg.sasl_login_refresh_window_factor,
            jitter: cfg.sasl_login_refresh_window_jitter,
            min_period: Duration::from_secs(cfg.sasl_login_refresh_min_period_seconds.into()),
            buffer: Duration::from_secs(cfg.sasl_login_refresh_buffer_seconds.into()),
        }
    }

    /// When a token obtained at `now` and expiring at `expires` is refreshed, with `random` in
    /// [0, 1) for the jitter (Java's `ExpiringCredentialRefreshingLogin.refreshMs`, the token's
    /// start being `now`):
    ///
    /// * `factor + jitter × random` of the lifetime after `now`,
    /// * if the lifetime is shorter than `min_period + buffer`: that time, unadjusted;
    /// * otherwise no later than `buffer` before expiry, and no sooner than `min_period` after
    ///   `now`.
    pub(crate) fn refresh_at(
        &self,
        now: SystemTime,
        expires: SystemTime,
        random: f64,
    ) -> SystemTime {
        let lifetime = expires.duration_since(now).unwrap_or_default();
        let pct = (self.factor + self.jitter * random).clamp(0.0, 1.0);
        let proposed = now + lifetime.mul_f64(pct);
        if lifetime < self.min_period + self.buffer {
            return proposed;
        }
        let buffer_start = expires - self.buffer;
        if proposed > buffer_start {
            return buffer_start;
        }
        proposed.max(now + self.min_period)
    }
}

struct Cached {
    token: OAuthBearerToken,
    refresh_at: SystemTime,
}

type Outcome = Option<Result<OAuthBearerToken, String>>;

struct Inflight {
    generation: u64,
    rx: watch::Receiver<Outcome>,
    /// When the call is abandoned: its start plus the timeout. Every waiter waits until this
    /// instant at most, and a caller that finds it passed abandons the call, so a hung source
    /// fails in bounded time even when every wait on it is cut short (a connection attempt
    /// whose setup timeout is shorter).
    deadline: Instant,
}

#[derive(Default)]
struct State {
    token: Option<Cached>,
    inflight: Option<Inflight>,
    generation: u64,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<String>,
    /// Source calls whose thread has not returned yet (an abandoned call may still be
    /// running): at most one at a time, so a source that hangs for good costs one thread.
    running: u32,
}

struct Shared {
    source: Arc<dyn TokenProvider>,
    policy: RefreshPolicy,
    timeout: Duration,
    backoff: Duration,
    backoff_max: Duration,
    state: Mutex<State>,
}

/// One producer's OAUTHBEARER token (cheap to share: connections hold it through the
/// authenticator). `Debug` shows the principal and expiry of the current token, never its
/// value.
pub(crate) struct TokenCache {
    shared: Arc<Shared>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.state.lock();
        f.debug_struct("TokenCache")
            .field("token", &st.token.as_ref().map(|c| &c.token))
            .field("failures", &st.failures)
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// A cache over `source`: each call bounded by `timeout`, failures retried after `backoff`
    /// doubling up to `backoff_max` (`sasl.login.retry.backoff.ms` and `.max.ms`).
    pub(crate) fn new(
        source: Arc<dyn TokenProvider>,
        policy: RefreshPolicy,
        timeout: Duration,
        backoff: Duration,
        backoff_max: Duration,
    ) -> TokenCache {
        TokenCache {
            shared: Arc::new(Shared {
                source,
                policy,
                timeout,
                backoff,
                backoff_max: backoff_max.max(backoff),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// A valid token: the current one until its refresh time, then a new one from the
    /// source (the current one again if that fails or takes longer than the timeout, while it
    /// is still valid, so that a slow identity provider does not stop connections).
    ///
    /// Waiting for the refresh rather than handing out the old token until it expires keeps
    /// a connection from authenticating with a token that is about to expire: the broker
    /// would end that session (KIP-368) almost at once.
    ///
    /// Errors (messages for `Error::Authentication`), when there is no valid token: the
    /// source's own error, a source that did not return within the timeout, a token that had
    /// already expired; during the backoff after a failure, that failure again without
    /// calling the source.
    pub(crate) async fn token(&self) -> Result<OAuthBearerToken, String> {
        let (generation, mut rx, deadline, current) = {
            let mut st = self.shared.state.lock();
            let now = SystemTime::now();
            let current = match &st.token {
                Some(c) if now < c.refresh_at => return Ok(c.token.clone()),
                Some(c) if now < c.token.expires_at() => Some(c.token.clone()),
                _ => None,
            };
            if let Some(f) = &st.inflight {
                if Instant::now() >= f.deadline {
                    st.inflight = None;
                    let message = self.shared.timed_out();
                    self.shared.failed(&mut st, message);
                }
            }
            if st.inflight.is_none() {
                if in_backoff(&st) {
                    return current.ok_or_else(|| {
                        st.last_error
                            .clone()
                            .unwrap_or_else(|| "no OAUTHBEARER token".into())
                    });
                }
                if st.running > 0 {
                    // The last call was abandoned but its thread still runs: wait for it to return
                    // rather than start (and leak) another one.
                    let message = format!(
                        "the token source has not returned from a call abandoned after {} ms; it is \
                         not called again until that call returns",
                        self.shared.timeout.as_millis()
                    );
                    return current.ok_or(message);
                }
                if let Some(t) = &current {
                    tracing::debug!(
                        principal = t.principal(),
                        "refreshing the OAUTHBEARER token"
                    );
                }
                Shared::start(&self.shared, &mut st);
            }
            match st.inflight.as_ref() {
                Some(f) => (f.generation, f.rx.clone(), f.deadline, current),
                None => return current.ok_or_else(|| st.last_error.clone().unwrap_or_default()),
            }
        };
        let waited = tokio::time::timeout_at(deadline.into(), rx.wait_for(Option::is_some)).await;
        let outcome = match waited {
            Ok(Ok(outcome)) => outcome.clone().expect("waited for Some"),
            Ok(Err(_)) => Err("the token source's thread ended without a result".into()),
            Err(_) => {
                let message = self.shared.timed_out();
                let mut st = self.shared.state.lock();
                if st.inflight.as_ref().map(|f| f.generation) == Some(generation) {
                    st.inflight = None;
                    self.shared.failed(&mut st, message.clone());
                }
                Err(message)
            }
        };
        match (outcome, current) {
            (Ok(t), _) => Ok(t),
            (Err(_), Some(t)) if SystemTime::now() < t.expires_at() => Ok(t),
            (Err(e), _) => Err(e),
        }
    }
}

fn in_backoff(st: &State) -> bool {
    st.retry_at.is_some_and(|t| Instant::now() < t)
}

impl Shared {
    /// The error of a source call abandoned after the timeout.
    fn timed_out(&self) -> String {
        format!(
            "the token source did not return a token within {} ms \
             (sasl.login.read.timeout.ms, or request.timeout.ms when not set)",
            self.timeout.as_millis()
        )
    }

    /// Starts a source call on a thread of its own; its outcome is published to `inflight`.
    fn start(this: &Arc<Shared>, st: &mut State) {
        st.generation += 1;
        let generation = st.generation;
        let (tx, rx) = watch::channel(None);
        st.inflight = Some(Inflight {
            generation,
            rx,
            deadline: crate::util::time::deadline(Instant::now(), this.timeout),
        });
        let shared = this.clone();
        st.running += 1;
        let spawned = std::thread::Builder::new()
            .name("volley-token".into())
            .spawn(move || {
                let outcome = shared.call();
                let mut st = shared.state.lock();
                st.running -= 1;
                let current = st.inflight.as_ref().map(|f| f.generation) == Some(generation);
                if current {
                    st.inflight = None;
                }
                match &outcome {
                    Ok(token) => {
                        let newer = st
                            .token
                            .as_ref()
                            .is_none_or(|c| c.token.expires_at() <= token.expires_at());
                        if newer {
                            let now = SystemTime::now();
                            let refresh_at =
                                shared
                                    .policy
                                    .refresh_at(now, token.expires_at(), fastrand::f64());
                            st.token = Some(Cached {
                                token: token.clone(),
                                refresh_at,
                            });
                        }
                        st.failures = 0;
                        st.retry_at = None;
                        st.last_error = None;
                    }
                    Err(e) if current => shared.failed(&mut st, e.clone()),
                    Err(_) => {}
                }
                drop(st);
                let _ = tx.send(Some(outcome));
            });
        if let Err(e) = spawned {
            st.running -= 1;
            st.inflight = None;
            this.failed(st, format!("cannot start the token source's thread: {e}"));
        }
    }

    /// One call of the source, its panics caught and its token checked.
    fn call(&self) -> Result<OAuthBearerToken, String> {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.source.token()));
        match result {
            Ok(Ok(token)) => {
                if token.expires_at() <= SystemTime::now() {
                    Err(format!(
                        "the token source gave a token that has already expired (at {} s after \
                         the Unix epoch; check the clocks)",
                        token
                            .expires_at()
                            .duration_since(SystemTime::UNIX_EPOCH)
                            .unwrap_or_default()
                            .as_secs()
                    ))
                } else {
                    Ok(token)
                }
            }
            Ok(Err(e)) => Err(format!("the token source failed: {e}")),
            Err(_) => Err("the token source panicked".into()),
        }
    }

    /// Records a failure: the next call waits `backoff × 2^(failures-1)`, at most
    /// `backoff_max`.
    fn failed(&self, st: &mut State, message: String) {
        st.failures = st.failures.saturating_add(1);
        let exp = st.failures.saturating_sub(1).min(31);
        let wait = self
            .backoff
            .saturating_mul(1u32 << exp)
            .min(self.backoff_max);
        tracing::warn!(
            failures = st.failures,
            retry_in_ms = wait.as_millis() as u64,
            "OAUTHBEARER token: {message}"
        );
        st.retry_at = Some(Instant::now() + wait);
        st.last_error = Some(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + secs)
    }

    fn policy(factor: f64, jitter: f64, min: u64, buffer: u64) -> RefreshPolicy {
        RefreshPolicy {
            factor,
            jitter,
            min_period: Duration::from_secs(min),
            buffer: Duration::from_secs(buffer),
        }
    }

    #[test]
    fn java_refresh_rules() {
        // Defaults (0.8, 0.05, 60 s, 300 s) and a one-hour token: 80% of the lifetime, plus
        // up to 5% jitter.
        let p = policy(0.8, 0.05, 60, 300);
        assert_eq!(p.refresh_at(t(0), t(3600), 0.0), t(2880));
        assert_eq!(p.refresh_at(t(0), t(3600), 0.5), t(2970));
        // A ten-minute token: 80% would be inside the last 300 s, so refresh at their start.
        assert_eq!(p.refresh_at(t(0), t(600), 0.0), t(300));
        // Shorter than min period + buffer: the fraction, unadjusted.
        assert_eq!(p.refresh_at(t(0), t(300), 0.0), t(240));
        // The minimum period wins over an early fraction.
        let p = policy(0.5, 0.0, 900, 0);
        assert_eq!(p.refresh_at(t(0), t(1000), 0.0), t(900));
        // Already expired: now.
        assert_eq!(p.refresh_at(t(10), t(5), 0.0), t(10));
    }

    const SECONDS_5: Duration = Duration::from_secs(5);

    struct Counting {
        calls: AtomicUsize,
        lifetime: Duration,
        /// Calls from this one on fail.
        fail_from: usize,
        sleep: Duration,
    }

    impl TokenProvider for Counting {
        fn token(&self) -> Result<OAuthBearerToken, crate::security::TokenError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            std::thread::sleep(self.sleep);
            if n >= self.fail_from {
                return Err(format!("identity provider down (call {n})").into());
            }
            Ok(OAuthBearerToken::new(
                format!("token-{n}"),
                SystemTime::now() + self.lifetime,
                "alice",
            ))
        }
    }

    fn cache(
        lifetime: Duration,
        fail_from: usize,
        sleep: Duration,
        timeout: Duration,
    ) -> (TokenCache, Arc<Counting>) {
        let source = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            lifetime,
            fail_from,
            sleep,
        });
        let c = TokenCache::new(
            source.clone(),
            policy(0.5, 0.0, 0, 0),
            timeout,
            Duration::from_millis(200),
            Duration::from_millis(400),
        );
        (c, source)
    }

    #[tokio::test]
    async fn reuses_then_refreshes() {
        let (c, src) = cache(Duration::from_millis(1200), 99, Duration::ZERO, SECONDS_5);
        let (a, b) = tokio::join!(c.token(), c.token());
        assert_eq!(a.unwrap().value(), "token-1");
        assert_eq!(b.unwrap().value(), "token-1");
        assert_eq!(src.calls.load(Ordering::SeqCst), 1, "one call for both");
        assert_eq!(c.token().await.unwrap().value(), "token-1");
        // Past half its lifetime: a new one.
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(c.token().await.unwrap().value(), "token-2");
        assert_eq!(src.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_the_valid_token() {
        let (c, src) = cache(Duration::from_millis(1000), 2, Duration::ZERO, SECONDS_5);
        assert_eq!(c.token().await.unwrap().value(), "token-1");
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(c.token().await.unwrap().value(), "token-1");
        // Within the backoff: the same token, no call.
        assert_eq!(c.token().await.unwrap().value(), "token-1");
        assert_eq!(src.calls.load(Ordering::SeqCst), 2);
        // Expired, and the source still fails.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(c.token().await.unwrap_err().contains("call 3"));
    }

    #[tokio::test]
    async fn expired_token_is_fetched_again_before_use() {
        let (c, src) = cache(Duration::from_millis(300), 99, Duration::ZERO, SECONDS_5);
        assert_eq!(c.token().await.unwrap().value(), "token-1");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(c.token().await.unwrap().value(), "token-2");
        assert_eq!(src.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failures_are_reported_and_backed_off() {
        let (c, src) = cache(Duration::from_secs(60), 1, Duration::ZERO, SECONDS_5);
        let e = c.token().await.unwrap_err();
        assert_eq!(
            e,
            "the token source failed: identity provider down (call 1)"
        );
        // Within the backoff: the same error, no call.
        assert_eq!(c.token().await.unwrap_err(), e);
        assert_eq!(src.calls.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(c.token().await.unwrap_err().contains("call 2"));
    }

    #[tokio::test]
    async fn a_hanging_source_fails_in_bounded_time() {
        let (c, src) = cache(
            Duration::from_secs(60),
            99,
            Duration::from_millis(1500),
            Duration::from_millis(200),
        );
        let start = Instant::now();
        let e = c.token().await.unwrap_err();
        assert!(e.contains("did not return a token within 200 ms"), "{e}");
        assert!(start.elapsed() < Duration::from_millis(1000));
        // Backoff: the same error at once.
        assert_eq!(c.token().await.unwrap_err(), e);
        // The abandoned call's token is kept when it arrives.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(c.token().await.unwrap().value(), "token-1");
        assert_eq!(src.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_hanging_source_fails_even_when_every_wait_is_cut_short() {
        // Connection attempts give up before the token timeout (socket.connection.setup.timeout.ms
        // is shorter than sasl.login.read.timeout.ms): the hung call must still be abandoned
        // once its own timeout has passed, not joined by every later attempt forever.
        let (c, src) = cache(
            Duration::from_secs(60),
            99,
            Duration::from_millis(3000),
            Duration::from_millis(200),
        );
        let start = Instant::now();
        let mut failed = None;
        while start.elapsed() < Duration::from_millis(1000) {
            if let Ok(Err(e)) = tokio::time::timeout(Duration::from_millis(50), c.token()).await {
                failed = Some(e);
                break;
            }
        }
        let e = failed.expect("no attempt failed within 1 s: the hung call is joined forever");
        assert!(e.contains("did not return a token within 200 ms"), "{e}");
        // After the backoff the source is not called again while the hung call's thread
        // still runs (a source that hangs for good costs one thread, not one per retry)...
        tokio::time::sleep(Duration::from_millis(250)).await;
        let e = c.token().await.unwrap_err();
        assert!(e.contains("has not returned"), "{e}");
        assert_eq!(src.calls.load(Ordering::SeqCst), 1);
        // ...and once it returns, its token is used.
        tokio::time::sleep(Duration::from_millis(3000)).await;
        assert_eq!(c.token().await.unwrap().value(), "token-1");
        assert_eq!(src.calls.load(Ordering::SeqCst), 1);
    }

    struct Expired;
    impl TokenProvider for Expired {
        fn token(&self) -> Result<OAuthBearerToken, crate::security::TokenError> {
            Ok(OAuthBearerToken::new("x", SystemTime::UNIX_EPOCH, "alice"))
        }
    }

    struct Panics;
    impl TokenProvider for Panics {
        fn token(&self) -> Result<OAuthBearerToken, crate::security::TokenError> {
            panic!("provider bug")
        }
    }

    #[tokio::test]
    async fn expired_tokens_and_panics_are_errors() {
        let p = policy(0.8, 0.0, 0, 0);
        let second = Duration::from_secs(1);
        let c = TokenCache::new(Arc::new(Expired), p, second, Duration::ZERO, Duration::ZERO);
        assert!(c.token().await.unwrap_err().contains("already expired"));
        let c = TokenCache::new(Arc::new(Panics), p, second, Duration::ZERO, Duration::ZERO);
        assert_eq!(c.token().await.unwrap_err(), "the token source panicked");
    }
}
