//! The console producer's record reader: Kafka's `org.apache.kafka.tools.LineMessageReader`
//! (Kafka 4.4) in Rust. Each input line becomes one record; with `parse.headers` and
//! `parse.key` the line is `headers<headers.delimiter>key<key.separator>value`, the headers
//! being `name<headers.key.separator>value` pairs joined by `headers.separator` (a regular
//! expression, as in Java). A field equal to `null.marker` is null.
//!
//! Lines are read as Java's `BufferedReader.readLine` reads them: they end at `\n`, `\r` or
//! `\r\n`, and the input is decoded as UTF-8 with invalid bytes replaced by U+FFFD.

use std::collections::HashMap;
use std::io::{self, BufRead};

/// The reader class the Java tool uses by default, the only one Volley has.
pub const LINE_MESSAGE_READER: &str = "org.apache.kafka.tools.LineMessageReader";

/// The reader's settings, with Java's defaults.
#[derive(Debug, Clone)]
pub struct ReaderConfig {
    /// The topic records go to (the reader property `topic`, set from `--topic`).
    pub topic: String,
    pub parse_key: bool,
    pub key_separator: String,
    pub parse_headers: bool,
    pub headers_delimiter: String,
    pub headers_separator: regex::Regex,
    pub headers_key_separator: String,
    pub ignore_error: bool,
    pub null_marker: Option<String>,
}

/// `"true"` after trimming, in any case, is true; anything else is false (Java's
/// `trim().equalsIgnoreCase("true")`).
fn java_bool(v: &str) -> bool {
    v.trim().eq_ignore_ascii_case("true")
}

impl ReaderConfig {
    /// `LineMessageReader.configure`: the same defaults, the same checks in the same order and
    /// the same messages. Unknown properties are ignored, as in Java.
    pub fn from_properties(props: &HashMap<String, String>) -> Result<ReaderConfig, String> {
        let get = |k: &str| props.get(k).map(String::as_str);
        let topic = get("topic").unwrap_or_default().to_string();
        let parse_key = get("parse.key").is_some_and(java_bool);
        let key_separator = get("key.separator").unwrap_or("\t").to_string();
        let parse_headers = get("parse.headers").is_some_and(java_bool);
        let headers_delimiter = get("headers.delimiter").unwrap_or("\t").to_string();
        let separator = get("headers.separator").unwrap_or(",").to_string();
        let headers_separator = regex::Regex::new(&separator).map_err(|e| {
            format!(
                "headers.separator {separator:?} is not a regular expression Volley can use: {e}"
            )
        })?;
        let headers_key_separator = get("headers.key.separator").unwrap_or(":").to_string();
        let ignore_error = get("ignore.error").is_some_and(java_bool);
        if headers_delimiter == separator {
            return Err("headers.delimiter and headers.separator may not be equal".into());
        }
        if headers_delimiter == headers_key_separator {
            return Err("headers.delimiter and headers.key.separator may not be equal".into());
        }
        if separator == headers_key_separator {
            return Err("headers.separator and headers.key.separator may not be equal".into());
        }
        let null_marker = get("null.marker").map(str::to_string);
        if let Some(m) = null_marker.as_deref() {
            for (name, v) in [
                ("key.separator", &key_separator),
                ("headers.separator", &separator),
                ("headers.delimiter", &headers_delimiter),
                ("headers.key.separator", &headers_key_separator),
            ] {
                if v == m {
                    return Err(format!("null.marker and {name} may not be equal"));
                }
            }
        }
        Ok(ReaderConfig {
            topic,
            parse_key,
            key_separator,
            parse_headers,
            headers_delimiter,
            headers_separator,
            headers_key_separator,
            ignore_error,
            null_marker,
        })
    }

    fn is_null(&self, field: &str) -> bool {
        self.null_marker.as_deref() == Some(field)
    }

