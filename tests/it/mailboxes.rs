//! The mailbox lifecycle: invitation links (single use, expiry, resend), the owner's
//! password and recovery codes, self-service and operator resets with their limits,
//! critical resets through the change-request queue (one approval, never one's own, one
//! effect under a race), app passwords and offboarding with its verification scan.
use app::core::authz::{Actor, Principal, TenantScope};
use app::mailboxes::service as mb;
use app::mailboxes::NewMailbox;
use app::tenancy::service as tenancy;
use mailward_tests::{both, recovery_codes_in, Account, Backend, Browser, SmtpSink, TestApp};

const PW: &str = "copper lantern harbour 7";
const PW2: &str = "silent meadow compass 9";

struct World {
    app: TestApp,
    sink: SmtpSink,
    owner: Account,
    slug: String,
    domain: String,
}

async fn world_with(b: Backend, tweak: impl FnOnce(&mut app::core::config::Config)) -> World {
    let (app, sink) = TestApp::start_with_mail(b, tweak).await;
    let owner = app.setup_owner().await;
    let (slug, mut domains) = app
        .tenant_with_domains("plan_free", &["acme.example"])
        .await;
    World {
        app,
        sink,
        owner,
        slug,
        domain: domains.remove(0),
    }
}

async fn world(b: Backend) -> World {
    world_with(b, |_| {}).await
}

impl World {
    /// The newest activation link mailed to `to`.
    fn link_to(&self, to: &str) -> String {
        let mail = self.sink.messages();
        let m = mail
            .iter()
            .rev()
            .find(|m| m.contains(&format!("To: {to}")))
            .unwrap_or_else(|| panic!("a mail to {to} in {mail:?}"));
        let url = m
            .split_whitespace()
            .find(|w| w.contains("/activate/mwm_"))
            .expect("the link is in the mail");
        url.trim_start_matches(&self.app.base).to_string()
    }

    /// Creates a mailbox through the console form; returns its id.
    async fn create(&self, local: &str, invite_to: &str, extra: &[(&str, &str)]) -> String {
        let mut form = vec![
            ("domain", self.domain.as_str()),
            ("address", local),
            ("display_name", "Ann Example"),
            ("invite_to", invite_to),
        ];
        form.extend_from_slice(extra);
        let r = self.owner.browser.post("/mailboxes", &form).await;
        let to = r.headers()["location"].to_str().unwrap().to_string();
        if !to.starts_with("/mailboxes/mbx_") {
            panic!("not created: {:?}", self.owner.browser.flash(&to).await);
        }
        to.trim_start_matches("/mailboxes/").to_string()
    }

    /// The owner accepts their link; returns their browser (signed in to /me) and codes.
    async fn activate(&self, link: &str, password: &str) -> (Browser, Vec<String>) {
        let b = self.app.browser();
        let r = b
            .post(link, &[("password", password), ("confirm", password)])
            .await;
        assert_eq!(r.headers()["location"], "/me/recovery-codes", "accepted");
        let page = b.get_text("/me/recovery-codes").await;
        let codes = recovery_codes_in(&page);
        assert_eq!(codes.len(), 10, "ten codes: {page}");
        let txt = b.get_text("/me/recovery-codes.txt").await;
        assert!(
            codes.iter().all(|c| txt.contains(c)),
            "download has the codes"
        );
        b.post("/me/recovery-codes/ack", &[]).await;
        // Shown once: after acknowledging, the codes are gone.
        assert!(recovery_codes_in(&b.get_text("/me/recovery-codes").await).is_empty());
        (b, codes)
    }

    /// Signs the console owner in again (after the clock has moved past their session).
    async fn relogin(&self) {
        let code = self.app.next_totp(&self.owner.totp_secret);
        let to = self
            .owner
            .browser
            .sign_in(&self.owner.email, &self.owner.password, &code)
            .await;
        if to != "/" {
            panic!(
                "signed in again: {to} {:?}",
                self.owner.browser.flash("/login").await
            );
        }
    }

    async fn mailbox(&self, id: &str) -> app::mailboxes::Mailbox {
        mb::get(&self.app.state, &Actor::system("test"), id)
            .await
            .unwrap()
    }

    async fn stored_hash(&self, id: &str) -> Option<String> {
        use sqlx::Row;
        sqlx::query("SELECT password_hash FROM mailboxes WHERE id = $1")
            .bind(id)
            .fetch_one(self.app.state.db.pool())
            .await
            .unwrap()
            .try_get("password_hash")
            .unwrap()
    }
}

/// Signs a mailbox owner in to /me; returns where it went.
async fn owner_sign_in(app: &TestApp, address: &str, password: &str) -> (Browser, String) {
    let b = app.browser();
    let r = b
        .post("/me/login", &[("address", address), ("password", password)])
        .await;
    let to = r.headers()["location"].to_str().unwrap().to_string();
    (b, to)
}

async fn provisioning_by_invitation(b: Backend) {
    let w = world(b).await;
    let id = w
        .create("Ann", "ann.private@home.example", &[("quota", "200 MB")])
        .await;
    let m = w.mailbox(&id).await;
    assert_eq!(
        (m.address.as_str(), m.status.as_str(), m.quota_bytes),
        ("ann@acme.example", "invited", Some(200_000_000))
    );
    // The operator never sees the link: it went by email, and the page shows no token.
    let page = w.owner.browser.get_text(&format!("/mailboxes/{id}")).await;
    assert!(
        page.contains("emailed to ann.private@home.example"),
        "{page}"
    );
    assert!(!page.contains("mwm_"));
    let link = w.link_to("ann.private@home.example");
    // Before acceptance the mailbox cannot sign in.
    assert_eq!(owner_sign_in(&w.app, &m.address, PW).await.1, "/me/login");
    // The activation page names the mailbox; a weak password is refused and changes nothing.
    let anon = w.app.browser();
    assert!(anon.get_text(&link).await.contains("ann@acme.example"));
    anon.post(
        &link,
        &[("password", "password1234"), ("confirm", "password1234")],
    )
    .await;
    assert!(anon.flash(&link).await.unwrap().contains("too common"));
    assert_eq!(w.mailbox(&id).await.status, "invited");
    // Accepted: active, argon2id with Dovecot's prefix, ten codes.
    let (owner_b, _codes) = w.activate(&link, PW).await;
    assert_eq!(w.mailbox(&id).await.status, "active");
    assert!(w
        .stored_hash(&id)
        .await
        .unwrap()
        .starts_with("{ARGON2ID}$argon2id$"));
    assert!(owner_b.get_text("/me").await.contains("ann@acme.example"));
    // The link works once.
    let again = w.app.browser();
    let r = again
        .post(&link, &[("password", PW2), ("confirm", PW2)])
        .await;
    assert_eq!(r.headers()["location"].to_str().unwrap(), link);
    assert!(again.get_text(&link).await.contains("not valid any more"));
    // Sign-in with the password works; a wrong one gets the neutral answer.
    assert_eq!(owner_sign_in(&w.app, "ann@acme.example", PW).await.1, "/me");
    let (bad, to) = owner_sign_in(&w.app, "ann@acme.example", PW2).await;
    assert_eq!(to, "/me/login");
    assert!(bad
        .flash("/me/login")
        .await
        .unwrap()
        .contains("Sign-in failed"));

    // Expiry: a link older than 72 h is dead.
    let id2 = w.create("bob", "bob@home.example", &[]).await;
    let old = w.link_to("bob@home.example");
    w.app.state.clock.advance(73 * 3600);
    assert!(w
        .app
        .browser()
        .get_text(&old)
        .await
        .contains("not valid any more"));
    // Resending makes a new link (the owner's console session has expired by now).
    let emailed = mb::resend_invite(&w.app.state, &Actor::system("t"), &id2, None)
        .await
        .unwrap();
    assert!(emailed);
    let fresh = w.link_to("bob@home.example");
    assert_ne!(fresh, old);
    w.relogin().await;
    let id3 = w.create("cy", "cy@home.example", &[]).await;
    let first = w.link_to("cy@home.example");
    w.owner
        .browser
        .post(&format!("/mailboxes/{id3}/invite/resend"), &[])
        .await;
    assert!(w
        .app
        .browser()
        .get_text(&first)
        .await
        .contains("not valid any more"));
    w.activate(&fresh, PW).await;

    // Bad input: clear errors, nothing created.
    let before = w.sink.messages().len();
    for (form, msg) in [
        (
            vec![("address", "dup"), ("display_name", "")],
            "Enter the person",
        ),
        (
            vec![("address", "ann"), ("display_name", "Ann")],
            "already exists",
        ),
        (
            vec![("address", "a b"), ("display_name", "X")],
            "cannot be the name part",
        ),
        (
            vec![("address", "big"), ("display_name", "X"), ("quota", "2 GB")],
            "does not fit",
        ),
        (
            vec![("address", "q"), ("display_name", "X"), ("quota", "lots")],
            "is not a size",
        ),
    ] {
        let mut f = vec![("domain", w.domain.as_str()), ("back", "/")];
        f.extend(form);
        w.owner.browser.post("/mailboxes", &f).await;
        let flash = w.owner.browser.flash("/").await.unwrap_or_default();
        assert!(flash.contains(msg), "{msg}: {flash}");
    }
    assert_eq!(w.sink.messages().len(), before);
    let t = tenancy::tenant(&w.app.state, &Actor::system("t"), &w.slug)
        .await
        .unwrap()
        .0;
    assert_eq!(t.storage_allocated, 200_000_000, "only Ann's allocation");
}
both!(provisioning_by_invitation);

