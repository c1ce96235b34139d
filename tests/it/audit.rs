//! The audit chain: intact after real activity, and any edit, deletion or out-of-chain
//! insertion is found; exports.
use mailward_tests::{both, Backend, TestApp};

async fn chain_verifies_and_detects_tampering(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    app.browser()
        .sign_in(&owner.email, "wrong password here", "")
        .await;
    owner
        .browser
        .post("/operators/invite", &[("email", "oscar@agency.example")])
        .await;
    let report = app::audit::service::verify(&app.state.db).await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert!(report.events >= 6);

    // Hand-edit one row.
    sqlx::query("UPDATE audit_events SET actor_label = 'someone-else' WHERE seq = 3")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let r = app::audit::service::verify(&app.state.db).await.unwrap();
    assert_eq!(r.first_broken, Some(3), "{r:?}");
    sqlx::query("UPDATE audit_events SET actor_label = $1 WHERE seq = 3")
        .bind(owner.email.clone())
        .execute(app.state.db.pool())
        .await
        .unwrap();
    assert!(app::audit::service::verify(&app.state.db)
        .await
        .unwrap()
        .ok());

    // Delete the newest row (the head still remembers it).
    let last = report.events;
    sqlx::query("DELETE FROM audit_events WHERE seq = $1")
        .bind(last)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let r = app::audit::service::verify(&app.state.db).await.unwrap();
    assert_eq!(r.first_broken, Some(last), "{r:?}");
}
both!(chain_verifies_and_detects_tampering);

async fn deleted_middle_row_and_cli_exit_code(b: Backend) {
    let app = TestApp::start(b).await;
    let _owner = app.setup_owner().await;
    sqlx::query("DELETE FROM audit_events WHERE seq = 2")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let r = app::audit::service::verify(&app.state.db).await.unwrap();
    assert_eq!(r.first_broken, Some(2));
    // `mailward audit verify` says so with a non-zero exit and the event's number.
    let out = std::process::Command::new(mailward_tests::mailward_bin())
        .args(["audit", "verify"])
        .env("MAILWARD_DATABASE_URL", &app.database_url)
        .output()
        .expect("run mailward");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("BROKEN at event 2"), "{stdout}");
}
both!(deleted_middle_row_and_cli_exit_code);

async fn concurrent_writers_keep_one_chain(b: Backend) {
    let app = TestApp::start(b).await;
    let _owner = app.setup_owner().await;
    let mut tasks = vec![];
    for i in 0..20 {
        let st = app.state.clone();
        tasks.push(tokio::spawn(async move {
            let actor = app::core::authz::Actor::system("load");
            app::audit::service::record_alone(
                &st.db,
                &actor,
                st.clock.now(),
                app::audit::service::Event::new("test.concurrent").target(format!("n{i}")),
            )
            .await
            .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let r = app::audit::service::verify(&app.state.db).await.unwrap();
    assert!(r.ok(), "{r:?}");
}
both!(concurrent_writers_keep_one_chain);

async fn export_csv_and_jsonl(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let r = owner.browser.get("/audit/export.csv?action=auth.").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("mailward-audit.csv"));
    let csv = r.text().await.unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("seq,time_utc,actor_id"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{csv}"); // totp_enrolled, recovery_codes_issued
    let jsonl = owner.browser.get_text("/audit/export.jsonl").await;
    let events: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 4);
    assert_eq!(events[0]["seq"], 4, "newest first");
    // Anonymous visitors get nothing.
    assert_ne!(app.browser().get("/audit/export.csv").await.status(), 200);
}
both!(export_csv_and_jsonl);
