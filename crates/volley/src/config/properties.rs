//! A reader for the Java `.properties` text format (what `Properties.load` accepts), enough to
//! load a `producer.properties` file written for the Java client.

/// Parses Java `.properties` text into `(key, value)` pairs, in file order (a later duplicate
/// key is kept as a separate pair; [`ProducerConfig::from_properties`](super::ProducerConfig::from_properties)
/// lets the last one win, as Java does).
///
/// Supported, as in `java.util.Properties::load`:
/// * lines end with `\n`, `\r\n` or `\r`; blank lines are skipped;
/// * a line whose first non-blank character is `#` or `!` is a comment;
/// * `key=value`, `key: value` and `key value` (the key ends at the first unescaped `=`, `:` or
///   whitespace; whitespace around the separator is skipped);
/// * a line ending in an odd number of backslashes continues on the next line, whose leading
///   whitespace is dropped;
/// * escapes `\t`, `\n`, `\r`, `\f`, `\uXXXX`, and `\c` for any other `c` (so `\=`, `\:`,
///   `\ `, `\#`, `\\` stand for themselves).
///
/// Unlike Java, trailing unescaped whitespace of a value is trimmed (it is never wanted in a
/// configuration value).
pub fn parse_properties(text: &str) -> Vec<(String, String)> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut lines = text.split('\n');
    let mut out = Vec::new();
    while let Some(line) = lines.next() {
        let line = trim_start(line);
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let mut logical = String::new();
        let mut current = line;
        loop {
            if ends_with_odd_backslashes(current) {
                logical.push_str(&current[..current.len() - 1]);
                match lines.next() {
                    Some(next) => current = trim_start(next),
                    None => break,
                }
            } else {
                logical.push_str(current);
                break;
            }
        }
        out.push(split_key_value(&logical));
    }
    out
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{c}')
}

fn trim_start(s: &str) -> &str {
    s.trim_start_matches(is_ws)
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

fn split_key_value(line: &str) -> (String, String) {
    let mut key_end = line.len();
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' || is_ws(c) {
            key_end = i;
            break;
        }
    }
    let key = &line[..key_end];
    let mut rest = trim_start(&line[key_end..]);
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = trim_start(r);
    }
    let mut value = rest.trim_end_matches(is_ws);
    if value.len() < rest.len() && ends_with_odd_backslashes(value) {
        // Keep one escaped trailing blank (`\ `).
        value = &rest[..value.len() + 1];
    }
    (unescape(key), unescape(value))
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            None => {}
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.clone().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) if hex.len() == 4 => {
                        out.push(ch);
                        chars.nth(3);
                    }
                    _ => out.push('u'),
                }
            }
            Some(other) => out.push(other),
        }
    }
    out
}
