//! Setup, sign-in with both second factors, throttling and lock-out, sessions.
use mailward_tests::{both, Backend, TestApp};

async fn setup_flow_creates_owner_and_consumes_link(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    // Signed in after setup, and the dashboard greets the owner.
    let page = owner.browser.get_text("/").await;
    assert!(page.contains("Olivia Owner"), "dashboard shows the owner");
    // With an owner in place no further setup link is issued, and the used one is dead.
    assert!(app::auth::service::ensure_setup_link(&app.state)
        .await
        .unwrap()
        .is_none());
    let (users, _) =
        app::auth::service::operators(&app.state, &app::core::authz::Actor::system("test"))
            .await
            .unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].email, owner.email);
}
both!(setup_flow_creates_owner_and_consumes_link);

async fn weak_password_refused_and_nothing_created(b: Backend) {
    let app = TestApp::start(b).await;
    let link = app::auth::service::ensure_setup_link(&app.state)
        .await
        .unwrap()
        .unwrap();
    let path = link.trim_start_matches(&app.base).to_string();
    let br = app.browser();
    for (pw, confirm, msg) in [
        ("short", "short", "at least 12"),
        ("passwordpassword", "passwordpassword", "too common"),
        (
            "violet tugboat mirrors",
            "violet tugboat mirror",
            "do not match",
        ),
    ] {
        let r = br
            .post(
                &format!("{path}/password"),
                &[
                    ("email", "a@b.example"),
                    ("display_name", "A"),
                    ("password", pw),
                    ("confirm", confirm),
                ],
            )
            .await;
        assert_eq!(r.status(), 303);
        let flash = br.flash(&path).await.unwrap_or_default();
        assert!(flash.contains(msg), "{flash:?} should mention {msg:?}");
    }
    // The TOTP step cannot be reached without a password step.
    let r = br
        .post(&format!("{path}/totp"), &[("code", "123456")])
        .await;
    assert_eq!(r.status(), 303);
    assert!(br
        .flash(&path)
        .await
        .unwrap_or_default()
        .contains("password first"));
    assert_eq!(
        app::auth::store::count_users(&app.state.db).await.unwrap(),
        0
    );
}
both!(weak_password_refused_and_nothing_created);

async fn sign_in_with_totp_and_replay_refused(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let br = app.browser();
    let code = app.next_totp(&owner.totp_secret);
    assert_eq!(br.sign_in(&owner.email, &owner.password, &code).await, "/");
    assert!(br.get_text("/").await.contains("Olivia Owner"));
    // The same code again, from another browser: refused (accepted once).
    let other = app.browser();
    assert_eq!(
        other.sign_in(&owner.email, &owner.password, &code).await,
        "/login/verify"
    );
    assert!(other
        .flash("/login/verify")
        .await
        .unwrap()
        .contains("Sign-in failed"));
    let r = other.get("/").await;
    assert_eq!(r.headers()["location"], "/login", "not signed in");
}
both!(sign_in_with_totp_and_replay_refused);

async fn wrong_password_is_neutral(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let br = app.browser();
    let to = br
        .sign_in(&owner.email, "wrong password here", "000000")
        .await;
    assert_eq!(to, "/login");
    let known = br.flash("/login").await.unwrap();
    let to = br
        .sign_in("nobody@agency.example", "wrong password here", "000000")
        .await;
    assert_eq!(to, "/login");
    let unknown = br.flash("/login").await.unwrap();
    assert_eq!(known, unknown, "no account enumeration");
}
both!(wrong_password_is_neutral);

async fn recovery_code_is_consumed(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let code = owner.recovery_codes[3].to_lowercase().replace('-', " ");
    let br = app.browser();
    assert_eq!(br.sign_in(&owner.email, &owner.password, &code).await, "/");
    assert!(br.flash("/").await.unwrap().contains("9 remain"));
    let br2 = app.browser();
    assert_eq!(
        br2.sign_in(&owner.email, &owner.password, &owner.recovery_codes[3])
            .await,
        "/login/verify"
    );
    assert_eq!(
        app::auth::store::unused_recovery_codes(
            &app.state.db,
            &app::auth::store::user_by_email(&app.state.db, &owner.email)
                .await
                .unwrap()
                .unwrap()
                .id
        )
        .await
        .unwrap(),
        9
    );
}
both!(recovery_code_is_consumed);

