//! Registered change kinds and rollback on both databases: every kind rolls back through the
//! same queue (a reason, a second person, audited), restores the recorded before-state, and
//! refuses — saying what changed — when the object changed since.
use app::changes::service as changes;
use app::changes::ChangeRequest;
use app::core::AppError;
use app::mailboxes::service as mb;
use app::mailboxes::{AliasRequest, NewMailbox};
use app::routing::service as routing;
use app::routing::RoutingPolicy;
use mailward_tests::{both, Backend};

use crate::routing::{person, queued, world, World, PW};

/// Every registered change kind, each rolled back by a test below (`dns.record` and
/// `dns.bulk`: against a real nameserver in `dns_changes.rs`, through the queue and by
/// themselves; `mailbox.critical_off`: in `mailboxes.rs`,
/// `mailbox_details_are_edited_within_the_pool`).
const ROLLED_BACK_HERE: &[&str] = &[
    "dns.bulk",
    "dns.record",
    "mailbox.alias",
    "mailbox.critical_off",
    "mailbox.reset",
    "person.factor_reset",
    "person.role",
    "person.scope",
    "routing.alias",
    "routing.catchall",
    "routing.forward",
];

#[test]
fn every_registered_change_kind_has_a_rollback_test() {
    let registered: Vec<&str> = server::kinds().change_kinds().collect();
    assert_eq!(
        registered, ROLLED_BACK_HERE,
        "a change kind was added or removed: give it a rollback test here"
    );
    let jobs: Vec<&str> = server::kinds().job_kinds().collect();
    assert_eq!(
        jobs,
        [
            "changes.notices",
            "dns.bulk",
            "dns.scan",
            "dns.verify",
            "domain_control.check",
            "import",
            "mailboxes.purge",
            "monitoring.deliver",
            "monitoring.watch",
            "routing.sweep"
        ]
    );
}

/// `by` asks for the rollback of `id`; `ok` approves it.
async fn roll_back(w: &World, id: &str) -> Result<ChangeRequest, AppError> {
    let st = &w.app.state;
    let asked =
        changes::request_rollback(st, &person("usr_alice"), id, "client changed mind").await?;
    assert_eq!(asked.rollback_of.as_deref(), Some(id));
    assert_eq!(asked.state, "pending");
    // The same rule as any change: the one who asked does not approve.
    let own = changes::approve(st, &person("usr_alice"), &asked.id).await;
    assert!(matches!(own, Err(AppError::Invalid(_))), "{own:?}");
    changes::approve(st, &person("usr_bob"), &asked.id).await
}

async fn state_of(w: &World, id: &str) -> app::changes::ChangeState {
    changes::get(&w.app.state, &person("usr_bob"), id)
        .await
        .unwrap()
        .state
}

fn conflict(r: Result<ChangeRequest, AppError>) -> String {
    match r {
        Err(e @ AppError::Conflict(_)) => e.user_message(),
        other => panic!("not a conflict: {other:?}"),
    }
}

