//! The value side of a key declaration: Java's value types ([`Kind`]), validators
//! ([`Validator`]), how each Rust field type reads and shows its string form ([`ConfigValue`]),
//! what a builder method accepts for it ([`IntoConfig`]), and [`Password`].

use std::fmt;
use std::time::Duration;

/// Largest Java `int`, the bound of Java's `INT`-typed keys.
pub const I32_MAX: i64 = i32::MAX as i64;
/// Largest Java `long`, the bound of Java's `LONG`-typed keys (`max.block.ms` may be this).
pub const I64_MAX: i64 = i64::MAX;

/// Java's `ConfigDef.Type` of a key: how its value is written in a properties file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `true` or `false`, in any case.
    Boolean,
    /// A 16-bit integer (Java's `SHORT`: the `sasl.login.refresh.*.seconds` keys).
    Short,
    /// A 32-bit integer.
    Int,
    /// A 64-bit integer (millisecond keys mostly).
    Long,
    /// Free text, or one of a set of names.
    String,
    /// A 64-bit floating-point number.
    Double,
    /// Comma-separated strings.
    List,
    /// A Java class name.
    Class,
    /// A secret: never shown by `Debug`, `Display`, [`ProducerConfig::get`] or
    /// [`ProducerConfig::to_properties`](super::ProducerConfig::to_properties).
    ///
    /// [`ProducerConfig::get`]: super::ProducerConfig::get
    Password,
}

impl Kind {
    /// Java's name for the type: `boolean`, `short`, `int`, `long`, `double`, `string`, `list`,
    /// `class`, `password`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Boolean => "boolean",
            Kind::Short => "short",
            Kind::Int => "int",
            Kind::Long => "long",
            Kind::String => "string",
            Kind::Double => "double",
            Kind::List => "list",
            Kind::Class => "class",
            Kind::Password => "password",
        }
    }
}

/// Java's `ConfigDef.Importance` of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Importance {
    /// Most deployments set or think about it.
    High,
    /// Sometimes tuned.
    Medium,
    /// Rarely needed.
    Low,
}

/// What values a key accepts, checked the same way whether the value came from a properties
/// string, a builder method or a field assigned directly (then by
/// [`ProducerConfig::validate`](super::ProducerConfig::validate)).
///
/// Numeric bounds apply to the Java value: milliseconds for durations, `-1` for an unset
/// optional number (`None`).
#[derive(Debug, Clone, Copy)]
pub enum Validator {
    /// Any value the type can hold.
    Any,
    /// An integer in `min..=max` (Java's `atLeast`/`between`).
    Range {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value ([`I32_MAX`] or [`I64_MAX`] for "no bound" on `int`/`long`).
        max: i64,
    },
    /// `special` (which means `meaning`), or an integer in `min..=max`.
    RangeOr {
        /// The one value outside the range that is accepted, e.g. `-1`.
        special: i64,
        /// What `special` means, e.g. `the OS default`.
        meaning: &'static str,
        /// Smallest accepted value of the range.
        min: i64,
        /// Largest accepted value of the range.
        max: i64,
    },
    /// One of these names (the type's parser decides about case).
    OneOf(&'static [&'static str]),
    /// A check on the value's string form, and a description of what it accepts.
    Custom {
        /// `Err(why)` for a bad value.
        check: fn(&str) -> Result<(), String>,
        /// What is accepted, in a few words.
        valid: &'static str,
    },
}

fn bound(n: i64) -> String {
    match n {
        I64_MAX => "9223372036854775807".into(),
        n => n.to_string(),
    }
}

impl Validator {
    /// `Ok` if `number` (the Java value of a numeric type, `None` otherwise) and `text` (the
    /// string form) are accepted; otherwise what is expected.
    pub(crate) fn check(&self, number: Option<i128>, text: &str) -> Result<(), String> {
        let fits = match (*self, number) {
            (Validator::Any, _) => true,
            (Validator::Range { min, max }, Some(n)) => (min.into()..=max.into()).contains(&n),
            (
                Validator::RangeOr {
                    special, min, max, ..
                },
                Some(n),
            ) => n == special.into() || (min.into()..=max.into()).contains(&n),
            (Validator::Range { .. } | Validator::RangeOr { .. }, None) => false,
            (Validator::OneOf(names), _) => names.iter().any(|n| n.eq_ignore_ascii_case(text)),
            (Validator::Custom { check, .. }, _) => return check(text),
        };
        if fits {
            Ok(())
        } else {
            Err(self.expected(text))
        }
    }

    /// The error text for a rejected value: `expected <what>, got "<text>"`.
    pub(crate) fn expected(&self, text: &str) -> String {
        format!("expected {}, got {text:?}", self.describe())
    }

    /// What the validator accepts, in words: "a non-negative integer", "an integer between 1
    /// and 17", "one of none, gzip, ...".
    pub fn describe(&self) -> String {
        match *self {
            Validator::Any => "any value".into(),
            Validator::Range { min, max } => range_words(min, max),
            Validator::RangeOr {
                special,
                meaning,
                min,
                max,
            } => format!("{special} ({meaning}) or {}", range_words(min, max)),
            Validator::OneOf(names) => format!("one of {}", names.join(", ")),
            Validator::Custom { valid, .. } => valid.into(),
        }
    }

