//! Kafka's unsecured OAUTHBEARER login (`OAuthBearerUnsecuredLoginCallbackHandler`, KIP-255):
//! with no token source configured, `OAuthBearerLoginModule`'s JAAS options describe an
//! unsecured JWT (`{"alg":"none"}`, empty signature) that the client makes itself. For tests
//! and development: a broker accepts it only with Kafka's unsecured validator.
//!
//! The options, as in Java:
//!
//! * `unsecuredLoginStringClaim_<name>="value"`: a string claim (`sub` names the principal);
//! * `unsecuredLoginNumberClaim_<name>="1.5"`: a number claim;
//! * `unsecuredLoginListClaim_<name>=",a,b"`: a list claim, split on its first character;
//! * `unsecuredLoginPrincipalClaimName` (default `sub`), `unsecuredLoginScopeClaimName`
//!   (default `scope`), `unsecuredLoginLifetimeSeconds` (default 3600);
//! * `unsecuredLoginExtension_<name>="value"`: a SASL extension (see
//!   [`super::oauthbearer`]), not a claim.
//!
//! The claims are `exp` and `iat` first, as Java's numbers (seconds with a fraction, written
//! as Java's `Double.toString` writes them, e.g. `1.7e9` as `1.7E9`), then the others. One
//! difference: Java escapes `"` before `\`, which doubles the backslash it just added and
//! gives invalid JSON for a value with a quote; Volley escapes both correctly.

use std::fmt;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::jaas::{JaasEntry, KEY};
use crate::error::{Error, Result};
use crate::security::{OAuthBearerToken, TokenError, TokenProvider};

const PREFIX: &str = "unsecuredLogin";
const PRINCIPAL_CLAIM_NAME: &str = "unsecuredLoginPrincipalClaimName";
const LIFETIME_SECONDS: &str = "unsecuredLoginLifetimeSeconds";
const STRING_CLAIM: &str = "unsecuredLoginStringClaim_";
const NUMBER_CLAIM: &str = "unsecuredLoginNumberClaim_";
const LIST_CLAIM: &str = "unsecuredLoginListClaim_";
pub(crate) const EXTENSION_PREFIX: &str = "unsecuredLoginExtension_";

/// The unsecured login of one producer: a new JWT for every call, valid for the configured
/// lifetime from then. `Debug` shows the option names only.
pub(crate) struct UnsecuredLogin {
    options: Vec<(String, String)>,
}

impl fmt::Debug for UnsecuredLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.options.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("UnsecuredLogin")
            .field("options", &names)
            .finish()
    }
}

impl UnsecuredLogin {
    /// From `OAuthBearerLoginModule`'s options; makes one token to check them.
    ///
    /// Errors: `Error::Config` naming `sasl.jaas.config`: no options at all (Java's login
    /// would have no token), only extensions, a lifetime that is not a positive whole number,
    /// a number claim that is not a number, an `exp` or `iat` claim, no principal claim.
    pub(crate) fn from_jaas(jaas: &JaasEntry) -> Result<UnsecuredLogin> {
        let mut options: Vec<(String, String)> = jaas
            .options
            .iter()
            .filter(|(k, _)| k.starts_with(PREFIX))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        options.sort();
        let login = UnsecuredLogin { options };
        login
            .build(SystemTime::now())
            .map_err(|m| Error::config(KEY, m))?;
        Ok(login)
    }

    fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The token Java's handler would make at `now`.
    pub(crate) fn build(&self, now: SystemTime) -> std::result::Result<OAuthBearerToken, String> {
        if self.options.is_empty() {
            return Err(
                "OAuthBearerLoginModule has no token: give unsecuredLoginStringClaim_sub \
                        (an unsecured JWT, for tests), set sasl.login.callback.handler.class to \
                        Kafka's OIDC handler, or set a TokenProvider in code"
                    .into(),
            );
        }
        if self
            .options
            .iter()
            .all(|(k, _)| k.starts_with(EXTENSION_PREFIX))
        {
            return Err("Extensions provided in login context without a token".into());
        }
        let principal_claim = non_blank(self.option(PRINCIPAL_CLAIM_NAME)).unwrap_or("sub");
        let lifetime_text = self.option(LIFETIME_SECONDS).unwrap_or("3600");
        let lifetime: i64 = lifetime_text.parse().map_err(|_| {
            format!("{LIFETIME_SECONDS} is not a whole number of seconds: {lifetime_text:?}")
        })?;
        if lifetime <= 0 {
            return Err(format!("{LIFETIME_SECONDS} must be positive"));
        }
        let now_ms = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as f64;
        let iat = now_ms / 1000.0;
        let exp = iat + lifetime as f64;
        let mut claims = format!(
            "{{{},{}",
            number_claim("exp", exp),
            number_claim("iat", iat)
        );
        for (key, value) in &self.options {
            if let Some(claim) = claim_json(key, value)? {
                claims.push(',');
                claims.push_str(&claim);
            }
        }
        claims.push('}');
        let principal = self
            .option(&format!("{STRING_CLAIM}{principal_claim}"))
            .filter(|p| !p.trim().is_empty())
            .ok_or_else(|| format!("No principal name in JWT claim: {principal_claim}"))?;
        let token = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(&claims)
        );
        // Java's lifetime: the exp claim in milliseconds, rounded.
        let expires = SystemTime::UNIX_EPOCH + Duration::from_millis((exp * 1000.0).round() as u64);
        Ok(OAuthBearerToken::new(token, expires, principal))
    }
}

