//! The audit chain: intact after real activity, and any edit, deletion or out-of-chain
//! insertion is found; exports.
use mailward_tests::{both, Backend, TestApp};

async fn chain_verifies_and_detects_tampering(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    app.browser()
        .sign_in(&owner.email, "wrong password here", "")
        .await;
    owner
        .browser
        .post("/operators/invite", &[("email", "oscar@agency.example")])
        .await;
    let report = app::audit::service::verify(&app.state.db).await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert!(report.events >= 6);

    // Hand-edit one row.
    sqlx::query("UPDATE audit_events SET actor_label = 'someone-else' WHERE seq = 3")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let r = app::audit::service::verify(&app.state.db).await.unwrap();
    assert_eq!(r.first_broken, Some(3), "{r:?}");
    sqlx::query("UPDATE audit_events SET actor_label = $1 WHERE seq = 3")
        .bind(owner.email.clone())
        .execute(app.state.db.pool())
        .await
        .unwrap();
    assert!(app::audit::service::verify(&app.state.db)
        .await
        .unwrap()
        .ok());

    // Delete the newest row (the head still remembers it).
    let last = report.events;
    sqlx::query("DELETE FROM audit_events WHERE seq = $1")
        .bind(last)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let r = app::audit::service::verify(&app.state.db).await.unwrap();
    assert_eq!(r.first_broken, Some(last), "{r:?}");
}
both!(chain_verifies_and_detects_tampering);

async fn deleted_middle_row_and_cli_exit_code(b: Backend) {
    let app = TestApp::start(b).await;
    let _owner = app.setup_owner().await;
    sqlx::query("DELETE FROM audit_events WHERE seq = 2")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let r = app::audit::service::verify(&app.state.db).await.unwrap();
    assert_eq!(r.first_broken, Some(2));
    // `mailward audit verify` says so with a non-zero exit and the event's number.
    let out = app
        .cli()
        .args(["audit", "verify"])
        .output()
        .expect("run mailward");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("BROKEN at event 2"), "{stdout}");
}
both!(deleted_middle_row_and_cli_exit_code);

