//! Routing governance on both databases: the allowlist, expiry bounds, requester ≠ approver,
//! the approval race, loop and conflict refusals, the sweeper's idempotence, recipient
//! confirmation, and the "active targets" query the mail plane mirrors.
use app::core::authz::{Actor, Principal, TenantScope};
use app::mailboxes::service as mb;
use app::mailboxes::NewMailbox;
use app::routing::service as routing;
use app::routing::{NewRoute, RouteOutcome, RoutingPolicy};
use app::tenancy::service::{self as tenancy, NewTenant};
use mailward_tests::{both, Backend, SmtpSink, TestApp};

pub(crate) const PW: &str = "copper lantern harbour 7";

pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) sink: SmtpSink,
    pub(crate) slug: String,
    pub(crate) domain: String,
}

pub(crate) fn person(id: &str) -> Actor {
    Actor::for_tests(
        Principal::User,
        Some(id.into()),
        format!("{id}@agency.example"),
        Some(app::auth::Role::Operator),
        TenantScope::All,
        Some("127.0.0.1".into()),
    )
}

pub(crate) async fn world(b: Backend) -> World {
    world_with(b, |_| {}).await
}

/// [`world`] with its configuration changed first.
pub(crate) async fn world_with(
    b: Backend,
    tweak: impl FnOnce(&mut app::core::config::Config),
) -> World {
    let (app, sink) = TestApp::start_with_mail(b, tweak).await;
    let (slug, mut domains) = app
        .tenant_with_domains("plan_starter", &["acme.example"])
        .await;
    World {
        app,
        sink,
        slug,
        domain: domains.remove(0),
    }
}

impl World {
    /// An active mailbox `local@acme.example` (created, link revealed, accepted).
    pub(crate) async fn mailbox(&self, local: &str) -> String {
        let id = self.invited(local, None).await;
        self.open_link(&id, PW).await;
        id
    }

