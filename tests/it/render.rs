//! Every page GET is rendered exactly once. Leptos keeps one process-wide "suppress resource
//! loads" flag while it generates a route list (leptos#4773): a page whose resource was first
//! polled in that window waited forever. Routers are built while pages render here (as every
//! test's `TestApp` does); no render may stall.
use mailward_tests::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_once_while_routers_are_built() {
    let app = TestApp::start(Backend::Sqlite).await;
    let owner = app.setup_owner().await;
    let rounds: usize = std::env::var("RENDER_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    for round in 0..rounds {
        let builds: Vec<_> = (0..4)
            .map(|_| {
                let st = app.state.clone();
                tokio::spawn(async move {
                    for _ in 0..3 {
                        drop(server::router(st.clone()));
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        let loads = (0..8).map(|i| {
            let path = ["/", "/tenants", "/mailboxes", "/approvals"][i % 4];
            let b = &owner.browser;
            async move { (path, b.get(path).await.status().as_u16()) }
        });
        let statuses = mailward_tests::join_all(loads).await;
        for b in builds {
            b.await.unwrap();
        }
        for (path, status) in statuses {
            assert_eq!(status, 200, "round {round}: {path} answered {status}");
        }
    }
    let metrics = owner.browser.get_text("/metrics").await;
    assert!(
        metrics.contains("mailward_render_stalls_total 0\n"),
        "{}",
        metrics
            .lines()
            .find(|l| l.starts_with("mailward_render_stalls_total"))
            .unwrap_or("no stall counter")
    );
}

/// Pages are server HTML: a table's rows are in the page once, as HTML, never a second time
/// as data for the browser (islands mode: only `#[island]`s hydrate, and they carry no rows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_rows_are_sent_once() {
    let app = TestApp::start(Backend::Sqlite).await;
    let owner = app.setup_owner().await;
    let (slug, ids) = app
        .tenant_with_domains("plan_pro", &["alpha.example", "beta.example"])
        .await;
    for path in [
        "/".to_string(),
        format!("/tenants/{slug}"),
        "/domains/alpha.example".to_string(),
    ] {
        let page = owner.browser.get_text(&path).await;
        assert!(page.contains("alpha.example"), "{path} shows the domain");
        // What the page hands to scripts: with full hydration the loaders' data (every row)
        // was serialised into a <script>; now no script carries a row.
        for script in page.split("<script").skip(1) {
            let script = script.split("</script>").next().unwrap_or_default();
            for word in ["alpha.example", "beta.example", ids[0].as_str(), "Acme"] {
                assert!(!script.contains(word), "{path}: a script carries {word}");
            }
        }
    }
}
