//! CSRF refusal, security headers, probes and metrics.
use mailward_tests::{both, Backend, TestApp};

async fn cross_site_posts_are_refused(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let url = app.url("/operators/invite");
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // A forged form post from another site, a foreign Origin, and no provenance at all.
    let cases: Vec<Vec<(&str, String)>> = vec![
        vec![
            ("sec-fetch-site", "cross-site".into()),
            ("origin", "https://evil.example".into()),
        ],
        vec![("origin", "https://evil.example".into())],
        vec![],
    ];
    for headers in cases {
        let mut req = raw.post(&url).form(&[("email", "x@evil.example")]);
        for (k, v) in &headers {
            req = req.header(*k, v);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 403, "{headers:?}");
    }
    // The same post from our own page goes through (and is then judged on its merits).
    let r = owner
        .browser
        .post("/operators/invite", &[("email", "ok@agency.example")])
        .await;
    assert_eq!(r.status(), 303);
    // Nothing was created by the forged requests.
    let page = owner.browser.get_text("/operators").await;
    assert!(!page.contains("x@evil.example"));
}
both!(cross_site_posts_are_refused);

async fn security_headers_on_every_response(b: Backend) {
    let app = TestApp::start(b).await;
    let br = app.browser();
    for path in [
        "/login",
        "/healthz",
        "/api/v1/openapi.json",
        "/no-such-page",
        "/pkg/mailward.css",
    ] {
        let r = br.get(path).await;
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self' 'nonce-"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert!(h.contains_key("referrer-policy"), "{path}");
        assert!(
            !h.contains_key("strict-transport-security"),
            "{path}: no HSTS over plain HTTP"
        );
    }
    // Every inline script carries this response's nonce.
    let r = br.get("/login").await;
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let nonce = mailward_tests::between(&csp, "'nonce-", "'").unwrap();
    let html = r.text().await.unwrap();
    let scripts = html.matches("<script").count();
    assert!(scripts > 0);
    assert_eq!(html.matches(&format!("nonce=\"{nonce}\"")).count(), scripts);
    // Behind a TLS proxy (when configured so), cookies are Secure and HSTS is sent.
    let tls = TestApp::start_with(b, |c| {
        c.public_url = "https://console.agency.example".into()
    })
    .await;
    let r = tls.browser().get("/login").await;
    assert!(r.headers().contains_key("strict-transport-security"));
}
both!(security_headers_on_every_response);

async fn probes_and_metrics(b: Backend) {
    let app = TestApp::start(b).await;
    let br = app.browser();
    assert_eq!(br.get_text("/healthz").await, "ok\n");
    assert_eq!(br.get_text("/readyz").await, "ready\n");
    br.sign_in("nobody@agency.example", "wrong password here", "")
        .await;
    let m = br.get_text("/metrics").await;
    assert!(
        m.contains("mailward_http_requests_total{method=\"GET\",status=\"200\"}"),
        "{m}"
    );
    assert!(m.contains("mailward_http_request_duration_seconds_bucket"));
    assert!(m.contains("mailward_signin_failures_total 1"), "{m}");
    // Private pages send anonymous visitors to sign in.
    assert_eq!(br.get("/audit").await.headers()["location"], "/login");
}
both!(probes_and_metrics);

/// Throttles and the audit log see the client a trusted proxy vouches for — the right-most
/// `X-Forwarded-For` entry that is not a proxy itself — and never what the client wrote to its
/// left; from a peer that is not a listed proxy the header is ignored.
async fn forwarded_for_is_believed_only_from_listed_proxies(b: Backend) {
    for (proxies, want) in [
        (vec!["127.0.0.1".to_string()], "203.0.113.9"),
        (vec![], "127.0.0.1"),
    ] {
        let app = TestApp::start_with(b, |c| c.trusted_proxies = proxies.clone()).await;
        let raw = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        raw.post(app.url("/login"))
            .header("sec-fetch-site", "same-origin")
            .header("x-forwarded-for", "6.6.6.6, 203.0.113.9")
            .form(&[
                ("email", "x@agency.example"),
                ("password", "wrong wrong wrong"),
            ])
            .send()
            .await
            .unwrap();
        let ip: Option<String> =
            sqlx::query_scalar("SELECT ip FROM audit_events WHERE action = 'auth.signin_failed'")
                .fetch_one(app.state.db.pool())
                .await
                .unwrap();
        assert_eq!(ip.as_deref(), Some(want), "{proxies:?}");
    }
}
both!(forwarded_for_is_believed_only_from_listed_proxies);
