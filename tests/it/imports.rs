//! CSV imports: every line checked with its line number before anything is created, then all
//! or nothing, resumable after the worker is killed without creating a mailbox twice.
use app::core::authz::Actor;
use app::imports::service as imports;
use app::tenancy::service as tenancy;
use mailward_tests::{both, Backend, SmtpSink, TestApp};

struct World {
    app: TestApp,
    sink: SmtpSink,
    owner: mailward_tests::Account,
    slug: String,
    token: String,
}

async fn world(b: Backend, plan: &str) -> World {
    let plan = if plan == "plan_free" {
        "plan_starter"
    } else {
        plan
    };
    let (app, sink) = TestApp::start_with_mail(b, |_| {}).await;
    let owner = app.setup_owner().await;
    let (slug, _) = app
        .tenant_with_domains(plan, &["acme.example", "acme.test"])
        .await;
    let (_, token) = app::auth::service::create_token_for_email(
        &app.state,
        &owner.email,
        "t",
        &["read,write".into()],
        1,
    )
    .await
    .unwrap();
    World {
        app,
        sink,
        owner,
        slug,
        token,
    }
}

impl World {
    async fn upload(&self, csv: String) -> serde_json::Value {
        let r = reqwest::Client::new()
            .post(
                self.app
                    .url(&format!("/api/v1/imports?tenant={}", self.slug)),
            )
            .bearer_auth(&self.token)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        r.json().await.unwrap()
    }

    async fn count(&self, sql: &str) -> i64 {
        self.app.count(sql).await
    }
}