    /// A mailbox `local@acme.example` created by an operator, its invitation not yet used;
    /// `quota` as the console takes it ("1 MB"), none = within the pool.
    pub(crate) async fn invited(&self, local: &str, quota: Option<&str>) -> String {
        mb::create(
            &self.app.state,
            &person("usr_a"),
            &NewMailbox {
                domain: Some(self.domain.clone()),
                address: local.into(),
                display_name: local.into(),
                quota: quota.map(str::to_string),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .mailbox
        .id
    }

    /// The owner opens the mailbox's open link (invitation or reset), revealed by an
    /// operator, and sets `password`.
    pub(crate) async fn open_link(&self, id: &str, password: &str) {
        let link = mb::reveal_invite(&self.app.state, &person("usr_a"), id)
            .await
            .unwrap();
        let token = link.rsplit('/').next().unwrap().to_string();
        mb::accept(
            &self.app.state,
            &Actor::system("owner"),
            &token,
            password,
            password,
        )
        .await
        .unwrap();
    }

    pub(crate) async fn allow(&self, domains: &[&str], confirmation: bool) {
        routing::set_policy(
            &self.app.state,
            &person("usr_a"),
            &self.slug,
            &policy("direct", domains, 30, 90, confirmation),
        )
        .await
        .unwrap();
    }

    /// Where mail for `address` goes, by `routing::targets`; asserts that the mail plane's
    /// views answer the same, read as Postfix reads them: refused if `mail_inactive`, else the
    /// `mail_aliases` rows of the address, else those of `@domain` (the catch-all).
    pub(crate) async fn targets(&self, address: &str) -> Vec<String> {
        use sqlx::Row;
        let mut conn = self.app.state.db.pool().acquire().await.unwrap();
        let said = routing::targets(&mut conn, address, self.app.state.clock.now())
            .await
            .unwrap();
        let key = address.to_lowercase();
        let rows = |source: String| {
            let pool = self.app.state.db.pool().clone();
            async move {
                sqlx::query("SELECT target FROM mail_aliases WHERE source = $1 ORDER BY target")
                    .bind(source)
                    .fetch_all(&pool)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.try_get::<String, _>("target").unwrap())
                    .collect::<Vec<_>>()
            }
        };
        let inactive = sqlx::query("SELECT address FROM mail_inactive WHERE address = $1")
            .bind(&key)
            .fetch_optional(self.app.state.db.pool())
            .await
            .unwrap()
            .is_some();
        let mut mail_plane = if inactive {
            Vec::new()
        } else {
            rows(key.clone()).await
        };
        if !inactive && mail_plane.is_empty() {
            let domain = key.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
            mail_plane = rows(format!("@{domain}")).await;
        }
        // The views read the database's real clock: they can only agree while this one is real.
        if self.app.state.clock.offset() == 0 {
            assert_eq!(
                said, mail_plane,
                "routing::targets and the mail plane's views disagree on {address}"
            );
        }
        said
    }

    pub(crate) async fn request(
        &self,
        by: &Actor,
        kind: &str,
        source: &str,
        targets: &[&str],
        days: Option<i64>,
    ) -> Result<RouteOutcome, app::core::AppError> {
        routing::request(
            &self.app.state,
            by,
            &NewRoute {
                kind: kind.into(),
                source: source.into(),
                targets: targets.iter().map(|t| t.to_string()).collect(),
                days,
                reason: "client asked in ticket 42".into(),
            },
        )
        .await
    }

    pub(crate) async fn approve(
        &self,
        by: &Actor,
        change: &str,
    ) -> Result<app::changes::ChangeRequest, app::core::AppError> {
        app::changes::service::approve(&self.app.state, by, change).await
    }
}

fn policy(
    alias: &str,
    allow: &[&str],
    default_days: i64,
    max_days: i64,
    confirmation: bool,
) -> RoutingPolicy {
    RoutingPolicy {
        alias_policy: alias.into(),
        allowlist: allow.iter().map(|d| d.to_string()).collect(),
        default_days,
        max_days,
        confirmation,
    }
}

pub(crate) fn queued(r: Result<RouteOutcome, app::core::AppError>) -> String {
    match r {
        Ok(RouteOutcome::Queued { change_id }) => change_id,
        other => panic!("not queued: {other:?}"),
    }
}

fn refused(r: Result<RouteOutcome, app::core::AppError>) -> String {
    match r {
        Err(e) => e.user_message(),
        Ok(o) => panic!("accepted: {o:?}"),
    }
}

async fn forwards_need_the_allowlist_a_second_person_and_an_expiry(b: Backend) {
    let w = world(b).await;
    w.mailbox("ann").await;
    let (alice, bob) = (person("usr_alice"), person("usr_bob"));
    // Empty allowlist: no external forwarding at all.
    let msg = refused(
        w.request(
            &alice,
            "forward",
            "ann@acme.example",
            &["ann@gmail.example"],
            None,
        )
        .await,
    );
    assert!(
        msg.contains("not on this tenant's forwarding allowlist (it is empty"),
        "{msg}"
    );
    w.allow(&["partner.example"], false).await;
    let msg = refused(
        w.request(
            &alice,
            "forward",
            "ann@acme.example",
            &["ann@gmail.example"],
            None,
        )
        .await,
    );
    assert!(
        msg.contains(
            "gmail.example is not on this tenant's forwarding allowlist (partner.example)"
        ),
        "{msg}"
    );
    // Expiry bounds: 1..=max (90 here), default 30.
    for days in [0, 91, -3] {
        let msg = refused(
            w.request(
                &alice,
                "forward",
                "ann@acme.example",
                &["ann@partner.example"],
                Some(days),
            )
            .await,
        );
        assert!(msg.contains("lasts 1 to 90 days"), "{days}: {msg}");
    }
    // Nothing reached the queue.
    assert_eq!(
        w.app
            .count("SELECT CAST(COUNT(*) AS BIGINT) FROM change_requests")
            .await,
        0
    );
    let change = queued(
        w.request(
            &alice,
            "forward",
            "ann@acme.example",
            &["Ann@Partner.example"],
            None,
        )
        .await,
    );
    // Not active before approval.
    assert_eq!(
        w.targets("ann@acme.example").await,
        vec!["ann@acme.example"]
    );
    // A second request for the same address waits for the first.
    let msg = refused(
        w.request(
            &bob,
            "forward",
            "ann@acme.example",
            &["x@partner.example"],
            None,
        )
        .await,
    );
    assert!(msg.contains("already waiting"), "{msg}");
    // The requester cannot approve their own request.
    let e = w.approve(&alice, &change).await.unwrap_err();
    assert!(
        e.user_message().contains("someone else must approve"),
        "{}",
        e.user_message()
    );
    let approving = w.app.state.clock.now();
    let c = w.approve(&bob, &change).await.unwrap();
    assert_eq!(c.state, "applied");
    assert_eq!(
        w.targets("ann@acme.example").await,
        vec!["ann@acme.example", "ann@partner.example"]
    );
    let routes = routing::list(&w.app.state, &alice, &Default::default())
        .await
        .unwrap();
    assert_eq!(routes.len(), 1);
    let r = &routes[0];
    assert_eq!((r.kind.as_str(), r.state.as_str()), ("forward", "active"));
    // 30 days from the approval (the clock may have ticked since).
    let expires = r.expires_at.unwrap();
    assert!(
        (approving + 30 * 86400..=w.app.state.clock.now() + 30 * 86400).contains(&expires),
        "default 30 days: {expires}"
    );
    assert_eq!(
        r.approved_by_label.as_deref(),
        Some("usr_bob@agency.example")
    );
    // A tenant's maximum is checked too.
    routing::set_policy(
        &w.app.state,
        &alice,
        &w.slug,
        &policy("direct", &["partner.example"], 7, 14, false),
    )
    .await
    .unwrap();
    let msg = refused(
        w.request(
            &alice,
            "forward",
            "ann@acme.example",
            &["ann@partner.example"],
            Some(30),
        )
        .await,
    );
    assert!(msg.contains("lasts 1 to 14 days"), "{msg}");
    let bad = routing::set_policy(
        &w.app.state,
        &alice,
        &w.slug,
        &policy("direct", &[], 30, 120, false),
    )
    .await
    .unwrap_err();
    assert!(bad.user_message().contains("1 to 90 days"));
    // Tenant admins may not open their tenant to forwarding.
    let admin = Actor::for_tests(
        Principal::User,
        Some("usr_ta".into()),
        "usr_ta@agency.example".into(),
        Some(app::auth::Role::TenantAdmin),
        TenantScope::Only(vec![r.tenant_id.clone()]),
        Some("127.0.0.1".into()),
    );
    let e = routing::set_policy(
        &w.app.state,
        &admin,
        &w.slug,
        &policy("direct", &["evil.example"], 30, 90, false),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, app::core::AppError::Forbidden), "{e:?}");
    let log = w.app.audit_actions().await;
    for a in [
        "tenant.routing_policy_changed",
        "change.requested",
        "change.approved",
        "route.enabled",
        "change.applied",
    ] {
        assert!(log.iter().any(|x| x == a), "{a} in {log:?}");
    }
}
both!(forwards_need_the_allowlist_a_second_person_and_an_expiry);

