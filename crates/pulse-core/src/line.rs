//! The line protocol: `<name>:<value>|<kind>`, one sample per line.
//!
//! `name` is 1..=200 characters of `[A-Za-z0-9_.-]`, `value` a finite number, `kind` one of
//! `c` (counter), `g` (gauge) or `ms` (timer). Blank lines and lines starting with `#` are skipped.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Counter,
    Gauge,
    Timer,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "c",
            Kind::Gauge => "g",
            Kind::Timer => "ms",
        }
    }

    pub fn from_code(code: &str) -> Option<Kind> {
        match code {
            "c" => Some(Kind::Counter),
            "g" => Some(Kind::Gauge),
            "ms" => Some(Kind::Timer),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub name: String,
    pub value: f64,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
pub enum ParseError {
    #[error("expected `name:value|kind`, found no `:`")]
    MissingColon,
    #[error("expected `name:value|kind`, found no `|`")]
    MissingPipe,
    #[error("metric name must be 1 to 200 characters of A-Z a-z 0-9 _ . -, got {0:?}")]
    BadName(String),
    #[error("value {0:?} is not a finite number")]
    BadValue(String),
    #[error("kind {0:?} is not one of c, g, ms")]
    BadKind(String),
}

const MAX_NAME_LEN: usize = 200;

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Parse one line. Returns `Ok(None)` for blank lines and comments.
pub fn parse_line(line: &str) -> Result<Option<Sample>, ParseError> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (name, rest) = line.split_once(':').ok_or(ParseError::MissingColon)?;
    let (value, kind) = rest.split_once('|').ok_or(ParseError::MissingPipe)?;
    if !valid_name(name) {
        return Err(ParseError::BadName(name.to_string()));
    }
    let value: f64 = value
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| ParseError::BadValue(value.to_string()))?;
    let kind = Kind::from_code(kind.trim()).ok_or_else(|| ParseError::BadKind(kind.to_string()))?;
    Ok(Some(Sample {
        name: name.to_string(),
        value,
        kind,
    }))
}

/// A line that failed to parse, with its 1-based number.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejected {
    pub line: usize,
    pub error: ParseError,
}

/// Parse a whole text: the samples, and the lines that were rejected.
pub fn parse_lines(text: &str) -> (Vec<Sample>, Vec<Rejected>) {
    let mut samples = Vec::new();
    let mut rejected = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match parse_line(line) {
            Ok(Some(sample)) => samples.push(sample),
            Ok(None) => {}
            Err(error) => rejected.push(Rejected { line: i + 1, error }),
        }
    }
    (samples, rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind() {
        let s = parse_line("api.latency:12.5|ms").unwrap().unwrap();
        assert_eq!(s.name, "api.latency");
        assert_eq!(s.value, 12.5);
        assert_eq!(s.kind, Kind::Timer);
        assert_eq!(parse_line("hits:1|c").unwrap().unwrap().kind, Kind::Counter);
        assert_eq!(
            parse_line(" mem-free:-3e2|g ").unwrap().unwrap().value,
            -300.0
        );
    }

    #[test]
    fn skips_blank_and_comment_lines() {
        assert_eq!(parse_line("   "), Ok(None));
        assert_eq!(parse_line("# a comment"), Ok(None));
    }

    #[test]
    fn rejects_malformed_lines_with_the_reason() {
        assert_eq!(parse_line("novalue"), Err(ParseError::MissingColon));
        assert_eq!(parse_line("a:1"), Err(ParseError::MissingPipe));
        assert_eq!(parse_line(":1|c"), Err(ParseError::BadName(String::new())));
        assert_eq!(
            parse_line("a b:1|c"),
            Err(ParseError::BadName("a b".into()))
        );
        assert_eq!(
            parse_line("a:NaN|c"),
            Err(ParseError::BadValue("NaN".into()))
        );
        assert_eq!(
            parse_line("a:inf|c"),
            Err(ParseError::BadValue("inf".into()))
        );
        assert_eq!(parse_line("a:1|h"), Err(ParseError::BadKind("h".into())));
        let long = "x".repeat(MAX_NAME_LEN + 1);
        assert!(matches!(
            parse_line(&format!("{long}:1|c")),
            Err(ParseError::BadName(_))
        ));
    }

    #[test]
    fn parse_lines_numbers_rejections_from_one() {
        let (ok, bad) = parse_lines("a:1|c\n\nbroken\nb:2|g\n");
        assert_eq!(ok.len(), 2);
        assert_eq!(
            bad,
            vec![Rejected {
                line: 3,
                error: ParseError::MissingColon
            }]
        );
    }
}
