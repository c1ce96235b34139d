//! The mail plane over real SMTP and IMAP, on both databases: a private Postfix + Dovecot
//! runs the configuration `mailward mailplane render` wrote for the test's database, and
//! does exactly what the panel says — logins, app passwords per protocol, resets,
//! offboarding, aliases, forwards (to a relay sink), catch-alls, suspended domains, quotas
//! and usage flowing back.
use app::core::authz::{Actor, Principal, TenantScope};
use app::mailboxes::service as mb;
use app::mailboxes::AliasRequest;
use mailward_tests::mailplane::MailPlane;
use mailward_tests::{both, Backend};
use serde_json::Value;
use sqlx::Row;

use crate::routing::{person, queued, world, World, PW};

const OUTSIDE: &str = "someone@outside.example";

/// The owner of a mailbox, as their self-service session acts.
async fn owner(w: &World, mailbox_id: &str) -> Actor {
    let tenant: String = sqlx::query("SELECT tenant_id FROM mailboxes WHERE id = $1")
        .bind(mailbox_id)
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap()
        .try_get("tenant_id")
        .unwrap();
    Actor {
        principal: Principal::Mailbox {
            mailbox_id: mailbox_id.into(),
        },
        user_id: None,
        label: "owner".into(),
        role: None,
        tenants: TenantScope::Only(vec![tenant]),
        ip: Some("127.0.0.1".into()),
        user_agent: None,
    }
}

/// The SMTP code a recipient was refused with (None = accepted).
fn refusal(v: &Value, rcpt: &str) -> Option<i64> {
    v["refused"][rcpt][0].as_i64().or(v["code"].as_i64())
}

async fn app_password(w: &World, id: &str, protocols: &[&str]) -> String {
    let protos: Vec<String> = protocols.iter().map(|p| p.to_string()).collect();
    mb::create_app_password(
        &w.app.state,
        &owner(w, id).await,
        PW,
        "mail client",
        &protos,
        None,
    )
    .await
    .unwrap()
    .1
}