async fn two_approvers_at_once_give_one_route(b: Backend) {
    let w = world(b).await;
    w.mailbox("ann").await;
    w.mailbox("desk").await;
    let alice = person("usr_alice");
    // A catch-all delivers to exactly one mailbox.
    let msg = refused(
        w.request(
            &alice,
            "catchall",
            "acme.example",
            &["ann@acme.example", "desk@acme.example"],
            Some(5),
        )
        .await,
    );
    assert!(msg.contains("exactly one"), "{msg}");
    let change = queued(
        w.request(
            &alice,
            "catchall",
            "acme.example",
            &["desk@acme.example"],
            Some(10),
        )
        .await,
    );
    let (bob, carol) = (person("usr_bob"), person("usr_carol"));
    let (r1, r2) = tokio::join!(w.approve(&bob, &change), w.approve(&carol, &change));
    assert_eq!(r1.is_ok() as u8 + r2.is_ok() as u8, 1, "{r1:?} {r2:?}");
    assert_eq!(
        w.app
            .count("SELECT CAST(COUNT(*) AS BIGINT) FROM routes WHERE kind = 'catchall'")
            .await,
        1
    );
    // The catch-all takes unknown local parts only; mailboxes keep their own mail.
    assert_eq!(
        w.targets("nobody@acme.example").await,
        vec!["desk@acme.example"]
    );
    assert_eq!(
        w.targets("ann@acme.example").await,
        vec!["ann@acme.example"]
    );
    // The domain shows it; a second catch-all is refused before the queue.
    let d = app::tenancy::store::domain(
        &w.app.state.db,
        &app::core::authz::authorize(&alice, app::core::authz::Action::ViewTenants).unwrap(),
        &w.domain,
    )
    .await
    .unwrap()
    .unwrap();
    assert!(d.catch_all);
    let msg = refused(
        w.request(
            &alice,
            "catchall",
            "acme.example",
            &["ann@acme.example"],
            Some(10),
        )
        .await,
    );
    assert!(msg.contains("at most one"), "{msg}");
    // The same target renews it (a new approved request replaces the old route).
    let renewal = queued(
        w.request(
            &alice,
            "catchall",
            "acme.example",
            &["desk@acme.example"],
            Some(20),
        )
        .await,
    );
    let approving = w.app.state.clock.now();
    w.approve(&carol, &renewal).await.unwrap();
    let live = routing::list(&w.app.state, &alice, &Default::default())
        .await
        .unwrap();
    assert_eq!(live.len(), 1);
    let expires = live[0].expires_at.unwrap();
    assert!(
        (approving + 20 * 86400..=w.app.state.clock.now() + 20 * 86400).contains(&expires),
        "renewed for 20 days from the approval: {expires}"
    );
    assert_eq!(
        w.targets("nobody@acme.example").await,
        vec!["desk@acme.example"]
    );
    let badges = routing::badges(&w.app.state, &alice).await.unwrap();
    assert_eq!(badges.catchall_domains, 1);
}
both!(two_approvers_at_once_give_one_route);

