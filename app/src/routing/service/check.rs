//! Checking a route request against the data as it is now (once before it is queued, again when it
//! is applied), and loop refusal.
#[allow(unused_imports)]
use super::*;

/// A request made valid: what would be written.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Checked {
    pub kind: String,
    pub tenant_id: String,
    pub domain_id: String,
    pub source: String,
    /// The mailbox the source is (forwards from a mailbox).
    pub source_mailbox_id: Option<String>,
    /// (address, mailbox id for internal targets)
    pub targets: Vec<(String, Option<String>)>,
    pub days: Option<i64>,
    pub reason: String,
    /// The live forward this one renews (replaced when applied).
    pub renews: Option<String>,
}

pub(crate) struct DomainRow {
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    pub(crate) status: String,
}

pub(crate) async fn domain_named(
    conn: &mut AnyConnection,
    ascii: &str,
) -> AppResult<Option<DomainRow>> {
    Ok(crate::tenancy::store::domain_by_name(conn, ascii)
        .await?
        .map(|(id, tenant_id, status)| DomainRow {
            id,
            tenant_id,
            status,
        }))
}

/// A mailbox that is not offboarded: (id, tenant, status).
pub(crate) async fn mailbox_at(
    conn: &mut AnyConnection,
    address: &str,
) -> AppResult<Option<(String, String, String)>> {
    crate::mailboxes::store::live_at(conn, address).await
}

/// A request's source as stored (an address, or `@domain` for a catch-all) and its domain.
pub(crate) fn source_of(kind: &str, raw: &str) -> AppResult<(String, String)> {
    if kind == "catchall" {
        let d = allowlist_domain(raw)?;
        return Ok((format!("@{d}"), d));
    }
    let a = address(raw)?;
    let d = a
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or_default();
    Ok((a, d))
}

pub(crate) fn not_yours(domain: &str) -> AppError {
    AppError::invalid(format!("{domain} is not one of your domains."))
}

fn address(s: &str) -> AppResult<String> {
    // Internationalised domains are stored in ASCII, as the mail servers see them.
    let s = s.trim();
    let (local, dom) = s
        .rsplit_once('@')
        .ok_or_else(|| AppError::invalid(format!("“{s}” is not a valid email address.")))?;
    let dom = idna::domain_to_ascii(&dom.to_lowercase())
        .map_err(|_| AppError::invalid(format!("“{s}” is not a valid email address.")))?;
    Ok(EmailAddress::parse(&format!("{local}@{dom}"))
        .map_err(AppError::Invalid)?
        .key())
}