/// Accounts: invitation → login; app passwords only for their protocols; a reset takes
/// effect at once; offboarding shuts every door; no POP3; IMAPS works.
async fn logins_follow_the_mailbox_lifecycle(b: Backend) {
    let w = world(b).await;
    let mp = MailPlane::start(&w.app).await;
    eprintln!(
        "mail plane ({b:?}) listening {:.2} s after start",
        mp.bring_up_secs
    );
    let op = person("usr_a");

    // Invited: no login, and mail to it is refused (user unknown) rather than taken by anyone.
    let ann = w.invited("ann", None).await;
    assert!(!mp.imap_login("ann@acme.example", PW).await);
    let r = mp.smtp(OUTSIDE, &["ann@acme.example"], "too early").await;
    assert_eq!(refusal(&r, "ann@acme.example"), Some(550), "{r}");

    // Accepting the invitation opens IMAP with the new password, at once.
    w.open_link(&ann, PW).await;
    assert!(mp.imap_login("ann@acme.example", PW).await);
    assert!(
        mp.imap_login("ANN@acme.example", PW).await,
        "user names are case-insensitive"
    );
    assert!(!mp.imap_login("ann@acme.example", "not the password").await);
    let r = mp.smtp(OUTSIDE, &["ann@acme.example"], "welcome ann").await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(mp.inbox("ann@acme.example", PW, 1).await, ["welcome ann"]);
    // Implicit TLS on the IMAPS port.
    let v = mp
        .client(&[
            "login",
            &mp.imaps.to_string(),
            "ann@acme.example",
            PW,
            "tls",
        ])
        .await;
    assert_eq!(v["ok"], true, "{v}");

    // App passwords work only for the protocols they were issued for.
    let imap_only = app_password(&w, &ann, &["imap"]).await;
    let smtp_only = app_password(&w, &ann, &["smtp"]).await;
    assert!(mp.imap_login("ann@acme.example", &imap_only).await);
    assert!(!mp.imap_login("ann@acme.example", &smtp_only).await);
    let v = mp
        .submit("ann@acme.example", &imap_only, "ann@acme.example", "x")
        .await;
    assert_eq!(v["auth"], false, "{v}");
    let v = mp
        .submit(
            "ann@acme.example",
            &smtp_only,
            "ann@acme.example",
            "sent from the phone",
        )
        .await;
    assert_eq!(
        (v["auth"].clone(), v["ok"].clone()),
        (true.into(), true.into()),
        "{v}"
    );
    let v = mp
        .submit(
            "ann@acme.example",
            PW,
            "ann@acme.example",
            "sent from the laptop",
        )
        .await;
    assert_eq!(v["ok"], true, "{v}");
    let inbox = mp.inbox("ann@acme.example", PW, 3).await;
    assert!(
        inbox.contains(&"sent from the phone".to_string()),
        "{inbox:?}"
    );
    // Nobody signs in to send as someone else.
    let v = mp
        .client(&[
            "submit",
            &mp.submission.to_string(),
            "ann@acme.example",
            PW,
            "boss@acme.example",
            "ann@acme.example",
            "spoofed",
        ])
        .await;
    assert_eq!(v["ok"], false, "{v}");
    let v = mp
        .client(&[
            "submit",
            &mp.submission.to_string(),
            "ann@acme.example",
            PW,
            "",
            OUTSIDE,
            "no sender",
        ])
        .await;
    assert_eq!(v["ok"], false, "an empty sender is refused too: {v}");
    // …nor claims a hosted mailbox from outside without signing in.
    let r = mp
        .smtp(
            "ann@acme.example",
            &["ann@acme.example"],
            "spoofed from outside",
        )
        .await;
    assert_eq!(refusal(&r, "ann@acme.example"), Some(553), "{r}");

    // An operator's reset: the old password works until the owner sets a new one, then
    // stops at once (and the app passwords with it).
    mb::request_reset(&w.app.state, &op, &ann, "forgot it", false, None)
        .await
        .unwrap();
    assert!(mp.imap_login("ann@acme.example", PW).await);
    let fresh = "quiet meadow lantern 42";
    w.open_link(&ann, fresh).await;
    assert!(!mp.imap_login("ann@acme.example", PW).await, "old password");
    assert!(
        mp.imap_login("ann@acme.example", fresh).await,
        "new password"
    );
    assert!(
        !mp.imap_login("ann@acme.example", &imap_only).await,
        "app password revoked"
    );

    // Offboarding shuts every door: IMAP, app passwords, submission, incoming mail.
    let bob = w.mailbox("bob").await;
    let bob_app = app_password(&w, &bob, &["imap", "smtp"]).await;
    assert!(mp.imap_login("bob@acme.example", &bob_app).await);
    mb::offboard(
        &w.app.state,
        &op,
        &bob,
        30,
        "left the company",
        Some("bob@acme.example"),
        None,
    )
    .await
    .unwrap();
    assert!(!mp.imap_login("bob@acme.example", PW).await);
    assert!(!mp.imap_login("bob@acme.example", &bob_app).await);
    let v = mp
        .submit("bob@acme.example", &bob_app, OUTSIDE, "still here?")
        .await;
    assert_eq!(v["auth"], false, "{v}");
    let v = mp
        .submit("bob@acme.example", PW, OUTSIDE, "still here?")
        .await;
    assert_eq!(v["auth"], false, "{v}");
    let r = mp.smtp(OUTSIDE, &["bob@acme.example"], "for bob").await;
    assert_eq!(refusal(&r, "bob@acme.example"), Some(550), "{r}");

    // Offboarded with "forward to a colleague": the address now lands with the colleague.
    let cat = w.mailbox("cat").await;
    mb::offboard(
        &w.app.state,
        &op,
        &cat,
        30,
        "left the company",
        Some("cat@acme.example"),
        Some(&AliasRequest {
            to: "ann@acme.example".into(),
            days: 30,
        }),
    )
    .await
    .unwrap();
    assert!(!mp.imap_login("cat@acme.example", PW).await);
    // Until a second person approves the alias, the address is refused like any other.
    let r = mp.smtp(OUTSIDE, &["cat@acme.example"], "for cat").await;
    assert_eq!(refusal(&r, "cat@acme.example"), Some(550), "{r}");
    let change: String = sqlx::query(
        "SELECT id FROM change_requests WHERE kind = 'mailbox.alias' AND target_id = $1",
    )
    .bind(&cat)
    .fetch_one(w.app.state.db.pool())
    .await
    .unwrap()
    .try_get("id")
    .unwrap();
    w.approve(&person("usr_b"), &change).await.unwrap();
    let r = mp
        .smtp(OUTSIDE, &["cat@acme.example"], "for cat, now ann")
        .await;
    assert_eq!(r["ok"], true, "{r}");
    let inbox = mp.inbox("ann@acme.example", fresh, 4).await;
    assert!(inbox.contains(&"for cat, now ann".to_string()), "{inbox:?}");

    // No POP3: not configured, and nothing answers on its ports.
    let protocols = mp.doveadm(&["config", "-h", "protocols"]);
    assert_eq!(protocols.trim(), "imap lmtp");
    for port in ["110", "995"] {
        let v = mp.client(&["pop3", port]).await;
        assert_eq!(v["open"], false, "port {port}: {v}");
    }
}
both!(logins_follow_the_mailbox_lifecycle);

