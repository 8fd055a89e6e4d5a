//! `sasl.jaas.config`, parsed as Java's `JaasConfig` parses it: a `java.io.StreamTokenizer`
//! with its default syntax table plus `//` and `/* */` comments and `-`, `_`, `$` as word
//! characters, reading
//!
//! ```text
//! <LoginModuleClass> <flag> (<option>=<value>)* ;
//! ```
//!
//! where `<flag>` is `required`, `requisite`, `sufficient` or `optional` (any case) and each
//! `<value>` is a word (letters, digits, `.`, `-`, `_`, `$`, characters from U+00A0 on, not
//! starting with a digit, `.` or `-`) or a quoted string (`"..."` or `'...'`, with the escapes
//! `\n \r \t \a \b \f \v`, octal `\0`..`\377`, and `\` before any other character standing for
//! that character; a string ends at its closing quote or at the end of the line). A value
//! starting with a digit is a number to the tokenizer and Java rejects it: quote it. A `/`
//! outside quotes starts a comment, so values with `/` (URLs) must be quoted too.
//!
//! As with Java's `JaasContext.loadClientContext`, a client's configuration holds exactly one
//! login module. Errors never echo an option's value (it may be a password): they name the
//! option when it is one Volley knows, and otherwise give its position.

use std::collections::HashMap;
use std::fmt;

use crate::config::Password;
use crate::error::{Error, Result};

/// The key every error of this module names.
pub(crate) const KEY: &str = "sasl.jaas.config";

/// Kafka's login module for SASL/PLAIN.
pub(crate) const PLAIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
/// Kafka's login module for SASL/SCRAM-SHA-256 and -512.
pub(crate) const SCRAM_MODULE: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";
/// Kafka's login module for SASL/OAUTHBEARER.
pub(crate) const OAUTHBEARER_MODULE: &str =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule";

/// A login module's control flag (`javax.security.auth.login.AppConfigurationEntry`). A client
/// has one module, so the flag changes nothing; it is parsed because Java requires it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ControlFlag {
    Required,
    Requisite,
    Sufficient,
    Optional,
}

/// One login module entry: its class, flag and options.
///
/// `Debug` shows the option names, never their values.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct JaasEntry {
    pub module: String,
    pub flag: ControlFlag,
    pub options: HashMap<String, String>,
}

impl fmt::Debug for JaasEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.options.keys().map(String::as_str).collect();
        names.sort_unstable();
        let hidden: Vec<(&str, &str)> = names.iter().map(|n| (*n, Password::HIDDEN)).collect();
        f.debug_struct("JaasEntry")
            .field("module", &self.module)
            .field("flag", &self.flag)
            .field("options", &hidden)
            .finish()
    }
}

impl JaasEntry {
    /// The option `name`, if set.
    pub(crate) fn option(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(String::as_str)
    }

    /// The options whose names start with `prefix`, with the prefix removed (Java's
    /// `unsecuredLoginExtension_` and `extension_` SASL extensions).
    pub(crate) fn prefixed(&self, prefix: &str) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .options
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|n| (n.to_string(), v.clone())))
            .collect();
        v.sort();
        v
    }
}

/// Parses `sasl.jaas.config` for a client: exactly one login module.
///
/// Errors: `Error::Config` naming `sasl.jaas.config`, with Java's reason (no login module, a
/// missing or invalid control flag, an option without a value, a missing `;`, more than one
/// login module).
pub(crate) fn parse(text: &str) -> Result<JaasEntry> {
    let mut entries = parse_entries(text).map_err(|m| Error::config(KEY, m))?;
    if entries.len() != 1 {
        return Err(Error::config(
            KEY,
            format!(
                "JAAS config property contains {} login modules, should be 1 module",
                entries.len()
            ),
        ));
    }
    Ok(entries.remove(0))
}

/// Every login module entry of `text` (Java's `JaasConfig`); errors are messages.
pub(crate) fn parse_entries(text: &str) -> std::result::Result<Vec<JaasEntry>, String> {
    let mut t = Tokenizer::new(text);
    let mut entries = Vec::new();
    loop {
        let first = t.next_token();
        if first == Token::Eof {
            break;
        }
        entries.push(parse_entry(&mut t, first)?);
    }
    if entries.is_empty() {
        return Err("Login module not specified in JAAS config (expected \
                    `<LoginModuleClass> required <option>=\"<value>\" ...;`)"
            .into());
    }
    Ok(entries)
}