    /// The accepted values in Java's documentation notation: `[0,...]`, `[1,...,17]`,
    /// `-1, [1,...,9]`, `[none, gzip]`; empty for [`Validator::Any`].
    pub fn notation(&self) -> String {
        let range = |min: i64, max: i64| match max {
            I64_MAX => format!("[{min},...]"),
            _ => format!("[{min},...,{}]", bound(max)),
        };
        match *self {
            Validator::Any => String::new(),
            Validator::Range { min, max } => range(min, max),
            Validator::RangeOr {
                special, min, max, ..
            } => format!("{special}, {}", range(min, max)),
            Validator::OneOf(names) => format!("[{}]", names.join(", ")),
            Validator::Custom { valid, .. } => valid.into(),
        }
    }
}

fn range_words(min: i64, max: i64) -> String {
    match (min, max) {
        (0, I64_MAX) => "a non-negative integer".into(),
        (0, _) => format!("a non-negative integer (at most {})", bound(max)),
        (_, I64_MAX) => format!("an integer of at least {min}"),
        _ => format!("an integer between {min} and {}", bound(max)),
    }
}

/// Why a string could not be read as a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Invalid {
    /// Not of the key's shape: the key's [`Validator`] says what is expected.
    Expected,
    /// A reason of the type's own.
    Because(String),
}

/// A Rust field type that holds a configuration value: read from the Java string form, shown in
/// it, and (for numbers) seen as the Java number that [`Validator`] bounds apply to.
pub(crate) trait ConfigValue: Sized + 'static {
    /// Reads the string form (already trimmed).
    #[doc(hidden)]
    fn parse(text: &str) -> Result<Self, Invalid>;
    /// The string form, as [`parse`](Self::parse) reads it back (except [`Password`]s, shown
    /// hidden).
    fn render(&self) -> String;
    /// The Java number, for numeric types (`-1` for an unset optional number).
    fn number(&self) -> Option<i128> {
        None
    }
}

/// Reads an integer, then makes the field value from it with `make`.
fn number_then<T>(text: &str, make: impl FnOnce(i128) -> Option<T>) -> Result<T, Invalid> {
    text.parse::<i128>()
        .ok()
        .and_then(make)
        .ok_or(Invalid::Expected)
}

/// A whole number of milliseconds as a `Duration` (never overflows: at most `u64::MAX` ms).
fn millis(n: i128) -> Option<Duration> {
    u64::try_from(n).ok().map(Duration::from_millis)
}

impl ConfigValue for Duration {
    fn parse(text: &str) -> Result<Self, Invalid> {
        number_then(text, millis)
    }
    fn render(&self) -> String {
        self.as_millis().to_string()
    }
    fn number(&self) -> Option<i128> {
        // At most about 1.8e22, well inside i128.
        i128::try_from(self.as_millis()).ok()
    }
}

/// A number type whose optional form spells "not set" as Java's `-1`.
pub(crate) trait MinusOneIsNone: ConfigValue {}

impl MinusOneIsNone for Duration {}
impl MinusOneIsNone for usize {}

/// `-1` is `None` (for example "never" or "the OS default").
impl<T: MinusOneIsNone> ConfigValue for Option<T> {
    fn parse(text: &str) -> Result<Self, Invalid> {
        match text {
            "-1" => Ok(None),
            _ => T::parse(text).map(Some),
        }
    }
    fn render(&self) -> String {
        self.as_ref().map_or("-1".into(), T::render)
    }
    fn number(&self) -> Option<i128> {
        self.as_ref().map_or(Some(-1), T::number)
    }
}

macro_rules! integer_value {
    ($($t:ty),*) => {$(
        impl ConfigValue for $t {
            fn parse(text: &str) -> Result<Self, Invalid> {
                number_then(text, |n| <$t>::try_from(n).ok())
            }
            fn render(&self) -> String {
                self.to_string()
            }
            fn number(&self) -> Option<i128> {
                i128::try_from(*self).ok()
            }
        }
    )*};
}
integer_value!(usize, u32, i32, i64);

