//! Tenants, plans and domains: limits, IDNA, duplicates, plan changes, races, REST.
use app::core::authz::Actor;
use app::tenancy::service::{self, NewTenant};
use mailward_tests::{both, Backend, TestApp};

fn new_tenant(name: &str, plan: &str) -> NewTenant {
    NewTenant {
        name: name.into(),
        plan_id: plan.into(),
        ..Default::default()
    }
}

async fn tenant_domains_within_plan(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    // Through the form, as a person would.
    let r = owner
        .browser
        .post(
            "/tenants",
            &[
                ("name", "Acme Corp"),
                ("plan_id", "plan_starter"),
                ("contact_email", "it@acme.example"),
            ],
        )
        .await;
    assert_eq!(r.headers()["location"], "/tenants/acme-corp");
    for name in ["acme.example", "Bücher.Example.", "shop.acme.example"] {
        let r = owner
            .browser
            .post(
                "/tenants/acme-corp/domains",
                &[("name", name), ("category", "standard")],
            )
            .await;
        assert_eq!(r.headers()["location"], "/tenants/acme-corp");
        assert!(
            owner
                .browser
                .flash("/tenants/acme-corp")
                .await
                .unwrap()
                .contains("added"),
            "{name}"
        );
    }
    // The fourth is refused with a clear message, and nothing changes.
    owner
        .browser
        .post("/tenants/acme-corp/domains", &[("name", "four.example")])
        .await;
    let msg = owner.browser.flash("/tenants/acme-corp").await.unwrap();
    assert!(msg.contains("Starter, which allows 3 domains"), "{msg}");
    let sys = Actor::system("test");
    let (t, domains) = service::tenant(&app.state, &sys, "acme-corp")
        .await
        .unwrap();
    assert_eq!(t.domain_count, 3);
    assert_eq!(domains.len(), 3);
    let idn = domains
        .iter()
        .find(|d| d.unicode_name == "bücher.example")
        .unwrap();
    assert_eq!(idn.name, "xn--bcher-kva.example");
    assert!(!idn.catch_all, "catch-all starts off");
    assert_eq!(idn.status, "pending");
    // The page shows both forms of the name.
    let page = owner.browser.get_text("/tenants/acme-corp").await;
    assert!(page.contains("bücher.example") && page.contains("xn--bcher-kva.example"));

    // A domain of one tenant cannot be added to another (in either spelling).
    service::create_tenant(&app.state, &sys, &new_tenant("Globex", "plan_pro"))
        .await
        .unwrap();
    for dup in ["ACME.example", "xn--bcher-kva.example"] {
        let e = service::add_domain(&app.state, &sys, "globex", dup, "")
            .await
            .unwrap_err();
        assert!(e.user_message().contains("already managed"), "{dup}: {e}");
    }
    // Bad names are refused with a reason.
    for bad in [
        "not a domain",
        "a..b.example",
        "-x.example",
        "localhost",
        "x@y.example",
    ] {
        let e = service::add_domain(&app.state, &sys, "globex", bad, "")
            .await
            .unwrap_err();
        assert_eq!(e.status(), 422, "{bad}");
    }
    assert_eq!(
        service::tenant(&app.state, &sys, "globex")
            .await
            .unwrap()
            .0
            .domain_count,
        0
    );
    // Unknown tenants are not found.
    assert_eq!(
        service::add_domain(&app.state, &sys, "nope", "x.example", "")
            .await
            .unwrap_err()
            .status(),
        404
    );
    assert_eq!(owner.browser.get("/tenants/nope").await.status(), 404);
}
both!(tenant_domains_within_plan);