fn parse_entry(t: &mut Tokenizer<'_>, first: Token) -> std::result::Result<JaasEntry, String> {
    let module = first.into_string();
    let flag = match t.next_token() {
        Token::Eof => {
            return Err("Login module control flag not specified in JAAS config".into());
        }
        tok => match tok.into_string() {
            None => {
                return Err("Login module control flag is not available in the JAAS config".into())
            }
            Some(f) => match f.to_uppercase().as_str() {
                "REQUIRED" => ControlFlag::Required,
                "REQUISITE" => ControlFlag::Requisite,
                "SUFFICIENT" => ControlFlag::Sufficient,
                "OPTIONAL" => ControlFlag::Optional,
                _ => {
                    return Err(format!(
                        "Invalid login module control flag in JAAS config (after the login \
                         module {}): expected required, requisite, sufficient or optional",
                        module.as_deref().unwrap_or("?")
                    ))
                }
            },
        },
    };
    let mut options = HashMap::new();
    let last = loop {
        let at = t.position();
        let tok = t.next_token();
        if tok == Token::Eof || tok == Token::Char(';') {
            break tok;
        }
        // Java keeps a key that is not a word or a string as a null key, which nothing reads.
        let key = tok.into_string();
        let value = if t.next_token() != Token::Char('=') {
            None
        } else {
            t.next_token().into_string()
        };
        let Some(value) = value else {
            return Err(format!(
                "Value not specified for {} in JAAS config",
                describe_option(key.as_deref(), at)
            ));
        };
        if let Some(key) = key {
            options.insert(key, value);
        }
    };
    if last != Token::Char(';') {
        return Err("JAAS config entry not terminated by semi-colon".into());
    }
    match module {
        Some(module) if !module.is_empty() => Ok(JaasEntry {
            module,
            flag,
            options,
        }),
        _ => Err("Invalid login module name in JAAS config".into()),
    }
}

/// How an error names an option: by name when it is one Volley reads (never a secret), else by
/// position, since a misplaced token may be part of a password.
fn describe_option(key: Option<&str>, at: usize) -> String {
    const KNOWN: &[&str] = &[
        "username",
        "password",
        "tokenauth",
        "clientId",
        "clientSecret",
        "scope",
    ];
    const KNOWN_PREFIXES: &[&str] = &["unsecuredLogin", "extension_"];
    match key {
        Some(k) if KNOWN.contains(&k) || KNOWN_PREFIXES.iter().any(|p| k.starts_with(p)) => {
            format!("option '{k}'")
        }
        _ => format!("the option at character {}", at + 1),
    }
}

/// A token of `java.io.StreamTokenizer`.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// `TT_EOF`.
    Eof,
    /// `TT_WORD`: `sval` is the word.
    Word(String),
    /// `TT_NUMBER`: `sval` is null.
    Number,
    /// A quoted string: `ttype` is the quote character, `sval` the string.
    Quoted(String),
    /// An ordinary character: `ttype` is the character, `sval` is null.
    Char(char),
}

impl Token {
    /// Java's `sval`.
    fn into_string(self) -> Option<String> {
        match self {
            Token::Word(s) | Token::Quoted(s) => Some(s),
            _ => None,
        }
    }
}

const WHITESPACE: u8 = 1;
const DIGIT: u8 = 2;
const ALPHA: u8 = 4;
const QUOTE: u8 = 8;

/// The syntax table of `new StreamTokenizer(reader)` after JaasConfig's changes. `/` is a
/// comment character, handled before the table is consulted.
fn char_type(c: char) -> u8 {
    match c as u32 {
        0..=0x20 => WHITESPACE,
        0x22 | 0x27 => QUOTE,
        0x30..=0x39 | 0x2E => DIGIT,
        0x2D => DIGIT | ALPHA,
        0x41..=0x5A | 0x61..=0x7A | 0x5F | 0x24 | 0xA0..=0xFF => ALPHA,
        0x100.. => ALPHA,
        _ => 0,
    }
}