async fn concurrent_writers_keep_one_chain(b: Backend) {
    let app = TestApp::start(b).await;
    let _owner = app.setup_owner().await;
    let mut tasks = vec![];
    for i in 0..20 {
        let st = app.state.clone();
        tasks.push(tokio::spawn(async move {
            let actor = app::core::authz::Actor::system("load");
            app::audit::service::record_alone(
                &st.db,
                &actor,
                st.clock.now(),
                app::audit::service::Event::new("test.concurrent").target(format!("n{i}")),
            )
            .await
            .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let r = app::audit::service::verify(&app.state.db).await.unwrap();
    assert!(r.ok(), "{r:?}");
}
both!(concurrent_writers_keep_one_chain);

async fn export_csv_and_jsonl(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let r = owner.browser.get("/audit/export.csv?action=auth.").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("mailward-audit.csv"));
    let csv = r.text().await.unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("seq,time_utc,actor_id"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{csv}"); // totp_enrolled, recovery_codes_issued
    let jsonl = owner.browser.get_text("/audit/export.jsonl").await;
    let events: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 4);
    assert_eq!(events[0]["seq"], 4, "newest first");
    // Anonymous visitors get nothing.
    assert_ne!(app.browser().get("/audit/export.csv").await.status(), 200);
}
both!(export_csv_and_jsonl);

/// Someone who can write the database removes the newest events and moves the head back:
/// the chain alone looks whole, but a checkpoint taken before finds it. Rewriting an event
/// and re-hashing the chain without the audit key is found too, and so is a forged checkpoint.
async fn checkpoints_find_truncation_and_the_key_finds_rewrites(b: Backend) {
    use app::audit::service as audit;
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    owner
        .browser
        .post("/operators/invite", &[("email", "oscar@agency.example")])
        .await;
    let cp = audit::checkpoint(&app.state.db, app.state.clock.now())
        .await
        .unwrap();
    assert!(audit::verify_with(&app.state.db, &[cp.clone()])
        .await
        .unwrap()
        .ok());
    let before = cp.seq;
    assert!(before >= 5);
    // Truncate the two newest events and set the head to the new last one.
    sqlx::query("DELETE FROM audit_events WHERE seq > $1")
        .bind(before - 2)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    sqlx::query(
        "UPDATE audit_head SET seq = $1, hash = (SELECT hash FROM audit_events WHERE seq = $1) WHERE id = 1",
    )
    .bind(before - 2)
    .execute(app.state.db.pool())
    .await
    .unwrap();
    assert!(
        audit::verify(&app.state.db).await.unwrap().ok(),
        "undetectable without a checkpoint"
    );
    let r = audit::verify_with(&app.state.db, &[cp.clone()])
        .await
        .unwrap();
    assert_eq!(r.first_broken, Some(before - 1), "{r:?}");
    assert!(r.reason.unwrap().contains("events were removed"));
    // The CLI: checkpoint file in, exit 1 out.
    let dir = std::env::temp_dir().join(format!("mw-cp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{}-{:?}.jsonl", before, b));
    std::fs::write(&file, format!("{}\n", serde_json::to_string(&cp).unwrap())).unwrap();
    let out = app
        .cli()
        .args(["audit", "verify", "--checkpoint"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("events were removed"), "{stdout}");
    // `audit checkpoint` prints a checkpoint the same key verifies.
    let out = app.cli().args(["audit", "checkpoint"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fresh = audit::parse_checkpoints(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(fresh[0].seq, before - 2);
    assert!(audit::verify_with(&app.state.db, &fresh)
        .await
        .unwrap()
        .ok());
    // A forged checkpoint is refused.
    let mut forged = fresh[0].clone();
    forged.seq += 1;
    assert!(!audit::verify_with(&app.state.db, &[forged])
        .await
        .unwrap()
        .ok());

    // Rewrite event 2 and re-chain everything after it with plain SHA-256 (all a database
    // writer can compute): every event is keyed, so the rewrite shows at event 2.
    let rows: Vec<app::audit::AuditEvent> = audit::list(
        &app.state.db,
        &app::core::authz::authorize(
            &app::core::authz::Actor::system("t"),
            app::core::authz::Action::ViewAudit,
        )
        .unwrap(),
        &app::audit::AuditFilter {
            limit: Some(500),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .events;
    let mut rows = rows;
    rows.reverse();
    let mut prev = rows[0].hash.clone();
    for e in rows.iter_mut().skip(1) {
        if e.seq == 2 {
            e.actor_label = "someone-else".into();
        }
        use sha2::{Digest, Sha256};
        let canon = serde_json::json!({
            "seq": e.seq, "at": e.at, "actor_id": e.actor_id, "actor_label": e.actor_label,
            "action": e.action, "target": e.target, "tenant_id": e.tenant_id, "ip": e.ip,
            "user_agent": e.user_agent, "details": e.details,
        });
        let mut h = Sha256::new();
        h.update(prev.as_bytes());
        h.update(b"\n");
        h.update(serde_json::to_vec(&canon).unwrap());
        let hash = hex::encode(h.finalize());
        sqlx::query(
            "UPDATE audit_events SET actor_label = $1, prev_hash = $2, hash = $3 WHERE seq = $4",
        )
        .bind(e.actor_label.clone())
        .bind(prev.clone())
        .bind(hash.clone())
        .bind(e.seq)
        .execute(app.state.db.pool())
        .await
        .unwrap();
        prev = hash;
    }
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(prev)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let r = audit::verify(&app.state.db).await.unwrap();
    assert_eq!(r.first_broken, Some(2), "{r:?}");
}
both!(checkpoints_find_truncation_and_the_key_finds_rewrites);

/// A second instance started with another audit key refuses to write to this chain.
async fn another_audit_key_is_refused(b: Backend) {
    let app = TestApp::start(b).await;
    let dir = std::env::temp_dir().join(format!("mw-otherkey-{}-{:?}", std::process::id(), b));
    std::fs::create_dir_all(&dir).unwrap();
    let out = app
        .cli()
        .env("MAILWARD_AUDIT_KEY_FILE", dir.join("other.key"))
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("keyed with another audit key"), "{err}");
}
both!(another_audit_key_is_refused);

/// An unauthenticated visitor's User-Agent reaches the audit log; the CSV export neutralises
/// it so a spreadsheet shows text, not a formula.
async fn csv_export_neutralises_formulas(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let evil = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("=HYPERLINK(\"http://evil.example/\",\"click\")")
        .build()
        .unwrap();
    evil.post(app.url("/login"))
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("email", "x@agency.example"),
            ("password", "wrong wrong wrong"),
        ])
        .send()
        .await
        .unwrap();
    let csv = owner
        .browser
        .get_text("/audit/export.csv?action=auth.signin_failed")
        .await;
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"http://evil.example/\"\""),
        "{csv}"
    );
    assert!(
        !csv.contains(",=HYPERLINK") && !csv.contains(",\"=HYPERLINK"),
        "{csv}"
    );
}
both!(csv_export_neutralises_formulas);

/// A transaction cannot commit a change without its audit event: the commit is refused and
/// the change rolled back. With the event it commits.
async fn a_change_without_its_event_does_not_commit(b: Backend) {
    use app::audit::service::{record, Event};
    let app = TestApp::start(b).await;
    let (slug, _) = app.tenant_with_domains("plan_starter", &[]).await;
    let rename = |name: &'static str| {
        let slug = slug.clone();
        let st = app.state.clone();
        async move {
            let mut tx = st.db.begin().await.unwrap();
            sqlx::query("UPDATE tenants SET contact_name = $1 WHERE slug = $2")
                .bind(name)
                .bind(slug)
                .execute(tx.conn())
                .await
                .unwrap();
            tx
        }
    };
    let tx = rename("Nobody logged this").await;
    let r = tx.commit().await;
    assert!(
        matches!(&r, Err(app::core::AppError::Internal(m)) if m.contains("without its audit event")),
        "{r:?}"
    );
    let tx = rename("Nor this").await;
    assert!(tx.commit_outbox().await.is_err());
    let n = app
        .count(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM tenants WHERE slug = '{slug}' AND contact_name LIKE 'No%'"
        ))
        .await;
    assert_eq!(n, 0, "neither change was committed");
    let mut tx = rename("Logged").await;
    let sys = app::core::authz::Actor::system("test");
    record(&mut tx, &sys, 0, Event::new("tenant.renamed"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let n = app
        .count(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM tenants WHERE slug = '{slug}' AND contact_name = 'Logged'"
        ))
        .await;
    assert_eq!(n, 1);
}
both!(a_change_without_its_event_does_not_commit);

fn event(action: &str, target: Option<&str>, details: serde_json::Value) -> app::audit::AuditEvent {
    app::audit::AuditEvent {
        seq: 1,
        at: 0,
        actor_id: None,
        actor_label: "Otto Operator".into(),
        action: action.into(),
        target: target.map(str::to_string),
        tenant_id: None,
        ip: None,
        user_agent: None,
        details: details.to_string(),
        prev_hash: String::new(),
        hash: String::new(),
    }
}

/// Events read as sentences naming their object as the event recorded it (Unicode names
/// readable), linked to where it lives; an action without its own verb still reads.
#[test]
fn events_read_as_sentences() {
    use serde_json::json;
    let s = event(
        "mailbox.created",
        Some("mbx_1"),
        json!({"address": "anna@xn--bcher-kva.example"}),
    )
    .sentence();
    assert_eq!(s.before, "Otto Operator created the mailbox");
    assert_eq!(s.object.as_deref(), Some("anna@bücher.example"));
    assert_eq!(s.href.as_deref(), Some("/mailboxes/mbx_1"));
    let s = event(
        "route.disabled",
        Some("dom_1"),
        json!({"source": "sales@acme.example", "reason": "mailbox offboarded"}),
    )
    .sentence();
    assert_eq!(
        (
            s.before.as_str(),
            s.object.as_deref(),
            s.href.as_deref(),
            s.after.as_str()
        ),
        (
            "Otto Operator turned off the route for",
            Some("sales@acme.example"),
            Some("/routing?domain=dom_1&state=all"),
            " (mailbox offboarded)"
        )
    );
    // An action without a verb of its own (none the code records: see below) still reads.
    let s = event(
        "future.thing_happened",
        Some("x_1"),
        json!({"name": "Spring SPF"}),
    )
    .sentence();
    assert_eq!(s.before, "Otto Operator — future: thing happened");
    assert_eq!(s.object.as_deref(), Some("Spring SPF"));
    // A change of one value says from what to what.
    let s = event(
        "tenant.plan_changed",
        Some("ten_1"),
        json!({"before": "Starter", "after": "Pro"}),
    )
    .sentence();
    assert_eq!(
        format!("{} {}", s.before, s.after.trim()),
        "Otto Operator changed a tenant's plan (from “Starter” to “Pro”)"
    );
    // A catch-all reads as everywhere else: *@domain.
    let s = event(
        "route.enabled",
        Some("dom_1"),
        json!({"source": "@acme.example"}),
    )
    .sentence();
    assert_eq!(s.object.as_deref(), Some("*@acme.example"));
    let s = event(
        "change.applied",
        Some("chg_1"),
        json!({"kind": "routing.catchall"}),
    )
    .sentence();
    assert_eq!(
        s.object.as_deref(),
        Some("a change"),
        "an older event without its target"
    );
    // An object the event did not name still reads whole.
    let s = event("mailbox.offboarding_verified", Some("mbx_9"), json!({})).sentence();
    assert_eq!(
        (s.before.as_str(), s.object.as_deref(), s.href.as_deref()),
        (
            "Otto Operator checked the offboarding of",
            Some("a mailbox"),
            Some("/mailboxes/mbx_9")
        )
    );
    // An import links to its page.
    let s = event("import.started", Some("imp_1"), json!({})).sentence();
    assert_eq!(
        (s.before.as_str(), s.object.as_deref(), s.href.as_deref()),
        (
            "Otto Operator started",
            Some("a mailbox import"),
            Some("/imports/imp_1")
        )
    );
    // No name in the event: no dangling link.
    let s = event("mailbox.created", Some("mbx_2"), json!({})).sentence();
    assert_eq!((s.object, s.href), (None, None));
    // Hostile details are only text here (the page escapes them).
    let s = event(
        "mailbox.created",
        Some("mbx_3"),
        json!({"address": "<b>x</b>"}),
    )
    .sentence();
    assert_eq!(s.object.as_deref(), Some("<b>x</b>"));
}

/// Every action the code records (`Event::new("…")` anywhere in `app/src`) has words of its
/// own: none falls back to the action's code.
#[test]
fn every_recorded_action_reads_as_a_sentence() {
    fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                for part in text.split("Event::new(\"").skip(1) {
                    let action = part.split('"').next().unwrap();
                    if action.contains('.') {
                        out.push(action.to_string());
                    }
                }
            }
        }
    }
    let mut actions = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../app/src"),
        &mut actions,
    );
    actions.sort();
    actions.dedup();
    assert!(
        actions.len() > 80,
        "found the recorded actions: {}",
        actions.len()
    );
    let bare: Vec<&String> = actions
        .iter()
        .filter(|a| {
            event(a, Some("x_1"), serde_json::json!({}))
                .sentence()
                .before
                .contains(" — ")
        })
        .collect();
    assert!(bare.is_empty(), "actions without words: {bare:?}");
}

