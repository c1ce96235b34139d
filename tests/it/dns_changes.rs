//! DNS changes as production changes, against a real authoritative server (Knot on loopback,
//! updates only with the TSIG key): the provider's connection test (a wrong secret is refused
//! in words), a change applied as a compare-and-swap and verified on every nameserver, a
//! rollback through the queue, a before-state that moved stops the apply, a refusal leaves
//! the zone identical, a change a stale nameserver never serves is rolled back by itself, and
//! a manual domain waits for "Entered".
use app::changes::service as changes;
use app::changes::ChangeState;
use app::core::authz::{Actor, Principal, TenantScope};
use app::core::{jobs, AppError};
use app::dns::service::bulk;
use app::dns::service::changes as dns;
use app::dns::{BulkInput, ProviderInput, RecordChangeInput};
use mailward_tests::dns::{Knot, TSIG_NAME, TSIG_SECRET};
use mailward_tests::{both, Backend, TestApp};

const WRONG: &str = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE=";
const APEX: &str = "@ MX 10 mail.mailward.test.\n@ TXT \"v=spf1 mx -all\"";

fn person(id: &str, role: app::auth::Role) -> Actor {
    Actor::for_tests(
        Principal::User,
        Some(id.into()),
        format!("{id}@agency.example"),
        Some(role),
        TenantScope::All,
        Some("127.0.0.1".into()),
    )
}

fn alice() -> Actor {
    person("usr_alice", app::auth::Role::Operator)
}
fn bob() -> Actor {
    person("usr_bob", app::auth::Role::Operator)
}

async fn app_with(knot: &Knot, b: Backend) -> TestApp {
    let port = knot.port;
    TestApp::start_with(b, |c| {
        c.dns_resolver = Some(format!("127.0.0.1:{port}"));
        c.dns_port = port;
        c.dns_timeout_ms = 500;
        c.mail_host = Some("mail.mailward.test".into());
        c.dns_verify_seconds = 30;
        c.dns_verify_poll_seconds = 1;
    })
    .await
}

fn rfc2136(knot: &Knot, secret: &str) -> ProviderInput {
    ProviderInput {
        kind: "rfc2136".into(),
        server: format!("127.0.0.1:{}", knot.port),
        zone: String::new(),
        tsig_name: TSIG_NAME.into(),
        tsig_algorithm: "hmac-sha256".into(),
        tsig_secret: secret.into(),
        allow_unmanaged: None,
    }
}

fn ask(name: &str, rtype: &str, values: &[&str]) -> RecordChangeInput {
    RecordChangeInput {
        name: name.into(),
        rtype: rtype.into(),
        values: values.iter().map(|v| v.to_string()).collect(),
        reason: "ticket 42".into(),
    }
}

async fn phase(app: &TestApp, domain: &str, id: &str) -> (String, String) {
    let list = dns::domain_changes(&app.state, &bob(), domain)
        .await
        .unwrap();
    let c = list.iter().find(|c| c.id == id).expect("listed");
    (c.state.clone(), c.phase.clone())
}

async fn run_jobs(app: &TestApp) {
    jobs::run_pending(&app.state, "test").await.unwrap();
}

