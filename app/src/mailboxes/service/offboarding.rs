//! Offboarding: one step that revokes everything, a receipt, and a verification scan that proves
//! it; the offboarding alias (change kind `mailbox.alias`).
#[allow(unused_imports)]
use super::*;

/// The same person's console accounts (same address) and whether the actor may disable
/// them: tenant roles of this tenant always; platform accounts only with operator rights.
async fn same_person_accounts(
    conn: &mut sqlx::AnyConnection,
    actor: &Actor,
    m: &Mailbox,
) -> AppResult<(Vec<(String, String)>, Vec<String>)> {
    let rows = crate::auth::store::active_accounts_for(conn, &m.address, &m.tenant_id).await?;
    // Offboarding is protective: an incident's freeze does not change what it ends.
    let may_platform =
        crate::core::authz::authorize_protective(actor, Action::ManageOperators).is_ok();
    let (mut yes, mut no) = (Vec::new(), Vec::new());
    for (id, email, role, here) in rows {
        let label = format!("{email} ({})", role.as_str().replace('_', " "));
        if (role.is_tenant_role() && here) || may_platform {
            yes.push((id, label));
        } else {
            no.push(label);
        }
    }
    Ok((yes, no))
}

/// What the registered capabilities keep pointing at or from the mailbox (routing: routes),
/// each with what becomes of its mail if offboarding just ends it.
async fn links_of(
    st: &AppState,
    conn: &mut sqlx::AnyConnection,
    m: &Mailbox,
) -> AppResult<Vec<MailboxRoute>> {
    let mut all = Vec::new();
    for links in st.kinds.mailbox_links_all() {
        all.extend(links.list(conn, &m.id, &m.address).await?);
    }
    Ok(all)
}

/// A colleague's mailbox that the leaving mailbox's mail may go on to: same tenant, active.
async fn colleague(st: &AppState, g: &Granted<'_>, m: &Mailbox, to: &str) -> AppResult<Mailbox> {
    let to = to.trim();
    let t = store::get(&st.db, g, to)
        .await?
        .filter(|t| t.tenant_id == m.tenant_id)
        .ok_or_else(|| AppError::invalid(format!("{to} is not a mailbox of this tenant.")))?;
    if t.id == m.id || t.status != "active" {
        return Err(AppError::invalid(format!(
            "Mail can only go on to a colleague's active mailbox, not {}.",
            t.address
        )));
    }
    Ok(t)
}

/// What offboarding would revoke now (the confirmation lists it).
pub async fn offboard_preview(st: &AppState, actor: &Actor, key: &str) -> AppResult<Revocations> {
    let (m, _) = managed(st, actor, key, Action::ManageMailboxes).await?;
    let mut conn = st.db.pool().acquire().await?;
    let (_, hash) = store::credentials(&mut conn, &m.id)
        .await?
        .ok_or(AppError::NotFound)?;
    let (accounts, _) = same_person_accounts(&mut conn, actor, &m).await?;
    let mut tokens = 0;
    for (uid, _) in &accounts {
        tokens += crate::auth::store::live_tokens(&mut conn, uid).await?;
    }
    let held = store::held(&mut conn, &m.id).await?;
    let console = crate::auth::store::held(&mut conn, &m.address, &m.id).await?;
    let route_list = links_of(st, &mut conn, &m).await?;
    Ok(Revocations {
        sign_in: hash.is_some(),
        sessions: console.mailbox_sessions,
        app_passwords: held.app_passwords,
        invites: held.invites,
        recovery_codes: held.recovery_codes,
        change_requests: crate::changes::store::pending_for_target_except(
            &mut conn,
            &m.id,
            "mailbox.alias",
        )
        .await?,
        routes: route_list.len() as i64,
        route_list,
        delegations: held.delegations,
        accounts: accounts.into_iter().map(|(_, l)| l).collect(),
        api_tokens: tokens,
        alias_requested: None,
    })
}

pub const MAX_KEEP_DAYS: i64 = 3650;

