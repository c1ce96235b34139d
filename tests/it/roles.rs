//! Scoped roles: tenant admins and client viewers see their tenant only (others are 404),
//! a tenant admin cannot touch the plan, and a client viewer changes nothing by any route.
use app::core::authz::Actor;
use app::tenancy::service::{self, NewTenant};
use mailward_tests::{both, Account, Backend, TestApp};

async fn invite_to_tenant(
    app: &TestApp,
    owner: &Account,
    slug: &str,
    email: &str,
    role: &str,
    name: &str,
) -> Account {
    app.invite_through(
        owner,
        &format!("/tenants/{slug}/people"),
        &[("email", email), ("role", role)],
        &format!("/tenants/{slug}"),
        email,
        name,
    )
    .await
}

async fn setup(b: Backend) -> (TestApp, Account, Account, Account, String) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let sys = Actor::system("test");
    for (name, plan) in [("Acme", "plan_starter"), ("Globex", "plan_pro")] {
        service::create_tenant(
            &app.state,
            &sys,
            &NewTenant {
                name: name.into(),
                plan_id: plan.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    service::add_domain(&app.state, &sys, "acme", "acme.example", "")
        .await
        .unwrap();
    let globex_domain = service::add_domain(&app.state, &sys, "globex", "globex.example", "")
        .await
        .unwrap();
    let admin = invite_to_tenant(
        &app,
        &owner,
        "acme",
        "ada@acme.example",
        "tenant_admin",
        "Ada",
    )
    .await;
    let viewer = invite_to_tenant(
        &app,
        &owner,
        "acme",
        "carl@acme.example",
        "client_viewer",
        "Carl",
    )
    .await;
    (app, owner, admin, viewer, globex_domain.id)
}

async fn tenant_admin_is_confined_to_their_tenant(b: Backend) {
    let (app, _owner, admin, _viewer, globex_domain) = setup(b).await;
    let sys = Actor::system("test");
    let br = &admin.browser;
    // Sees their tenant, and only theirs.
    let list = br.get_text("/tenants").await;
    assert!(list.contains("Acme") && !list.contains("Globex"));
    assert_eq!(br.get("/tenants/acme").await.status(), 200);
    assert_eq!(
        br.get("/tenants/globex").await.status(),
        404,
        "another tenant does not exist for them"
    );
    assert!(!br.get_text("/domains").await.contains("globex.example"));
    // Manages the tenant's domains within the plan…
    br.post("/tenants/acme/domains", &[("name", "shop.acme.example")])
        .await;
    assert!(br.flash("/tenants/acme").await.unwrap().contains("added"));
    // …but cannot raise the plan or suspend the tenant.
    br.post("/tenants/acme/plan", &[("plan_id", "plan_agency")])
        .await;
    assert!(br
        .flash("/tenants/acme")
        .await
        .unwrap()
        .contains("not allowed"));
    br.post("/tenants/acme/status", &[("status", "suspended")])
        .await;
    assert!(br
        .flash("/tenants/acme")
        .await
        .unwrap()
        .contains("not allowed"));
    let (t, _) = service::tenant(&app.state, &sys, "acme").await.unwrap();
    assert_eq!(
        (t.plan_name.as_str(), t.status.as_str(), t.domain_count),
        ("Starter", "active", 2)
    );
    // Another tenant's objects are not found, by any route.
    let r = br
        .post("/tenants/globex/domains", &[("name", "evil.example")])
        .await;
    assert_eq!(r.status(), 303);
    br.post(
        &format!("/domains/{globex_domain}/status"),
        &[("status", "suspended")],
    )
    .await;
    assert_eq!(
        service::domain(&app.state, &sys, &globex_domain)
            .await
            .unwrap()
            .status,
        "pending"
    );
    assert_eq!(
        service::tenant(&app.state, &sys, "globex")
            .await
            .unwrap()
            .0
            .domain_count,
        1
    );
    br.post(
        "/tenants",
        &[("name", "Sneaky"), ("plan_id", "plan_agency")],
    )
    .await;
    assert_eq!(service::tenants(&app.state, &sys).await.unwrap().len(), 2);
    // The audit log shows their tenant's events only.
    let jsonl = br.get_text("/audit/export.jsonl").await;
    let acme = service::tenant(&app.state, &sys, "acme")
        .await
        .unwrap()
        .0
        .id;
    assert!(!jsonl.is_empty());
    for line in jsonl.lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(e["tenant_id"], acme.as_str(), "{line}");
    }
    // Through the API, too.
    let (_, token) = app::auth::service::create_token_for_email(
        &app.state,
        "ada@acme.example",
        "x",
        &["read,write".into()],
        1,
    )
    .await
    .unwrap();
    let api = reqwest::Client::new();
    let all: Vec<serde_json::Value> = api
        .get(app.url("/api/v1/tenants"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        api.get(app.url("/api/v1/tenants/globex"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let r = api
        .patch(app.url("/api/v1/tenants/acme"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"plan_id": "plan_agency"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        403,
        "a tenant admin cannot raise their own plan"
    );
}
both!(tenant_admin_is_confined_to_their_tenant);

async fn client_viewer_changes_nothing(b: Backend) {
    let (app, _owner, _admin, viewer, globex_domain) = setup(b).await;
    let sys = Actor::system("test");
    let br = &viewer.browser;
    // A client viewer lands on their read-only portal.
    let r = br.get("/").await;
    assert_eq!(r.headers()["location"], "/portal");
    let portal = br.get_text("/portal").await;
    assert!(portal.contains("acme.example") && !portal.contains("globex.example"));
    assert!(portal.contains("Starter") && portal.contains("data-testid=\"portal-summary\""));
    assert!(
        !portal.contains("portal-preview"),
        "no preview banner for the client"
    );
    assert!(
        portal.contains("domain.added"),
        "their tenant's audit events"
    );
    // The only form is signing out (rendered in the sidebar and in the phone menu).
    let forms = portal.matches("method=\"post\"").count();
    assert!(forms >= 1, "a sign-out form");
    assert_eq!(
        portal.matches("method=\"post\" action=\"/logout\"").count(),
        forms,
        "the only form is signing out"
    );
    assert_eq!(br.get("/portal?tenant=globex").await.status(), 404);
    let page = br.get_text("/tenants/acme").await;
    assert!(page.contains("acme.example"));
    assert!(
        !page.contains("method=\"post\" action=\"/tenants/acme"),
        "no mutating control rendered"
    );
    assert!(!page.contains("/status\""), "no status buttons");
    let acme_domain = service::tenant(&app.state, &sys, "acme").await.unwrap().1[0]
        .id
        .clone();
    let before = app::audit::service::stats(&app.state.db, 0)
        .await
        .unwrap()
        .1;
    let routes: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/tenants".into(),
            vec![("name", "X"), ("plan_id", "plan_free")],
        ),
        (
            "/tenants/acme/plan".into(),
            vec![("plan_id", "plan_agency")],
        ),
        ("/tenants/acme/status".into(), vec![("status", "suspended")]),
        (
            "/tenants/acme/domains".into(),
            vec![("name", "more.acme.example")],
        ),
        (
            format!("/domains/{acme_domain}/status"),
            vec![("status", "active")],
        ),
        (
            format!("/domains/{globex_domain}/status"),
            vec![("status", "active")],
        ),
        (
            "/tenants/acme/people".into(),
            vec![("email", "x@acme.example"), ("role", "tenant_admin")],
        ),
        (
            "/operators/invite".into(),
            vec![("email", "x@acme.example")],
        ),
        (
            "/account/tokens".into(),
            vec![("name", "t"), ("days", "1"), ("scope_read", "on")],
        ),
    ];
    for (path, form) in &routes {
        let r = br.post(path, form).await;
        assert_eq!(r.status(), 303, "{path}");
        let back = r.headers()["location"].to_str().unwrap().to_string();
        let flash = br.flash(&back).await.unwrap_or_default();
        assert!(
            flash.contains("not allowed") || flash.contains("Not found"),
            "{path}: {flash:?}"
        );
    }
    // Nothing changed: only sign-in events were written meanwhile (none here).
    let after = app::audit::service::stats(&app.state.db, 0)
        .await
        .unwrap()
        .1;
    assert_eq!(before, after, "no audit event means no change");
    let (t, d) = service::tenant(&app.state, &sys, "acme").await.unwrap();
    assert_eq!(
        (
            t.plan_name.as_str(),
            t.status.as_str(),
            d.len(),
            d[0].status.as_str()
        ),
        ("Starter", "active", 1, "pending")
    );
}
both!(client_viewer_changes_nothing);