async fn csv_errors_with_line_numbers(b: Backend) {
    let w = world(b, "plan_free").await;
    let sys = Actor::system("t");
    app::mailboxes::service::create(
        &w.app.state,
        &sys,
        &app::mailboxes::NewMailbox {
            address: "taken@acme.example".into(),
            display_name: "Taken".into(),
            invite_to: Some("t@home.example".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let csv = "address,display_name,quota,invite_to\n\
               ann@acme.example,Ann,100 MB,ann@home.example\n\
               not-an-address,X,,\n\
               bob@other.example,Bob,,\n\
               \"carl@acme.test\",\"Carl, Jr.\",lots,\n\
               ann@ACME.example,Ann again,,\n\
               taken@acme.example,T,,\n\
               dee@acme.example,Dee,,dee@\n\
               eve@acme.example,,20 GB,eve@home.example\n";
    let d = w.upload(csv.into()).await;
    assert_eq!(d["job"]["state"], "draft");
    assert_eq!(d["job"]["rows"], 8);
    let errors: Vec<(i64, String)> = d["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["error"].is_null())
        .map(|r| {
            (
                r["line"].as_i64().unwrap(),
                r["error"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let lines: Vec<i64> = errors.iter().map(|e| e.0).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7, 8], "{errors:?}");
    for (line, msg) in [
        (3, "is not an address"),
        (4, "not one of Acme's domains"),
        (5, "is not a size"),
        (6, "already on line 2"),
        (7, "exists already"),
        (8, "not a valid email address"),
    ] {
        let e = &errors.iter().find(|e| e.0 == line).unwrap().1;
        assert!(e.contains(msg), "line {line}: {e}");
    }
    // The count is of lines (the red ones): the pool's error is the file's, apart.
    assert_eq!(d["job"]["errors"], 6, "{}", d["job"]);
    // The pool (Starter: 10 GB) cannot hold 100 MB + 20 GB: a file-level error.
    assert!(
        d["job"]["error"].as_str().unwrap().contains("only"),
        "{}",
        d["job"]
    );
    // Starting is refused; nothing was created.
    let id = d["job"]["id"].as_str().unwrap().to_string();
    let r = imports::start(&w.app.state, &sys, &id).await;
    assert!(r.is_err());
    assert_eq!(
        w.count("SELECT CAST(COUNT(*) AS BIGINT) FROM mailboxes")
            .await,
        1
    );
    // The same through the console: the file upload leads to the preview page.
    let form = reqwest::multipart::Form::new()
        .text("tenant", w.slug.clone())
        .part(
            "file",
            reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("people.csv"),
        );
    let r = w
        .owner
        .browser
        .http
        .post(w.app.url("/imports"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert!(to.starts_with("/imports/imp_"), "{to}");
    let page = w.owner.browser.get_text(&to).await;
    assert!(page.contains("data-testid=\"row-error\""));
    assert!(page.contains("already on line 2"));
    assert!(
        page.contains("6 lines with errors"),
        "the count matches the red lines"
    );
    // Line 5's quota is not a size: not shown as "within the pool".
    // Both good lines have a quota; the others' (line 5's is not a size) are not "within the pool".
    let table = page.split("data-testid=\"import-rows\"").nth(1).unwrap();
    let table = table.split("</table>").next().unwrap();
    assert!(!table.contains("within the pool"), "{table}");
    assert!(!page.contains("Import 0 mailboxes"));
    // An empty or header-only file is a clear error.
    for bad in ["", "address,display_name\n"] {
        let r = reqwest::Client::new()
            .post(w.app.url(&format!("/api/v1/imports?tenant={}", w.slug)))
            .bearer_auth(&w.token)
            .body(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
    }
}
both!(csv_errors_with_line_numbers);

fn big_csv(n: usize) -> String {
    let mut s = String::from("address,display_name,quota,invite_to\n");
    for i in 0..n {
        let dom = if i % 2 == 0 {
            "acme.example"
        } else {
            "acme.test"
        };
        s += &format!("user{i:05}@{dom},User {i},1 MB,user{i}@home.example\n");
    }
    s
}

async fn import_resumes_after_a_kill_without_duplicates(b: Backend) {
    let w = world(b, "plan_agency").await;
    let sys = Actor::system("t");
    let n = 2500;
    let d = w.upload(big_csv(n)).await;
    assert_eq!(d["job"]["errors"], 0);
    let id = d["job"]["id"].as_str().unwrap().to_string();
    imports::start(&w.app.state, &sys, &id).await.unwrap();
    // A worker starts, and is killed once the first batches are in.
    let st = w.app.state.clone();
    let t0 = std::time::Instant::now();
    let worker = tokio::spawn(async move { app::core::jobs::run_pending(&st, "w1").await });
    loop {
        let j = imports::get(&w.app.state, &sys, &id).await.unwrap();
        if j.phase == "create" && j.done >= 500 || j.state == "done" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    eprintln!("first 500: {:?}", t0.elapsed());
    worker.abort();
    let _ = worker.await;
    let j = imports::get(&w.app.state, &sys, &id).await.unwrap();
    assert_eq!(j.state, "running", "killed mid-way: {j:?}");
    let partial = w
        .count("SELECT CAST(COUNT(*) AS BIGINT) FROM mailboxes")
        .await;
    assert!(partial >= 500, "{partial}");
    // Another worker does not take a job whose heartbeat is fresh…
    assert!(app::core::jobs::claim(&w.app.state, "w2")
        .await
        .unwrap()
        .is_none());
    // …but does once it is stale, and finishes it.
    w.app.state.clock.advance(app::core::jobs::STALE_SECS + 1);
    let t0 = std::time::Instant::now();
    // (On PostgreSQL the killed worker's open transaction is rolled back when its connection
    // goes back to the pool, a moment after the kill; until then its row stays locked and is
    // skipped, as a live worker's would be.)
    let mut ran = 0;
    for _ in 0..100 {
        ran = app::core::jobs::run_pending(&w.app.state, "w2")
            .await
            .unwrap();
        if ran > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    eprintln!("resumed run: {:?}", t0.elapsed());
    assert_eq!(ran, 1);
    let j = imports::get(&w.app.state, &sys, &id).await.unwrap();
    assert_eq!(j.state, "done", "{j:?}");
    assert_eq!(
        w.count("SELECT CAST(COUNT(*) AS BIGINT) FROM mailboxes")
            .await,
        n as i64
    );
    assert_eq!(
        w.count("SELECT CAST(COUNT(DISTINCT mailbox_id) AS BIGINT) FROM import_rows")
            .await,
        n as i64
    );
    // Every mailbox has exactly one open link; every person got a mail.
    assert_eq!(
        w.count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM mailbox_invites WHERE used_at IS NULL AND revoked_at IS NULL"
        )
        .await,
        n as i64
    );
    let mailed: std::collections::HashSet<String> = w
        .sink
        .messages()
        .iter()
        .filter_map(|m| {
            m.lines()
                .find(|l| l.starts_with("To: "))
                .map(str::to_string)
        })
        .collect();
    assert_eq!(mailed.len(), n);
    // The counters are exact and the audit chain intact.
    let (t, domains) = tenancy::tenant(&w.app.state, &sys, &w.slug).await.unwrap();
    assert_eq!(t.storage_allocated, n as i64 * 1_000_000);
    assert_eq!(
        domains.iter().map(|d| d.mailbox_count).sum::<i64>(),
        n as i64
    );
    assert!(app::audit::service::verify(&w.app.state.db)
        .await
        .unwrap()
        .ok());
}
both!(import_resumes_after_a_kill_without_duplicates);

async fn import_is_all_or_nothing(b: Backend) {
    let w = world(b, "plan_agency").await;
    let sys = Actor::system("t");
    let d = w.upload(big_csv(1200)).await;
    let id = d["job"]["id"].as_str().unwrap().to_string();
    // Between the check and the run, someone creates an address the file has on line 1101.
    app::mailboxes::service::create(
        &w.app.state,
        &sys,
        &app::mailboxes::NewMailbox {
            address: "user01099@acme.test".into(),
            display_name: "Early".into(),
            quota: Some("5 MB".into()),
            invite_to: Some("early@home.example".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    imports::start(&w.app.state, &sys, &id).await.unwrap();
    app::core::jobs::run_pending(&w.app.state, "w")
        .await
        .unwrap();
    let j = imports::get(&w.app.state, &sys, &id).await.unwrap();
    assert_eq!(j.state, "failed");
    let err = j.error.unwrap();
    assert!(
        err.contains("Nothing was imported") && err.contains("line 1101"),
        "{err}"
    );
    // Only the one made by hand is left; counters as before; no invitation went out.
    assert_eq!(
        w.count("SELECT CAST(COUNT(*) AS BIGINT) FROM mailboxes")
            .await,
        1
    );
    let (t, domains) = tenancy::tenant(&w.app.state, &sys, &w.slug).await.unwrap();
    assert_eq!(t.storage_allocated, 5_000_000);
    assert_eq!(domains.iter().map(|d| d.mailbox_count).sum::<i64>(), 1);
    assert_eq!(
        w.sink.messages().len(),
        1,
        "only the hand-made one's invitation"
    );
    let page = w.owner.browser.get_text(&format!("/imports/{id}")).await;
    assert!(page.contains("data-testid=\"import-error\""));
}
both!(import_is_all_or_nothing);

/// Invitations that cannot be sent stop the import with the line named; their links are
/// withdrawn, and starting it again sends exactly those (no one gets two).
async fn unsent_invitations_are_sent_on_restart(b: Backend) {
    let w = world(b, "plan_agency").await;
    let sys = Actor::system("t");
    let mut csv = String::from("address,display_name,quota,invite_to\n");
    for i in 0..120 {
        let to = if i == 10 || i == 70 {
            format!("bounce{i}@home.example")
        } else {
            format!("user{i}@home.example")
        };
        csv += &format!("user{i:03}@acme.example,User {i},,{to}\n");
    }
    w.sink
        .refusing
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let d = w.upload(csv).await;
    let id = d["job"]["id"].as_str().unwrap().to_string();
    imports::start(&w.app.state, &sys, &id).await.unwrap();
    app::core::jobs::run_pending(&w.app.state, "w1")
        .await
        .unwrap();
    let j = imports::get(&w.app.state, &sys, &id).await.unwrap();
    assert_eq!(j.state, "failed");
    let err = j.error.clone().unwrap_or_default();
    assert!(
        err.starts_with(
            "line 12: The mailbox exists, but the email to bounce10@home.example could not be sent"
        ),
        "{err}"
    );
    assert_eq!(
        w.count("SELECT CAST(COUNT(*) AS BIGINT) FROM mailboxes")
            .await,
        120,
        "the mailboxes stay"
    );
    let open_to_bounce = w
        .count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM mailbox_invites WHERE send_to LIKE 'bounce%' \
             AND revoked_at IS NULL",
        )
        .await;
    assert_eq!(open_to_bounce, 0, "links nobody received are withdrawn");
    // The mail server takes them now: a restart sends what did not go out.
    w.sink
        .refusing
        .store(false, std::sync::atomic::Ordering::Relaxed);
    imports::start(&w.app.state, &sys, &id).await.unwrap();
    app::core::jobs::run_pending(&w.app.state, "w1")
        .await
        .unwrap();
    let j = imports::get(&w.app.state, &sys, &id).await.unwrap();
    assert_eq!(j.state, "done", "{j:?}");
    let mails = w.sink.messages();
    for i in 0..120 {
        let to = if i == 10 || i == 70 {
            format!("To: bounce{i}@home.example")
        } else {
            format!("To: user{i}@home.example")
        };
        let n = mails
            .iter()
            .filter(|m| m.contains(&format!("{to}\n")))
            .count();
        assert_eq!(n, 1, "{to}");
    }
}
both!(unsent_invitations_are_sent_on_restart);

/// A job acts as the person who started it with the rights they hold when it runs: once
/// their account is disabled, the import stops and nothing is created.
async fn imports_recheck_their_starter_when_they_run(b: Backend) {
    let w = world(b, "plan_agency").await;
    let sys = Actor::system("t");
    // Uploaded through the owner's API token: the owner started it.
    let d = w.upload(big_csv(30)).await;
    let id = d["job"]["id"].as_str().unwrap().to_string();
    imports::start(&w.app.state, &sys, &id).await.unwrap();
    sqlx::query("UPDATE users SET status = 'disabled' WHERE email = $1")
        .bind(&w.owner.email)
        .execute(w.app.state.db.pool())
        .await
        .unwrap();
    app::core::jobs::run_pending(&w.app.state, "w")
        .await
        .unwrap();
    let j = imports::get(&w.app.state, &sys, &id).await.unwrap();
    assert_eq!(j.state, "failed");
    let err = j.error.unwrap();
    assert!(err.contains("may no longer manage"), "{err}");
    assert_eq!(
        w.count("SELECT CAST(COUNT(*) AS BIGINT) FROM mailboxes")
            .await,
        0
    );
    assert!(w.sink.messages().is_empty(), "no invitation went out");
}
both!(imports_recheck_their_starter_when_they_run);

/// A tenant's imports listed over REST; a draft discarded, a discarded one not twice.
async fn imports_listed_and_discarded_over_rest(b: Backend) {
    let w = world(b, "plan_starter").await;
    let d = w
        .upload(
            "address,display_name,quota,invite_to\nkim@acme.example,Kim,,kim@home.example\n".into(),
        )
        .await;
    let id = d["job"]["id"].as_str().unwrap().to_string();
    let http = reqwest::Client::new();
    let list = |tenant: String| {
        http.get(w.app.url(&format!("/api/v1/imports?tenant={tenant}")))
            .bearer_auth(&w.token)
            .send()
    };
    let jobs: serde_json::Value = list(w.slug.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(jobs[0]["id"], id.as_str());
    assert_eq!(jobs[0]["state"], "draft");
    assert_eq!(list("nope".into()).await.unwrap().status(), 404);
    let discard = || {
        http.post(w.app.url(&format!("/api/v1/imports/{id}/discard")))
            .bearer_auth(&w.token)
            .send()
    };
    assert_eq!(discard().await.unwrap().status(), 204);
    assert_eq!(discard().await.unwrap().status(), 409);
    let jobs: serde_json::Value = list(w.slug.clone()).await.unwrap().json().await.unwrap();
    assert_ne!(jobs[0]["state"], "draft");
    assert_eq!(
        w.count("SELECT CAST(COUNT(*) AS BIGINT) FROM mailboxes")
            .await,
        0
    );
}
both!(imports_listed_and_discarded_over_rest);