async fn password_throttle_per_account(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let br = app.browser();
    for _ in 0..10 {
        assert_eq!(
            br.sign_in(&owner.email, "not the password", "").await,
            "/login"
        );
    }
    // The right password is now refused too, for this account…
    assert_eq!(
        br.sign_in(&owner.email, &owner.password, "").await,
        "/login"
    );
    assert!(br
        .flash("/login")
        .await
        .unwrap()
        .contains("Too many failed attempts"));
    // …until the window has passed.
    app.state.clock.advance(15 * 60 + 1);
    let code = app::core::secrets::totp_code(&owner.totp_secret, app.state.clock.now()).unwrap();
    assert_eq!(br.sign_in(&owner.email, &owner.password, &code).await, "/");
}
both!(password_throttle_per_account);

async fn second_factor_lockout_survives_restarting_sign_in(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    // Five wrong codes, each from a freshly restarted sign-in in a new browser.
    for i in 0..5 {
        let br = app.browser();
        let wrong = format!("{:06}", 111111 + i);
        assert_eq!(
            br.sign_in(&owner.email, &owner.password, &wrong).await,
            "/login/verify"
        );
    }
    // Now even a valid recovery code is refused — and not consumed.
    let br = app.browser();
    assert_eq!(
        br.sign_in(&owner.email, &owner.password, &owner.recovery_codes[0])
            .await,
        "/login/verify"
    );
    assert!(br
        .flash("/login/verify")
        .await
        .unwrap()
        .contains("Too many failed attempts"));
    let uid = app::auth::store::user_by_email(&app.state.db, &owner.email)
        .await
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(
        app::auth::store::unused_recovery_codes(&app.state.db, &uid)
            .await
            .unwrap(),
        10
    );
    // After the window, the recovery code works.
    app.state.clock.advance(15 * 60 + 1);
    let br = app.browser();
    assert_eq!(
        br.sign_in(&owner.email, &owner.password, &owner.recovery_codes[0])
            .await,
        "/"
    );
}
both!(second_factor_lockout_survives_restarting_sign_in);

