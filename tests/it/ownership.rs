//! One owner per table (DESIGN.md: "Every table has exactly one owner (a capability); only
//! the owner's store.rs holds SQL naming it"). `OWNERS` is the one table → owner list;
//! no file names a table it does not own, in reads or writes (issue 15 took the last 37 read
//! pairs out). The scanner reads the string literals of `app/src` and `server/src` (migrations
//! excluded).
//!
//! No database: the migrations and the sources are read as text.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Table → the file that owns it: the only file whose SQL may name the table (an owner ending
/// in `/` is a folder: any file in it).
const OWNERS: &[(&str, &str)] = &[
    // auth
    ("users", "app/src/auth/store.rs"),
    ("sessions", "app/src/auth/store.rs"),
    ("api_tokens", "app/src/auth/store.rs"),
    ("invites", "app/src/auth/store.rs"),
    ("recovery_codes", "app/src/auth/store.rs"),
    ("user_tenants", "app/src/auth/store.rs"),
    ("auth_throttle", "app/src/auth/store.rs"),
    // tenancy
    ("plans", "app/src/tenancy/store.rs"),
    ("tenants", "app/src/tenancy/store.rs"),
    ("domains", "app/src/tenancy/store.rs"),
    // mailboxes
    ("mailboxes", "app/src/mailboxes/store.rs"),
    ("mailbox_invites", "app/src/mailboxes/store.rs"),
    ("mailbox_recovery_codes", "app/src/mailboxes/store.rs"),
    ("app_passwords", "app/src/mailboxes/store.rs"),
    ("offboarding_receipts", "app/src/mailboxes/store.rs"),
    ("mailbox_identities", "app/src/mailboxes/store.rs"),
    ("mailbox_delegations", "app/src/mailboxes/store.rs"),
    ("change_requests", "app/src/changes/store.rs"),
    ("routes", "app/src/routing/store.rs"),
    ("route_targets", "app/src/routing/store.rs"),
    ("import_rows", "app/src/imports/store.rs"),
    ("dns_templates", "app/src/dns/store.rs"),
    ("dns_records", "app/src/dns/store.rs"),
    ("dkim_keys", "app/src/dns/store.rs"),
    ("dkim_delegations", "app/src/dns/store.rs"),
    ("dns_providers", "app/src/dns/store.rs"),
    ("dns_changes", "app/src/dns/store.rs"),
    ("dns_bulk_plans", "app/src/dns/store.rs"),
    ("dns_bulk_items", "app/src/dns/store.rs"),
    ("signin_failures", "app/src/monitoring/store.rs"),
    ("mail_networks", "app/src/monitoring/store.rs"),
    ("mail_login_hours", "app/src/monitoring/store.rs"),
    ("alert_settings", "app/src/monitoring/store.rs"),
    ("alerts", "app/src/monitoring/store.rs"),
    ("monitor_cursor", "app/src/monitoring/store.rs"),
    ("alert_destinations", "app/src/monitoring/store.rs"),
    ("alert_deliveries", "app/src/monitoring/store.rs"),
    ("dmarc_reports", "app/src/dns/store.rs"),
    ("dmarc_rows", "app/src/dns/store.rs"),
    ("incidents", "app/src/incidents/store.rs"),
    ("incident_postmortems", "app/src/incidents/store.rs"),
    ("incident_checks", "app/src/incidents/store.rs"),
    ("domain_control", "app/src/domain_control/store.rs"),
    ("send_counts", "app/src/outbound/store.rs"),
    ("tenant_relays", "app/src/outbound/store.rs"),
    ("audit_events", "app/src/audit/store.rs"),
    ("audit_head", "app/src/audit/store.rs"),
    // The job queue belongs to core; import jobs are rows of it.
    ("jobs", "app/src/core/jobs.rs"),
    // The mail plane's one table: no SQL in the code names it. Dovecot writes it through the
    // dict map mailplane.rs renders; the 0008 triggers copy it into mailboxes and tenants.
    ("mail_usage", "server/src/mailplane.rs"),
];

