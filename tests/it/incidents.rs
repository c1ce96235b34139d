//! Incident mode on both databases: a declared incident freezes, through the one gate, each
//! high-risk operation of its tenant with the incident named, lets the protective ones
//! through, leaves other tenants alone, and ends only when a second person confirms. Over
//! HTTP: the banner on every page, 423 from the API, one incident out of 20 parallel
//! declarations.
use app::auth::service as auth;
use app::core::authz::{Actor, Principal, TenantScope};
use app::core::AppError;
use app::incidents::service as incidents;
use app::incidents::NewIncident;
use app::mailboxes::service as mb;
use app::routing::service as routing;
use app::routing::RoutingPolicy;
use mailward_tests::{both, Backend};

use crate::routing::{person, queued, world, World};

/// `id` as authentication would load it now: under the incidents in force.
async fn now_as(w: &World, id: &str, role: app::auth::Role) -> Actor {
    let a = Actor::for_tests(
        Principal::User,
        Some(id.into()),
        format!("{id}@agency.example"),
        Some(role),
        TenantScope::All,
        Some("127.0.0.1".into()),
    );
    let inc = incidents::in_force(&w.app.state.db, &TenantScope::All)
        .await
        .unwrap();
    a.under(inc)
}

fn frozen<T: std::fmt::Debug>(what: &str, r: Result<T, AppError>) {
    match r {
        Err(AppError::Frozen(m)) => assert!(
            m.contains("Forward to an unknown domain") && m.contains("Acme"),
            "{what}: the refusal names the incident: {m}"
        ),
        other => panic!("{what} is not frozen: {other:?}"),
    }
}

fn declare(tenant: &str) -> NewIncident {
    NewIncident {
        tenant: Some(tenant.into()),
        title: "Forward to an unknown domain".into(),
        reason: "A forward to a domain nobody knows was approved last night.".into(),
        since_at: None,
        alert_id: None,
    }
}