/// Offboards a mailbox in one transaction — sign-in disabled, sessions ended, app passwords,
/// links, recovery codes and pending requests revoked, the same person's console accounts
/// disabled with their API tokens — then re-reads the database to verify nothing active
/// remains. Returns the receipt. `confirm`, when given (the console asks for it), must be
/// the address typed again. `repoint` sends inbound routes (aliases, catch-alls to it) on to
/// colleagues instead of ending them.
#[allow(clippy::too_many_arguments)]
pub async fn offboard(
    st: &AppState,
    actor: &Actor,
    key: &str,
    keep_days: i64,
    reason: &str,
    confirm: Option<&str>,
    alias: Option<&crate::mailboxes::AliasRequest>,
    repoint: &[Repoint],
) -> AppResult<OffboardingReceipt> {
    let (m, g) = managed(st, actor, key, Action::ManageMailboxes).await?;
    // Each re-pointed route must be one that leads to this mailbox now.
    let mut repointed = Vec::new();
    if repoint.iter().any(|r| !r.to.trim().is_empty()) {
        let mut conn = st.db.pool().acquire().await?;
        let inbound = links_of(st, &mut conn, &m).await?;
        drop(conn);
        for r in repoint.iter().filter(|r| !r.to.trim().is_empty()) {
            let Some(route) = inbound.iter().find(|l| l.id == r.route && l.inbound) else {
                return Err(AppError::invalid(format!(
                    "Route {} does not lead to {} (any more): only aliases and catch-alls to \
                     it can be re-pointed.",
                    r.route, m.address
                )));
            };
            let t = colleague(st, &g, &m, &r.to).await.map_err(|e| match e {
                AppError::Invalid(msg) => AppError::Invalid(format!("{}: {msg}", route.source)),
                e => e,
            })?;
            repointed.push((route.id.clone(), t.id, t.address));
        }
    }
    let alias_target = match alias {
        None => None,
        Some(a) => {
            if !(1..=crate::mailboxes::MAX_ALIAS_DAYS).contains(&a.days) {
                return Err(AppError::invalid(format!(
                    "An alias lasts 1 to {} days.",
                    crate::mailboxes::MAX_ALIAS_DAYS
                )));
            }
            Some((colleague(st, &g, &m, &a.to).await?, a.days))
        }
    };
    if let Some(c) = confirm {
        if c.trim().to_lowercase() != m.address {
            return Err(AppError::invalid(format!(
                "Type the address {} to confirm the offboarding.",
                m.address
            )));
        }
    }
    if m.status == "offboarded" {
        return Err(AppError::Conflict(format!(
            "{} is already offboarded.",
            m.address
        )));
    }
    if !(0..=MAX_KEEP_DAYS).contains(&keep_days) {
        return Err(AppError::invalid(format!(
            "Keep the mail between 0 and {MAX_KEEP_DAYS} days."
        )));
    }
    let reason = reason.trim();
    if reason.chars().count() < 4 || reason.chars().count() > 500 {
        return Err(AppError::invalid(
            "Give the reason for offboarding (4 to 500 characters).",
        ));
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let (_, hash) = store::credentials(tx.conn(), &m.id)
        .await?
        .ok_or(AppError::NotFound)?;
    // Conditional: two offboardings at once give one.
    if !store::mark_offboarded(tx.conn(), &g, &m, now + keep_days * 86400, now).await? {
        return Err(AppError::Conflict(format!(
            "{} is already offboarded.",
            m.address
        )));
    }
    if let Some(q) = m.quota_bytes {
        // The allocation returns to the pool; the kept mail is read by nobody.
        crate::tenancy::store::release(tx.conn(), &g, &m.tenant_id, q).await?;
    }
    let store::Cut {
        sessions,
        app_passwords,
    } = store::cut_access(tx.conn(), &g, &m.id, now).await?;
    let invites = store::revoke_open_invites(tx.conn(), &g, &m.id, now).await?;
    let recovery_codes = store::burn_codes(tx.conn(), &g, &m.id, now).await?;
    let change_requests =
        changes::cancel_for_target(&mut tx, &g, &m.id, now, "The mailbox was offboarded.").await?;
    // What other capabilities keep pointing at or from the mailbox (routing: its routes).
    let mut route_list = Vec::new();
    for links in st.kinds.mailbox_links_all() {
        route_list.extend(
            links
                .end(st, &mut tx, &g, &m.id, &m.address, &repointed, reason, now)
                .await?,
        );
    }
    let delegations = store::revoke_delegations_of(tx.conn(), &m.id).await?;
    let (accounts, _) = same_person_accounts(tx.conn(), actor, &m).await?;
    let mut api_tokens = 0;
    for (uid, _) in &accounts {
        api_tokens += crate::auth::store::disable_everywhere(tx.conn(), &g, uid, now).await?;
    }
    let revoked = Revocations {
        sign_in: hash.is_some(),
        sessions,
        app_passwords,
        invites,
        recovery_codes,
        change_requests,
        routes: route_list.len() as i64,
        route_list,
        delegations: delegations.len() as i64,
        accounts: accounts.into_iter().map(|(_, l)| l).collect(),
        api_tokens,
        alias_requested: None,
    };
    let mut revoked = revoked;
    if let Some((t, days)) = &alias_target {
        let cr = changes::submit(
            st,
            &mut tx,
            &g,
            NewChange {
                tenant_id: Some(&m.tenant_id),
                kind: "mailbox.alias",
                target_id: &m.id,
                target_label: &m.address,
                payload: json!({
                    "address": m.address, "target_mailbox_id": t.id, "target": t.address, "days": days,
                }),
                before: json!({ "status": m.status, "aliases": [] }),
                rollback: Some(json!({ "remove_alias_of": m.address })),
                reason: &format!(
                    "Offboarding: mail to {} goes to {} for {days} days. {reason}",
                    m.address, t.address
                ),
            },
            None,
            now,
        )
        .await?;
        revoked.alias_requested = Some(format!(
            "{} → {} for {days} days, waiting for a second person's approval ({cr})",
            m.address, t.address
        ));
    }
    let receipt_id = secrets::new_id("rcpt");
    let options = json!({ "keep_days": keep_days, "reason": reason });
    let revoked_json = serde_json::to_string(&revoked).map_err(AppError::internal)?;
    store::insert_receipt(
        tx.conn(),
        &g,
        &store::NewReceipt {
            id: &receipt_id,
            mailbox: &m,
            options: &options,
            revoked: &revoked_json,
        },
        now,
    )
    .await?;
    let ev = Event::new("mailbox.offboarded")
        .target(m.id.clone())
        .details(json!({
            "address": m.address, "receipt": receipt_id, "reason": reason, "keep_days": keep_days,
            "before": { "status": m.status, "quota_bytes": m.quota_bytes },
            "revoked": revoked,
        }))
        .tenant(m.tenant_id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await?;
    end_live_sessions(st, &m.address).await;
    super::delegations::end_shared_sessions(st, &delegations).await;
    verify_offboarding(st, &g, &m, &receipt_id).await?;
    latest_receipt(st, &m.id).await?.ok_or(AppError::NotFound)
}

/// Offboards several mailboxes, each in its own transaction with its own receipt; one
/// failure does not stop the others. Returns each address with its outcome.
pub async fn offboard_many(
    st: &AppState,
    actor: &Actor,
    ids: &[String],
    keep_days: i64,
    reason: &str,
) -> AppResult<Vec<(String, AppResult<OffboardingReceipt>)>> {
    authorize(actor, Action::ManageMailboxes)?;
    if ids.is_empty() {
        return Err(AppError::invalid("Select at least one mailbox."));
    }
    if ids.len() > 500 {
        return Err(AppError::invalid("Offboard at most 500 mailboxes at once."));
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let r = offboard(st, actor, id, keep_days, reason, None, None, &[]).await;
        out.push((id.clone(), r));
    }
    Ok(out)
}

/// Ends the address's live IMAP sessions on the mail plane at once, when its doveadm API is
/// connected (otherwise they end at their next login, which the password no longer passes).
/// What happened shows in the verification scan, which asks the mail plane again.
pub(crate) async fn end_live_sessions(st: &AppState, address: &str) {
    if st.config.doveadm_url.is_none() {
        return;
    }
    if let Err(e) = crate::core::doveadm::kick(&st.config, &[address.to_string()]).await {
        tracing::warn!(error = %e, %address, "ending live IMAP sessions");
    }
}

/// What the live mail plane says about an offboarded address, when it is connected: no live
/// IMAP session (`doveadm who`), and port 25 refuses mail for it (asked without sending).
/// A question the mail plane did not answer counts as not proven.
async fn live_checks(st: &AppState, address: &str) -> Vec<ScanCheck> {
    let mut checks = Vec::new();
    if st.config.doveadm_url.is_some() {
        // A kick ends a session asynchronously: Dovecot signals the imap process, and the
        // session leaves `doveadm who` when that process has exited (on a busy machine, after
        // the first look). Asked again for a few seconds before a session counts as still live.
        let mut answer = crate::core::doveadm::who(&st.config, address).await;
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while matches!(answer, Ok(n) if n > 0) && std::time::Instant::now() < give_up {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            answer = crate::core::doveadm::who(&st.config, address).await;
        }
        checks.push(match answer {
            Ok(n) => ScanCheck {
                what: "Live IMAP sessions on the mail plane".into(),
                remaining: n,
            },
            Err(e) => ScanCheck {
                what: format!("Live IMAP sessions on the mail plane — not answered: {e}"),
                remaining: 1,
            },
        });
    }
    if let Some(server) = &st.config.mailplane_smtp {
        let helo = url::Url::parse(&st.config.public_url())
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "mailward.localhost".into());
        checks.push(
            match crate::core::smtp_check::rcpt(server, &helo, address).await {
                Ok((code, text)) if code >= 500 => ScanCheck {
                    what: format!(
                        "Mail for the address on the mail plane: refused ({code} {text})"
                    ),
                    remaining: 0,
                },
                Ok((code, text)) => ScanCheck {
                    what: format!(
                        "Mail for the address on the mail plane: still taken ({code} {text})"
                    ),
                    remaining: 1,
                },
                Err(e) => ScanCheck {
                    what: format!("Mail for the address on the mail plane — not answered: {e}"),
                    remaining: 1,
                },
            },
        );
    }
    checks
}

/// The verification scan: re-reads the database and counts whatever is still active for
/// the mailbox, then asks the live mail plane when it is connected; stored on the receipt
/// and audited.
async fn verify_offboarding(
    st: &AppState,
    g: &Granted<'_>,
    m: &Mailbox,
    receipt_id: &str,
) -> AppResult<Vec<ScanCheck>> {
    let mut conn = st.db.pool().acquire().await?;
    let (now_m, hash) = store::credentials(&mut conn, &m.id)
        .await?
        .ok_or(AppError::NotFound)?;
    let held = store::held(&mut conn, &m.id).await?;
    let console = crate::auth::store::held(&mut conn, &m.address, &m.id).await?;
    let checks = vec![
        ScanCheck {
            what: "Mailbox not offboarded".into(),
            remaining: (now_m.status != "offboarded") as i64,
        },
        ScanCheck {
            what: "Password that can sign in".into(),
            remaining: hash.is_some() as i64,
        },
        ScanCheck {
            what: "Sessions".into(),
            remaining: console.mailbox_sessions,
        },
        ScanCheck {
            what: "App passwords".into(),
            remaining: held.app_passwords,
        },
        ScanCheck {
            what: "Open invitation links".into(),
            remaining: held.invites,
        },
        ScanCheck {
            what: "Unused recovery codes".into(),
            remaining: held.recovery_codes,
        },
        ScanCheck {
            what: "Delegations (of this mailbox, or to it)".into(),
            remaining: held.delegations,
        },
        ScanCheck {
            what: "Pending change requests".into(),
            remaining: crate::changes::store::pending_for_target_except(
                &mut conn,
                &m.id,
                "mailbox.alias",
            )
            .await?,
        },
        ScanCheck {
            what: "Console accounts of the same address".into(),
            remaining: console.accounts,
        },
        ScanCheck {
            what: "API tokens of those accounts".into(),
            remaining: console.api_tokens,
        },
    ];
    // Other capabilities' links to the mailbox (routing: its routes), each counted again.
    let mut checks = checks;
    for links in st.kinds.mailbox_links_all() {
        checks.insert(
            checks.len() - 2,
            ScanCheck {
                what: links.what().into(),
                remaining: links.list(&mut conn, &m.id, &m.address).await?.len() as i64,
            },
        );
    }
    drop(conn);
    checks.extend(live_checks(st, &m.address).await);
    let clean = checks.iter().all(|c| c.remaining == 0);
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let scan = serde_json::to_string(&checks).map_err(AppError::internal)?;
    store::set_receipt_scan(tx.conn(), g, receipt_id, &scan, clean, now).await?;
    let ev = Event::new("mailbox.offboarding_verified")
        .target(m.id.clone())
        .details(json!({
            "address": m.address, "receipt": receipt_id, "clean": clean, "checks": checks,
        }))
        .tenant(m.tenant_id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await?;
    Ok(checks)
}

pub(crate) async fn latest_receipt(
    st: &AppState,
    mailbox_id: &str,
) -> AppResult<Option<OffboardingReceipt>> {
    store::latest_receipt(&st.db, mailbox_id).await
}

/// The offboarding receipt of a mailbox.
pub async fn receipt(st: &AppState, actor: &Actor, key: &str) -> AppResult<OffboardingReceipt> {
    let m = get(st, actor, key).await?;
    latest_receipt(st, &m.id).await?.ok_or(AppError::NotFound)
}