/// The log filters by tenant (short name) and by object (a mailbox's address, a domain's
/// name), in the page and its export; the page shows sentences with the JSON behind a
/// disclosure.
async fn audit_filters_by_tenant_and_object(b: Backend) {
    use app::core::authz::Actor;
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let (slug, domains) = app
        .tenant_with_domains("plan_starter", &["acme.example"])
        .await;
    let sys = Actor::system("test");
    for local in ["ann", "bob"] {
        app::mailboxes::service::create(
            &app.state,
            &sys,
            &app::mailboxes::NewMailbox {
                domain: Some(domains[0].clone()),
                address: local.into(),
                display_name: local.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let page = owner
        .browser
        .get_text("/audit?about=ann%40acme.example")
        .await;
    assert!(page.contains("created the mailbox"), "{page}");
    assert!(
        page.contains("ann@acme.example") && !page.contains("bob@acme.example"),
        "{page}"
    );
    assert!(page.contains("<summary") && page.contains("JSON"));
    let csv = owner
        .browser
        .get_text("/audit/export.csv?about=bob%40acme.example")
        .await;
    assert!(
        csv.contains("bob@acme.example") && !csv.contains("ann@acme.example"),
        "{csv}"
    );
    // A domain's events (its routes too) by its name.
    let page = owner.browser.get_text("/audit?about=acme.example").await;
    assert!(page.contains("added the domain"), "{page}");
    assert!(!page.contains("created the mailbox"), "{page}");
    // A tenant by its short name: the tenant's events, not the owner's sign-ins.
    let page = owner
        .browser
        .get_text(&format!("/audit?tenant={slug}"))
        .await;
    assert!(page.contains("created the tenant"), "{page}");
    assert!(!page.contains("auth.signin"), "{page}");
    // Something that is nobody's matches nothing.
    let page = owner
        .browser
        .get_text("/audit?about=nobody%40nowhere.example")
        .await;
    assert!(page.contains("No events match"), "{page}");
}
both!(audit_filters_by_tenant_and_object);