/// `java.io.StreamTokenizer` over a string, as JaasConfig configures it. Java reads UTF-16
/// units; every unit of a character above U+00FF is a word character there, so reading whole
/// characters gives the same tokens.
struct Tokenizer<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    len: usize,
    /// Java's `peekc`: the character read ahead, `None` to read a new one (Java's
    /// `NEED_CHAR`; a peeked end of input reads as the end again).
    peek: Option<char>,
}

impl<'a> Tokenizer<'a> {
    fn new(text: &'a str) -> Self {
        Tokenizer {
            chars: text.char_indices().peekable(),
            len: text.len(),
            peek: None,
        }
    }

    fn read(&mut self) -> Option<char> {
        self.chars.next().map(|(_, c)| c)
    }

    /// Roughly where the next token starts (for error messages).
    fn position(&mut self) -> usize {
        self.chars.peek().map_or(self.len, |(i, _)| *i)
    }

    fn next_token(&mut self) -> Token {
        'token: loop {
            let mut c = match self.peek.take().or_else(|| self.read()) {
                Some(c) => c,
                None => return Token::Eof,
            };
            let mut ct = char_type(c);
            while ct & WHITESPACE != 0 {
                let mut n = self.read();
                if c == '\r' && n == Some('\n') {
                    n = self.read();
                }
                match n {
                    Some(x) => c = x,
                    None => return Token::Eof,
                }
                ct = char_type(c);
            }
            if ct & DIGIT != 0 {
                if c == '-' {
                    match self.read() {
                        Some(x) if x == '.' || x.is_ascii_digit() => c = x,
                        other => {
                            self.peek = other;
                            return Token::Char('-');
                        }
                    }
                }
                let mut seen_dot = false;
                loop {
                    if c == '.' && !seen_dot {
                        seen_dot = true;
                    } else if !c.is_ascii_digit() {
                        self.peek = Some(c);
                        return Token::Number;
                    }
                    match self.read() {
                        Some(x) => c = x,
                        None => return Token::Number,
                    }
                }
            }
            if ct & ALPHA != 0 {
                let mut word = String::from(c);
                loop {
                    match self.read() {
                        Some(x) if char_type(x) & (ALPHA | DIGIT) != 0 => word.push(x),
                        other => {
                            self.peek = other;
                            return Token::Word(word);
                        }
                    }
                }
            }
            if ct & QUOTE != 0 {
                return self.quoted(c);
            }
            if c == '/' {
                match self.read() {
                    Some('*') => {
                        let mut prev: Option<char> = Some('\0');
                        loop {
                            let mut c = self.read();
                            if c == Some('/') && prev == Some('*') {
                                continue 'token;
                            }
                            if c == Some('\r') {
                                c = self.read();
                                if c == Some('\n') {
                                    c = self.read();
                                }
                            } else if c == Some('\n') {
                                c = self.read();
                            }
                            if c.is_none() {
                                return Token::Eof;
                            }
                            prev = c;
                        }
                    }
                    // `//`, or a lone `/` (a comment character too, which also swallows the
                    // character after it): skip to the end of the line.
                    _ => loop {
                        match self.read() {
                            Some(x) if x != '\n' && x != '\r' => {}
                            other => {
                                self.peek = other;
                                continue 'token;
                            }
                        }
                    },
                }
            }
            return Token::Char(c);
        }
    }

    /// A string quoted by `q`, whose opening quote was just read.
    fn quoted(&mut self, q: char) -> Token {
        let mut s = String::new();
        let mut d = self.read();
        while let Some(dc) = d {
            if dc == q || dc == '\n' || dc == '\r' {
                break;
            }
            let ch;
            if dc == '\\' {
                match self.read() {
                    Some(first @ '0'..='7') => {
                        let mut v = first as u32 - '0' as u32;
                        match self.read() {
                            Some(c2 @ '0'..='7') => {
                                v = (v << 3) + (c2 as u32 - '0' as u32);
                                match self.read() {
                                    Some(c3 @ '0'..='7') if first <= '3' => {
                                        v = (v << 3) + (c3 as u32 - '0' as u32);
                                        d = self.read();
                                    }
                                    other => d = other,
                                }
                            }
                            other => d = other,
                        }
                        ch = char::from_u32(v).unwrap_or('\u{FFFD}');
                    }
                    Some(x) => {
                        ch = match x {
                            'a' => '\u{7}',
                            'b' => '\u{8}',
                            'f' => '\u{C}',
                            'n' => '\n',
                            'r' => '\r',
                            't' => '\t',
                            'v' => '\u{B}',
                            other => other,
                        };
                        d = self.read();
                    }
                    // Java stores (char) -1 for a backslash at the very end.
                    None => {
                        ch = '\u{FFFF}';
                        d = None;
                    }
                }
            } else {
                ch = dc;
                d = self.read();
            }
            s.push(ch);
        }
        self.peek = if d == Some(q) { None } else { d };
        Token::Quoted(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `value` as a double-quoted JAAS string that parses back to exactly `value` (for building a
    /// `sasl.jaas.config` from arbitrary text, e.g. a generated password).
    pub(crate) fn quote(value: &str) -> String {
        let mut out = String::with_capacity(value.len() + 2);
        out.push('"');
        for c in value.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    fn tokens(text: &str) -> Vec<Token> {
        let mut t = Tokenizer::new(text);
        let mut v = Vec::new();
        loop {
            let tok = t.next_token();
            if tok == Token::Eof {
                return v;
            }
            v.push(tok);
        }
    }

    fn one(text: &str) -> JaasEntry {
        parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn opts(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn err(text: &str) -> String {
        match parse(text) {
            Err(Error::Config { key, message }) => {
                assert_eq!(key, KEY);
                message
            }
            other => panic!("{text:?}: expected a config error, got {other:?}"),
        }
    }

    // The cases of Kafka's JaasContextTest, for a client.
    #[test]
    fn java_config_no_options() {
        let e = one("test.testConfigNoOptions required;");
        assert_eq!(e.module, "test.testConfigNoOptions");
        assert_eq!(e.flag, ControlFlag::Required);
        assert!(e.options.is_empty());
    }

    #[test]
    fn java_control_flags() {
        for (text, flag) in [
            ("required", ControlFlag::Required),
            ("requisite", ControlFlag::Requisite),
            ("SUFFICIENT", ControlFlag::Sufficient),
            ("Optional", ControlFlag::Optional),
        ] {
            let e = one(&format!("test.testControlFlag {text} propName=propValue;"));
            assert_eq!(e.flag, flag);
            assert_eq!(e.options, opts(&[("propName", "propValue")]));
        }
    }

    #[test]
    fn java_multiple_options() {
        let mut text = String::from("test.testMultipleOptions sufficient");
        let mut want = HashMap::new();
        for i in 0..10 {
            text.push_str(&format!(" propName{i}=propValue{i}"));
            want.insert(format!("propName{i}"), format!("propValue{i}"));
        }
        text.push(';');
        assert_eq!(one(&text).options, want);
    }

    #[test]
    fn java_quoted_option_value_and_name() {
        let e = one(
            "test.testQuotedOptionValue required propName=\"prop value\" \
             propName2=\"value1 = 1, value2 = 2\";",
        );
        assert_eq!(
            e.options,
            opts(&[
                ("propName", "prop value"),
                ("propName2", "value1 = 1, value2 = 2")
            ])
        );
        let e = one("test.testQuotedOptionName required \"prop name\"=propValue;");
        assert_eq!(e.options, opts(&[("prop name", "propValue")]));
    }

    #[test]
    fn java_multiple_login_modules() {
        let text = " test.Module0 required index=Index0 module=Module0; \
                    test.Module1 required index=Index1 module=Module1; \
                    test.Module2 required index=Index2 module=Module2;";
        let all = parse_entries(text).unwrap();
        assert_eq!(all.len(), 3);
        for (i, e) in all.iter().enumerate() {
            assert_eq!(e.module, format!("test.Module{i}"));
            assert_eq!(e.option("index"), Some(format!("Index{i}").as_str()));
        }
        // A client takes exactly one.
        assert!(err(text).contains("contains 3 login modules, should be 1 module"));
    }

    #[test]
    fn java_invalid_configurations() {
        assert!(err("  required option1=value1;").contains("Invalid login module control flag"));
        assert!(err("test.loginModule option1=value1;").contains("Invalid login module control"));
        assert!(err("loginModule required option1;").contains("Value not specified"));
        assert!(err("test.testMissingSemicolon required option1=value1")
            .contains("not terminated by semi-colon"));
        assert!(
            err("test.testNumericOptionWithoutQuotes required option1=3;")
                .contains("Value not specified")
        );
        assert!(err("test.testInvalidControlFlag { option1=3;")
            .contains("control flag is not available"));
        assert!(err("").contains("Login module not specified"));
        assert!(err("   // only a comment").contains("Login module not specified"));
        assert!(err("test.Module").contains("control flag not specified"));
        assert!(err("\"\" required;").contains("Invalid login module name"));
        assert!(err("3 required;").contains("Invalid login module name"));
    }

    #[test]
    fn java_numeric_option_with_quotes() {
        assert_eq!(
            one("test.testNumericOptionWithQuotes required option1=\"3\";").options,
            opts(&[("option1", "3")])
        );
    }

    #[test]
    fn kafka_client_forms() {
        let e = one(
            "org.apache.kafka.common.security.scram.ScramLoginModule required\n  \
             username=\"alice\"\n  password='alice-secret';",
        );
        assert_eq!(e.module, SCRAM_MODULE);
        assert_eq!(
            e.options,
            opts(&[("username", "alice"), ("password", "alice-secret")])
        );
        let e = one(
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
             unsecuredLoginStringClaim_sub=\"alice\" unsecuredLoginLifetimeSeconds=\"60\" \
             unsecuredLoginExtension_traceId=abc $x=y;",
        );
        assert_eq!(e.option("unsecuredLoginStringClaim_sub"), Some("alice"));
        assert_eq!(e.option("$x"), Some("y"));
        assert_eq!(
            e.prefixed("unsecuredLoginExtension_"),
            vec![("traceId".to_string(), "abc".to_string())]
        );
    }

    #[test]
    fn words_numbers_and_characters() {
        assert_eq!(
            tokens("a.b-c_d$e9 -x -1.5z 1a .5 = ; é€"),
            vec![
                Token::Word("a.b-c_d$e9".into()),
                Token::Char('-'),
                Token::Word("x".into()),
                Token::Number,
                Token::Word("z".into()),
                Token::Number,
                Token::Word("a".into()),
                Token::Number,
                Token::Char('='),
                Token::Char(';'),
                Token::Word("é€".into()),
            ]
        );
        // U+0080..U+009F are ordinary characters; U+00A0.. are word characters.
        assert_eq!(
            tokens("\u{85}\u{a0}"),
            vec![Token::Char('\u{85}'), Token::Word("\u{a0}".into())]
        );
        assert_eq!(tokens("- "), vec![Token::Char('-')]);
        assert_eq!(tokens("-"), vec![Token::Char('-')]);
    }

    #[test]
    fn quoted_strings_and_escapes() {
        assert_eq!(
            tokens(r#""a\"b\\c\n\t\x" 'it''s'"#),
            vec![
                Token::Quoted("a\"b\\c\n\tx".into()),
                Token::Quoted("it".into()),
                Token::Quoted("s".into()),
            ]
        );
        // Octal: up to three digits, the third only when the first is 0..3.
        assert_eq!(
            tokens(r#""\101\0\477\12x\8""#),
            vec![Token::Quoted("A\u{0}\u{27}7\nx8".into())]
        );
        assert_eq!(
            tokens(r#""\a\b\f\v\r""#),
            vec![Token::Quoted("\u{7}\u{8}\u{c}\u{b}\r".into())]
        );
        // A string ends at the end of its line; the newline is then whitespace.
        assert_eq!(
            tokens("\"abc\ndef"),
            vec![Token::Quoted("abc".into()), Token::Word("def".into())]
        );
        assert_eq!(tokens("\"abc\\"), vec![Token::Quoted("abc\u{ffff}".into())]);
        assert_eq!(tokens("'"), vec![Token::Quoted(String::new())]);
    }

    #[test]
    fn comments() {
        assert_eq!(
            tokens("a /* x * / */ b // c ;\r\nd /* \n */ e"),
            vec![
                Token::Word("a".into()),
                Token::Word("b".into()),
                Token::Word("d".into()),
                Token::Word("e".into()),
            ]
        );
        // A lone '/' is a comment character: it ends the line, and eats the next character
        // even when that is the newline.
        assert_eq!(
            tokens("a/b c\nd"),
            vec![Token::Word("a".into()), Token::Word("d".into())]
        );
        assert_eq!(
            tokens("a/\nb\nc"),
            vec![Token::Word("a".into()), Token::Word("c".into())]
        );
        assert_eq!(tokens("a /* never closed"), vec![Token::Word("a".into())]);
        // Java's quirk: after a newline inside /* */, the next character is taken without
        // checking it for the closing slash.
        assert_eq!(tokens("/* *\n/ x */ y"), vec![Token::Word("y".into())]);
        // Unquoted URLs stop at the '/': JAAS values with '/' must be quoted.
        assert!(err("M required url=http://host/x;").contains("Value not specified"));
    }

    /// Inputs run through Kafka 4.4's `JaasContext.loadClientContext` (Java 17), with what it
    /// gave: the options, or an error.
    #[test]
    fn java_verified_cases() {
        let ok = [
            (
                "M required x=\"\\101\\0\\477\\12x\\8\";",
                "x",
                "A\u{0}'7\nx8",
            ),
            ("a /* x * / */ required // c ;\r\nd=e /* \n */ ;", "d", "e"),
            ("M required a=\"abc\nd=e;", "d", "e"),
            ("M required x=a.b-c_d$e9é€;", "x", "a.b-c_d$e9é€"),
        ];
        for (text, key, value) in ok {
            assert_eq!(one(text).option(key), Some(value), "{text:?}");
        }
        assert_eq!(one("M required a=\"abc\nd=e;").option("a"), Some("abc"));
        assert!(one("/* *\n/ x */ M required;").options.is_empty());
        for text in [
            "M required a/b c\nd=e;",
            "M required a/\nb\nc=d;",
            "M required -x=y;",
            "M required x=-y;",
            "M required x=.5a;",
            "M required x=\u{85};",
        ] {
            assert!(err(text).contains("Value not specified"), "{text:?}");
        }
    }

    #[test]
    fn duplicate_option_last_wins_and_null_keys_are_ignored() {
        let e = one("M required a=x1 a=\"2\" 3=x 'q'=r;");
        assert_eq!(e.options, opts(&[("a", "2"), ("q", "r")]));
    }

    #[test]
    fn errors_never_echo_values() {
        // An unquoted password with a space: its second half reads as an option name.
        let m = err("M required username=alice password=hunter2 hunter3;");
        assert!(!m.contains("hunter"), "{m}");
        assert!(m.contains("character 44"), "{m}");
        let m = err("M required password;");
        assert!(m.contains("option 'password'"), "{m}");
        let m = err("hunter2 hunter4 x=y;");
        assert!(!m.contains("hunter4"), "{m}");
        let e = one("M required password=\"hunter2\";");
        let shown = format!("{e:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("password"),
            "{shown}"
        );
    }

    #[test]
    fn quote_examples() {
        assert_eq!(quote("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
        let e = one(&format!("M required password={};", quote("p/w;\"x\"\\0")));
        assert_eq!(e.option("password"), Some("p/w;\"x\"\\0"));
    }

    proptest! {
        #[test]
        fn quoted_values_round_trip(key in "[a-zA-Z_$][a-zA-Z0-9_.$-]{0,12}", value in any::<String>()) {
            let text = format!("some.Module required {key}={} other='x';", quote(&value));
            let e = parse(&text).unwrap();
            prop_assert_eq!(e.option(&key), Some(value.as_str()));
            if key != "other" {
                prop_assert_eq!(e.option("other"), Some("x"));
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            let _ = parse(&text);
        }

        #[test]
        fn arbitrary_jaas_like_text_never_panics(text in r#"[a-z=;"'\\/*\n\r .0-9-]{0,40}"#) {
            let _ = parse_entries(&text);
        }
    }
}
