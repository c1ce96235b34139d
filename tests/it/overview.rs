//! The domain overview (paging, sorting, filters and scope decided in SQL) on a seeded
//! dataset, the plan catalogue, operators limited to listed tenants, and the client portal.
use app::core::authz::{Actor, TenantScope};
use app::tenancy::service::{self, NewTenant};
use app::tenancy::DomainQuery;
use mailward_tests::{both, testid_text, Backend, Browser, TestApp};

/// A browser holding the benchmark owner's session printed by `mailward seed`.
fn with_cookie(app: &TestApp, cookie: &str) -> Browser {
    let mut b = app.browser();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("cookie", cookie.parse().unwrap());
    headers.insert("sec-fetch-site", "same-origin".parse().unwrap());
    b.http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap();
    b
}

/// Domain names (as people read them) in the overview table, in page order.
/// The text of the element that follows each `marker` in the domains table (one per row).
fn column(page: &str, marker: &str) -> Vec<String> {
    let table = page.split("data-testid=\"domains-table\"").nth(1).unwrap();
    let table = table.split("</table>").next().unwrap();
    table
        .split(marker)
        .skip(1)
        .map(|s| {
            let s = &s[s.find('>').unwrap() + 1..];
            s[..s.find('<').unwrap()].to_string()
        })
        .collect()
}