async fn a_frozen_tenant_refuses_risky_operations(b: Backend) {
    use app::auth::Role::{Operator, Owner};
    let w = world(b).await;
    let st = &w.app.state;
    w.mailbox("ann").await;
    let bob_mbx = w.mailbox("bob").await;
    let invited = w.invited("carl", None).await;
    w.allow(&["partner.example"], false).await;
    let (alice, bob) = (person("usr_alice"), person("usr_bob"));
    // Before the incident: one forward applied, one waiting for approval.
    let applied = queued(
        w.request(
            &alice,
            "forward",
            "ann@acme.example",
            &["ann@partner.example"],
            Some(10),
        )
        .await,
    );
    w.approve(&bob, &applied).await.unwrap();
    let waiting = queued(
        w.request(
            &alice,
            "forward",
            "bob@acme.example",
            &["bob@partner.example"],
            Some(10),
        )
        .await,
    );
    // Another tenant, which the incident does not touch.
    let other = app::tenancy::service::create_tenant(
        st,
        &Actor::system("test"),
        &app::tenancy::service::NewTenant {
            name: "Other".into(),
            plan_id: "plan_starter".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .slug;

    mb::grant_delegation(
        st,
        &person("usr_alice"),
        "ann@acme.example",
        &app::mailboxes::NewDelegation::send_as("bob@acme.example"),
    )
    .await
    .unwrap();
    let inc = incidents::declare(st, &alice, &declare(&w.slug))
        .await
        .unwrap();
    assert_eq!(inc.state, "active");
    assert_eq!(inc.tenant_name.as_deref(), Some("Acme"));
    // One incident in force per tenant.
    let again = incidents::declare(st, &bob, &declare(&w.slug)).await;
    assert!(
        matches!(&again, Err(AppError::Conflict(m)) if m.contains("already in force")),
        "{again:?}"
    );
    // Declaring is for owners and operators.
    let admin = Actor::for_tests(
        Principal::User,
        Some("usr_ta".into()),
        "ta@acme.example".into(),
        Some(app::auth::Role::TenantAdmin),
        TenantScope::Only(vec![inc.tenant_id.clone().unwrap()]),
        None,
    );
    assert!(matches!(
        incidents::declare(st, &admin, &declare(&w.slug)).await,
        Err(AppError::Forbidden)
    ));

    let alice = now_as(&w, "usr_alice", Operator).await;
    let bob = now_as(&w, "usr_bob", Operator).await;
    let olivia = now_as(&w, "usr_olivia", Owner).await;
    assert_eq!(alice.incidents.len(), 1);

    // Each high-risk operation is refused, naming the incident.
    frozen(
        "a forward",
        w.request(
            &alice,
            "forward",
            "ann@acme.example",
            &["x@partner.example"],
            Some(5),
        )
        .await,
    );
    frozen(
        "a catch-all",
        w.request(
            &alice,
            "catchall",
            "acme.example",
            &["ann@acme.example"],
            Some(5),
        )
        .await,
    );
    // Letting a mailbox send as another, or pointing the tenant's mail at another relay:
    // frozen; taking a delegation away stays possible (the hunt's revert).
    frozen(
        "a delegation",
        mb::grant_delegation(
            st,
            &alice,
            "bob@acme.example",
            &app::mailboxes::NewDelegation::send_as("carl@acme.example"),
        )
        .await,
    );
    frozen(
        "an outgoing relay",
        app::outbound::service::set_relay(
            st,
            &alice,
            &inc.tenant_id.clone().unwrap(),
            &app::outbound::RelayInput {
                host: "relay.evil.example".into(),
                port: 587,
                tls: app::outbound::RelayTls::Starttls,
                username: "x".into(),
                password: "y".into(),
            },
        )
        .await,
    );
    mb::revoke_delegation(st, &alice, "ann@acme.example", "bob@acme.example")
        .await
        .unwrap();
    frozen(
        "the routing policy",
        routing::set_policy(
            st,
            &alice,
            &w.slug,
            &RoutingPolicy {
                alias_policy: "direct".into(),
                allowlist: vec!["evil.example".into()],
                default_days: 30,
                max_days: 90,
                confirmation: false,
            },
        )
        .await,
    );
    frozen(
        "a password reset",
        mb::request_reset(
            st,
            &alice,
            &bob_mbx,
            "user forgot it",
            false,
            Some("bob@home.example"),
        )
        .await,
    );
    frozen(
        "revealing an invitation link",
        mb::reveal_invite(st, &alice, &invited).await,
    );
    frozen("approving a queued change", w.approve(&bob, &waiting).await);
    frozen(
        "an import",
        app::imports::service::preview(st, &alice, &w.slug, "address,display_name\nzed,Zed\n")
            .await,
    );
    frozen(
        "a DNS change",
        app::dns::service::changes::request_change(
            st,
            &alice,
            &w.domain,
            &app::dns::RecordChangeInput {
                name: "@".into(),
                rtype: "MX".into(),
                values: vec!["10 mx.evil.example.".into()],
                reason: "move mail".into(),
                ..Default::default()
            },
        )
        .await,
    );
    frozen(
        "a bulk DNS change",
        app::dns::service::bulk::plan(
            st,
            &alice,
            &app::dns::BulkInput {
                tenant: w.slug.clone(),
                operation: "set".into(),
                name: "@".into(),
                rtype: "TXT".into(),
                values: vec!["v=spf1 -all".into()],
                reason: "tighten".into(),
                ..Default::default()
            },
        )
        .await,
    );
    frozen(
        "an API token",
        auth::create_token(st, &alice, "ci", &["read".into()], 30).await,
    );
    frozen(
        "inviting a tenant admin",
        auth::invite_tenant_user(st, &alice, &w.slug, "new@acme.example", "tenant_admin")
            .await
            .map(|_| ()),
    );
    frozen(
        "inviting an operator",
        auth::invite_operator(st, &olivia, "op@agency.example")
            .await
            .map(|_| ()),
    );
    // The mailbox owner's own new forward too.
    // (Loaded the way the web side loads a mailbox owner: under the incidents in force.)
    let (_, owner) = mb::owner(st, &bob_mbx, None, None).await.unwrap().unwrap();
    let owner = owner.under(
        incidents::in_force(&st.db, &TenantScope::All)
            .await
            .unwrap(),
    );
    frozen(
        "an owner's forward",
        w.request(
            &owner,
            "forward",
            "bob@acme.example",
            &["bob@partner.example"],
            Some(5),
        )
        .await,
    );

    // Protective operations pass: rejecting a queued change, lock now, rolling back (asked
    // and approved), reading.
    app::changes::service::reject(st, &bob, &waiting, "not during the incident")
        .await
        .expect("rejecting is protective");
    mb::request_reset(
        st,
        &alice,
        &bob_mbx,
        "suspected takeover",
        true,
        Some("bob@home.example"),
    )
    .await
    .expect("lock now stays allowed");
    let m = mb::get(st, &alice, &bob_mbx).await.unwrap();
    assert_eq!(m.status, "locked");
    let back = app::changes::service::request_rollback(st, &alice, &applied, "incident")
        .await
        .unwrap();
    let undone = w
        .approve(&bob, &back.id)
        .await
        .expect("a rollback is protective");
    assert_eq!(undone.state, "applied");
    assert_eq!(w.targets("ann@acme.example").await, ["ann@acme.example"]);
    let all = app::routing::service::RouteFilter {
        state: Some("all".into()),
        ..Default::default()
    };
    assert!(!routing::list(st, &alice, &all).await.unwrap().is_empty());

    // Another tenant is not frozen.
    routing::set_policy(
        st,
        &alice,
        &other,
        &RoutingPolicy {
            alias_policy: "direct".into(),
            allowlist: vec!["partner.example".into()],
            default_days: 30,
            max_days: 90,
            confirmation: false,
        },
    )
    .await
    .expect("the other tenant is not under the incident");

    // Ending takes a second person.
    let id = inc.id.clone();
    let early = incidents::confirm_end(st, &alice, &id).await;
    assert!(matches!(early, Err(AppError::Invalid(_))), "{early:?}");
    let short = incidents::request_end(st, &alice, &id, "ok").await;
    assert!(matches!(short, Err(AppError::Invalid(_))), "{short:?}");
    incidents::request_end(
        st,
        &alice,
        &id,
        "The forward was rolled back; the operator's sessions ended.",
    )
    .await
    .unwrap();
    let own = incidents::confirm_end(st, &alice, &id).await;
    assert!(
        matches!(&own, Err(AppError::Invalid(m)) if m.contains("another person")),
        "{own:?}"
    );
    // Still in force.
    assert_eq!(now_as(&w, "usr_alice", Operator).await.incidents.len(), 1);
    let ended = incidents::confirm_end(st, &bob, &id).await.unwrap();
    assert_eq!(ended.state, "ended");
    assert_eq!(
        ended.ended_by_label.as_deref(),
        Some("usr_bob@agency.example")
    );
    let twice = incidents::confirm_end(st, &bob, &id).await;
    assert!(matches!(twice, Err(AppError::Conflict(_))), "{twice:?}");

    // The freeze has lifted.
    let alice = now_as(&w, "usr_alice", Operator).await;
    assert!(alice.incidents.is_empty());
    queued(
        w.request(
            &alice,
            "forward",
            "ann@acme.example",
            &["ann@partner.example"],
            Some(5),
        )
        .await,
    );
    let log = w.app.audit_actions().await;
    for a in [
        "incident.declared",
        "incident.end_requested",
        "incident.ended",
    ] {
        assert!(log.iter().any(|x| x == a), "{a} in {log:?}");
    }
}
both!(a_frozen_tenant_refuses_risky_operations);

async fn the_banner_and_the_api_answer_and_one_declaration_wins(b: Backend) {
    let app = mailward_tests::TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let (slug, _) = app
        .tenant_with_domains("plan_starter", &["acme.example"])
        .await;
    let token = auth::create_token_for_email(
        &app.state,
        &owner.email,
        "ops",
        &["read".into(), "write".into()],
        7,
    )
    .await
    .unwrap()
    .1;
    // An operator, signed in, with an API token: revoked below.
    let otto = app
        .invite_through(
            &owner,
            "/operators/invite",
            &[("email", "otto@agency.example")],
            "/operators",
            "otto@agency.example",
            "Otto",
        )
        .await;
    let otto_token = app.api_token("otto@agency.example", "read").await;
    let otto_id: String =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'otto@agency.example'")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    let http = reqwest::Client::new();
    // 20 declarations at once for the same tenant: one incident.
    let tasks = (0..20).map(|n| {
        let (http, url, token, slug) = (
            http.clone(),
            app.url("/api/v1/incidents"),
            token.clone(),
            slug.clone(),
        );
        async move {
            http.post(url)
                .bearer_auth(token)
                .json(&serde_json::json!({
                    "tenant": slug, "title": format!("Takeover {n}"),
                    "reason": "Sign-ins from an unknown network.",
                }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let mut codes = crate::dns::futures_join(tasks).await;
    codes.sort();
    assert_eq!(codes.iter().filter(|c| **c == 201).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 201 || *c == 409), "{codes:?}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM incidents WHERE state = 'active'")
            .await,
        1
    );

    // The banner on every page of the owner's console.
    for path in ["/", "/mailboxes", "/routing", &format!("/tenants/{slug}")] {
        let page = owner.browser.get_text(path).await;
        assert!(
            page.contains("incident-banner") && page.contains("Incident in force"),
            "{path}"
        );
    }
    // The API answers 423 to what is frozen, naming the incident.
    let r = http
        .patch(app.url(&format!("/api/v1/tenants/{slug}/routing-policy")))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "allowlist": ["evil.example"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 423);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("Takeover") && body.contains("Frozen by"),
        "{body}"
    );
    // A console form says it in the flash message.
    let r = owner
        .browser
        .post(
            &format!("/tenants/{slug}/routing-policy"),
            &[
                ("alias_policy", "direct"),
                ("default_days", "30"),
                ("max_days", "90"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let flash = owner
        .browser
        .flash(&format!("/tenants/{slug}"))
        .await
        .unwrap_or_default();
    assert!(flash.contains("Frozen by"), "{flash}");
    // A platform-wide incident needs someone who sees every tenant; the owner does.
    let r = http
        .post(app.url("/api/v1/incidents"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "title": "Platform", "reason": "Operator laptop stolen.", "since_at": 4102444800i64 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "T in the future is refused");
    let r = http
        .get(app.url("/api/v1/incidents"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let list: Vec<app::incidents::Incident> = r.json().await.unwrap();
    assert_eq!(list.len(), 1);

    // Revoking the operator ends their session and token at once (not frozen).
    assert_eq!(otto.browser.get("/").await.status(), 200);
    let r = http
        .post(app.url(&format!("/api/v1/incidents/{}/revoke", list[0].id)))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "users": [otto_id] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let receipt: app::incidents::RevokeReceipt = r.json().await.unwrap();
    let a = &receipt.accounts[0];
    assert_eq!(
        (a.kind.as_str(), a.label.as_str()),
        ("user", "otto@agency.example")
    );
    assert!(a.sessions >= 1 && a.tokens == 1, "{a:?}");
    assert!(!a.disabled);
    let r = otto.browser.get("/").await;
    assert!(
        r.status().is_redirection(),
        "the session ended: {}",
        r.status()
    );
    let r = http
        .get(app.url("/api/v1/incidents"))
        .bearer_auth(&otto_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the token was revoked");
    // Nobody revokes themselves here; a wrong account is refused with nothing changed.
    let r = http
        .post(app.url(&format!("/api/v1/incidents/{}/revoke", list[0].id)))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "users": ["usr_nobody"], "mailboxes": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
}
both!(the_banner_and_the_api_answer_and_one_declaration_wins);

async fn revoking_a_mailbox_ends_its_live_imap_session(b: Backend) {
    let (w, mp) = crate::mailplane::with_doveadm(b).await;
    let st = &w.app.state;
    let ann = w.mailbox("ann").await;
    let phone = crate::mailplane::app_password(&w, &ann, &["imap"]).await;
    assert!(mp.imap_login("ann@acme.example", &phone).await);
    let alice = person("usr_alice");
    let inc = incidents::declare(st, &alice, &declare(&w.slug))
        .await
        .unwrap();
    let imap = mp.imap.to_string();
    // A mail client holds a session open (NOOP every 0.2 s) while the mailbox is revoked.
    let hold_args = ["hold", &imap, "ann@acme.example", crate::routing::PW, "25"];
    let hold = mp.client(&hold_args);
    let revoke = async {
        // Revoke once Dovecot lists the session.
        for _ in 0..100 {
            if mp.doveadm(&["who"]).contains("ann@acme.example") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let alice = now_as(&w, "usr_alice", app::auth::Role::Operator).await;
        incidents::revoke(
            st,
            &alice,
            &inc.id,
            &app::incidents::RevokeInput {
                mailboxes: vec!["ann@acme.example".into()],
                disable: true,
                ..Default::default()
            },
        )
        .await
    };
    let (held, receipt) = tokio::join!(hold, revoke);
    let receipt = receipt.unwrap();
    assert_eq!(held["kicked"], true, "the live session ended: {held}");
    assert!(held["secs"].as_f64().unwrap() < 20.0, "{held}");
    assert_eq!(receipt.mail_plane, None, "{receipt:?}");
    let a = &receipt.accounts[0];
    assert_eq!((a.kind.as_str(), a.app_passwords), ("mailbox", 1), "{a:?}");
    assert!(a.imap_ended.unwrap_or(0) >= 1, "{a:?}");
    // The app password is gone and the mailbox is locked: no new login either way.
    assert!(!mp.imap_login("ann@acme.example", &phone).await);
    assert!(!mp.imap_login("ann@acme.example", crate::routing::PW).await);
    assert_eq!(mb::get(st, &alice, &ann).await.unwrap().status, "locked");
    let log = w.app.audit_actions().await;
    for e in [
        "mailbox.access_revoked",
        "incident.revoked",
        "incident.sessions_kicked",
    ] {
        assert!(log.iter().any(|x| x == e), "{e} in {log:?}");
    }
    // Without the doveadm API the receipt says the sessions were not ended at once.
    let w2 = world(b).await;
    let bob = w2.mailbox("bob").await;
    let inc2 = incidents::declare(&w2.app.state, &alice, &declare(&w2.slug))
        .await
        .unwrap();
    let r = incidents::revoke(
        &w2.app.state,
        &alice,
        &inc2.id,
        &app::incidents::RevokeInput {
            mailboxes: vec![bob],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(
        r.mail_plane
            .as_deref()
            .is_some_and(|m| m.contains("not configured")),
        "{r:?}"
    );
}
both!(revoking_a_mailbox_ends_its_live_imap_session);

/// The hunt lists what was made after T and not before; its revert of a forward takes the
/// forward off the mail plane (checked over SMTP).
async fn the_hunt_finds_what_came_after_t_and_reverts_it(b: Backend) {
    use mailward_tests::mailplane::MailPlane;
    let w = world(b).await;
    let mp = MailPlane::start(&w.app).await;
    let st = &w.app.state;
    let ann = w.mailbox("ann").await;
    let bob = w.mailbox("bob").await;
    w.allow(&["partner.example"], false).await;
    let (alice, bob_op) = (person("usr_alice"), person("usr_bob"));
    // Before T: a forward and an app password.
    let early = queued(
        w.request(
            &alice,
            "forward",
            "ann@acme.example",
            &["ann@partner.example"],
            Some(10),
        )
        .await,
    );
    w.approve(&bob_op, &early).await.unwrap();
    crate::mailplane::app_password(&w, &ann, &["imap"]).await;
    st.clock.advance(3600);
    let t = st.clock.now() - 1800;
    // After T: another forward, an app password, an operator (invited and signed up).
    let late = queued(
        w.request(
            &alice,
            "forward",
            "bob@acme.example",
            &["bob@partner.example"],
            Some(10),
        )
        .await,
    );
    w.approve(&bob_op, &late).await.unwrap();
    crate::mailplane::app_password(&w, &bob, &["imap"]).await;
    mb::grant_delegation(
        st,
        &bob_op,
        "ann@acme.example",
        &app::mailboxes::NewDelegation::send_as("bob@acme.example"),
    )
    .await
    .unwrap();
    let owner = w.app.setup_owner().await;
    // (Mail is configured here: the invitation goes out by email.)
    let r = owner
        .browser
        .post("/operators/invite", &[("email", "mallory@agency.example")])
        .await;
    assert_eq!(r.status(), 303);
    let link = w
        .sink
        .messages()
        .iter()
        .flat_map(|m| m.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .find(|x| x.contains("/invite/mwi_"))
        .expect("the invitation mail");
    w.app
        .accept_invite(&link, "Mallory", "harbour lights at midnight")
        .await;

    let inc = incidents::declare(
        st,
        &alice,
        &NewIncident {
            since_at: Some(t),
            ..declare(&w.slug)
        },
    )
    .await
    .unwrap();
    let (_, found) = incidents::hunt(st, &alice, &inc.id).await.unwrap();
    let line = |kind: &str, needle: &str| {
        found
            .iter()
            .find(|f| f.kind == kind && f.what.contains(needle))
            .cloned()
    };
    let fwd = line("forward", "bob@acme.example").expect("the forward made after T");
    assert!(
        fwd.live && fwd.approved_by.as_deref() == Some("usr_bob@agency.example"),
        "{fwd:?}"
    );
    assert!(
        line("forward", "ann@acme.example").is_none(),
        "made before T: {found:#?}"
    );
    assert!(
        line("app_password", "bob@acme.example").is_some(),
        "{found:#?}"
    );
    assert!(
        line("app_password", "ann@acme.example").is_none(),
        "{found:#?}"
    );
    assert!(
        line("account", "mallory@agency.example").is_some(),
        "{found:#?}"
    );
    assert!(
        line("invitation", "mallory@agency.example").is_some(),
        "{found:#?}"
    );
    // Exported the same way.
    let csv = incidents::to_csv(&found);
    assert!(csv.lines().count() == found.len() + 1 && csv.contains("mallory@agency.example"));

    // Mail for bob goes out to the partner while the forward lives…
    let r = mp
        .smtp(
            crate::mailplane::OUTSIDE,
            &["bob@acme.example"],
            "before the revert",
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(mp.relayed(1).await.len(), 1);
    // …and the owner reverts it from the hunt, as the console does (the revert's form post).
    let revert = fwd.revert.clone().expect("a live forward has a revert");
    let fields: Vec<(&str, &str)> = revert
        .fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = owner.browser.post(&revert.form, &fields).await;
    assert_eq!(r.status(), 303);
    assert_eq!(w.targets("bob@acme.example").await, ["bob@acme.example"]);
    let r = mp
        .smtp(
            crate::mailplane::OUTSIDE,
            &["bob@acme.example"],
            "after the revert",
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(
        mp.inbox("bob@acme.example", crate::routing::PW, 2)
            .await
            .len(),
        2
    );
    mp.settled().await;
    assert_eq!(mp.relay.messages().len(), 1, "nothing more left the tenant");
    let (_, found) = incidents::hunt(st, &alice, &inc.id).await.unwrap();
    let fwd = found.iter().find(|f| f.kind == "forward").unwrap();
    assert!(!fwd.live && fwd.revert.is_none(), "{fwd:?}");
    // The delegation made after T, reverted from the hunt although the tenant is frozen.
    let dl = found
        .iter()
        .find(|f| f.kind == "delegation")
        .expect("the delegation made after T");
    assert!(
        dl.live && dl.what == "bob@acme.example may send as ann@acme.example",
        "{dl:?}"
    );
    let revert = dl.revert.clone().expect("a live delegation has a revert");
    let r = owner.browser.post(&revert.form, &[]).await;
    assert_eq!(r.status(), 303);
    let (_, found) = incidents::hunt(st, &alice, &inc.id).await.unwrap();
    let dl = found.iter().find(|f| f.kind == "delegation").unwrap();
    assert!(!dl.live && dl.revert.is_none(), "{dl:?}");
    assert!(mb::delegations(st, &alice, "ann@acme.example")
        .await
        .unwrap()
        .delegates
        .is_empty());
}
both!(the_hunt_finds_what_came_after_t_and_reverts_it);

/// Under the incident's freeze, restoring the baseline still goes through: planned by one
/// person, approved by another, applied and verified on the real nameserver (Knot with TSIG).
async fn restore_brings_a_drifted_domain_back_under_the_freeze(b: Backend) {
    use app::dns::service::bulk;
    use mailward_tests::dns::{Knot, TSIG_NAME, TSIG_SECRET};
    const APEX: &str = "@ MX 10 mail.mailward.test.\n@ TXT \"v=spf1 mx -all\"";
    let names = ["d0.example", "d1.example"];
    let knot = Knot::start_with_tsig(
        &[
            (names[0], APEX),
            (names[1], APEX),
            ("mailward.test", "mail A 127.0.0.1"),
        ],
        &names,
    );
    let port = knot.port;
    let app = mailward_tests::TestApp::start_with(b, |c| {
        c.dns_resolver = Some(format!("127.0.0.1:{port}"));
        c.dns_port = port;
        c.dns_timeout_ms = 500;
        c.mail_host = Some("mail.mailward.test".into());
        c.dns_verify_seconds = 30;
        c.dns_verify_poll_seconds = 1;
    })
    .await;
    let st = &app.state;
    let (slug, ids) = app.tenant_with_domains("plan_agency", &names).await;
    let alice = person("usr_alice");
    for id in &ids {
        app::dns::service::changes::set_provider(
            st,
            &alice,
            id,
            &app::dns::ProviderInput {
                kind: "rfc2136".into(),
                server: format!("127.0.0.1:{port}"),
                zone: String::new(),
                tsig_name: TSIG_NAME.into(),
                tsig_algorithm: "hmac-sha256".into(),
                tsig_secret: TSIG_SECRET.into(),
                allow_unmanaged: None,
            },
        )
        .await
        .unwrap();
    }
    // Someone changed d1's SPF.
    knot.update(
        "d1.example",
        &[
            "update delete d1.example. TXT".to_string(),
            Knot::add_line("d1.example", "TXT", "v=spf1 include:evil.example ~all"),
        ],
    );
    let inc = incidents::declare(st, &alice, &declare(&slug))
        .await
        .unwrap();
    let tenant_name = inc.tenant_name.clone().unwrap();
    let alice = now_as_app(&app, "usr_alice").await;
    let bob_now = now_as_app(&app, "usr_bob").await;
    // Setting records is frozen; restoring is not.
    let set = bulk::plan(
        st,
        &alice,
        &app::dns::BulkInput {
            tenant: slug.clone(),
            operation: "set".into(),
            name: "@".into(),
            rtype: "TXT".into(),
            values: vec!["v=spf1 -all".into()],
            reason: "tighten".into(),
            ..Default::default()
        },
    )
    .await;
    assert!(
        matches!(&set, Err(AppError::Frozen(m)) if m.contains(&tenant_name)),
        "{set:?}"
    );
    let plan = incidents::restore(st, &alice, &inc.id, None, None)
        .await
        .unwrap();
    // The one asking does not approve; another person does, under the same freeze.
    let own = app::changes::service::approve(st, &alice, &plan).await;
    assert!(matches!(own, Err(AppError::Invalid(_))), "{own:?}");
    let p = bulk::bulk_plan(st, &bob_now, &plan).await.unwrap();
    // The changed SPF is among what goes back (missing baseline sets are added too).
    assert!(
        p.items
            .iter()
            .any(|i| i.fqdn == "d1.example" && i.rtype == "TXT"),
        "{:?}",
        p.items
    );
    assert!(!p
        .items
        .iter()
        .any(|i| i.fqdn == "d0.example" && i.rtype == "TXT"));
    if !p.unsafe_zones.is_empty() {
        bulk::override_unsafe(st, &bob_now, &plan, "restoring the known-good state")
            .await
            .unwrap();
    }
    app::changes::service::approve(st, &bob_now, &plan)
        .await
        .expect("approving a restore passes the freeze");
    app::core::jobs::run_pending(st, "test").await.unwrap();
    let p = bulk::bulk_plan(st, &bob_now, &plan).await.unwrap();
    assert_eq!(p.state, "done", "{:?}", p.note);
    assert_eq!(knot.txt("d1.example"), ["v=spf1 mx -all"]);
    assert!(w_audit_has(&app, "incident.restore_planned").await);
}
both!(restore_brings_a_drifted_domain_back_under_the_freeze);

async fn now_as_app(app: &mailward_tests::TestApp, id: &str) -> Actor {
    let inc = incidents::in_force(&app.state.db, &TenantScope::All)
        .await
        .unwrap();
    person(id).under(inc)
}

async fn w_audit_has(app: &mailward_tests::TestApp, action: &str) -> bool {
    app.audit_actions().await.iter().any(|a| a == action)
}

/// The postmortem holds the timeline between T and the end and what changed (with its
/// control); people add root cause, control and follow-ups; it exports as Markdown and shows
/// to the tenant's client viewers only once shared.
async fn the_postmortem_holds_the_timeline(b: Backend) {
    let w = world(b).await;
    let st = &w.app.state;
    w.mailbox("ann").await;
    w.allow(&["partner.example"], false).await;
    let (alice, bob) = (person("usr_alice"), person("usr_bob"));
    let t = st.clock.now() - 60;
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
    let inc = incidents::declare(
        st,
        &alice,
        &NewIncident {
            since_at: Some(t),
            ..declare(&w.slug)
        },
    )
    .await
    .unwrap();
    st.clock.advance(120);
    incidents::request_end(
        st,
        &alice,
        &inc.id,
        "The forward was a mistake, turned off.",
    )
    .await
    .unwrap();
    incidents::confirm_end(st, &bob, &inc.id).await.unwrap();
    st.clock.advance(120);
    // After the end: not in the timeline.
    w.request(
        &alice,
        "forward",
        "ann@acme.example",
        &["late@partner.example"],
        Some(10),
    )
    .await
    .unwrap();

    let pm = incidents::postmortem(st, &alice, &inc.id).await.unwrap();
    let actions: Vec<&str> = pm.timeline.iter().map(|e| e.action.as_str()).collect();
    for a in [
        "change.requested",
        "change.approved",
        "change.applied",
        "incident.declared",
        "incident.ended",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    assert_eq!(
        pm.timeline
            .iter()
            .filter(|e| e.action == "change.requested")
            .count(),
        1,
        "the request after the end is not in it"
    );
    let f = pm
        .findings
        .iter()
        .find(|f| f.kind == "forward")
        .expect("the forward");
    assert_eq!(f.approved_by.as_deref(), Some("usr_bob@agency.example"));
    assert!(f.control.contains("second person"), "{}", f.control);

    // Bad input changes nothing.
    let bad = incidents::save_postmortem(
        st,
        &alice,
        &inc.id,
        &app::incidents::PostmortemInput {
            actions: vec![app::incidents::FollowUp {
                what: "Tighten".into(),
                owner: "".into(),
            }],
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(bad, Err(AppError::Invalid(_))), "{bad:?}");
    let viewer = Actor::for_tests(
        Principal::User,
        Some("usr_viewer".into()),
        "viewer@acme.example".into(),
        Some(app::auth::Role::ClientViewer),
        TenantScope::Only(vec![inc.tenant_id.clone().unwrap()]),
        None,
    );
    assert!(matches!(
        incidents::postmortem(st, &viewer, &inc.id).await,
        Err(AppError::NotFound)
    ));
    let saved = incidents::save_postmortem(
        st,
        &bob,
        &inc.id,
        &app::incidents::PostmortemInput {
            root_cause: "A forward to an unvetted domain was approved on trust.".into(),
            blocking_control: "An allowlist without partner.example.".into(),
            actions: vec![app::incidents::FollowUp {
                what: "Review the allowlist monthly".into(),
                owner: "Olivia".into(),
            }],
            shared: true,
        },
    )
    .await
    .unwrap();
    assert_eq!(saved.updated_by.as_deref(), Some("usr_bob@agency.example"));
    let md = incidents::to_markdown(&saved);
    for part in [
        "# Postmortem: Forward to an unknown domain",
        "## Root cause",
        "approved on trust",
        "- [ ] Review the allowlist monthly — owner: Olivia",
        "| Time (UTC) | Who | What | Object |",
        "incident.declared",
        "control:",
    ] {
        assert!(md.contains(part), "{part} in:\n{md}");
    }
    // Shared: the tenant's client viewer reads it (without reverts or platform accounts).
    let seen = incidents::postmortem(st, &viewer, &inc.id).await.unwrap();
    assert_eq!(seen.written.root_cause, saved.written.root_cause);
    assert!(seen.findings.iter().all(|f| f.revert.is_none()));
    assert_eq!(
        incidents::shared_postmortems(st, &viewer, inc.tenant_id.as_deref().unwrap())
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(w
        .app
        .audit_actions()
        .await
        .iter()
        .any(|a| a == "incident.postmortem_saved"));
}
both!(the_postmortem_holds_the_timeline);
