//! DMARC aggregate reports: what receivers saw as mail from a domain. Reports arrive as an
//! upload (console or API: XML, .gz, .zip, or the whole report e-mail) or from the `rua`
//! mailbox on the mail plane (a Maildir Mailward reads, `dmarc_maildir`). Parsed with
//! mail-auth, stored once per (sender, report id, domain, date range): importing the same
//! report again changes nothing. Sources seen for the first time are an audit event (the
//! monitoring issue turns them into alerts). Mailward itself never sends DMARC reports.
use std::io::Read;

use mail_auth::report::{ActionDisposition, DkimResult, DmarcResult, Report, SpfResult};

use super::*;
use crate::dns::store::{ReportLine, ReportRow};
use crate::dns::{DmarcSummary, ImportedReport};

/// Largest report accepted, compressed and uncompressed.
pub const MAX_REPORT_BYTES: usize = 10 * 1024 * 1024;
pub const MAX_XML_BYTES: usize = 50 * 1024 * 1024;

fn capped(mut r: impl Read) -> AppResult<Vec<u8>> {
    let mut buf = Vec::new();
    r.by_ref()
        .take(MAX_XML_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| AppError::invalid(format!("The report does not uncompress: {e}.")))?;
    if buf.len() > MAX_XML_BYTES {
        return Err(AppError::invalid(
            "The report is larger than 50 MB uncompressed.",
        ));
    }
    Ok(buf)
}

/// The report in `bytes`: XML, gzip, zip, or a report e-mail with one of those attached.
pub fn unpack(bytes: &[u8]) -> AppResult<Report> {
    if bytes.len() > MAX_REPORT_BYTES {
        return Err(AppError::invalid("The report is larger than 10 MB."));
    }
    let bad = |e: String| AppError::invalid(format!("This is not a DMARC aggregate report: {e}."));
    let xml = if bytes.starts_with(&[0x1f, 0x8b]) {
        capped(mail_auth::flate2::read::GzDecoder::new(bytes))?
    } else if bytes.starts_with(b"PK\x03\x04") {
        let mut z = mail_auth::zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| bad(e.to_string()))?;
        if z.is_empty() {
            return Err(bad("the zip file is empty".into()));
        }
        let f = z.by_index(0).map_err(|e| bad(e.to_string()))?;
        capped(f)?
    } else {
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_ascii_lowercase();
        if head.trim_start().starts_with("<?xml") || head.trim_start().starts_with("<feedback") {
            bytes.to_vec()
        } else {
            return Report::parse_rfc5322(bytes, MAX_XML_BYTES).map_err(|e| bad(format!("{e:?}")));
        }
    };
    Report::parse_xml(&xml).map_err(bad)
}

fn disposition(d: ActionDisposition) -> &'static str {
    match d {
        ActionDisposition::Quarantine => "quarantine",
        ActionDisposition::Reject => "reject",
        _ => "none",
    }
}