/// Validates a request against the data as it is now; `requested_by` is the mailbox an
/// owner asks for (only a forward of their own mailbox).
pub async fn check(
    conn: &mut AnyConnection,
    new: &NewRoute,
    own_mailbox: Option<&str>,
    now: i64,
) -> AppResult<Checked> {
    let kind = new.kind.trim().to_lowercase();
    if !["alias", "forward", "catchall"].contains(&kind.as_str()) {
        return Err(AppError::invalid(
            "Choose what to add: an alias, an external forward or a catch-all.",
        )
        .on("kind"));
    }
    let reason = new.reason.trim().to_string();
    if kind != "alias" && reason.chars().count() < 3 {
        return Err(
            AppError::invalid("Say why: the approver reads it, and it stays in the log.")
                .on("reason"),
        );
    }
    let (source, domain_ascii) = source_of(&kind, &new.source).map_err(|e| e.on("source"))?;
    let dom = domain_named(conn, &domain_ascii)
        .await?
        .ok_or_else(|| not_yours(&domain_ascii).on("source"))?;
    if dom.status != "active" {
        return Err(AppError::Conflict(format!(
            "{domain_ascii} is {}: routes need an active domain.",
            dom.status
        ))
        .on("source"));
    }
    let tenant_id = dom.tenant_id.clone();
    let pol = policy(conn, &tenant_id).await?;
    let source_mailbox = if kind == "catchall" {
        None
    } else {
        mailbox_at(conn, &source).await?
    };
    if let Some(own) = own_mailbox {
        if kind != "forward" || source_mailbox.as_ref().map(|m| m.0.as_str()) != Some(own) {
            return Err(AppError::Forbidden);
        }
    }
    // What is there now.
    let live = live_route_for(conn, &source).await?;
    let mut renews = None;
    match (kind.as_str(), &live) {
        (_, None) => {}
        // A new request for a live forward edits or renews it (replacing it once approved).
        ("forward", Some(r)) if r.kind == "forward" => renews = Some(r.id.clone()),
        // A catch-all is renewed with the same target; a second one is refused.
        ("catchall", Some(r))
            if r.kind == "catchall"
                && r.targets.len() == 1
                && new.targets.len() == 1
                && address(&new.targets[0]).ok().as_deref()
                    == Some(r.targets[0].address.as_str()) =>
        {
            renews = Some(r.id.clone())
        }
        ("catchall", Some(r)) => {
            return Err(AppError::Conflict(format!(
                "{domain_ascii} has a catch-all already (to {}): a domain has at most one. \
                 Turn it off first, or renew it with the same target.",
                r.targets.first().map(|t| t.address.as_str()).unwrap_or("?")
            ))
            .on("source"))
        }
        (_, Some(r)) => {
            return Err(AppError::Conflict(format!(
                "{source} already has a route ({}): remove it first.",
                r.kind_label().to_lowercase()
            ))
            .on("source"))
        }
    }
    let pending = crate::changes::store::pending_for_label(&mut *conn, &source, "routing.").await?;
    // (At apply time the request itself is no longer pending.)
    if pending > 0 {
        return Err(AppError::Conflict(format!(
            "A request for {source} is already waiting for approval."
        ))
        .on("source"));
    }
    match kind.as_str() {
        "alias" => {
            if source_mailbox.is_some() {
                return Err(AppError::Conflict(format!(
                    "{source} is a mailbox: an alias needs an address of its own."
                ))
                .on("source"));
            }
        }
        "forward" => match &source_mailbox {
            Some((_, _, st)) if st == "invited" => {
                return Err(AppError::Conflict(format!(
                    "{source} has not been activated yet: nothing to forward."
                ))
                .on("source"))
            }
            Some(_) => {}
            None if live.as_ref().is_some_and(|r| r.kind == "alias") => {}
            None => {
                return Err(AppError::invalid(format!(
                    "{source} is neither a mailbox nor an alias of this tenant."
                ))
                .on("source"))
            }
        },
        _ => {}
    }
    // Targets.
    let mut targets: Vec<(String, Option<String>)> = Vec::new();
    for raw in new
        .targets
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
    {
        let a = address(raw).map_err(|e| e.on("targets"))?;
        if targets.iter().any(|(t, _)| *t == a) {
            continue;
        }
        if a == source {
            return Err(
                AppError::invalid(format!("{source} cannot route to itself.")).on("targets"),
            );
        }
        let target_domain = a
            .rsplit_once('@')
            .map(|(_, d)| d.to_string())
            .unwrap_or_default();
        let hosted = domain_named(conn, &target_domain).await?;
        // Another tenant's domain is nobody's business here: it is treated like any outside
        // domain, and its state is never named (no existence leak).
        if let Some(h) = hosted.as_ref().filter(|h| h.tenant_id == tenant_id) {
            if h.status == "suspended" {
                return Err(AppError::Conflict(format!(
                    "{a} is in a suspended domain: mail to it would bounce."
                ))
                .on("targets"));
            }
        }
        if kind == "forward" {
            if hosted.as_ref().is_some_and(|h| h.tenant_id == tenant_id) {
                return Err(AppError::invalid(format!(
                    "{a} is in this tenant: use an alias for internal routing, not an external forward."
                )).on("targets"));
            }
            let allowed = pol
                .allowlist
                .iter()
                .any(|d| target_domain == *d || target_domain.ends_with(&format!(".{d}")));
            if !allowed {
                return Err(AppError::invalid(if pol.allowlist.is_empty() {
                    format!(
                        "{target_domain} is not on this tenant's forwarding allowlist (it is empty: no external forwarding until an owner or operator allows a domain)."
                    )
                } else {
                    format!(
                        "{target_domain} is not on this tenant's forwarding allowlist ({}).",
                        pol.allowlist.join(", ")
                    )
                }).on("targets"));
            }
            targets.push((a, None));
        } else {
            // Alias and catch-all targets stay inside the tenant.
            match mailbox_at(conn, &a).await? {
                Some((id, t, status)) if t == tenant_id => {
                    if status == "invited" && kind == "catchall" {
                        return Err(
                            AppError::Conflict(format!("{a} has not been activated yet."))
                                .on("targets"),
                        );
                    }
                    targets.push((a, Some(id)));
                }
                // Another tenant's mailbox: the same answer as for no mailbox at all.
                Some(_) => {
                    return Err(AppError::invalid(format!(
                        "{a} is not a mailbox{} of this tenant.",
                        if kind == "alias" { " or alias" } else { "" }
                    ))
                    .on("targets"))
                }
                None if kind == "alias"
                    && live_route_for(conn, &a)
                        .await?
                        .is_some_and(|r| r.tenant_id == tenant_id && r.kind == "alias") =>
                {
                    targets.push((a, None));
                }
                None => {
                    return Err(AppError::invalid(format!(
                        "{a} is not a mailbox{} of this tenant.",
                        if kind == "alias" { " or alias" } else { "" }
                    ))
                    .on("targets"))
                }
            }
        }
    }
    if targets.is_empty() {
        return Err(AppError::invalid("Name at least one target address.").on("targets"));
    }
    if kind == "catchall" && targets.len() != 1 {
        return Err(
            AppError::invalid("A catch-all delivers to exactly one mailbox.").on("targets"),
        );
    }
    if targets.len() > MAX_TARGETS {
        return Err(AppError::invalid(format!("At most {MAX_TARGETS} targets.")).on("targets"));
    }
    if kind == "alias" {
        refuse_loops(conn, &source, &targets, now)
            .await
            .map_err(|e| e.on("targets"))?;
    }
    let days = if kind == "alias" {
        None
    } else {
        let d = new.days.unwrap_or(pol.default_days);
        if !(1..=pol.max_days).contains(&d) {
            return Err(AppError::invalid(format!(
                "A {} lasts 1 to {} days (this tenant's maximum); renew it with a new request when it runs out.",
                crate::routing::kind_label(&kind).to_lowercase(),
                pol.max_days
            )).on("days"));
        }
        Some(d)
    };
    Ok(Checked {
        kind,
        tenant_id,
        domain_id: dom.id,
        source_mailbox_id: source_mailbox.map(|m| m.0),
        source,
        targets,
        days,
        reason,
        renews,
    })
}

