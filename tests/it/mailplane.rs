//! The mail plane over real SMTP and IMAP, on both databases: a private Postfix + Dovecot
//! runs the configuration `mailward mailplane render` wrote for the test's database, and
//! does exactly what the panel says — logins, app passwords per protocol, resets,
//! offboarding, aliases, forwards (to a relay sink), catch-alls, suspended domains, quotas
//! and usage flowing back.
use app::core::authz::{Actor, Principal, TenantScope};
use app::mailboxes::service as mb;
use app::mailboxes::{AliasRequest, NewDelegation};
use mailward_tests::mailplane::MailPlane;
use mailward_tests::{both, Backend};
use serde_json::Value;
use sqlx::Row;

use crate::routing::{person, queued, world, World, PW};

pub(crate) const OUTSIDE: &str = "someone@outside.example";

/// The owner of a mailbox, as their self-service session acts.
async fn owner(w: &World, mailbox_id: &str) -> Actor {
    let tenant: String = sqlx::query("SELECT tenant_id FROM mailboxes WHERE id = $1")
        .bind(mailbox_id)
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap()
        .try_get("tenant_id")
        .unwrap();
    Actor::for_tests(
        Principal::Mailbox {
            mailbox_id: mailbox_id.into(),
        },
        None,
        "owner".into(),
        None,
        TenantScope::Only(vec![tenant]),
        Some("127.0.0.1".into()),
    )
}

/// The acme world and its mail plane, with the doveadm HTTP API on and Mailward's
/// `doveadm_url` pointing at it.
pub(crate) async fn with_doveadm(b: Backend) -> (World, MailPlane) {
    let port = mailward_tests::mailplane::free_port();
    let w = crate::routing::world_with(b, |c| {
        c.doveadm_url = Some(format!("http://127.0.0.1:{port}"))
    })
    .await;
    let mp = MailPlane::start_with_doveadm(&w.app, port).await;
    (w, mp)
}

/// The SMTP code a recipient was refused with (None = accepted).
fn refusal(v: &Value, rcpt: &str) -> Option<i64> {
    v["refused"][rcpt][0].as_i64().or(v["code"].as_i64())
}

pub(crate) async fn app_password(w: &World, id: &str, protocols: &[&str]) -> String {
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
        &[],
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
        &[],
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
            ..Default::default()
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
        (
            ["--probe-mailbox", "x'; DROP TABLE domains; --@a.example"],
            "give one mailbox address",
        ),
        (
            ["--probe-mailbox", "mailward-probe@ops.example"],
            "not a mailward-probe@ one",
        ),
        (
            ["--policy", "127.0.0.1:10040, permit"],
            "--policy \"127.0.0.1:10040, permit\": give the socket as inet:HOST:PORT or unix:PATH",
        ),
        // The policy token is made by `serve` (as the user it runs as), never by render.
        (
            ["--auth-policy", "http://127.0.0.1:8080"],
            "mailplane-policy.key does not exist yet: start `mailward serve` once",
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

// ---------- Mailward's own mail (invitations) through the mail plane's submission ----------

use mailward_tests::Served;

/// Creates `local@acme.example` over the API with its invitation mailed to
/// reader@acme.example: the status and the body of the answer.
async fn invite(s: &Served, token: &str, local: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/mailboxes", s.base))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "address": format!("{local}@acme.example"),
            "display_name": local,
            "invite_to": "reader@acme.example",
        }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Mailward's invitations go out through the mail plane's submission port as a real
/// provider takes them: STARTTLS with the certificate verified against a private CA
/// (`tls_ca_file`), then AUTH as a mailbox (password from `password_file`), configured
/// through the environment of the real binary. A wrong password or an untrusted
/// certificate: the invitation is refused with the "could not be sent … withdrawn" 503,
/// and the password shows neither in the answer, nor the server's log, nor the audit log.
async fn invitations_go_out_through_signed_in_submission(b: Backend) {
    use app::core::config::SmtpConfig;
    use app::core::mailer::Mailer;
    let w = world(b).await;
    let mp = MailPlane::start(&w.app).await;
    w.mailbox("notices").await;
    w.mailbox("reader").await;
    let owner = w.app.setup_owner().await;
    let (_, token) = app::auth::service::create_token_for_email(
        &w.app.state,
        &owner.email,
        "t",
        &["read,write".into()],
        1,
    )
    .await
    .unwrap();
    let dir = mp.dir.join("mailward");
    std::fs::create_dir_all(&dir).unwrap();
    let pw_file = dir.join("smtp-password");
    std::fs::write(&pw_file, format!("{PW}\n")).unwrap();
    let ca = mp.ca_file().display().to_string();
    let env = |more: &[(&'static str, String)]| {
        let mut v: Vec<(&str, String)> = vec![
            ("MAILWARD_SMTP_HOST", "localhost".into()),
            ("MAILWARD_SMTP_PORT", mp.submission.to_string()),
            (
                "MAILWARD_SMTP_FROM",
                "Mailward <notices@acme.example>".into(),
            ),
            ("MAILWARD_SMTP_USERNAME", "notices@acme.example".into()),
            ("MAILWARD_SMTP_TLS", "starttls".into()),
        ];
        v.extend_from_slice(more);
        v
    };

    // Verified STARTTLS + AUTH: the invitation is delivered, sent by the signed-in mailbox.
    let good = Served::start(
        &w.app,
        &dir,
        "good",
        &env(&[
            ("MAILWARD_SMTP_PASSWORD_FILE", pw_file.display().to_string()),
            ("MAILWARD_SMTP_TLS_CA_FILE", ca.clone()),
        ]),
        None,
    )
    .await;
    let log = good.log_with("outgoing mail: connected and ready").await;
    assert!(
        log.contains(&format!(
            "outgoing mail via localhost:{} (STARTTLS, certificate verified (system CAs + \
             tls_ca_file), signed in as notices@acme.example)",
            mp.submission
        )),
        "{log}"
    );
    let (status, body) = invite(&good, &token, "newcomer").await;
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("\"invitation_emailed\":true"), "{body}");
    let inbox = mp.inbox("reader@acme.example", PW, 1).await;
    assert_eq!(inbox, ["Your new mailbox newcomer@acme.example"]);
    let postfix = mp.log("postfix.log");
    assert!(
        postfix.contains("sasl_method=PLAIN, sasl_username=notices@acme.example"),
        "{postfix}"
    );
    assert!(!good.log().contains(PW), "no password in the log");

    // A wrong password: refused, the link withdrawn, the password nowhere.
    let wrong = "Wrong-Horse-Battery-7c1e";
    let bad = Served::start(
        &w.app,
        &dir,
        "wrong-password",
        &env(&[
            ("MAILWARD_SMTP_PASSWORD", wrong.into()),
            ("MAILWARD_SMTP_TLS_CA_FILE", ca.clone()),
        ]),
        None,
    )
    .await;
    let log = bad.log_with("outgoing mail will fail").await;
    assert!(
        log.contains("refused the sign-in as notices@acme.example"),
        "{log}"
    );
    let (status, body) = invite(&bad, &token, "second").await;
    assert_eq!(status, 503, "{body}");
    for says in [
        "could not be sent",
        "refused the sign-in as notices@acme.example",
        "535",
        "withdrawn",
    ] {
        assert!(body.contains(says), "{says:?} in {body}");
    }
    let r: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/mailboxes/second@acme.example", bad.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["open_invite"], Value::Null, "no live link: {r}");
    let log = bad.log_with("mail not sent").await;
    let audit: Vec<String> = sqlx::query("SELECT details FROM audit_events")
        .fetch_all(w.app.state.db.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String, _>("details").unwrap())
        .collect();
    assert!(audit.iter().any(|d| d.contains("refused the sign-in")));
    for (what, text) in [
        ("answer", &body),
        ("log", &log),
        ("audit", &audit.join("\n")),
    ] {
        assert!(
            !text.contains(wrong),
            "the password is in the {what}: {text}"
        );
    }
    drop(bad);

    // Verification on without the private CA: the certificate is not trusted.
    let untrusted = Served::start(
        &w.app,
        &dir,
        "no-ca",
        &env(&[("MAILWARD_SMTP_PASSWORD_FILE", pw_file.display().to_string())]),
        None,
    )
    .await;
    let log = untrusted.log_with("outgoing mail will fail").await;
    assert!(log.contains("UnknownIssuer"), "{log}");
    assert!(log.contains("set smtp.tls_ca_file"), "{log}");
    let (status, body) = invite(&untrusted, &token, "third").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("invalid peer certificate"), "{body}");
    drop(untrusted);

    // The escape hatch (from a config file): works without the CA, and says so at start.
    let skip = Served::start(
        &w.app,
        &dir,
        "skip-verify",
        &[],
        Some(format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {}\nfrom = \"notices@acme.example\"\n\
             username = \"notices@acme.example\"\npassword_file = \"{}\"\ntls = \"starttls\"\n\
             tls_insecure_skip_verify = true\n",
            mp.submission,
            pw_file.display()
        )),
    )
    .await;
    let log = skip.log_with("outgoing mail: connected and ready").await;
    assert!(log.contains("tls_insecure_skip_verify is on"), "{log}");
    assert!(log.contains("certificate NOT verified"), "{log}");
    let (status, body) = invite(&skip, &token, "fourth").await;
    assert_eq!(status, 201, "{body}");
    drop(skip);
    let inbox = mp.inbox("reader@acme.example", PW, 2).await;
    assert_eq!(inbox.len(), 2, "{inbox:?}");

    // What TLS and sign-in cost: a new connection, then messages on a kept one; plain SMTP
    // on the mail plane's port 25 for comparison.
    let plain = SmtpConfig {
        host: "127.0.0.1".into(),
        port: mp.smtp,
        from: OUTSIDE.into(),
        ..Default::default()
    };
    let signed_in = SmtpConfig {
        host: "localhost".into(),
        port: mp.submission,
        from: "notices@acme.example".into(),
        username: Some("notices@acme.example".into()),
        password: Some(PW.into()),
        tls: Some("starttls".into()),
        tls_ca_file: Some(ca.clone()),
        ..Default::default()
    };
    for (name, cfg) in [("plain SMTP", plain), ("STARTTLS + AUTH", signed_in)] {
        let m = Mailer::new(Some(cfg), "Mailward");
        let t = std::time::Instant::now();
        m.check().await.unwrap();
        let connect = t.elapsed();
        let t = std::time::Instant::now();
        for i in 0..10 {
            m.send("reader@acme.example", &format!("{name} {i}"), "x".into())
                .await
                .unwrap();
        }
        eprintln!(
            "{name} ({b:?}): new connection {:.1} ms, then {:.1} ms per message",
            connect.as_secs_f64() * 1e3,
            t.elapsed().as_secs_f64() * 1e3 / 10.0
        );
    }
}
both!(invitations_go_out_through_signed_in_submission);