    /// Parses line number `line_number` (from 1) into a record, or fails with Java's message.
    pub fn parse<'l>(&self, line: &'l str, line_number: u64) -> Result<ParsedLine<'l>, String> {
        let headers = self.demarcate(
            self.parse_headers,
            line,
            0,
            &self.headers_delimiter,
            "headers delimiter",
            line_number,
        )?;
        let header_offset = headers.map_or(0, |h| h.len() + self.headers_delimiter.len());
        let key = self.demarcate(
            self.parse_key,
            line,
            header_offset,
            &self.key_separator,
            "key separator",
            line_number,
        )?;
        let key_offset = key.map_or(0, |k| k.len() + self.key_separator.len());
        let value = &line[header_offset + key_offset..];
        let mut parsed = ParsedLine {
            key: key.filter(|k| !self.is_null(k)),
            value: (!self.is_null(value)).then_some(value),
            headers: Vec::new(),
        };
        if let Some(h) = headers.filter(|h| !self.is_null(h)) {
            for pair in java_split(&self.headers_separator, h) {
                parsed.headers.push(self.header(pair, line_number)?);
            }
        }
        Ok(parsed)
    }

    /// Java's `parse`: the text from `start` up to the first `demarcation` after it.
    fn demarcate<'l>(
        &self,
        enabled: bool,
        line: &'l str,
        start: usize,
        demarcation: &str,
        name: &str,
        line_number: u64,
    ) -> Result<Option<&'l str>, String> {
        if !enabled {
            return Ok(None);
        }
        match line[start..].find(demarcation) {
            Some(i) => Ok(Some(&line[start..start + i])),
            None if self.ignore_error => Ok(None),
            None => Err(format!(
                "No {name} found on line number {line_number}: '{line}'"
            )),
        }
    }

    /// One `name<headers.key.separator>value` pair (Java's `splitHeaders`).
    fn header<'l>(&self, pair: &'l str, line_number: u64) -> Result<ParsedHeader<'l>, String> {
        let Some(i) = pair.find(self.headers_key_separator.as_str()) else {
            if self.ignore_error {
                return Ok((pair, None));
            }
            return Err(format!(
                "No header key separator found in pair '{pair}' on line number {line_number}"
            ));
        };
        let name = &pair[..i];
        if self.is_null(name) {
            return Err(format!(
                "Header keys should not be equal to the null marker '{}' as they can't be null",
                self.null_marker.as_deref().unwrap_or_default()
            ));
        }
        let value = &pair[i + self.headers_key_separator.len()..];
        Ok((name, (!self.is_null(value)).then_some(value)))
    }
}

/// A header's name and value (`None`: null).
pub type ParsedHeader<'l> = (&'l str, Option<&'l str>);

/// A line taken apart: `None` is a null key, value or header value.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedLine<'l> {
    pub key: Option<&'l str>,
    pub value: Option<&'l str>,
    pub headers: Vec<ParsedHeader<'l>>,
}

/// Java's `Pattern.split(input)`: the pieces between matches; no leading empty piece for an
/// empty match at the start, trailing empty pieces removed, and the whole input (even empty)
/// when nothing matches.
pub fn java_split<'s>(re: &regex::Regex, input: &'s str) -> Vec<&'s str> {
    let mut pieces = Vec::new();
    let mut index = 0;
    let mut matched = false;
    for m in re.find_iter(input) {
        if index == 0 && m.start() == 0 && m.end() == 0 {
            continue;
        }
        matched = true;
        pieces.push(&input[index..m.start()]);
        index = m.end();
    }
    if !matched {
        return vec![input];
    }
    pieces.push(&input[index..]);
    while pieces.last() == Some(&"") {
        pieces.pop();
    }
    pieces
}

/// Lines as Java's `BufferedReader.readLine` returns them: ended by `\n`, `\r` or `\r\n`
/// (the terminator not included), the last one possibly unterminated, decoded as UTF-8 with
/// invalid bytes replaced.
pub struct JavaLines<R> {
    input: R,
    /// The previous line ended with `\r`: a `\n` right after it belongs to that terminator.
    skip_lf: bool,
    buf: Vec<u8>,
}

impl<R: BufRead> JavaLines<R> {
    pub fn new(input: R) -> JavaLines<R> {
        JavaLines {
            input,
            skip_lf: false,
            buf: Vec::with_capacity(4096),
        }
    }