/// Refuses an alias whose targets lead back to its own address through other aliases.
async fn refuse_loops(
    conn: &mut AnyConnection,
    source: &str,
    targets: &[(String, Option<String>)],
    now: i64,
) -> AppResult<()> {
    // The live alias graph (internal targets that are aliases themselves).
    let mut edges: HashMap<String, Vec<String>> = HashMap::new();
    for (from, to) in store::internal_edges(&mut *conn, now).await? {
        edges.entry(from).or_default().push(to);
    }
    edges.insert(
        source.to_string(),
        targets.iter().map(|(a, _)| a.clone()).collect(),
    );
    // Depth-first from the new source, keeping the path for the message.
    fn walk(
        at: &str,
        goal: &str,
        edges: &HashMap<String, Vec<String>>,
        path: &mut Vec<String>,
        seen: &mut HashSet<String>,
    ) -> bool {
        for next in edges.get(at).into_iter().flatten() {
            path.push(next.clone());
            if next == goal {
                return true;
            }
            if seen.insert(next.clone()) && walk(next, goal, edges, path, seen) {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = vec![source.to_string()];
    if walk(source, source, &edges, &mut path, &mut HashSet::new()) {
        return Err(AppError::invalid(format!(
            "That would make a loop: {}.",
            path.join(" → ")
        )));
    }
    Ok(())
}