/// A tiny SMTP server speaking TLS from the first byte (as on port 465), one thread per
/// connection; prints its port, then one JSON line per sign-in and message.
const IMPLICIT_TLS_SERVER: &str = r#"
import base64, json, socket, ssl, sys, threading
cert, key, password = sys.argv[1], sys.argv[2], sys.argv[3].encode()
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
print(srv.getsockname()[1], flush=True)
def report(**kv):
    print(json.dumps(kv), flush=True)
def serve(conn):
    try:
        s = ctx.wrap_socket(conn, server_side=True)
    except Exception as e:
        report(event="handshake failed", error=str(e))
        return
    f = s.makefile("rwb")
    def say(line):
        f.write(line.encode() + b"\r\n")
        f.flush()
    say("220 implicit ESMTP")
    while True:
        line = f.readline().decode().rstrip("\r\n")
        if not line:
            return
        cmd = line.upper()
        if cmd.startswith("EHLO"):
            say("250-implicit")
            say("250 AUTH PLAIN LOGIN")
        elif cmd.startswith("AUTH PLAIN "):
            _, user, pw = base64.b64decode(line.split()[2]).split(b"\0")
            report(event="auth", user=user.decode(), ok=pw == password)
            say("235 2.7.0 ok" if pw == password else "535 5.7.8 no")
        elif cmd == "DATA":
            say("354 go on")
            msg = []
            while True:
                l = f.readline().decode().rstrip("\r\n")
                if l == ".":
                    break
                msg.append(l)
            subject = [l for l in msg if l.startswith("Subject: ")]
            report(event="message", subject=subject[0][9:] if subject else "")
            say("250 queued")
        elif cmd == "QUIT":
            say("221 bye")
            return
        else:
            say("250 ok")
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