fn names(page: &str) -> Vec<String> {
    let table = page.split("data-testid=\"domains-table\"").nth(1).unwrap();
    table
        .split("href=\"/domains/")
        .skip(1)
        // The domain's own link, not its health badge's (…/dns).
        .filter(|s| !s.split('"').next().unwrap().ends_with("/dns"))
        .map(|s| {
            s.split('>')
                .nth(1)
                .unwrap()
                .split('<')
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

async fn seeded_overview(b: Backend) {
    let app = TestApp::start(b).await;
    let seeded = server::seed::seed(
        &app.state,
        &server::seed::SeedPlan {
            domains: 120,
            mailboxes_per_domain: 3,
            mailbox_password: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (seeded.tenants, seeded.domains, seeded.mailboxes),
        (3, 120, 360)
    );
    // Seeding is for new databases only: it is not a way into a live installation.
    let again = server::seed::seed(
        &app.state,
        &server::seed::SeedPlan {
            domains: 1,
            mailboxes_per_domain: 0,
            mailbox_password: None,
        },
    )
    .await;
    assert!(again.is_err());
    let br = with_cookie(&app, &seeded.cookie);

    let page = br.get_text("/").await;
    assert_eq!(
        testid_text(&page, "domain-count").unwrap(),
        "1–100 of 120 domains"
    );
    let first = names(&page);
    assert_eq!(first.len(), 100);
    let mut sorted = first.clone();
    sorted.sort();
    assert_eq!(first, sorted, "sorted by name by default");
    let page2 = br.get_text("/?page=2").await;
    assert_eq!(
        testid_text(&page2, "domain-count").unwrap(),
        "101–120 of 120 domains"
    );
    assert!(names(&page2).iter().all(|n| !first.contains(n)));
    let desc = names(&br.get_text("/?sort=domain&dir=desc&per=500").await);
    assert_eq!(desc.len(), 120);
    assert!(desc.windows(2).all(|w| w[0] >= w[1]), "descending");
    // Mailbox counts come from the maintained counter; sorting by them is stable by name.
    assert_eq!(
        names(&br.get_text("/?sort=mailboxes&per=50").await).len(),
        50
    );
    // Every order holds on the page as sent (the rows travel as one JSON aggregate that
    // carries the order itself): by tenant, then by name within each tenant.
    for dir in ["asc", "desc"] {
        let page = br
            .get_text(&format!("/?sort=tenant&dir={dir}&per=500"))
            .await;
        // (tenant, the domain's ASCII name from its link)
        let rows: Vec<(String, String)> = column(&page, "href=\"/tenants/")
            .into_iter()
            .zip(
                page.split("class=\"link dn\" href=\"/domains/")
                    .skip(1)
                    .map(|s| s.split('"').next().unwrap().to_string()),
            )
            .collect();
        assert_eq!(rows.len(), 120);
        assert!(
            rows.windows(2).all(|w| if w[0].0 == w[1].0 {
                w[0].1 < w[1].1
            } else {
                (w[0].0 < w[1].0) == (dir == "asc")
            }),
            "by tenant {dir}, then by name: {rows:?}"
        );
        let page = br
            .get_text(&format!("/?sort=status&dir={dir}&per=500"))
            .await;
        let statuses = column(&page, "</a></td><td><span class=\"badge badge-");
        assert_eq!(statuses.len(), 120);
        assert!(statuses.contains(&"suspended".to_string()));
        assert!(
            statuses
                .windows(2)
                .all(|w| w[0] == w[1] || (w[0] < w[1]) == (dir == "asc")),
            "by status {dir}: {statuses:?}"
        );
    }

    // Search matches Unicode names (stored as punycode) and tenant names; filters combine.
    let idn = br.get_text("/?q=b%C3%BCcher").await;
    assert_eq!(
        testid_text(&idn, "domain-count").unwrap(),
        "1–4 of 4 domains"
    );
    assert!(idn.contains("xn--bcher-"), "the ASCII form is shown too");
    let suspended = br.get_text("/?status=suspended").await;
    assert_eq!(
        testid_text(&suspended, "domain-count").unwrap(),
        "1–2 of 2 domains"
    );
    let one = br.get_text("/?tenant=client-0002&q=mail-0004").await;
    assert_eq!(
        testid_text(&one, "domain-count").unwrap(),
        "1–9 of 9 domains"
    );
    // Bad parameters fall back to defaults instead of failing.
    let odd = br.get("/?sort=%27%3Bdrop&dir=sideways&per=7&page=-3").await;
    assert_eq!(odd.status(), 200);
    assert!(odd.text().await.unwrap().contains("1–100 of 120 domains"));

    // The scope is part of the query: an operator limited to one tenant counts 40.
    let sys = Actor::system("test");
    let (t, _) = service::tenant(&app.state, &sys, "client-0003")
        .await
        .unwrap();
    let mut limited = Actor::system("limited");
    limited.role = Some(app::core::authz::Role::Operator);
    limited.tenants = TenantScope::Only(vec![t.id.clone()]);
    let seen = service::browse_domains(&app.state, &limited, &DomainQuery::default())
        .await
        .unwrap();
    assert_eq!(seen.total, 40);
    assert_eq!(seen.tenants.len(), 1);
    assert!(seen.rows.iter().all(|r| r.domain.tenant_id == t.id));
    assert_eq!(
        service::totals(&app.state, &limited).await.unwrap(),
        (1, 40, 120)
    );

    // A domain's page lists its mailboxes with their pool allocation.
    assert_eq!(first[0], "bücher-00025.example", "Unicode order");
    let d = br.get_text(&format!("/domains/{}", first[0])).await;
    assert!(d.contains("data-testid=\"mailboxes-table\""));
    assert!(d.contains("user001@") && d.contains("200 MB") && d.contains("within the pool"));
    assert_eq!(br.get("/domains/nope.example").await.status(), 404);
}
both!(seeded_overview);

async fn plan_catalogue(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let sys = Actor::system("test");
    service::create_tenant(
        &app.state,
        &sys,
        &NewTenant {
            name: "Acme".into(),
            plan_id: "plan_starter".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let br = &owner.browser;
    br.post(
        "/plans",
        &[
            ("name", "Business"),
            ("max_domains", "20"),
            ("storage_gb", "2,5"),
            ("managed_smtp", "on"),
        ],
    )
    .await;
    assert_eq!(
        br.flash("/plans").await.unwrap(),
        "Plan added to the catalogue."
    );
    let plans = service::plans(&app.state, &sys).await.unwrap();
    let business = plans.iter().find(|p| p.name == "Business").unwrap();
    assert_eq!(
        (
            business.max_domains,
            business.storage_bytes,
            business.managed_smtp
        ),
        (20, 2_500_000_000, true)
    );
    // Bad input changes nothing, with a clear message.
    for (form, msg) in [
        (
            [
                ("name", "business"),
                ("max_domains", "5"),
                ("storage_gb", "1"),
            ],
            "already a plan",
        ),
        (
            [("name", "Tiny"), ("max_domains", "0"), ("storage_gb", "1")],
            "between 1 and 10,000",
        ),
        (
            [
                ("name", "Tiny"),
                ("max_domains", "2"),
                ("storage_gb", "lots"),
            ],
            "whole number",
        ),
    ] {
        br.post("/plans", &form).await;
        let flash = br.flash("/plans").await.unwrap();
        assert!(flash.contains(msg), "{flash}");
    }
    assert_eq!(service::plans(&app.state, &sys).await.unwrap().len(), 5);

    // Retiring: new tenants cannot choose it; tenants on it keep it until moved.
    br.post("/plans/plan_starter/retire", &[]).await;
    assert!(br.flash("/plans").await.unwrap().contains("retired"));
    let (acme, _) = service::tenant(&app.state, &sys, "acme").await.unwrap();
    assert_eq!(acme.plan_name, "Starter");
    let refused = service::create_tenant(
        &app.state,
        &sys,
        &NewTenant {
            name: "Late".into(),
            plan_id: "plan_starter".into(),
            ..Default::default()
        },
    )
    .await;
    assert!(refused.is_err());
    let tenants_page = br.get_text("/tenants").await;
    assert!(!tenants_page.contains("<option value=\"plan_starter\""));
    br.post("/plans/plan_starter/retire", &[]).await;
    assert!(br
        .flash("/plans")
        .await
        .unwrap()
        .contains("already retired"));
    br.post("/plans/plan_starter/reinstate", &[]).await;
    assert_eq!(br.flash("/plans").await.unwrap(), "Plan offered again.");

    // The same through the API, for the owner only.
    let (_, token) = app::auth::service::create_token_for_email(
        &app.state,
        &owner.email,
        "t",
        &["read,write".into()],
        1,
    )
    .await
    .unwrap();
    let api = reqwest::Client::new();
    let r = api
        .post(app.url("/api/v1/plans"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Enterprise", "max_domains": 500, "storage_gb": 1000}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["storage_bytes"], 1_000_000_000_000i64);
    let r = api
        .patch(app.url(&format!("/api/v1/plans/{}", p["id"].as_str().unwrap())))
        .bearer_auth(&token)
        .json(&serde_json::json!({"retired": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let log = br.get_text("/audit/export.jsonl").await;
    for action in ["plan.created", "plan.retired", "plan.reinstated"] {
        assert!(log.contains(action), "{action} recorded");
    }
}
both!(plan_catalogue);

async fn operator_limited_to_listed_tenants(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let sys = Actor::system("test");
    let mut ids = vec![];
    for (name, domain) in [("Acme", "acme.example"), ("Globex", "globex.example")] {
        let t = service::create_tenant(
            &app.state,
            &sys,
            &NewTenant {
                name: name.into(),
                plan_id: "plan_pro".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        service::add_domain(&app.state, &sys, &t.slug, domain, "")
            .await
            .unwrap();
        ids.push(t.id);
    }
    let op = app
        .invite_through(
            &owner,
            "/operators/invite",
            &[("email", "otto@agency.example")],
            "/operators",
            "otto@agency.example",
            "Otto",
        )
        .await;
    let otto = app::auth::store::user_by_email(&app.state.db, "otto@agency.example")
        .await
        .unwrap()
        .unwrap()
        .id;
    assert!(op.browser.get_text("/").await.contains("globex.example"));

    // The owner limits Otto to Acme: Globex no longer exists for him, at once.
    let r = owner
        .browser
        .post(
            &format!("/operators/{otto}/tenants"),
            &[("scope", "listed"), ("tenant", ids[0].as_str())],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        owner.browser.flash("/operators").await.unwrap(),
        "otto@agency.example now sees Acme."
    );
    let ops = owner.browser.get_text("/operators").await;
    assert!(ops.contains("data-testid=\"operator-scope\">Acme<"));
    let dash = op.browser.get_text("/").await;
    assert!(dash.contains("acme.example") && !dash.contains("globex.example"));
    assert_eq!(op.browser.get("/tenants/globex").await.status(), 404);
    op.browser
        .post(
            "/tenants/globex/domains",
            &[("name", "more.globex.example")],
        )
        .await;
    assert!(op
        .browser
        .flash("/tenants")
        .await
        .unwrap_or_default()
        .starts_with("Not found"));
    // Audit events of Globex are out of his sight as well.
    let log = op.browser.get_text("/audit/export.jsonl").await;
    assert!(!log.contains(&ids[1]));

    // Choosing nothing is refused; owners have no scope to set; Otto cannot widen his own.
    owner
        .browser
        .post(
            &format!("/operators/{otto}/tenants"),
            &[("scope", "listed")],
        )
        .await;
    assert!(owner
        .browser
        .flash("/operators")
        .await
        .unwrap()
        .contains("at least one tenant"));
    op.browser
        .post(&format!("/operators/{otto}/tenants"), &[("scope", "all")])
        .await;
    assert!(op.browser.get("/tenants/globex").await.status() == 404);
    let owner_id = app::auth::store::user_by_email(&app.state.db, &owner.email)
        .await
        .unwrap()
        .unwrap()
        .id;
    owner
        .browser
        .post(
            &format!("/operators/{owner_id}/tenants"),
            &[("scope", "all")],
        )
        .await;
    assert!(owner
        .browser
        .flash("/operators")
        .await
        .unwrap()
        .contains("Only operators"));

    // Back to all tenants is more access: a reason, and another owner to approve it (the
    // only owner is told the way out; `people.rs` approves one).
    owner
        .browser
        .post(
            &format!("/operators/{otto}/tenants"),
            &[("scope", "all"), ("reason", "covers every client now")],
        )
        .await;
    let flash = owner.browser.flash("/operators").await.unwrap();
    assert!(flash.contains("Nobody else could approve this"), "{flash}");
    assert_eq!(op.browser.get("/tenants/globex").await.status(), 404);
    let log = owner.browser.get_text("/audit/export.jsonl").await;
    assert_eq!(log.matches("operator.scope_changed").count(), 1);
}
both!(operator_limited_to_listed_tenants);