impl TokenProvider for UnsecuredLogin {
    fn token(&self) -> std::result::Result<OAuthBearerToken, TokenError> {
        self.build(SystemTime::now()).map_err(Into::into)
    }
}

/// The JSON of the claim option `key` (`"name":value`), `None` for other options.
fn claim_json(key: &str, value: &str) -> std::result::Result<Option<String>, String> {
    let (kind, name) = if let Some(n) = key.strip_prefix(STRING_CLAIM) {
        (STRING_CLAIM, n)
    } else if let Some(n) = key.strip_prefix(NUMBER_CLAIM) {
        (NUMBER_CLAIM, n)
    } else if let Some(n) = key.strip_prefix(LIST_CLAIM) {
        (LIST_CLAIM, n)
    } else {
        return Ok(None);
    };
    if name.is_empty() {
        return Ok(None);
    }
    not_reserved(name)?;
    let json = match kind {
        STRING_CLAIM => format!("\"{}\"", escape(value)),
        NUMBER_CLAIM => {
            java_double(java_parse_double(value).ok_or_else(|| format!("{key} is not a number"))?)
        }
        _ => list_json(key, value)?,
    };
    Ok(Some(format!("\"{}\":{json}", escape(name))))
}

fn non_blank(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

fn not_reserved(name: &str) -> std::result::Result<(), String> {
    if name == "iat" || name == "exp" {
        Err(format!("Cannot explicitly set the '{name}' claim"))
    } else {
        Ok(())
    }
}

fn number_claim(name: &str, v: f64) -> String {
    format!("\"{}\":{}", escape(name), java_double(v))
}

/// A JSON string's content.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Java's `Double.toString`: `1.0E-4`, `0.001`, `3.0`, `1234567.5`, `1.7000000001234E9`
/// (the shortest digits that read back as the same double, as Java 19 and later print them).
pub(crate) fn java_double(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let a = v.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        let s = format!("{v}");
        return if s.contains('.') { s } else { format!("{s}.0") };
    }
    let s = format!("{v:e}");
    let (mantissa, exponent) = s.split_once('e').expect("{:e} has an exponent");
    if mantissa.contains('.') {
        format!("{mantissa}E{exponent}")
    } else {
        format!("{mantissa}.0E{exponent}")
    }
}

/// Java's `Double.valueOf` for the usual forms: surrounding whitespace and a `d`/`f` suffix
/// allowed.
fn java_parse_double(s: &str) -> Option<f64> {
    let t = s.trim();
    let t = t
        .strip_suffix(['d', 'D', 'f', 'F'])
        .filter(|r| !r.is_empty() && !r.ends_with(|c: char| c.is_ascii_alphabetic()))
        .unwrap_or(t);
    match t {
        "NaN" => Some(f64::NAN),
        "Infinity" | "+Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        t if t.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) => t.parse().ok(),
        _ => None,
    }
}