/// Imports one report for the domain it names. `only_domain`: the upload was made on that
/// domain's page, and a report about another domain is refused.
pub async fn import_report(
    st: &AppState,
    actor: &Actor,
    bytes: &[u8],
    via: &str,
    only_domain: Option<&str>,
) -> AppResult<ImportedReport> {
    let report = unpack(bytes)?;
    let name = report
        .domain()
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if name.is_empty() {
        return Err(AppError::invalid("The report names no domain."));
    }
    let view = authorize(actor, Action::ViewTenants)?;
    let d = crate::tenancy::store::domain(&st.db, &view, &name)
        .await?
        .ok_or_else(|| {
            AppError::invalid(format!(
                "The report is about {name}, which is not a domain here."
            ))
        })?;
    if let Some(expected) = only_domain {
        let here = tenancy::domain(st, actor, expected).await?;
        if here.id != d.id {
            return Err(AppError::invalid(format!(
                "The report is about {name}, not {}: upload it on that domain's page.",
                here.unicode_name
            )));
        }
    }
    let g = authorize_in(actor, Action::ManageDomains, &d.tenant_id)?;
    let begin = report.date_range_begin() as i64;
    let end = report.date_range_end() as i64;
    if begin <= 0 || end < begin {
        return Err(AppError::invalid("The report's date range is not a range."));
    }
    let day = begin - begin.rem_euclid(86400);
    let mut lines = Vec::new();
    for r in report.records() {
        let Some(ip) = r.source_ip() else { continue };
        lines.push(ReportLine {
            day,
            source_ip: ip.to_string(),
            messages: r.count() as i64,
            disposition: disposition(r.action_disposition()).into(),
            dkim_aligned: r.dmarc_dkim_result() == DmarcResult::Pass,
            spf_aligned: r.dmarc_spf_result() == DmarcResult::Pass,
            dkim_fail: r
                .dkim_auth_result()
                .iter()
                .any(|a| !matches!(a.result, DkimResult::Pass | DkimResult::None)),
            spf_softfail: r
                .spf_auth_result()
                .iter()
                .any(|a| matches!(a.result, SpfResult::SoftFail)),
            header_from: r.header_from().chars().take(255).collect(),
        });
    }
    let messages: i64 = lines.iter().map(|l| l.messages).sum();
    let now = st.clock.now();
    let row = ReportRow {
        id: crate::core::secrets::new_id("dmr"),
        domain_id: d.id.clone(),
        tenant_id: d.tenant_id.clone(),
        org_name: report.org_name().chars().take(255).collect(),
        report_id: report.report_id().chars().take(255).collect(),
        date_begin: begin,
        date_end: end,
        policy: format!("{:?}", report.p()).to_ascii_lowercase(),
        messages,
        received_at: now,
        via: via.into(),
    };
    let mut tx = st.db.begin().await?;
    let mut ips: Vec<&str> = lines.iter().map(|l| l.source_ip.as_str()).collect();
    ips.sort();
    ips.dedup();
    let known = store::known_sources(tx.conn(), &d.id, &ips).await?;
    // The domain's own senders: those that passed DMARC in the last 30 days, or in this
    // report. Their mail failing now is a sign of broken authentication (a key, an SPF
    // edit), not of someone else's spoofing.
    let mut own = store::passing_sources(tx.conn(), &d.id, &ips, day - 30 * 86400).await?;
    own.extend(
        lines
            .iter()
            .filter(|l| l.dkim_aligned || l.spf_aligned)
            .map(|l| l.source_ip.clone()),
    );
    let of_own = |f: &dyn Fn(&ReportLine) -> bool| -> i64 {
        lines
            .iter()
            .filter(|l| own.contains(&l.source_ip) && f(l))
            .map(|l| l.messages)
            .sum()
    };
    let own_messages = of_own(&|_| true);
    let own_failed = of_own(&|l| !l.dkim_aligned && !l.spf_aligned);
    let own_dkim_fail = of_own(&|l| l.dkim_fail);
    let own_spf_softfail = of_own(&|l| l.spf_softfail);
    let new = store::insert_report(tx.conn(), &g, &row, &lines).await?;
    let out = ImportedReport {
        domain: d.name.clone(),
        org_name: row.org_name.clone(),
        report_id: row.report_id.clone(),
        new,
        messages,
        new_sources: if new {
            ips.iter()
                .filter(|ip| !known.contains(**ip))
                .map(|s| s.to_string())
                .collect()
        } else {
            vec![]
        },
    };
    if !new {
        return Ok(out);
    }
    let ev = Event::new("dmarc.report_imported")
        .target(d.id.clone())
        .tenant(d.tenant_id.clone())
        .details(json!({
            "domain": d.name, "org": row.org_name, "report_id": row.report_id,
            "begin": begin, "end": end, "messages": messages, "via": via,
            "own_messages": own_messages, "own_failed": own_failed,
            "own_dkim_fail": own_dkim_fail, "own_spf_softfail": own_spf_softfail,
        }));
    record(&mut tx, actor, now, ev).await?;
    if !out.new_sources.is_empty() {
        let ev = Event::new("dmarc.new_source")
            .target(d.id.clone())
            .tenant(d.tenant_id.clone())
            .details(json!({
                "domain": d.name, "sources": out.new_sources, "org": row.org_name,
            }));
        record(&mut tx, actor, now, ev).await?;
    }
    tx.commit().await?;
    Ok(out)
}

/// A domain's DMARC days and new sources, for its page.
pub async fn summary(st: &AppState, domain_id: &str) -> AppResult<DmarcSummary> {
    let since = st.clock.now() - 30 * 86400;
    let (reports, days, new_sources) = store::dmarc_summary(&st.db, domain_id, since).await?;
    Ok(DmarcSummary {
        reports,
        days,
        new_sources,
    })
}

/// Reads the `rua` mailbox's Maildir (`dmarc_maildir`): every message in `new/` and `cur/`
/// is imported (a report seen before changes nothing), then moved from `new/` to `cur/`.
/// Messages that are not reports about a hosted domain are left, and counted.
pub async fn read_maildir(st: &AppState) -> AppResult<(usize, usize, usize)> {
    let Some(dir) = st.config.dmarc_maildir.clone() else {
        return Ok((0, 0, 0));
    };
    let sys = Actor::system("dmarc mailbox");
    let (mut imported, mut known, mut skipped) = (0, 0, 0);
    // The list first: files move from new/ to cur/ as they are read.
    let mut files = Vec::new();
    for sub in ["new", "cur"] {
        let folder = std::path::Path::new(&dir).join(sub);
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        files.extend(paths.into_iter().map(|p| (sub, p)));
    }
    for (sub, path) in files {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        match import_report(st, &sys, &bytes, "mailbox", None).await {
            Ok(r) if r.new => imported += 1,
            Ok(_) => known += 1,
            Err(err) => {
                skipped += 1;
                tracing::debug!(path = %path.display(), error = %err, "dmarc mailbox: not imported");
            }
        }
        if sub == "new" {
            if let Some(name) = path.file_name() {
                let _ = std::fs::rename(
                    &path,
                    std::path::Path::new(&dir)
                        .join("cur")
                        .join(format!("{}:2,S", name.to_string_lossy())),
                );
            }
        }
    }
    Ok((imported, known, skipped))
}
