//! SASL/OAUTHBEARER tokens and where they come from.

use std::fmt;
use std::time::SystemTime;

/// An OAuth 2 bearer token for SASL/OAUTHBEARER (Java's `OAuthBearerToken`): the compact
/// token sent to the broker, when it expires, and the principal it names.
///
/// `Debug` shows the principal and expiry, never the token itself.
#[derive(Clone)]
pub struct OAuthBearerToken {
    value: String,
    expires_at: SystemTime,
    principal: String,
}

impl OAuthBearerToken {
    /// A token `value` (usually a JWT, sent as is), valid until `expires_at`, for `principal`.
    pub fn new(
        value: impl Into<String>,
        expires_at: SystemTime,
        principal: impl Into<String>,
    ) -> OAuthBearerToken {
        OAuthBearerToken {
            value: value.into(),
            expires_at,
            principal: principal.into(),
        }
    }

    /// The token as sent to the broker. Do not log it.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// When the token stops being valid.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// The principal the token names (its `sub` claim, usually).
    pub fn principal(&self) -> &str {
        &self.principal
    }
}

impl fmt::Debug for OAuthBearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthBearerToken")
            .field("principal", &self.principal)
            .field("expires_at", &self.expires_at)
            .field("value", &crate::config::Password::HIDDEN)
            .finish()
    }
}

/// The error a [`TokenProvider`] returns: any error type, reported to the user as
/// [`Error::Authentication`](crate::Error::Authentication) with its text.
pub type TokenError = Box<dyn std::error::Error + Send + Sync>;

/// A source of OAUTHBEARER tokens, set with
/// [`ProducerBuilder::token_provider`](crate::ProducerBuilder::token_provider): the place for
/// AWS MSK IAM signing, an OIDC library, or a secret manager (Java's login callback handler).
///
/// Volley calls [`token`](TokenProvider::token) from a blocking thread of its own when it has
/// no valid token: before the first authentication, and again when the current token has
/// passed `sasl.login.refresh.window.factor` of its lifetime (with jitter, bounded by
/// `sasl.login.refresh.min.period.seconds` and `sasl.login.refresh.buffer.seconds`, as Java's
/// refresh thread does). A call that does not return within `sasl.login.read.timeout.ms` (or
/// `request.timeout.ms`) fails that connection attempt with `Error::Authentication`; so does
/// an error, a panic, or a token that has already expired. After a failure the source is not
/// called again before `sasl.login.retry.backoff.ms` (doubling per failure, up to
/// `sasl.login.retry.backoff.max.ms`); connections in between fail with the same error. The
/// token is shared by all of the producer's connections.
///
/// SASL extensions (KIP-342, e.g. a cloud's `logicalCluster`) are sent with each token from
/// `sasl.jaas.config`'s `extension_<name>="value"` options, as Java's OIDC handler sends them.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use volley::security::{OAuthBearerToken, TokenError, TokenProvider};
///
/// struct MyTokens;
///
/// impl TokenProvider for MyTokens {
///     fn token(&self) -> Result<OAuthBearerToken, TokenError> {
///         // Ask your identity provider here (AWS MSK IAM signer, OIDC client, ...).
///         let jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.".to_string();
///         let expires = SystemTime::now() + Duration::from_secs(3600);
///         Ok(OAuthBearerToken::new(jwt, expires, "alice"))
///     }
/// }
///
/// # fn main() -> volley::Result<()> {
/// let config = volley::ProducerConfig::from_properties([
///     ("bootstrap.servers", "127.0.0.1:9092"),
///     ("security.protocol", "SASL_SSL"),
///     ("sasl.mechanism", "OAUTHBEARER"),
/// ])?;
/// let builder = volley::Producer::builder(config).token_provider(MyTokens);
/// // builder.build()? connects lazily, at the first send.
/// # let _ = builder;
/// # Ok(()) }
/// ```
pub trait TokenProvider: Send + Sync + 'static {
    /// A valid token. Errors fail the connection attempt with `Error::Authentication` (the
    /// producer tries again after `reconnect.backoff.ms`).
    fn token(&self) -> Result<OAuthBearerToken, TokenError>;
}