async fn recovery_code_reset(b: Backend) {
    let w = world(b).await;
    let id = w.create("ann", "ann@home.example", &[]).await;
    let (owner_b, codes) = w.activate(&w.link_to("ann@home.example"), PW).await;
    let address = "ann@acme.example";
    // Wrong code and unknown address: the same neutral answer; nothing changes.
    let anon = w.app.browser();
    for (addr, code) in [
        (address, "AAAA-BBBB-CCCC"),
        ("nobody@acme.example", codes[0].as_str()),
    ] {
        anon.post(
            "/me/reset",
            &[
                ("address", addr),
                ("code", code),
                ("password", PW2),
                ("confirm", PW2),
            ],
        )
        .await;
        assert!(anon
            .flash("/me/reset")
            .await
            .unwrap()
            .contains("Check the mailbox address and the recovery code"));
    }
    // The right code: new password, sessions ended, notices to both addresses.
    let mails_before = w.sink.messages().len();
    let r = anon
        .post(
            "/me/reset",
            &[
                ("address", address),
                ("code", &codes[1].to_lowercase()),
                ("password", PW2),
                ("confirm", PW2),
            ],
        )
        .await;
    assert_eq!(r.headers()["location"], "/me/login");
    assert_eq!(
        owner_b.get("/me").await.headers()["location"],
        "/me/login",
        "session ended"
    );
    assert_eq!(owner_sign_in(&w.app, address, PW).await.1, "/me/login");
    assert_eq!(owner_sign_in(&w.app, address, PW2).await.1, "/me");
    let notices: Vec<String> = w.sink.messages()[mails_before..].to_vec();
    assert_eq!(
        notices.len(),
        2,
        "owner's mailbox and other address notified"
    );
    assert!(notices.iter().any(|m| m.contains("To: ann@acme.example")));
    assert!(notices.iter().any(|m| m.contains("To: ann@home.example")));
    // A code works once.
    anon.post(
        "/me/reset",
        &[
            ("address", address),
            ("code", &codes[1]),
            ("password", PW),
            ("confirm", PW),
        ],
    )
    .await;
    assert!(anon
        .flash("/me/reset")
        .await
        .unwrap()
        .contains("did not work"));
    // Throttling per mailbox: after 5 failures even a right code is refused and kept.
    let attacker = w.app.browser();
    for _ in 0..3 {
        attacker
            .post(
                "/me/reset",
                &[
                    ("address", address),
                    ("code", "ZZZZ-ZZZZ-ZZZZ"),
                    ("password", PW),
                    ("confirm", PW),
                ],
            )
            .await;
    }
    let r = attacker
        .post(
            "/me/reset",
            &[
                ("address", address),
                ("code", &codes[2]),
                ("password", PW),
                ("confirm", PW),
            ],
        )
        .await;
    assert_eq!(r.headers()["location"], "/me/reset");
    assert!(attacker
        .flash("/me/reset")
        .await
        .unwrap()
        .contains("Too many"));
    assert_eq!(
        owner_sign_in(&w.app, address, PW2).await.1,
        "/me",
        "unchanged"
    );
    // …and after the window the same code works.
    w.app.state.clock.advance(16 * 60);
    anon.post(
        "/me/reset",
        &[
            ("address", address),
            ("code", &codes[2]),
            ("password", PW),
            ("confirm", PW),
        ],
    )
    .await;
    assert_eq!(owner_sign_in(&w.app, address, PW).await.1, "/me");
    // The owner's area: change password and new codes (the old ones stop working).
    let (me, _) = owner_sign_in(&w.app, address, PW).await;
    let (other, _) = owner_sign_in(&w.app, address, PW).await;
    me.post(
        "/me/password",
        &[("current", PW), ("password", PW2), ("confirm", PW2)],
    )
    .await;
    assert_eq!(
        me.flash("/me").await.unwrap(),
        "Password changed. Any other signed-in sessions were signed out."
    );
    // The other browser's session ended; this one goes on.
    let r = other.get("/me").await;
    assert_eq!(r.headers()["location"], "/me/login", "other session ended");
    // New codes need the current password.
    let r = me.post("/me/recovery-codes", &[("current", PW)]).await;
    assert_eq!(r.headers()["location"], "/me");
    assert_eq!(
        me.flash("/me").await.unwrap(),
        "The current password is not right."
    );
    let r = me.post("/me/recovery-codes", &[("current", PW2)]).await;
    assert_eq!(r.headers()["location"], "/me/recovery-codes");
    let fresh = recovery_codes_in(&me.get_text("/me/recovery-codes").await);
    assert_eq!(fresh.len(), 10);
    anon.post(
        "/me/reset",
        &[
            ("address", address),
            ("code", &codes[3]),
            ("password", PW),
            ("confirm", PW),
        ],
    )
    .await;
    assert!(
        anon.flash("/me/reset")
            .await
            .unwrap()
            .contains("did not work"),
        "old codes void"
    );
    let log = w.app.audit_actions().await;
    for a in [
        "mailbox.self_reset",
        "mailbox.self_reset_failed",
        "mailbox.reset_throttled",
        "mailbox.recovery_codes_regenerated",
    ] {
        assert!(log.iter().any(|x| x == a), "{a} in {log:?}");
    }
    let _ = id;
}
both!(recovery_code_reset);

