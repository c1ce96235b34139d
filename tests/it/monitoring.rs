//! Monitoring over the real mail plane: Dovecot reports every IMAP authentication to
//! Mailward (authentication policy protocol). Twenty wrong passwords from one address raise
//! one alert, not twenty; a login from a network the account has not used raises the
//! anomaly alert; the policy endpoint refuses callers without the token; acknowledging and
//! resolving are audited and scoped.
use app::auth::Role;
use app::core::authz::{Actor, Principal, TenantScope};
use app::monitoring::notify::{self, NewDestination};
use app::monitoring::service as mon;
use app::monitoring::store::Failure;
use app::monitoring::RulesChange;
use mailward_tests::mailplane::MailPlane;
use mailward_tests::webhooks::WebhookReceiver;
use mailward_tests::{both, Backend};

use crate::routing::{world, World, PW};

/// A console user of `role` confined to `tenant`.
fn user(id: &str, label: &str, role: Role, tenant: &str) -> Actor {
    Actor::for_tests(
        Principal::User,
        Some(id.into()),
        label.into(),
        Some(role),
        TenantScope::Only(vec![tenant.into()]),
        None,
    )
}

async fn tenant_of(w: &World) -> String {
    sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
        .bind(&w.slug)
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap()
}

/// Waits until the alerts (not resolved) satisfy `ok` (reports land just after the login).
async fn alerts_until(
    st: &app::core::state::AppState,
    ok: impl Fn(&[app::monitoring::Alert]) -> bool,
) -> Vec<app::monitoring::Alert> {
    let sys = Actor::system("test");
    let mut last = vec![];
    for _ in 0..100 {
        last = mon::alerts(st, &sys, None).await.unwrap();
        if ok(&last) {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("alerts never got there: {last:#?}");
}

async fn mail_plane_logins_raise_alerts(b: Backend) {
    let w = world(b).await;
    let st = &w.app.state;
    let mp = MailPlane::start_reporting(&w.app).await;
    let ann = w.invited("ann", None).await;
    w.open_link(&ann, PW).await;
    // Alerts go out by e-mail (the test's relay sink) and to a signed webhook.
    let hook = WebhookReceiver::start().await;
    let op = crate::routing::person("usr_a");
    let add = |kind: &str, target: &str| NewDestination {
        kind: kind.into(),
        target: target.into(),
        min_severity: "warning".into(),
        ..Default::default()
    };
    notify::add_destination(st, &op, &add("email", "oncall@agency.example"))
        .await
        .unwrap();
    let (_, secret) = notify::add_destination(st, &op, &add("webhook", &hook.url))
        .await
        .unwrap();
    let secret = secret.expect("a webhook has a secret");
    assert!(secret.starts_with("whsec_"));
    hook.trust(&[&secret]);
    let mails_before = w.sink.messages().len();

    // Twenty wrong passwords from one address: one alert, fired for every failure after the
    // tenth (threshold 10 in 10 minutes).
    for _ in 0..20 {
        assert!(!mp.imap_login("ann@acme.example", "wrong password").await);
    }
    let list = alerts_until(st, |a| {
        a.iter()
            .any(|x| x.rule == "signin.failure_burst" && x.hits >= 11)
    })
    .await;
    let bursts: Vec<_> = list
        .iter()
        .filter(|a| a.rule == "signin.failure_burst")
        .collect();
    assert_eq!(bursts.len(), 1, "{list:#?}");
    let burst = bursts[0];
    assert_eq!(burst.hits, 11);
    assert!(burst.title.contains("from 127.0.0.1"), "{}", burst.title);
    assert!(burst.detail.contains("ann@acme.example"));
    assert_eq!(
        burst.tenant_id.as_deref(),
        Some(tenant_of(&w).await.as_str())
    );
    let raised: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'alert.raised'")
            .fetch_one(st.db.pool())
            .await
            .unwrap();
    assert_eq!(raised, 1, "one event for one alert");
    // One e-mail and one webhook for the burst, not twenty; the receiver verifies it.
    notify::deliver_due(st).await.unwrap();
    let mails: Vec<String> = w.sink.messages()[mails_before..].to_vec();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(
        mails[0].contains("To: oncall@agency.example"),
        "{}",
        mails[0]
    );
    assert!(
        mails[0].contains("failed sign-ins from 127.0.0.1"),
        "{}",
        mails[0]
    );
    let got = hook.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].verified, "the signature verifies: {got:?}");
    assert_eq!(got[0].body["type"], "alert.raised");
    assert_eq!(got[0].body["data"]["rule"], "signin.failure_burst");

    // Submission (SMTP AUTH through Dovecot) is reported too.
    let v = mp
        .submit("ann@acme.example", "wrong again", "ann@acme.example", "x")
        .await;
    assert_eq!(v["auth"], false, "{v}");
    let smtp_failures = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM signin_failures WHERE protocol = 'smtp'")
            .fetch_one(st.db.pool())
            .await
            .unwrap()
    };
    for _ in 0..50 {
        if smtp_failures().await > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // (Python's smtplib tries AUTH PLAIN, then AUTH LOGIN: two attempts, both recorded.)
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        (1..=2).contains(&smtp_failures().await),
        "the submission failure is recorded as smtp"
    );
    // Logins from the usual network teach Mailward the account's networks…
    assert!(mp.imap_login("ann@acme.example", PW).await);
    let seen = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM mail_networks")
            .fetch_one(st.db.pool())
            .await
            .unwrap()
    };
    for _ in 0..50 {
        if seen().await == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen().await, 1);
    let via: String = sqlx::query_scalar("SELECT via FROM mail_networks")
        .fetch_one(st.db.pool())
        .await
        .unwrap();
    assert_eq!(via, "password", "Dovecot says which passdb matched");
    // …and one from another network (another loopback /24) is an anomaly.
    assert!(
        mp.imap_login_from("127.0.9.7", "ann@acme.example", PW)
            .await
    );
    let list = alerts_until(st, |a| a.iter().any(|x| x.rule == "mail.new_network")).await;
    let anomaly = list.iter().find(|a| a.rule == "mail.new_network").unwrap();
    assert!(anomaly.title.contains("127.0.9.0/24"), "{}", anomaly.title);
    notify::deliver_due(st).await.unwrap();
    assert!(hook
        .received()
        .iter()
        .any(|r| r.verified && r.body["data"]["rule"] == "mail.new_network"));
    // Again from there: the same alert, not a new one.
    assert!(
        mp.imap_login_from("127.0.9.8", "ann@acme.example", PW)
            .await
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let list = mon::alerts(st, &Actor::system("t"), None).await.unwrap();
    assert_eq!(
        list.iter().filter(|a| a.rule == "mail.new_network").count(),
        1
    );

    // Acknowledge, then resolve, with a note: audited. A client viewer sees none of it; an
    // admin of another tenant cannot touch it.
    let tenant = tenant_of(&w).await;
    let admin = user("usr_adm", "Tess Admin", Role::TenantAdmin, &tenant);
    let stranger = user("usr_x", "Other Admin", Role::TenantAdmin, "ten_other");
    let viewer = user("usr_v", "Vic Viewer", Role::ClientViewer, &tenant);
    assert!(
        mon::alerts(st, &viewer, None).await.unwrap().is_empty(),
        "the tenant does not show its alerts to viewers"
    );
    assert!(mon::alerts(st, &stranger, None).await.unwrap().is_empty());
    let e = mon::act(st, &stranger, &burst.id, false, "")
        .await
        .unwrap_err();
    assert_eq!(e.status(), 404, "{e}");
    let a = mon::act(st, &admin, &burst.id, false, "looking at it")
        .await
        .unwrap();
    assert_eq!(a.state, "acknowledged");
    assert_eq!(a.acked_by.as_deref(), Some("Tess Admin"));
    let e = mon::act(st, &admin, &burst.id, false, "")
        .await
        .unwrap_err();
    assert_eq!(e.status(), 409, "{e}");
    let a = mon::act(st, &admin, &burst.id, true, "a client with an old password")
        .await
        .unwrap();
    assert_eq!(a.state, "resolved");
    let actions = w.app.audit_actions().await;
    for x in ["alert.raised", "alert.acknowledged", "alert.resolved"] {
        assert!(actions.contains(&x.to_string()), "{x}");
    }
    // Resolved: the next burst is a new alert.
    for _ in 0..10 {
        assert!(!mp.imap_login("ann@acme.example", "wrong again").await);
    }
    alerts_until(st, |a| {
        a.iter()
            .any(|x| x.rule == "signin.failure_burst" && x.id != burst.id)
    })
    .await;
}
both!(mail_plane_logins_raise_alerts);

