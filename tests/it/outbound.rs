//! Sending limits as the submission policy asks about them, on both databases and on the
//! test clock (the mail-plane test proves the same through Postfix): per mailbox and per
//! tenant, early at RCPT and counted at the end of a message, a new hour starting afresh,
//! Mailward's own login not held to a mailbox's hour, refusals counted once and alerted once.
use app::core::authz::Actor;
use app::outbound::service::{refused, submission, Stage, Verdict};
use mailward_tests::{both, Backend};

use crate::routing::{person, world_with};

fn refused_by(v: &Verdict) -> Option<(&'static str, String)> {
    match v {
        Verdict::Pass | Verdict::Hold(_) | Verdict::Reject(_) => None,
        Verdict::Refuse(r) => Some((r.scope.as_str(), r.reply.clone())),
    }
}

async fn limits_hold_per_mailbox_and_tenant_and_reset_each_hour(b: Backend) {
    // Mailward's alert mail signs in to the mail plane as noreply@acme.example.
    let w = world_with(b, |c| {
        c.alert_smtp = Some(app::core::config::SmtpConfig {
            host: "127.0.0.1".into(),
            port: 1,
            from: "Alerts <noreply@acme.example>".into(),
            username: Some("noreply@acme.example".into()),
            password: Some("not used here".into()),
            ..Default::default()
        });
    })
    .await;
    let st = &w.app.state;
    let sys = Actor::system("test");
    // Limits out of range are refused, naming the field, and make no plan.
    let plans_before = app::tenancy::service::plans(st, &sys).await.unwrap().len();
    for (mailbox, tenant, field) in [
        (0, 10, "send_per_hour_mailbox"),
        (1_000_001, 2_000_000, "send_per_hour_mailbox"),
        (10, 9, "send_per_hour_tenant"),
        (10, 10_000_001, "send_per_hour_tenant"),
    ] {
        let e = app::tenancy::service::create_plan(
            st,
            &sys,
            &app::tenancy::service::NewPlan {
                name: "Refused".into(),
                send_per_hour_mailbox: mailbox,
                send_per_hour_tenant: tenant,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(e.field(), Some(field), "{mailbox}/{tenant}: {e}");
    }
    assert_eq!(
        app::tenancy::service::plans(st, &sys).await.unwrap().len(),
        plans_before
    );
    let plan = app::tenancy::service::create_plan(
        st,
        &sys,
        &app::tenancy::service::NewPlan {
            name: "Tiny sender".into(),
            max_domains: 1,
            storage_gb: 1.0,
            managed_smtp: true,
            send_per_hour_mailbox: 3,
            send_per_hour_tenant: 5,
        },
    )
    .await
    .unwrap();
    app::tenancy::service::change_plan(st, &sys, &w.slug, &plan.id)
        .await
        .unwrap();
    // Start at the top of an hour, so that the steps below stay inside it.
    let now = st.clock.now();
    st.clock.advance(3600 - now.rem_euclid(3600) + 1);
    w.mailbox("ann").await;
    w.mailbox("bob").await;
    w.mailbox("noreply").await;
    let ann = "ann@acme.example";
    let eom = |who: &'static str| submission(st, who, Stage::EndOfMessage, "");
    for _ in 0..3 {
        assert_eq!(eom(ann).await.unwrap(), Verdict::Pass);
    }
    // The fourth: refused early at RCPT and at the end alike, by Ann's own limit.
    let early = submission(st, ann, Stage::Recipient, "bob@outside.example")
        .await
        .unwrap();
    let (scope, reply) = refused_by(&early).unwrap();
    assert_eq!(scope, "mailbox");
    assert!(reply.starts_with("450 4.7.1 Sending limit reached: ann@acme.example may send 3 messages an hour on the Tiny sender plan; try again after "), "{reply}");
    assert_eq!(refused_by(&eom(ann).await.unwrap()).unwrap().0, "mailbox");
    // Bob has the tenant's last two.
    let bob = "BOB@acme.example";
    assert_eq!(eom(bob).await.unwrap(), Verdict::Pass);
    assert_eq!(eom(bob).await.unwrap(), Verdict::Pass);
    let v = eom(bob).await.unwrap();
    let (scope, reply) = refused_by(&v).unwrap();
    assert_eq!(scope, "tenant");
    assert!(
        reply.contains("the mailboxes of Acme together may send 5 messages an hour"),
        "{reply}"
    );
    // Counted once per message; one alert per limit reached, however many refusals.
    let Verdict::Refuse(r) = v else {
        unreachable!()
    };
    for _ in 0..3 {
        refused(st, &r).await.unwrap();
    }
    let Verdict::Refuse(ra) = early else {
        unreachable!()
    };
    refused(st, &ra).await.unwrap();
    let op = person("usr_a");
    let (tenant, _) = app::tenancy::service::tenant(st, &op, &w.slug)
        .await
        .unwrap();
    let s = app::outbound::service::of_tenant(st, &op, &tenant.id)
        .await
        .unwrap();
    assert_eq!(
        (s.sent, s.refused, s.per_mailbox, s.per_tenant),
        (5, 4, 3, 5),
        "{s:?}"
    );
    assert_eq!(s.week_limited_hours, 1);
    let alerts: Vec<_> = app::monitoring::service::alerts(st, &op, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.rule == "sending.limit_reached")
        .collect();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    // Mailward's own login is not held to a mailbox's hour.
    for _ in 0..10 {
        assert_eq!(eom("noreply@acme.example").await.unwrap(), Verdict::Pass);
    }
    // Not a mailbox, or no login at all: not ours to limit.
    assert_eq!(eom("").await.unwrap(), Verdict::Pass);
    assert_eq!(eom("x' OR '1'='1").await.unwrap(), Verdict::Pass);
    // A new hour starts afresh; the old one stays in the week.
    st.clock.advance(3600);
    assert_eq!(eom(ann).await.unwrap(), Verdict::Pass);
    let s = app::outbound::service::of_tenant(st, &op, &tenant.id)
        .await
        .unwrap();
    assert_eq!(
        (s.sent, s.refused, s.week_sent, s.week_refused),
        (1, 0, 6, 4),
        "{s:?}"
    );
    // Over REST, the same numbers.
    let owner = w.app.setup_owner().await;
    let token = w.app.api_token(&owner.email, "read").await;
    let (status, body) = w
        .app
        .api(
            "GET",
            &format!("/api/v1/tenants/{}/sending", w.slug),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["sent"].as_i64(), body["per_tenant"].as_i64()),
        (Some(1), Some(5)),
        "{body}"
    );
    // A client viewer of another tenant does not see these counters.
    let stranger = app::core::authz::Actor::for_tests(
        app::core::authz::Principal::User,
        Some("usr_v".into()),
        "viewer@other.example".into(),
        Some(app::auth::Role::ClientViewer),
        app::core::authz::TenantScope::Only(vec!["ten_other".into()]),
        None,
    );
    assert!(app::outbound::service::of_tenant(st, &stranger, &tenant.id)
        .await
        .is_err());
}
both!(limits_hold_per_mailbox_and_tenant_and_reset_each_hour);