/// Routing: a mailbox, an alias with two targets, an approved external forward (to the relay
/// sink), nothing out for unapproved or expired forwards, the catch-all only for unknown
/// local parts, and a suspended domain refused.
async fn mail_goes_where_the_panel_says(b: Backend) {
    let w = world(b).await;
    let mp = MailPlane::start(&w.app).await;
    let (alice, bob) = (person("usr_alice"), person("usr_bob"));
    for who in ["ann", "ben", "carol", "desk"] {
        w.mailbox(who).await;
    }

    // An alias with two targets.
    w.request(
        &alice,
        "alias",
        "team@acme.example",
        &["ann@acme.example", "ben@acme.example"],
        None,
    )
    .await
    .unwrap();
    let r = mp
        .smtp(OUTSIDE, &["team@acme.example"], "to the team")
        .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(mp.inbox("ann@acme.example", PW, 1).await, ["to the team"]);
    assert_eq!(mp.inbox("ben@acme.example", PW, 1).await, ["to the team"]);

    // No catch-all: an unknown local part is refused.
    let r = mp.smtp(OUTSIDE, &["nobody@acme.example"], "lost").await;
    assert_eq!(refusal(&r, "nobody@acme.example"), Some(550), "{r}");

    // A forward waiting for approval sends nothing out.
    w.allow(&["partner.example"], false).await;
    let change = queued(
        w.request(
            &alice,
            "forward",
            "carol@acme.example",
            &["carol@partner.example"],
            Some(30),
        )
        .await,
    );
    let r = mp
        .smtp(OUTSIDE, &["carol@acme.example"], "before approval")
        .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(
        mp.inbox("carol@acme.example", PW, 1).await,
        ["before approval"]
    );
    mp.settled().await;
    assert!(
        mp.relay.messages().is_empty(),
        "nothing left before approval"
    );

    // Approved: a copy stays, and one goes out through the relay.
    w.approve(&bob, &change).await.unwrap();
    let r = mp
        .smtp(OUTSIDE, &["carol@acme.example"], "after approval")
        .await;
    assert_eq!(r["ok"], true, "{r}");
    let out = mp.relayed(1).await;
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].contains("Subject: after approval"), "{}", out[0]);
    assert_eq!(mp.inbox("carol@acme.example", PW, 2).await.len(), 2);

    // The catch-all takes unknown local parts, never a real mailbox's mail.
    let change = queued(
        w.request(
            &alice,
            "catchall",
            "acme.example",
            &["desk@acme.example"],
            Some(10),
        )
        .await,
    );
    w.approve(&bob, &change).await.unwrap();
    let r = mp
        .smtp(
            OUTSIDE,
            &["nobody@acme.example", "ben@acme.example"],
            "caught",
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(mp.inbox("desk@acme.example", PW, 1).await, ["caught"]);
    assert_eq!(
        mp.inbox("ben@acme.example", PW, 2).await,
        ["to the team", "caught"]
    );

    // 31 days on, the sweeper has expired the forward (and the 10-day catch-all): nothing
    // more goes out, and unknown local parts are refused again.
    w.app.state.clock.set_offset(31 * 86400);
    app::routing::service::sweep(&w.app.state).await.unwrap();
    let r = mp
        .smtp(OUTSIDE, &["carol@acme.example"], "after expiry")
        .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(mp.inbox("carol@acme.example", PW, 3).await.len(), 3);
    let r = mp
        .smtp(OUTSIDE, &["nobody@acme.example"], "lost again")
        .await;
    assert_eq!(refusal(&r, "nobody@acme.example"), Some(550), "{r}");
    mp.settled().await;
    assert_eq!(
        mp.relay.messages().len(),
        1,
        "an expired forward sends nothing"
    );

    // A suspended domain: mail refused, logins refused.
    app::tenancy::service::set_domain_status(
        &w.app.state,
        &Actor::system("t"),
        &w.domain,
        "suspended",
    )
    .await
    .unwrap();
    let r = mp.smtp(OUTSIDE, &["ann@acme.example"], "suspended").await;
    assert!(
        refusal(&r, "ann@acme.example").is_some_and(|c| c >= 500),
        "{r}"
    );
    assert!(!mp.imap_login("ann@acme.example", PW).await);

    // A suspended tenant: all its domains stop receiving mail, as the panel says.
    app::tenancy::service::set_domain_status(
        &w.app.state,
        &Actor::system("t"),
        &w.domain,
        "active",
    )
    .await
    .unwrap();
    // Each smtpd process keeps the last address class it resolved for 30 s (per sender and
    // recipient): a new sender sees the change at once.
    let r = mp
        .smtp("first@outside.example", &["ann@acme.example"], "resumed")
        .await;
    assert_eq!(r["ok"], true, "{r}");
    app::tenancy::service::set_tenant_status(
        &w.app.state,
        &Actor::system("t"),
        &w.slug,
        "suspended",
    )
    .await
    .unwrap();
    let r = mp
        .smtp(
            "second@outside.example",
            &["ann@acme.example"],
            "tenant suspended",
        )
        .await;
    assert!(
        refusal(&r, "ann@acme.example").is_some_and(|c| c >= 500),
        "{r}"
    );
    assert!(!mp.imap_login("ann@acme.example", PW).await);
}
both!(mail_goes_where_the_panel_says);