/// The mail plane's views (migration 0008), a contract read by Postfix and Dovecot, and the
/// files allowed to name each: the queries `server/src/mailplane.rs` renders, and routing's
/// `TARGETS_SQL` (which answers as `mail_aliases` does, over `mail_live_domains`). Exact:
/// a file listed here must still name the view.
const MAIL_VIEWS: &[(&str, &[&str])] = &[
    ("mail_aliases", &["server/src/mailplane.rs"]),
    ("mail_app_passwords", &["server/src/mailplane.rs"]),
    ("mail_domains", &["server/src/mailplane.rs"]),
    ("mail_homes", &["server/src/mailplane.rs"]),
    ("mail_inactive", &["server/src/mailplane.rs"]),
    ("mail_sender_logins", &["server/src/mailplane.rs"]),
    ("mail_shared_groups", &["server/src/mailplane.rs"]),
    ("mail_live_domains", &["app/src/routing/store.rs"]),
    ("mail_mailbox_addresses", &["app/src/routing/store.rs"]),
    ("mail_receiving", &["app/src/routing/store.rs"]),
    ("mail_users", &["server/src/mailplane.rs"]),
];

// ---------------------------------------------------------------------------------------
// The checks

#[test]
fn every_table_has_one_owner() {
    let sqlite = migrated_schema("migrations/sqlite");
    let postgres = migrated_schema("migrations/postgres");
    assert_eq!(
        (&sqlite.tables, &sqlite.views),
        (&postgres.tables, &postgres.views),
        "the SQLite and PostgreSQL migrations end with different tables or views"
    );
    let mut problems = Vec::new();
    let mut owned = BTreeSet::new();
    for &(table, owner) in OWNERS {
        if !owned.insert(table) {
            problems.push(format!(
                "OWNERS lists `{table}` twice: a table has one owner"
            ));
        }
        if !sqlite.tables.contains(table) {
            problems.push(format!(
                "OWNERS names `{table}`, which no migration creates (or one drops): remove it"
            ));
        }
        let there = if owner.ends_with('/') {
            root().join(owner).is_dir()
        } else {
            root().join(owner).is_file()
        };
        if !there {
            problems.push(format!("the owner of `{table}`, {owner}, does not exist"));
        }
    }
    for table in &sqlite.tables {
        if !owned.contains(table.as_str()) {
            problems.push(format!(
                "table `{table}` (migrations) has no owner: add it to OWNERS in tests/it/ownership.rs"
            ));
        }
    }
    let listed: BTreeSet<&str> = MAIL_VIEWS.iter().map(|&(v, _)| v).collect();
    for view in &sqlite.views {
        if !listed.contains(view.as_str()) {
            problems.push(format!(
                "view `{view}` (migrations) is not in MAIL_VIEWS: say which files may read it"
            ));
        }
    }
    for view in &listed {
        if !sqlite.views.contains(*view) {
            problems.push(format!(
                "MAIL_VIEWS names `{view}`, which no migration creates"
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn only_the_owner_names_its_table() {
    let schema = migrated_schema("migrations/sqlite");
    let owners: BTreeMap<&str, &str> = OWNERS.iter().copied().collect();
    let views: BTreeMap<&str, &[&str]> = MAIL_VIEWS.iter().copied().collect();
    let mut problems = Vec::new();

    // (file, table) → first line, for every non-owner that names a table.
    let mut found: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut view_readers: BTreeSet<(String, String)> = BTreeSet::new();
    for hit in scan_sources(&schema.all_names()) {
        let here = format!("{}:{}", hit.file, hit.line);
        if let Some(owner) = owners.get(hit.table.as_str()) {
            if !owns(owner, &hit.file) {
                found.entry((hit.file, hit.table)).or_insert(hit.line);
            }
        } else if let Some(readers) = views.get(hit.table.as_str()) {
            if !readers.contains(&hit.file.as_str()) {
                problems.push(format!(
                    "{here} names the mail-plane view `{}`: only {} may (the views are the \
                     mail plane's contract; the panel's code reads the tables through their owners)",
                    hit.table,
                    readers.join(", ")
                ));
            }
            view_readers.insert((hit.table, hit.file));
        } else if schema.gone.contains(&hit.table) {
            problems.push(format!(
                "{here} names table `{}`, which a migration drops",
                hit.table
            ));
        }
        // A table missing from OWNERS fails every_table_has_one_owner.
    }

    for ((file, table), line) in &found {
        let owner = owners[table.as_str()];
        problems.push(format!(
            "{file}:{line} names table `{table}` owned by {owner}: call {owner}'s \
             functions instead, or move the SQL there"
        ));
    }
    for &(view, readers) in MAIL_VIEWS {
        for file in readers {
            if !view_readers.contains(&(view.to_string(), file.to_string())) {
                problems.push(format!(
                    "{file} no longer names the view `{view}`: remove it from MAIL_VIEWS"
                ));
            }
        }
    }

    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

/// Writes have no exceptions: `INSERT INTO`, `UPDATE` and `DELETE FROM` a table appear only
/// in its owner, so counters, pools and state machines are kept in one place each.
#[test]
fn only_the_owner_writes_its_table() {
    let owners: BTreeMap<&str, &str> = OWNERS.iter().copied().collect();
    let mut files = Vec::new();
    for dir in ["app/src", "server/src"] {
        rust_files(&root().join(dir), &mut files);
    }
    files.sort();
    let mut problems = Vec::new();
    for path in files {
        let rel = relative(&path);
        let src = std::fs::read_to_string(&path).unwrap();
        for lit in string_literals(&src) {
            let w = words(&lit.text);
            for k in 0..w.len() {
                let up = w[k].1.to_ascii_uppercase();
                let next = |d: usize| w.get(k + d).map(|&(_, x)| x.to_ascii_lowercase());
                let target = match up.as_str() {
                    "UPDATE" => next(1),
                    "INSERT" | "DELETE" => next(2),
                    _ => None,
                };
                let Some(table) = target else { continue };
                if let Some(owner) = owners.get(table.as_str()) {
                    if !owns(owner, &rel) {
                        problems.push(format!(
                            "{rel}:{} writes `{table}` ({up}), owned by {owner}: call the owner's \
                             functions",
                            lit.line
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

/// Whether `file` may name a table owned by `owner` (a file, or a folder ending in `/`).
fn owns(owner: &str, file: &str) -> bool {
    if owner.ends_with('/') {
        file.starts_with(owner)
    } else {
        file == owner
    }
}

// ---------------------------------------------------------------------------------------
// The migrations

struct Schema {
    /// Tables that exist after the last migration.
    tables: BTreeSet<String>,
    /// Views that exist after the last migration.
    views: BTreeSet<String>,
    /// Tables and views some migration created and a later one dropped.
    gone: BTreeSet<String>,
}

impl Schema {
    fn all_names(&self) -> BTreeSet<String> {
        self.tables
            .iter()
            .chain(&self.views)
            .chain(&self.gone)
            .cloned()
            .collect()
    }
}

/// A path relative to the workspace root, with `/`.
fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap()
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Replays `CREATE TABLE|VIEW` / `DROP TABLE|VIEW` / `ALTER TABLE … RENAME TO` over the
/// migration files in order.
fn migrated_schema(dir: &str) -> Schema {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no migrations in {dir}");
    let mut s = Schema {
        tables: BTreeSet::new(),
        views: BTreeSet::new(),
        gone: BTreeSet::new(),
    };
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let text: String = text
            .lines()
            .map(|l| l.split("--").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let w: Vec<String> = words(&text)
            .into_iter()
            .map(|(_, w)| w.to_string())
            .collect();
        let up = |i: usize| w.get(i).map(|x| x.to_ascii_uppercase()).unwrap_or_default();
        // The name after `KEYWORD [IF [NOT] EXISTS]` at i.
        let name_at = |mut i: usize| {
            if up(i) == "IF" {
                i += if up(i + 1) == "NOT" { 3 } else { 2 };
            }
            w.get(i).map(|x| x.to_ascii_lowercase())
        };
        for i in 0..w.len() {
            match (up(i).as_str(), up(i + 1).as_str()) {
                ("CREATE", "TABLE") => {
                    if let Some(n) = name_at(i + 2) {
                        s.gone.remove(&n);
                        s.tables.insert(n);
                    }
                }
                ("CREATE", "VIEW") | ("REPLACE", "VIEW") => {
                    if let Some(n) = name_at(i + 2) {
                        s.gone.remove(&n);
                        s.views.insert(n);
                    }
                }
                ("DROP", "TABLE") | ("DROP", "VIEW") => {
                    if let Some(n) = name_at(i + 2) {
                        if s.tables.remove(&n) | s.views.remove(&n) {
                            s.gone.insert(n);
                        }
                    }
                }
                ("ALTER", "TABLE") => {
                    if let Some(n) = name_at(i + 2) {
                        let k = i + 3 + (up(i + 2) == "IF") as usize * 2;
                        if up(k) == "RENAME" && up(k + 1) == "TO" && s.tables.remove(&n) {
                            s.gone.insert(n);
                            s.tables.insert(up(k + 2).to_ascii_lowercase());
                        }
                    }
                }
                _ => {}
            }
        }
    }
    s
}

// ---------------------------------------------------------------------------------------
// The scanner

/// A table (or view) named by SQL in a source file.
#[derive(Debug)]
struct Hit {
    /// Relative to the workspace root, with `/`.
    file: String,
    line: usize,
    table: String,
}

fn scan_sources(names: &BTreeSet<String>) -> Vec<Hit> {
    let mut files = Vec::new();
    for dir in ["app/src", "server/src"] {
        rust_files(&root().join(dir), &mut files);
    }
    files.sort();
    let mut hits = Vec::new();
    for path in files {
        let rel = relative(&path);
        let src = std::fs::read_to_string(&path).unwrap();
        for lit in string_literals(&src) {
            if !is_sql(&lit.text) {
                continue;
            }
            for table in tables_named(&lit.text, names) {
                hits.push(Hit {
                    file: rel.clone(),
                    line: lit.line,
                    table,
                });
            }
        }
    }
    hits
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// A string literal's value (escapes and `\`-newline continuations resolved) and the line it
/// starts on.
#[derive(Debug, PartialEq)]
struct Literal {
    line: usize,
    text: String,
}

/// Every string literal in Rust source: `"…"`, `b"…"`, `c"…"` and the raw forms `r"…"`,
/// `r#"…"#`, `br"…"`…; comments, char literals and lifetimes are skipped. `format!` strings
/// are literals like any other (their `{…}` stay in the text).
fn string_literals(src: &str) -> Vec<Literal> {
    let c: Vec<char> = src.chars().collect();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    // Advances to `to`, counting lines.
    let skip_to = |i: &mut usize, line: &mut usize, to: usize| {
        let to = to.min(c.len());
        *line += c[*i..to].iter().filter(|&&ch| ch == '\n').count();
        *i = to;
    };
    while i < c.len() {
        let ch = c[i];
        if ch == '/' && at(i + 1) == '/' {
            let end = (i..c.len()).find(|&j| c[j] == '\n').unwrap_or(c.len());
            skip_to(&mut i, &mut line, end);
        } else if ch == '/' && at(i + 1) == '*' {
            let (mut j, mut depth) = (i + 2, 1);
            while j < c.len() && depth > 0 {
                if c[j] == '/' && at(j + 1) == '*' {
                    depth += 1;
                    j += 2;
                } else if c[j] == '*' && at(j + 1) == '/' {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            skip_to(&mut i, &mut line, j);
        } else if ch == '"' {
            let start = line;
            let (text, end) = cooked(&c, i + 1);
            skip_to(&mut i, &mut line, end);
            out.push(Literal { line: start, text });
        } else if ident(ch) {
            let mut j = i;
            while j < c.len() && ident(c[j]) {
                j += 1;
            }
            let word: String = c[i..j].iter().collect();
            let raw_prefix = matches!(word.as_str(), "r" | "br" | "cr");
            let hashes = (j..c.len()).take_while(|&k| c[k] == '#').count();
            if raw_prefix && at(j + hashes) == '"' {
                let open = j + hashes + 1;
                let mut k = open;
                let end = loop {
                    if k >= c.len() {
                        break c.len();
                    }
                    if c[k] == '"' && (1..=hashes).all(|h| at(k + h) == '#') {
                        break k;
                    }
                    k += 1;
                };
                let start = line;
                out.push(Literal {
                    line: start,
                    text: c[open..end].iter().collect(),
                });
                skip_to(&mut i, &mut line, end + 1 + hashes);
            } else if matches!(word.as_str(), "b" | "c") && at(j) == '"' {
                let start = line;
                let (text, end) = cooked(&c, j + 1);
                skip_to(&mut i, &mut line, end);
                out.push(Literal { line: start, text });
            } else {
                // Identifiers, numbers, `r#ident`; `b'x'` continues at its quote.
                i = j;
            }
        } else if ch == '\'' {
            if at(i + 1) == '\\' {
                // '\n', '\'', '\u{…}': the escaped char, then up to the closing quote.
                let end = (i + 3..c.len()).find(|&j| c[j] == '\'').unwrap_or(c.len());
                skip_to(&mut i, &mut line, end + 1);
            } else if at(i + 2) == '\'' {
                let to = i + 3;
                skip_to(&mut i, &mut line, to);
            } else {
                i += 1; // a lifetime or a label
            }
        } else {
            let to = i + 1;
            skip_to(&mut i, &mut line, to);
        }
    }
    out
}

/// A non-raw literal's value from just after its opening quote; returns it and the index
/// just past the closing quote.
fn cooked(c: &[char], mut i: usize) -> (String, usize) {
    let mut s = String::new();
    while i < c.len() {
        match c[i] {
            '"' => return (s, i + 1),
            '\\' => {
                let e = c.get(i + 1).copied().unwrap_or('\\');
                i += 2;
                match e {
                    'n' => s.push('\n'),
                    't' => s.push('\t'),
                    'r' => s.push('\r'),
                    '0' => s.push('\0'),
                    'x' => {
                        let hex: String = c[i..(i + 2).min(c.len())].iter().collect();
                        s.push(u8::from_str_radix(&hex, 16).map(char::from).unwrap_or('?'));
                        i += 2;
                    }
                    'u' => {
                        // \u{…}
                        let close = (i..c.len()).find(|&j| c[j] == '}').unwrap_or(c.len());
                        let hex: String = c[(i + 1).min(close)..close].iter().collect();
                        s.push(
                            u32::from_str_radix(&hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .unwrap_or('?'),
                        );
                        i = close + 1;
                    }
                    '\n' | '\r' => {
                        // Continuation: the newline and the next line's leading whitespace go.
                        while i < c.len() && c[i].is_whitespace() {
                            i += 1;
                        }
                    }
                    other => s.push(other), // \\ \" \'
                }
            }
            ch => {
                s.push(ch);
                i += 1;
            }
        }
    }
    (s, c.len())
}

/// Words (`[A-Za-z0-9_]+`) and every other non-space char as its own token, with the byte
/// offset where each starts.
fn words(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, ch) in s.char_indices() {
        let w = ch.is_ascii_alphanumeric() || ch == '_';
        match (w, start) {
            (true, None) => start = Some(i),
            (false, Some(b)) => {
                out.push((b, &s[b..i]));
                start = None;
            }
            _ => {}
        }
        if !w && !ch.is_whitespace() {
            out.push((i, &s[i..i + ch.len_utf8()]));
        }
    }
    if let Some(b) = start {
        out.push((b, &s[b..]));
    }
    out
}

/// SQL as this codebase writes it: an uppercase keyword as a whole word.
fn is_sql(text: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "SELECT", "INSERT", "UPDATE", "DELETE", "FROM", "JOIN", "INTO",
    ];
    words(text).iter().any(|(_, w)| KEYWORDS.contains(w))
}

/// The names (from `names`) that SQL text uses as tables: the word right after `FROM`,
/// `JOIN`, `INTO`, `UPDATE` (so also `DELETE FROM`, `INSERT INTO`), `TABLE` and `ON`; each
/// further item of a `FROM a x, b y` list; and a qualifier, as in `tenants.plan_id`.
fn tables_named(sql: &str, names: &BTreeSet<String>) -> BTreeSet<String> {
    const BEFORE: &[&str] = &["FROM", "JOIN", "INTO", "UPDATE", "TABLE", "ON"];
    let t = words(sql);
    let word = |k: usize| t.get(k).map(|&(_, w)| w).unwrap_or("");
    let known = |w: &str| names.contains(w);
    let mut out = BTreeSet::new();
    for k in 0..t.len() {
        if BEFORE.contains(&word(k)) {
            let mut j = k + 1;
            while known(word(j)) {
                out.insert(word(j).to_string());
                // `FROM a [AS] [x], b …`: go on after a comma.
                let mut n = j + 1;
                if word(n) == "AS" {
                    n += 1;
                }
                if word(n).starts_with(|ch: char| ch.is_ascii_lowercase()) {
                    n += 1;
                }
                if word(n) != "," {
                    break;
                }
                j = n + 1;
            }
        }
        // `table.column`: a '.' right after the word, a word right after the '.'.
        if known(word(k))
            && word(k + 1) == "."
            && t.get(k + 1).map(|x| x.0) == Some(t[k].0 + word(k).len())
        {
            out.insert(word(k).to_string());
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The scanner's own tests

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn named(sql: &str) -> Vec<String> {
    let names = set(&[
        "mailboxes",
        "domains",
        "tenants",
        "plans",
        "routes",
        "route_targets",
    ]);
    tables_named(sql, &names).into_iter().collect()
}

#[test]
fn ownership_scanner_finds_tables_in_sql() {
    assert_eq!(
        named("SELECT a FROM mailboxes m JOIN domains d ON d.id = m.domain_id"),
        ["domains", "mailboxes"]
    );
    assert_eq!(named("DELETE FROM routes WHERE id = $1"), ["routes"]);
    assert_eq!(
        named("INSERT INTO route_targets (route_id) VALUES ($1)"),
        ["route_targets"]
    );
    assert_eq!(
        named("UPDATE tenants SET n = 1 WHERE n < (SELECT max_domains FROM plans WHERE plans.id = tenants.plan_id)"),
        ["plans", "tenants"]
    );
    assert_eq!(
        named("SELECT 1 FROM tenants t, domains d WHERE d.tenant_id = t.id"),
        ["domains", "tenants"]
    );
    assert_eq!(
        named("SELECT {COLS} FROM mailboxes{} ORDER BY address"),
        ["mailboxes"]
    );
    // Columns and aliases that happen to look like tables do not count; nor lowercase words.
    assert_eq!(
        named("SELECT domains, p.routes AS mailboxes FROM plans p"),
        ["plans"]
    );
    assert!(named("select * from mailboxes").is_empty());
    assert!(named("SELECT 1 FROM mailboxes_old").is_empty());
    assert!(is_sql("SELECT 1"));
    assert!(!is_sql("Select the domains to move"));
    assert!(!is_sql("FROMAGE and JOINT"));
}

#[test]
fn ownership_scanner_reads_rust_literals() {
    let src = concat!(
        "// \"SELECT 1 FROM commented\"\n",
        "/* \"FROM block\" /* nested */ \"still\" */\n",
        "fn f<'a>(x: &'a str) -> char { let q = '\"'; let e = '\\''; q }\n",
        "const A: &str = \"UPDATE mailboxes SET a = 1 WHERE id = (SELECT id FROM \\\n",
        "         domains WHERE x = \\\"y\\\")\";\n",
        "const B: &str = r#\"SELECT \"q\" FROM\n  routes\"#;\n",
        "let c = format!(\"SELECT {COLS} FROM tenants{}\", w.sql());\n",
        "let r#type = b\"bytes\"; let d = br\"raw\\bytes\";\n",
    );
    let lits = string_literals(src);
    assert_eq!(
        lits,
        [
            Literal {
                line: 4,
                text:
                    "UPDATE mailboxes SET a = 1 WHERE id = (SELECT id FROM domains WHERE x = \"y\")"
                        .into()
            },
            Literal {
                line: 6,
                text: "SELECT \"q\" FROM\n  routes".into()
            },
            Literal {
                line: 8,
                text: "SELECT {COLS} FROM tenants{}".into()
            },
            Literal {
                line: 9,
                text: "bytes".into()
            },
            Literal {
                line: 9,
                text: "raw\\bytes".into()
            },
        ]
    );
    assert_eq!(named(&lits[0].text), ["domains", "mailboxes"]);
    assert_eq!(named(&lits[1].text), ["routes"]);
}

#[test]
fn ownership_scanner_replays_migrations() {
    let s = migrated_schema("migrations/sqlite");
    assert!(s.tables.contains("auth_throttle") && s.tables.contains("mailboxes"));
    assert!(
        s.gone.contains("auth_failures") && s.gone.contains("aliases"),
        "{:?}",
        s.gone
    );
    assert!(!s.tables.contains("auth_failures") && !s.tables.contains("aliases"));
    assert!(s.views.contains("mail_users") && !s.tables.contains("mail_users"));
}

/// An `Actor` is who authentication says someone is. Its struct literal cannot be written
/// outside `core::authz` (a private field); the one constructor for signed-in people,
/// `Actor::signed_in`, is called only by the authentication code: console sessions, API
/// tokens and invitations (`app/src/auth/`) and the mailbox owner's sign-in.
#[test]
fn actors_are_made_only_by_authentication() {
    const MAKERS: &[&str] = &[
        "app/src/auth/",
        "app/src/mailboxes/service/owner.rs",
        "app/src/core/authz.rs",
    ];
    let mut files = Vec::new();
    for dir in ["app/src", "server/src"] {
        rust_files(&root().join(dir), &mut files);
    }
    let mut problems = Vec::new();
    let mut seen = 0;
    for path in files {
        let rel = relative(&path);
        let src = std::fs::read_to_string(&path).unwrap();
        for (i, line) in src.lines().enumerate() {
            if line.contains("Actor::signed_in(") {
                seen += 1;
                if !MAKERS.iter().any(|m| owns(m, &rel)) {
                    problems.push(format!(
                        "{rel}:{} makes an Actor by hand: actors come from authentication \
                         (auth::service::actor_for, the token and mailbox-owner sign-ins)",
                        i + 1
                    ));
                }
            }
        }
    }
    assert!(
        seen >= 4,
        "the scan found no Actor::signed_in at all: is it still the name?"
    );
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

/// Core is the spine every capability builds on, and knows none of them: change and job
/// kinds are registered into it (`server::kinds()`), the shared vocabulary it decides on
/// (roles, the change-request record) lives in `types`. A `crate::<capability>` path in
/// `app/src/core/` fails here.
#[test]
fn core_knows_no_capability() {
    const CAPABILITIES: &[&str] = &[
        "api",
        "audit",
        "auth",
        "changes",
        "dashboard",
        "domain_control",
        "imports",
        "incidents",
        "mailboxes",
        "portal",
        "routing",
        "ssr",
        "tenancy",
        "ui",
    ];
    let mut files = Vec::new();
    rust_files(&root().join("app/src/core"), &mut files);
    assert!(!files.is_empty());
    let mut problems = Vec::new();
    for path in files {
        let src = std::fs::read_to_string(&path).unwrap();
        for (i, line) in src.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for cap in CAPABILITIES {
                if code.contains(&format!("crate::{cap}::"))
                    || code.contains(&format!("crate::{cap};"))
                {
                    problems.push(format!(
                        "{}:{} names the capability `{cap}`",
                        path.display(),
                        i + 1
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

/// The enums at the edges (`app::types`) name exactly what the database allows: for each
/// (table, column), the `CHECK (column IN (…))` list of the table's last `CREATE TABLE` in
/// either dialect equals the enum's names. A new state added on one side only fails here.
#[test]
fn enums_match_the_database_checks() {
    use app::types::*;
    fn names<T: AsRef<str>>(all: &[T]) -> BTreeSet<String> {
        all.iter().map(|v| v.as_ref().to_string()).collect()
    }
    let cases: Vec<(&str, &str, BTreeSet<String>)> = vec![
        ("mailboxes", "status", names(MailboxStatus::ALL)),
        (
            "tenants",
            "status",
            names(&[LiveStatus::Active, LiveStatus::Suspended]),
        ),
        ("domains", "status", names(LiveStatus::ALL)),
        ("routes", "kind", names(RouteKind::ALL)),
        ("routes", "state", names(RouteState::ALL)),
        ("jobs", "state", names(JobState::ALL)),
        ("users", "status", names(AccountStatus::ALL)),
        ("domains", "dns_health", names(DnsHealth::ALL)),
        ("dns_records", "status", names(RecordStatus::ALL)),
        ("dkim_keys", "state", names(DkimKeyState::ALL)),
        ("mailbox_delegations", "folders", names(FolderAccess::ALL)),
        (
            "change_requests",
            "state",
            ChangeState::ALL
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
        ),
    ];
    for dialect in ["migrations/sqlite", "migrations/postgres"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dialect))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        for (table, col, want) in &cases {
            let mut found: Option<BTreeSet<String>> = None;
            for f in &files {
                let text = std::fs::read_to_string(f).unwrap();
                let mut at = 0;
                while let Some(i) = text[at..].find(&format!("CREATE TABLE {table} (")) {
                    let start = at + i;
                    let body = &text[start..];
                    let end = body.find("\n);").unwrap_or(body.len());
                    let body = &body[..end];
                    let needle = format!("CHECK ({col} IN");
                    if let Some(j) = body.find(&needle) {
                        let rest = &body[j + needle.len()..];
                        let open = rest.find('(').unwrap();
                        let close = rest.find(')').unwrap();
                        found = Some(
                            rest[open + 1..close]
                                .split(',')
                                .map(|s| s.trim().trim_matches('\'').to_string())
                                .collect(),
                        );
                    }
                    at = start + 1;
                }
                // A column added later carries its CHECK on the ALTER.
                let added = format!("ALTER TABLE {table} ADD COLUMN {col} ");
                if let Some(i) = text.find(&added) {
                    let stmt = &text[i..];
                    let stmt = &stmt[..stmt.find(';').unwrap_or(stmt.len())];
                    let needle = format!("CHECK ({col} IN");
                    if let Some(j) = stmt.find(&needle) {
                        let rest = &stmt[j + needle.len()..];
                        let open = rest.find('(').unwrap();
                        let close = rest.find(')').unwrap();
                        found = Some(
                            rest[open + 1..close]
                                .split(',')
                                .map(|s| s.trim().trim_matches('\'').to_string())
                                .collect(),
                        );
                    }
                }
            }
            let found =
                found.unwrap_or_else(|| panic!("{dialect}: no CHECK ({col} IN …) on {table}"));
            assert_eq!(&found, want, "{dialect}: {table}.{col}");
        }
    }
}

/// The capabilities' services and stores call one another in one direction only (pages, forms
/// and REST may compose several capabilities, as the dashboard does): a cycle — say mailboxes'
/// offboarding calling routing while routing reads mailboxes — fails here. Offboarding reaches
/// routing through the `MailboxLinks` registry instead; sending mail through `UnsentMail`.
#[test]
fn services_call_each_other_without_cycles() {
    const CAPS: &[&str] = &[
        "audit",
        "auth",
        "changes",
        "dns",
        "domain_control",
        "imports",
        "incidents",
        "mailboxes",
        "monitoring",
        "routing",
        "tenancy",
    ];
    // Files that are the web side of a capability: composition is allowed there.
    const WEB: &[&str] = &[
        "pages.rs", "me.rs", "http.rs", "rest.rs", "api.rs", "web.rs",
    ];
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for cap in CAPS {
        let mut files = Vec::new();
        rust_files(&root().join("app/src").join(cap), &mut files);
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            if WEB.contains(&name.as_str()) {
                continue;
            }
            let src = std::fs::read_to_string(&f).unwrap();
            for other in CAPS {
                if other != cap && src.contains(&format!("crate::{other}::")) {
                    edges.entry(cap).or_default().insert(other);
                }
            }
        }
    }
    // Depth-first search for a cycle, reporting it as a path.
    fn visit<'a>(
        n: &'a str,
        edges: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(i) = path.iter().position(|p| *p == n) {
            let mut cycle = path[i..].to_vec();
            cycle.push(n);
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n);
        for m in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n);
        None
    }
    let mut done = BTreeSet::new();
    for cap in CAPS {
        if let Some(cycle) = visit(cap, &edges, &mut Vec::new(), &mut done) {
            panic!(
                "services and stores call each other in a circle: {} (edges: {edges:?})",
                cycle.join(" → ")
            );
        }
    }
}