both!(rfc2136_changes_apply_verify_and_roll_back);
async fn rfc2136_changes_apply_verify_and_roll_back(b: Backend) {
    let knot = Knot::start_with_tsig(
        &[
            ("acme.example", APEX),
            ("mailward.test", "mail A 127.0.0.1"),
        ],
        &["acme.example"],
    );
    let app = app_with(&knot, b).await;
    let st = &app.state;
    let (_, ids) = app.tenant_with_domains("plan_pro", &["acme.example"]).await;
    let d = ids[0].as_str();

    // The provider: bad input is refused and changes nothing.
    for (bad, why) in [
        (
            ProviderInput {
                server: "ns.example.net".into(),
                ..rfc2136(&knot, TSIG_SECRET)
            },
            "IP",
        ),
        (
            ProviderInput {
                zone: "other.example".into(),
                ..rfc2136(&knot, TSIG_SECRET)
            },
            "zone",
        ),
        (
            ProviderInput {
                tsig_secret: "not base64!".into(),
                ..rfc2136(&knot, TSIG_SECRET)
            },
            "base64",
        ),
        (
            ProviderInput {
                tsig_algorithm: "hmac-md5".into(),
                ..rfc2136(&knot, TSIG_SECRET)
            },
            "algorithm",
        ),
        (
            ProviderInput {
                tsig_secret: String::new(),
                ..rfc2136(&knot, TSIG_SECRET)
            },
            "secret",
        ),
        (
            ProviderInput {
                allow_unmanaged: Some(true),
                ..rfc2136(&knot, TSIG_SECRET)
            },
            "owner",
        ),
    ] {
        let e = dns::set_provider(st, &alice(), d, &bad).await.unwrap_err();
        assert!(matches!(e, AppError::Invalid(_)), "{e:?}");
        assert!(e.to_string().contains(why), "{why}: {e}");
    }
    assert_eq!(dns::provider(st, &alice(), d).await.unwrap().kind, "manual");
    // A tenant's admin may not aim Mailward's updates at another port than DNS's.
    let tid = app::tenancy::service::domain(st, &bob(), d)
        .await
        .unwrap()
        .tenant_id;
    let admin = Actor::for_tests(
        Principal::User,
        Some("usr_ta".into()),
        "ta@client.example".into(),
        Some(app::auth::Role::TenantAdmin),
        TenantScope::Only(vec![tid]),
        None,
    );
    let e = dns::set_provider(st, &admin, d, &rfc2136(&knot, TSIG_SECRET))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("port 53"), "{e}");

    // A wrong secret: the test says the key was refused, and nothing is left behind.
    dns::set_provider(st, &alice(), d, &rfc2136(&knot, WRONG))
        .await
        .unwrap();
    let (ok, msg) = dns::test_provider(st, &alice(), d).await.unwrap();
    assert!(!ok && msg.contains("BADSIG or BADKEY"), "{msg}");
    // The right one: written, read back, removed. An empty secret keeps the stored one.
    dns::set_provider(st, &alice(), d, &rfc2136(&knot, TSIG_SECRET))
        .await
        .unwrap();
    dns::set_provider(st, &alice(), d, &rfc2136(&knot, ""))
        .await
        .unwrap();
    let (ok, msg) = dns::test_provider(st, &alice(), d).await.unwrap();
    assert!(ok, "{msg}");
    assert!(knot.txt("_mailward-test.acme.example").is_empty());
    let p = dns::provider(st, &bob(), d).await.unwrap();
    assert!(p.secret_set && p.kind == "rfc2136" && p.test_result.unwrap().contains("works"));
    let json = serde_json::to_string(&dns::provider(st, &bob(), d).await.unwrap()).unwrap();
    assert!(
        !json.contains(TSIG_SECRET),
        "the secret is never shown back"
    );

    // Requests outside the managed set, SOA, bad values: refused before the queue.
    for (input, why) in [
        (ask("www", "A", &["192.0.2.1"]), "outside"),
        (ask("@", "NS", &["ns9.example.net"]), "outside"),
        (ask("@", "SOA", &["x"]), "SOA"),
        (ask("@", "MX", &["ten mail.example"]), "MX value"),
        (ask("other.example.", "TXT", &["x"]), "not inside"),
        (ask("@", "TXT", &["v=spf1 mx -all"]), "already holds"),
        (
            RecordChangeInput {
                reason: " ".into(),
                ..ask("_dmarc", "TXT", &["v=DMARC1; p=none"])
            },
            "why",
        ),
    ] {
        let e = dns::request_change(st, &alice(), d, &input)
            .await
            .unwrap_err();
        assert!(e.to_string().contains(why), "{why}: {e}");
    }

    // 1. A change applied as a compare-and-swap and verified.
    let zone_before = knot.zone_dump("acme.example");
    let serial_before = knot.serial("acme.example");
    let id = dns::request_change(
        st,
        &alice(),
        d,
        &ask("_dmarc", "TXT", &["v=DMARC1; p=reject"]),
    )
    .await
    .unwrap();
    assert!(
        knot.txt("_dmarc.acme.example").is_empty(),
        "nothing before approval"
    );
    let own = changes::approve(st, &alice(), &id).await.unwrap_err();
    assert!(matches!(own, AppError::Invalid(_)), "{own:?}");
    let c = changes::approve(st, &bob(), &id).await.unwrap();
    assert_eq!(c.state, ChangeState::Applied, "{:?}", c.result);
    assert_eq!(knot.txt("_dmarc.acme.example"), ["v=DMARC1; p=reject"]);
    assert!(knot.serial("acme.example") > serial_before);
    let mut after = knot.zone_dump("acme.example");
    after.retain(|l| !l.starts_with("_dmarc.acme.example."));
    assert_eq!(after, zone_before, "nothing but the asked set changed");
    assert_eq!(phase(&app, d, &id).await.1, "verifying");
    run_jobs(&app).await;
    assert_eq!(phase(&app, d, &id).await.1, "verified");

    // 2. Rolled back through the queue (a second person), verified again.
    let rb = changes::request_rollback(st, &alice(), &id, "client wants none")
        .await
        .unwrap();
    let rb = changes::approve(st, &bob(), &rb.id).await.unwrap();
    assert_eq!(rb.state, ChangeState::Applied, "{:?}", rb.result);
    assert!(knot.txt("_dmarc.acme.example").is_empty());
    assert_eq!(
        phase(&app, d, &id).await,
        ("rolled_back".into(), "rolling_back".into())
    );
    run_jobs(&app).await;
    assert_eq!(phase(&app, d, &id).await.1, "rolled_back");
    assert_eq!(knot.zone_dump("acme.example"), zone_before);

    // 3. The live set moved between request and approval: nothing is sent.
    let id = dns::request_change(
        st,
        &alice(),
        d,
        &ask(
            "@",
            "MX",
            &["10 mail.mailward.test", "20 mail.mailward.test"],
        ),
    )
    .await
    .unwrap();
    knot.update(
        "acme.example",
        &[Knot::add_line(
            "acme.example",
            "MX",
            "30 backup.mailward.test.",
        )],
    );
    let moved = knot.zone_dump("acme.example");
    let e = changes::approve(st, &bob(), &id).await.unwrap_err();
    assert!(e.to_string().contains("moved since the request"), "{e}");
    assert_eq!(
        changes::get(st, &bob(), &id).await.unwrap().state,
        ChangeState::Failed
    );
    assert_eq!(
        knot.zone_dump("acme.example"),
        moved,
        "the zone did not change"
    );

    // 4. The server refuses (a wrong key now): the change fails and the zone is identical.
    let id = dns::request_change(st, &alice(), d, &ask("@", "MX", &["10 mail.mailward.test"]))
        .await
        .unwrap();
    dns::set_provider(st, &alice(), d, &rfc2136(&knot, WRONG))
        .await
        .unwrap();
    let e = changes::approve(st, &bob(), &id).await.unwrap_err();
    assert!(e.to_string().contains("TSIG"), "{e}");
    assert_eq!(
        knot.zone_dump("acme.example"),
        moved,
        "byte-identical after a refusal"
    );
    dns::set_provider(st, &alice(), d, &rfc2136(&knot, TSIG_SECRET))
        .await
        .unwrap();
    // A compare-and-swap whose before-state is stale is refused whole by the server.
    let w = app::dns::service::update::ZoneWriter::new(
        &format!("127.0.0.1:{}", knot.port),
        "acme.example",
        Some(app::dns::service::update::read_tsig(&knot.tsig_file(TSIG_SECRET)).unwrap()),
        500,
        "test",
    )
    .unwrap();
    let stale = [dns::parse_value(hickory_proto_mx(), "10 mail.mailward.test").unwrap()];
    let fresh = [dns::parse_value(hickory_proto_mx(), "5 evil.example").unwrap()];
    let e = w
        .swap("acme.example", hickory_proto_mx(), &stale, &fresh, 60)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no longer holds"), "{e}");
    assert_eq!(knot.zone_dump("acme.example"), moved);

    // 5. A nameserver that never serves the change: verification fails after its time and the
    //    before-state goes back by itself (no second person), verified the same way.
    let secondary_body =
        format!("{APEX}\n@ MX 30 backup.mailward.test.\n@ NS ns2\nns2 A 127.0.0.2");
    let _stale = Knot::start_at("127.0.0.2", knot.port, &[("acme.example", &secondary_body)]);
    knot.update(
        "acme.example",
        &[
            Knot::add_line("acme.example", "NS", "ns2.acme.example."),
            Knot::add_line("ns2.acme.example", "A", "127.0.0.2"),
        ],
    );
    let zone_before = knot.zone_dump("acme.example");
    let id = dns::request_change(st, &alice(), d, &ask("@", "TXT", &["v=spf1 mx a -all"]))
        .await
        .unwrap();
    changes::approve(st, &bob(), &id).await.unwrap();
    assert_eq!(knot.txt("acme.example"), ["v=spf1 mx a -all"]);
    run_jobs(&app).await;
    let list = dns::domain_changes(st, &bob(), d).await.unwrap();
    let c = list.iter().find(|c| c.id == id).unwrap();
    assert_eq!(c.phase, "verifying");
    assert_eq!(c.checks[0].ok, Some(false), "{:?}", c.checks);
    assert!(
        c.checks[0].detail.contains("ns2.acme.example: still"),
        "{}",
        c.checks[0].detail
    );
    st.clock.advance(31);
    run_jobs(&app).await;
    assert_eq!(
        knot.txt("acme.example"),
        ["v=spf1 mx -all"],
        "rolled back by itself"
    );
    assert_eq!(
        phase(&app, d, &id).await,
        ("rolled_back".into(), "rolling_back".into())
    );
    st.clock.advance(2);
    run_jobs(&app).await;
    let list = dns::domain_changes(st, &bob(), d).await.unwrap();
    let c = list.iter().find(|c| c.id == id).unwrap();
    assert_eq!(c.phase, "rolled_back", "{:?}", c.checks);
    assert!(
        c.note
            .as_deref()
            .unwrap_or("")
            .contains("Rolled back automatically"),
        "{:?}",
        c.note
    );
    assert_eq!(
        knot.zone_dump("acme.example"),
        zone_before,
        "the zone is back to its before-state"
    );
    let actions = app.audit_actions().await;
    for a in [
        "dns.provider_set",
        "dns.provider_tested",
        "dns.record_updated",
        "dns.change_verified",
        "dns.change_verify_failed",
        "dns.rollback_verified",
        "change.rolled_back",
    ] {
        assert!(actions.contains(&a.to_string()), "{a}");
    }
    // A change whose verification is still running cannot be rolled back by the queue.
    let id = dns::request_change(
        st,
        &alice(),
        d,
        &ask("_dmarc", "TXT", &["v=DMARC1; p=none"]),
    )
    .await
    .unwrap();
    changes::approve(st, &bob(), &id).await.unwrap();
    let e = changes::request_rollback(st, &alice(), &id, "oops")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("still being verified"), "{e}");
}