/// Quotas: a full mailbox refuses more mail (at RCPT, with 552 5.2.2), so does a full pool,
/// and the usage the panel shows is Dovecot's.
async fn quotas_hold_and_usage_flows_back(b: Backend) {
    let w = world(b).await;
    let mp = MailPlane::start(&w.app).await;
    let op = person("usr_a");
    // A 3 MB pool, so that filling it is quick.
    let sys = Actor::system("test");
    let tiny = app::tenancy::service::create_plan(
        &w.app.state,
        &sys,
        &app::tenancy::service::NewPlan {
            name: "Tiny".into(),
            max_domains: 1,
            storage_gb: 0.003,
            managed_smtp: false,
        },
    )
    .await
    .unwrap();
    app::tenancy::service::change_plan(&w.app.state, &sys, &w.slug, &tiny.id)
        .await
        .unwrap();
    let small = w.invited("small", Some("1 MB")).await;
    w.open_link(&small, PW).await;
    let r = mp
        .smtp_sized(OUTSIDE, "small@acme.example", "first", 700_000)
        .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(mp.inbox("small@acme.example", PW, 1).await, ["first"]);
    let r = mp
        .smtp_sized(OUTSIDE, "small@acme.example", "second", 700_000)
        .await;
    assert_eq!(refusal(&r, "small@acme.example"), Some(552), "{r}");
    assert!(r.to_string().contains("5.2.2"), "{r}");

    // Dovecot's count (KiB) is what the panel shows (bytes), for the mailbox and the pool.
    let q = mp
        .client(&["quota", &mp.imap.to_string(), "small@acme.example", PW])
        .await;
    assert_eq!(q["limit_kib"], (1_000_000 + 1023) / 1024, "{q}");
    let used_kib = q["used_kib"].as_i64().unwrap();
    assert!(used_kib > 600, "{q}");
    // Dovecot writes usage back right after the delivery; give it a moment. It rounds KiB up.
    let mut m = mb::get(&w.app.state, &op, &small).await.unwrap();
    for _ in 0..50 {
        if m.used_bytes.map(|b| (b + 1023) / 1024) == Some(used_kib) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        m = mb::get(&w.app.state, &op, &small).await.unwrap();
    }
    assert_eq!(m.used_bytes.map(|b| (b + 1023) / 1024), Some(used_kib));
    let (t, _) = app::tenancy::service::tenant(&w.app.state, &op, &w.slug)
        .await
        .unwrap();
    assert_eq!(t.storage_used, m.used_bytes, "the pool counts the mailbox");

    // The pool holds across mailboxes: one without an allocation of its own may use what
    // the others leave, and no more.
    let big = w.mailbox("big").await;
    let q = mp
        .client(&["quota", &mp.imap.to_string(), "big@acme.example", PW])
        .await;
    let left_kib = (3_000_000 - m.used_bytes.unwrap() + 1023) / 1024;
    assert_eq!(q["limit_kib"], left_kib, "{q}");
    let r = mp
        .smtp_sized(OUTSIDE, "big@acme.example", "big one", 1_500_000)
        .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(mp.inbox("big@acme.example", PW, 1).await, ["big one"]);
    let r = mp
        .smtp_sized(OUTSIDE, "big@acme.example", "pool full", 1_500_000)
        .await;
    assert_eq!(refusal(&r, "big@acme.example"), Some(552), "{r}");
    let (t, _) = app::tenancy::service::tenant(&w.app.state, &op, &w.slug)
        .await
        .unwrap();
    let big_used = mb::get(&w.app.state, &op, &big)
        .await
        .unwrap()
        .used_bytes
        .unwrap();
    assert_eq!(t.storage_used, Some(m.used_bytes.unwrap() + big_used));
}
both!(quotas_hold_and_usage_flows_back);

