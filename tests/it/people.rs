//! People: an operator looking after their own account (password, recovery codes, a new
//! authenticator), owners disabling and enabling other people's accounts (access ends at
//! once), the last owner kept, and the server's break-glass link for a locked-out owner.
use app::core::authz::Actor;
use mailward_tests::{both, recovery_codes_in, Account, Backend, TestApp};

async fn user_id(app: &TestApp, email: &str) -> String {
    app::auth::store::user_by_email(&app.state.db, email)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// A second browser signed in to `acc`; returns it.
async fn second_session(app: &TestApp, acc: &Account) -> mailward_tests::Browser {
    let b = app.browser();
    let to = b
        .sign_in(&acc.email, &acc.password, &app.next_totp(&acc.totp_secret))
        .await;
    assert_eq!(to, "/", "signed in");
    b
}

/// The monitoring alerts' titles, once the watcher has read the audit log.
async fn alert_titles(app: &TestApp) -> Vec<String> {
    app::monitoring::service::watch(&app.state).await.unwrap();
    app::monitoring::service::alerts(&app.state, &Actor::system("t"), None)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.title)
        .collect()
}

/// Where a page sends this browser: `None` when it is shown, else the redirect.
async fn lands(b: &mailward_tests::Browser, path: &str) -> Option<String> {
    let r = b.get(path).await;
    r.headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
}