async fn every_route_change_rolls_back(b: Backend) {
    let w = world(b).await;
    let st = &w.app.state;
    w.mailbox("ann").await;
    w.mailbox("bob").await;
    w.allow(&["partner.example"], false).await;
    let (alice, bob) = (person("usr_alice"), person("usr_bob"));

    // A forward: approved, then rolled back — mail stays home again.
    let fwd = queued(
        w.request(
            &alice,
            "forward",
            "ann@acme.example",
            &["ann@partner.example"],
            Some(10),
        )
        .await,
    );
    w.approve(&bob, &fwd).await.unwrap();
    // A forward keeps a copy in the mailbox.
    assert_eq!(
        w.targets("ann@acme.example").await,
        ["ann@acme.example", "ann@partner.example"]
    );
    let undone = roll_back(&w, &fwd).await.unwrap();
    assert_eq!(undone.state, "applied", "{undone:?}");
    assert!(undone.result.unwrap().contains("is off"));
    assert_eq!(state_of(&w, &fwd).await, "rolled_back");
    assert_eq!(w.targets("ann@acme.example").await, ["ann@acme.example"]);
    // Once is enough; a rollback is not itself rolled back; pending requests cannot be.
    let again = changes::request_rollback(st, &alice, &fwd, "again").await;
    assert!(matches!(again, Err(AppError::Conflict(_))), "{again:?}");
    let of_rollback = changes::request_rollback(st, &alice, &undone.id, "undo the undo").await;
    assert!(
        matches!(of_rollback, Err(AppError::Invalid(_))),
        "{of_rollback:?}"
    );
    let pending = queued(
        w.request(
            &alice,
            "forward",
            "bob@acme.example",
            &["bob@partner.example"],
            Some(10),
        )
        .await,
    );
    let early = changes::request_rollback(st, &alice, &pending, "too early").await;
    assert!(matches!(early, Err(AppError::Conflict(_))), "{early:?}");
    // A reason is required; nothing is queued without one.
    let e = changes::reject(st, &bob, &pending, " ").await.unwrap_err();
    assert!(
        e.user_message()
            .contains("Give the reason for rejecting it"),
        "{e:?}"
    );
    changes::reject(st, &bob, &pending, "client withdrew it")
        .await
        .unwrap();

    // A renewed forward rolled back brings the forward it replaced back.
    let first = queued(
        w.request(
            &alice,
            "forward",
            "ann@acme.example",
            &["one@partner.example"],
            Some(10),
        )
        .await,
    );
    w.approve(&bob, &first).await.unwrap();
    let renewal = queued(
        w.request(
            &alice,
            "forward",
            "ann@acme.example",
            &["two@partner.example"],
            Some(20),
        )
        .await,
    );
    w.approve(&bob, &renewal).await.unwrap();
    assert_eq!(
        w.targets("ann@acme.example").await,
        ["ann@acme.example", "two@partner.example"]
    );
    let no_reason = changes::request_rollback(st, &alice, &renewal, "  ").await;
    assert!(
        matches!(no_reason, Err(AppError::Invalid(_))),
        "{no_reason:?}"
    );
    let undone = roll_back(&w, &renewal).await.unwrap();
    assert!(undone.result.unwrap().contains("back as it was"));
    assert_eq!(
        w.targets("ann@acme.example").await,
        ["ann@acme.example", "one@partner.example"]
    );

    // Changed since: the route was turned off by hand, so there is nothing to undo; the
    // refusal says so and nothing is queued.
    let route = routing::list(st, &bob, &Default::default())
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.source == "ann@acme.example")
        .unwrap();
    routing::disable(st, &bob, &route.id, "client asked")
        .await
        .unwrap();
    let msg = conflict(changes::request_rollback(st, &alice, &first, "oops").await);
    assert!(
        msg.contains("changed since") && msg.contains("removed"),
        "{msg}"
    );
    assert_eq!(state_of(&w, &first).await, "applied");

    // A catch-all: on, then off again by rollback.
    let ca = queued(
        w.request(
            &alice,
            "catchall",
            "acme.example",
            &["bob@acme.example"],
            Some(10),
        )
        .await,
    );
    w.approve(&bob, &ca).await.unwrap();
    assert_eq!(w.targets("nobody@acme.example").await, ["bob@acme.example"]);
    assert_eq!(
        w.app
            .count(
                "SELECT CAST(catch_all_enabled AS BIGINT) FROM domains WHERE name = 'acme.example'"
            )
            .await,
        1
    );
    roll_back(&w, &ca).await.unwrap();
    assert!(w.targets("nobody@acme.example").await.is_empty());
    assert_eq!(
        w.app
            .count(
                "SELECT CAST(catch_all_enabled AS BIGINT) FROM domains WHERE name = 'acme.example'"
            )
            .await,
        0
    );

    // An alias under the "approval" policy.
    routing::set_policy(
        st,
        &alice,
        &w.slug,
        &RoutingPolicy {
            alias_policy: "approval".into(),
            allowlist: vec!["partner.example".into()],
            default_days: 30,
            max_days: 90,
            confirmation: false,
        },
    )
    .await
    .unwrap();
    let alias = queued(
        w.request(
            &alice,
            "alias",
            "sales@acme.example",
            &["bob@acme.example"],
            None,
        )
        .await,
    );
    w.approve(&bob, &alias).await.unwrap();
    assert_eq!(w.targets("sales@acme.example").await, ["bob@acme.example"]);
    // Two approvers of one rollback at once: one effect.
    let asked = changes::request_rollback(st, &alice, &alias, "wrong team")
        .await
        .unwrap();
    let dup = changes::request_rollback(st, &alice, &alias, "twice").await;
    assert!(
        matches!(&dup, Err(AppError::Conflict(m)) if m.contains("already waiting")),
        "{dup:?}"
    );
    let carol = person("usr_carol");
    let (x, y) = tokio::join!(
        changes::approve(st, &bob, &asked.id),
        changes::approve(st, &carol, &asked.id),
    );
    assert_eq!(x.is_ok() as u8 + y.is_ok() as u8, 1, "{x:?} {y:?}");
    assert!(w.targets("sales@acme.example").await.is_empty());
    assert_eq!(state_of(&w, &alias).await, "rolled_back");
    assert_eq!(
        w.app
            .count("SELECT CAST(COUNT(*) AS BIGINT) FROM audit_events WHERE action = 'change.rolled_back'")
            .await,
        4
    );
}
both!(every_route_change_rolls_back);

