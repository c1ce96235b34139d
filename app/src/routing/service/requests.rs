//! Requesting, applying and rolling back routes (the `routing.*` change kinds), turning them off,
//! and the offboarding hooks.
#[allow(unused_imports)]
use super::*;

fn change_kind(kind: &str) -> &'static str {
    match kind {
        "forward" => "routing.forward",
        "catchall" => "routing.catchall",
        _ => "routing.alias",
    }
}

/// Requests a route. Aliases under the `direct` policy are created at once; everything
/// else becomes a change request another person approves. Bad requests are refused here,
/// before they reach the queue.
pub async fn request(st: &AppState, actor: &Actor, new: &NewRoute) -> AppResult<RouteOutcome> {
    // Who: a mailbox owner for their own mailbox's forward; otherwise whoever manages the
    // tenant's mailboxes.
    let own = actor.mailbox_id().map(str::to_string);
    let g = match &own {
        Some(_) => authorize(actor, Action::ManageOwnMailbox)?,
        None => authorize(actor, Action::ManageMailboxes)?,
    };
    // Frozen while an incident holds over the mailbox's tenant (the gate names it); staff are
    // asked in the tenant below, so an incident elsewhere does not stop them.
    if own.is_some() {
        authorize(actor, Action::ChangeOwnRouting)?;
    }
    let now = st.clock.now();
    let mut conn = st.db.pool().acquire().await?;
    // Another tenant's domain reads like one that does not exist.
    let (_, dom) =
        source_of(&new.kind.trim().to_lowercase(), &new.source).map_err(|e| e.on("source"))?;
    match domain_named(&mut conn, &dom).await? {
        Some(d) if g.actor.tenants.contains(&d.tenant_id) => {}
        _ => return Err(not_yours(&dom).on("source")),
    }
    let c = check(&mut conn, new, own.as_deref(), now).await?;
    let pol = policy(&mut conn, &c.tenant_id).await?;
    drop(conn);
    let g = match &own {
        Some(_) => g,
        None => {
            authorize_in(actor, Action::ChangeRouting, &c.tenant_id)?;
            authorize_in(actor, Action::ManageMailboxes, &c.tenant_id)?
        }
    };
    if !g.actor.tenants.contains(&c.tenant_id) {
        return Err(AppError::NotFound);
    }
    let mut tx = st.db.begin().await?;
    if c.kind == "alias" && pol.alias_policy == "direct" {
        let (id, _) = insert(st, &mut tx, &g, &c, None, now).await?;
        let mail = tx.commit_outbox().await?;
        crate::core::mailer::deliver(st, g.actor, mail, "The alias was created").await?;
        return Ok(RouteOutcome::Created { route_id: id });
    }
    let mut before_conn = st.db.pool().acquire().await?;
    let before = live_route_for(&mut before_conn, &c.source).await?;
    drop(before_conn);
    let change_id = changes::submit(
        st,
        &mut tx,
        &g,
        NewChange {
            tenant_id: Some(&c.tenant_id),
            kind: change_kind(&c.kind),
            // A forward belongs to its mailbox (offboarding cancels it); the rest to the domain.
            target_id: c.source_mailbox_id.as_deref().unwrap_or(&c.domain_id),
            target_label: &c.source,
            payload: serde_json::to_value(&c).map_err(AppError::internal)?,
            before: json!({ "route": before }),
            rollback: Some(json!({ "disable_route_for": c.source })),
            reason: &c.reason,
        },
        None,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(RouteOutcome::Queued { change_id })
}

/// An alias, external forward or catch-all waiting for a second person (change kinds
/// `routing.alias|forward|catchall`): applying checks the request again against the data as it
/// is now and makes the route; rolling back ends it and brings back a forward it renewed.
pub(crate) struct RouteChange(pub(crate) &'static str);

#[async_trait::async_trait]
impl ChangeKind for RouteChange {
    fn kind(&self) -> &'static str {
        self.0
    }
    fn action(&self) -> Action {
        Action::ManageMailboxes
    }
    fn describe(&self, c: &ChangeRequest) -> crate::types::Described {
        describe_route(c)
    }
    async fn apply(
        &self,
        st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        c: &ChangeRequest,
        now: i64,
    ) -> AppResult<Applied> {
        let asked: Checked = serde_json::from_str(&c.payload).map_err(AppError::internal)?;
        let again = NewRoute {
            kind: asked.kind.clone(),
            source: asked.source.trim_start_matches('@').to_string(),
            targets: asked.targets.iter().map(|(a, _)| a.clone()).collect(),
            days: asked.days,
            reason: asked.reason.clone(),
        };
        let fresh = check(tx.conn(), &again, None, now).await?;
        if fresh.tenant_id != c.tenant() {
            return Err(AppError::Conflict(
                "The domain changed hands meanwhile.".into(),
            ));
        }
        let (id, state) = insert(st, tx, g, &fresh, Some(c), now).await?;
        let until = fresh
            .days
            .and_then(|d| chrono::DateTime::from_timestamp(now + d * 86400, 0))
            .map(|t| format!(" until {}", t.format("%Y-%m-%d")))
            .unwrap_or_default();
        let to = fresh
            .targets
            .iter()
            .map(|(a, _)| a.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let summary = if state == "unconfirmed" {
            format!(
                "Approved: mail for {} will go to {to}{until} once the recipient confirms (route {id}).",
                fresh.source
            )
        } else {
            format!(
                "Mail for {} goes to {to}{until} (route {id}).",
                fresh.source
            )
        };
        Ok(Applied {
            summary,
            after: json!({ "route": id, "renewed": fresh.renews }),
        })
    }
    async fn roll_back(
        &self,
        _st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        original: &ChangeRequest,
        now: i64,
    ) -> AppResult<String> {
        roll_back_route(tx, g, original, now).await
    }
}

/// A route request in words: where mail for the address goes now and where it would go.
fn describe_route(c: &ChangeRequest) -> crate::types::Described {
    let Ok(asked) = serde_json::from_str::<Checked>(&c.payload) else {
        return crate::types::Described {
            summary: format!("{}: {}", c.kind_label(), c.target_label),
            rows: Vec::new(),
        };
    };
    let before: Value = serde_json::from_str(&c.before).unwrap_or(Value::Null);
    let old = &before["route"];
    let src = readable(&asked.source);
    let mut to: Vec<String> = asked.targets.iter().map(|(a, _)| readable(a)).collect();
    let mut was: Vec<String> = old["targets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["address"].as_str().map(readable))
                .collect()
        })
        .unwrap_or_default();
    // A mailbox keeps its own copy: a forward adds to it.
    if asked.kind == "forward" && asked.source_mailbox_id.is_some() {
        was.insert(0, src.clone());
        to.insert(0, src.clone());
    }
    let days = asked
        .days
        .map(|d| format!(" for {d} days"))
        .unwrap_or_default();
    let domain = src.trim_start_matches('@').to_string();
    let summary = match asked.kind.as_str() {
        "forward" => format!(
            "Forward mail for {src} to {}{days}.",
            asked
                .targets
                .iter()
                .map(|(a, _)| readable(a))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "catchall" => format!(
            "Deliver mail for any address at {domain} that is not a mailbox or alias to {}{days}.",
            to.join(", ")
        ),
        _ => format!("Deliver mail for {src} to {}.", to.join(", ")),
    };
    let nowhere = if asked.kind == "catchall" {
        "refused (no catch-all)"
    } else {
        "refused (no such address)"
    };
    let ends = |e: Option<i64>| {
        e.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| "never".into())
    };
    let mut rows = vec![ChangeRow::new(
        if asked.kind == "catchall" {
            "Unknown addresses go to"
        } else {
            "Mail goes to"
        },
        if was.is_empty() {
            nowhere.to_string()
        } else {
            was.join(", ")
        },
        to.join(", "),
    )];
    rows.push(ChangeRow::new(
        "Ends",
        if old.is_null() {
            "—".to_string()
        } else {
            ends(old["expires_at"].as_i64())
        },
        match asked.days {
            Some(d) => format!("{d} days after approval"),
            None => "never (until turned off)".into(),
        },
    ));
    if asked.kind == "forward" {
        rows.push(ChangeRow::new(
            "Leaves the agency's mail",
            if old.is_null() { "no" } else { "yes" },
            "yes: copies go to an outside address",
        ));
    }
    crate::types::Described { summary, rows }
}

/// Undoes an applied change that made a route (a routing request or an offboarding alias):
/// the route it made ends, and a live route it replaced (a renewed forward) is live again
/// unless it has expired meanwhile. Refused when the route it made has ended already or
/// another route has taken the address since.
pub async fn roll_back_route(
    tx: &mut Tx,
    g: &Granted<'_>,
    original: &ChangeRequest,
    now: i64,
) -> AppResult<String> {
    let after: Value = original
        .after
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(AppError::internal)?
        .unwrap_or(Value::Null);
    let route_id = after["route"].as_str().map(str::to_string);
    let made = match &route_id {
        Some(id) => route_by_id(tx.conn(), id).await?,
        None => None,
    }
    .ok_or_else(|| AppError::Conflict("This change made no route to undo.".into()))?;
    if !matches!(made.state.as_str(), "active" | "unconfirmed") {
        let when = made
            .ended_at
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map(|t| format!(" on {}", t.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default();
        return Err(AppError::Conflict(format!(
            "The route for {} changed since: it is {}{when} ({}). There is nothing left to undo.",
            made.source,
            made.state,
            made.ended_reason.clone().unwrap_or_default()
        )));
    }
    let why = format!("rolled back ({})", original.id);
    end_route(tx.conn(), g, &made.id, "removed", &why, now).await?;
    let domain_id = route_domain(tx.conn(), &made.id).await?;
    sync_catch_all(tx.conn(), g, &domain_id).await?;
    let ev = Event::new("route.disabled")
        .target(domain_id.clone())
        .tenant(made.tenant_id.clone())
        .details(json!({
            "route": made.id, "kind": made.kind, "source": made.source, "reason": why,
            "before": made, "after": route_by_id(tx.conn(), &made.id).await?,
        }));
    record(tx, g.actor, now, ev).await?;
    let mut said = format!("The route for {} is off.", made.source);
    if let Some(old_id) = after["renewed"].as_str() {
        let old = route_by_id(tx.conn(), old_id).await?;
        let before_state = serde_json::from_str::<Value>(&original.before)
            .ok()
            .and_then(|b| b["route"]["state"].as_str().map(str::to_string))
            .unwrap_or_else(|| "active".into());
        match old {
            Some(o)
                if o.state == "removed"
                    && o.ended_reason.as_deref() == Some("renewed")
                    && o.expires_at.is_none_or(|e| e > now) =>
            {
                store::restore(tx.conn(), g, &o.tenant_id, &o.id, &before_state).await?;
                sync_catch_all(tx.conn(), g, &domain_id).await?;
                let ev = Event::new("route.restored")
                    .target(domain_id.clone())
                    .tenant(o.tenant_id.clone())
                    .details(json!({
                        "route": o.id, "source": o.source, "reason": why,
                        "before": o, "after": route_by_id(tx.conn(), &o.id).await?,
                    }));
                record(tx, g.actor, now, ev).await?;
                said.push_str(" The route it replaced is back as it was.");
            }
            Some(_) => said.push_str(
                " The route it replaced has expired or was ended since, so it stays off.",
            ),
            None => {}
        }
    }
    Ok(said)
}

async fn route_domain(conn: &mut AnyConnection, route_id: &str) -> AppResult<String> {
    store::domain_of(conn, route_id).await
}

/// Writes a checked route (renewing a live forward ends it first) and its audit event;
/// external recipients get a confirmation link if the tenant asks for one.
async fn insert(
    st: &AppState,
    tx: &mut Tx,
    g: &Granted<'_>,
    c: &Checked,
    change: Option<&ChangeRequest>,
    now: i64,
) -> AppResult<(String, &'static str)> {
    let pol = policy(tx.conn(), &c.tenant_id).await?;
    let before = live_route_for(tx.conn(), &c.source).await?;
    if let Some(old) = &c.renews {
        end_route(tx.conn(), g, old, "removed", "renewed", now).await?;
    }
    let confirm = pol.confirmation && c.kind == "forward";
    let state = if confirm { "unconfirmed" } else { "active" };
    let id = secrets::new_id("rte");
    let expires = c.days.map(|d| now + d * 86400);
    let mut links = Vec::new();
    let mut hashes = Vec::with_capacity(c.targets.len());
    for (addr, mailbox) in &c.targets {
        let external = mailbox.is_none() && c.kind == "forward";
        hashes.push(if external && confirm {
            let token = secrets::new_token("mwf_");
            links.push((addr.clone(), token.clone()));
            Some(secrets::sha256_hex(&token))
        } else {
            None
        });
    }
    let targets: Vec<store::NewTarget> = c
        .targets
        .iter()
        .zip(&hashes)
        .map(|((addr, mailbox), hash)| store::NewTarget {
            address: addr,
            mailbox_id: mailbox.as_deref(),
            external: mailbox.is_none() && c.kind == "forward",
            confirm_hash: hash.as_deref(),
            confirm_expires_at: hash.as_ref().map(|_| now + CONFIRM_TTL_SECS),
            confirmed_at: if hash.is_some() { None } else { Some(now) },
        })
        .collect();
    let (requested_by, requested_by_label) = match change {
        Some(ch) => (ch.requested_by.clone(), ch.requested_by_label.clone()),
        None => (g.actor.user_id.clone(), g.actor.label.clone()),
    };
    let approved_by = change.map(|_| g.actor.label.clone());
    store::insert(
        tx.conn(),
        g,
        &store::NewRow {
            id: &id,
            tenant_id: &c.tenant_id,
            domain_id: &c.domain_id,
            kind: &c.kind,
            source: &c.source,
            state,
            expires_at: expires,
            reason: &c.reason,
            change_request_id: change.map(|c| c.id.as_str()),
            requested_by: requested_by.as_deref(),
            requested_by_label: &requested_by_label,
            approved_by_label: approved_by.as_deref(),
        },
        &targets,
        now,
    )
    .await?;
    sync_catch_all(tx.conn(), g, &c.domain_id).await?;
    let after = route_by_id(tx.conn(), &id).await?;
    let ev = Event::new("route.enabled")
        .target(c.domain_id.clone())
        .tenant(c.tenant_id.clone())
        .details(json!({
            "route": id, "kind": c.kind, "source": c.source, "reason": c.reason,
            "change_request": change.map(|c| c.id.clone()),
            "renews": c.renews, "before": before, "after": after,
        }));
    record(tx, g.actor, now, ev).await?;
    for (to, token) in links {
        let link = format!("{}/routing/confirm/{token}", st.config.public_url());
        tx.mail_after_commit(Mail {
            to: to.clone(),
            subject: format!("Confirm forwarding from {}", c.source),
            body: format!(
                "Mail sent to {} is to be forwarded to you ({to}) until {}.\n\nIf you agree, \
                 confirm here (the link works once and expires in 7 days):\n\n{link}\n\nIf you do \
                 not know why, ignore this message: nothing is forwarded until you confirm.\n",
                c.source,
                expires
                    .and_then(|e| chrono::DateTime::from_timestamp(e, 0))
                    .map(|t| t.format("%Y-%m-%d").to_string())
                    .unwrap_or_default()
            ),
            link: None,
        });
    }
    Ok((id, state))
}

/// Keeps `domains.catch_all_enabled` in step with the domain's live catch-all route.
pub(crate) async fn sync_catch_all(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    domain_id: &str,
) -> AppResult<()> {
    let live = store::has_live_catch_all(&mut *conn, domain_id).await?;
    crate::tenancy::store::set_catch_all(conn, g, domain_id, live).await
}

/// Ends a live route; returns whether it was live.
async fn end_route(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    state: &str,
    why: &str,
    now: i64,
) -> AppResult<bool> {
    store::end(conn, g, id, state, why, now).await
}

/// Turns a route off at once (switching off is never held for approval). Audited with the
/// route before and after.
pub async fn disable(st: &AppState, actor: &Actor, id: &str, reason: &str) -> AppResult<Route> {
    let r = get(st, actor, id).await?;
    let g = authorize_in(actor, Action::ManageMailboxes, &r.tenant_id)?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AppError::invalid("Say why the route is turned off."));
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !end_route(tx.conn(), &g, &r.id, "removed", reason, now).await? {
        return Err(AppError::Conflict(format!(
            "This route is {} already.",
            r.state
        )));
    }
    let domain_id = route_domain(tx.conn(), &r.id).await?;
    sync_catch_all(tx.conn(), &g, &domain_id).await?;
    let after = route_by_id(tx.conn(), &r.id).await?;
    let ev = Event::new("route.disabled")
        .target(domain_id)
        .tenant(r.tenant_id.clone())
        .details(json!({
            "route": r.id, "kind": r.kind, "source": r.source, "reason": reason,
            "before": r, "after": after,
        }));
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await?;
    after.ok_or(AppError::NotFound)
}

fn joined(targets: &[(String, Option<String>, bool)]) -> String {
    targets
        .iter()
        .map(|(a, _, _)| a.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where an ended inbound route's mail goes when nothing takes its place.
fn refused(kind: &str, source: &str) -> String {
    if kind == "catchall" {
        format!(
            "mail for unknown addresses at {} is refused",
            source.trim_start_matches('@')
        )
    } else {
        format!("mail to {source} is refused (it bounces)")
    }
}

/// The live routes from or to a mailbox (but its offboarding alias), each named with what
/// becomes of its mail if offboarding just ends it: the offboarding preview.
pub async fn routes_of_mailbox(
    conn: &mut AnyConnection,
    mailbox_id: &str,
    address: &str,
) -> AppResult<Vec<MailboxRoute>> {
    let mut out = Vec::new();
    for (id, _, _) in store::live_about_mailbox(&mut *conn, mailbox_id, address).await? {
        let Some(r) = route_by_id(&mut *conn, &id).await? else {
            continue;
        };
        let targets = store::targets_of(&mut *conn, &id).await?;
        let inbound = r.source != address;
        let others: Vec<_> = targets
            .iter()
            .filter(|(_, m, _)| m.as_deref() != Some(mailbox_id))
            .cloned()
            .collect();
        let fate = if !inbound {
            format!(
                "Ends: mail to {address} is no longer sent on to {}.",
                joined(&targets)
            )
        } else if !others.is_empty() {
            format!(
                "Goes on to {} only, unless you re-point it.",
                joined(&others)
            )
        } else {
            format!(
                "Ends: {}, unless you re-point it to a colleague.",
                refused(r.kind.as_str(), &r.source)
            )
        };
        out.push(MailboxRoute {
            id,
            kind: r.kind_label().to_string(),
            source: r.source.clone(),
            targets: targets.into_iter().map(|(a, _, _)| a).collect(),
            inbound,
            fate,
        });
    }
    Ok(out)
}

/// Ends every route from or to a mailbox that is being offboarded (in its transaction). An
/// inbound route (an alias, a catch-all) keeps its other targets, and goes on to the colleague
/// named in `repoint` (route id, mailbox id, address): at once where the route would be made
/// at once (narrowing it, or an alias under the `direct` policy), otherwise as a change request
/// another person approves (mail to it is refused meanwhile). Says what became of each.
#[allow(clippy::too_many_arguments)]
pub async fn end_for_mailbox(
    st: &AppState,
    tx: &mut Tx,
    g: &Granted<'_>,
    mailbox_id: &str,
    address: &str,
    repoint: &[(String, String, String)],
    why: &str,
    now: i64,
) -> AppResult<Vec<MailboxRoute>> {
    let mut out = routes_of_mailbox(tx.conn(), mailbox_id, address).await?;
    for item in &mut out {
        let before = route_by_id(tx.conn(), &item.id)
            .await?
            .ok_or(AppError::NotFound)?;
        let targets = store::targets_of(tx.conn(), &item.id).await?;
        end_route(tx.conn(), g, &item.id, "removed", "mailbox offboarded", now).await?;
        let domain = route_domain(tx.conn(), &item.id).await?;
        sync_catch_all(tx.conn(), g, &domain).await?;
        let ev = Event::new("route.disabled")
            .target(domain.clone())
            .tenant(before.tenant_id.clone())
            .details(json!({
                "route": item.id, "kind": before.kind, "source": before.source,
                "reason": "mailbox offboarded", "mailbox": address,
                "before": before, "after": route_by_id(tx.conn(), &item.id).await?,
            }));
        record(tx, g.actor, now, ev).await?;
        if !item.inbound {
            item.fate = format!(
                "Ended: mail to {address} is no longer sent on to {}.",
                joined(&targets)
            );
            continue;
        }
        let mut next: Vec<(String, Option<String>)> = targets
            .iter()
            .filter(|(_, m, _)| m.as_deref() != Some(mailbox_id))
            .map(|(a, m, _)| (a.clone(), m.clone()))
            .collect();
        let colleague = repoint
            .iter()
            .find(|(r, _, _)| *r == item.id)
            .map(|(_, id, a)| (id.clone(), a.clone()));
        let widened = match &colleague {
            Some((id, a)) if !next.iter().any(|(_, m)| m.as_deref() == Some(id)) => {
                next.push((a.clone(), Some(id.clone())));
                true
            }
            _ => false,
        };
        if next.is_empty() {
            item.fate = format!("Ended: {}.", refused(before.kind.as_str(), &before.source));
            continue;
        }
        let to = next
            .iter()
            .map(|(a, _)| a.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let checked = Checked {
            kind: before.kind.as_str().to_string(),
            tenant_id: before.tenant_id.clone(),
            domain_id: domain.clone(),
            source: before.source.clone(),
            source_mailbox_id: None,
            targets: next,
            days: before
                .expires_at
                .map(|e| ((e - now + 86399) / 86400).clamp(1, MAX_DAYS)),
            reason: format!("{address} offboarded: {why}"),
            renews: None,
        };
        let direct = !widened
            || (before.kind.as_str() == "alias"
                && policy(tx.conn(), &before.tenant_id).await?.alias_policy == "direct");
        if direct {
            let (id, _) = insert(st, tx, g, &checked, None, now).await?;
            item.fate = if widened {
                format!(
                    "Re-pointed: mail to {} now goes to {to} (route {id}).",
                    before.source
                )
            } else {
                format!(
                    "Mail to {} now goes to {to} only (route {id}).",
                    before.source
                )
            };
        } else {
            let change_id = changes::submit(
                st,
                tx,
                g,
                NewChange {
                    tenant_id: Some(&checked.tenant_id),
                    kind: change_kind(&checked.kind),
                    target_id: &domain,
                    target_label: &checked.source,
                    payload: serde_json::to_value(&checked).map_err(AppError::internal)?,
                    before: json!({ "route": before }),
                    rollback: Some(json!({ "disable_route_for": checked.source })),
                    reason: &checked.reason,
                },
                None,
                now,
            )
            .await?;
            item.fate = format!(
                "Ended; re-pointing it to {to} waits for another person's approval \
                 ({change_id}). Until then {}.",
                refused(before.kind.as_str(), &before.source)
            );
        }
    }
    Ok(out)
}

/// A lock (suspected compromise) suspends the mailbox's external forwards in its transaction:
/// they end at once (audited, `suspended`), and come back only through a new request another
/// person approves. Says what was suspended.
pub async fn suspend_forwards(
    tx: &mut Tx,
    g: &Granted<'_>,
    address: &str,
    why: &str,
    now: i64,
) -> AppResult<Vec<MailboxRoute>> {
    let mut out = Vec::new();
    for (id, domain, tenant) in store::live_forwards_from(tx.conn(), address).await? {
        let before = route_by_id(tx.conn(), &id).await?;
        let targets = store::targets_of(tx.conn(), &id).await?;
        let ended = format!("suspended: {why}");
        if !end_route(tx.conn(), g, &id, "removed", &ended, now).await? {
            continue;
        }
        let ev = Event::new("route.disabled")
            .target(domain)
            .tenant(tenant)
            .details(json!({
                "route": id, "kind": "forward", "source": address, "reason": ended,
                "suspended": true, "before": before, "after": route_by_id(tx.conn(), &id).await?,
            }));
        record(tx, g.actor, now, ev).await?;
        out.push(MailboxRoute {
            id,
            kind: crate::routing::kind_label("forward").to_string(),
            source: address.to_string(),
            fate: format!(
                "Suspended: mail to {address} is no longer forwarded to {}. It comes back only \
                 through a new request that another person approves.",
                joined(&targets)
            ),
            targets: targets.into_iter().map(|(a, _, _)| a).collect(),
            inbound: false,
        });
    }
    Ok(out)
}

/// Writes the offboarding alias of an approved offboarding (the mailboxes service has
/// checked the colleague): mail to the old address goes to them for `days`.
#[allow(clippy::too_many_arguments)]
pub async fn insert_offboarding_alias(
    st: &AppState,
    tx: &mut Tx,
    g: &Granted<'_>,
    c: &ChangeRequest,
    address: &str,
    target_id: &str,
    target_address: &str,
    days: i64,
    now: i64,
) -> AppResult<String> {
    let domain_id = crate::mailboxes::store::domain_of(tx.conn(), address)
        .await?
        .ok_or(AppError::NotFound)?;
    let checked = Checked {
        kind: "offboarding".into(),
        tenant_id: c.tenant().to_string(),
        domain_id,
        source: address.to_string(),
        source_mailbox_id: None,
        targets: vec![(target_address.to_string(), Some(target_id.to_string()))],
        days: Some(days),
        reason: c.reason.clone(),
        renews: None,
    };
    Ok(insert(st, tx, g, &checked, Some(c), now).await?.0)
}

/// The alias an offboarding leaves (change kind `mailbox.alias`, requested by the mailboxes
/// capability's offboarding): applying makes the route that takes the old address's mail to
/// the colleague until it expires; rolling back ends it.
pub(crate) struct OffboardingAliasKind;

#[async_trait::async_trait]
impl ChangeKind for OffboardingAliasKind {
    fn kind(&self) -> &'static str {
        "mailbox.alias"
    }
    fn action(&self) -> Action {
        Action::ManageMailboxes
    }
    fn describe(&self, c: &ChangeRequest) -> crate::types::Described {
        let p: Value = serde_json::from_str(&c.payload).unwrap_or(Value::Null);
        let (address, target) = (
            readable(p["address"].as_str().unwrap_or(&c.target_label)),
            readable(p["target"].as_str().unwrap_or("?")),
        );
        let days = p["days"].as_i64().unwrap_or(0);
        crate::types::Described {
            summary: format!(
                "After {address} is offboarded, deliver its mail to {target} for {days} days."
            ),
            rows: vec![
                ChangeRow::new(
                    "Mail for the address goes to",
                    "refused (offboarded)",
                    target,
                ),
                ChangeRow::new("Ends", "—", format!("{days} days after approval")),
            ],
        }
    }
    async fn apply(
        &self,
        st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        c: &ChangeRequest,
        now: i64,
    ) -> AppResult<Applied> {
        let payload: serde_json::Value =
            serde_json::from_str(&c.payload).map_err(AppError::internal)?;
        let address = payload["address"].as_str().unwrap_or_default().to_string();
        let target_id = payload["target_mailbox_id"].as_str().unwrap_or_default();
        let days = payload["days"]
            .as_i64()
            .unwrap_or(0)
            .clamp(1, crate::mailboxes::MAX_ALIAS_DAYS);
        let (t, _) = crate::mailboxes::store::credentials(tx.conn(), target_id)
            .await?
            .ok_or_else(|| AppError::Conflict("The colleague's mailbox is gone.".into()))?;
        if t.status != "active" || t.tenant_id != c.tenant() {
            return Err(AppError::Conflict(format!(
                "{} is {} now: the alias no longer applies.",
                t.address, t.status
            )));
        }
        let expires = now + days * 86400;
        let route =
            insert_offboarding_alias(st, tx, g, c, &address, &t.id, &t.address, days, now).await?;
        let until = chrono::DateTime::from_timestamp(expires, 0)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        Ok(Applied {
            summary: format!("Mail to {address} goes to {} until {until}.", t.address),
            after: json!({ "route": route, "renewed": null }),
        })
    }
    async fn roll_back(
        &self,
        _st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        original: &ChangeRequest,
        now: i64,
    ) -> AppResult<String> {
        roll_back_route(tx, g, original, now).await
    }
}

/// The routes from and to a mailbox, which offboarding ends and a lock suspends (registered
/// with the kinds).
pub(crate) struct RoutesOfMailbox;

#[async_trait::async_trait]
impl crate::core::registry::MailboxLinks for RoutesOfMailbox {
    fn what(&self) -> &'static str {
        "Routes from or to the mailbox"
    }
    async fn list(
        &self,
        conn: &mut AnyConnection,
        mailbox_id: &str,
        address: &str,
    ) -> AppResult<Vec<MailboxRoute>> {
        routes_of_mailbox(conn, mailbox_id, address).await
    }
    async fn end(
        &self,
        st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        mailbox_id: &str,
        address: &str,
        repoint: &[(String, String, String)],
        why: &str,
        now: i64,
    ) -> AppResult<Vec<MailboxRoute>> {
        end_for_mailbox(st, tx, g, mailbox_id, address, repoint, why, now).await
    }
    async fn suspend(
        &self,
        tx: &mut Tx,
        g: &Granted<'_>,
        address: &str,
        why: &str,
        now: i64,
    ) -> AppResult<Vec<MailboxRoute>> {
        suspend_forwards(tx, g, address, why, now).await
    }
}