/// Implicit TLS (SMTPS, 465) against a server the test runs, with the certificate verified
/// against a private CA and AUTH; refused without the CA; STARTTLS required of a server
/// that does not offer it is refused with a message that says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_mail_over_implicit_tls() {
    use app::core::config::SmtpConfig;
    use app::core::mailer::Mailer;
    use tokio::io::AsyncBufReadExt;
    let dir = std::env::temp_dir().join(format!("mw-smtps-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    mailward_tests::mailplane::make_certs(&dir);
    std::fs::write(dir.join("server.py"), IMPLICIT_TLS_SERVER).unwrap();
    let secret = "implicit-s3cret";
    let mut child = tokio::process::Command::new("python3")
        .arg(dir.join("server.py"))
        .arg(dir.join("cert.pem"))
        .arg(dir.join("key.pem"))
        .arg(secret)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = lines.next_line().await.unwrap().unwrap().parse().unwrap();
    let cfg = SmtpConfig {
        host: "localhost".into(),
        port,
        from: "Mailward <notices@example.com>".into(),
        username: Some("notices@example.com".into()),
        password: Some(secret.into()),
        tls: Some("implicit".into()),
        tls_ca_file: Some(dir.join("ca.pem").display().to_string()),
        ..Default::default()
    };
    cfg.validate().unwrap();
    let m = Mailer::new(Some(cfg.clone()), "Mailward");
    m.send("someone@example.org", "over implicit TLS", "hello".into())
        .await
        .unwrap();
    let mut events = Vec::new();
    while !events.iter().any(|e: &Value| e["event"] == "message") {
        let line = tokio::time::timeout(std::time::Duration::from_secs(10), lines.next_line())
            .await
            .expect("the server reports")
            .unwrap()
            .unwrap();
        events.push(serde_json::from_str(&line).unwrap());
    }
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "auth" && e["user"] == "notices@example.com" && e["ok"] == true),
        "{events:?}"
    );
    assert!(
        events.contains(&serde_json::json!({"event": "message", "subject": "over implicit TLS"}))
    );
    // On the kept connection, a message takes no ~40 ms wait for a delayed ACK: TCP_NODELAY
    // holds under TLS too (the stream under lettre's TLS is ours).
    let t = std::time::Instant::now();
    for i in 0..10 {
        m.send("someone@example.org", &format!("kept {i}"), "x".into())
            .await
            .unwrap();
    }
    eprintln!(
        "implicit TLS, kept connection: {:.1} ms per message",
        t.elapsed().as_secs_f64() * 1e3 / 10.0
    );

    // Without the CA, the certificate is not trusted and nothing is sent.
    let m = Mailer::new(
        Some(SmtpConfig {
            tls_ca_file: None,
            ..cfg.clone()
        }),
        "Mailward",
    );
    let e = m
        .send("someone@example.org", "untrusted", "x".into())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("invalid peer certificate"), "{e}");
    assert!(!e.contains(secret), "{e}");

    // STARTTLS required of a server that does not offer it (the sink speaks plain SMTP).
    let sink = mailward_tests::SmtpSink::start().await;
    let m = Mailer::new(
        Some(SmtpConfig {
            host: "127.0.0.1".into(),
            port: sink.port,
            from: "notices@example.com".into(),
            tls: Some("starttls".into()),
            ..Default::default()
        }),
        "Mailward",
    );
    let e = m
        .send("someone@example.org", "in clear?", "x".into())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not offer STARTTLS"), "{e}");
    assert!(sink.messages().is_empty());
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Settings that cannot work stop `mailward` at start with a message naming the setting
/// (and never showing the password).
#[test]
fn smtp_settings_are_checked_at_start() {
    let dir = std::env::temp_dir().join(format!("mw-smtp-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = "Do-Not-Show-9f2a";
    let run = |env: &[(&str, &str)]| {
        let mut c = std::process::Command::new(mailward_tests::mailward_bin());
        c.arg("--database-url")
            .arg(format!("sqlite://{}/mw.db?mode=rwc", dir.display()))
            .arg("migrate");
        for k in server::cli::SMTP_ENV {
            c.env_remove(k);
        }
        c.env_remove("MAILWARD_CONFIG");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let server = [
        ("MAILWARD_SMTP_HOST", "smtp.example.com"),
        ("MAILWARD_SMTP_FROM", "Mailward <mailward@example.com>"),
    ];
    let with = |more: &[(&'static str, &'static str)]| {
        let mut v = server.to_vec();
        v.extend_from_slice(more);
        v
    };
    for (env, says) in [
        (
            with(&[("MAILWARD_SMTP_TLS", "ssl")]),
            "smtp.tls must be starttls, implicit or none (got \"ssl\")",
        ),
        (
            with(&[("MAILWARD_SMTP_PASSWORD", secret)]),
            "smtp.password (or password_file) is set without smtp.username",
        ),
        (
            with(&[
                ("MAILWARD_SMTP_USERNAME", "mailward@example.com"),
                ("MAILWARD_SMTP_PASSWORD_FILE", "/nonexistent/smtp-password"),
            ]),
            "smtp.password_file /nonexistent/smtp-password: cannot read it",
        ),
        (
            with(&[
                ("MAILWARD_SMTP_USERNAME", "mailward@example.com"),
                ("MAILWARD_SMTP_PASSWORD", secret),
                ("MAILWARD_SMTP_PASSWORD_FILE", "/nonexistent/smtp-password"),
            ]),
            "set MAILWARD_SMTP_PASSWORD or MAILWARD_SMTP_PASSWORD_FILE, not both",
        ),
        (
            with(&[("MAILWARD_SMTP_TLS_CA_FILE", "/nonexistent/ca.pem")]),
            "smtp.tls_ca_file /nonexistent/ca.pem: cannot read it",
        ),
        (
            with(&[
                ("MAILWARD_SMTP_TLS", "none"),
                ("MAILWARD_SMTP_USERNAME", "mailward@example.com"),
                ("MAILWARD_SMTP_PASSWORD", secret),
            ]),
            "would send the password to smtp.example.com unencrypted",
        ),
        (
            vec![("MAILWARD_SMTP_USERNAME", "mailward@example.com")],
            "MAILWARD_SMTP_USERNAME is set, but there is no SMTP server",
        ),
    ] {
        let out = run(&env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{env:?}: {err}");
        assert!(err.contains(says), "{env:?}: {err}");
        assert!(!err.contains(secret), "{err}");
    }
    // What worked before still does: a relay on this host, host/port/from only.
    let out = run(&[
        ("MAILWARD_SMTP_HOST", "127.0.0.1"),
        ("MAILWARD_SMTP_FROM", "Mailward <mailward@example.com>"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every lookup the rendered Postfix and Dovecot make is an index search on SQLite: no table
/// or view is read whole (a `UNION` view is built whole before the filter, ≈ 0.2–0.5 s per
/// recipient at 100,000 mailboxes; bench/mailplane measures the latency). PostgreSQL plans by
/// row counts, so its plans on a test-sized database say nothing: the benchmark covers it.
#[tokio::test]
async fn mail_plane_lookups_are_index_searches() {
    let app = mailward_tests::TestApp::start(Backend::Sqlite).await;
    let dir = std::env::temp_dir().join(format!("mwmp-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = dir.join("cert.pem");
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\n").unwrap();
    let out = app
        .cli()
        .args(["mailplane", "render", "--out"])
        .arg(dir.join("conf"))
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&cert)
        .args(["--probe-mailbox", "probe@ops.example"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Each query the mail servers run per message or login, with its placeholders filled.
    let mut queries = Vec::new();
    for folder in ["postfix", "dovecot"] {
        for entry in std::fs::read_dir(dir.join("conf").join(folder)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for line in text.lines() {
                // iterate_query lists every user on purpose (doveadm -A), not per login.
                let Some((key, q)) = line.split_once(" = ") else {
                    continue;
                };
                if !["query", "password_query", "user_query"].contains(&key.trim()) {
                    continue;
                }
                let q = q
                    .replace("%Lu", "ann@a.example")
                    .replace("%Ls", "imap")
                    .replace("%4w", "abcd")
                    .replace("%s", "ann@a.example")
                    .replace("%d", "a.example")
                    .replace("%u", "ann");
                queries.push((path.file_name().unwrap().to_string_lossy().to_string(), q));
            }
        }
    }
    assert!(queries.len() >= 9, "the rendered lookups: {queries:?}");
    for (file, q) in queries {
        let plan: Vec<String> = sqlx::query(&format!("EXPLAIN QUERY PLAN {q}"))
            .fetch_all(app.state.db.pool())
            .await
            .unwrap_or_else(|e| panic!("{file}: {q}: {e}"))
            .iter()
            .map(|r| r.try_get::<String, _>("detail").unwrap())
            .collect();
        let whole = plan.iter().find(|l| {
            l.starts_with("SCAN ")
                || l.starts_with("CO-ROUTINE")
                || l.starts_with("MATERIALIZE")
                || l.contains("TEMP B-TREE")
                || l.contains("AUTOMATIC")
        });
        assert!(
            whole.is_none(),
            "{file}: {q}\nreads more than it needs:\n{}",
            plan.join("\n")
        );
    }
}

/// Sending limits through `mailward policy`: a mailbox stops at its plan's messages per hour
/// and the whole tenant at the tenant's, with a temporary refusal that says which limit and
/// when sending resumes; parallel sessions racing for the last places never pass the limit;
/// the first refusal raises an alert; the tenant's page counts it all.
async fn submissions_are_held_to_the_plans_sending_limits(b: Backend) {
    use mailward_tests::mailplane::Sidecar;
    let w = world(b).await;
    let policy = Sidecar::policy(&w.app).await;
    let mp = MailPlane::start_limiting(&w.app, &policy.socket).await;
    let sys = Actor::system("test");
    let st = &w.app.state;
    let plan = app::tenancy::service::create_plan(
        st,
        &sys,
        &app::tenancy::service::NewPlan {
            name: "Limited".into(),
            max_domains: 1,
            storage_gb: 1.0,
            managed_smtp: true,
            send_per_hour_mailbox: 60,
            send_per_hour_tenant: 100,
        },
    )
    .await
    .unwrap();
    app::tenancy::service::change_plan(st, &sys, &w.slug, &plan.id)
        .await
        .unwrap();
    let (tenant, _) = app::tenancy::service::tenant(st, &sys, &w.slug)
        .await
        .unwrap();
    w.mailbox("ann").await;
    w.mailbox("bob").await;
    let to = "ann@acme.example";

    // Ann's 61st message is refused by her own limit, before its content is sent.
    let v = mp
        .submit_many("ann@acme.example", PW, to, "from ann", 61, 1)
        .await;
    assert_eq!(v["errors"], serde_json::json!([]), "{v}");
    assert_eq!(v["sent"], 60, "{v}");
    let refusals = v["refusals"].as_array().unwrap();
    assert_eq!(refusals.len(), 1, "{v}");
    assert_eq!(refusals[0]["n"], 61, "{v}");
    assert_eq!(refusals[0]["code"], 450, "{v}");
    let text = refusals[0]["error"].as_str().unwrap();
    assert!(
        text.starts_with("4.7.1 ")
            && text.contains("Sending limit reached: ann@acme.example may send 60 messages an hour on the Limited plan; try again after"),
        "{text}"
    );

    // Bob has 40 of the tenant's 100 left: 50 messages over 5 sessions at once, racing for
    // the last places, and exactly 40 go; the rest hear the tenant's limit.
    let v = mp
        .submit_many("bob@acme.example", PW, to, "from bob", 50, 5)
        .await;
    assert_eq!(v["errors"], serde_json::json!([]), "{v}");
    assert_eq!(v["sent"], 40, "{v}");
    let refusals = v["refusals"].as_array().unwrap();
    assert_eq!(refusals.len(), 10, "{v}");
    for r in refusals {
        assert_eq!(r["code"], 450, "{v}");
        assert!(
            r["error"].as_str().unwrap().contains(
                "Sending limit reached: the mailboxes of Acme together may send 100 messages an hour"
            ),
            "{v}"
        );
    }
    // The hundred arrived.
    assert_eq!(mp.inbox(to, PW, 100).await.len(), 100);

    // Counted once per message; the tenant's page and service read the same.
    let op = person("usr_a");
    let s = app::outbound::service::of_tenant(st, &op, &tenant.id)
        .await
        .unwrap();
    assert_eq!((s.sent, s.refused), (100, 11), "{s:?}");
    assert_eq!((s.per_mailbox, s.per_tenant), (60, 100));
    let busiest: Vec<(String, i64, i64)> = s
        .busiest
        .iter()
        .map(|m| (m.address.clone(), m.sent, m.refused))
        .collect();
    assert_eq!(
        busiest,
        [
            ("ann@acme.example".to_string(), 60, 1),
            ("bob@acme.example".to_string(), 40, 0)
        ]
    );
    // One alert for Ann's mailbox, one for the tenant, however many refusals followed.
    let alerts: Vec<_> = app::monitoring::service::alerts(st, &op, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.rule == "sending.limit_reached")
        .collect();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert!(alerts
        .iter()
        .all(|a| a.tenant_id.as_deref() == Some(tenant.id.as_str())));
    assert!(
        alerts.iter().any(|a| a
            .title
            .contains("ann@acme.example reached its sending limit of 60")),
        "{alerts:?}"
    );
    let owner = w.app.setup_owner().await;
    let page = owner
        .browser
        .get_text(&format!("/tenants/{}", w.slug))
        .await;
    let start = page
        .find("data-testid=\"sending\"")
        .expect("the sending card");
    let card = &page[start..start + page[start..].find("</section>").unwrap()];
    assert!(
        card.contains("100") && card.contains("of 100 an hour"),
        "{card}"
    );
    assert!(card.contains("Limit reached"), "{card}");
    // Not a line of the policy's log carries a password.
    assert!(!policy.log().contains(PW));
}
both!(submissions_are_held_to_the_plans_sending_limits);

/// Files in a Maildir's `cur/` and `new/` (its messages), 0 when it does not exist.
fn maildir_messages(dir: &std::path::Path) -> usize {
    ["cur", "new"]
        .iter()
        .map(|d| {
            std::fs::read_dir(dir.join(d))
                .map(|r| r.count())
                .unwrap_or(0)
        })
        .sum()
}

/// Retention: an offboarded mailbox's mail stays on the mail plane (nobody can sign in to
/// it); before its date an operator may keep it longer, with a reason; once the date has
/// passed, the purge job deletes it through doveadm, the receipt and the audit log say what
/// was removed, the usage falls back, and other mailboxes keep their mail.
async fn kept_mail_is_deleted_when_its_retention_ends(b: Backend) {
    let (w, mp) = with_doveadm(b).await;
    let st = &w.app.state;
    let op = person("usr_a");
    let ann = w.mailbox("ann").await;
    w.mailbox("keep").await;
    for i in 1..=3 {
        let r = mp
            .smtp(OUTSIDE, &["ann@acme.example"], &format!("kept {i}"))
            .await;
        assert_eq!(r["ok"], true, "{r}");
    }
    let r = mp.smtp(OUTSIDE, &["keep@acme.example"], "stays").await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(mp.inbox("ann@acme.example", PW, 3).await.len(), 3);
    assert_eq!(mp.inbox("keep@acme.example", PW, 1).await.len(), 1);
    let m = mb::get(st, &op, &ann).await.unwrap();
    let maildir = mp.maildir(&m.tenant_id, &ann);
    assert_eq!(maildir_messages(&maildir), 3);

    mb::offboard(st, &op, &ann, 30, "left the company", None, None, &[])
        .await
        .unwrap();
    assert!(!mp.imap_login("ann@acme.example", PW).await);
    // Not due: the job deletes nothing.
    assert_eq!(mb::purge_due(st).await.unwrap(), 0);
    assert_eq!(maildir_messages(&maildir), 3);

    // Kept longer: a day before the one in force, no reason or a bad date are refused.
    // The UTC day `secs` from now, as YYYY-MM-DD.
    let day = |secs: i64| app::mailboxes::kept_until(st.clock.now() + secs + 1);
    for (until, reason, field) in [
        (day(10 * 86_400), "legal hold", "until"),
        ("31/01/2027".to_string(), "legal hold", "until"),
        (day(40 * 86_400), " ", "reason"),
    ] {
        let e = mb::extend_retention(st, &op, &ann, &until, reason)
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some(field), "{until} {reason:?}: {e}");
    }
    let m = mb::extend_retention(st, &op, &ann, &day(40 * 86_400), "legal hold")
        .await
        .unwrap();
    assert_eq!(
        app::mailboxes::kept_until(m.purge_after.unwrap()),
        day(40 * 86_400)
    );

    // 35 days on, the old date has passed but the new one has not.
    st.clock.advance(35 * 86_400);
    assert_eq!(mb::purge_due(st).await.unwrap(), 0);
    assert_eq!(maildir_messages(&maildir), 3);

    // 42 days on: due. The date can no longer be moved; the job deletes the mail.
    st.clock.advance(7 * 86_400);
    let e = mb::extend_retention(st, &op, &ann, &day(60 * 86_400), "more")
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), app::core::AppError::Conflict(_)), "{e}");
    assert_eq!(mb::purge_due(st).await.unwrap(), 1);
    assert_eq!(maildir_messages(&maildir), 0, "the messages are gone");
    assert_eq!(mp.inbox("keep@acme.example", PW, 1).await.len(), 1);
    let receipt = mb::receipt(st, &op, &ann).await.unwrap();
    let purge = receipt.purge.clone().expect("the purge on the receipt");
    assert_eq!((purge.messages, purge.left), (3, 0), "{purge:?}");
    assert!(purge.bytes > 0, "{purge:?}");
    assert!(receipt.to_markdown().contains("## Mail deleted"));
    let actions = w.app.audit_actions().await;
    assert!(actions.iter().any(|a| a == "mailbox.retention_extended"));
    assert_eq!(actions.iter().filter(|a| *a == "mailbox.purged").count(), 1);
    // The usage the mail plane reports falls back.
    let mut used = None;
    for _ in 0..50 {
        used = mb::get(st, &op, &ann).await.unwrap().used_bytes;
        if used == Some(0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(used, Some(0));
    // Once is enough.
    assert_eq!(mb::purge_due(st).await.unwrap(), 0);
    let actions = w.app.audit_actions().await;
    assert_eq!(actions.iter().filter(|a| *a == "mailbox.purged").count(), 1);
}
both!(kept_mail_is_deleted_when_its_retention_ends);

/// Without a mail plane to delete it, due mail is not marked deleted: the failure is recorded
/// once (not at every run) and the monitoring watcher makes it the tenant's alert.
async fn a_purge_the_mail_plane_cannot_do_is_an_alert(b: Backend) {
    let w = world(b).await;
    let st = &w.app.state;
    let op = person("usr_a");
    let ann = w.mailbox("ann").await;
    mb::offboard(st, &op, &ann, 0, "left", None, None, &[])
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(mb::purge_due(st).await.unwrap(), 0);
    }
    let m = mb::get(st, &op, &ann).await.unwrap();
    assert_eq!(m.purged_at, None);
    let actions = w.app.audit_actions().await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "mailbox.purge_failed")
            .count(),
        1
    );
    assert!(!actions.iter().any(|a| a == "mailbox.purged"));
    app::monitoring::service::watch(st).await.unwrap();
    let alerts: Vec<_> = app::monitoring::service::alerts(st, &op, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.rule == "mailbox.purge_blocked")
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0]
            .title
            .contains("ann@acme.example is due for deletion")
            && alerts[0].title.contains("doveadm API is not configured"),
        "{}",
        alerts[0].title
    );
}
both!(a_purge_the_mail_plane_cannot_do_is_an_alert);

/// Offboarding proved on the live mail plane: a mail client's open IMAP session ends at once,
/// and the verification scan asks Dovecot (no live session) and Postfix (mail for the address
/// refused, asked without sending) besides the database. A mail plane that does not answer
/// leaves the scan unproven, never clean.
async fn offboarding_is_proved_on_the_live_mail_plane(b: Backend) {
    use mailward_tests::mailplane::{free_port, Options};
    let (dport, sport) = (free_port(), free_port());
    let w = crate::routing::world_with(b, |c| {
        c.doveadm_url = Some(format!("http://127.0.0.1:{dport}"));
        c.mailplane_smtp = Some(format!("127.0.0.1:{sport}"));
    })
    .await;
    let mp = MailPlane::start_opts(
        &w.app,
        Options {
            doveadm: Some(dport),
            smtp_port: Some(sport),
            ..Options::default()
        },
    )
    .await;
    let st = &w.app.state;
    let op = person("usr_a");
    let ann = w.mailbox("ann").await;
    let imap = mp.imap.to_string();
    // A mail client holds a session open (NOOP every 0.2 s) while the mailbox is offboarded.
    let hold_args = ["hold", &imap, "ann@acme.example", PW, "25"];
    let hold = mp.client(&hold_args);
    let offboard = async {
        for _ in 0..100 {
            if mp.doveadm(&["who"]).contains("ann@acme.example") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        mb::offboard(st, &op, &ann, 30, "left", None, None, &[]).await
    };
    let (held, receipt) = tokio::join!(hold, offboard);
    let receipt = receipt.unwrap();
    assert_eq!(held["kicked"], true, "the live session ended: {held}");
    assert!(held["secs"].as_f64().unwrap() < 20.0, "{held}");
    let live: Vec<_> = receipt
        .scan
        .iter()
        .filter(|c| c.what.contains("mail plane"))
        .collect();
    assert_eq!(live.len(), 2, "{:?}", receipt.scan);
    assert_eq!(live[0].what, "Live IMAP sessions on the mail plane");
    assert!(
        live[1]
            .what
            .starts_with("Mail for the address on the mail plane: refused (550"),
        "{}",
        live[1].what
    );
    assert!(live.iter().all(|c| c.remaining == 0), "{live:?}");
    assert!(receipt.scan_clean, "{:?}", receipt.scan);
    assert!(!mp.imap_login("ann@acme.example", PW).await);

    // A mail plane that does not answer proves nothing: the scan is not clean and says why.
    let closed = free_port();
    let w2 = crate::routing::world_with(b, |c| {
        c.mailplane_smtp = Some(format!("127.0.0.1:{closed}"));
    })
    .await;
    let bob = w2.mailbox("bob").await;
    let receipt = mb::offboard(&w2.app.state, &op, &bob, 30, "left", None, None, &[])
        .await
        .unwrap();
    assert!(!receipt.scan_clean, "{:?}", receipt.scan);
    let unanswered = receipt
        .scan
        .iter()
        .find(|c| c.what.contains("mail plane"))
        .unwrap();
    assert!(unanswered.what.contains("not answered"), "{unanswered:?}");
    assert_eq!(unanswered.remaining, 1);
}
both!(offboarding_is_proved_on_the_live_mail_plane);

/// An incident holds its tenant's outbound mail: the mail plane accepts what the mailboxes
/// submit and keeps it in its hold queue (nothing reaches the relay); released, new mail
/// leaves again, and the tenant's page counts what was held.
async fn an_incident_holds_the_tenants_outbound_mail(b: Backend) {
    use app::incidents::service as incidents;
    use mailward_tests::mailplane::Sidecar;
    let w = world(b).await;
    let policy = Sidecar::policy(&w.app).await;
    let mp = MailPlane::start_limiting(&w.app, &policy.socket).await;
    let st = &w.app.state;
    w.mailbox("ann").await;
    let alice = person("usr_alice");
    let inc = incidents::declare(
        st,
        &alice,
        &app::incidents::NewIncident {
            tenant: Some(w.slug.clone()),
            title: "Ann's password phished".into(),
            reason: "She typed it into a fake sign-in page.".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let held = incidents::hold_outbound(st, &alice, &inc.id, true)
        .await
        .unwrap();
    assert!(held.outbound_held_at.is_some());
    let again = incidents::hold_outbound(st, &alice, &inc.id, true).await;
    assert!(
        matches!(again, Err(app::core::AppError::Conflict(_))),
        "{again:?}"
    );

    let v = mp
        .submit("ann@acme.example", PW, OUTSIDE, "while held")
        .await;
    assert_eq!(
        (v["auth"].clone(), v["ok"].clone()),
        (true.into(), true.into()),
        "{v}"
    );
    let mut queue = Vec::new();
    for _ in 0..50 {
        queue = mp.queue();
        if queue.iter().any(|m| m["queue_name"] == "hold") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        queue
            .iter()
            .any(|m| m["queue_name"] == "hold" && m["sender"] == "ann@acme.example"),
        "{queue:?}"
    );
    assert!(
        mp.relay.messages().is_empty(),
        "nothing left the mail plane"
    );
    let op = person("usr_a");
    let (tenant, _) = app::tenancy::service::tenant(st, &op, &w.slug)
        .await
        .unwrap();
    let s = app::outbound::service::of_tenant(st, &op, &tenant.id)
        .await
        .unwrap();
    assert_eq!(s.held, 1, "{s:?}");
    assert_eq!(s.held_by.as_deref(), Some("Ann's password phished"));

    // Released: new mail leaves; the held one stays held until someone on the mail host acts.
    incidents::hold_outbound(st, &alice, &inc.id, false)
        .await
        .unwrap();
    let v = mp
        .submit("ann@acme.example", PW, OUTSIDE, "after release")
        .await;
    assert_eq!(v["ok"], true, "{v}");
    let relayed = mp.relayed(1).await;
    assert!(
        relayed.iter().any(|m| m.contains("after release")),
        "{relayed:?}"
    );
    assert!(
        !relayed.iter().any(|m| m.contains("while held")),
        "{relayed:?}"
    );
    assert!(mp.queue().iter().any(|m| m["queue_name"] == "hold"));
    let actions = w.app.audit_actions().await;
    for a in ["incident.outbound_held", "incident.outbound_released"] {
        assert!(actions.iter().any(|x| x == a), "{a}");
    }
}
both!(an_incident_holds_the_tenants_outbound_mail);

/// Outbound by plan: a paid tenant's mail leaves through the managed relay, signed in with
/// the platform's credentials; on Free without a relay of its own, mail to outside addresses
/// is refused at RCPT with the reason (hosted mail still flows); with its own relay (set and
/// tested here, the password sealed), its mail leaves there with its own credentials; removed,
/// refused again — each change in force at the next message, no rendering.
async fn mail_leaves_through_the_relay_its_plan_says(b: Backend) {
    use mailward_tests::mailplane::{free_port, Options, RelayLogin, RelaySink, Sidecar};
    let own_port = free_port();
    let w = crate::routing::world_with(b, |c| c.relay_ports = vec![587, own_port]).await;
    let policy = Sidecar::policy(&w.app).await;
    let mp = MailPlane::start_opts(
        &w.app,
        Options {
            policy: Some(policy.socket.clone()),
            managed_relay: Some(RelayLogin {
                user: "platform".into(),
                password: "managed relay secret".into(),
                implicit_tls: false,
            }),
            ..Options::default()
        },
    )
    .await;
    let managed = mp.managed.as_ref().unwrap();
    let st = &w.app.state;
    let sys = Actor::system("test");
    let op = person("usr_a");
    let (tenant, _) = app::tenancy::service::tenant(st, &sys, &w.slug)
        .await
        .unwrap();
    w.mailbox("ann").await;
    w.mailbox("bob").await;
    let ann = "ann@acme.example";

    // Starter includes the managed relay: out through it, encrypted and signed in.
    let v = mp.submit(ann, PW, OUTSIDE, "via the managed relay").await;
    assert_eq!(v["ok"], true, "{v}");
    let got = managed.wait_for(1).await;
    assert_eq!(got[0]["user"], "platform", "{got:?}");
    assert_eq!(got[0]["tls"], true);
    assert_eq!(got[0]["rcpt"], serde_json::json!([OUTSIDE]));
    let o = app::outbound::service::outbound(st, &op, &tenant.id)
        .await
        .unwrap();
    assert!(o.managed && o.can_send_out && o.relay.is_none(), "{o:?}");

    // On Free, with no relay: refused at RCPT, saying why; mail to a hosted mailbox goes.
    app::tenancy::service::change_plan(st, &sys, &w.slug, "plan_free")
        .await
        .unwrap();
    let v = mp.submit(ann, PW, OUTSIDE, "nowhere to go").await;
    assert_eq!(refusal(&v, OUTSIDE), Some(550), "{v}");
    let why = v["refused"][OUTSIDE][1].as_str().unwrap();
    assert!(
        why.contains("Acme sends mail to outside addresses through its own SMTP relay on the Free plan, and none is set"),
        "{why}"
    );
    let v = mp
        .submit(ann, PW, "bob@acme.example", "hosted still flows")
        .await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(mp.inbox("bob@acme.example", PW, 1).await.len(), 1);
    let o = app::outbound::service::outbound(st, &op, &tenant.id)
        .await
        .unwrap();
    assert!(!o.managed && !o.can_send_out, "{o:?}");

    // Its own relay (TLS from the first byte), first with a wrong password: the test says so.
    let login = RelayLogin {
        user: "acme-relay".into(),
        password: "acme relay secret".into(),
        implicit_tls: true,
    };
    let own = RelaySink::start(&mp.dir, own_port, &login);
    let input = |password: &str| app::outbound::RelayInput {
        host: "127.0.0.1".into(),
        port: own_port,
        tls: app::outbound::RelayTls::Tls,
        username: login.user.clone(),
        password: password.into(),
    };
    app::outbound::service::set_relay(st, &op, &tenant.id, &input("wrong"))
        .await
        .unwrap();
    let t = app::outbound::service::test_relay(st, &op, &tenant.id)
        .await
        .unwrap();
    assert_eq!(t.test_ok, Some(false), "{t:?}");
    assert!(
        t.test_result
            .as_deref()
            .unwrap()
            .contains("refused the sign-in as acme-relay"),
        "{t:?}"
    );
    // Tests are spaced: a second one at once is refused, nothing is dialled.
    let again = app::outbound::service::test_relay(st, &op, &tenant.id).await;
    assert!(
        matches!(again, Err(app::core::AppError::Conflict(_))),
        "{again:?}"
    );
    // The stored password never goes to another host, port or user.
    let moved = app::outbound::service::set_relay(
        st,
        &op,
        &tenant.id,
        &app::outbound::RelayInput {
            host: "relay.elsewhere.example".into(),
            ..input("")
        },
    )
    .await
    .unwrap_err();
    assert_eq!(moved.field(), Some("password"), "{moved:?}");
    // The right password; the test passes.
    app::outbound::service::set_relay(st, &op, &tenant.id, &input(&login.password))
        .await
        .unwrap();
    let t = app::outbound::service::test_relay(st, &op, &tenant.id)
        .await
        .unwrap();
    assert_eq!(t.test_ok, Some(true), "{t:?}");
    assert!(
        t.test_result
            .as_deref()
            .unwrap()
            .contains("signed in as acme-relay"),
        "{t:?}"
    );

    // Now Acme's mail leaves through its own relay, with its own credentials.
    let v = mp.submit(ann, PW, OUTSIDE, "via the own relay").await;
    assert_eq!(v["ok"], true, "{v}");
    let got = own.wait_for(1).await;
    assert_eq!(got[0]["user"], "acme-relay", "{got:?}");
    assert_eq!(got[0]["tls"], true);
    assert_eq!(got[0]["from"], ann);
    assert!(got[0]["data"]
        .as_str()
        .unwrap()
        .contains("via the own relay"));
    assert_eq!(
        managed.wait_for(1).await.len(),
        1,
        "nothing more via the managed relay"
    );

    // Removed: refused again.
    app::outbound::service::remove_relay(st, &op, &tenant.id)
        .await
        .unwrap();
    let v = mp.submit(ann, PW, OUTSIDE, "nowhere again").await;
    assert_eq!(refusal(&v, OUTSIDE), Some(550), "{v}");

    // Audited without the password; no password in the rendered files but the managed
    // relay's own (0640), nor in the policy's log.
    let events: Vec<(String, String)> = sqlx::query(
        "SELECT action, details FROM audit_events WHERE action LIKE 'tenant.relay_%' ORDER BY seq",
    )
    .fetch_all(st.db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| (r.try_get("action").unwrap(), r.try_get("details").unwrap()))
    .collect();
    let actions: Vec<&str> = events.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "tenant.relay_set",
            "tenant.relay_tested",
            "tenant.relay_set",
            "tenant.relay_tested",
            "tenant.relay_removed"
        ]
    );
    for (_, d) in &events {
        assert!(
            !d.contains("acme relay secret") && !d.contains("wrong"),
            "{d}"
        );
    }
    let stored: String = sqlx::query("SELECT COUNT(*) AS n FROM tenant_relays")
        .fetch_one(st.db.pool())
        .await
        .map(|r| r.try_get::<i64, _>("n").unwrap().to_string())
        .unwrap();
    assert_eq!(stored, "0");
    let conf = mp.dir.join("conf");
    let out = std::process::Command::new("grep")
        .args(["-rl", "relay secret"])
        .arg(&conf)
        .output()
        .unwrap();
    let holders = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        holders.trim(),
        conf.join("postfix/relay-password").display().to_string(),
        "{holders}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(conf.join("postfix/relay-password"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    assert!(!policy.log().contains("relay secret"));
}
both!(mail_leaves_through_the_relay_its_plan_says);

/// Delegation: a mailbox granted "send as" sends with the other's address through
/// submission (signed in as itself); one without the grant is refused; the grant is listed on
/// both mailboxes and in the report; offboarding the mailbox sent as revokes it (the receipt
/// counts it, the scan finds none left) and the next message is refused.
async fn a_delegate_sends_as_the_mailbox_until_offboarding(b: Backend) {
    let w = world(b).await;
    let mp = MailPlane::start(&w.app).await;
    let st = &w.app.state;
    let op = person("usr_a");
    let ann = w.mailbox("ann").await;
    w.mailbox("bob").await;
    w.mailbox("carol").await;
    let port = mp.submission.to_string();
    let send_as = |user: &'static str, subject: &'static str| {
        let port = port.clone();
        let mp = &mp;
        async move {
            mp.client(&[
                "submit",
                &port,
                user,
                PW,
                "ann@acme.example",
                "carol@acme.example",
                subject,
            ])
            .await
        }
    };
    // Before any grant: Bob may not use Ann's address.
    let v = send_as("bob@acme.example", "not yet").await;
    assert_eq!(refusal(&v, "carol@acme.example"), Some(553), "{v}");

    // Refused grants change nothing.
    for (who, field) in [
        ("", "delegate"),
        ("ann@acme.example", "delegate"),
        ("nobody@acme.example", "delegate"),
    ] {
        let e = mb::grant_delegation(st, &op, &ann, &NewDelegation::send_as(who))
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some(field), "{who}: {e:?}");
    }
    // Folders need the mail plane's doveadm API, which this Mailward is not given.
    let e = mb::grant_delegation(
        st,
        &op,
        &ann,
        &NewDelegation {
            delegate: "bob@acme.example".into(),
            send_as: true,
            folders: app::types::FolderAccess::Read,
            current: None,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.field(), Some("folders"), "{e:?}");
    // Twenty clicks at once make one grant; the others hear it exists.
    let bob = NewDelegation::send_as("Bob@acme.example");
    let tries =
        mailward_tests::join_all((0..20).map(|_| mb::grant_delegation(st, &op, &ann, &bob))).await;
    let granted: Vec<_> = tries.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(granted.len(), 1, "{tries:?}");
    let d = granted[0];
    assert_eq!(
        (d.address.as_str(), d.delegate.as_str()),
        ("ann@acme.example", "bob@acme.example")
    );
    for r in &tries {
        if let Err(e) = r {
            assert!(
                matches!(e.kind(), app::core::AppError::Conflict(_)),
                "{e:?}"
            );
        }
    }

    // Bob sends as Ann; Carol, without a grant, still may not.
    let v = send_as("bob@acme.example", "as ann, by bob").await;
    assert_eq!(v["ok"], true, "{v}");
    assert!(mp
        .inbox("carol@acme.example", PW, 1)
        .await
        .iter()
        .any(|s| s.contains("as ann, by bob")));
    let v = send_as("carol@acme.example", "as ann, by carol").await;
    assert_eq!(refusal(&v, "carol@acme.example"), Some(553), "{v}");

    // Listed both ways and in the report.
    let on_ann = mb::delegations(st, &op, &ann).await.unwrap();
    assert_eq!(on_ann.delegates.len(), 1);
    let on_bob = mb::delegations(st, &op, "bob@acme.example").await.unwrap();
    assert_eq!(on_bob.granted.len(), 1);
    assert_eq!(on_bob.granted[0].address, "ann@acme.example");
    assert_eq!(mb::delegations_in(st, &op, None, 0).await.unwrap().len(), 1);

    // Ann herself lets Carol send as her from her own page, and takes it back; her key is
    // her own mailbox whatever the request names.
    let ann_self = owner(&w, &ann).await;
    let by_ann = |delegate: &str, current: &str| NewDelegation {
        current: Some(current.into()),
        ..NewDelegation::send_as(delegate)
    };
    // Her password is asked again (a stolen session alone opens nothing).
    for current in ["", "not her password"] {
        let e = mb::grant_delegation(st, &ann_self, "", &by_ann("carol@acme.example", current))
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("current"), "{e:?}");
    }
    let e = mb::grant_delegation(
        st,
        &ann_self,
        "bob@acme.example",
        &by_ann("nobody@elsewhere.example", PW),
    )
    .await
    .unwrap_err();
    assert_eq!(e.field(), Some("delegate"), "{e:?}");
    let d = mb::grant_delegation(
        st,
        &ann_self,
        "bob@acme.example",
        &by_ann("carol@acme.example", PW),
    )
    .await
    .unwrap();
    assert_eq!(
        (d.address.as_str(), d.delegate.as_str()),
        ("ann@acme.example", "carol@acme.example")
    );
    let v = send_as("carol@acme.example", "as ann, by carol, ann agreed").await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        mb::delegations(st, &ann_self, "")
            .await
            .unwrap()
            .delegates
            .len(),
        2
    );
    mb::revoke_delegation(st, &ann_self, "", "carol@acme.example")
        .await
        .unwrap();
    let v = send_as("carol@acme.example", "as ann, by carol, again").await;
    assert_eq!(refusal(&v, "carol@acme.example"), Some(553), "{v}");

    // Ann is offboarded: the delegation goes with her, proved by the scan.
    let preview = mb::offboard_preview(st, &op, &ann).await.unwrap();
    assert_eq!(preview.delegations, 1);
    let r = mb::offboard(st, &op, &ann, 30, "left the company", None, None, &[])
        .await
        .unwrap();
    assert_eq!(r.revoked.delegations, 1);
    let check = r
        .scan
        .iter()
        .find(|c| c.what.starts_with("Delegations"))
        .expect("the scan counts delegations");
    assert_eq!(check.remaining, 0);
    assert!(mb::delegations(st, &op, "bob@acme.example")
        .await
        .unwrap()
        .granted
        .is_empty());
    let v = send_as("bob@acme.example", "after offboarding").await;
    assert_eq!(refusal(&v, "carol@acme.example"), Some(553), "{v}");
    let actions: Vec<String> = sqlx::query(
        "SELECT action FROM audit_events WHERE action LIKE 'mailbox.delegation_%' ORDER BY seq",
    )
    .fetch_all(st.db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| r.try_get("action").unwrap())
    .collect();
    assert_eq!(
        actions,
        [
            "mailbox.delegation_granted",
            "mailbox.delegation_granted",
            "mailbox.delegation_revoked"
        ]
    );
}
both!(a_delegate_sends_as_the_mailbox_until_offboarding);

/// Shared folders over real Dovecot: a delegate with read access finds the mailbox under
/// `Shared/<address>/`, reads it and can neither flag nor file; one with read and write can;
/// the owner keeps every right; without `send_as` the delegate still may not send as it; a
/// revocation closes the folders at once, and offboarding the owner closes them for every
/// delegate (the receipt counts it).
async fn a_delegate_opens_the_shared_folders_until_offboarding(b: Backend) {
    use app::types::FolderAccess;
    let (w, mp) = with_doveadm(b).await;
    let st = &w.app.state;
    let op = person("usr_a");
    let ann = w.mailbox("ann").await;
    w.mailbox("bob").await;
    w.mailbox("carol").await;
    for i in 1..=2 {
        let r = mp
            .smtp(OUTSIDE, &["ann@acme.example"], &format!("for ann {i}"))
            .await;
        assert_eq!(r["ok"], true, "{r}");
    }
    assert_eq!(mp.inbox("ann@acme.example", PW, 2).await.len(), 2);
    let imap = mp.imap.to_string();
    let shared = |user: &'static str| {
        let imap = imap.clone();
        let mp = &mp;
        async move {
            mp.client(&["shared", &imap, user, PW, "ann@acme.example"])
                .await
        }
    };
    let grant = |delegate: &str, send_as: bool, folders: FolderAccess| NewDelegation {
        delegate: delegate.into(),
        send_as,
        folders,
        current: None,
    };

    // Before any grant: nothing of Ann's shows to Bob.
    let v = shared("bob@acme.example").await;
    assert_eq!(v["listed"], serde_json::json!([]), "{v}");
    assert_eq!(v["opened"], false, "{v}");
    // Ann's own mail program cannot share around Mailward (SETACL is not offered: "anyone"
    // would reach every tenant), and nothing opens.
    for ident in ["anyone", "bob@acme.example"] {
        let r = mp
            .client(&["setacl", &imap, "ann@acme.example", PW, ident, "lr"])
            .await;
        assert_eq!(r["ok"], false, "{r}");
    }
    assert_eq!(shared("bob@acme.example").await["opened"], false);
    // A delegation with no right at all is refused, naming the field.
    let e = mb::grant_delegation(
        st,
        &op,
        &ann,
        &grant("bob@acme.example", false, FolderAccess::None),
    )
    .await
    .unwrap_err();
    assert_eq!(e.field(), Some("send_as"), "{e:?}");

    // Bob may read Ann's folders (not send as her).
    let d = mb::grant_delegation(
        st,
        &op,
        &ann,
        &grant("bob@acme.example", false, FolderAccess::Read),
    )
    .await
    .unwrap();
    assert_eq!((d.send_as, d.folders), (false, FolderAccess::Read));
    // A folder Ann makes afterwards is shared the same way (it follows her INBOX).
    mp.doveadm(&["mailbox", "create", "-u", "ann@acme.example", "Projects"]);
    let v = shared("bob@acme.example").await;
    assert_eq!(v["listed"], serde_json::json!(["INBOX", "Projects"]), "{v}");
    assert_eq!(v["opened"], true, "{v}");
    let mut subjects: Vec<String> = serde_json::from_value(v["subjects"].clone()).unwrap();
    subjects.sort();
    assert_eq!(subjects, ["for ann 1", "for ann 2"], "{v}");
    assert_eq!(v["flag_deleted"], false, "read access flags nothing: {v}");
    assert_eq!(v["append"], false, "read access files nothing: {v}");
    let r = mp
        .client(&[
            "submit",
            &mp.submission.to_string(),
            "bob@acme.example",
            PW,
            "ann@acme.example",
            "carol@acme.example",
            "as ann, by bob",
        ])
        .await;
    assert_eq!(
        refusal(&r, "carol@acme.example"),
        Some(553),
        "folders only: {r}"
    );

    // Carol may read and write, and send as Ann.
    mb::grant_delegation(
        st,
        &op,
        &ann,
        &grant("carol@acme.example", true, FolderAccess::ReadWrite),
    )
    .await
    .unwrap();
    let v = shared("carol@acme.example").await;
    assert_eq!(v["opened"], true, "{v}");
    assert_eq!(v["flag_deleted"], true, "{v}");
    assert_eq!(v["append"], true, "{v}");
    // What Carol filed is in Ann's own INBOX, and Ann keeps her rights over it.
    let own = mp.inbox("ann@acme.example", PW, 3).await;
    assert!(own.iter().any(|s| s == "filed by the delegate"), "{own:?}");
    let listed = mb::delegations(st, &op, &ann).await.unwrap();
    assert_eq!(listed.delegates.len(), 2);
    assert_eq!(
        mb::delegations(st, &op, "carol@acme.example")
            .await
            .unwrap()
            .granted[0]
            .rights(),
        "send as, read and write folders"
    );

    // Revoking Carol's closes the folders for her at once, even the session she has open in
    // them; Bob's stay.
    let hold_args = [
        "hold",
        &imap,
        "carol@acme.example",
        PW,
        "15",
        "Shared/ann@acme.example",
    ];
    let holding = mp.client(&hold_args);
    let revoke = async {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        mb::revoke_delegation(st, &op, &ann, "carol@acme.example")
            .await
            .unwrap();
    };
    let (held, ()) = tokio::join!(holding, revoke);
    assert_eq!(held["ok"], true, "{held}");
    assert_eq!(held["kicked"], true, "the open session ended: {held}");
    let v = shared("carol@acme.example").await;
    assert_eq!(v["opened"], false, "{v}");
    assert_eq!(v["listed"], serde_json::json!([]), "{v}");
    assert_eq!(shared("bob@acme.example").await["opened"], true);

    // Ann is offboarded: Bob's access goes with her.
    let r = mb::offboard(st, &op, &ann, 30, "left the company", None, None, &[])
        .await
        .unwrap();
    assert_eq!(r.revoked.delegations, 1);
    let v = shared("bob@acme.example").await;
    assert_eq!(v["opened"], false, "{v}");
    assert_eq!(v["listed"], serde_json::json!([]), "{v}");
}
both!(a_delegate_opens_the_shared_folders_until_offboarding);

/// A shared mailbox (team@): active at once with no invitation and no password, so nobody
/// signs in to it; mail for it is delivered; links and resets are refused; it cannot be a
/// delegate; delegated to Bob, he reads and files in it and sends as it; offboarding it
/// closes both.
async fn a_shared_mailbox_is_reached_only_through_delegation(b: Backend) {
    use app::mailboxes::NewMailbox;
    use app::types::{FolderAccess, MailboxStatus};
    let (w, mp) = with_doveadm(b).await;
    let st = &w.app.state;
    let op = person("usr_a");
    w.mailbox("bob").await;
    let new = |invite_to: Option<&str>| NewMailbox {
        domain: Some(w.domain.clone()),
        address: "team".into(),
        display_name: "The team".into(),
        invite_to: invite_to.map(str::to_string),
        shared: true,
        ..Default::default()
    };
    // An invitation makes no sense for it: refused on its field, nothing made.
    let e = mb::create(st, &op, &new(Some("lead@home.example")))
        .await
        .err()
        .unwrap();
    assert_eq!(e.field(), Some("invite_to"), "{e:?}");
    let team = mb::create(st, &op, &new(None)).await.unwrap();
    assert!(!team.emailed);
    let team = team.mailbox;
    assert_eq!((team.status, team.shared), (MailboxStatus::Active, true));
    let open: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM mailbox_invites WHERE mailbox_id = $1")
            .bind(&team.id)
            .fetch_one(st.db.pool())
            .await
            .unwrap();
    assert_eq!(open, 0, "no link was made");
    // Nothing gives it a password.
    let e = mb::resend_invite(st, &op, &team.id, None)
        .await
        .unwrap_err();
    assert!(matches!(e, app::core::AppError::Conflict(_)), "{e:?}");
    let e = mb::request_reset(st, &op, &team.id, "forgot it", false, None)
        .await
        .unwrap_err();
    assert!(matches!(e, app::core::AppError::Conflict(_)), "{e:?}");
    assert!(!mp.imap_login("team@acme.example", PW).await);
    assert!(!mp.imap_login("team@acme.example", "").await);

    // Mail for it is delivered.
    let r = mp
        .smtp(OUTSIDE, &["team@acme.example"], "question for the team")
        .await;
    assert_eq!(r["ok"], true, "{r}");

    // It cannot be a delegate (nobody would use it); Bob can.
    let e = mb::grant_delegation(
        st,
        &op,
        "bob@acme.example",
        &NewDelegation::send_as("team@acme.example"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.field(), Some("delegate"), "{e:?}");
    mb::grant_delegation(
        st,
        &op,
        &team.id,
        &NewDelegation {
            delegate: "bob@acme.example".into(),
            send_as: true,
            folders: FolderAccess::ReadWrite,
            current: None,
        },
    )
    .await
    .unwrap();
    let imap = mp.imap.to_string();
    let look = ["shared", &imap, "bob@acme.example", PW, "team@acme.example"];
    let shared = || mp.client(&look);
    let mut v = Value::Null;
    for _ in 0..50 {
        v = shared().await;
        if v["subjects"].as_array().is_some_and(|s| !s.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        v["subjects"],
        serde_json::json!(["question for the team"]),
        "{v}"
    );
    assert_eq!(v["append"], true, "{v}");
    let submission = mp.submission.to_string();
    let as_team = |subject: &'static str| {
        let submission = submission.clone();
        let mp = &mp;
        async move {
            mp.client(&[
                "submit",
                &submission,
                "bob@acme.example",
                PW,
                "team@acme.example",
                "bob@acme.example",
                subject,
            ])
            .await
        }
    };
    let r = as_team("answered as the team").await;
    assert_eq!(r["ok"], true, "{r}");

    // Offboarded: Bob's access to it ends, both ways.
    let rc = mb::offboard(st, &op, &team.id, 30, "team disbanded", None, None, &[])
        .await
        .unwrap();
    assert_eq!(rc.revoked.delegations, 1);
    let v = shared().await;
    assert_eq!(v["opened"], false, "{v}");
    let r = as_team("after offboarding").await;
    assert_eq!(refusal(&r, "bob@acme.example"), Some(553), "{r}");
}
both!(a_shared_mailbox_is_reached_only_through_delegation);