/// The policy endpoint answers Dovecot only: no token, a wrong one, or garbage change nothing.
async fn the_policy_endpoint_wants_its_token(b: Backend) {
    let w = world(b).await;
    let url = format!("{}{}", w.app.base, app::monitoring::http::POLICY_PATH);
    let http = reqwest::Client::new();
    let body =
        r#"{"login":"ann@acme.example","remote":"192.0.2.1","protocol":"imap","success":false}"#;
    for token in [None, Some("0".repeat(64))] {
        let mut r = http
            .post(format!("{url}?command=report"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = &token {
            r = r.header("x-mailward-policy", t);
        }
        assert_eq!(r.send().await.unwrap().status(), 403);
    }
    let token = mon::policy_token(&w.app.state.config).unwrap();
    let r = http
        .post(format!("{url}?command=allow"))
        .header("content-type", "application/json")
        .header("x-mailward-policy", &token)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["status"], 0);
    let r = http
        .post(format!("{url}?command=report"))
        .header("content-type", "application/json")
        .header("x-mailward-policy", &token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signin_failures")
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(
        n, 0,
        "nothing was recorded from refused calls or the allow check"
    );
}
both!(the_policy_endpoint_wants_its_token);

/// The watcher turns audit events into alerts: console sign-in failures join the same burst
/// rule, DNS drift raises an alert that resolves itself when the records are back.
async fn the_watcher_reads_the_audit_log(b: Backend) {
    use app::audit::service::{record_alone, Event};
    let w = world(b).await;
    let st = &w.app.state;
    let tenant = tenant_of(&w).await;
    let anon = Actor::anonymous(Some("198.51.100.4".into()), None);
    for _ in 0..10 {
        let ev = Event::new("auth.signin_failed")
            .details(serde_json::json!({ "email": "boss@agency.example", "step": "password" }));
        record_alone(&st.db, &anon, st.clock.now(), ev)
            .await
            .unwrap();
    }
    let sys = Actor::system("dns scanner");
    let drift = Event::new("dns.drift")
        .target("dom_x")
        .tenant(tenant.clone())
        .details(serde_json::json!({ "domain": "acme.example", "health": { "before": "green", "after": "red" }, "reason": "DKIM key mw1 record missing" }));
    record_alone(&st.db, &sys, st.clock.now(), drift)
        .await
        .unwrap();
    assert!(mon::watch(st).await.unwrap() >= 11);
    let list = mon::alerts(st, &Actor::system("t"), None).await.unwrap();
    let burst = list
        .iter()
        .find(|a| a.rule == "signin.failure_burst")
        .expect("console failures burst");
    assert!(burst.title.contains("198.51.100.4"));
    assert!(
        burst.tenant_id.is_none(),
        "a console user's failures are the platform's"
    );
    let d = list.iter().find(|a| a.rule == "dns.drift").unwrap();
    assert_eq!(d.severity, "critical");
    assert_eq!(d.tenant_id.as_deref(), Some(tenant.as_str()));
    // Operators can alert from their own stack too.
    let m = reqwest::get(format!("{}/metrics", w.app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("mailward_alerts_open{severity=\"critical\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("mailward_alerts_raised_total{rule=\"dns.drift\"} 1"),
        "{m}"
    );
    // Reading again changes nothing (the cursor moved).
    assert_eq!(mon::watch(st).await.unwrap(), 0);
    // A forward approved by a second person: the routing alert.
    w.mailbox("ann").await;
    w.allow(&["partner.example"], false).await;
    let (alice, bob) = (
        crate::routing::person("usr_alice"),
        crate::routing::person("usr_bob"),
    );
    let change = crate::routing::queued(
        w.request(
            &alice,
            "forward",
            "ann@acme.example",
            &["ann@partner.example"],
            None,
        )
        .await,
    );
    w.approve(&bob, &change).await.unwrap();
    mon::watch(st).await.unwrap();
    let list = mon::alerts(st, &Actor::system("t"), None).await.unwrap();
    let fwd = list
        .iter()
        .find(|a| a.rule == "routing.enabled")
        .expect("the forward's alert");
    assert!(
        fwd.title
            .contains("Forwarding turned on for ann@acme.example"),
        "{}",
        fwd.title
    );
    assert!(fwd.detail.contains("partner.example"), "{}", fwd.detail);
    let cleared = Event::new("dns.drift_cleared")
        .target("dom_x")
        .tenant(tenant.clone())
        .details(serde_json::json!({ "domain": "acme.example" }));
    record_alone(&st.db, &sys, st.clock.now(), cleared)
        .await
        .unwrap();
    mon::watch(st).await.unwrap();
    let list = mon::alerts(st, &Actor::system("t"), Some("resolved"))
        .await
        .unwrap();
    let d = list.iter().find(|a| a.rule == "dns.drift").unwrap();
    assert_eq!(d.resolved_by.as_deref(), Some("monitoring"));
    // Access granted: an operator invited, a tenant admin invited — each its own alert.
    let owner = Actor::system("Olivia Owner");
    app::auth::service::invite_operator(st, &owner, "new-op@agency.example")
        .await
        .unwrap();
    app::auth::service::invite_tenant_user(
        st,
        &owner,
        &w.slug,
        "boss@acme.example",
        "tenant_admin",
    )
    .await
    .unwrap();
    mon::watch(st).await.unwrap();
    let list = mon::alerts(st, &Actor::system("t"), None).await.unwrap();
    let granted: Vec<_> = list.iter().filter(|a| a.rule == "access.granted").collect();
    assert_eq!(granted.len(), 2, "{granted:#?}");
    assert!(granted
        .iter()
        .any(|a| a.title == "Olivia Owner invited new-op@agency.example as operator"));
    let admin = granted
        .iter()
        .find(|a| a.title.contains("boss@acme.example as tenant admin"))
        .expect("the tenant admin's invitation");
    assert_eq!(admin.tenant_id.as_deref(), Some(tenant.as_str()));
    assert_eq!(admin.severity, "warning");
}
both!(the_watcher_reads_the_audit_log);

/// IMAP logins per second with and without reporting to Mailward (run by `bench/run` and by
/// hand: `cargo test -p mailward-tests --test it -- --ignored bench_mail_logins --nocapture`).
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn bench_mail_logins() {
    let n: usize = std::env::var("BENCH_LOGINS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    for report in [false, true] {
        let w = world(Backend::Sqlite).await;
        let mp = if report {
            MailPlane::start_reporting(&w.app).await
        } else {
            MailPlane::start(&w.app).await
        };
        let ann = w.invited("ann", None).await;
        w.open_link(&ann, PW).await;
        // Warm up (Dovecot's auth worker, the SQL connection).
        mp.client(&[
            "loginbench",
            &mp.imap.to_string(),
            "ann@acme.example",
            PW,
            "20",
        ])
        .await;
        let v = mp
            .client(&[
                "loginbench",
                &mp.imap.to_string(),
                "ann@acme.example",
                PW,
                &n.to_string(),
            ])
            .await;
        eprintln!(
            "bench mail logins: reporting={report} {n} logins, {:.1} logins/s ({:.2} s)",
            v["per_sec"].as_f64().unwrap(),
            v["secs"].as_f64().unwrap()
        );
        assert_eq!(v["ok"].as_u64(), Some(n as u64));
    }
}

/// Deliveries: a failing receiver is retried with backoff; a secret rotation sends both
/// signatures (a receiver that knows only the old secret still verifies); the daily cap per
/// rule holds; a test message goes out at once; a digest destination gets one message.
async fn deliveries_retry_rotate_and_cap(b: Backend) {
    use app::audit::service::{record_alone, Event};
    let w = world(b).await;
    let st = &w.app.state;
    let tenant = tenant_of(&w).await;
    let op = crate::routing::person("usr_a");
    let hook = WebhookReceiver::start().await;
    let (dest, secret) = notify::add_destination(
        st,
        &op,
        &NewDestination {
            kind: "webhook".into(),
            target: hook.url.clone(),
            tenant: w.slug.clone(),
            min_severity: "info".into(),
            daily_cap: Some(2),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let old = secret.unwrap();
    hook.trust(&[&old]);
    let (digest, _) = notify::add_destination(
        st,
        &op,
        &NewDestination {
            kind: "email".into(),
            target: "digest@agency.example".into(),
            tenant: w.slug.clone(),
            min_severity: "info".into(),
            digest: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // Bad input changes nothing.
    for bad in [
        ("webhook", "http://hooks.example/x"),
        ("webhook", "ftp://x"),
        ("email", "nope"),
        ("sms", "x"),
    ] {
        let e = notify::add_destination(
            st,
            &op,
            &NewDestination {
                kind: bad.0.into(),
                target: bad.1.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(e.status(), 422, "{bad:?}: {e}");
    }
    // A test message, at once.
    let t = notify::test_destination(st, &op, &dest.id).await.unwrap();
    assert_eq!(t.state, "sent", "{t:?}");
    // Three drift alerts of one rule: two are sent, the third is over the cap of 2 a day.
    let sys = Actor::system("dns scanner");
    for d in ["dom_a", "dom_b", "dom_c"] {
        let ev = Event::new("dns.drift").target(d).tenant(tenant.clone()).details(
            serde_json::json!({ "domain": format!("{d}.example"), "health": { "after": "amber" } }),
        );
        record_alone(&st.db, &sys, st.clock.now(), ev)
            .await
            .unwrap();
    }
    hook.fail_next(1);
    mon::watch(st).await.unwrap();
    notify::deliver_due(st).await.unwrap();
    let dests = notify::destinations(st, &op).await.unwrap();
    let log = &dests.iter().find(|d| d.id == dest.id).unwrap().deliveries;
    let states: Vec<&str> = log
        .iter()
        .filter(|m| m.rule == "dns.drift")
        .map(|m| m.state.as_str())
        .collect();
    assert_eq!(
        states.iter().filter(|s| **s == "capped").count(),
        1,
        "{log:?}"
    );
    let retrying = log
        .iter()
        .find(|m| m.state == "queued")
        .expect("one failed once");
    assert_eq!(retrying.attempts, 1);
    assert!(
        retrying.last_error.as_deref().unwrap_or("").contains("500"),
        "{retrying:?}"
    );
    assert!(retrying.next_at > st.clock.now(), "backoff");
    // After the backoff it goes out.
    st.clock.advance(31);
    hook.advance(31);
    notify::deliver_due(st).await.unwrap();
    let dests = notify::destinations(st, &op).await.unwrap();
    let log = &dests.iter().find(|d| d.id == dest.id).unwrap().deliveries;
    assert_eq!(
        log.iter()
            .filter(|m| m.rule == "dns.drift" && m.state == "sent")
            .count(),
        2,
        "{log:?}"
    );
    // Rotation: both signatures; a receiver that still knows only the old secret verifies,
    // one that knows only the new one too.
    let new = notify::rotate_secret(st, &op, &dest.id).await.unwrap();
    assert_ne!(new, old);
    let t = notify::test_destination(st, &op, &dest.id).await.unwrap();
    assert_eq!(t.state, "sent");
    let last = hook.received().last().cloned().unwrap();
    assert_eq!(last.signatures, 2);
    assert!(last.verified);
    hook.trust(&[&new]);
    let t = notify::test_destination(st, &op, &dest.id).await.unwrap();
    assert_eq!(t.state, "sent", "{t:?}");
    // A day on, the old secret no longer signs.
    st.clock.advance(86400 + 60);
    hook.advance(86400 + 60);
    let t = notify::test_destination(st, &op, &dest.id).await.unwrap();
    assert_eq!(t.state, "sent", "the new secret signs: {t:?}");
    assert_eq!(hook.received().last().unwrap().signatures, 1);
    hook.trust(&[&old]);
    let t = notify::test_destination(st, &op, &dest.id).await.unwrap();
    assert_ne!(t.state, "sent", "the old secret has stopped signing");
    assert!(
        t.last_error.as_deref().unwrap_or("").contains("401"),
        "{t:?}"
    );
    // The digest destination held its three alerts and sends them as one message a day.
    let mails_before = w.sink.messages().len();
    notify::deliver_due(st).await.unwrap();
    let mails = w.sink.messages()[mails_before..].to_vec();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].contains("3 alerts"), "{}", mails[0]);
    let dests = notify::destinations(st, &op).await.unwrap();
    let dlog = &dests.iter().find(|d| d.id == digest.id).unwrap().deliveries;
    assert!(dlog.iter().all(|m| m.state == "sent"), "{dlog:?}");
    let actions = w.app.audit_actions().await;
    for a in [
        "alert.destination_added",
        "alert.webhook_secret_rotated",
        "alert.destination_tested",
    ] {
        assert!(actions.contains(&a.to_string()), "{a}");
    }
    // Removing it: no more deliveries, and a tenant admin of another tenant cannot see it.
    let stranger = user("usr_x", "Other Admin", Role::TenantAdmin, "ten_other");
    assert_eq!(
        notify::remove_destination(st, &stranger, &dest.id)
            .await
            .unwrap_err()
            .status(),
        404
    );
    notify::remove_destination(st, &op, &dest.id).await.unwrap();
}
both!(deliveries_retry_rotate_and_cap);

fn rules(f: impl FnOnce(&mut RulesChange)) -> RulesChange {
    let mut r = RulesChange {
        odd_hours: true,
        ..Default::default()
    };
    f(&mut r);
    r
}

/// Each tenant's rules: its admin tightens them (audited), cannot loosen them or mute the
/// unusual-hour alert; an operator can. The tenant's lower threshold raises the account burst
/// sooner. Client viewers read the tenant's alerts only once it shows them, and never act.
async fn tenant_rules_tighten_and_show(b: Backend) {
    let w = world(b).await;
    let st = &w.app.state;
    let tenant = tenant_of(&w).await;
    let admin = user("usr_adm", "Tess Admin", Role::TenantAdmin, &tenant);
    let viewer = user("usr_v", "Vic Viewer", Role::ClientViewer, &tenant);
    let stranger = user("usr_x", "Other Admin", Role::TenantAdmin, "ten_other");
    let op = crate::routing::person("usr_a");
    let r = mon::tenant_rules(st, &admin, &w.slug).await.unwrap();
    assert_eq!(r.effective.failure_burst, 10);
    assert!(r.updated_by.is_none());
    let tight = rules(|r| r.failure_burst = Some(3));
    let r = mon::set_tenant_rules(st, &admin, &w.slug, &tight)
        .await
        .unwrap();
    assert_eq!(r.effective.failure_burst, 3);
    assert_eq!(r.updated_by.as_deref(), Some("Tess Admin"));
    // Looser than now, or the unusual-hour alert off: refused for the admin; nothing changes.
    let loose = rules(|r| r.failure_burst = Some(50));
    let e = mon::set_tenant_rules(st, &admin, &w.slug, &loose)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 422, "{e}");
    assert!(e.to_string().contains("Only an operator"), "{e}");
    let mute = rules(|r| {
        r.failure_burst = Some(3);
        r.odd_hours = false;
    });
    let e = mon::set_tenant_rules(st, &admin, &w.slug, &mute)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 422, "{e}");
    // Out of bounds: refused for everyone.
    let e = mon::set_tenant_rules(st, &op, &w.slug, &rules(|r| r.failure_burst = Some(0)))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 422, "{e}");
    // A viewer reads but does not change them; another tenant's admin does not see them.
    assert_eq!(
        mon::set_tenant_rules(st, &viewer, &w.slug, &tight)
            .await
            .unwrap_err()
            .status(),
        403
    );
    assert_eq!(
        mon::tenant_rules(st, &stranger, &w.slug)
            .await
            .unwrap_err()
            .status(),
        404
    );
    assert_eq!(
        mon::tenant_rules(st, &admin, &w.slug)
            .await
            .unwrap()
            .effective
            .failure_burst,
        3
    );
    // The tenant's threshold: three failures for one account from three addresses.
    for i in 1..=3 {
        let id = app::core::secrets::new_id("fail");
        let remote = format!("192.0.2.{i}");
        mon::failure_seen(
            st,
            &Failure {
                id: &id,
                at: st.clock.now(),
                login: "ann@acme.example",
                mailbox_id: None,
                tenant_id: Some(&tenant),
                protocol: "imap",
                remote: &remote,
                network: "192.0.2.0/24",
            },
            None,
        )
        .await
        .unwrap();
    }
    let list = mon::alerts(st, &admin, None).await.unwrap();
    let burst = list
        .iter()
        .find(|a| a.rule == "signin.failure_burst")
        .expect("the tenant's own threshold fired");
    assert!(
        burst
            .title
            .starts_with("3 failed sign-ins for ann@acme.example from 3 addresses"),
        "{}",
        burst.title
    );
    // Viewers: nothing until the tenant shows them its alerts; then read-only.
    assert!(mon::alerts(st, &viewer, None).await.unwrap().is_empty());
    assert!(mon::open_counts(st, &viewer).await.unwrap().is_empty());
    let show = rules(|r| {
        r.failure_burst = Some(3);
        r.viewers_see = true;
    });
    mon::set_tenant_rules(st, &admin, &w.slug, &show)
        .await
        .unwrap();
    assert_eq!(mon::alerts(st, &viewer, None).await.unwrap().len(), 1);
    assert_eq!(
        mon::act(st, &viewer, &burst.id, false, "")
            .await
            .unwrap_err()
            .status(),
        403
    );
    // An operator may loosen; the same rules again change nothing. Each change is audited
    // with its before and after.
    mon::set_tenant_rules(st, &op, &w.slug, &loose)
        .await
        .unwrap();
    mon::set_tenant_rules(st, &op, &w.slug, &loose)
        .await
        .unwrap();
    let changes: Vec<String> = sqlx::query_scalar(
        "SELECT details FROM audit_events WHERE action = 'alert.rules_changed' ORDER BY seq",
    )
    .fetch_all(st.db.pool())
    .await
    .unwrap();
    assert_eq!(changes.len(), 3, "{changes:?}");
    let last: serde_json::Value = serde_json::from_str(&changes[2]).unwrap();
    assert_eq!(last["before"]["failure_burst"], 3);
    assert_eq!(last["after"]["failure_burst"], 50);
    // Over REST, the same rules (a token of the operator's kind reads them).
    let owner = w.app.setup_owner().await;
    let token = w.app.api_token(&owner.email, "read,write").await;
    let v: serde_json::Value = reqwest::Client::new()
        .get(
            w.app
                .url(&format!("/api/v1/tenants/{}/alert-rules", w.slug)),
        )
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["effective"]["failure_burst"], 50, "{v}");
    assert_eq!(v["own"]["viewers_see"], false, "{v}");
    assert_eq!(v["own"]["failure_burst"], 50, "{v}");
    let r = reqwest::Client::new()
        .put(
            w.app
                .url(&format!("/api/v1/tenants/{}/alert-rules", w.slug)),
        )
        .bearer_auth(&token)
        .json(&serde_json::json!({ "failure_burst": "many" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
}
both!(tenant_rules_tighten_and_show);

/// A mail login far outside a mailbox's own hours raises `mail.odd_hour`, once the mailbox
/// has a history (30 logins over a week); a DMARC report in which the domain's own senders
/// fail raises `auth.degraded`, while spoofers failing do not.
async fn odd_hours_and_failing_dmarc(b: Backend) {
    let w = world(b).await;
    let st = &w.app.state;
    let mp = MailPlane::start_reporting(&w.app).await;
    let ann = w.invited("ann", None).await;
    w.open_link(&ann, PW).await;
    let seen = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT CAST(COALESCE(SUM(hits), 0) AS BIGINT) FROM mail_login_hours",
        )
        .fetch_one(st.db.pool())
        .await
        .unwrap()
    };
    let login_and_wait = |n: i64| {
        let mp = &mp;
        async move {
            assert!(mp.imap_login("ann@acme.example", PW).await);
            for _ in 0..100 {
                if seen().await >= n {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("login {n} was never recorded");
        }
    };
    for n in 1..=30 {
        login_and_wait(n).await;
    }
    // A week and a day later, at the usual hour: nothing.
    st.clock.advance(8 * 86400);
    login_and_wait(31).await;
    let odd = |a: &app::monitoring::Alert| a.rule == "mail.odd_hour";
    assert!(!mon::alerts(st, &Actor::system("t"), None)
        .await
        .unwrap()
        .iter()
        .any(odd));
    // Twelve hours off: far outside its hours.
    st.clock.advance(12 * 3600);
    login_and_wait(32).await;
    let list = alerts_until(st, |a| a.iter().any(odd)).await;
    let a = list.iter().find(|a| odd(a)).unwrap();
    assert!(
        a.title.contains("far outside its usual hours"),
        "{}",
        a.title
    );
    assert!(a.detail.contains("usual_hours_utc"), "{}", a.detail);
    assert_eq!(a.severity, "warning");

    // DMARC: a day when the domain's own sender passes (and a spoofer fails: not ours), then
    // a day when 60 of its 100 messages fail.
    use app::dns::service as dns;
    let sys = Actor::system("test");
    let today = st.clock.now() - st.clock.now().rem_euclid(86400);
    let good = crate::dns::dmarc_xml(
        "acme.example",
        "good",
        today - 2 * 86400,
        &[
            ("203.0.113.5", 100, "none", true, true),
            ("198.51.100.7", 500, "reject", false, false),
        ],
    );
    dns::import_report(st, &sys, good.as_bytes(), "upload", None)
        .await
        .unwrap();
    mon::watch(st).await.unwrap();
    let degraded = |a: &app::monitoring::Alert| a.rule == "auth.degraded";
    assert!(
        !mon::alerts(st, &sys, None)
            .await
            .unwrap()
            .iter()
            .any(degraded),
        "a spoofer failing DMARC is not our authentication breaking"
    );
    let bad = crate::dns::dmarc_xml(
        "acme.example",
        "bad",
        today - 86400,
        &[
            ("203.0.113.5", 40, "none", true, true),
            ("203.0.113.5", 60, "quarantine", false, false),
            ("198.51.100.7", 500, "reject", false, false),
        ],
    );
    dns::import_report(st, &sys, bad.as_bytes(), "upload", None)
        .await
        .unwrap();
    mon::watch(st).await.unwrap();
    let list = mon::alerts(st, &sys, None).await.unwrap();
    let a = list
        .iter()
        .find(|a| degraded(a))
        .expect("own mail failing DMARC");
    assert!(
        a.title
            .starts_with("60% of acme.example's own mail failed DMARC"),
        "{}",
        a.title
    );
    assert_eq!(a.severity, "critical");
    assert!(a.detail.contains("\"own_failed\":60"), "{}", a.detail);
}
both!(odd_hours_and_failing_dmarc);

/// With a GeoIP country database (a real MMDB file read by the real reader), a mail login
/// from a country the account has not used raises `mail.new_country`; addresses the database
/// does not know, and IPv6 in an IPv4 database, have no country; a file that is not a
/// database is refused at start, saying so.
async fn a_new_country_is_a_signal(b: Backend) {
    use std::net::Ipv4Addr;
    let db = mailward_tests::geoip::country_db_file(&[
        (Ipv4Addr::new(127, 0, 0, 0), 24, "NL", "Netherlands"),
        (Ipv4Addr::new(127, 0, 9, 0), 24, "DE", "Germany"),
    ]);
    let path = db.clone();
    let (app, sink) =
        mailward_tests::TestApp::start_with_mail(b, move |c| c.geoip_country_db = Some(path)).await;
    let (slug, mut domains) = app
        .tenant_with_domains("plan_starter", &["acme.example"])
        .await;
    let w = World {
        app,
        sink,
        slug,
        domain: domains.remove(0),
    };
    let st = &w.app.state;
    use app::monitoring::geoip::{check, country_of};
    assert_eq!(country_of(&st.config, "127.0.9.7").as_deref(), Some("DE"));
    assert_eq!(country_of(&st.config, "127.0.0.1").as_deref(), Some("NL"));
    assert_eq!(country_of(&st.config, "10.1.1.1"), None);
    assert_eq!(country_of(&st.config, "::1"), None);
    assert_eq!(country_of(&st.config, "nonsense"), None);
    let mp = MailPlane::start_reporting(&w.app).await;
    let ann = w.invited("ann", None).await;
    w.open_link(&ann, PW).await;
    assert!(mp.imap_login("ann@acme.example", PW).await);
    let nl = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM mail_networks WHERE country = 'NL'")
            .fetch_one(st.db.pool())
            .await
            .unwrap()
    };
    for _ in 0..50 {
        if nl().await == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(nl().await, 1, "the login's country is noted");
    assert!(
        mp.imap_login_from("127.0.9.7", "ann@acme.example", PW)
            .await
    );
    let list = alerts_until(st, |a| a.iter().any(|x| x.rule == "mail.new_country")).await;
    let a = list.iter().find(|x| x.rule == "mail.new_country").unwrap();
    assert!(
        a.title
            .contains("signed in from a country it has not used (DE)"),
        "{}",
        a.title
    );
    assert!(
        a.detail.contains("\"known_countries\":[\"NL\"]"),
        "{}",
        a.detail
    );
    // Without a usable file, the start is refused with the reason.
    let mut cfg = (*st.config).clone();
    cfg.geoip_country_db = Some("/nonexistent/country.mmdb".into());
    let e = check(&cfg).unwrap_err().to_string();
    assert!(e.contains("not a readable MaxMind database"), "{e}");
    let junk =
        std::env::temp_dir().join(format!("mw-junk-{}.mmdb", app::core::secrets::new_id("j")));
    std::fs::write(&junk, b"not a database").unwrap();
    cfg.geoip_country_db = Some(junk.display().to_string());
    assert!(check(&cfg).is_err());
}
both!(a_new_country_is_a_signal);