    /// The next line, or `None` at the end of the input.
    pub fn next_line(&mut self) -> io::Result<Option<String>> {
        self.buf.clear();
        let mut any = false;
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                return Ok(any.then(|| String::from_utf8_lossy(&self.buf).into_owned()));
            }
            let mut start = 0;
            if self.skip_lf {
                self.skip_lf = false;
                if chunk[0] == b'\n' {
                    start = 1;
                }
            }
            match chunk[start..]
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
            {
                Some(i) => {
                    self.buf.extend_from_slice(&chunk[start..start + i]);
                    self.skip_lf = chunk[start + i] == b'\r';
                    self.input.consume(start + i + 1);
                    return Ok(Some(String::from_utf8_lossy(&self.buf).into_owned()));
                }
                None => {
                    let n = chunk.len();
                    any |= n > start;
                    self.buf.extend_from_slice(&chunk[start..]);
                    self.input.consume(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(props: &[(&str, &str)]) -> Result<ReaderConfig, String> {
        let mut map: HashMap<String, String> = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.entry("topic".into()).or_insert_with(|| "t".into());
        ReaderConfig::from_properties(&map)
    }

    fn read_all(input: &[u8], capacity: usize) -> Vec<String> {
        let mut r = JavaLines::new(io::BufReader::with_capacity(capacity, input));
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push(l);
        }
        out
    }

    fn lines(input: &[u8]) -> Vec<String> {
        let out = read_all(input, 4096);
        // Tiny buffers put a \r\n across a buffer boundary.
        for capacity in [1, 2, 3] {
            assert_eq!(read_all(input, capacity), out, "buffer of {capacity}");
        }
        out
    }

    #[test]
    fn lines_end_like_java_read_line() {
        assert_eq!(lines(b""), Vec::<String>::new());
        assert_eq!(lines(b"a"), ["a"]);
        assert_eq!(lines(b"a\n"), ["a"]);
        assert_eq!(lines(b"a\r\nb\rc\n\nd"), ["a", "b", "c", "", "d"]);
        assert_eq!(lines(b"a\r\r\nb\n\r"), ["a", "", "b", ""]);
        assert_eq!(lines(b"\xffok\n"), ["\u{fffd}ok"]);
    }

    #[test]
    fn split_like_java_pattern_split() {
        let re = |s: &str| regex::Regex::new(s).unwrap();
        assert_eq!(java_split(&re(","), ""), [""]);
        assert_eq!(java_split(&re(","), "a"), ["a"]);
        assert_eq!(java_split(&re(","), ",a,,b,,"), ["", "a", "", "b"]);
        assert!(java_split(&re(","), ",,").is_empty());
        assert_eq!(java_split(&re(""), "abc"), ["a", "b", "c"]);
        assert_eq!(java_split(&re("\\|+"), "a||b|"), ["a", "b"]);
    }

    #[test]
    fn defaults_take_the_whole_line_as_value() {
        let c = config(&[]).unwrap();
        let p = c.parse("a\tb:c", 1).unwrap();
        assert_eq!((p.key, p.value, p.headers.len()), (None, Some("a\tb:c"), 0));
    }

    #[test]
    fn headers_key_and_value() {
        let c = config(&[("parse.key", " TRUE "), ("parse.headers", "true")]).unwrap();
        let p = c.parse("h1:v1,h2:\tk\tv\tw", 1).unwrap();
        assert_eq!(p.key, Some("k"));
        assert_eq!(p.value, Some("v\tw"));
        assert_eq!(p.headers, [("h1", Some("v1")), ("h2", Some(""))]);
        let e = c.parse("h1:v1", 7).unwrap_err();
        assert_eq!(e, "No headers delimiter found on line number 7: 'h1:v1'");
        let e = c.parse("h1\tk\tv", 2).unwrap_err();
        assert_eq!(
            e,
            "No header key separator found in pair 'h1' on line number 2"
        );
        let e = c.parse("h:1\tkv", 3).unwrap_err();
        assert_eq!(e, "No key separator found on line number 3: 'h:1\tkv'");
    }

    #[test]
    fn ignore_error_keeps_going() {
        let c = config(&[
            ("parse.key", "true"),
            ("parse.headers", "true"),
            ("ignore.error", "true"),
        ])
        .unwrap();
        let p = c.parse("novalue", 1).unwrap();
        assert_eq!(
            (p.key, p.value, p.headers.len()),
            (None, Some("novalue"), 0)
        );
        let p = c.parse(",h\tk\tv", 1).unwrap();
        assert_eq!(p.headers, [("", None), ("h", None)]);
        assert_eq!(p.key, Some("k"));
    }

    #[test]
    fn null_marker() {
        let c = config(&[
            ("parse.key", "true"),
            ("parse.headers", "true"),
            ("null.marker", "NULL"),
        ])
        .unwrap();
        let p = c.parse("a:NULL\tNULL\tNULL", 1).unwrap();
        assert_eq!((p.key, p.value), (None, None));
        assert_eq!(p.headers, [("a", None)]);
        let p = c.parse("NULL\tk\tv", 1).unwrap();
        assert!(p.headers.is_empty());
        let e = c.parse("NULL:x\tk\tv", 1).unwrap_err();
        assert_eq!(
            e,
            "Header keys should not be equal to the null marker 'NULL' as they can't be null"
        );
        // An empty marker makes empty fields null.
        let c = config(&[("parse.key", "true"), ("null.marker", "")]).unwrap();
        let p = c.parse("\t", 1).unwrap();
        assert_eq!((p.key, p.value), (None, None));
    }

    #[test]
    fn configuration_checks() {
        let err = |p: &[(&str, &str)]| config(p).unwrap_err();
        assert_eq!(
            err(&[("headers.delimiter", ",")]),
            "headers.delimiter and headers.separator may not be equal"
        );
        assert_eq!(
            err(&[("headers.key.separator", "\t")]),
            "headers.delimiter and headers.key.separator may not be equal"
        );
        assert_eq!(
            err(&[("headers.separator", ":")]),
            "headers.separator and headers.key.separator may not be equal"
        );
        assert_eq!(
            err(&[("null.marker", "\t")]),
            "null.marker and key.separator may not be equal"
        );
        assert_eq!(
            err(&[("null.marker", ","), ("key.separator", ";")]),
            "null.marker and headers.separator may not be equal"
        );
    }
}
