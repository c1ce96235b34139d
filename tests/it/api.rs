//! API tokens: created once, scoped, expiring, revocable; /api/v1/me and the OpenAPI document.
use mailward_tests::{both, Backend, TestApp};

async fn create_token(
    app: &TestApp,
    owner: &mailward_tests::Account,
    name: &str,
    scopes: &[&str],
    days: &str,
) -> String {
    let mut form = vec![("name", name), ("days", days)];
    for s in scopes {
        form.push(match *s {
            "read" => ("scope_read", "on"),
            "write" => ("scope_write", "on"),
            _ => ("scope_audit", "on"),
        });
    }
    let r = owner.browser.post("/account/tokens", &form).await;
    assert_eq!(r.headers()["location"], "/account/tokens");
    let page = owner.browser.get_text("/account/tokens").await;
    let _ = app;
    mailward_tests::testid_text(&page, "fresh-secret").unwrap_or_else(|| {
        panic!(
            "token shown once: {}",
            page.split("<body>").nth(1).unwrap_or(&page)
        )
    })
}

async fn tokens_scopes_expiry_revocation(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let api = reqwest::Client::new();
    let get = |path: &str, token: &str| api.get(app.url(path)).bearer_auth(token).send();
    let read = create_token(&app, &owner, "monitoring", &["read"], "30").await;
    assert!(read.starts_with("mwt_"));
    // Shown once only.
    assert!(!owner
        .browser
        .get_text("/account/tokens")
        .await
        .contains(&read));

    let r = get("/api/v1/me", &read).await.unwrap();
    assert_eq!(r.status(), 200);
    let me: serde_json::Value = r.json().await.unwrap();
    assert_eq!(me["email"], owner.email);
    assert_eq!(me["scopes"], serde_json::json!(["read"]));
    // Without the audit scope, the audit log is forbidden; with it, readable.
    assert_eq!(get("/api/v1/audit", &read).await.unwrap().status(), 403);
    let auditor = create_token(&app, &owner, "siem", &["audit"], "1").await;
    let r = get("/api/v1/audit?action=token.", &auditor).await.unwrap();
    assert_eq!(r.status(), 200);
    let list: serde_json::Value = r.json().await.unwrap();
    assert!(list["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["action"].as_str().unwrap().starts_with("token.")));
    assert_eq!(list["events"].as_array().unwrap().len(), 2);
    // Unknown and malformed tokens.
    assert_eq!(get("/api/v1/me", "mwt_nope").await.unwrap().status(), 401);
    assert_eq!(
        api.get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    // Bad input changes nothing.
    let r = owner
        .browser
        .post(
            "/account/tokens",
            &[("name", "x"), ("days", "400"), ("scope_read", "on")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(owner
        .browser
        .flash("/account/tokens")
        .await
        .unwrap()
        .contains("between 1 and 365"));
    owner
        .browser
        .post("/account/tokens", &[("name", "x"), ("days", "5")])
        .await;
    assert!(owner
        .browser
        .flash("/account/tokens")
        .await
        .unwrap()
        .contains("at least one scope"));
    // Revocation: at once, from the list's revoke button.
    let page = owner.browser.get_text("/account/tokens").await;
    let uid = app::auth::store::user_by_email(&app.state.db, &owner.email)
        .await
        .unwrap()
        .unwrap()
        .id;
    let tokens = app::auth::store::list_tokens(&app.state.db, &uid)
        .await
        .unwrap();
    let id = tokens
        .iter()
        .find(|t| t.name == "monitoring")
        .unwrap()
        .id
        .clone();
    assert!(page.contains(&format!("/account/tokens/{id}/revoke")));
    owner
        .browser
        .post(&format!("/account/tokens/{id}/revoke"), &[])
        .await;
    assert_eq!(get("/api/v1/me", &read).await.unwrap().status(), 401);
    assert_eq!(get("/api/v1/me", &auditor).await.unwrap().status(), 200);
    // Expiry: the one-day token stops after a day.
    app.state.clock.advance(86400 + 1);
    assert_eq!(get("/api/v1/me", &auditor).await.unwrap().status(), 401);
}
both!(tokens_scopes_expiry_revocation);

async fn cli_token_and_openapi(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let (view, secret) = app::auth::service::create_token_for_email(
        &app.state,
        &owner.email,
        "ci",
        &["read,audit".to_string()],
        7,
    )
    .await
    .unwrap();
    assert_eq!(view.scopes, vec!["read", "audit"]);
    let api = reqwest::Client::new();
    let r = api
        .get(app.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(app::auth::service::create_token_for_email(
        &app.state,
        "ghost@agency.example",
        "x",
        &["read".into()],
        7
    )
    .await
    .is_err());
    assert!(app::auth::service::create_token_for_email(
        &app.state,
        &owner.email,
        "x",
        &["admin".into()],
        7
    )
    .await
    .is_err());
    let doc: serde_json::Value = api
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/api/v1/me"].is_object());
    assert!(doc["paths"]["/api/v1/audit"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
both!(cli_token_and_openapi);
