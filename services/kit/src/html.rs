//! What every web page of the system writes the same way: escaping, path
//! segments, and numbers and times as Vietnamese reads them (thousands
//! grouped with dots, dd/mm/yyyy in Viet Nam's time, UTC+7 without daylight
//! saving). The public transparency site and the clerks' console share them.

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a path segment or a query value: letters, digits, `-`, `.` and
/// `_` stay, every other byte is percent-encoded.
pub fn seg(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// `uri` with `pairs` added to its query (it may already have one), each
/// form-urlencoded.
pub fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let sep = if !uri.contains('?') {
        "?"
    } else if uri.ends_with('?') || uri.ends_with('&') {
        ""
    } else {
        "&"
    };
    format!("{uri}{sep}{query}")
}

/// Thousands grouped with dots, as Vietnamese writes them.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// An amount of money in đồng: `1.250.000 ₫`.
pub fn dong(n: u64) -> String {
    format!("{} ₫", count(n))
}

fn vietnam() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(7 * 3600).expect("UTC+7 is a valid offset")
}

/// `dd/mm/yyyy HH:MM:SS` in Viet Nam's time, from Unix milliseconds.
pub fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&vietnam()).format("%d/%m/%Y %H:%M:%S").to_string())
        .unwrap_or_else(|| "—".into())
}

/// An RFC 3339 time as `dd/mm/yyyy HH:MM` in Viet Nam's time; the text
/// itself when it does not parse (never an invented date).
pub fn when_rfc3339(at: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(at) {
        Ok(t) => t.with_timezone(&vietnam()).format("%d/%m/%Y %H:%M").to_string(),
        Err(_) if at.is_empty() => "—".into(),
        Err(_) => at.to_owned(),
    }
}

/// The date alone, `dd/mm/yyyy` in Viet Nam's time, of an RFC 3339 time or
/// of a plain `YYYY-MM-DD`.
pub fn date(at: &str) -> String {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(at) {
        return t.with_timezone(&vietnam()).format("%d/%m/%Y").to_string();
    }
    match chrono::NaiveDate::parse_from_str(at, "%Y-%m-%d") {
        Ok(d) => d.format("%d/%m/%Y").to_string(),
        Err(_) if at.is_empty() => "—".into(),
        Err(_) => at.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_numbers_and_dates() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1_234_567), "1.234.567");
        assert_eq!(dong(500_000), "500.000 ₫");
        // 17:30 UTC is half past midnight the next day in Viet Nam.
        assert_eq!(when_rfc3339("2026-12-03T17:30:00Z"), "04/12/2026 00:30");
        assert_eq!(date("2026-12-03T17:30:00Z"), "04/12/2026");
        assert_eq!(date("1990-02-01"), "01/02/1990");
        assert_eq!(date("garbage"), "garbage");
        assert_eq!(when(0), "01/01/1970 07:00:00");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(seg("30A-482.17"), "30A-482.17");
        assert_eq!(seg("a/b c?"), "a%2Fb%20c%3F");
        assert_eq!(with_query("https://a/cb", &[("code", "x y")]), "https://a/cb?code=x+y");
        assert_eq!(with_query("https://a/cb?k=1", &[("s", "2")]), "https://a/cb?k=1&s=2");
    }
}