async fn operator_resets_locks_and_limits(b: Backend) {
    let w = world_with(b, |c| c.reset_limit_per_operator_hour = 3).await;
    let id = w.create("ann", "ann@home.example", &[]).await;
    let (_, codes) = w.activate(&w.link_to("ann@home.example"), PW).await;
    let page = format!("/mailboxes/{id}");
    let reset = |form: Vec<(&'static str, &'static str)>| {
        let br = &w.owner.browser;
        let page = page.clone();
        async move {
            br.post(&format!("{page}/reset"), &form).await;
            br.flash(&page).await.unwrap_or_default()
        }
    };
    // A reason is mandatory.
    assert!(reset(vec![("reason", " ")])
        .await
        .contains("Give the reason"));
    // Without "lock now" the old password keeps working until the new one is set.
    let msg = reset(vec![("reason", "lost phone, ticket 12")]).await;
    assert!(msg.contains("Reset link emailed"), "{msg}");
    assert_eq!(owner_sign_in(&w.app, "ann@acme.example", PW).await.1, "/me");
    let link = w.link_to("ann@home.example");
    // "Lock now" disables it at once (and replaces the open link).
    let (ann, _) = owner_sign_in(&w.app, "ann@acme.example", PW).await;
    let msg = reset(vec![("reason", "suspected compromise"), ("lock_now", "on")]).await;
    assert!(msg.contains("locked"), "{msg}");
    assert_eq!(w.mailbox(&id).await.status, "locked");
    assert_eq!(
        owner_sign_in(&w.app, "ann@acme.example", PW).await.1,
        "/me/login"
    );
    assert_eq!(ann.get("/me").await.headers()["location"], "/me/login");
    // A locked mailbox does not open with a recovery code: only the operator's link opens it.
    let anon = w.app.browser();
    anon.post(
        "/me/reset",
        &[
            ("address", "ann@acme.example"),
            ("code", &codes[0]),
            ("password", PW2),
            ("confirm", PW2),
        ],
    )
    .await;
    assert!(anon
        .flash("/me/reset")
        .await
        .unwrap()
        .contains("did not work"));
    assert_eq!(w.mailbox(&id).await.status, "locked");
    assert!(w
        .app
        .browser()
        .get_text(&link)
        .await
        .contains("not valid any more"));
    // The owner sets a new password from the newest link: active again.
    w.activate(&w.link_to("ann@home.example"), PW2).await;
    assert_eq!(w.mailbox(&id).await.status, "active");
    assert_eq!(
        owner_sign_in(&w.app, "ann@acme.example", PW2).await.1,
        "/me"
    );
    // Three resets within ten minutes in one tenant: the dashboard raises the alert.
    assert!(!w
        .owner
        .browser
        .get_text("/")
        .await
        .contains("data-testid=\"reset-burst\""));
    assert!(reset(vec![("reason", "third in an hour")])
        .await
        .contains("Reset link emailed"));
    let dash = w.owner.browser.get_text("/").await;
    assert!(
        dash.contains("data-testid=\"reset-burst\""),
        "burst alert shown"
    );
    // Rate limit per operator (3 an hour here): the fourth is refused and changes nothing.
    let mails = w.sink.messages().len();
    let msg = reset(vec![("reason", "fourth in an hour")]).await;
    assert!(msg.contains("Reset limit reached"), "{msg}");
    assert_eq!(w.sink.messages().len(), mails);
    w.app.state.clock.advance(3601);
    w.relogin().await;
    assert!(!w
        .owner
        .browser
        .get_text("/")
        .await
        .contains("data-testid=\"reset-burst\""));
    assert!(reset(vec![("reason", "an hour later")])
        .await
        .contains("Reset link emailed"));
    let log = w.app.audit_actions().await;
    assert_eq!(
        log.iter()
            .filter(|a| *a == "mailbox.reset_requested")
            .count(),
        4
    );
    assert!(log.iter().any(|a| a == "mailbox.locked"));
}
both!(operator_resets_locks_and_limits);

fn operator(id: &str) -> Actor {
    Actor::for_tests(
        Principal::User,
        Some(id.into()),
        format!("{id}@agency.example"),
        Some(app::auth::Role::Operator),
        TenantScope::All,
        Some("127.0.0.1".into()),
    )
}

async fn critical_resets_need_a_second_person(b: Backend) {
    let w = world(b).await;
    let id = w
        .create("billing", "cfo@home.example", &[("critical", "on")])
        .await;
    w.activate(&w.link_to("cfo@home.example"), PW).await;
    // Critical: never revealed, and the reset waits for someone else.
    let page = w.owner.browser.get_text(&format!("/mailboxes/{id}")).await;
    assert!(page.contains("critical"));
    let mails = w.sink.messages().len();
    w.owner
        .browser
        .post(
            &format!("/mailboxes/{id}/reset"),
            &[("reason", "CFO lost phone")],
        )
        .await;
    let flash = w
        .owner
        .browser
        .flash(&format!("/mailboxes/{id}"))
        .await
        .unwrap();
    assert!(flash.contains("waits in Approvals"), "{flash}");
    assert_eq!(w.sink.messages().len(), mails, "no link before approval");
    let queue = w.owner.browser.get_text("/approvals").await;
    assert!(
        queue.contains("You asked for this"),
        "requester cannot approve"
    );
    let (_, c) = app::changes::service::list(
        &w.app.state,
        &Actor::system("t"),
        app::changes::service::Filter::Pending,
    )
    .await
    .unwrap()
    .into_iter()
    .map(|c| (c.requested_by.clone(), c))
    .next()
    .unwrap();
    // The requester's own approval is refused and changes nothing.
    w.owner
        .browser
        .post(&format!("/approvals/{}/approve", c.id), &[])
        .await;
    assert!(w
        .owner
        .browser
        .flash("/approvals")
        .await
        .unwrap()
        .contains("someone else must approve"));
    // Two other operators approve at the same moment: one effect, one "already decided".
    let (a, bb) = (operator("usr_alice"), operator("usr_bert"));
    let (ra, rb) = tokio::join!(
        app::changes::service::approve(&w.app.state, &a, &c.id),
        app::changes::service::approve(&w.app.state, &bb, &c.id),
    );
    assert_eq!(
        [ra.is_ok(), rb.is_ok()].iter().filter(|x| **x).count(),
        1,
        "exactly one approval wins: {ra:?} {rb:?}"
    );
    let loser = if ra.is_ok() { rb } else { ra };
    assert!(
        matches!(loser, Err(app::core::AppError::Conflict(ref m)) if m.contains("already decided")),
        "{loser:?}"
    );
    let links: Vec<String> = w.sink.messages()[mails..]
        .iter()
        .filter(|m| m.contains("/activate/mwm_"))
        .cloned()
        .collect();
    assert_eq!(links.len(), 1, "one link issued");
    let done = app::changes::service::get(&w.app.state, &Actor::system("t"), &c.id)
        .await
        .unwrap();
    assert_eq!(done.state, "applied");
    assert!(
        done.before.contains("\"status\":\"active\""),
        "before snapshot: {}",
        done.before
    );
    w.activate(&w.link_to("cfo@home.example"), PW2).await;
    assert_eq!(
        owner_sign_in(&w.app, "billing@acme.example", PW2).await.1,
        "/me"
    );
    // The link of a critical mailbox cannot be revealed.
    let r = mb::reveal_invite(&w.app.state, &a, &id).await;
    assert!(r.is_err());
    let log = w.app.audit_actions().await;
    for x in [
        "change.requested",
        "change.approved",
        "change.applied",
        "mailbox.password_reset",
    ] {
        assert!(log.iter().any(|a| a == x), "{x}");
    }
}
both!(critical_resets_need_a_second_person);

