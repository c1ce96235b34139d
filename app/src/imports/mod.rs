//! Bulk provisioning from CSV: upload → a preview with per-line errors → an all-or-nothing
//! import as a background job with visible progress that survives a restart without
//! creating any mailbox twice. Same through `/api/v1/imports` and `mailward import`.
use serde::{Deserialize, Serialize};

pub use crate::types::JobState;

#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod kinds;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod rest;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

/// At most this many rows per file.
pub const MAX_ROWS: usize = 50_000;

/// An import job as pages and the API show it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ImportJob {
    pub id: String,
    pub tenant_id: String,
    pub tenant_name: String,
    pub tenant_slug: String,
    pub state: JobState,
    /// `create` (mailboxes) or `invite` (links), while running.
    pub phase: String,
    pub done: i64,
    pub total: i64,
    pub rows: i64,
    pub errors: i64,
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// One line of the file after validation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ImportRow {
    /// Line number in the file (the header is line 1).
    pub line: i64,
    pub address: String,
    pub display_name: String,
    pub quota_bytes: Option<i64>,
    pub invite_to: Option<String>,
    pub error: Option<String>,
    pub created: bool,
}

/// Splits CSV text into records with their line numbers (RFC 4180: quotes, doubled quotes,
/// commas and line breaks inside quotes; `,` or `;` as the separator, whichever the first
/// line uses). Blank lines are skipped.
pub fn parse_csv(text: &str) -> Result<Vec<(i64, Vec<String>)>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // A NUL is never text (and PostgreSQL refuses it): name its line and stop.
    if let Some(n) = text.lines().position(|l| l.contains('\0')) {
        return Err(format!(
            "Line {} contains a NUL character: this is not a text file.",
            n + 1
        ));
    }
    let first = text.lines().next().unwrap_or("");
    let sep = if first.matches(';').count() > first.matches(',').count() {
        ';'
    } else {
        ','
    };
    let mut out = Vec::new();
    let mut field = String::new();
    let mut record: Vec<String> = Vec::new();
    let mut line = 1i64;
    let mut start_line = 1i64;
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut at_field_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if at_field_start => {
                quoted = true;
                at_field_start = false;
            }
            c if c == sep => {
                record.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\r' => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                if !(record.len() == 1 && record[0].trim().is_empty()) {
                    out.push((start_line, std::mem::take(&mut record)));
                }
                record.clear();
                line += 1;
                start_line = line;
                at_field_start = true;
            }
            _ => {
                field.push(c);
                at_field_start = false;
            }
        }
    }
    if quoted {
        return Err(format!(
            "Line {start_line}: a quoted field is not closed (a \" is missing)."
        ));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        if !(record.len() == 1 && record[0].trim().is_empty()) {
            out.push((start_line, record));
        }
    }
    Ok(out)
}

/// Which column holds what: from a header row (`address`, `display_name`/`name`, `quota`,
/// `invite_to`/`invite`), or the default order when the first row is data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Columns {
    pub address: usize,
    pub name: Option<usize>,
    pub quota: Option<usize>,
    pub invite_to: Option<usize>,
    pub has_header: bool,
}

pub fn columns(first: &[String]) -> Result<Columns, String> {
    let norm: Vec<String> = first
        .iter()
        .map(|h| h.trim().to_lowercase().replace([' ', '-'], "_"))
        .collect();
    if norm.iter().any(|h| h.contains('@')) {
        return Ok(Columns {
            address: 0,
            name: Some(1),
            quota: Some(2),
            invite_to: Some(3),
            has_header: false,
        });
    }
    let find = |names: &[&str]| norm.iter().position(|h| names.contains(&h.as_str()));
    let address = find(&["address", "email", "mailbox"]).ok_or_else(|| {
        "Line 1: the header needs an “address” column (address, display_name, quota, invite_to).".to_string()
    })?;
    Ok(Columns {
        address,
        name: find(&["display_name", "name", "full_name"]),
        quota: find(&["quota", "quota_mb", "size"]),
        invite_to: find(&["invite_to", "invite", "invite_address", "send_to"]),
        has_header: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_a_nul_is_refused_with_its_line() {
        let e = parse_csv("address,display_name\nann,Ann\nbob,B\0b\n").unwrap_err();
        assert!(e.starts_with("Line 3 "), "{e}");
    }

    #[test]
    fn csv_records_keep_their_line_numbers() {
        let t = "address,display_name,quota,invite_to\r\nann@a.example,\"Ann, the first\",1 GB,ann@home.example\n\n\"bob@a.example\",\"Bob \"\"B\"\"\nSmith\",,\nlast@a.example";
        let r = parse_csv(t).unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(r[1].0, 2);
        assert_eq!(r[1].1[1], "Ann, the first");
        assert_eq!(r[2].0, 4);
        assert_eq!(r[2].1[1], "Bob \"B\"\nSmith");
        assert_eq!(r[3].0, 6);
        assert!(parse_csv("a,\"b\n").is_err());
        let c = columns(&r[0].1).unwrap();
        assert_eq!(
            (c.address, c.name, c.quota, c.invite_to),
            (0, Some(1), Some(2), Some(3))
        );
        let semi = parse_csv("address;name\nx@y.example;X").unwrap();
        assert_eq!(semi[1].1, vec!["x@y.example", "X"]);
        assert!(!columns(&semi[1].1).unwrap().has_header);
    }
}