async fn concurrent_adds_cannot_exceed_plan(b: Backend) {
    let app = TestApp::start(b).await;
    let _owner = app.setup_owner().await;
    let sys = Actor::system("test");
    service::create_tenant(&app.state, &sys, &new_tenant("Tiny", "plan_free"))
        .await
        .unwrap();
    let mut tasks = vec![];
    for i in 0..12 {
        let st = app.state.clone();
        tasks.push(tokio::spawn(async move {
            service::add_domain(
                &st,
                &Actor::system("race"),
                "tiny",
                &format!("d{i}.example"),
                "",
            )
            .await
            .is_ok()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap() as i32;
    }
    assert_eq!(ok, 1, "exactly one domain fits the Free plan");
    let (t, d) = service::tenant(&app.state, &sys, "tiny").await.unwrap();
    assert_eq!((t.domain_count, d.len()), (1, 1));
}
both!(concurrent_adds_cannot_exceed_plan);

async fn plan_changes_and_downgrade_refusal(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let sys = Actor::system("test");
    service::create_tenant(&app.state, &sys, &new_tenant("Initech", "plan_pro"))
        .await
        .unwrap();
    for i in 0..5 {
        service::add_domain(&app.state, &sys, "initech", &format!("i{i}.example"), "")
            .await
            .unwrap();
    }
    let r = owner
        .browser
        .post("/tenants/initech/plan", &[("plan_id", "plan_starter")])
        .await;
    assert_eq!(r.status(), 303);
    let msg = owner.browser.flash("/tenants/initech").await.unwrap();
    assert!(
        msg.contains("it has 5 domains and Starter allows 3 (2 too many)"),
        "{msg}"
    );
    assert_eq!(
        service::tenant(&app.state, &sys, "initech")
            .await
            .unwrap()
            .0
            .plan_name,
        "Pro"
    );
    owner
        .browser
        .post("/tenants/initech/plan", &[("plan_id", "plan_agency")])
        .await;
    assert!(owner
        .browser
        .flash("/tenants/initech")
        .await
        .unwrap()
        .contains("now on Agency"));
    // Suspended tenants take no new domains; resuming lifts that.
    service::set_tenant_status(&app.state, &sys, "initech", "suspended")
        .await
        .unwrap();
    assert_eq!(
        service::add_domain(&app.state, &sys, "initech", "late.example", "")
            .await
            .unwrap_err()
            .status(),
        409
    );
    service::set_tenant_status(&app.state, &sys, "initech", "active")
        .await
        .unwrap();
    service::add_domain(&app.state, &sys, "initech", "late.example", "")
        .await
        .unwrap();
    // Each change is in the audit log, in the tenant's name.
    let jsonl = owner
        .browser
        .get_text("/audit/export.jsonl?action=tenant.")
        .await;
    let actions: Vec<String> = jsonl
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        actions,
        [
            "tenant.resumed",
            "tenant.suspended",
            "tenant.plan_changed",
            "tenant.created"
        ]
    );
    assert!(app::audit::service::verify(&app.state.db)
        .await
        .unwrap()
        .ok());
}
both!(plan_changes_and_downgrade_refusal);

async fn rest_api_for_tenancy(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let (_, write) = app::auth::service::create_token_for_email(
        &app.state,
        &owner.email,
        "ci",
        &["read,write".into()],
        7,
    )
    .await
    .unwrap();
    let (_, read) = app::auth::service::create_token_for_email(
        &app.state,
        &owner.email,
        "ro",
        &["read".into()],
        7,
    )
    .await
    .unwrap();
    let api = reqwest::Client::new();
    let body = serde_json::json!({ "name": "Umbrella", "plan_id": "plan_starter" });
    let r = api
        .post(app.url("/api/v1/tenants"))
        .bearer_auth(&read)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "read-only token cannot create");
    let r = api
        .post(app.url("/api/v1/tenants"))
        .bearer_auth(&write)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let t: serde_json::Value = r.json().await.unwrap();
    assert_eq!(t["slug"], "umbrella");
    let r = api
        .post(app.url("/api/v1/tenants/umbrella/domains"))
        .bearer_auth(&write)
        .json(&serde_json::json!({ "name": "umbrella.example" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let d: serde_json::Value = r.json().await.unwrap();
    assert_eq!(d["verified"], serde_json::Value::Null);
    // Not verified: activation needs the DNS challenge, or an owner's reason.
    let r = api
        .patch(app.url(&format!("/api/v1/domains/{}", d["id"].as_str().unwrap())))
        .bearer_auth(&write)
        .json(&serde_json::json!({ "status": "active" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let e: serde_json::Value = r.json().await.unwrap();
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("_mailward-challenge.umbrella.example"),
        "{msg}"
    );
    let r = api
        .patch(app.url(&format!("/api/v1/domains/{}", d["id"].as_str().unwrap())))
        .bearer_auth(&write)
        .json(&serde_json::json!({ "status": "active", "unverified_reason": "registrar has no TXT support" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d: serde_json::Value = r.json().await.unwrap();
    assert_eq!(d["verified"], "override");
    let detail: serde_json::Value = api
        .get(app.url("/api/v1/tenants/umbrella"))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["domains"][0]["status"], "active");
    assert_eq!(detail["tenant"]["domain_count"], 1);
    assert_eq!(
        api.get(app.url("/api/v1/tenants/nope"))
            .bearer_auth(&read)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let r = api
        .patch(app.url("/api/v1/tenants/umbrella"))
        .bearer_auth(&write)
        .json(&serde_json::json!({ "plan_id": "plan_free" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "1 domain fits Free");
    let plans: Vec<serde_json::Value> = api
        .get(app.url("/api/v1/plans"))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = plans.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Free", "Starter", "Pro", "Agency"]);
    assert_eq!(plans[0]["tenants"], 1);
    assert_eq!(plans[2]["storage_bytes"], 50_000_000_000i64);
    // Bad JSON input: a clear 4xx, nothing created.
    let r = api
        .post(app.url("/api/v1/tenants"))
        .bearer_auth(&write)
        .json(&serde_json::json!({ "name": "" , "plan_id": "plan_free"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let all: Vec<serde_json::Value> = api
        .get(app.url("/api/v1/tenants"))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
}
both!(rest_api_for_tenancy);

async fn removing_a_domain(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let sys = Actor::system("test");
    service::create_tenant(&app.state, &sys, &new_tenant("Solo", "plan_free"))
        .await
        .unwrap();
    let d = service::add_domain(&app.state, &sys, "solo", "solo.example", "")
        .await
        .unwrap();
    service::activate_unverified(&app.state, &sys, &d.id, "test fixture")
        .await
        .unwrap();
    let br = &owner.browser;
    // Active domains are suspended first.
    br.post(&format!("/domains/{}/remove", d.id), &[]).await;
    let flash = br.flash(&format!("/domains/{}", d.name)).await.unwrap();
    assert!(flash.contains("suspend it first"), "{flash}");
    br.post(
        &format!("/domains/{}/status", d.id),
        &[("status", "suspended")],
    )
    .await;
    let page = br.get_text(&format!("/domains/{}", d.name)).await;
    assert!(
        page.contains(&format!("/domains/{}/remove", d.id)),
        "remove offered"
    );
    let r = br.post(&format!("/domains/{}/remove", d.id), &[]).await;
    assert_eq!(r.headers()["location"], "/tenants/solo");
    assert!(br
        .flash("/tenants/solo")
        .await
        .unwrap()
        .contains("plan slot is free"));
    // The Free plan's one slot can be used again; the event keeps what was removed.
    let (t, domains) = service::tenant(&app.state, &sys, "solo").await.unwrap();
    assert_eq!((t.domain_count, domains.len()), (0, 0));
    service::add_domain(&app.state, &sys, "solo", "solo2.example", "")
        .await
        .unwrap();
    let log = br.get_text("/audit/export.jsonl").await;
    let removed = log.lines().find(|l| l.contains("domain.removed")).unwrap();
    assert!(removed.contains("solo.example") && removed.contains("suspended"));
    // A domain with mailboxes stays (mailboxes are offboarded first), through the API too.
    let d2 = service::domain(&app.state, &sys, "solo2.example")
        .await
        .unwrap();
    sqlx::query("UPDATE domains SET mailbox_count = 2 WHERE id = $1")
        .bind(d2.id.clone())
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let (_, token) = app::auth::service::create_token_for_email(
        &app.state,
        &owner.email,
        "t",
        &["read,write".into()],
        1,
    )
    .await
    .unwrap();
    let r = reqwest::Client::new()
        .delete(app.url(&format!("/api/v1/domains/{}", d2.id)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("2 mailboxes"));
}
both!(removing_a_domain);