async fn offboarding_leaves_nothing_active(b: Backend) {
    let w = world(b).await;
    let id = w
        .create(
            "dora",
            "dora@home.example",
            &[("quota", "100 MB"), ("critical", "on")],
        )
        .await;
    let (dora, _) = w.activate(&w.link_to("dora@home.example"), PW).await;
    // An app password (shown once), an open reset link, a pending request, a session.
    dora.post(
        "/me/app-passwords",
        &[("current", PW), ("name", "Phone"), ("imap", "on")],
    )
    .await;
    let page = dora.get_text("/me").await;
    let secret = mailward_tests::testid_text(&page, "fresh-secret").expect("shown once");
    assert_eq!(secret.len(), 39);
    assert!(!dora.get_text("/me").await.contains(&secret), "only once");
    mb::request_reset(
        &w.app.state,
        &operator("usr_o"),
        &id,
        "test pending",
        false,
        None,
    )
    .await
    .unwrap();
    // Wrong confirmation: refused, nothing changed.
    w.owner
        .browser
        .post(
            &format!("/mailboxes/{id}/offboard"),
            &[
                ("keep_days", "30"),
                ("reason", "left the company"),
                ("confirm", "someone@else"),
            ],
        )
        .await;
    assert!(w
        .owner
        .browser
        .flash(&format!("/mailboxes/{id}"))
        .await
        .unwrap()
        .contains("to confirm"));
    assert_eq!(w.mailbox(&id).await.status, "active");
    let preview = mb::offboard_preview(&w.app.state, &Actor::system("t"), &id)
        .await
        .unwrap();
    assert_eq!(
        (
            preview.sessions,
            preview.app_passwords,
            preview.recovery_codes,
            preview.change_requests
        ),
        (1, 1, 10, 1)
    );
    let r = w
        .owner
        .browser
        .post(
            &format!("/mailboxes/{id}/offboard"),
            &[
                ("keep_days", "30"),
                ("reason", "left the company"),
                ("confirm", "Dora@acme.example"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = w.owner.browser.get_text(&format!("/mailboxes/{id}")).await;
    assert!(
        page.contains("verification scan: clean"),
        "receipt on the page"
    );
    let receipt = mb::receipt(&w.app.state, &Actor::system("t"), &id)
        .await
        .unwrap();
    assert!(receipt.scan_clean);
    assert!(receipt.scan.iter().all(|c| c.remaining == 0));
    assert_eq!(
        (
            receipt.revoked.sessions,
            receipt.revoked.app_passwords,
            receipt.revoked.recovery_codes,
            receipt.revoked.change_requests
        ),
        (1, 1, 10, 1)
    );
    let md = w
        .owner
        .browser
        .get_text(&format!("/mailboxes/{id}/receipt.md"))
        .await;
    assert!(md.contains("Result: clean") && md.contains("dora@acme.example"));
    let json: serde_json::Value = w
        .owner
        .browser
        .get(&format!("/mailboxes/{id}/receipt.json"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(json["scan_clean"], true);
    // Nothing works any more; the pool got its allocation back.
    assert_eq!(dora.get("/me").await.headers()["location"], "/me/login");
    assert_eq!(
        owner_sign_in(&w.app, "dora@acme.example", PW).await.1,
        "/me/login"
    );
    assert!(w.stored_hash(&id).await.is_none());
    let t = tenancy::tenant(&w.app.state, &Actor::system("t"), &w.slug)
        .await
        .unwrap()
        .0;
    assert_eq!(t.storage_allocated, 0);
    // Twice is refused.
    let again = mb::offboard(
        &w.app.state,
        &Actor::system("t"),
        &id,
        30,
        "again",
        None,
        None,
        &[],
    )
    .await;
    assert!(matches!(again, Err(app::core::AppError::Conflict(_))));
    // Over REST too, with the same receipt.
    let id2 = w.create("eve", "eve@home.example", &[]).await;
    let (_, token) = app::auth::service::create_token_for_email(
        &w.app.state,
        &w.owner.email,
        "t",
        &["read,write".into()],
        1,
    )
    .await
    .unwrap();
    let r = reqwest::Client::new()
        .post(w.app.url(&format!("/api/v1/mailboxes/{id2}/offboard")))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "keep_days": 0, "reason": "never started" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["scan_clean"], true);
    assert_eq!(
        body["revoked"]["invites"], 1,
        "the open invitation was revoked"
    );
}
both!(offboarding_leaves_nothing_active);

async fn mailboxes_over_rest(b: Backend) {
    let w = world(b).await;
    let (_, token) = app::auth::service::create_token_for_email(
        &w.app.state,
        &w.owner.email,
        "t",
        &["read,write".into()],
        1,
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let started = std::time::Instant::now();
    for i in 0..5 {
        let r = http
            .post(w.app.url("/api/v1/mailboxes"))
            .bearer_auth(&token)
            .json(&serde_json::json!({
                "address": format!("user{i}@acme.example"),
                "display_name": format!("User {i}"),
                "invite_to": format!("user{i}@home.example"),
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["invitation_emailed"], true);
    }
    let _ = started;
    let r = http
        .post(w.app.url("/api/v1/mailboxes"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "address": "user1@acme.example", "display_name": "Dup" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let r: serde_json::Value = http
        .get(w.app.url("/api/v1/mailboxes/user3@acme.example"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["mailbox"]["status"], "invited");
    assert_eq!(r["open_invite"]["delivery"], "email");
    let doc = http
        .get(w.app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for p in [
        "/api/v1/mailboxes",
        "/api/v1/mailboxes/{id}/offboard",
        "/api/v1/changes/{id}/approve",
    ] {
        assert!(doc.contains(p), "{p} documented");
    }
    let _ = NewMailbox::default();
}
both!(mailboxes_over_rest);

async fn reveal_once_and_bulk_offboarding(b: Backend) {
    let w = world(b).await;
    // No other address: the link waits to be revealed once, by an operator.
    let id = w.create("kim", "", &[]).await;
    assert!(w.sink.messages().iter().all(|m| !m.contains("kim@")));
    let page = format!("/mailboxes/{id}");
    w.owner
        .browser
        .post(&format!("{page}/invite/reveal"), &[])
        .await;
    let shown = w.owner.browser.get_text(&page).await;
    let link = mailward_tests::testid_text(&shown, "fresh-secret").expect("revealed once");
    assert!(link.contains("/activate/mwm_"));
    assert!(
        shown.contains("data-testid=\"revealed-mark\""),
        "marked until activated"
    );
    assert!(
        !w.owner.browser.get_text(&page).await.contains(&link),
        "shown once"
    );
    // A second reveal of the same link is refused.
    w.owner
        .browser
        .post(&format!("{page}/invite/reveal"), &[])
        .await;
    assert!(w
        .owner
        .browser
        .flash(&page)
        .await
        .unwrap()
        .contains("revealed already"));
    // An emailed link is never revealed.
    let id2 = w.create("lou", "lou@home.example", &[]).await;
    w.owner
        .browser
        .post(&format!("/mailboxes/{id2}/invite/reveal"), &[])
        .await;
    assert!(w
        .owner
        .browser
        .flash(&format!("/mailboxes/{id2}"))
        .await
        .unwrap()
        .contains("was emailed to lou@home.example"));
    // The owner activates: the mark goes.
    w.activate(&link.trim_start_matches(&w.app.base).to_string(), PW)
        .await;
    assert!(!w
        .owner
        .browser
        .get_text(&page)
        .await
        .contains("data-testid=\"revealed-mark\""));
    // Policy "forbidden": no reveal for anyone.
    mb::set_reveal_policy(&w.app.state, &Actor::system("t"), &w.slug, "forbidden")
        .await
        .unwrap();
    let r = mb::create(
        &w.app.state,
        &Actor::system("t"),
        &NewMailbox {
            address: "nia@acme.example".into(),
            display_name: "Nia".into(),
            ..Default::default()
        },
    )
    .await;
    assert!(
        matches!(&r, Err(app::core::AppError::Invalid(m)) if m.contains("forbids revealing")),
        "no way to deliver the link: {:?}",
        r.as_ref().err()
    );

    // Bulk offboarding from the list: each gets its own receipt; confirmation required.
    let list = w.owner.browser.get_text("/mailboxes").await;
    assert!(list.contains("kim@acme.example") && list.contains("lou@acme.example"));
    // The list's total (from the domains' counters) is what a count by status gives.
    let before = listed(&list);
    assert_eq!(before, by_status(&w.owner.browser).await);
    let form = [
        ("id", id.as_str()),
        ("id", id2.as_str()),
        ("reason", "contract ended"),
        ("keep_days", "7"),
    ];
    w.owner.browser.post("/mailboxes/offboard", &form).await;
    assert!(w
        .owner
        .browser
        .flash("/mailboxes")
        .await
        .unwrap()
        .contains("Tick the confirmation"));
    let mut with_confirm = form.to_vec();
    with_confirm.push(("confirm", "on"));
    let r = w
        .owner
        .browser
        .post("/mailboxes/offboard", &with_confirm)
        .await;
    assert_eq!(r.headers()["location"], "/mailboxes?status=offboarded");
    let flash = w
        .owner
        .browser
        .flash("/mailboxes?status=offboarded")
        .await
        .unwrap();
    assert!(
        flash.contains("2 mailboxes offboarded; verification scans clean: 2 of 2"),
        "{flash}"
    );
    for m in [&id, &id2] {
        let rc = mb::receipt(&w.app.state, &Actor::system("t"), m)
            .await
            .unwrap();
        assert!(rc.scan_clean && rc.keep_days == 7);
    }
    let list = w.owner.browser.get_text("/mailboxes").await;
    assert!(
        !list.contains("kim@acme.example"),
        "offboarded ones leave the default list"
    );
    assert_eq!(listed(&list), before - 2, "and its total");
    assert_eq!(before - 2, by_status(&w.owner.browser).await);
}
both!(reveal_once_and_bulk_offboarding);

/// The total the mailbox list shows ("12 mailboxes").
fn listed(page: &str) -> i64 {
    let mark = "data-testid=\"mailbox-count\">";
    let at = page.find(mark).expect("the list's count") + mark.len();
    page[at..].split(' ').next().unwrap().parse().unwrap()
}

/// The mailboxes not offboarded, counted one status at a time.
async fn by_status(b: &Browser) -> i64 {
    let mut n = 0;
    for s in ["invited", "active", "locked"] {
        n += listed(&b.get_text(&format!("/mailboxes?status={s}")).await);
    }
    n
}

async fn offboarding_alias_is_approved_and_expires(b: Backend) {
    let w = world(b).await;
    let ann = w.create("ann", "ann@home.example", &[]).await;
    w.activate(&w.link_to("ann@home.example"), PW).await;
    let bob = w.create("bob", "bob@home.example", &[]).await;
    let page = format!("/mailboxes/{ann}");
    let offboard = |alias_to: &'static str, days: &'static str| {
        let br = &w.owner.browser;
        let page = page.clone();
        async move {
            br.post(
                &format!("{page}/offboard"),
                &[
                    ("keep_days", "30"),
                    ("reason", "left the company"),
                    ("confirm", "ann@acme.example"),
                    ("alias_to", alias_to),
                    ("alias_days", days),
                ],
            )
            .await;
            br.flash(&page).await.unwrap_or_default()
        }
    };
    // Bad alias requests are refused before anything happens.
    assert!(offboard("bob@acme.example", "200")
        .await
        .contains("1 to 90 days"));
    assert!(
        offboard("bob@acme.example", "10")
            .await
            .contains("active mailbox"),
        "bob is not active yet"
    );
    assert!(offboard("nobody@else.example", "10")
        .await
        .contains("not a mailbox of this tenant"));
    assert_eq!(w.mailbox(&ann).await.status, "active");
    w.activate(&w.link_to("bob@home.example"), PW).await;
    let msg = offboard("bob@acme.example", "10").await;
    assert!(msg.contains("scan is clean"), "{msg}");
    let receipt = mb::receipt(&w.app.state, &Actor::system("t"), &ann)
        .await
        .unwrap();
    assert!(receipt
        .revoked
        .alias_requested
        .unwrap()
        .contains("waiting for a second person"));
    // Until someone else approves, mail to the old address goes nowhere.
    assert!(
        app::routing::service::aliases_to_mailboxes(&w.app.state, "ann@acme.example")
            .await
            .unwrap()
            .is_empty()
    );
    let (c, _) = (
        app::changes::service::list(
            &w.app.state,
            &Actor::system("t"),
            app::changes::service::Filter::Pending,
        )
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.kind == "mailbox.alias")
        .expect("a pending alias request"),
        (),
    );
    app::changes::service::approve(&w.app.state, &operator("usr_vera"), &c.id)
        .await
        .unwrap();
    let t = app::routing::service::aliases_to_mailboxes(&w.app.state, "ann@acme.example")
        .await
        .unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].target, "bob@acme.example");
    w.relogin().await;
    assert!(w
        .owner
        .browser
        .get_text(&page)
        .await
        .contains("data-testid=\"alias\""));
    // It ends by itself.
    w.app.state.clock.advance(10 * 86400 + 1);
    assert!(
        app::routing::service::aliases_to_mailboxes(&w.app.state, "ann@acme.example")
            .await
            .unwrap()
            .is_empty()
    );
    let _ = bob;
}
both!(offboarding_alias_is_approved_and_expires);

/// Locking a mailbox cuts every way in at once: sessions end, app passwords stop, and the
/// owner's own reset with a recovery code does not open it again.
async fn lock_now_cuts_access(b: Backend) {
    let w = world(b).await;
    let id = w.create("lena", "lena@home.example", &[]).await;
    let (lena, codes) = w.activate(&w.link_to("lena@home.example"), PW).await;
    // An app password needs the current password.
    lena.post(
        "/me/app-passwords",
        &[("current", "wrong"), ("name", "Phone"), ("imap", "on")],
    )
    .await;
    assert_eq!(
        lena.flash("/me").await.unwrap(),
        "The current password is not right."
    );
    lena.post(
        "/me/app-passwords",
        &[("current", PW), ("name", "Phone"), ("imap", "on")],
    )
    .await;
    assert!(lena.get_text("/me").await.contains("Phone"));
    mb::request_reset(&w.app.state, &operator("usr_o"), &id, "phished", true, None)
        .await
        .unwrap();
    assert_eq!(w.mailbox(&id).await.status, "locked");
    let r = lena.get("/me").await;
    assert_eq!(r.headers()["location"], "/me/login", "session ended");
    let live: i64 = w
        .app
        .count(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM app_passwords WHERE mailbox_id = '{id}' AND revoked_at IS NULL"
        ))
        .await;
    assert_eq!(live, 0, "app passwords revoked");
    let anon = w.app.browser();
    anon.post(
        "/me/reset",
        &[
            ("address", "lena@acme.example"),
            ("code", &codes[0]),
            ("password", PW2),
            ("confirm", PW2),
        ],
    )
    .await;
    assert_eq!(w.mailbox(&id).await.status, "locked", "the lock holds");
    assert_ne!(
        owner_sign_in(&w.app, "lena@acme.example", PW2).await.1,
        "/me"
    );
}
both!(lock_now_cuts_access);

/// Mail goes out after the commit; when it cannot be sent, the change stands, the link in
/// the mail is withdrawn (audited), and the answer says exactly that.
async fn undeliverable_invitation_is_withdrawn(b: Backend) {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let w = world_with(b, |c| c.smtp.as_mut().unwrap().port = closed).await;
    let r = mb::create(
        &w.app.state,
        &operator("usr_o"),
        &NewMailbox {
            domain: Some(w.domain.clone()),
            address: "nils".into(),
            display_name: "Nils".into(),
            invite_to: Some("nils@home.example".into()),
            ..Default::default()
        },
    )
    .await;
    let Err(app::core::AppError::Unavailable(msg)) = r else {
        panic!("{:?}", r.err())
    };
    assert!(
        msg.starts_with(
            "nils@acme.example was created, but the email to nils@home.example could not be sent"
        ),
        "{msg}"
    );
    let open: i64 = w
        .app
        .count("SELECT CAST(COUNT(*) AS BIGINT) FROM mailbox_invites WHERE revoked_at IS NULL")
        .await;
    assert_eq!(open, 0, "no live link nobody received");
    assert!(w
        .app
        .audit_actions()
        .await
        .iter()
        .any(|a| a == "mailbox.invite_not_sent"));
}
both!(undeliverable_invitation_is_withdrawn);

/// 100 parallel sign-ins to /me and 100 parallel self-service resets: each counts against
/// the throttle before the password check or hash, so at most 5 of each are checked.
async fn parallel_owner_sign_ins_and_resets_check_at_most_the_limit(b: Backend) {
    let w = world(b).await;
    w.create("ann", "ann@home.example", &[]).await;
    w.activate(&w.link_to("ann@home.example"), PW).await;
    let mut tasks = vec![];
    for i in 0..200 {
        let br = w.app.browser();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                br.post(
                    "/me/login",
                    &[
                        ("address", "ann@acme.example"),
                        ("password", "wrong password here"),
                    ],
                )
                .await
            } else {
                br.post(
                    "/me/reset",
                    &[
                        ("address", "ann@acme.example"),
                        ("code", "AAAA-BBBB-CCCC"),
                        ("password", PW2),
                        ("confirm", PW2),
                    ],
                )
                .await
            }
            .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 303);
    }
    let actions = w.app.audit_actions().await;
    let n = |a: &str| actions.iter().filter(|x| *x == a).count();
    assert!(
        n("mailbox.signin_failed") <= 5,
        "{}",
        n("mailbox.signin_failed")
    );
    assert!(
        n("mailbox.self_reset_failed") <= 5,
        "{}",
        n("mailbox.self_reset_failed")
    );
    assert!(n("mailbox.signin_throttled") >= 95);
    assert!(n("mailbox.reset_throttled") >= 95);
    // Still ann's own password, and she is locked out for the window like everyone else.
    assert_eq!(
        owner_sign_in(&w.app, "ann@acme.example", PW).await.1,
        "/me/login"
    );
    w.app.state.clock.advance(15 * 60 + 1);
    assert_eq!(owner_sign_in(&w.app, "ann@acme.example", PW).await.1, "/me");
}
both!(parallel_owner_sign_ins_and_resets_check_at_most_the_limit);

/// A session id planted in a visitor's browser is worthless once they sign in, activate,
/// reset or change their password: each gives a new id and ends the old one.
async fn owner_sessions_get_a_new_id_at_every_privilege_change(b: Backend) {
    let w = world(b).await;
    w.create("ann", "ann@home.example", &[]).await;
    let link = w.link_to("ann@home.example");
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |path: String, form: Vec<(&'static str, String)>, cookie: Option<String>| {
        let mut r = raw
            .post(w.app.url(&path))
            .header("sec-fetch-site", "same-origin")
            .form(&form);
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        r.send()
    };
    let cookie_of = mailward_tests::session_cookie;
    // The attacker's session: a failed sign-in leaves a session (its flash) with an id.
    let planted = async {
        let r = post(
            "/me/login".into(),
            vec![
                ("address", "nobody@acme.example".into()),
                ("password", "x".into()),
            ],
            None,
        )
        .await
        .unwrap();
        cookie_of(&r).expect("a session for the flash")
    };
    let signed_in = |cookie: String| {
        let raw = raw.clone();
        let url = w.app.url("/me");
        async move {
            let r = raw.get(url).header("cookie", cookie).send().await.unwrap();
            r.status() == 200
        }
    };
    // 1. Activation.
    let s = planted.await;
    let r = post(
        link,
        vec![("password", PW.into()), ("confirm", PW.into())],
        Some(s.clone()),
    )
    .await
    .unwrap();
    let new = cookie_of(&r).expect("a new session cookie at activation");
    assert_ne!(new, s);
    assert!(signed_in(new.clone()).await && !signed_in(s).await);
    // 2. Sign-in.
    let s = post(
        "/me/login".into(),
        vec![
            ("address", "nobody@acme.example".into()),
            ("password", "x".into()),
        ],
        None,
    )
    .await
    .map(|r| cookie_of(&r).unwrap())
    .unwrap();
    let r = post(
        "/me/login".into(),
        vec![
            ("address", "ann@acme.example".into()),
            ("password", PW.into()),
        ],
        Some(s.clone()),
    )
    .await
    .unwrap();
    assert_eq!(r.headers()["location"], "/me");
    let owner = cookie_of(&r).expect("a new session cookie at sign-in");
    assert_ne!(owner, s);
    assert!(signed_in(owner.clone()).await && !signed_in(s).await);
    // 3. Password change: a new id again; the old one is over.
    let r = post(
        "/me/password".into(),
        vec![
            ("current", PW.into()),
            ("password", PW2.into()),
            ("confirm", PW2.into()),
        ],
        Some(owner.clone()),
    )
    .await
    .unwrap();
    let after = cookie_of(&r).expect("a new session cookie at password change");
    assert_ne!(after, owner);
    assert!(signed_in(after).await && !signed_in(owner).await);
}
both!(owner_sessions_get_a_new_id_at_every_privilege_change);

/// Posts the mailbox's details form; returns the flash message.
async fn edit_form(w: &World, id: &str, fields: Vec<(&'static str, String)>) -> String {
    let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    w.owner
        .browser
        .post(&format!("/mailboxes/{id}/edit"), &form)
        .await;
    w.owner
        .browser
        .flash(&format!("/mailboxes/{id}"))
        .await
        .unwrap_or_default()
}

/// A mailbox's details change after creation: name, contact address (the old one is told),
/// allocation within the pool by the creation's conditional update (refused past it with the
/// amount left, one winner under a race), the critical flag (on at once, off only through an
/// approval), an unlock with a reason; bad input changes nothing.
async fn mailbox_details_are_edited_within_the_pool(b: Backend) {
    let w = world(b).await;
    let ann = w
        .create("ann", "ann@home.example", &[("quota", "400 MB")])
        .await;
    let bob = w
        .create("bob", "bob@home.example", &[("quota", "200 MB")])
        .await;
    let allocated = || async {
        tenancy::tenant(&w.app.state, &Actor::system("t"), &w.slug)
            .await
            .unwrap()
            .0
            .storage_allocated
    };
    assert_eq!(allocated().await, 600_000_000);
    w.activate(&w.link_to("ann@home.example"), PW).await;
    let page = format!("/mailboxes/{ann}");
    let edit = |fields: Vec<(&'static str, String)>| edit_form(&w, &ann, fields);
    // The form shows the allocation exactly; saved unchanged, nothing changes.
    let html = w.owner.browser.get_text(&page).await;
    assert!(html.contains("value=\"400 MB\""), "exact quota in the form");
    let mails = w.sink.messages().len();
    let same = vec![
        ("display_name", "Ann Example".to_string()),
        ("contact_email", "ann@home.example".to_string()),
        ("quota", "400 MB".to_string()),
    ];
    assert_eq!(edit(same).await, "Nothing changed.");
    let events = w.app.audit_actions().await;
    assert!(!events.iter().any(|a| a == "mailbox.updated"));
    // A real change: one event with before and after, the old contact told.
    let flash = edit(vec![
        ("display_name", "Ann Smith".into()),
        ("contact_email", "ann.smith@home.example".into()),
        ("quota", "700 MB".into()),
    ])
    .await;
    assert_eq!(flash, "Saved.");
    let m = w.mailbox(&ann).await;
    assert_eq!(m.display_name, "Ann Smith");
    assert_eq!(m.contact_email.as_deref(), Some("ann.smith@home.example"));
    assert_eq!(m.quota_bytes, Some(700_000_000));
    assert_eq!(allocated().await, 900_000_000);
    let ev = app::audit::service::list(
        &w.app.state.db,
        &app::core::authz::authorize(&Actor::system("t"), app::core::authz::Action::ViewAudit)
            .unwrap(),
        &app::audit::AuditFilter {
            action: Some("mailbox.updated".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .events;
    assert_eq!(ev.len(), 1);
    let d: serde_json::Value = serde_json::from_str(&ev[0].details).unwrap();
    assert_eq!(d["before"]["quota_bytes"], 400_000_000);
    assert_eq!(d["after"]["quota_bytes"], 700_000_000);
    assert_eq!(d["before"]["contact_email"], "ann@home.example");
    let notice: Vec<String> = w.sink.messages()[mails..]
        .iter()
        .filter(|m| m.contains("To: ann@home.example"))
        .cloned()
        .collect();
    assert_eq!(notice.len(), 1, "the previous contact address is told");
    assert!(notice[0].contains("no longer the contact address"));
    // Past the pool: refused with what is left, nothing changes (the name neither).
    let flash = edit(vec![
        ("display_name", "Ann Jones".into()),
        ("contact_email", "ann.smith@home.example".into()),
        ("quota", "900 MB".into()),
    ])
    .await;
    assert!(
        flash.contains("100 MB of 1 GB is still unallocated"),
        "{flash}"
    );
    assert_eq!(w.mailbox(&ann).await.display_name, "Ann Smith");
    assert_eq!(allocated().await, 900_000_000);
    // Bad input: clear errors, nothing changes.
    for (fields, msg) in [
        (
            vec![("display_name", "".to_string())],
            "Enter the person's name",
        ),
        (
            vec![("display_name", "Ann".into()), ("quota", "lots".into())],
            "is not a size",
        ),
        (
            vec![
                ("display_name", "Ann".into()),
                ("contact_email", "ann@acme.example".into()),
            ],
            "not the mailbox itself",
        ),
        (
            vec![
                ("display_name", "Ann".into()),
                ("contact_email", "nope".into()),
            ],
            "",
        ),
    ] {
        let flash = edit(fields).await;
        assert!(flash.contains(msg) && flash != "Saved.", "{msg}: {flash}");
    }
    assert_eq!(w.mailbox(&ann).await.display_name, "Ann Smith");
    // Ten raises of each mailbox at once, only one of which fits: the pool is never exceeded.
    let op = operator("usr_o");
    let raise = |id: String, q: &'static str| {
        let (st, op) = (&w.app.state, &op);
        async move {
            let e = app::mailboxes::MailboxEdit {
                quota: Some(q.into()),
                ..Default::default()
            };
            mb::edit(st, op, &id, &e).await
        }
    };
    let mut all = Vec::new();
    for _ in 0..10 {
        all.push(raise(ann.clone(), "800 MB"));
        all.push(raise(bob.clone(), "300 MB"));
    }
    let results = mailward_tests::join_all(all).await;
    assert!(
        results.iter().all(|r| r.is_ok()
            || matches!(
                r.as_ref().map_err(|e| e.kind()),
                Err(app::core::AppError::Conflict(_))
            )),
        "{results:?}"
    );
    let (a, bq) = (
        w.mailbox(&ann).await.quota_bytes.unwrap(),
        w.mailbox(&bob).await.quota_bytes.unwrap(),
    );
    assert_eq!(a + bq, 1_000_000_000, "exactly one raise won: {a} {bq}");
    assert_eq!(allocated().await, a + bq);
    // Back to unlimited within the pool gives the allocation back.
    mb::edit(
        &w.app.state,
        &op,
        &bob,
        &app::mailboxes::MailboxEdit {
            quota: Some(String::new()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(allocated().await, a);

    // Critical on: at once. Off: a reason, then a second person.
    let crit = |on: bool, reason: Option<&str>| app::mailboxes::MailboxEdit {
        critical: Some(on),
        reason: reason.map(str::to_string),
        ..Default::default()
    };
    let e = mb::edit(&w.app.state, &op, &ann, &crit(true, None))
        .await
        .unwrap();
    assert_eq!(e.changed, ["critical"]);
    assert!(w.mailbox(&ann).await.critical);
    let r = mb::edit(&w.app.state, &op, &ann, &crit(false, None)).await;
    assert!(matches!(r, Err(app::core::AppError::Invalid(_))), "{r:?}");
    let e = mb::edit(
        &w.app.state,
        &op,
        &ann,
        &crit(false, Some("no longer the registrar contact")),
    )
    .await
    .unwrap();
    let change = e.queued.expect("a change request");
    assert!(
        w.mailbox(&ann).await.critical,
        "still critical until approved"
    );
    let again = mb::edit(
        &w.app.state,
        &op,
        &ann,
        &crit(false, Some("no longer the registrar contact")),
    )
    .await;
    assert!(
        matches!(again, Err(app::core::AppError::Conflict(ref m)) if m.contains("already waits")),
        "{again:?}"
    );
    assert!(
        app::changes::service::approve(&w.app.state, &op, &change)
            .await
            .is_err(),
        "not one's own"
    );
    app::changes::service::approve(&w.app.state, &operator("usr_bert"), &change)
        .await
        .unwrap();
    assert!(!w.mailbox(&ann).await.critical);
    // The change rolls back while nobody changed the flag since.
    let c = app::changes::service::get(&w.app.state, &Actor::system("t"), &change)
        .await
        .unwrap();
    assert_eq!(c.state, "applied");
    let rb = app::changes::service::request_rollback(
        &w.app.state,
        &op,
        &change,
        "it is the registrar contact after all",
    )
    .await
    .unwrap();
    app::changes::service::approve(&w.app.state, &operator("usr_bert"), &rb.id)
        .await
        .unwrap();
    assert!(
        w.mailbox(&ann).await.critical,
        "critical again after the rollback"
    );
    // Off once more, for the rest of the test.
    let again = mb::edit(
        &w.app.state,
        &op,
        &ann,
        &crit(false, Some("really no longer critical")),
    )
    .await
    .unwrap();
    let again = again.queued.unwrap();
    app::changes::service::approve(&w.app.state, &operator("usr_bert"), &again)
        .await
        .unwrap();
    assert!(!w.mailbox(&ann).await.critical);

    // Unlock: only a locked mailbox, with a reason; the password works again.
    let r = mb::unlock(&w.app.state, &op, &ann, "false alarm", false).await;
    assert!(
        matches!(r, Err(app::core::AppError::Conflict(_))),
        "not locked: {r:?}"
    );
    mb::request_reset(&w.app.state, &op, &ann, "odd sign-ins", true, None)
        .await
        .unwrap();
    assert_eq!(w.mailbox(&ann).await.status, "locked");
    assert_ne!(owner_sign_in(&w.app, "ann@acme.example", PW).await.1, "/me");
    w.owner
        .browser
        .post(&format!("/mailboxes/{ann}/unlock"), &[("reason", "")])
        .await;
    assert!(w
        .owner
        .browser
        .flash(&page)
        .await
        .unwrap()
        .contains("Give the reason"));
    assert_eq!(w.mailbox(&ann).await.status, "locked");
    assert!(w
        .owner
        .browser
        .get_text(&page)
        .await
        .contains("data-testid=\"unlock-panel\""));
    w.owner
        .browser
        .post(
            &format!("/mailboxes/{ann}/unlock"),
            &[("reason", "the owner confirmed the sign-ins")],
        )
        .await;
    assert_eq!(
        w.owner.browser.flash(&page).await.unwrap(),
        "Unlocked: the owner's password works again."
    );
    assert_eq!(w.mailbox(&ann).await.status, "active");
    assert_eq!(owner_sign_in(&w.app, "ann@acme.example", PW).await.1, "/me");
    assert!(w
        .app
        .audit_actions()
        .await
        .iter()
        .any(|a| a == "mailbox.unlocked"));

    // Over REST: the same service; a bad field is a 422 and changes nothing.
    let token = w.app.api_token(&w.owner.email, "read,write").await;
    let api = reqwest::Client::new();
    let r = api
        .patch(w.app.url(&format!("/api/v1/mailboxes/{ann}")))
        .bearer_auth(&token)
        .json(&serde_json::json!({"display_name": "Ann R", "quota": "bogus"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(w.mailbox(&ann).await.display_name, "Ann Smith");
    let r = api
        .patch(w.app.url(&format!("/api/v1/mailboxes/{ann}")))
        .bearer_auth(&token)
        .json(&serde_json::json!({"display_name": "Ann R"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["changed"], serde_json::json!(["display_name"]));
    assert_eq!(v["mailbox"]["display_name"], "Ann R");
    // An offboarded mailbox's details no longer change.
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
    let r = mb::edit(
        &w.app.state,
        &op,
        &bob,
        &app::mailboxes::MailboxEdit {
            display_name: Some("Bob".into()),
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(r, Err(app::core::AppError::Conflict(_))), "{r:?}");
    // A rollback after someone changed the flag since is refused and says so.
    mb::edit(&w.app.state, &op, &ann, &crit(true, None))
        .await
        .unwrap();
    let r = app::changes::service::request_rollback(&w.app.state, &op, &again, "undo").await;
    assert!(
        matches!(r, Err(app::core::AppError::Conflict(ref m)) if m.contains("critical again already")),
        "{r:?}"
    );
}
both!(mailbox_details_are_edited_within_the_pool);

/// Every message goes out in the one template, as a mail program expects it: MIME-Version,
/// text and HTML alternatives with their charset, a Message-ID, the sender with the agency's
/// name; a Unicode name and an internationalised domain arrive readable (not `=C3=BC`, not
/// `xn--`), and a viewer's invitation names the tenant and says it is read-only.
async fn mail_goes_out_in_one_template(b: Backend) {
    let (app, sink) = TestApp::start_with_mail(b, |c| {
        c.agency_name = "Agentur Österreich".into();
        c.smtp.as_mut().unwrap().from = "notices@agency.example".into();
    })
    .await;
    let (slug, domains) = app
        .tenant_with_domains("plan_starter", &["bücher.example"])
        .await;
    let sys = Actor::system("test");
    mb::create(
        &app.state,
        &sys,
        &NewMailbox {
            domain: Some(domains[0].clone()),
            address: "anna".into(),
            display_name: "Anna Müller".into(),
            invite_to: Some("anna@home.example".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    app::auth::service::invite_tenant_user(
        &app.state,
        &sys,
        &slug,
        "viv@client.example",
        "client_viewer",
    )
    .await
    .unwrap();
    let raw = sink.raw_messages();
    let find = |to: &str| {
        raw.iter()
            .find(|m| m.contains(&format!("To: {to}")))
            .unwrap_or_else(|| panic!("a mail to {to} in {raw:?}"))
            .clone()
    };
    let invite = find("anna@home.example");
    let msg = mail_parser::MessageParser::default()
        .parse(invite.as_bytes())
        .expect("a message");
    assert_eq!(msg.header_raw("MIME-Version").map(str::trim), Some("1.0"));
    assert!(
        msg.header_raw("Content-Type")
            .is_some_and(|c| c.contains("multipart/alternative")),
        "{invite}"
    );
    let id = msg.message_id().expect("a Message-ID");
    assert!(
        id.starts_with("msg_") && id.ends_with("@agency.example"),
        "{id}"
    );
    let from = msg.from().and_then(|a| a.first()).unwrap();
    assert_eq!(from.name(), Some("Agentur Österreich"));
    assert_eq!(from.address(), Some("notices@agency.example"));
    assert_eq!(msg.subject(), Some("Your new mailbox anna@bücher.example"));
    let text = msg.body_text(0).unwrap();
    assert!(text.starts_with("Hello Anna Müller,"), "{text}");
    assert!(
        text.contains("A mailbox was created for you: anna@bücher.example."),
        "{text}"
    );
    assert!(text.ends_with("-- \nAgentur Österreich\n"), "{text:?}");
    assert!(!text.contains("xn--"), "{text}");
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/activate/mwm_"))
        .expect("the link");
    let html = msg.body_html(0).unwrap();
    assert!(
        html.contains(&format!("<a href=\"{link}\"")),
        "the HTML part links the same: {html}"
    );
    assert!(html.contains("Hello Anna Müller,") && html.contains("Agentur Österreich"));
    assert!(html.contains("<meta charset=\"utf-8\">"));
    // The link's token never appears in the raw message more often than the two parts need.
    let token = link.rsplit('/').next().unwrap();
    assert!(invite.matches(token).count() <= 3, "{invite}");

    let viewer = find("viv@client.example");
    let msg = mail_parser::MessageParser::default()
        .parse(viewer.as_bytes())
        .unwrap();
    assert_eq!(
        msg.subject(),
        Some("You are invited to see Acme's mail set-up")
    );
    let text = msg.body_text(0).unwrap();
    assert!(
        text.contains("to see how Acme's mail is looked after, read-only"),
        "{text}"
    );
    assert!(!text.contains("operate Mailward"), "{text}");
}
both!(mail_goes_out_in_one_template);