/// A finite decimal number (Java's `double`; its validator bounds it).
impl ConfigValue for f64 {
    fn parse(text: &str) -> Result<Self, Invalid> {
        text.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or(Invalid::Expected)
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

fn boolean(text: &str) -> Result<bool, Invalid> {
    if text.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if text.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(Invalid::Because(format!(
            "expected true or false, got {text:?}"
        )))
    }
}

impl ConfigValue for bool {
    fn parse(text: &str) -> Result<Self, Invalid> {
        boolean(text)
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

/// Set explicitly to `true` or `false`, or not set (`None`, shown as the key's effective value
/// by the key's own getter).
impl ConfigValue for Option<bool> {
    fn parse(text: &str) -> Result<Self, Invalid> {
        boolean(text).map(Some)
    }
    fn render(&self) -> String {
        self.map_or(String::new(), |b| b.to_string())
    }
}

impl ConfigValue for String {
    fn parse(text: &str) -> Result<Self, Invalid> {
        Ok(text.to_string())
    }
    fn render(&self) -> String {
        self.clone()
    }
}

/// Empty means not set.
impl ConfigValue for Option<String> {
    fn parse(text: &str) -> Result<Self, Invalid> {
        Ok((!text.is_empty()).then(|| text.to_string()))
    }
    fn render(&self) -> String {
        self.clone().unwrap_or_default()
    }
}

/// Comma separated; blank items are dropped.
impl ConfigValue for Vec<String> {
    fn parse(text: &str) -> Result<Self, Invalid> {
        Ok(split_list(text))
    }
    fn render(&self) -> String {
        self.join(",")
    }
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// A secret configuration value (Java's `PASSWORD` type): `Debug` and `Display` show
/// `[hidden]`, so a logged or printed configuration never reveals it. [`Password::value`] gives
/// the secret to the code that needs it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Password(String);

impl Password {
    /// What `Debug`, `Display` and [`ProducerConfig::get`](super::ProducerConfig::get) show.
    pub const HIDDEN: &'static str = "[hidden]";

    /// A password holding `secret`.
    pub fn new(secret: impl Into<String>) -> Password {
        Password(secret.into())
    }

    /// The secret itself; do not log it.
    pub fn value(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Password::HIDDEN)
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Password::HIDDEN)
    }
}

/// Empty means not set. Shown as `[hidden]` when set, so
/// [`to_properties`](super::ProducerConfig::to_properties) does not give secrets back.
impl ConfigValue for Option<Password> {
    fn parse(text: &str) -> Result<Self, Invalid> {
        Ok((!text.is_empty()).then(|| Password::new(text)))
    }
    fn render(&self) -> String {
        self.as_ref()
            .map_or(String::new(), |_| Password::HIDDEN.into())
    }
}

/// What a generated builder method accepts for a key whose field is of type `T`: the field type
/// itself, or a more convenient form (`&str` for strings, any iterator of strings for lists, a
/// plain `bool` or string for an optional one).
pub trait IntoConfig<T> {
    /// The field value.
    fn into_config(self) -> T;
}

macro_rules! into_itself {
    ($($t:ty),*) => {$(
        impl IntoConfig<$t> for $t {
            fn into_config(self) -> $t {
                self
            }
        }
    )*};
}
into_itself!(
    usize,
    u32,
    f64,
    i32,
    i64,
    bool,
    Option<usize>,
    super::Acks,
    super::CompressionType,
    super::PartitionerClass,
    super::SecurityProtocol,
    super::MetadataRecoveryStrategy,
    Option<super::JavaSerializer>
);

/// Whole milliseconds, as Java keeps them: a sub-millisecond part is dropped, so what the
/// builder sets is what [`ConfigValue::render`] shows and a properties string can say.
fn whole_millis(d: Duration) -> Duration {
    d - Duration::from_nanos(u64::from(d.subsec_nanos() % 1_000_000))
}

impl IntoConfig<Duration> for Duration {
    fn into_config(self) -> Duration {
        whole_millis(self)
    }
}

impl IntoConfig<Option<Duration>> for Duration {
    fn into_config(self) -> Option<Duration> {
        Some(whole_millis(self))
    }
}

impl IntoConfig<Option<Duration>> for Option<Duration> {
    fn into_config(self) -> Option<Duration> {
        self.map(whole_millis)
    }
}

impl IntoConfig<Option<usize>> for usize {
    fn into_config(self) -> Option<usize> {
        Some(self)
    }
}

impl IntoConfig<Option<bool>> for bool {
    fn into_config(self) -> Option<bool> {
        Some(self)
    }
}

impl IntoConfig<Option<super::JavaSerializer>> for super::JavaSerializer {
    fn into_config(self) -> Option<super::JavaSerializer> {
        Some(self)
    }
}

impl<S: Into<String>> IntoConfig<String> for S {
    fn into_config(self) -> String {
        self.into()
    }
}

/// An empty string means not set, as in a properties file.
impl<S: Into<String>> IntoConfig<Option<String>> for S {
    fn into_config(self) -> Option<String> {
        Some(self.into()).filter(|s| !s.is_empty())
    }
}

/// An empty string means not set, as in a properties file.
impl<S: Into<String>> IntoConfig<Option<Password>> for S {
    fn into_config(self) -> Option<Password> {
        Some(self.into()).filter(|s| !s.is_empty()).map(Password)
    }
}

impl IntoConfig<Option<Password>> for Password {
    fn into_config(self) -> Option<Password> {
        Some(self).filter(|p| !p.0.is_empty())
    }
}

/// Each item may itself be a comma-separated list; blank items are dropped.
impl<I, S> IntoConfig<Vec<String>> for I
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    fn into_config(self) -> Vec<String> {
        self.into_iter()
            .flat_map(|s| split_list(s.as_ref()))
            .collect()
    }
}