fn hickory_proto_mx() -> app::dns::service::update::Rtype {
    app::dns::service::update::Rtype::MX
}

both!(manual_changes_wait_for_entry);
async fn manual_changes_wait_for_entry(b: Backend) {
    let knot = Knot::start(&[
        ("globex.example", APEX),
        ("mailward.test", "mail A 127.0.0.1"),
    ]);
    let app = app_with(&knot, b).await;
    let st = &app.state;
    let (_, ids) = app
        .tenant_with_domains("plan_pro", &["globex.example"])
        .await;
    let d = ids[0].as_str();
    let id = dns::request_change(
        st,
        &alice(),
        d,
        &ask("_dmarc", "TXT", &["v=DMARC1; p=quarantine"]),
    )
    .await
    .unwrap();
    let c = changes::approve(st, &bob(), &id).await.unwrap();
    assert!(c.result.unwrap().contains("Entered"));
    let list = dns::domain_changes(st, &bob(), d).await.unwrap();
    let c = list.iter().find(|c| c.id == id).unwrap();
    assert_eq!(c.phase, "awaiting_entry");
    assert!(c.manual);
    assert!(
        c.zone_snippet
            .contains("_dmarc.globex.example. 300 IN TXT \"v=DMARC1; p=quarantine\""),
        "{}",
        c.zone_snippet
    );
    assert!(
        c.rollback_zone.contains("no TXT records"),
        "{}",
        c.rollback_zone
    );
    // Nothing is verified before someone says it was entered; then it is, once served.
    run_jobs(&app).await;
    assert_eq!(phase(&app, d, &id).await.1, "awaiting_entry");
    dns::mark_entered(st, &alice(), &id).await.unwrap();
    let again = dns::mark_entered(st, &bob(), &id).await.unwrap_err();
    assert!(matches!(again, AppError::Conflict(_)), "{again:?}");
    run_jobs(&app).await;
    assert_eq!(phase(&app, d, &id).await.1, "verifying");
    knot.update(
        "globex.example",
        &[Knot::add_line(
            "_dmarc.globex.example",
            "TXT",
            "v=DMARC1; p=quarantine",
        )],
    );
    st.clock.advance(2);
    run_jobs(&app).await;
    assert_eq!(phase(&app, d, &id).await.1, "verified");
    // Not entered in time: the verification fails and says what to restore.
    let id = dns::request_change(
        st,
        &alice(),
        d,
        &ask("_dmarc", "TXT", &["v=DMARC1; p=reject"]),
    )
    .await
    .unwrap();
    changes::approve(st, &bob(), &id).await.unwrap();
    dns::mark_entered(st, &alice(), &id).await.unwrap();
    st.clock.advance(31);
    run_jobs(&app).await;
    let list = dns::domain_changes(st, &bob(), d).await.unwrap();
    let c = list.iter().find(|c| c.id == id).unwrap();
    assert_eq!(c.phase, "failed");
    assert!(c
        .note
        .as_deref()
        .unwrap()
        .contains("Not seen on every nameserver"));
    assert!(
        c.rollback_zone.contains("p=quarantine"),
        "{}",
        c.rollback_zone
    );
}

