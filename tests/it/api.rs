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
    // The same selection as JSON lines, whole; the read token may not export.
    let r = get("/api/v1/audit/export?action=token.", &auditor)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/x-ndjson"));
    let lines: Vec<serde_json::Value> = r
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines
        .iter()
        .all(|e| e["action"].as_str().unwrap().starts_with("token.")));
    assert_eq!(
        get("/api/v1/audit/export", &read).await.unwrap().status(),
        403
    );
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

/// The edge holds for the API: every declared parameter sits where the document says, every
/// error is the JSON envelope, bad text is refused before a handler runs (and never echoed),
/// page numbers cannot overflow, PATCH takes partial bodies, and another tenant's mailbox is
/// "not a mailbox of this tenant", like an unknown one.
async fn openapi_contract_and_edge_limits(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let (slug, _) = app.tenant_with_domains("plan_pro", &["acme.example"]).await;
    let secret = app.api_token(&owner.email, "read,write,audit").await;
    let api = reqwest::Client::new();
    let call = |method: &str, path: &str, body: Option<serde_json::Value>| {
        let mut r = api
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth(&secret);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send()
    };
    let envelope = |status: u16, v: &serde_json::Value| {
        assert_eq!(v["error"]["status"], status, "{v}");
        assert!(v["error"]["message"].is_string(), "{v}");
    };

    // 1. The document: path parameters in the path, every other one in the query; every
    //    operation answers JSON, errors in the envelope, successes with a declared status.
    let doc: serde_json::Value = api
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            for p in op["parameters"].as_array().cloned().unwrap_or_default() {
                let name = p["name"].as_str().unwrap();
                let want = if path.contains(&format!("{{{name}}}")) {
                    "path"
                } else {
                    "query"
                };
                assert_eq!(p["in"], want, "{method} {path} parameter {name}");
            }
            let url = path.replace("{id}", "nope-1").replace("{ap}", "nope-2");
            let body =
                matches!(method.as_str(), "post" | "patch" | "put").then(|| serde_json::json!({}));
            if path.ends_with("/imports") {
                continue; // takes text/csv, covered by the import tests
            }
            let r = call(&method.to_uppercase(), &url, body).await.unwrap();
            let status = r.status().as_u16();
            let ctype = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            let declared = op["responses"][status.to_string()]["content"]
                .as_object()
                .map(|c| c.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default();
            if status < 400 && declared.iter().any(|c| c == "application/x-ndjson") {
                // JSON lines (the audit export): each line one JSON object.
                assert!(
                    ctype.starts_with("application/x-ndjson"),
                    "{method} {url}: {ctype}"
                );
                for line in r.text().await.unwrap().lines() {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    assert!(v.is_object(), "{line}");
                }
                continue;
            }
            assert!(
                ctype.starts_with("application/json"),
                "{method} {url}: {status} {ctype}"
            );
            let v: serde_json::Value = r.json().await.unwrap();
            if status >= 400 {
                envelope(status, &v);
            } else {
                assert!(
                    op["responses"].get(status.to_string()).is_some(),
                    "{method} {path} answered {status}, which the document does not declare"
                );
            }
            // Unauthenticated: 401 in the envelope.
            let r = api
                .request(method.to_uppercase().parse().unwrap(), app.url(&url))
                .send()
                .await
                .unwrap();
            if path != "/api/v1/openapi.json" {
                assert_eq!(r.status(), 401, "{method} {url}");
                envelope(401, &r.json().await.unwrap());
            }
        }
    }
    assert!(operations >= 30, "{operations}");

    // 2. Text at the edge: too long, NUL, huge bodies; never echoed.
    let huge_q = "x".repeat(50_001);
    let r = call("GET", &format!("/api/v1/domains?q={huge_q}"), None)
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let v: serde_json::Value = r.json().await.unwrap();
    envelope(422, &v);
    assert!(!v.to_string().contains("xxxxxxxxxx"));
    let r = call("GET", "/api/v1/mailboxes?q=%00", None).await.unwrap();
    assert_eq!(r.status(), 422);
    let r = call("GET", "/api/v1/tenants/a%00b", None).await.unwrap();
    assert_eq!(r.status(), 422);
    let before = app
        .count("SELECT CAST(COUNT(*) AS BIGINT) FROM tenants")
        .await;
    for body in [
        serde_json::json!({"name": "Nul\u{0}Corp", "plan_id": "plan_free"}),
        serde_json::json!({"name": "Big Corp", "plan_id": "plan_free", "contact_name": "y".repeat(1_000_000)}),
        serde_json::json!({"name": "Big Corp", "plan_id": "plan_free", "contact_email": format!("{}@x.example", "z".repeat(1_000_000))}),
    ] {
        let r = call("POST", "/api/v1/tenants", Some(body)).await.unwrap();
        assert_eq!(r.status(), 422);
        let text = r.text().await.unwrap();
        assert!(text.len() < 1000, "no echo: {} bytes", text.len());
        envelope(422, &serde_json::from_str(&text).unwrap());
    }
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM tenants")
            .await,
        before
    );
    // Malformed JSON and a wrong type: the envelope, not axum's plain text.
    let r = api
        .post(app.url("/api/v1/tenants"))
        .bearer_auth(&secret)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    assert!((400..500).contains(&status));
    envelope(status, &r.json().await.unwrap());
    // Page numbers cannot wrap around.
    let r = call("GET", "/api/v1/mailboxes?page=9223372036854775807", None)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // 3. PATCH with a partial body changes only what it names.
    let path = format!("/api/v1/tenants/{slug}/routing-policy");
    let was: serde_json::Value = call("GET", &path, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = call(
        "PATCH",
        &path,
        Some(serde_json::json!({"confirmation": !was["confirmation"].as_bool().unwrap()})),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let now: serde_json::Value = r.json().await.unwrap();
    assert_eq!(now["confirmation"], !was["confirmation"].as_bool().unwrap());
    assert_eq!(
        (now["alias_policy"].clone(), now["max_days"].clone()),
        (was["alias_policy"].clone(), was["max_days"].clone())
    );

    // 4. Another tenant's mailbox reads like no mailbox at all.
    let other: serde_json::Value = call(
        "POST",
        "/api/v1/tenants",
        Some(serde_json::json!({"name": "Other Co", "plan_id": "plan_pro"})),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let r = call(
        "POST",
        &format!(
            "/api/v1/tenants/{}/domains",
            other["slug"].as_str().unwrap()
        ),
        Some(serde_json::json!({"name": "other.example"})),
    )
    .await
    .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let r = call(
        "POST",
        "/api/v1/mailboxes",
        Some(serde_json::json!({"address": "bob@other.example", "display_name": "Bob"})),
    )
    .await
    .unwrap();
    assert!(
        r.status().is_success() || r.status() == 409,
        "{:?}",
        r.status()
    );
    let mut answers = vec![];
    for target in ["bob@other.example", "nobody@other.example"] {
        let r = call("POST", "/api/v1/routes", Some(serde_json::json!({"kind": "alias", "source": "team@acme.example", "targets": [target], "reason": "t"}))).await.unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        answers.push(
            v["error"]["message"]
                .as_str()
                .unwrap_or("")
                .replace(target, "ADDR"),
        );
    }
    assert_eq!(answers[0], answers[1]);
    assert!(!answers[0].contains("another tenant"), "{answers:?}");
}
both!(openapi_contract_and_edge_limits);

/// `/api/v1/domains` comes a page at a time, by ASCII name, with a `next` link that walks the
/// whole list once; a bad limit is refused.
async fn domains_come_in_pages_with_a_next_link(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let names: Vec<String> = (1..=7).map(|i| format!("d{i:02}.page.example")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    app.tenant_with_domains("plan_pro", &refs).await;
    let token = app.api_token(&owner.email, "read").await;
    let api = reqwest::Client::new();
    let mut next = Some("/api/v1/domains?limit=3&q=page".to_string());
    let mut seen = Vec::new();
    let mut pages = 0;
    while let Some(path) = next.take() {
        let r = api
            .get(app.url(&path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        next = r.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            assert!(l.ends_with(">; rel=\"next\""), "{l}");
            l[1..l.find('>').unwrap()].to_string()
        });
        let rows: Vec<serde_json::Value> = r.json().await.unwrap();
        assert!(rows.len() <= 3);
        seen.extend(rows.iter().map(|d| d["name"].as_str().unwrap().to_string()));
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, names);
    // Without a limit: 500 per page, all seven at once, no link.
    let r = api
        .get(app.url("/api/v1/domains"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("link").is_none());
    assert_eq!(r.json::<Vec<serde_json::Value>>().await.unwrap().len(), 7);
    for bad in ["0", "1001", "-1", "x"] {
        let r = api
            .get(app.url(&format!("/api/v1/domains?limit={bad}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert!(
            r.status() == 422 || r.status() == 400,
            "limit={bad}: {}",
            r.status()
        );
    }
}
both!(domains_come_in_pages_with_a_next_link);

// ---------- a property test over the OpenAPI document ----------

fn resolve<'a>(doc: &'a serde_json::Value, s: &'a serde_json::Value) -> &'a serde_json::Value {
    match s["$ref"].as_str() {
        Some(r) => resolve(
            doc,
            &doc["components"]["schemas"][r.rsplit('/').next().unwrap()],
        ),
        None => s,
    }
}

fn types(s: &serde_json::Value) -> Vec<String> {
    match &s["type"] {
        serde_json::Value::String(t) => vec![t.clone()],
        serde_json::Value::Array(a) => a
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect(),
        _ => vec![],
    }
}

/// Whether `v` has the shape the document promises (types, required fields, items, enums).
fn conforms(
    doc: &serde_json::Value,
    s: &serde_json::Value,
    v: &serde_json::Value,
    at: &str,
) -> Result<(), String> {
    let s = resolve(doc, s);
    for (key, all) in [("oneOf", false), ("anyOf", false), ("allOf", true)] {
        if let Some(variants) = s[key].as_array() {
            let oks = variants
                .iter()
                .filter(|x| conforms(doc, x, v, at).is_ok())
                .count();
            let fine = if all { oks == variants.len() } else { oks > 0 };
            return if fine {
                Ok(())
            } else {
                Err(format!("{at}: no {key} variant fits {v}"))
            };
        }
    }
    if let Some(e) = s["enum"].as_array() {
        if !e.contains(v) {
            return Err(format!("{at}: {v} not in {e:?}"));
        }
    }
    let t = types(s);
    if t.is_empty() {
        return Ok(());
    }
    let kind = match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    };
    let fits = t
        .iter()
        .any(|x| x == kind || (x == "number" && kind == "integer"));
    if !fits {
        return Err(format!("{at}: {kind} where the document says {t:?}"));
    }
    match v {
        serde_json::Value::Object(o) => {
            for r in s["required"].as_array().into_iter().flatten() {
                let r = r.as_str().unwrap();
                if !o.contains_key(r) {
                    return Err(format!("{at}: required {r} missing"));
                }
            }
            if let Some(props) = s["properties"].as_object() {
                for (k, ps) in props {
                    if let Some(x) = o.get(k) {
                        conforms(doc, ps, x, &format!("{at}.{k}"))?;
                    }
                }
            }
            Ok(())
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                conforms(doc, &s["items"], x, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A plausible value of a schema (the first enum value, "x", 1, true, every property).
fn sample(doc: &serde_json::Value, s: &serde_json::Value) -> serde_json::Value {
    let s = resolve(doc, s);
    if let Some(first) = s["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(v) = s["oneOf"].as_array().and_then(|v| v.first()) {
        return sample(doc, v);
    }
    let t = types(s);
    let has = |x: &str| t.iter().any(|y| y == x);
    if has("object") || s["properties"].is_object() {
        let mut o = serde_json::Map::new();
        for (k, ps) in s["properties"].as_object().into_iter().flatten() {
            o.insert(k.clone(), sample(doc, ps));
        }
        serde_json::Value::Object(o)
    } else if has("array") {
        serde_json::json!([])
    } else if has("string") {
        serde_json::json!("x")
    } else if has("integer") || has("number") {
        serde_json::json!(1)
    } else if has("boolean") {
        serde_json::json!(true)
    } else {
        serde_json::Value::Null
    }
}

/// Hostile variants of a body: each property in turn with the wrong type, a NUL, a huge
/// string, extreme numbers, a nested object, null; each required property left out; and
/// bodies that are not objects at all.
fn hostile_bodies(doc: &serde_json::Value, s: &serde_json::Value) -> Vec<serde_json::Value> {
    let s = resolve(doc, s);
    let base = sample(doc, s);
    let mut out = vec![
        base.clone(),
        serde_json::json!({}),
        serde_json::json!([]),
        serde_json::json!("x"),
        serde_json::Value::Null,
    ];
    let Some(props) = s["properties"].as_object() else {
        return out;
    };
    let values = [
        serde_json::json!(12345),
        serde_json::json!("x"),
        serde_json::json!("a\u{0}b"),
        serde_json::json!("é".repeat(30_000)),
        serde_json::json!(i64::MAX),
        serde_json::json!(i64::MIN),
        serde_json::json!(-1),
        serde_json::json!(1e300),
        serde_json::json!({"nested": [1, {"x": null}]}),
        serde_json::json!(["x", 1, null]),
        serde_json::Value::Null,
        serde_json::json!("  "),
        serde_json::json!("<script>alert(1)</script>"),
    ];
    for k in props.keys() {
        for v in &values {
            let mut b = base.clone();
            b[k] = v.clone();
            out.push(b);
        }
    }
    for r in s["required"].as_array().into_iter().flatten() {
        let mut b = base.clone();
        b.as_object_mut().unwrap().remove(r.as_str().unwrap());
        out.push(b);
    }
    out
}

/// Every documented operation, called with hostile path values, query values and bodies
/// generated from the document itself: never a 5xx, errors in the envelope, and every
/// success shaped as documented.
async fn openapi_operations_hold_under_hostile_input(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let (slug, domains) = app.tenant_with_domains("plan_pro", &["acme.example"]).await;
    let sys = app::core::authz::Actor::system("test");
    let mbx = app::mailboxes::service::create(
        &app.state,
        &sys,
        &app::mailboxes::NewMailbox {
            address: "ann@acme.example".into(),
            display_name: "Ann".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .mailbox
    .id;
    let owner_token = app.api_token(&owner.email, "read,write,audit").await;
    // A tenant admin too: the same calls through a narrower role and scope.
    app.invite_through(
        &owner,
        &format!("/tenants/{slug}/people"),
        &[("email", "tia@acme.example"), ("role", "tenant_admin")],
        &format!("/tenants/{slug}"),
        "tia@acme.example",
        "Tia",
    )
    .await;
    let admin_token = app.api_token("tia@acme.example", "read,write").await;
    let doc: serde_json::Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Real objects where a path names one (so successes are checked too), then strangers.
    let real = |path: &str, param: &str| -> Option<String> {
        let area = path.split('/').nth(3).unwrap_or_default();
        match (area, param) {
            ("mailboxes", "id") => Some(mbx.clone()),
            ("tenants", _) => Some(slug.clone()),
            ("domains", "id") => Some(domains[0].clone()),
            ("plans", "id") => Some("plan_pro".into()),
            ("dns", "category") => Some("default".into()),
            _ => None,
        }
    };
    let strangers = [
        "nope",
        "a%00b",
        "..%2F..%2Fetc",
        &"z".repeat(3000),
        "%F0%9F%92%A9",
    ];
    let mut calls = 0;
    let mut failures = Vec::new();
    let ops: Vec<(String, String, serde_json::Value)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, item)| {
            item.as_object()
                .unwrap()
                .iter()
                .map(|(m, op)| (p.clone(), m.clone(), op.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    for token in [&admin_token, &owner_token] {
        for (path, method, op) in &ops {
            let params: Vec<String> = path
                .split('{')
                .skip(1)
                .map(|x| x.split('}').next().unwrap().to_string())
                .collect();
            let mut urls: Vec<String> = Vec::new();
            let fill = |v: &dyn Fn(&str) -> String| {
                let mut u = path.clone();
                for p in &params {
                    u = u.replace(&format!("{{{p}}}"), &v(p));
                }
                u
            };
            urls.push(fill(&|p| real(path, p).unwrap_or_else(|| "nope".into())));
            for s in strangers {
                urls.push(fill(&|_| s.to_string()));
            }
            // Hostile query values, one parameter at a time, on the first URL.
            for q in op["parameters"].as_array().into_iter().flatten() {
                if q["in"] != "query" {
                    continue;
                }
                let name = q["name"].as_str().unwrap();
                for v in [
                    "%00",
                    "-1",
                    "99999999999999999999999",
                    "x",
                    &"q".repeat(5000),
                    "%ZZ",
                ] {
                    urls.push(format!("{}?{name}={v}", urls[0]));
                }
            }
            let rb = &op["requestBody"]["content"];
            let bodies: Vec<Option<serde_json::Value>> = if let Some(s) = rb.get("application/json")
            {
                hostile_bodies(&doc, &s["schema"])
                    .into_iter()
                    .map(Some)
                    .collect()
            } else {
                vec![None]
            };
            let http = reqwest::Client::new();
            let mut attempts: Vec<(String, Option<serde_json::Value>)> = urls
                .iter()
                .map(|u| (u.clone(), bodies[0].clone()))
                .collect();
            attempts.extend(bodies.iter().skip(1).map(|b| (urls[0].clone(), b.clone())));
            for (url, body) in attempts {
                let mut req = http
                    .request(method.to_uppercase().parse().unwrap(), app.url(&url))
                    .bearer_auth(token);
                if rb.get("application/json").is_some() {
                    req = req.json(&body);
                } else if let Some(ct) = rb.as_object().and_then(|c| c.keys().next()) {
                    req = req
                        .header("content-type", ct.as_str())
                        .body(vec![0xff, 0x00, b'<', b'x']);
                }
                let r = req.send().await.unwrap();
                calls += 1;
                let status = r.status().as_u16();
                let ctype = r
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default();
                let text = r.text().await.unwrap();
                let what = format!(
                    "{} {url} {}",
                    method.to_uppercase(),
                    body.as_ref()
                        .map(|b| {
                            let s = b.to_string();
                            s.chars().take(120).collect::<String>()
                        })
                        .unwrap_or_default()
                );
                if status >= 500 {
                    failures.push(format!(
                        "{what}: {status} {}",
                        text.chars().take(200).collect::<String>()
                    ));
                    continue;
                }
                if status >= 400 {
                    match serde_json::from_str::<serde_json::Value>(&text) {
                        Ok(v)
                            if v["error"]["status"] == status
                                && v["error"]["message"].is_string() => {}
                        _ => failures.push(format!(
                            "{what}: {status} outside the envelope: {}",
                            text.chars().take(200).collect::<String>()
                        )),
                    }
                    // A short value may be quoted back ("x is not one of your domains"), in JSON;
                    // a huge one never.
                    if text.contains("é".repeat(100).as_str()) {
                        failures.push(format!("{what}: the error echoes a huge input"));
                    }
                    continue;
                }
                let Some(declared) = op["responses"].get(status.to_string()) else {
                    failures.push(format!("{what}: {status} is not documented"));
                    continue;
                };
                if let Some(s) = declared["content"]["application/json"].get("schema") {
                    match serde_json::from_str::<serde_json::Value>(&text) {
                        Ok(v) => {
                            if let Err(e) = conforms(&doc, s, &v, "body") {
                                failures.push(format!("{what}: {status} not as documented: {e}"));
                            }
                        }
                        Err(_) => failures.push(format!("{what}: {status} {ctype} is not JSON")),
                    }
                }
            }
        }
    }
    assert!(calls > 4000, "{calls} calls");
    let _ = owner;
    assert!(
        failures.is_empty(),
        "{} of {calls} calls:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
both!(openapi_operations_hold_under_hostile_input);

/// A token limited to one tenant sees and acts only there and nothing platform-wide; a token
/// with an address allowlist works only from there. Console, CLI and refusals of bad limits.
async fn tenant_limited_tokens_and_address_allowlists(b: Backend) {
    use app::auth::service::{create_token_for_email_with, TokenLimits};
    use serde_json::json;
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let (acme, domains) = app.tenant_with_domains("plan_pro", &["acme.example"]).await;
    let sys = app::core::authz::Actor::system("test");
    let globex = app::tenancy::service::create_tenant(
        &app.state,
        &sys,
        &app::tenancy::service::NewTenant {
            name: "Globex".into(),
            plan_id: "plan_pro".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let scopes = ["read,write".to_string()];
    let make = |tenants: Option<Vec<&str>>, from: Option<Vec<&str>>| {
        let limits = TokenLimits {
            tenants: tenants.map(|t| t.into_iter().map(String::from).collect()),
            allow_from: from.map(|f| f.into_iter().map(String::from).collect()),
        };
        let (st, email, scopes) = (&app.state, owner.email.clone(), &scopes);
        async move { create_token_for_email_with(st, &email, "limited", scopes, 7, &limits).await }
    };
    let (view, token) = make(Some(vec![acme.as_str()]), None).await.unwrap();
    assert_eq!(view.tenant_ids.as_ref().unwrap().len(), 1);
    // Its tenant only.
    let (st, list) = app.api("GET", "/api/v1/tenants", &token, None).await;
    assert_eq!(st, 200);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(names, [acme.as_str()]);
    assert_eq!(
        app.api(
            "GET",
            &format!("/api/v1/tenants/{}", globex.slug),
            &token,
            None
        )
        .await
        .0,
        404
    );
    let (_, doms) = app.api("GET", "/api/v1/domains", &token, None).await;
    assert_eq!(doms.as_array().unwrap().len(), 1);
    let (st, v) = app
        .api(
            "POST",
            "/api/v1/mailboxes",
            &token,
            Some(json!({"address": "ann@acme.example", "display_name": "Ann"})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, _) = app
        .api(
            "POST",
            &format!("/api/v1/tenants/{}/domains", globex.slug),
            &token,
            Some(json!({"name": "globex.example"})),
        )
        .await;
    assert_eq!(st, 404, "another tenant does not exist for it");
    // Nothing platform-wide, although the account is an owner.
    assert_eq!(
        app.api(
            "POST",
            "/api/v1/tenants",
            &token,
            Some(json!({"name": "Initech", "plan_id": "plan_pro"}))
        )
        .await
        .0,
        403
    );
    assert_eq!(app.api("GET", "/api/v1/people", &token, None).await.0, 403);
    assert_eq!(
        app.api(
            "PATCH",
            "/api/v1/plans/plan_pro",
            &token,
            Some(json!({"retired": false}))
        )
        .await
        .0,
        403
    );
    let (st, _) = app
        .api(
            "POST",
            "/api/v1/people",
            &token,
            Some(json!({"email": "o@agency.example", "role": "operator"})),
        )
        .await;
    assert_eq!(st, 403);
    // The same account's unlimited token still sees both.
    let all = app.api_token(&owner.email, "read").await;
    assert_eq!(
        app.api("GET", "/api/v1/tenants", &all, None)
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let _ = domains;

    // Address allowlists: from elsewhere refused with the reason, from here accepted.
    let (_, far) = make(None, Some(vec!["10.0.0.0/8", "2001:db8::/32"]))
        .await
        .unwrap();
    let (st, v) = app.api("GET", "/api/v1/me", &far, None).await;
    assert_eq!(st, 401);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not accepted from 127.0.0.1"),
        "{v}"
    );
    let (_, near) = make(None, Some(vec!["127.0.0.0/8"])).await.unwrap();
    assert_eq!(app.api("GET", "/api/v1/me", &near, None).await.0, 200);

    // Bad limits: refused, nothing made.
    let before = app
        .count("SELECT CAST(COUNT(*) AS BIGINT) FROM api_tokens")
        .await;
    for (tenants, from, msg) in [
        (
            Some(vec!["no-such-tenant"]),
            None,
            "not one of your tenants",
        ),
        (Some(vec![" "]), None, "1 to 100 tenants"),
        (None, Some(vec!["10.0.0.0/33"]), "bad prefix length"),
        (None, Some(vec!["example.com"]), "is not an IP address"),
    ] {
        let r = make(tenants, from).await;
        assert!(
            matches!(&r, Err(app::core::AppError::Invalid(m)) if m.contains(msg)),
            "{msg}: {r:?}"
        );
    }
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM api_tokens")
            .await,
        before
    );

    // The console's form and the command line.
    owner
        .browser
        .post(
            "/account/tokens",
            &[
                ("name", "acme-only"),
                ("days", "7"),
                ("scope_read", "on"),
                ("tenants", &acme),
                ("allow_from", "127.0.0.1"),
            ],
        )
        .await;
    let page = owner.browser.get_text("/account/tokens").await;
    let console = mailward_tests::testid_text(&page, "fresh-secret").expect("token shown once");
    assert!(
        page.contains("1 tenant(s) only") && page.contains("from 127.0.0.1"),
        "limits listed"
    );
    assert_eq!(
        app.api("GET", "/api/v1/tenants", &console, None)
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let out = app
        .cli()
        .args([
            "token",
            "create",
            "--email",
            &owner.email,
            "--name",
            "cli",
            "--tenant",
            &globex.slug,
            "--allow-from",
            "127.0.0.1/32",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let (_, list) = app.api("GET", "/api/v1/tenants", &cli, None).await;
    assert_eq!(list[0]["slug"], globex.slug.as_str());
    assert_eq!(list.as_array().unwrap().len(), 1);
}
both!(tenant_limited_tokens_and_address_allowlists);