async fn resets_and_offboarding_aliases_roll_back(b: Backend) {
    let w = world(b).await;
    let st = &w.app.state;
    let (alice, bob) = (person("usr_alice"), person("usr_bob"));
    w.mailbox("ann").await;
    let billing = mb::create(
        st,
        &alice,
        &NewMailbox {
            domain: Some(w.domain.clone()),
            address: "billing".into(),
            display_name: "Billing".into(),
            invite_to: Some("cfo@home.example".into()),
            critical: true,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .mailbox
    .id;
    let link = |w: &World| {
        w.sink
            .messages()
            .iter()
            .rev()
            .find_map(|m| {
                m.split_whitespace()
                    .find(|t| t.contains("/activate/mwm_"))
                    .map(|t| t.rsplit('/').next().unwrap().to_string())
            })
            .unwrap()
    };
    let accept = |token: String| async move {
        mb::accept(
            st,
            &app::core::authz::Actor::system("owner"),
            &token,
            PW,
            PW,
        )
        .await
        .unwrap();
    };
    accept(link(&w)).await;
    let open_links = || async {
        w.app
            .count(&format!(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM mailbox_invites WHERE mailbox_id = '{billing}' \
                 AND used_at IS NULL AND revoked_at IS NULL"
            ))
            .await
    };

    // A reset that locked the mailbox: rolled back, the link dies and the lock lifts.
    let (a, m) = (&alice, &billing);
    let reset = |lock: bool| async move {
        match mb::request_reset(st, a, m, "CFO lost phone", lock, Some("cfo@home.example"))
            .await
            .unwrap()
        {
            mb::ResetOutcome::Queued { change_id } => change_id,
            other => panic!("critical resets are queued: {other:?}"),
        }
    };
    let first = reset(true).await;
    w.approve(&bob, &first).await.unwrap();
    assert_eq!(open_links().await, 1);
    let status = || async { mb::get(st, &bob, &billing).await.unwrap().status };
    assert_eq!(status().await, "locked");
    let undone = roll_back(&w, &first).await.unwrap();
    assert!(undone.result.unwrap().contains("active again"));
    assert_eq!(open_links().await, 0);
    assert_eq!(status().await, "active");
    assert!(w
        .app
        .audit_actions()
        .await
        .contains(&"mailbox.reset_rolled_back".to_string()));

    // Once the owner has used the link, an old password cannot come back: refused.
    let second = reset(false).await;
    w.approve(&bob, &second).await.unwrap();
    accept(link(&w)).await;
    let msg = conflict(changes::request_rollback(st, &alice, &second, "oops").await);
    assert!(msg.contains("set a new password"), "{msg}");

    // The alias an offboarding leaves: rolled back, the old address refuses mail again.
    let cat = w.mailbox("cat").await;
    mb::offboard(
        st,
        &alice,
        &cat,
        30,
        "left the company",
        Some("cat@acme.example"),
        Some(&AliasRequest {
            to: "ann@acme.example".into(),
            days: 30,
        }),
        &[],
    )
    .await
    .unwrap();
    let alias = changes::list(st, &bob, changes::Filter::Target(&cat))
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.kind == "mailbox.alias")
        .unwrap()
        .id;
    w.approve(&bob, &alias).await.unwrap();
    assert_eq!(w.targets("cat@acme.example").await, ["ann@acme.example"]);
    roll_back(&w, &alias).await.unwrap();
    assert!(w.targets("cat@acme.example").await.is_empty());
    assert_eq!(state_of(&w, &alias).await, "rolled_back");
}
both!(resets_and_offboarding_aliases_roll_back);

/// A transaction that reads, then writes, keeps working when a write outside the process's
/// write lock (a job's bookkeeping, a second instance, the command line) commits in between.
/// On SQLite a deferred transaction failed at its first write with "database is locked"
/// without waiting (seen in CI: a domain added while the job worker rescheduled a job).
async fn a_transaction_survives_a_write_outside_it(b: Backend) {
    let app = mailward_tests::TestApp::start(b).await;
    let st = app.state.clone();
    let insert = "INSERT INTO jobs (id, kind, state, created_by_label, created_at) \
                  VALUES ($1, 'test.none', 'cancelled', 'test', 0)";
    let mut tx = st.db.begin().await.unwrap();
    let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    let outside = {
        let st = st.clone();
        tokio::spawn(async move {
            sqlx::query(insert)
                .bind("job_outside")
                .execute(st.db.pool())
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    sqlx::query(insert)
        .bind("job_inside")
        .execute(tx.conn())
        .await
        .expect("the transaction's write after its read");
    tx.commit_bookkeeping().await.unwrap();
    outside
        .await
        .unwrap()
        .expect("the outside write, after the transaction");
    let after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs")
        .fetch_one(st.db.pool())
        .await
        .unwrap();
    assert_eq!(after, before + 2);
}
both!(a_transaction_survives_a_write_outside_it);

/// One change request over REST: read it, and only its requester withdraws it.
/// An operator, Otto, invited by `owner`, asks for a reset of the critical mailbox
/// `billing@acme.example` of a new tenant: the request waits for a second person. Its id,
/// and the tenant's short name.
pub(crate) async fn critical_reset_waiting(
    app: &mailward_tests::TestApp,
    owner: &mailward_tests::Account,
) -> (String, String) {
    use app::core::authz::{Actor, Principal, TenantScope};
    app.invite_through(
        owner,
        "/operators/invite",
        &[("email", "otto@agency.example")],
        "/operators",
        "otto@agency.example",
        "Otto",
    )
    .await;
    let op_id = app::auth::store::user_by_email(&app.state.db, "otto@agency.example")
        .await
        .unwrap()
        .unwrap()
        .id;
    let (slug, domains) = app
        .tenant_with_domains("plan_starter", &["acme.example"])
        .await;
    let sys = Actor::system("test");
    mb::set_reveal_policy(&app.state, &sys, &slug, "allowed")
        .await
        .unwrap();
    let billing = mb::create(
        &app.state,
        &sys,
        &NewMailbox {
            domain: Some(domains[0].clone()),
            address: "billing".into(),
            display_name: "Billing".into(),
            critical: true,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .mailbox
    .id;
    sqlx::query("UPDATE mailboxes SET status = 'active' WHERE id = $1")
        .bind(&billing)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let otto = Actor::for_tests(
        Principal::User,
        Some(op_id),
        "otto@agency.example".into(),
        Some(app::auth::Role::Operator),
        TenantScope::All,
        Some("127.0.0.1".into()),
    );
    let mb::ResetOutcome::Queued { change_id } =
        mb::request_reset(&app.state, &otto, &billing, "lost phone", false, None)
            .await
            .unwrap()
    else {
        panic!("a critical reset is queued")
    };
    (change_id, slug)
}

async fn a_request_read_and_cancelled_over_rest(b: Backend) {
    let app = mailward_tests::TestApp::start(b).await;
    let owner = app.setup_owner().await;
    // The operator asks for a reset of the critical mailbox: it waits for a second person.
    let (change_id, _) = critical_reset_waiting(&app, &owner).await;
    let owner_token = app.api_token(&owner.email, "read,write").await;
    let op_token = app.api_token("otto@agency.example", "read,write").await;
    let http = reqwest::Client::new();
    let get = |token: &str| {
        http.get(app.url(&format!("/api/v1/changes/{change_id}")))
            .bearer_auth(token.to_string())
            .send()
    };
    let cancel = |token: &str| {
        http.post(app.url(&format!("/api/v1/changes/{change_id}/cancel")))
            .bearer_auth(token.to_string())
            .send()
    };
    let r = get(&owner_token).await.unwrap();
    assert_eq!(r.status(), 200);
    let c: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (c["state"].as_str(), c["kind"].as_str()),
        (Some("pending"), Some("mailbox.reset"))
    );
    // In words, as the console shows it.
    let summary = c["words"]["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("billing@acme.example"), "{c}");
    assert!(
        c["words"]["rows"].as_array().is_some_and(|r| !r.is_empty()),
        "{c}"
    );
    let r = http
        .get(app.url("/api/v1/changes/chg_nope"))
        .bearer_auth(&owner_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Someone else's request is rejected, not cancelled.
    let r = cancel(&owner_token).await.unwrap();
    assert_eq!(r.status(), 422);
    let r = cancel(&op_token).await.unwrap();
    assert_eq!(r.status(), 204);
    let c: serde_json::Value = get(&op_token).await.unwrap().json().await.unwrap();
    assert_eq!(c["state"], "cancelled");
    let r = cancel(&op_token).await.unwrap();
    assert_eq!(r.status(), 409, "decided already");
    assert!(app
        .audit_actions()
        .await
        .iter()
        .any(|a| a == "change.cancelled"));
}
both!(a_request_read_and_cancelled_over_rest);