fn spf(slug: &str, value: &str) -> BulkInput {
    BulkInput {
        tenant: slug.into(),
        operation: "set".into(),
        name: "@".into(),
        rtype: "TXT".into(),
        values: vec![value.into()],
        batch_size: Some(2),
        reason: "the client moves its outgoing relay".into(),
        ..Default::default()
    }
}

async fn plan_state(app: &TestApp, id: &str) -> app::dns::BulkPlan {
    bulk::bulk_plan(&app.state, &bob(), id).await.unwrap()
}

/// A nameserver on another loopback address that serves its own copy of `zone` (never
/// updated), added to the zone's NS set on the primary: what a stale secondary looks like.
fn stale_secondary(knot: &Knot, zone: &str, ip: &str, label: &str) -> Knot {
    let body = format!("{APEX}\n@ NS {label}\n{label} A {ip}");
    let k = Knot::start_at(ip, knot.port, &[(zone, &body)]);
    knot.update(
        zone,
        &[
            Knot::add_line(zone, "NS", &format!("{label}.{zone}.")),
            Knot::add_line(&format!("{label}.{zone}"), "A", ip),
        ],
    );
    k
}

both!(bulk_changes_canary_batches_rollback_and_resume);
async fn bulk_changes_canary_batches_rollback_and_resume(b: Backend) {
    let names: Vec<String> = (0..7).map(|i| format!("d{i}.example")).collect();
    let mut zones: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), APEX)).collect();
    zones.push(("mailward.test", "mail A 127.0.0.1"));
    let signed: Vec<&str> = names.iter().map(String::as_str).collect();
    let knot = Knot::start_with_tsig(&zones, &signed);
    let app = app_with(&knot, b).await;
    let st = &app.state;
    let (slug, ids) = app.tenant_with_domains("plan_agency", &signed).await;
    for id in &ids {
        dns::set_provider(st, &alice(), id, &rfc2136(&knot, TSIG_SECRET))
            .await
            .unwrap();
    }
    let spf_of = |n: &str| knot.txt(n);
    let old = "v=spf1 mx -all";

    // Bad input: refused, nothing planned.
    for (input, why) in [
        (
            BulkInput {
                operation: "bogus".into(),
                ..spf(&slug, "x")
            },
            "Choose what to do",
        ),
        (
            BulkInput {
                category: "nope".into(),
                ..spf(&slug, "x")
            },
            "no category",
        ),
        (
            BulkInput {
                batch_size: Some(0),
                ..spf(&slug, "x")
            },
            "batch",
        ),
        (
            BulkInput {
                reason: "".into(),
                ..spf(&slug, "x")
            },
            "why",
        ),
        (
            BulkInput {
                domain: "other.example".into(),
                ..spf(&slug, "x")
            },
            "No domain",
        ),
        (spf(&slug, old), "Nothing to change"),
    ] {
        let e = bulk::plan(st, &alice(), &input).await.unwrap_err();
        assert!(e.to_string().contains(why), "{why}: {e}");
    }

    // 1. Canary d0, then batches of two; every domain's diff listed; nothing sent yet.
    let new = "v=spf1 mx a -all";
    let id = bulk::plan(st, &alice(), &spf(&slug, new)).await.unwrap();
    let p = plan_state(&app, &id).await;
    assert_eq!(
        (p.items.len(), p.batches, p.state.as_str()),
        (7, 3, "planned")
    );
    assert!(
        p.unsafe_zones.is_empty(),
        "1 of 4 records: {:?}",
        p.unsafe_zones
    );
    let batches: Vec<(String, i64)> = p
        .items
        .iter()
        .map(|i| (i.domain.clone(), i.batch))
        .collect();
    assert_eq!(batches[0], ("d0.example".into(), 0));
    assert_eq!(
        batches[1..3],
        [("d1.example".into(), 1), ("d2.example".into(), 1)]
    );
    assert_eq!(batches[6], ("d6.example".into(), 3));
    assert_eq!(p.items[0].before, [old]);
    assert_eq!(spf_of("d0.example"), [old]);
    // Another tenant's plan is not found; the tenant's viewer reads it.
    let outsider = Actor::for_tests(
        Principal::User,
        Some("usr_out".into()),
        "out@agency.example".into(),
        Some(app::auth::Role::TenantAdmin),
        TenantScope::Only(vec!["tnt_other".into()]),
        None,
    );
    let e = bulk::bulk_plan(st, &outsider, &id).await.unwrap_err();
    assert!(matches!(e, AppError::NotFound), "{e:?}");
    let tenant_id = app::tenancy::service::domain(st, &bob(), &ids[0])
        .await
        .unwrap()
        .tenant_id;
    let viewer = Actor::for_tests(
        Principal::User,
        Some("usr_view".into()),
        "view@client.example".into(),
        Some(app::auth::Role::ClientViewer),
        TenantScope::Only(vec![tenant_id]),
        None,
    );
    assert_eq!(
        bulk::bulk_plan(st, &viewer, &id).await.unwrap().items.len(),
        7
    );
    let e = bulk::override_unsafe(st, &viewer, &id, "looks fine to me")
        .await
        .unwrap_err();
    assert!(matches!(e, AppError::Forbidden), "{e:?}");
    let own = changes::approve(st, &alice(), &id).await.unwrap_err();
    assert!(matches!(own, AppError::Invalid(_)), "{own:?}");
    changes::approve(st, &bob(), &id).await.unwrap();
    run_jobs(&app).await;
    let p = plan_state(&app, &id).await;
    assert_eq!(p.state, "done", "{:?}", p.note);
    assert_eq!(p.verified, 7);
    for n in &names {
        assert_eq!(spf_of(n), [new], "{n}");
        assert_eq!(knot.serial(n), 2, "{n}: one update each");
    }

    // 2. The whole plan rolled back through the queue.
    let rb = changes::request_rollback(st, &alice(), &id, "the relay move was postponed")
        .await
        .unwrap();
    changes::approve(st, &bob(), &rb.id).await.unwrap();
    run_jobs(&app).await;
    assert_eq!(plan_state(&app, &id).await.state, "undone");
    for n in &names {
        assert_eq!(spf_of(n), [old], "{n}");
        assert_eq!(knot.serial(n), 3, "{n}");
    }

    // 3. The canary is not seen on one of its nameservers: it is rolled back and the plan
    //    stops before the first batch; no other domain is touched.
    let stale0 = stale_secondary(&knot, "d0.example", "127.0.0.2", "ns2");
    let serials: Vec<u32> = names.iter().map(|n| knot.serial(n)).collect();
    let id = bulk::plan(st, &alice(), &spf(&slug, "v=spf1 mx ip4:192.0.2.1 -all"))
        .await
        .unwrap();
    changes::approve(st, &bob(), &id).await.unwrap();
    run_jobs(&app).await;
    let p = plan_state(&app, &id).await;
    assert_eq!(
        (p.state.as_str(), p.stage.as_str(), p.batch),
        ("running", "verify", 0)
    );
    st.clock.advance(31);
    run_jobs(&app).await;
    st.clock.advance(2);
    run_jobs(&app).await;
    let p = plan_state(&app, &id).await;
    assert_eq!(p.state, "stopped", "{:?}", p.note);
    let note = p.note.clone().unwrap();
    assert!(
        note.contains("the canary") && note.contains("ns2.d0.example"),
        "{note}"
    );
    assert_eq!(spf_of("d0.example"), [old]);
    for (i, n) in names.iter().enumerate().skip(1) {
        assert_eq!(spf_of(n), [old], "{n}");
        assert_eq!(knot.serial(n), serials[i], "{n} was never touched");
    }
    assert!(p.items[1..].iter().all(|i| i.state == "pending"));
    drop(stale0);
    knot.update(
        "d0.example",
        &["update delete d0.example. NS ns2.d0.example.".to_string()],
    );

    // 4. Batch 2 (d3, d4) fails: it is rolled back, the canary and batch 1 stay, batch 3 is
    //    never touched.
    let _stale3 = stale_secondary(&knot, "d3.example", "127.0.0.3", "ns3");
    let serials: Vec<u32> = names.iter().map(|n| knot.serial(n)).collect();
    let newer = "v=spf1 mx ip4:192.0.2.7 -all";
    let id = bulk::plan(st, &alice(), &spf(&slug, newer)).await.unwrap();
    changes::approve(st, &bob(), &id).await.unwrap();
    run_jobs(&app).await;
    let p = plan_state(&app, &id).await;
    assert_eq!((p.stage.as_str(), p.batch), ("verify", 2), "{:?}", p.note);
    st.clock.advance(31);
    run_jobs(&app).await;
    st.clock.advance(2);
    run_jobs(&app).await;
    let p = plan_state(&app, &id).await;
    assert_eq!(p.state, "stopped", "{:?}", p.note);
    assert!(
        p.note.as_deref().unwrap().contains("batch 2"),
        "{:?}",
        p.note
    );
    for n in ["d0.example", "d1.example", "d2.example"] {
        assert_eq!(spf_of(n), [newer], "{n} stays");
    }
    for n in ["d3.example", "d4.example"] {
        assert_eq!(spf_of(n), [old], "{n} rolled back");
    }
    for (i, n) in names.iter().enumerate().skip(5) {
        assert_eq!(spf_of(n), [old]);
        assert_eq!(knot.serial(n), serials[i], "{n} never touched");
    }
    let actions = app.audit_actions().await;
    for a in [
        "dns.bulk_planned",
        "dns.bulk_batch_applied",
        "dns.bulk_batch_verified",
        "dns.bulk_batch_failed",
        "dns.bulk_batch_rolled_back",
        "dns.bulk_stopped",
        "dns.bulk_done",
        "dns.bulk_undone",
    ] {
        assert!(actions.contains(&a.to_string()), "{a}");
    }

    // 5. A run that stopped after sending an update but before recording it (kill -9):
    //    resuming finds the set already holding its after-value and does not send it again.
    let latest = "v=spf1 mx ip4:192.0.2.9 -all";
    let id = bulk::plan(
        st,
        &alice(),
        &BulkInput {
            domain: "d6.example".into(),
            ..spf(&slug, latest)
        },
    )
    .await
    .unwrap();
    changes::approve(st, &bob(), &id).await.unwrap();
    knot.update(
        "d6.example",
        &[
            "update delete d6.example. TXT".to_string(),
            Knot::add_line("d6.example", "TXT", latest),
        ],
    );
    let serial = knot.serial("d6.example");
    run_jobs(&app).await;
    let p = plan_state(&app, &id).await;
    assert_eq!(p.state, "done", "{:?}", p.note);
    assert!(
        p.items[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("not sent again"),
        "{:?}",
        p.items[0].detail
    );
    assert_eq!(knot.serial("d6.example"), serial, "no second update");

    // 6. Unsafe: restoring d5's baseline would replace half its records; approving waits for
    //    an override by someone other than the requester.
    knot.update(
        "d5.example",
        &[
            "update delete d5.example. MX".to_string(),
            Knot::add_line("d5.example", "MX", "20 other.mailward.test."),
            "update delete d5.example. TXT".to_string(),
            Knot::add_line("d5.example", "TXT", "v=spf1 a -all"),
        ],
    );
    let restore = BulkInput {
        tenant: slug.clone(),
        operation: "restore".into(),
        domain: "d5.example".into(),
        reason: "drift found by the scanner".into(),
        ..Default::default()
    };
    let id = bulk::plan(st, &alice(), &restore).await.unwrap();
    let p = plan_state(&app, &id).await;
    assert_eq!(p.unsafe_zones.len(), 1, "{:?}", p.unsafe_zones);
    assert_eq!(p.unsafe_zones[0].0, "d5.example");
    let e = changes::approve(st, &bob(), &id).await.unwrap_err();
    assert!(e.to_string().contains("Override"), "{e}");
    assert_eq!(
        changes::get(st, &bob(), &id).await.unwrap().state,
        ChangeState::Pending
    );
    let e = bulk::override_unsafe(st, &alice(), &id, "I know what I do")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("someone else"), "{e}");
    bulk::override_unsafe(st, &bob(), &id, "the zone only holds mail records")
        .await
        .unwrap();
    let e = bulk::override_unsafe(st, &bob(), &id, "again, to be sure")
        .await
        .unwrap_err();
    assert!(matches!(e, AppError::Conflict(_)), "{e:?}");
    changes::approve(st, &bob(), &id).await.unwrap();
    run_jobs(&app).await;
    let p = plan_state(&app, &id).await;
    assert_eq!(p.state, "done", "{:?}", p.note);
    assert_eq!(spf_of("d5.example"), [old]);
    assert!(
        p.items.iter().any(|i| i.fqdn == "_dmarc.d5.example"),
        "missing sets are added too"
    );
}