/// Java's `listJsonText`: the first character is the delimiter; the rest is split on it
/// (trailing empty elements dropped, as `String.split` does), and one `""` is added when the
/// list starts or ends with the delimiter or has two in a row.
fn list_json(key: &str, value: &str) -> std::result::Result<String, String> {
    let mut chars = value.chars();
    let Some(delim) = chars.next() else {
        return Ok("[]".into());
    };
    let list = chars.as_str();
    if list.is_empty() {
        return Ok("[]".into());
    }
    let mut elements: Vec<&str> = list.split(delim).collect();
    while elements.last() == Some(&"") {
        elements.pop();
    }
    let mut out = String::new();
    for e in &elements {
        out.push(if out.is_empty() { '[' } else { ',' });
        out.push('"');
        out.push_str(&escape(e));
        out.push('"');
    }
    let doubled: String = [delim, delim].iter().collect();
    if list.starts_with(delim) || list.ends_with(delim) || list.contains(&doubled) {
        out.push_str(",\"\"");
    }
    if !out.starts_with('[') {
        return Err(format!("{key} gives an illegal JSON array"));
    }
    out.push(']');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::sasl::jaas;

    fn login(text: &str) -> UnsecuredLogin {
        UnsecuredLogin::from_jaas(&jaas::parse(text).unwrap()).unwrap()
    }

    fn decode(part: &str) -> String {
        String::from_utf8(URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn java_token_shape() {
        let l = login(
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
             unsecuredLoginStringClaim_sub=\"alice\" unsecuredLoginLifetimeSeconds=\"60\" \
             unsecuredLoginExtension_traceId=\"x\";",
        );
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let t = l.build(now).unwrap();
        let parts: Vec<&str> = t.value().split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(decode(parts[0]), r#"{"alg":"none"}"#);
        assert_eq!(
            decode(parts[1]),
            r#"{"exp":1.700000060123E9,"iat":1.700000000123E9,"sub":"alice"}"#
        );
        assert_eq!(parts[2], "");
        assert!(!t.value().contains('='));
        assert_eq!(t.principal(), "alice");
        assert_eq!(
            t.expires_at(),
            SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_060_123)
        );
    }

    #[test]
    fn claims_of_every_kind() {
        let l = login(
            "M required unsecuredLoginPrincipalClaimName=\" user \" unsecuredLoginStringClaim_user=\"bob\" \
             unsecuredLoginNumberClaim_n=\" 2.5d \" unsecuredLoginListClaim_scope=\",a,,b\" \
             unsecuredLoginStringClaim_q='say \"hi\" \\\\ there';",
        );
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let t = l.build(now).unwrap();
        let claims = decode(t.value().split('.').nth(1).unwrap());
        assert_eq!(
            claims,
            r#"{"exp":1.0000036E9,"iat":1.0E9,"scope":["a","","b",""],"n":2.5,"q":"say \"hi\" \\ there","user":"bob"}"#
        );
        assert_eq!(t.principal(), "bob");
    }

    #[test]
    fn java_list_claims() {
        assert_eq!(list_json("k", "").unwrap(), "[]");
        assert_eq!(list_json("k", ",").unwrap(), "[]");
        assert_eq!(list_json("k", ",a").unwrap(), r#"["a"]"#);
        assert_eq!(list_json("k", " a b").unwrap(), r#"["a","b"]"#);
        assert_eq!(list_json("k", ",a,").unwrap(), r#"["a",""]"#);
        assert_eq!(list_json("k", ",,a").unwrap(), r#"["","a",""]"#);
        assert!(list_json("k", ",,,").is_err());
    }

    #[test]
    fn java_doubles() {
        for (v, s) in [
            (0.0, "0.0"),
            (3.0, "3.0"),
            (0.001, "0.001"),
            (1e-4, "1.0E-4"),
            (1234567.5, "1234567.5"),
            (1e7, "1.0E7"),
            (1.7e9, "1.7E9"),
            (-2.5e10, "-2.5E10"),
            (1_700_000_000.123, "1.700000000123E9"),
        ] {
            assert_eq!(java_double(v), s, "{v}");
        }
        assert_eq!(java_parse_double("1e3"), Some(1000.0));
        assert_eq!(java_parse_double(" 7f"), Some(7.0));
        assert_eq!(java_parse_double("x"), None);
        assert_eq!(java_parse_double("inf"), None);
    }

    #[test]
    fn config_errors() {
        for (text, want) in [
            ("M required;", "has no token"),
            ("M required unsecuredLoginExtension_a=\"b\";", "without a token"),
            ("M required unsecuredLoginStringClaim_x=\"y\";", "No principal name in JWT claim: sub"),
            ("M required unsecuredLoginStringClaim_sub=\"a\" unsecuredLoginLifetimeSeconds=\"1.5\";", "whole number"),
            ("M required unsecuredLoginStringClaim_sub=\"a\" unsecuredLoginLifetimeSeconds=\"0\";", "positive"),
            ("M required unsecuredLoginStringClaim_sub=\"a\" unsecuredLoginNumberClaim_n=\"x\";", "not a number"),
            ("M required unsecuredLoginStringClaim_sub=\"a\" unsecuredLoginStringClaim_exp=\"1\";", "'exp'"),
            ("M required unsecuredLoginStringClaim_sub=\" \";", "No principal"),
        ] {
            match UnsecuredLogin::from_jaas(&jaas::parse(text).unwrap()) {
                Err(Error::Config { key, message }) => {
                    assert_eq!(key, KEY);
                    assert!(message.contains(want), "{text}: {message}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