async fn loops_and_conflicts_are_refused(b: Backend) {
    let w = world(b).await;
    w.mailbox("ann").await;
    let alice = person("usr_alice");
    // Direct aliases (the default policy): created at once.
    let r = w
        .request(
            &alice,
            "alias",
            "sales@acme.example",
            &["ann@acme.example"],
            None,
        )
        .await
        .unwrap();
    assert!(matches!(r, RouteOutcome::Created { .. }));
    let r = w
        .request(
            &alice,
            "alias",
            "team@acme.example",
            &["sales@acme.example"],
            None,
        )
        .await
        .unwrap();
    assert!(matches!(r, RouteOutcome::Created { .. }));
    // sales → team → sales would loop.
    let routes = routing::list(&w.app.state, &alice, &Default::default())
        .await
        .unwrap();
    let sales = routes
        .iter()
        .find(|r| r.source == "sales@acme.example")
        .unwrap();
    routing::disable(&w.app.state, &alice, &sales.id, "rewire")
        .await
        .unwrap();
    let msg = refused(
        w.request(
            &alice,
            "alias",
            "sales@acme.example",
            &["team@acme.example"],
            None,
        )
        .await,
    );
    assert!(
        msg.contains("loop: sales@acme.example → team@acme.example → sales@acme.example"),
        "{msg}"
    );
    let msg = refused(
        w.request(&alice, "alias", "x@acme.example", &["x@acme.example"], None)
            .await,
    );
    assert!(msg.contains("cannot route to itself"), "{msg}");
    // An alias cannot take a mailbox's address; targets must be valid and inside the tenant.
    let msg = refused(
        w.request(
            &alice,
            "alias",
            "ann@acme.example",
            &["team@acme.example"],
            None,
        )
        .await,
    );
    assert!(msg.contains("is a mailbox"), "{msg}");
    let msg = refused(
        w.request(
            &alice,
            "alias",
            "info@acme.example",
            &["not an address"],
            None,
        )
        .await,
    );
    assert!(msg.contains("not a valid email address"), "{msg}");
    let msg = refused(
        w.request(
            &alice,
            "alias",
            "info@acme.example",
            &["someone@elsewhere.example"],
            None,
        )
        .await,
    );
    assert!(
        msg.contains("is not a mailbox or alias of this tenant"),
        "{msg}"
    );
    // A forward to another tenant's domain, even a suspended one, is treated like a forward
    // to any outside domain: that tenant's state is not told (no existence leak).
    let sys = Actor::system("test");
    let other = tenancy::create_tenant(
        &w.app.state,
        &sys,
        &NewTenant {
            name: "Other".into(),
            plan_id: "plan_free".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let od = tenancy::add_domain(&w.app.state, &sys, &other.slug, "other.example", "")
        .await
        .unwrap();
    tenancy::activate_unverified(&w.app.state, &sys, &od.id, "test fixture")
        .await
        .unwrap();
    tenancy::set_domain_status(&w.app.state, &sys, &od.id, "suspended")
        .await
        .unwrap();
    w.allow(&["other.example"], false).await;
    queued(
        w.request(
            &alice,
            "forward",
            "ann@acme.example",
            &["bob@other.example"],
            None,
        )
        .await,
    );
    // Under the approval policy aliases queue too.
    routing::set_policy(
        &w.app.state,
        &alice,
        &w.slug,
        &policy("approval", &[], 30, 90, false),
    )
    .await
    .unwrap();
    queued(
        w.request(
            &alice,
            "alias",
            "info@acme.example",
            &["ann@acme.example"],
            None,
        )
        .await,
    );
    assert!(w.targets("info@acme.example").await.is_empty());
}
both!(loops_and_conflicts_are_refused);

async fn the_sweeper_expires_once_and_the_report_follows(b: Backend) {
    let w = world(b).await;
    w.mailbox("ann").await;
    w.allow(&["partner.example"], false).await;
    let (alice, bob) = (person("usr_alice"), person("usr_bob"));
    let change = queued(
        w.request(
            &alice,
            "forward",
            "ann@acme.example",
            &["ann@partner.example"],
            Some(10),
        )
        .await,
    );
    w.approve(&bob, &change).await.unwrap();
    let report = routing::report(&w.app.state, &alice, None, None)
        .await
        .unwrap();
    assert_eq!(report.len(), 1);
    assert_eq!(
        report[0].approved_by.as_deref(),
        Some("usr_bob@agency.example")
    );
    let csv = routing::report_csv(&report);
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .contains("\"ann@acme.example\",\"ann@partner.example\""),
        "{csv}"
    );
    // "Created since" filters.
    let later = w.app.state.clock.now() + 1;
    assert!(routing::report(&w.app.state, &alice, None, Some(later))
        .await
        .unwrap()
        .is_empty());
    // A week ahead: one reminder, once.
    w.app.state.clock.advance(4 * 86400);
    assert_eq!(
        routing::sweep(&w.app.state).await.unwrap(),
        routing::Swept {
            expired: 0,
            reminded: 1
        }
    );
    assert_eq!(
        routing::sweep(&w.app.state).await.unwrap(),
        routing::Swept::default()
    );
    assert_eq!(
        routing::badges(&w.app.state, &alice)
            .await
            .unwrap()
            .expiring_within_7_days,
        1
    );
    // Past the expiry: no mail goes out even before the sweep…
    w.app.state.clock.advance(6 * 86400 + 1);
    assert_eq!(
        w.targets("ann@acme.example").await,
        vec!["ann@acme.example"]
    );
    // …and the sweep turns it off exactly once, through the recurring job as well (the other
    // recurring jobs run here: the DNS scan, the monitoring watcher and its deliveries, the
    // domain-control check, the change queue's notices, the retention purge).
    app::core::jobs::ensure_recurring(&w.app.state)
        .await
        .unwrap();
    assert_eq!(
        app::core::jobs::run_pending(&w.app.state, "w1")
            .await
            .unwrap(),
        7
    );
    assert_eq!(
        routing::sweep(&w.app.state).await.unwrap(),
        routing::Swept::default()
    );
    assert_eq!(
        app::core::jobs::run_pending(&w.app.state, "w1")
            .await
            .unwrap(),
        0,
        "rescheduled, not due"
    );
    let log = w.app.audit_actions().await;
    assert_eq!(log.iter().filter(|a| *a == "route.expired").count(), 1);
    assert_eq!(
        log.iter().filter(|a| *a == "route.expiry_reminder").count(),
        1
    );
    assert!(routing::report(&w.app.state, &alice, None, None)
        .await
        .unwrap()
        .is_empty());
    let routes = routing::list(
        &w.app.state,
        &alice,
        &routing::RouteFilter {
            state: Some("expired".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(routes.len(), 1);
    // The domain's history holds each step.
    let h: Vec<String> = routing::history(&w.app.state, &alice, &w.domain)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        h,
        vec!["route.expired", "route.expiry_reminder", "route.enabled"]
    );
}
both!(the_sweeper_expires_once_and_the_report_follows);

/// The data contract: only active, approved, unexpired, confirmed targets, in live domains.
async fn active_targets_follow_every_state(b: Backend) {
    let w = world(b).await;
    let ann = w.mailbox("ann").await;
    w.mailbox("bob").await;
    w.allow(&["partner.example"], true).await;
    let (alice, bob) = (person("usr_alice"), person("usr_bob"));
    // An alias with two targets.
    w.request(
        &alice,
        "alias",
        "team@acme.example",
        &["ann@acme.example", "bob@acme.example"],
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        w.targets("team@acme.example").await,
        vec!["ann@acme.example", "bob@acme.example"]
    );
    assert_eq!(
        w.targets("TEAM@acme.example").await.len(),
        2,
        "case does not matter"
    );
    // Pending: nothing.
    let change = queued(
        w.request(
            &alice,
            "forward",
            "bob@acme.example",
            &["bob@partner.example"],
            None,
        )
        .await,
    );
    assert_eq!(
        w.targets("bob@acme.example").await,
        vec!["bob@acme.example"]
    );
    // Approved but not confirmed by the recipient: nothing either.
    let c = w.approve(&bob, &change).await.unwrap();
    assert!(c.result.unwrap().contains("once the recipient confirms"));
    assert_eq!(
        w.targets("bob@acme.example").await,
        vec!["bob@acme.example"]
    );
    let mail = w.sink.messages();
    let m = mail
        .iter()
        .find(|m| m.contains("To: bob@partner.example"))
        .expect("confirmation mailed");
    let token = m
        .split_whitespace()
        .find(|s| s.contains("/routing/confirm/"))
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    assert!(
        routing::confirm(&w.app.state, &Actor::system("recipient"), "mwf_wrong")
            .await
            .is_err()
    );
    routing::confirm(&w.app.state, &Actor::system("recipient"), &token)
        .await
        .unwrap();
    assert_eq!(
        w.targets("bob@acme.example").await,
        vec!["bob@acme.example", "bob@partner.example"]
    );
    assert!(
        routing::confirm(&w.app.state, &Actor::system("recipient"), &token)
            .await
            .is_err(),
        "once"
    );
    // A locked target still receives; an offboarded one drops out (and its routes end).
    mb::offboard(
        &w.app.state,
        &alice,
        &ann,
        30,
        "left",
        Some("ann@acme.example"),
        None,
        &[],
    )
    .await
    .unwrap();
    assert!(w.targets("ann@acme.example").await.is_empty());
    assert_eq!(
        w.targets("team@acme.example").await,
        vec!["bob@acme.example"],
        "the alias goes on to its other target only"
    );
    // A suspended domain routes nothing.
    tenancy::set_domain_status(&w.app.state, &Actor::system("t"), &w.domain, "suspended")
        .await
        .unwrap();
    assert!(w.targets("bob@acme.example").await.is_empty());
    // Removed routes route nothing once the domain is back.
    tenancy::set_domain_status(&w.app.state, &Actor::system("t"), &w.domain, "active")
        .await
        .unwrap();
    let fwd = routing::list(&w.app.state, &alice, &Default::default())
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.kind == "forward")
        .unwrap();
    routing::disable(&w.app.state, &alice, &fwd.id, "client said stop")
        .await
        .unwrap();
    assert_eq!(
        w.targets("bob@acme.example").await,
        vec!["bob@acme.example"]
    );
    let h: Vec<String> = routing::history(&w.app.state, &alice, &w.domain)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        h.contains(&"route.confirmed".to_string()) && h.contains(&"route.disabled".to_string()),
        "{h:?}"
    );
}
both!(active_targets_follow_every_state);

/// A forward whose recipient never confirms does not linger: when the link lapses, the
/// sweep ends it.
async fn unconfirmed_forwards_lapse(b: Backend) {
    let w = world(b).await;
    w.mailbox("bob").await;
    w.allow(&["partner.example"], true).await;
    let (alice, bob) = (person("usr_alice"), person("usr_bob"));
    let change = queued(
        w.request(
            &alice,
            "forward",
            "bob@acme.example",
            &["bob@partner.example"],
            Some(60),
        )
        .await,
    );
    w.approve(&bob, &change).await.unwrap();
    assert_eq!(
        routing::sweep(&w.app.state).await.unwrap(),
        routing::Swept::default()
    );
    w.app.state.clock.advance(routing::CONFIRM_TTL_SECS + 1);
    assert_eq!(routing::sweep(&w.app.state).await.unwrap().expired, 1);
    let ended = routing::list(
        &w.app.state,
        &alice,
        &routing::RouteFilter {
            state: Some("expired".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        ended[0].ended_reason.as_deref(),
        Some("not confirmed in time")
    );
    assert_eq!(
        w.targets("bob@acme.example").await,
        vec!["bob@acme.example"]
    );
}
both!(unconfirmed_forwards_lapse);

/// A mailbox owner asks for a forward of their own mailbox from /me; it lands in the same
/// queue, and they cannot ask for anyone else's.
async fn owners_request_their_own_forwards(b: Backend) {
    let w = world(b).await;
    let ann = w.mailbox("ann").await;
    w.mailbox("bob").await;
    w.allow(&["partner.example"], false).await;
    let br = w.app.browser();
    br.post(
        "/me/login",
        &[("address", "ann@acme.example"), ("password", PW)],
    )
    .await;
    br.post(
        "/me/forward",
        &[
            ("targets", "ann@gmail.example"),
            ("days", "14"),
            ("reason", "on leave"),
        ],
    )
    .await;
    let msg = br.flash("/me").await.unwrap();
    assert!(
        msg.contains("not on this tenant's forwarding allowlist"),
        "{msg}"
    );
    br.post(
        "/me/forward",
        &[
            ("targets", "ann@partner.example"),
            ("days", "14"),
            ("reason", "on leave"),
        ],
    )
    .await;
    assert!(br
        .flash("/me")
        .await
        .unwrap()
        .starts_with("Forward requested"));
    assert!(br
        .get_text("/me")
        .await
        .contains("1 forward request(s) waiting for approval"));
    let pending = app::changes::service::list(
        &w.app.state,
        &person("usr_bob"),
        app::changes::service::Filter::Pending,
    )
    .await
    .unwrap();
    assert_eq!(pending.len(), 1);
    let c = &pending[0];
    assert_eq!(
        (c.kind.as_str(), c.target_id.as_str()),
        ("routing.forward", ann.as_str())
    );
    assert_eq!(c.requested_by_label, "ann@acme.example");
    w.approve(&person("usr_bob"), &c.id).await.unwrap();
    let page = br.get_text("/me").await;
    assert!(
        page.contains("ann@partner.example"),
        "the owner sees the forward"
    );
    // Only their own mailbox.
    let (_, owner) = mb::owner(&w.app.state, &ann, None, None)
        .await
        .unwrap()
        .unwrap();
    let e = w
        .request(
            &owner,
            "forward",
            "bob@acme.example",
            &["bob@partner.example"],
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, app::core::AppError::Forbidden), "{e:?}");
    let e = w
        .request(
            &owner,
            "alias",
            "sales@acme.example",
            &["ann@acme.example"],
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, app::core::AppError::Forbidden), "{e:?}");
}
both!(owners_request_their_own_forwards);

/// Offboarding names each route from or to the leaving mailbox with what becomes of its mail,
/// and sends inbound ones on to a colleague in the same step (an alias at once under the
/// direct policy, a catch-all after another person's approval); a lock (suspected compromise)
/// suspends the mailbox's forwards, and an unlock does not bring them back.
async fn offboarding_repoints_inbound_routes_and_a_lock_suspends_forwards(b: Backend) {
    use app::types::Repoint;
    let w = world(b).await;
    let ann = w.mailbox("ann").await;
    let bob = w.mailbox("bob").await;
    w.mailbox("cat").await;
    w.allow(&["gmail.example"], false).await;
    let (alice, zed) = (person("usr_alice"), person("usr_zed"));
    w.request(
        &alice,
        "alias",
        "sales@acme.example",
        &["ann@acme.example"],
        None,
    )
    .await
    .unwrap();
    w.request(
        &alice,
        "alias",
        "team@acme.example",
        &["ann@acme.example", "cat@acme.example"],
        None,
    )
    .await
    .unwrap();
    let c = queued(
        w.request(
            &alice,
            "catchall",
            "acme.example",
            &["ann@acme.example"],
            Some(30),
        )
        .await,
    );
    w.approve(&zed, &c).await.unwrap();
    let f = queued(
        w.request(
            &alice,
            "forward",
            "ann@acme.example",
            &["ann@gmail.example"],
            Some(10),
        )
        .await,
    );
    w.approve(&zed, &f).await.unwrap();

    // The preview lists each route by address, with what happens if nothing is done.
    let p = mb::offboard_preview(&w.app.state, &alice, &ann)
        .await
        .unwrap();
    assert_eq!(p.routes, 4, "{:?}", p.route_list);
    let by = |src: &str| {
        p.route_list
            .iter()
            .find(|r| r.source == src)
            .unwrap_or_else(|| panic!("{src} not listed: {:?}", p.route_list))
            .clone()
    };
    let (sales, team, all, fwd) = (
        by("sales@acme.example"),
        by("team@acme.example"),
        by("@acme.example"),
        by("ann@acme.example"),
    );
    assert!(
        sales.inbound && sales.fate.contains("mail to sales@acme.example is refused"),
        "{}",
        sales.fate
    );
    assert!(
        team.fate.contains("Goes on to cat@acme.example only"),
        "{}",
        team.fate
    );
    assert!(
        all.fate.contains("unknown addresses at acme.example"),
        "{}",
        all.fate
    );
    assert!(
        !fwd.inbound && fwd.targets == vec!["ann@gmail.example"],
        "{fwd:?}"
    );

    // Bad re-points are refused and change nothing.
    let offboard = |repoint: Vec<Repoint>| {
        let (st, alice, ann) = (&w.app.state, &alice, &ann);
        async move {
            mb::offboard(
                st,
                alice,
                ann,
                30,
                "left the company",
                Some("ann@acme.example"),
                None,
                &repoint,
            )
            .await
        }
    };
    let rp = |route: &str, to: &str| Repoint {
        route: route.into(),
        to: to.into(),
    };
    let e = offboard(vec![rp(&sales.id, "nobody@acme.example")])
        .await
        .unwrap_err();
    assert!(
        e.user_message()
            .contains("nobody@acme.example is not a mailbox"),
        "{}",
        e.user_message()
    );
    let e = offboard(vec![rp(&fwd.id, "bob@acme.example")])
        .await
        .unwrap_err();
    assert!(
        e.user_message()
            .contains("does not lead to ann@acme.example"),
        "{}",
        e.user_message()
    );
    let e = offboard(vec![rp(&sales.id, "ann@acme.example")])
        .await
        .unwrap_err();
    assert!(
        e.user_message().contains("colleague's active mailbox"),
        "{}",
        e.user_message()
    );
    assert_eq!(
        mb::get(&w.app.state, &alice, &ann).await.unwrap().status,
        "active"
    );
    assert_eq!(
        w.targets("sales@acme.example").await,
        vec!["ann@acme.example"]
    );

    // Offboarding with re-points.
    let rc = offboard(vec![
        rp(&sales.id, "bob@acme.example"),
        rp(&all.id, "bob@acme.example"),
        rp(&team.id, ""),
    ])
    .await
    .unwrap();
    assert!(rc.scan_clean, "{:?}", rc.scan);
    assert_eq!(
        w.targets("sales@acme.example").await,
        vec!["bob@acme.example"]
    );
    assert_eq!(
        w.targets("team@acme.example").await,
        vec!["cat@acme.example"]
    );
    assert!(w.targets("ann@acme.example").await.is_empty());
    assert!(
        w.targets("nosuch@acme.example").await.is_empty(),
        "the catch-all waits for approval"
    );
    let fate = |src: &str| {
        rc.revoked
            .route_list
            .iter()
            .find(|r| r.source == src)
            .map(|r| r.fate.clone())
            .unwrap_or_default()
    };
    assert!(
        fate("sales@acme.example").starts_with("Re-pointed"),
        "{}",
        fate("sales@acme.example")
    );
    assert!(
        fate("@acme.example").contains("waits for another person's approval"),
        "{}",
        fate("@acme.example")
    );
    assert!(
        fate("ann@acme.example").starts_with("Ended"),
        "{}",
        fate("ann@acme.example")
    );
    let md = rc.to_markdown();
    assert!(
        md.contains("| sales@acme.example → ann@acme.example | Alias | Re-pointed"),
        "{md}"
    );
    let pending =
        app::changes::service::list(&w.app.state, &zed, app::changes::service::Filter::Pending)
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.kind == "routing.catchall")
            .expect("the catch-all's re-point waits");
    assert!(
        app::changes::service::approve(&w.app.state, &alice, &pending.id)
            .await
            .is_err(),
        "not by the person who offboarded"
    );
    w.approve(&zed, &pending.id).await.unwrap();
    assert_eq!(
        w.targets("nosuch@acme.example").await,
        vec!["bob@acme.example"]
    );

    // A lock suspends the mailbox's forwards; the mailbox itself still receives.
    let f2 = queued(
        w.request(
            &alice,
            "forward",
            "bob@acme.example",
            &["bob@gmail.example"],
            Some(10),
        )
        .await,
    );
    w.approve(&zed, &f2).await.unwrap();
    assert_eq!(
        w.targets("bob@acme.example").await,
        vec!["bob@acme.example", "bob@gmail.example"]
    );
    mb::request_reset(
        &w.app.state,
        &alice,
        &bob,
        "sign-ins from abroad",
        true,
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        w.targets("bob@acme.example").await,
        vec!["bob@acme.example"]
    );
    assert_eq!(
        w.targets("sales@acme.example").await,
        vec!["bob@acme.example"]
    );
    let n = w
        .app
        .count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM audit_events WHERE action = 'mailbox.locked' \
             AND details LIKE '%bob@gmail.example%'",
        )
        .await;
    assert_eq!(n, 1, "the lock's event names the suspended forward");
    // The owner with the right password is told the mailbox is locked; a wrong one stays neutral.
    let web = Actor::system("web");
    let e = mb::sign_in(&w.app.state, &web, "bob@acme.example", PW)
        .await
        .unwrap_err();
    assert!(
        e.user_message().contains("This mailbox is locked"),
        "{}",
        e.user_message()
    );
    let e = mb::sign_in(
        &w.app.state,
        &web,
        "bob@acme.example",
        "wrong wrong wrong 1",
    )
    .await
    .unwrap_err();
    assert!(
        e.user_message().starts_with("Sign-in failed"),
        "{}",
        e.user_message()
    );
    // Unlocking does not bring the forward back: that takes a new, approved request.
    mb::unlock(
        &w.app.state,
        &alice,
        &bob,
        "owner confirmed it was them",
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        w.targets("bob@acme.example").await,
        vec!["bob@acme.example"]
    );
}
both!(offboarding_repoints_inbound_routes_and_a_lock_suspends_forwards);
