//! Several Mailward instances on one PostgreSQL (README, "Several instances"): a second
//! instance is the real `mailward serve` in its own process, over the same database with the
//! same audit key, next to the test's own. Sessions live in the database, so a session made on
//! one is valid on the other and a sign-out on one ends it on both; queued jobs are claimed
//! with `FOR UPDATE SKIP LOCKED`, so each runs once whoever claims it; the audit chain takes
//! its head under a row lock, so concurrent writes from both stay one unbroken chain; and a
//! change approved on both at once has one effect.
use mailward_tests::{Backend, Served, TestApp};

/// The second instance: `mailward serve` over `a`'s database, with `a`'s keys and no outside
/// DNS.
async fn second_instance(a: &TestApp, dir: &std::path::Path) -> Served {
    let c = &a.state.config;
    Served::start(
        a,
        dir,
        "b",
        &[
            ("MAILWARD_DKIM_KEY_FILE", c.dkim_key_file.clone().unwrap()),
            ("MAILWARD_DNS_RESOLVER", "127.0.0.1:9".into()),
            ("MAILWARD_DNS_PORT", "9".into()),
            ("MAILWARD_LOG", "warn".into()),
        ],
        None,
    )
    .await
}

/// Runs the futures at once (each a task) and returns their outputs in order.
async fn all<F>(fs: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = fs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgresql() {
    let a = TestApp::start(Backend::Postgres).await;
    let dir = std::env::temp_dir().join(format!("mw-instances-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let b = second_instance(&a, &dir).await;
    let owner = a.setup_owner().await;
    let http = &owner.browser.http;
    // A request that waits for a second person, approved at the end.
    let (change_id, slug) = crate::changes::critical_reset_waiting(&a, &owner).await;

    // A session made on A is valid on B (cookies do not depend on the port)…
    let on_b = http.get(format!("{}/", b.base)).send().await.unwrap();
    assert_eq!(on_b.status(), 200, "the owner's session on B");
    assert!(on_b.text().await.unwrap().contains("Olivia Owner"));
    // …and a sign-out on B ends it on A at the next request.
    let out = http
        .post(format!("{}/logout", b.base))
        .header("origin", &b.base)
        .send()
        .await
        .unwrap();
    assert!(out.status().is_redirection(), "{}", out.status());
    let on_a = owner.browser.get("/").await;
    assert_eq!(on_a.status(), 303, "signed out on B, out on A too");
    assert!(on_a.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login"));

    // Concurrent writes through both instances: one unbroken audit chain.
    let token = a.api_token(&owner.email, "read,write").await;
    let api = reqwest::Client::new();
    let creates = (0..40).map(|i| {
        let base = if i % 2 == 0 {
            a.base.clone()
        } else {
            b.base.clone()
        };
        let req = api
            .post(format!("{base}/api/v1/tenants"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": format!("Client {i:02}"), "plan_id": "plan_agency"}))
            .send();
        async move { req.await.unwrap().status().as_u16() }
    });
    let statuses = all(creates).await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    let out = a.cli().args(["audit", "verify"]).output().unwrap();
    assert!(
        out.status.success(),
        "audit verify after writes from both instances: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Jobs run once across both: B's worker and one of A's share the queue.
    let worker_a = app::core::jobs::spawn_worker(a.state.clone());
    let mut imports = Vec::new();
    for n in 0..4 {
        let mut csv = String::from("address,display_name,quota,invite_to\n");
        for i in 0..60 {
            csv += &format!("i{n}u{i:02}@acme.example,User {n} {i},,\n");
        }
        let r = api
            .post(format!("{}/api/v1/imports?tenant={slug}", a.base))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let d: serde_json::Value = r.json().await.unwrap();
        assert_eq!(d["job"]["errors"], 0, "{d}");
        imports.push(d["job"]["id"].as_str().unwrap().to_string());
    }
    // Started through both instances, all at once.
    let starts = imports.iter().enumerate().map(|(i, id)| {
        let base = if i % 2 == 0 {
            a.base.clone()
        } else {
            b.base.clone()
        };
        let req = api
            .post(format!("{base}/api/v1/imports/{id}/start"))
            .bearer_auth(&token)
            .send();
        async move { req.await.unwrap().status().as_u16() }
    });
    let started = all(starts).await;
    assert!(
        started.iter().all(|s| (200..300).contains(s)),
        "{started:?}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let done = a
            .count("SELECT CAST(COUNT(*) AS BIGINT) FROM jobs WHERE kind = 'import' AND state = 'done'")
            .await;
        if done == 4 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "imports did not finish: {} done; B's log: {}",
            done,
            b.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Recurring jobs (one row each, however many instances start) ran once each, not once
    // per instance: none of these is due again within a minute.
    let recurring: Vec<(&str, &str)> = server::kinds()
        .recurring()
        .filter(|(_, kind)| *kind != "monitoring.deliver")
        .collect();
    assert!(recurring.len() >= 3, "{recurring:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mut runs = Vec::new();
        for (id, kind) in &recurring {
            let n = a
                .count(&format!(
                    "SELECT CAST(COALESCE(MAX(progress_done), 0) AS BIGINT) FROM jobs WHERE id = '{id}'"
                ))
                .await;
            let rows = a
                .count(&format!(
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM jobs WHERE kind = '{kind}'"
                ))
                .await;
            assert_eq!(rows, 1, "one row of the recurring {kind}");
            runs.push(n);
        }
        if runs.iter().all(|n| *n >= 1) {
            assert!(
                runs.iter().all(|n| *n == 1),
                "{recurring:?} ran {runs:?} times"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{recurring:?} ran {runs:?} times; B's log: {}",
            b.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    worker_a.abort();
    assert_eq!(
        a.count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM mailboxes WHERE address LIKE 'i%u%@acme.example'"
        )
        .await,
        240
    );
    assert_eq!(
        a.count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM audit_events WHERE action = 'import.completed'"
        )
        .await,
        4,
        "each import completed once"
    );
    // A change approved on both instances at once has one effect.
    let approvals = [a.base.clone(), b.base.clone()].map(|base| {
        let req = api
            .post(format!("{base}/api/v1/changes/{change_id}/approve"))
            .bearer_auth(&token)
            .send();
        async move { req.await.unwrap().status().as_u16() }
    });
    let mut answers = all(approvals).await;
    answers.sort();
    assert_eq!(answers[0], 200, "{answers:?}");
    assert!(
        (400..500).contains(&answers[1]),
        "the second approval is refused: {answers:?}"
    );
    for action in ["change.approved", "change.applied"] {
        assert_eq!(
            a.count(&format!(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM audit_events WHERE action = '{action}' AND target = '{change_id}'"
            ))
            .await,
            1,
            "{action} once"
        );
    }
    let out = a.cli().args(["audit", "verify"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
}