/// `mailward mailplane render` refuses what could not work, and writes nothing then.
#[test]
fn render_refuses_what_cannot_work() {
    let dir = std::env::temp_dir().join(format!("mwmp-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let render_with = |db: &str, cert: &str, more: &[&str]| {
        std::process::Command::new(mailward_tests::mailward_bin())
            .args(["--database-url", db, "mailplane", "render", "--out"])
            .arg(dir.join("conf"))
            .args(["--tls-cert", cert, "--tls-key", cert])
            .args(more)
            .output()
            .unwrap()
    };
    let render = |db: &str, cert: &str| render_with(db, cert, &[]);
    let db = format!("sqlite://{}/mw.db?mode=rwc", dir.display());
    let out = render(&db, "/nonexistent/cert.pem");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--tls-cert /nonexistent/cert.pem: no such file"),
        "{err}"
    );
    assert!(!dir.join("conf").exists(), "nothing written");
    // A certificate that exists (its content is Dovecot's and Postfix's business).
    let cert = dir.join("cert.pem");
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\n").unwrap();
    for (more, says) in [
        (
            ["--listen", "mail.example.com"],
            "--listen mail.example.com: give one IP address",
        ),
        (
            ["--postmaster", "nobody"],
            "--postmaster nobody: give one mail address",
        ),
    ] {
        let out = render_with(&db, cert.to_str().unwrap(), &more);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{err}");
        assert!(!dir.join("conf").exists(), "nothing written");
    }
    let out = render(&db, cert.to_str().unwrap());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let map = std::fs::read_to_string(dir.join("conf/postfix/sql-aliases.cf")).unwrap();
    assert!(
        map.contains(&format!("dbpath = {}/mw.db", dir.display())),
        "{map}"
    );
    let dovecot = std::fs::read_to_string(dir.join("conf/dovecot/dovecot.conf")).unwrap();
    assert!(dovecot.contains("protocols = imap lmtp"));
    assert!(!dovecot.contains("pop3"));
    std::fs::remove_dir_all(&dir).unwrap();
}