async fn own_account_changes(b: Backend) {
    let app = TestApp::start(b).await;
    let mut owner = app.setup_owner().await;
    let other = second_session(&app, &owner).await;
    let page = owner.browser.get_text("/account").await;
    assert!(page.contains("Your account") && page.contains(&owner.email));
    assert!(page.contains("10 of 10 unused"), "codes left shown");

    // A wrong current password changes nothing (and is recorded).
    let new_pw = "quiet lanterns over the harbour";
    let r = owner
        .browser
        .post(
            "/account/password",
            &[
                ("current", "not my password at all"),
                ("password", new_pw),
                ("confirm", new_pw),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let flash = owner.browser.flash("/account").await.unwrap_or_default();
    assert!(flash.contains("current password is not right"), "{flash}");
    assert_eq!(lands(&other, "/").await, None, "nothing ended");
    // A weak new one is refused with the policy's reason.
    owner
        .browser
        .post(
            "/account/password",
            &[
                ("current", owner.password.as_str()),
                ("password", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
    let flash = owner.browser.flash("/account").await.unwrap_or_default();
    assert!(flash.contains("at least 12"), "{flash}");
    // The right one: the other session ends, this one stays (under a new id).
    let r = owner
        .browser
        .post(
            "/account/password",
            &[
                ("current", owner.password.as_str()),
                ("password", new_pw),
                ("confirm", new_pw),
            ],
        )
        .await;
    assert!(
        mailward_tests::session_cookie(&r).is_some(),
        "a new session id after a password change"
    );
    let flash = owner.browser.flash("/account").await.unwrap_or_default();
    assert!(
        flash.contains("Password changed. 1 other session(s) were signed out"),
        "{flash}"
    );
    assert_eq!(lands(&owner.browser, "/").await, None, "this session stays");
    assert!(
        lands(&other, "/").await.unwrap().starts_with("/login"),
        "the other session is out"
    );
    let b = app.browser();
    let to = b
        .sign_in(
            &owner.email,
            &owner.password,
            &app.next_totp(&owner.totp_secret),
        )
        .await;
    assert_ne!(to, "/", "the old password no longer signs in");
    owner.password = new_pw.into();
    second_session(&app, &owner).await;

    // New recovery codes: a current code asked; each code once; the old codes stop working.
    let code = app.next_totp(&owner.totp_secret);
    owner
        .browser
        .post("/account/recovery-codes/new", &[("code", code.as_str())])
        .await;
    let page = owner.browser.get_text("/account").await;
    let fresh = recovery_codes_in(&page);
    assert_eq!(fresh.len(), 10, "ten new codes shown");
    assert!(fresh.iter().all(|c| !owner.recovery_codes.contains(c)));
    let r = owner
        .browser
        .post("/account/recovery-codes/new", &[("code", code.as_str())])
        .await;
    assert_eq!(r.status(), 303);
    let flash = owner.browser.flash("/account").await.unwrap_or_default();
    assert!(flash.contains("not right"), "a code works once: {flash}");
    owner
        .browser
        .post("/account/recovery-codes/ack", &[("from", "account")])
        .await;
    let page = owner.browser.get_text("/account").await;
    assert!(recovery_codes_in(&page).is_empty(), "not shown twice");
    let b = app.browser();
    let to = b
        .sign_in(&owner.email, &owner.password, &owner.recovery_codes[0])
        .await;
    assert_ne!(to, "/", "an old recovery code no longer works");
    let b = app.browser();
    let to = b.sign_in(&owner.email, &owner.password, &fresh[0]).await;
    assert_eq!(to, "/", "a new one does");
    owner.recovery_codes = fresh;

    // A new authenticator, for a lost phone: confirmed with a recovery code.
    let other = second_session(&app, &owner).await;
    let rc = owner.recovery_codes[1].clone();
    owner
        .browser
        .post("/account/totp/start", &[("code", rc.as_str())])
        .await;
    let page = owner.browser.get_text("/account").await;
    let secret = mailward_tests::totp_secret_in(&page).expect("new secret shown");
    assert_ne!(secret, owner.totp_secret);
    // Until confirmed, the old authenticator still works; a wrong code confirms nothing.
    owner
        .browser
        .post("/account/totp/finish", &[("code", "000000")])
        .await;
    let flash = owner.browser.flash("/account").await.unwrap_or_default();
    assert!(flash.contains("not right"), "{flash}");
    let code = app.next_totp(&secret);
    owner
        .browser
        .post("/account/totp/finish", &[("code", code.as_str())])
        .await;
    let flash = owner.browser.flash("/account").await.unwrap_or_default();
    assert!(
        flash.contains("New authenticator set up") && flash.contains("3 other session(s)"),
        "{flash}"
    );
    assert!(lands(&other, "/").await.unwrap().starts_with("/login"));
    let b = app.browser();
    let to = b
        .sign_in(
            &owner.email,
            &owner.password,
            &app.next_totp(&owner.totp_secret),
        )
        .await;
    assert_ne!(to, "/", "the old authenticator no longer works");
    owner.totp_secret = secret;
    second_session(&app, &owner).await;
    let page = owner.browser.get_text("/account").await;
    assert!(page.contains("8 of 10 unused"), "two recovery codes used");

    let actions = app.audit_actions().await;
    for a in [
        "auth.reauth_failed",
        "auth.password_changed",
        "auth.recovery_codes_issued",
        "auth.totp_change_started",
        "auth.totp_enrolled",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    // Nothing secret in the log.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE details LIKE '%quiet lanterns%'")
            .await,
        0
    );
}
both!(own_account_changes);

async fn disable_ends_access_at_once(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let mut op = app
        .invite_through(
            &owner,
            "/operators/invite",
            &[("email", "otto@agency.example")],
            "/operators",
            "otto@agency.example",
            "Otto",
        )
        .await;
    op.email = "otto@agency.example".into();
    let op_id = user_id(&app, &op.email).await;
    let owner_id = user_id(&app, &owner.email).await;
    let token = app.api_token(&op.email, "read,write").await;
    let me = |t: String| {
        let url = app.url("/api/v1/me");
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(me(token.clone()).await, 200);
    app::tenancy::service::create_tenant(
        &app.state,
        &Actor::system("test"),
        &app::tenancy::service::NewTenant {
            name: "Acme".into(),
            plan_id: "plan_starter".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // The operator sends an invitation nobody has used yet.
    op.browser
        .post(
            "/tenants/acme/people",
            &[("email", "dan@acme.example"), ("role", "client_viewer")],
        )
        .await;
    let open_for_dan = "SELECT COUNT(*) FROM invites WHERE email = 'dan@acme.example' \
                        AND used_at IS NULL AND revoked_at IS NULL";
    assert_eq!(app.count(open_for_dan).await, 1);

    // An operator may not disable anyone; nobody may disable themselves.
    op.browser
        .post(
            &format!("/people/{owner_id}/disable"),
            &[("back", "/operators")],
        )
        .await;
    let flash = op.browser.flash("/operators").await.unwrap_or_default();
    assert!(flash.contains("not allowed"), "{flash}");
    owner
        .browser
        .post(
            &format!("/people/{owner_id}/disable"),
            &[("back", "/operators")],
        )
        .await;
    let flash = owner.browser.flash("/operators").await.unwrap_or_default();
    assert!(flash.contains("your own account"), "{flash}");
    // A hostile `back` is not followed off the site.
    for hostile in [
        "//evil.example/",
        "/\t/evil.example",
        "/\\evil.example",
        "https://evil.example",
    ] {
        let r = owner
            .browser
            .post(&format!("/people/{owner_id}/disable"), &[("back", hostile)])
            .await;
        assert_eq!(r.headers()["location"], "/operators", "{hostile:?}");
    }

    // The owner disables the operator: the operator's session and token end at once.
    let page = owner.browser.get_text("/operators").await;
    assert!(page.contains(&format!("/people/{op_id}/disable")));
    owner
        .browser
        .post(
            &format!("/people/{op_id}/disable"),
            &[("back", "/operators")],
        )
        .await;
    let flash = owner.browser.flash("/operators").await.unwrap_or_default();
    assert!(
        flash.contains(
            "otto@agency.example is disabled: 1 session(s) ended and 1 API token(s) revoked"
        ),
        "{flash}"
    );
    assert!(lands(&op.browser, "/").await.unwrap().starts_with("/login"));
    assert_eq!(me(token.clone()).await, 401);
    assert_eq!(
        app.count(open_for_dan).await,
        0,
        "the invitations they sent are withdrawn"
    );
    let b = app.browser();
    let to = b
        .sign_in(&op.email, &op.password, &app.next_totp(&op.totp_secret))
        .await;
    assert_ne!(to, "/", "a disabled account cannot sign in");
    // Twice is refused plainly.
    owner
        .browser
        .post(
            &format!("/people/{op_id}/disable"),
            &[("back", "/operators")],
        )
        .await;
    let flash = owner.browser.flash("/operators").await.unwrap_or_default();
    assert!(flash.contains("disabled already"), "{flash}");

    // Enabled again: signs in with their own factors; the revoked token stays revoked.
    let page = owner.browser.get_text("/operators").await;
    assert!(page.contains(&format!("/people/{op_id}/enable")));
    owner
        .browser
        .post(
            &format!("/people/{op_id}/enable"),
            &[("back", "/operators")],
        )
        .await;
    let flash = owner.browser.flash("/operators").await.unwrap_or_default();
    assert!(flash.contains("can sign in again"), "{flash}");
    let b = app.browser();
    let to = b
        .sign_in(&op.email, &op.password, &app.next_totp(&op.totp_secret))
        .await;
    assert_eq!(to, "/");
    assert_eq!(me(token).await, 401);

    // A tenant's client viewer, from the tenant's page and over REST.
    let mut carl = app
        .invite_through(
            &owner,
            "/tenants/acme/people",
            &[("email", "carl@acme.example"), ("role", "client_viewer")],
            "/tenants/acme",
            "carl@acme.example",
            "Carl",
        )
        .await;
    carl.email = "carl@acme.example".into();
    let carl_id = user_id(&app, &carl.email).await;
    let page = owner.browser.get_text("/tenants/acme").await;
    assert!(page.contains(&format!("/people/{carl_id}/disable")));
    owner
        .browser
        .post(
            &format!("/people/{carl_id}/disable"),
            &[("back", "/tenants/acme")],
        )
        .await;
    let flash = owner
        .browser
        .flash("/tenants/acme")
        .await
        .unwrap_or_default();
    assert!(flash.contains("carl@acme.example is disabled"), "{flash}");
    assert!(lands(&carl.browser, "/portal")
        .await
        .unwrap()
        .starts_with("/login"));
    let otoken = app.api_token(&owner.email, "read,write").await;
    let http = reqwest::Client::new();
    let people: serde_json::Value = http
        .get(app.url("/api/v1/people?tenant=acme"))
        .bearer_auth(&otoken)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let row = people
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["email"] == "carl@acme.example")
        .unwrap()
        .clone();
    assert_eq!(row["status"], "disabled");
    let r = http
        .post(app.url(&format!("/api/v1/people/{carl_id}/enable")))
        .bearer_auth(&otoken)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "active");
    let r = http
        .post(app.url(&format!("/api/v1/people/{owner_id}/disable")))
        .bearer_auth(&otoken)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "not one's own account over REST either");
    let r = http
        .post(app.url("/api/v1/people/usr_nobody/disable"))
        .bearer_auth(&otoken)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let actions = app.audit_actions().await;
    for a in ["user.disabled", "user.enabled"] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    // Access given back is access granted: monitoring says so.
    assert!(alert_titles(&app)
        .await
        .iter()
        .any(|t| t.ends_with("enabled the account of otto@agency.example (operator) again")));
}
both!(disable_ends_access_at_once);

/// Owners disabling each other all at once: never the last one.
async fn the_last_owner_stays(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let sys = Actor::system("test");
    let owner_id = user_id(&app, &owner.email).await;
    let err = app::auth::service::disable_person(&app.state, &sys, &owner_id)
        .await
        .unwrap_err();
    assert!(
        err.user_message().contains("last active owner"),
        "{}",
        err.user_message()
    );
    // Three more owners (made owners directly: promoting is its own governed change).
    let mut emails = vec![owner.email.clone()];
    for name in ["ann", "bob", "cyd"] {
        let email = format!("{name}@agency.example");
        app.invite_through(
            &owner,
            "/operators/invite",
            &[("email", email.as_str())],
            "/operators",
            &email,
            name,
        )
        .await;
        sqlx::query("UPDATE users SET role = 'owner' WHERE email = $1")
            .bind(&email)
            .execute(app.state.db.pool())
            .await
            .unwrap();
        emails.push(email);
    }
    let mut ids = vec![];
    let mut tokens = vec![];
    for e in &emails {
        ids.push(user_id(&app, e).await);
        tokens.push(app.api_token(e, "read,write").await);
    }
    // Every owner disables every other one, all at once.
    let http = reqwest::Client::new();
    let mut calls = vec![];
    for (i, t) in tokens.iter().enumerate() {
        for (j, id) in ids.iter().enumerate() {
            if i == j {
                continue;
            }
            let req = http
                .post(app.url(&format!("/api/v1/people/{id}/disable")))
                .bearer_auth(t)
                .send();
            calls.push(tokio::spawn(
                async move { req.await.unwrap().status().as_u16() },
            ));
        }
    }
    let mut statuses = vec![];
    for c in calls {
        statuses.push(c.await.unwrap());
    }
    let done = statuses.iter().filter(|s| **s == 200).count() as i64;
    assert!(
        statuses.iter().all(|s| [200, 401, 409].contains(s)),
        "{statuses:?}"
    );
    let active = app
        .count("SELECT COUNT(*) FROM users WHERE role = 'owner' AND status = 'active'")
        .await;
    assert_eq!(active, 1, "exactly one owner is left: {statuses:?}");
    assert_eq!(done, 3, "three disables took effect: {statuses:?}");
}
both!(the_last_owner_stays);

/// `mailward owner recover --email …`: a one-time link that gives a locked-out owner a new
/// password, authenticator and recovery codes.
async fn break_glass_recovers_an_owner(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    app.invite_through(
        &owner,
        "/operators/invite",
        &[("email", "otto@agency.example")],
        "/operators",
        "otto@agency.example",
        "Otto",
    )
    .await;
    for (email, why) in [
        ("nobody@agency.example", "no owner account"),
        ("otto@agency.example", "no owner account"),
    ] {
        let out = app
            .cli()
            .args(["owner", "recover", "--email", email])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{err}");
        assert!(out.stdout.is_empty());
    }
    let issue = || {
        let out = app
            .cli()
            .args(["owner", "recover", "--email", "OWNER@agency.example"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let link = String::from_utf8(out.stdout).unwrap();
        format!("/invite/{}", link.trim().rsplit("/invite/").next().unwrap())
    };
    let token = app.api_token(&owner.email, "read").await;
    let first = issue();
    let second = issue();
    // Only the latest link works.
    let page = app.browser().get_text(&first).await;
    assert!(
        page.contains("not valid any more"),
        "an earlier link is dead"
    );
    let page = app.browser().get_text(&second).await;
    assert!(page.contains(&owner.email), "the link names the account");
    let new_pw = "salt wind across the pier";
    let back = app.accept_invite(&app.url(&second), "", new_pw).await;
    assert_eq!(lands(&back.browser, "/").await, None, "signed in");
    // The old factors are gone, the old session ended, the account is the same one.
    assert!(lands(&owner.browser, "/")
        .await
        .unwrap()
        .starts_with("/login"));
    let b = app.browser();
    assert_ne!(
        b.sign_in(
            &owner.email,
            &owner.password,
            &app.next_totp(&owner.totp_secret)
        )
        .await,
        "/"
    );
    let b = app.browser();
    assert_eq!(
        b.sign_in(&owner.email, new_pw, &app.next_totp(&back.totp_secret))
            .await,
        "/"
    );
    let page = b.get_text("/account").await;
    assert!(page.contains("Olivia Owner"), "the name is kept");
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "API tokens of the lost account are revoked"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE role = 'owner'")
            .await,
        1
    );
    // The link works once.
    let page = app.browser().get_text(&second).await;
    assert!(page.contains("not valid any more"), "the link works once");
    let actions = app.audit_actions().await;
    for a in ["owner.recovery_link_issued", "auth.account_recovered"] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    assert!(alert_titles(&app).await.iter().any(|t| t.starts_with(
        "A recovery link for the owner owner@agency.example was issued on the server"
    )));
}
both!(break_glass_recovers_an_owner);

/// People over REST: invite an operator or a tenant's admin, list and revoke open
/// invitations, set an operator's tenant scope, the tenant's reveal policy; each with the
/// console's gate and clear refusals.
async fn people_invited_scoped_and_revoked_over_rest(b: Backend) {
    use serde_json::json;
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let (slug, _) = app.tenant_with_domains("plan_pro", &["acme.example"]).await;
    let tid = app::tenancy::service::tenant(&app.state, &Actor::system("t"), &slug)
        .await
        .unwrap()
        .0
        .id;
    let token = app.api_token(&owner.email, "read,write").await;
    // An operator's invitation: made, listed, revoked once.
    let (st, v) = app
        .api(
            "POST",
            "/api/v1/people",
            &token,
            Some(json!({"email": "Olga@Agency.example", "role": "operator"})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(
        v["emailed"], false,
        "no outgoing mail here: revealed in the console"
    );
    let inv = v["id"].as_str().unwrap().to_string();
    let (st, list) = app.api("GET", "/api/v1/invitations", &token, None).await;
    assert_eq!(st, 200);
    let found = list
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == inv.as_str())
        .cloned()
        .unwrap();
    assert_eq!(found["role"], "operator");
    assert_eq!(found["email"], "olga@agency.example");
    assert!(!list.to_string().contains("/invite/"), "never the link");
    assert_eq!(
        app.api(
            "DELETE",
            &format!("/api/v1/invitations/{inv}"),
            &token,
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        app.api(
            "DELETE",
            &format!("/api/v1/invitations/{inv}"),
            &token,
            None
        )
        .await
        .0,
        409
    );
    // A tenant admin's invitation, listed with the tenant's.
    let (st, v) = app
        .api(
            "POST",
            "/api/v1/people",
            &token,
            Some(json!({"email": "ta@acme.example", "role": "tenant_admin", "tenant": slug})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (_, list) = app
        .api(
            "GET",
            &format!("/api/v1/invitations?tenant={slug}"),
            &token,
            None,
        )
        .await;
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["id"] == v["id"] && i["tenant_id"] == tid.as_str()));
    // Bad input: refused, nothing made.
    let before = app
        .count("SELECT CAST(COUNT(*) AS BIGINT) FROM invites")
        .await;
    for body in [
        json!({"email": "x@agency.example", "role": "owner"}),
        json!({"email": "x@agency.example", "role": "tenant_admin"}),
        json!({"email": "x@agency.example", "role": "operator", "tenant": slug}),
        json!({"email": "not an address", "role": "operator"}),
        json!({"email": "x@agency.example", "role": "client_viewer", "tenant": "no-such-tenant"}),
    ] {
        let (st, v) = app
            .api("POST", "/api/v1/people", &token, Some(body.clone()))
            .await;
        assert!(st == 422 || st == 404, "{body}: {st} {v}");
    }
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM invites")
            .await,
        before
    );
    // An operator's scope: listed tenants, then all again.
    let otto = app
        .invite_through(
            &owner,
            "/operators/invite",
            &[("email", "otto@agency.example")],
            "/operators",
            "otto@agency.example",
            "Otto",
        )
        .await;
    let otto_id = user_id(&app, "otto@agency.example").await;
    let scope = |all: bool, ids: Vec<&str>| Some(json!({"all": all, "tenant_ids": ids}));
    let path = format!("/api/v1/people/{otto_id}/tenants");
    assert_eq!(
        app.api("PUT", &path, &token, scope(false, vec![&tid]))
            .await
            .0,
        200
    );
    let (_, people) = app.api("GET", "/api/v1/people", &token, None).await;
    let o = people
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == otto_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(o["tenant_ids"], json!([tid]));
    assert_eq!(
        app.api("PUT", &path, &token, scope(false, vec![])).await.0,
        422
    );
    assert_eq!(
        app.api("PUT", &path, &token, scope(false, vec!["ten_nope"]))
            .await
            .0,
        422
    );
    // Widening waits for another owner; there is none here.
    let (st, v) = app.api("PUT", &path, &token, scope(true, vec![])).await;
    assert_eq!(st, 422, "a reason first: {v}");
    // An operator's token may not invite operators nor change scopes.
    let otoken = app.api_token("otto@agency.example", "read,write").await;
    let (st, _) = app
        .api(
            "POST",
            "/api/v1/people",
            &otoken,
            Some(json!({"email": "y@agency.example", "role": "operator"})),
        )
        .await;
    assert_eq!(st, 403);
    assert_eq!(
        app.api("PUT", &path, &otoken, scope(true, vec![])).await.0,
        403
    );
    // The tenant's reveal policy.
    let rp = format!("/api/v1/tenants/{slug}/invite-reveal");
    assert_eq!(
        app.api("PUT", &rp, &token, Some(json!({"policy": "bogus"})))
            .await
            .0,
        422
    );
    assert_eq!(
        app.api("PUT", &rp, &token, Some(json!({"policy": "forbidden"})))
            .await
            .0,
        204
    );
    assert!(app
        .audit_actions()
        .await
        .iter()
        .any(|a| a == "tenant.reveal_policy_changed"));
    // Otto's laptop is lost: his sessions and tokens listed, then ended; the account stays.
    let (st, access) = app
        .api(
            "GET",
            &format!("/api/v1/people/{otto_id}/access"),
            &token,
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(access["tokens"].as_array().unwrap().len(), 1, "{access}");
    assert!(!access["sessions"].as_array().unwrap().is_empty());
    assert!(!access.to_string().contains("mwt_"), "never a secret");
    let (st, v) = app
        .api(
            "POST",
            &format!("/api/v1/people/{otto_id}/end-access"),
            &token,
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["tokens_revoked"], 1);
    assert_eq!(v["status"], "active");
    assert_eq!(app.api("GET", "/api/v1/me", &otoken, None).await.0, 401);
    assert_eq!(lands(&otto.browser, "/").await.as_deref(), Some("/login"));
    let owner_id = user_id(&app, &owner.email).await;
    assert_eq!(
        app.api(
            "POST",
            &format!("/api/v1/people/{owner_id}/end-access"),
            &token,
            None
        )
        .await
        .0,
        409
    );
    assert!(app
        .audit_actions()
        .await
        .iter()
        .any(|a| a == "user.access_ended"));
}
both!(people_invited_scoped_and_revoked_over_rest);

/// The newest one-time link mailed to `to`, as a path.
fn mailed_link(sink: &mailward_tests::SmtpSink, to: &str) -> String {
    let m = sink
        .messages()
        .into_iter()
        .rev()
        .find(|m| m.contains(to) && m.contains("/invite/mwi_"))
        .unwrap_or_else(|| panic!("a link mailed to {to}"));
    let at = m.find("/invite/mwi_").unwrap();
    let link: String = m[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "/_-".contains(*c))
        .collect();
    link
}

async fn role_of(app: &TestApp, id: &str) -> String {
    let row: (String,) = sqlx::query_as("SELECT role FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    row.0
}

/// More access waits for a second person: an operator made owner, a client viewer made
/// tenant admin, an operator's wider scope — each with a reason, approved by someone else,
/// rolled back (or refused when changed since); the way down applies at once, never for the
/// last owner; a request nobody could approve is refused with the way out (the CLI's
/// `owner promote`).
async fn grants_of_access_wait_for_a_second_person(b: Backend) {
    use serde_json::json;
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let (slug, _) = app.tenant_with_domains("plan_pro", &["acme.example"]).await;
    let sys = Actor::system("t");
    let acme = app::tenancy::service::tenant(&app.state, &sys, &slug)
        .await
        .unwrap()
        .0
        .id;
    for (email, name) in [
        ("otto@agency.example", "Otto"),
        ("olga@agency.example", "Olga"),
    ] {
        app.invite_through(
            &owner,
            "/operators/invite",
            &[("email", email)],
            "/operators",
            email,
            name,
        )
        .await;
    }
    app.invite_through(
        &owner,
        &format!("/tenants/{slug}/people"),
        &[("email", "vic@acme.example"), ("role", "client_viewer")],
        &format!("/tenants/{slug}"),
        "vic@acme.example",
        "Vic",
    )
    .await;
    let (otto, olga, vic) = (
        user_id(&app, "otto@agency.example").await,
        user_id(&app, "olga@agency.example").await,
        user_id(&app, "vic@acme.example").await,
    );
    let own = app.api_token(&owner.email, "read,write").await;
    let path = |id: &str, what: &str| format!("/api/v1/people/{id}/{what}");

    // The way up needs a reason, and someone else who could approve it.
    let (st, v) = app
        .api(
            "PUT",
            &path(&otto, "role"),
            &own,
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(st, 422, "{v}");
    assert!(v.to_string().contains("Give the reason"), "{v}");
    let why = json!({"role": "owner", "reason": "runs the agency with me"});
    let (st, v) = app
        .api("PUT", &path(&otto, "role"), &own, Some(why.clone()))
        .await;
    assert_eq!(st, 409, "{v}");
    assert!(v.to_string().contains("owner promote"), "the way out: {v}");
    assert_eq!(role_of(&app, &otto).await, "operator", "nothing changed");
    // The server's command line makes the second owner (operators only).
    for (email, ok) in [
        ("nobody@agency.example", false),
        ("olga@agency.example", true),
    ] {
        let out = app
            .cli()
            .args(["owner", "promote", "--email", email])
            .output()
            .unwrap();
        assert_eq!(
            out.status.success(),
            ok,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(role_of(&app, &olga).await, "owner");
    let olga_t = app.api_token("olga@agency.example", "read,write").await;

    // Otto limited to Acme first: narrowing applies at once.
    let (st, v) = app
        .api(
            "PUT",
            &path(&otto, "tenants"),
            &own,
            Some(json!({"tenant_ids": [acme]})),
        )
        .await;
    assert_eq!((st, v["change_request"].is_null()), (200, true), "{v}");
    // Now the request waits; a second one is refused; the requester cannot approve it.
    let (st, v) = app
        .api("PUT", &path(&otto, "role"), &own, Some(why.clone()))
        .await;
    assert_eq!(st, 202, "{v}");
    let chg = v["change_request"].as_str().unwrap().to_string();
    assert_eq!(role_of(&app, &otto).await, "operator", "not yet");
    let (st, _) = app
        .api("PUT", &path(&otto, "role"), &own, Some(why.clone()))
        .await;
    assert_eq!(st, 409, "one request at a time");
    let (st, c) = app
        .api("GET", &format!("/api/v1/changes/{chg}"), &own, None)
        .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["tenant_id"], serde_json::Value::Null, "a platform change");
    assert_eq!(c["tenant_name"], "Platform");
    let approve = |id: &str| format!("/api/v1/changes/{id}/approve");
    assert_eq!(app.api("POST", &approve(&chg), &own, None).await.0, 422);
    // An operator cannot decide about the platform's people.
    let otto_t = app.api_token("otto@agency.example", "read,write").await;
    let (st, _) = app.api("POST", &approve(&chg), &otto_t, None).await;
    assert!([403, 404].contains(&st), "{st}");
    let (st, c) = app.api("POST", &approve(&chg), &olga_t, None).await;
    assert_eq!((st, c["state"].as_str()), (200, Some("applied")), "{c}");
    assert_eq!(role_of(&app, &otto).await, "owner");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM users WHERE id = '{otto}' AND all_tenants = 1"
        ))
        .await,
        1,
        "owners see every tenant"
    );
    // Rolled back by another pair: operator again, limited to Acme again.
    let (st, r) = app
        .api(
            "POST",
            &format!("/api/v1/changes/{chg}/rollback"),
            &own,
            Some(json!({"reason": "too early"})),
        )
        .await;
    assert_eq!(st, 202, "{r}");
    let rb = r["id"].as_str().unwrap().to_string();
    let (st, r) = app.api("POST", &approve(&rb), &olga_t, None).await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(role_of(&app, &otto).await, "operator");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM user_tenants WHERE user_id = '{otto}' AND tenant_id = '{acme}'"
        ))
        .await,
        1,
        "the earlier scope is back"
    );

    // A wider scope waits for another owner; its rollback narrows it again.
    let (st, v) = app
        .api(
            "PUT",
            &path(&otto, "tenants"),
            &own,
            Some(json!({"all": true})),
        )
        .await;
    assert_eq!(st, 422, "a reason is needed to widen: {v}");
    let (st, v) = app
        .api(
            "PUT",
            &path(&otto, "tenants"),
            &own,
            Some(json!({"all": true, "reason": "covers for Olga"})),
        )
        .await;
    assert_eq!(st, 202, "{v}");
    let wide = v["change_request"].as_str().unwrap().to_string();
    let (st, c) = app.api("POST", &approve(&wide), &olga_t, None).await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM users WHERE id = '{otto}' AND all_tenants = 1"
        ))
        .await,
        1
    );
    let (st, r) = app
        .api(
            "POST",
            &format!("/api/v1/changes/{wide}/rollback"),
            &olga_t,
            Some(json!({"reason": "Olga is back"})),
        )
        .await;
    assert_eq!(st, 202, "{r}");
    let (st, _) = app
        .api("POST", &approve(r["id"].as_str().unwrap()), &own, None)
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM users WHERE id = '{otto}' AND all_tenants = 0"
        ))
        .await,
        1,
        "limited again"
    );

    // A rollback refused once someone changed the role since.
    let (_, v) = app
        .api("PUT", &path(&otto, "role"), &own, Some(why.clone()))
        .await;
    let again = v["change_request"].as_str().unwrap().to_string();
    assert_eq!(
        app.api("POST", &approve(&again), &olga_t, None).await.0,
        200
    );
    let (st, v) = app
        .api(
            "PUT",
            &path(&otto, "role"),
            &olga_t,
            Some(json!({"role": "operator"})),
        )
        .await;
    assert_eq!(
        (st, v["change_request"].is_null()),
        (200, true),
        "down at once: {v}"
    );
    let (st, v) = app
        .api(
            "POST",
            &format!("/api/v1/changes/{again}/rollback"),
            &own,
            Some(json!({"reason": "undo"})),
        )
        .await;
    assert_eq!(st, 409, "{v}");
    assert!(v.to_string().contains("is operator now"), "{v}");

    // A tenant's viewer made admin: decided by an operator who sees the tenant.
    let (st, v) = app
        .api(
            "PUT",
            &path(&vic, "role"),
            &own,
            Some(json!({"role": "tenant_admin", "reason": "runs Acme's mail now"})),
        )
        .await;
    assert_eq!(st, 202, "{v}");
    let up = v["change_request"].as_str().unwrap().to_string();
    let (_, c) = app
        .api("GET", &format!("/api/v1/changes/{up}"), &own, None)
        .await;
    assert_eq!(c["tenant_id"], acme.as_str(), "a tenant's change");
    let (st, c) = app.api("POST", &approve(&up), &otto_t, None).await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(role_of(&app, &vic).await, "tenant_admin");
    let (st, v) = app
        .api(
            "PUT",
            &path(&vic, "role"),
            &own,
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(st, 422, "never across families: {v}");
    // Back down at once, from the console.
    let r = owner
        .browser
        .post(
            &format!("/people/{vic}/role"),
            &[
                ("role", "client_viewer"),
                ("back", &format!("/tenants/{slug}")),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let flash = owner
        .browser
        .flash(&format!("/tenants/{slug}"))
        .await
        .unwrap_or_default();
    assert!(flash.contains("is client viewer now"), "{flash}");
    assert_eq!(role_of(&app, &vic).await, "client_viewer");

    // Owners demoting each other all at once: one owner always stays.
    let (_, v) = app
        .api("PUT", &path(&otto, "role"), &own, Some(why.clone()))
        .await;
    let third = v["change_request"].as_str().unwrap().to_string();
    assert_eq!(
        app.api("POST", &approve(&third), &olga_t, None).await.0,
        200
    );
    let owner_id = user_id(&app, &owner.email).await;
    let otto_t = app.api_token("otto@agency.example", "read,write").await;
    let tokens = [own.clone(), olga_t.clone(), otto_t];
    let ids = [owner_id, olga.clone(), otto.clone()];
    let mut targets = vec![];
    for (i, t) in tokens.iter().enumerate() {
        for (j, id) in ids.iter().enumerate() {
            if i != j {
                targets.push((t, path(id, "role")));
            }
        }
    }
    let calls = targets
        .iter()
        .map(|(t, p)| app.api("PUT", p, t, Some(json!({"role": "operator"}))));
    let statuses: Vec<u16> = mailward_tests::join_all(calls)
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert!(
        statuses.iter().all(|s| [200, 403, 409, 422].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE role = 'owner' AND status = 'active'")
            .await,
        1,
        "exactly one owner stays: {statuses:?}"
    );
    // Without outgoing mail a second-factor reset could reach nobody.
    let last = app
        .count("SELECT COUNT(*) FROM users WHERE role = 'owner' AND email = 'owner@agency.example'")
        .await;
    let t = if last == 1 { &own } else { &olga_t };
    let (st, v) = app
        .api(
            "POST",
            &path(&vic, "factor-reset"),
            t,
            Some(json!({"reason": "lost phone"})),
        )
        .await;
    assert!(
        st == 409 && v.to_string().contains("Outgoing mail is not configured"),
        "{st} {v}"
    );
    let actions = app.audit_actions().await;
    for a in [
        "user.role_changed",
        "operator.scope_changed",
        "change.rolled_back",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    let titles = alert_titles(&app).await;
    assert!(
        titles
            .iter()
            .any(|t| t.starts_with("otto@agency.example is owner now")),
        "{titles:?}"
    );
}
both!(grants_of_access_wait_for_a_second_person);

/// A reset of someone else's second factor: asked by one owner, approved by another, mailed
/// as a one-time link; the old factor works until the link is used; a rollback withdraws an
/// unused link and is refused once it was used.
async fn a_second_factor_reset_is_mailed_and_withdrawn(b: Backend) {
    use serde_json::json;
    let (app, sink) = TestApp::start_with_mail(b, |_| {}).await;
    let owner = app.setup_owner().await;
    for email in ["otto@agency.example", "olga@agency.example"] {
        let r = owner
            .browser
            .post("/operators/invite", &[("email", email)])
            .await;
        assert_eq!(r.status(), 303);
    }
    let pw = "harbour lights at midnight";
    let otto = app
        .accept_invite(&mailed_link(&sink, "otto@agency.example"), "Otto", pw)
        .await;
    app.accept_invite(&mailed_link(&sink, "olga@agency.example"), "Olga", pw)
        .await;
    let out = app
        .cli()
        .args(["owner", "promote", "--email", "olga@agency.example"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let otto_id = user_id(&app, "otto@agency.example").await;
    let own = app.api_token(&owner.email, "read,write").await;
    let olga_t = app.api_token("olga@agency.example", "read,write").await;
    let approve = |id: &str| format!("/api/v1/changes/{id}/approve");

    // One's own factor is changed on the account page, never here.
    let me = user_id(&app, &owner.email).await;
    let (st, _) = app
        .api(
            "POST",
            &format!("/api/v1/people/{me}/factor-reset"),
            &own,
            Some(json!({"reason": "lost phone"})),
        )
        .await;
    assert_eq!(st, 409);
    // Asked in the console, approved by another owner: a link by mail.
    let r = owner
        .browser
        .post(
            &format!("/people/{otto_id}/factor-reset"),
            &[("reason", "Otto lost his phone"), ("back", "/operators")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let flash = owner.browser.flash("/operators").await.unwrap_or_default();
    assert!(
        flash.contains("waits for another person's approval"),
        "{flash}"
    );
    let (_, list) = app.api("GET", "/api/v1/changes", &olga_t, None).await;
    let chg = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "person.factor_reset")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = sink.messages().len();
    let (st, c) = app.api("POST", &approve(&chg), &olga_t, None).await;
    assert_eq!(st, 200, "{c}");
    assert!(
        c["result"].as_str().unwrap().contains("mailed to otto@"),
        "{c}"
    );
    assert_eq!(sink.messages().len(), before + 1, "one mail");
    let link = mailed_link(&sink, "otto@agency.example");
    let page = app.browser().get_text(&link).await;
    assert!(
        page.contains("otto@agency.example"),
        "the link names the account"
    );
    // Until it is used, Otto's old factor still works.
    let b = app.browser();
    assert_eq!(
        b.sign_in("otto@agency.example", pw, &app.next_totp(&otto.totp_secret))
            .await,
        "/"
    );
    // Rolled back: the link is dead.
    let (st, r) = app
        .api(
            "POST",
            &format!("/api/v1/changes/{chg}/rollback"),
            &own,
            Some(json!({"reason": "found the phone"})),
        )
        .await;
    assert_eq!(st, 202, "{r}");
    let (st, _) = app
        .api("POST", &approve(r["id"].as_str().unwrap()), &olga_t, None)
        .await;
    assert_eq!(st, 200);
    let page = app.browser().get_text(&link).await;
    assert!(page.contains("not valid any more"), "withdrawn");

    // Again, and this time the link is used: a new password and authenticator.
    let (st, v) = app
        .api(
            "POST",
            &format!("/api/v1/people/{otto_id}/factor-reset"),
            &own,
            Some(json!({"reason": "lost it again"})),
        )
        .await;
    assert_eq!(st, 202, "{v}");
    let chg = v["change_request"].as_str().unwrap().to_string();
    assert_eq!(app.api("POST", &approve(&chg), &olga_t, None).await.0, 200);
    let new_pw = "a second lantern by the quay";
    let back = app
        .accept_invite(&mailed_link(&sink, "otto@agency.example"), "", new_pw)
        .await;
    let b = app.browser();
    assert_eq!(
        b.sign_in(
            "otto@agency.example",
            new_pw,
            &app.next_totp(&back.totp_secret)
        )
        .await,
        "/"
    );
    let b = app.browser();
    assert_ne!(
        b.sign_in("otto@agency.example", pw, &app.next_totp(&otto.totp_secret))
            .await,
        "/",
        "the old factor is gone"
    );
    let (st, v) = app
        .api(
            "POST",
            &format!("/api/v1/changes/{chg}/rollback"),
            &own,
            Some(json!({"reason": "undo"})),
        )
        .await;
    assert_eq!(st, 409, "{v}");
    assert!(v.to_string().contains("has used the link"), "{v}");
    let actions = app.audit_actions().await;
    for a in [
        "user.factor_reset",
        "user.factor_reset_withdrawn",
        "auth.account_recovered",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    assert!(alert_titles(&app)
        .await
        .iter()
        .any(|t| t.starts_with("The second factor of otto@agency.example was reset")));
}
both!(a_second_factor_reset_is_mailed_and_withdrawn);

/// The queue tells people: whoever could approve a new request gets one mail listing what
/// waits, in words (never the requester, never a viewer or someone whose role cannot decide
/// it), once even when several workers run at once; the requester hears the decision, with the
/// reason of a rejection. The approval page reads the request in words; a rejection needs a
/// reason.
async fn approvers_and_requesters_are_told(b: Backend) {
    use serde_json::json;
    let (app, sink) = TestApp::start_with_mail(b, |_| {}).await;
    let owner = app.setup_owner().await;
    let (slug, _) = app
        .tenant_with_domains("plan_starter", &["acme.example"])
        .await;
    let pw = "harbour lights at midnight";
    for email in ["otto@agency.example", "olga@agency.example"] {
        owner
            .browser
            .post("/operators/invite", &[("email", email)])
            .await;
        app.accept_invite(&mailed_link(&sink, email), "Op", pw)
            .await;
    }
    for email in ["viv@acme.example", "val@acme.example"] {
        owner
            .browser
            .post(
                &format!("/tenants/{slug}/people"),
                &[("email", email), ("role", "client_viewer")],
            )
            .await;
        app.accept_invite(&mailed_link(&sink, email), "Viewer", pw)
            .await;
    }
    // Olga is a second owner.
    let out = app
        .cli()
        .args(["owner", "promote", "--email", "olga@agency.example"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let otto = user_id(&app, "otto@agency.example").await;
    let viv = user_id(&app, "viv@acme.example").await;
    let val = user_id(&app, "val@acme.example").await;
    let own_t = app.api_token(&owner.email, "read,write").await;
    let otto_t = app.api_token("otto@agency.example", "read,write").await;
    let olga_t = app.api_token("olga@agency.example", "read,write").await;
    let ask = |token: &str, who: &str, role: &str, why: &str| {
        let app = &app;
        let (token, who, role, why) = (
            token.to_string(),
            who.to_string(),
            role.to_string(),
            why.to_string(),
        );
        async move {
            let (st, v) = app
                .api(
                    "PUT",
                    &format!("/api/v1/people/{who}/role"),
                    &token,
                    Some(json!({"role": role, "reason": why})),
                )
                .await;
            assert_eq!(st, 202, "{v}");
            v["change_request"].as_str().unwrap().to_string()
        }
    };
    let st = &app.state;
    let mails_to = |to: &str| -> Vec<String> {
        sink.messages()
            .into_iter()
            .filter(|m| m.contains(&format!("To: {to}")) && m.contains("wait"))
            .collect()
    };

    // A platform request by the owner: only the other owner could decide it.
    let first = ask(&own_t, &otto, "owner", "Otto takes over the night shift").await;
    // Several workers at once: each notice goes out once.
    let sent: usize =
        mailward_tests::join_all((0..8).map(|_| app::auth::service::send_notices(st)))
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .sum();
    assert_eq!(sent, 1, "one mail, to Olga");
    let m = mails_to("olga@agency.example");
    assert_eq!(m.len(), 1, "{:?}", sink.messages());
    assert!(
        m[0].contains("Subject: A change waits for your approval"),
        "{}",
        m[0]
    );
    assert!(
        m[0].contains("Make otto@agency.example owner (now operator).")
            && m[0].contains("because “Otto takes over the night shift”")
            && m[0].contains("/approvals"),
        "{}",
        m[0]
    );
    assert!(mails_to(&owner.email).is_empty(), "not the requester");
    assert!(
        mails_to("otto@agency.example").is_empty(),
        "an operator cannot decide it"
    );
    assert_eq!(app::auth::service::send_notices(st).await.unwrap(), 0);

    // Two tenant requests by Otto: each owner gets one mail listing both; the viewers and
    // Otto nothing.
    ask(
        &otto_t,
        &viv,
        "tenant_admin",
        "Viv runs Acme's mail from now on",
    )
    .await;
    let second = ask(&otto_t, &val, "tenant_admin", "Val is Viv's deputy").await;
    assert_eq!(app::auth::service::send_notices(st).await.unwrap(), 2);
    for to in [owner.email.as_str(), "olga@agency.example"] {
        let m = mails_to(to);
        let last = m.last().unwrap();
        assert!(
            last.contains("Subject: 2 changes wait for your approval")
                && last.contains("Make viv@acme.example tenant admin (now client viewer).")
                && last.contains("Make val@acme.example tenant admin (now client viewer)."),
            "{last}"
        );
    }
    for to in [
        "otto@agency.example",
        "viv@acme.example",
        "val@acme.example",
    ] {
        assert!(mails_to(to).is_empty(), "{to}");
    }

    // The approval page reads each request in words.
    let page = owner.browser.get_text("/approvals").await;
    assert!(
        page.contains("Make viv@acme.example tenant admin (now client viewer)."),
        "{page}"
    );
    assert!(page.contains("Otto takes over the night shift"));

    // Decisions: a rejection needs a reason; the requester hears each outcome.
    let reject = format!("/api/v1/changes/{first}/reject");
    let (code, _) = app
        .api("POST", &reject, &olga_t, Some(json!({"note": ""})))
        .await;
    assert_eq!(code, 422);
    let (code, _) = app
        .api(
            "POST",
            &reject,
            &olga_t,
            Some(json!({"note": "Otto asked to stay operator"})),
        )
        .await;
    assert_eq!(code, 204);
    let (code, _) = app
        .api(
            "POST",
            &format!("/api/v1/changes/{second}/approve"),
            &own_t,
            None,
        )
        .await;
    assert_eq!(code, 200);
    let before = sink.messages().len();
    assert_eq!(app::auth::service::send_notices(st).await.unwrap(), 2);
    let told = &sink.messages()[before..];
    let to_owner = told
        .iter()
        .find(|m| m.contains(&format!("To: {}", owner.email)))
        .expect("the owner hears the rejection");
    assert!(
        to_owner.contains("Subject: Not approved: More access: a new role of otto@agency.example")
            && to_owner.contains("rejected it: “Otto asked to stay operator”")
            && to_owner.contains("Nothing was changed."),
        "{to_owner}"
    );
    let to_otto = told
        .iter()
        .find(|m| m.contains("To: otto@agency.example"))
        .expect("Otto hears the approval");
    assert!(
        to_otto.contains("Subject: Approved: More access: a new role of val@acme.example")
            && to_otto.contains("You asked: Make val@acme.example tenant admin"),
        "{to_otto}"
    );
    assert_eq!(app::auth::service::send_notices(st).await.unwrap(), 0);
}
both!(approvers_and_requesters_are_told);