both!(bulk_run_killed_mid_way_resumes_without_a_double_apply);
/// The real binary runs a bulk plan and is killed (SIGKILL) once it has applied some of it;
/// the next worker takes the job over when its heartbeat is stale and finishes the plan.
/// Every zone's serial moved exactly once: nothing was applied twice.
async fn bulk_run_killed_mid_way_resumes_without_a_double_apply(b: Backend) {
    let names: Vec<String> = (0..40).map(|i| format!("k{i:02}.example")).collect();
    let mut zones: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), APEX)).collect();
    zones.push(("mailward.test", "mail A 127.0.0.1"));
    let signed: Vec<&str> = names.iter().map(String::as_str).collect();
    let knot = Knot::start_with_tsig(&zones, &signed);
    let app = app_with(&knot, b).await;
    let st = &app.state;
    let (slug, ids) = app.tenant_with_domains("plan_agency", &signed).await;
    for id in &ids {
        dns::set_provider(st, &alice(), id, &rfc2136(&knot, TSIG_SECRET))
            .await
            .unwrap();
    }
    let new = "v=spf1 mx ip4:198.51.100.25 -all";
    let id = bulk::plan(
        st,
        &alice(),
        &BulkInput {
            batch_size: Some(5),
            ..spf(&slug, new)
        },
    )
    .await
    .unwrap();
    changes::approve(st, &bob(), &id).await.unwrap();

    let mut child = app
        .cli()
        .env("MAILWARD_DNS_RESOLVER", format!("127.0.0.1:{}", knot.port))
        .env("MAILWARD_DNS_PORT", knot.port.to_string())
        .env(
            "MAILWARD_DKIM_KEY_FILE",
            st.config.dkim_key_file.clone().unwrap(),
        )
        .args(["jobs", "run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("mailward");
    // Killed as soon as it has applied something.
    let mut at_kill = 0;
    for _ in 0..2000 {
        let p = plan_state(&app, &id).await;
        at_kill = p.applied + p.verified;
        if at_kill > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let p = plan_state(&app, &id).await;
    let done_at_kill = p.applied + p.verified;
    eprintln!("killed with {done_at_kill} of 40 record sets applied");
    assert!(at_kill > 0, "the binary never got to the plan");
    assert!(
        done_at_kill < 40,
        "killed mid-way (it had done {done_at_kill} of 40)"
    );
    assert_eq!(p.state, "running");

    // The next worker takes it over once the killed one's heartbeat is stale.
    st.clock.advance(jobs::STALE_SECS + 1);
    run_jobs(&app).await;
    let p = plan_state(&app, &id).await;
    assert_eq!(p.state, "done", "{:?}", p.note);
    assert_eq!(p.verified, 40);
    for n in &names {
        assert_eq!(knot.txt(n), [new], "{n}");
        assert_eq!(knot.serial(n), 2, "{n}: exactly one update");
    }
}

/// Benchmark (not run by default): `cargo test -p mailward-tests --test it dns_changes::bench
/// -- --ignored --nocapture` (bench/dns runs it). A bulk change of the SPF record across N
/// domains (MAILWARD_BENCH_DOMAINS, default 500) on a local Knot: planning (each domain's
/// before read live and its zone counted by AXFR), then the run — a canary and batches of 50,
/// each verified on every nameserver. `bench_bulk_probed` runs the same with the mail probes
/// of every domain through a real mail plane after each batch (needs root, as the mail-plane
/// tests do): the difference is the probes' share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_bulk() {
    bench_bulk_with(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_bulk_probed() {
    bench_bulk_with(true).await;
}

async fn bench_bulk_with(probed: bool) {
    let n: usize = std::env::var("MAILWARD_BENCH_DOMAINS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let names: Vec<String> = (0..n).map(|i| format!("b{i:05}.example")).collect();
    let mut zones: Vec<(&str, &str)> = names.iter().map(|d| (d.as_str(), APEX)).collect();
    zones.push(("mailward.test", "mail A 127.0.0.1"));
    // DMARC's tree walk (the probes' check) asks `_dmarc.example`: an answer, not a refusal.
    zones.push(("example", ""));
    let signed: Vec<&str> = names.iter().map(String::as_str).collect();
    let knot = Knot::start_with_tsig(&zones, &signed);
    let app = app_with(&knot, Backend::Sqlite).await;
    let base = app.state.clone();
    let st = &base;
    let sys = Actor::system("bench");
    let plan = app::tenancy::service::create_plan(
        st,
        &sys,
        &app::tenancy::service::NewPlan {
            name: "Bench".into(),
            max_domains: 10_000,
            storage_gb: 1.0,
            managed_smtp: false,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let tn = app::tenancy::service::create_tenant(
        st,
        &sys,
        &app::tenancy::service::NewTenant {
            name: "Bench".into(),
            plan_id: plan.id.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    for d in &names {
        let dom = app::tenancy::service::add_domain(st, &sys, &tn.slug, d, "")
            .await
            .unwrap();
        // Live on the mail plane (probes are sent only to domains that take mail).
        app::tenancy::service::activate_unverified(st, &sys, &dom.id, "bench")
            .await
            .unwrap();
        dns::set_provider(st, &alice(), d, &rfc2136(&knot, TSIG_SECRET))
            .await
            .unwrap();
    }
    // With probes: a probe mailbox in the first domain, a mail plane rendered for it.
    let mut _mail_plane = None;
    let probed_state = if probed {
        let first = app::tenancy::service::domain(st, &sys, &names[0])
            .await
            .unwrap();
        let w = crate::routing::World {
            sink: mailward_tests::SmtpSink::start().await,
            app,
            slug: tn.slug.clone(),
            domain: first.id.clone(),
        };
        let probe_box = w.mailbox("probe").await;
        let address = format!("probe@{}", names[0]);
        let mp = mailward_tests::mailplane::MailPlane::start_probing(&w.app, None, &address).await;
        let (pst, _) = probing(&w.app, &mp, &probe_box, &address).await;
        _mail_plane = Some((mp, w));
        Some(pst)
    } else {
        None
    };
    let st = probed_state.as_ref().unwrap_or(st);
    let started = std::time::Instant::now();
    let id = bulk::plan(
        st,
        &alice(),
        &BulkInput {
            batch_size: Some(50),
            ..spf(&tn.slug, "v=spf1 mx a -all")
        },
    )
    .await
    .unwrap();
    let planned = started.elapsed();
    changes::approve(st, &bob(), &id).await.unwrap();
    let started = std::time::Instant::now();
    let p = loop {
        jobs::run_pending(st, "bench").await.unwrap();
        let p = bulk::bulk_plan(st, &bob(), &id).await.unwrap();
        if p.state != "running" {
            break p;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let ran = started.elapsed();
    assert_eq!(p.state, "done", "{:?}", p.note);
    println!(
        "dns bulk{}, {n} domains: plan (live before + AXFR count) {} ms; run (canary + {} batches \
         of 50, verified{}) {} ms ({:.1} ms per domain)",
        if probed { " with mail probes" } else { "" },
        planned.as_millis(),
        p.batches,
        if probed {
            ", every domain probed in and out, DKIM/SPF/DMARC checked"
        } else {
            ""
        },
        ran.as_millis(),
        ran.as_secs_f64() * 1000.0 / n as f64
    );
}

both!(parallel_approvals_apply_one_dns_change_once);
/// Twenty approvers click at once: one approval wins, one UPDATE reaches the server (the
/// serial moves once), the others are told it was decided already.
async fn parallel_approvals_apply_one_dns_change_once(b: Backend) {
    let knot = Knot::start_with_tsig(
        &[
            ("acme.example", APEX),
            ("mailward.test", "mail A 127.0.0.1"),
        ],
        &["acme.example"],
    );
    let app = app_with(&knot, b).await;
    let st = &app.state;
    let (_, ids) = app.tenant_with_domains("plan_pro", &["acme.example"]).await;
    let d = ids[0].as_str();
    dns::set_provider(st, &alice(), d, &rfc2136(&knot, TSIG_SECRET))
        .await
        .unwrap();
    let id = dns::request_change(
        st,
        &alice(),
        d,
        &ask("_dmarc", "TXT", &["v=DMARC1; p=none"]),
    )
    .await
    .unwrap();
    let serial = knot.serial("acme.example");
    let approvers: Vec<Actor> = (0..20)
        .map(|i| person(&format!("usr_op{i}"), app::auth::Role::Operator))
        .collect();
    let results =
        crate::dns::futures_join(approvers.iter().map(|a| changes::approve(st, a, &id))).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(
        won,
        1,
        "{:?}",
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .collect::<Vec<_>>()
    );
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            e.to_string().contains("already decided") || matches!(e, AppError::Db(_)),
            "{e}"
        );
    }
    assert_eq!(knot.serial("acme.example"), serial + 1, "one UPDATE");
    assert_eq!(knot.txt("_dmarc.acme.example"), ["v=DMARC1; p=none"]);
}

/// `app`'s state with mail probes through `mp`: the probe mailbox `probe_box` (`address`,
/// password `routing::PW`); the address outside forwards back to mailward-probe@ its domain.
/// With the probe mailbox's Maildir.
async fn probing(
    app: &TestApp,
    mp: &mailward_tests::mailplane::MailPlane,
    probe_box: &str,
    address: &str,
) -> (app::core::state::AppState, std::path::PathBuf) {
    use app::core::config::{ProbeConfig, SmtpConfig};
    let domain = address.split_once('@').unwrap().1;
    mp.relay
        .forward_to(mp.smtp, &format!("mailward-probe@{domain}"));
    let tenant: String = sqlx::query_scalar("SELECT tenant_id FROM mailboxes WHERE id = $1")
        .bind(probe_box)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    let maildir = mp.maildir(&tenant, probe_box);
    let mut cfg = (*app.state.config).clone();
    cfg.probe = Some(ProbeConfig {
        inbound: format!("127.0.0.1:{}", mp.smtp),
        submission: SmtpConfig {
            host: "127.0.0.1".into(),
            port: mp.submission,
            from: address.into(),
            username: Some(address.into()),
            password: Some(crate::routing::PW.into()),
            tls: Some("starttls".into()),
            tls_ca_file: Some(mp.ca_file().display().to_string()),
            ..SmtpConfig::default()
        },
        maildir: maildir.display().to_string(),
        outbound_to: "return@outside.example".into(),
        sending_ip: "127.0.0.1".into(),
        helo: "mail.localhost".into(),
        // A failing authentication is final only at the deadline (resolver caches).
        wait_seconds: 12,
    });
    cfg.validate().unwrap();
    let mut st = app.state.clone();
    st.config = std::sync::Arc::new(cfg);
    (st, maildir)
}

/// The mail probes of a change's verification, against the real mail plane: once every
/// nameserver serves the change, a probe comes in on port 25 to mailward-probe@ the domain and
/// one leaves through submission to an address outside that forwards it back; both reach the
/// probe mailbox and the returned one passes SPF and DMARC (mail-auth, asking Knot) — the
/// change is verified. A change that breaks SPF fails the authentication check and is rolled
/// back by itself: the zone is back to its before-state and the note says why.
async fn mail_probes_verify_a_change_or_roll_it_back(b: Backend) {
    use mailward_tests::mailplane::MailPlane;
    // `example` too: DMARC's tree walk asks `_dmarc.example`, which must be an answer.
    let knot = Knot::start_with_tsig(
        &[
            (
                "acme.example",
                &format!("{APEX}\n_dmarc TXT \"v=DMARC1; p=none\""),
            ),
            ("mailward.test", "mail A 127.0.0.1"),
            ("example", ""),
        ],
        &["acme.example"],
    );
    let app = app_with(&knot, b).await;
    let (slug, mut domains) = app.tenant_with_domains("plan_pro", &["acme.example"]).await;
    let w = crate::routing::World {
        sink: mailward_tests::SmtpSink::start().await,
        app,
        slug,
        domain: domains.remove(0),
    };
    let d = w.domain.clone();
    let probe_box = w.mailbox("probe").await;
    let mp = MailPlane::start_probing(&w.app, None, "probe@acme.example").await;
    let (st, maildir) = probing(&w.app, &mp, &probe_box, "probe@acme.example").await;
    let st = &st;
    dns::set_provider(st, &alice(), &d, &rfc2136(&knot, TSIG_SECRET))
        .await
        .unwrap();
    let d = &d;
    let settle = |id: String| async move {
        for _ in 0..120 {
            jobs::run_pending(st, "test").await.unwrap();
            let list = dns::domain_changes(st, &bob(), d).await.unwrap();
            let c = list.into_iter().find(|c| c.id == id).unwrap();
            if !["verifying", "rolling_back"].contains(&c.phase.as_str()) {
                return c;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        panic!("the verification did not end");
    };

    // 1. DMARC from p=none to p=quarantine: every check passes.
    let id = dns::request_change(
        st,
        &alice(),
        &w.domain,
        &ask("_dmarc", "TXT", &["v=DMARC1; p=quarantine"]),
    )
    .await
    .unwrap();
    changes::approve(st, &bob(), &id).await.unwrap();
    let c = settle(id).await;
    let text = |c: &app::dns::DnsChange| {
        c.checks
            .iter()
            .map(|k| format!("{} {:?}: {}", k.name, k.ok, k.detail))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(c.phase, "verified", "{}\n{:?}", text(&c), c.note);
    let names: Vec<&str> = c.checks.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "nameservers",
            "inbound mail",
            "outbound mail",
            "authentication"
        ]
    );
    assert!(c.checks.iter().all(|k| k.ok == Some(true)), "{}", text(&c));
    let auth = &c.checks[3].detail;
    assert!(
        auth.contains("SPF pass for 127.0.0.1") && auth.contains("DMARC pass"),
        "{auth}"
    );
    // Both probes were read and taken out of the probe mailbox.
    let left = std::fs::read_dir(maildir.join("new"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "probes are removed once read");

    // 2. SPF that no longer allows the mail plane: authentication fails, the change is
    // rolled back by itself and verified back.
    let zone_before = knot.zone_dump("acme.example");
    let id = dns::request_change(st, &alice(), &w.domain, &ask("@", "TXT", &["v=spf1 -all"]))
        .await
        .unwrap();
    changes::approve(st, &bob(), &id).await.unwrap();
    let c = settle(id.clone()).await;
    assert_eq!(c.phase, "rolled_back", "{}\n{:?}", text(&c), c.note);
    let note = c.note.clone().unwrap_or_default();
    assert!(
        note.contains("The mail probes failed") && note.contains("SPF fail"),
        "{note}"
    );
    assert_eq!(
        knot.zone_dump("acme.example"),
        zone_before,
        "back to before"
    );
    assert_eq!(
        changes::get(st, &bob(), &id).await.unwrap().state,
        ChangeState::RolledBack
    );

    // 3. A bulk change is probed after its batch the same way: SPF widened → done.
    let run_plan = |id: String| async move {
        for _ in 0..120 {
            jobs::run_pending(st, "test").await.unwrap();
            let p = bulk::bulk_plan(st, &bob(), &id).await.unwrap();
            if !["planned", "running", "undoing"].contains(&p.state.as_str()) {
                return p;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        panic!("the plan did not end");
    };
    let id = bulk::plan(st, &alice(), &spf(&w.slug, "v=spf1 mx a -all"))
        .await
        .unwrap();
    changes::approve(st, &bob(), &id).await.unwrap();
    let p = run_plan(id).await;
    assert_eq!(p.state, "done", "{:?}", p.note);
    assert_eq!(knot.txt("acme.example"), ["v=spf1 mx a -all"]);
    // 4. A bulk change that breaks SPF: the canary's probes fail, it is rolled back and
    // the plan stops.
    let id = bulk::plan(st, &alice(), &spf(&w.slug, "v=spf1 -all"))
        .await
        .unwrap();
    changes::approve(st, &bob(), &id).await.unwrap();
    let p = run_plan(id).await;
    assert_eq!(p.state, "stopped", "{:?}", p.note);
    let note = p.note.clone().unwrap_or_default();
    assert!(
        note.contains("The mail probes of the canary failed")
            && note.contains("SPF fail")
            && note.contains("rolled back and verified"),
        "{note}"
    );
    assert_eq!(knot.txt("acme.example"), ["v=spf1 mx a -all"]);
}
both!(mail_probes_verify_a_change_or_roll_it_back);