async fn revoked_session_is_signed_out(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let laptop = app.browser();
    let code = app.next_totp(&owner.totp_secret);
    assert_eq!(
        laptop.sign_in(&owner.email, &owner.password, &code).await,
        "/"
    );
    // The setup browser lists two sessions and revokes the laptop's.
    let page = owner.browser.get_text("/account/sessions").await;
    let handles: Vec<String> = page
        .split("name=\"handle\" value=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect();
    assert_eq!(handles.len(), 2, "two sessions listed");
    let laptop_handle = handles
        .iter()
        .find(|h| {
            // the current browser's row carries the "this browser" badge just before its form
            let i = page.find(h.as_str()).unwrap();
            !page[..i]
                .rsplit("<tr")
                .next()
                .unwrap()
                .contains("this browser")
        })
        .unwrap()
        .clone();
    let r = owner
        .browser
        .post("/account/sessions/revoke", &[("handle", &laptop_handle)])
        .await;
    assert_eq!(r.headers()["location"], "/account/sessions");
    assert_eq!(laptop.get("/").await.headers()["location"], "/login");
    assert_eq!(
        owner.browser.get("/").await.status(),
        200,
        "the other session lives on"
    );
    // Sign out everywhere ends the remaining one as well.
    owner
        .browser
        .post("/account/sessions/revoke-all", &[])
        .await;
    assert_eq!(owner.browser.get("/").await.headers()["location"], "/login");
}
both!(revoked_session_is_signed_out);

async fn session_id_rotates_at_sign_in(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let br = app.browser();
    let r = br
        .post(
            "/login",
            &[("email", &owner.email), ("password", &owner.password)],
        )
        .await;
    let before = cookie(&r).expect("a session cookie for the pending sign-in");
    let code = app.next_totp(&owner.totp_secret);
    let r = br.post("/login/verify", &[("code", &code)]).await;
    let after = cookie(&r).expect("a new session cookie");
    assert_ne!(before, after);
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
}
both!(session_id_rotates_at_sign_in);

use mailward_tests::session_cookie as cookie;

async fn operator_invite_reveal_once_and_accept(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let r = owner
        .browser
        .post("/operators/invite", &[("email", "Oscar@Agency.example")])
        .await;
    assert_eq!(r.headers()["location"], "/operators");
    let page = owner.browser.get_text("/operators").await;
    assert!(page.contains("oscar@agency.example") && page.contains("awaiting reveal"));
    let id = mailward_tests::between(&page, "/operators/invites/", "/reveal").unwrap();
    owner
        .browser
        .post(&format!("/operators/invites/{id}/reveal"), &[])
        .await;
    let page = owner.browser.get_text("/operators").await;
    let link = mailward_tests::testid_text(&page, "fresh-secret").unwrap();
    assert!(link.contains("/invite/mwi_"));
    // Shown once: gone on the next view, and a second reveal is refused.
    assert!(!owner.browser.get_text("/operators").await.contains(&link));
    owner
        .browser
        .post(&format!("/operators/invites/{id}/reveal"), &[])
        .await;
    assert!(owner
        .browser
        .flash("/operators")
        .await
        .unwrap()
        .contains("cannot be revealed"));
    // The operator accepts.
    let op = app.browser();
    let path = link.trim_start_matches(&app.base).to_string();
    op.post(
        &format!("{path}/password"),
        &[
            ("display_name", "Oscar"),
            ("password", "seven lanterns over harbour"),
            ("confirm", "seven lanterns over harbour"),
        ],
    )
    .await;
    let page = op.get_text(&path).await;
    let secret = mailward_tests::totp_secret_in(&page).unwrap();
    let code = app.next_totp(&secret);
    let r = op.post(&format!("{path}/totp"), &[("code", &code)]).await;
    assert_eq!(r.headers()["location"], "/welcome/recovery-codes");
    // Operators cannot invite.
    let r = op
        .post("/operators/invite", &[("email", "eve@agency.example")])
        .await;
    assert_eq!(r.headers()["location"], "/operators");
    assert!(op
        .flash("/operators")
        .await
        .unwrap()
        .contains("not allowed"));
    // The reveal is its own audit event.
    let log = app::audit::service::to_jsonl(
        &app::audit::service::list(
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
        .events,
    );
    assert!(log.contains("operator.invite_revealed"));
    assert!(!log.contains("mwi_"), "no invite token in the audit log");
}
both!(operator_invite_reveal_once_and_accept);

async fn operator_invite_by_email(b: Backend) {
    let sink = mailward_tests::SmtpSink::start().await;
    let app = TestApp::start_with(b, |c| {
        c.smtp = Some(app::core::config::SmtpConfig {
            host: "127.0.0.1".into(),
            port: sink.port,
            from: "Mailward <mailward@agency.example>".into(),
            ..Default::default()
        })
    })
    .await;
    let owner = app.setup_owner().await;
    owner
        .browser
        .post("/operators/invite", &[("email", "nina@agency.example")])
        .await;
    assert!(owner
        .browser
        .flash("/operators")
        .await
        .unwrap()
        .contains("sent by email"));
    let mail = sink.messages();
    assert_eq!(mail.len(), 1);
    assert!(mail[0].contains("To: nina@agency.example"), "{}", mail[0]);
    let link = mail[0]
        .split_whitespace()
        .find(|w| w.contains("/invite/mwi_"))
        .expect("the link is in the mail")
        .to_string();
    // The operator never had to see a link from us; nothing to reveal.
    let page = owner.browser.get_text("/operators").await;
    assert!(page.contains("emailed") && !page.contains("Reveal link once"));
    // A second invitation to the same address is refused while the first is open.
    owner
        .browser
        .post("/operators/invite", &[("email", "NINA@agency.example")])
        .await;
    assert!(owner
        .browser
        .flash("/operators")
        .await
        .unwrap()
        .contains("already has an open invitation"));
    assert_eq!(sink.messages().len(), 1);
    // The link works.
    let nina = app.browser();
    let path = link.trim_start_matches(&app.base).to_string();
    let r = nina
        .post(
            &format!("{path}/password"),
            &[
                ("display_name", "Nina"),
                ("password", "quiet orchard in november"),
                ("confirm", "quiet orchard in november"),
            ],
        )
        .await;
    assert_eq!(r.headers()["location"], path.as_str());
    let page = nina.get_text(&path).await;
    assert!(
        page.contains("totp-secret"),
        "{}\n{}",
        mail[0],
        page.split("<body>").nth(1).unwrap_or("")
    );
}
both!(operator_invite_by_email);

async fn password_throttle_per_address(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let br = app.browser();
    // Ten failures spread over ten different accounts, all from one address…
    for i in 0..10 {
        let email = format!("guess{i}@agency.example");
        assert_eq!(br.sign_in(&email, "not the password", "").await, "/login");
    }
    // …pause sign-in from that address, even for an account nobody guessed at.
    assert_eq!(
        br.sign_in(&owner.email, &owner.password, "").await,
        "/login"
    );
    assert!(br
        .flash("/login")
        .await
        .unwrap()
        .contains("Too many failed attempts"));
}
both!(password_throttle_per_address);

async fn idle_and_absolute_session_timeouts(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    assert_eq!(owner.browser.get("/").await.status(), 200);
    app.state.clock.advance(31 * 60);
    assert_eq!(
        owner.browser.get("/").await.headers()["location"],
        "/login",
        "idle timeout"
    );

    // With a long idle timeout, the absolute lifetime (12 h) still ends the session.
    let app = TestApp::start_with(b, |c| c.session_idle_minutes = 7 * 24 * 60).await;
    let owner = app.setup_owner().await;
    app.state.clock.advance(11 * 3600);
    assert_eq!(
        owner.browser.get("/").await.status(),
        200,
        "still within 12 h"
    );
    app.state.clock.advance(3600 + 1);
    assert_eq!(
        owner.browser.get("/").await.headers()["location"],
        "/login",
        "absolute timeout"
    );
}
both!(idle_and_absolute_session_timeouts);

/// 100 sign-in attempts at once for one account: the throttle is reserved before each
/// password check, so at most the limit (10) are ever checked; the rest are refused unchecked.
async fn parallel_sign_ins_check_at_most_the_limit(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let mut tasks = vec![];
    for _ in 0..100 {
        let br = app.browser();
        let email = owner.email.clone();
        tasks.push(tokio::spawn(async move {
            br.post(
                "/login",
                &[("email", &email), ("password", "not the password at all")],
            )
            .await
            .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 303);
    }
    let actions = app.audit_actions().await;
    let checked = actions
        .iter()
        .filter(|a| *a == "auth.signin_failed")
        .count();
    let throttled = actions
        .iter()
        .filter(|a| *a == "auth.signin_throttled")
        .count();
    assert!(checked <= 10, "{checked} passwords checked");
    assert!(checked + throttled >= 90, "{checked} + {throttled}");
    // The right password is refused too now: the window is used up.
    assert_eq!(
        app.browser()
            .sign_in(&owner.email, &owner.password, "")
            .await,
        "/login"
    );
}
both!(parallel_sign_ins_check_at_most_the_limit);

/// 30 wrong second-factor codes at once on one pending sign-in: at most 5 are checked.
async fn parallel_second_factor_guesses_check_at_most_the_limit(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let br = app.browser();
    let r = br
        .post(
            "/login",
            &[("email", &owner.email), ("password", &owner.password)],
        )
        .await;
    assert_eq!(r.headers()["location"], "/login/verify");
    let br = std::sync::Arc::new(br);
    let mut tasks = vec![];
    for i in 0..30 {
        let br = br.clone();
        tasks.push(tokio::spawn(async move {
            br.post("/login/verify", &[("code", &format!("{:06}", 100_000 + i))])
                .await
                .status()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let actions = app.audit_actions().await;
    let checked = actions
        .iter()
        .filter(|a| *a == "auth.second_factor_failed")
        .count();
    assert!(checked <= 5, "{checked} codes checked");
    assert!(actions.iter().any(|a| a == "auth.locked_out"));
}
both!(parallel_second_factor_guesses_check_at_most_the_limit);
