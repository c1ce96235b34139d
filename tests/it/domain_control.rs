//! The domain-control registry on both databases: warnings fire as alerts at the right dates
//! under the test clock (expiry at 60/30/7/1 days, each once; auto-renew off, a recovery
//! address inside the domain or at a free-mail provider, no owner, not reviewed for 180
//! days), concurrent saves of one version leave one, the expected delegation is frozen in an
//! incident; the DNS scanner treats a moved delegation (NS, DS) as drift on a real Knot;
//! RDAP is read from recorded answers on loopback; "validate domain control" in an incident
//! is a checklist confirmed by named people.
use app::core::authz::TenantScope;
use app::core::AppError;
use app::domain_control::service as control;
use app::domain_control::ControlInput;
use app::incidents::service as incidents;
use mailward_tests::{both, Backend, TestApp};

use crate::routing::person;

const DAY: i64 = 86400;

/// The date `days` after the test clock's today.
fn date_in(app: &TestApp, days: i64) -> String {
    let now = app.state.clock.now();
    app::domain_control::date_of(now - now.rem_euclid(DAY) + days * DAY)
}

fn sound(expires_on: String) -> ControlInput {
    ControlInput {
        registrar: "Example Registrar, LLC".into(),
        registrar_account: "Agency ops (login ops-acme)".into(),
        dns_provider: "Mailward (RFC 2136)".into(),
        expires_on: Some(expires_on),
        auto_renew: Some(true),
        recovery_address: "domains@agency.example".into(),
        mfa: Some(true),
        billing_owner: "Acme Ltd, finance".into(),
        reviewed: true,
        ..Default::default()
    }
}

/// The open `domain.control` alerts' warning codes, oldest first.
async fn alerted(app: &TestApp) -> Vec<String> {
    let owner = person("usr_alice");
    let mut v = app::monitoring::service::alerts(&app.state, &owner, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.rule == "domain.control")
        .collect::<Vec<_>>();
    v.sort_by_key(|a| a.first_at);
    v.iter()
        .map(|a| {
            let d: serde_json::Value = serde_json::from_str(&a.detail).unwrap();
            format!("{}:{}", d["warning"].as_str().unwrap(), a.severity)
        })
        .collect()
}

fn codes(c: &app::domain_control::DomainControl) -> Vec<String> {
    c.warnings.iter().map(|w| w.code.clone()).collect()
}

async fn registry_warnings_fire_at_the_right_dates(b: Backend) {
    let app = TestApp::start(b).await;
    let st = &app.state;
    let (_, ids) = app
        .tenant_with_domains("plan_agency", &["acme.example"])
        .await;
    let id = &ids[0];
    let alice = person("usr_alice");
    // Pin the clock to 01:00 UTC (it only moves forward), so "half a day before" is the day before.
    let now = st.clock.now();
    st.clock.advance(DAY - now.rem_euclid(DAY) + 3600);
    // Nothing recorded: no warning, no alert, and the dashboard counts it as unrecorded.
    let c = control::control(st, &alice, id).await.unwrap();
    assert!(!c.recorded && c.warnings.is_empty());
    assert_eq!(control::summary(st, &alice).await.unwrap().unrecorded, 1);
    // A sound record 65 days before expiry: nothing to say.
    let c = control::save(st, &alice, id, &sound(date_in(&app, 65)))
        .await
        .unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.reviewed_by.as_deref(), Some("usr_alice@agency.example"));
    assert_eq!(control::check(st).await.unwrap(), 0);
    let s = control::summary(st, &alice).await.unwrap();
    assert_eq!((s.unrecorded, s.with_warnings), (0, 0));
    // The clock moves: each threshold fires once, on its day, and not again.
    let mut want: Vec<String> = Vec::new();
    for (days, code, sev) in [
        (5, "expiry.60", "warning"),
        (30, "expiry.30", "warning"),
        (23, "expiry.7", "critical"),
        (6, "expiry.1", "critical"),
        (1, "expired", "critical"),
    ] {
        st.clock.advance(days * DAY - DAY / 2);
        control::check(st).await.unwrap();
        assert_eq!(alerted(&app).await, want, "half a day before {code}");
        st.clock.advance(DAY / 2);
        assert_eq!(control::check(st).await.unwrap(), 1, "{code}");
        assert_eq!(control::check(st).await.unwrap(), 0, "{code} fires once");
        want.push(format!("{code}:{sev}"));
        assert_eq!(alerted(&app).await, want);
    }
    let s = control::summary(st, &alice).await.unwrap();
    assert_eq!(s.with_warnings, 1);
    assert_eq!(s.top[0].warning.code, "expired");
    // Renewed: the expiry warnings clear; the record is as good as new.
    let c = control::control(st, &alice, id).await.unwrap();
    let mut renewed = sound(date_in(&app, 365));
    renewed.version = Some(c.version);
    let c = control::save(st, &alice, id, &renewed).await.unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(control::summary(st, &alice).await.unwrap().with_warnings, 0);
    // What someone records raises its alert at once: auto-renew off, a recovery address
    // inside the domain, no billing owner.
    let mut risky = sound(date_in(&app, 365));
    risky.version = Some(c.version);
    risky.auto_renew = Some(false);
    risky.recovery_address = "Admin@Mail.Acme.Example".into();
    risky.billing_owner = "  ".into();
    let c = control::save(st, &alice, id, &risky).await.unwrap();
    assert_eq!(
        codes(&c),
        ["recovery.loop", "auto_renew.off", "owner.missing"]
    );
    assert_eq!(c.recovery_address, "admin@mail.acme.example");
    let all = alerted(&app).await;
    for w in [
        "recovery.loop:critical",
        "auto_renew.off:warning",
        "owner.missing:warning",
    ] {
        assert!(all.contains(&w.to_string()), "{w} in {all:?}");
    }
    // A free-mail recovery address replaces the loop.
    let mut freemail = risky.clone();
    freemail.version = Some(c.version);
    freemail.recovery_address = "acme.domains@gmail.com".into();
    let c = control::save(st, &alice, id, &freemail).await.unwrap();
    assert_eq!(codes(&c)[0], "recovery.freemail");
    // Not reviewed for 180 days (the save above reviewed it). The test clock runs with the
    // real one, so "a minute before" stays before however slow the machine is.
    st.clock.advance(180 * DAY - 60);
    assert_eq!(control::check(st).await.unwrap(), 0);
    st.clock.advance(DAY + 60);
    assert_eq!(control::check(st).await.unwrap(), 1);
    assert!(alerted(&app)
        .await
        .contains(&"review.stale:warning".to_string()));
    // Reviewing clears it.
    let c = control::review(st, &alice, id).await.unwrap();
    assert!(!codes(&c).contains(&"review.stale".to_string()));
    // Each save is audited with what changed.
    let saved = app.audit_actions().await;
    assert!(
        saved
            .iter()
            .filter(|a| *a == "domain.control_saved")
            .count()
            >= 5
    );
}
both!(registry_warnings_fire_at_the_right_dates);

/// Bad input changes nothing; of 20 saves made from one version, one lands; the expected
/// delegation waits while an incident holds, the rest of the record does not.
async fn bad_input_races_and_the_freeze(b: Backend) {
    let app = TestApp::start(b).await;
    let st = &app.state;
    let (slug, ids) = app
        .tenant_with_domains("plan_agency", &["acme.example"])
        .await;
    let id = &ids[0];
    let alice = person("usr_alice");
    for (what, bad) in [
        ("date", {
            let mut i = sound("2027-02-30".into());
            i.registrar = "x".into();
            i
        }),
        ("email", {
            let mut i = sound("2027-01-01".into());
            i.recovery_address = "not an address".into();
            i
        }),
        ("ns", {
            let mut i = sound("2027-01-01".into());
            i.expected_ns = vec!["ns1.example.net\nbad_host".into()];
            i
        }),
        ("ds", {
            let mut i = sound("2027-01-01".into());
            i.expected_ds = vec!["12345 13 2 XYZ".into()];
            i
        }),
        ("long", {
            let mut i = sound("2027-01-01".into());
            i.registrar = "r".repeat(201);
            i
        }),
    ] {
        let r = control::save(st, &alice, id, &bad).await;
        assert!(matches!(r, Err(AppError::Invalid(_))), "{what}: {r:?}");
    }
    assert!(!control::control(st, &alice, id).await.unwrap().recorded);
    let mut first = sound("2027-06-01".into());
    first.expected_ns = vec!["NS2.provider.example.\nns1.provider.example".into()];
    first.expected_ds = vec!["2371 13 2 1f987cc6583e92df0890718c42".into()];
    let c = control::save(st, &alice, id, &first).await.unwrap();
    assert_eq!(
        c.expected_ns,
        ["ns1.provider.example", "ns2.provider.example"]
    );
    assert_eq!(c.expected_ds, ["2371 13 2 1F987CC6583E92DF0890718C42"]);
    // 20 people save from the same version at once: one lands, the others are told.
    let mut tasks = Vec::new();
    for n in 0..20 {
        let st = st.clone();
        let id = id.clone();
        let mut input = sound("2027-06-01".into());
        input.expected_ns = c.expected_ns.clone();
        input.expected_ds = c.expected_ds.clone();
        input.notes = format!("edit {n}");
        input.version = Some(c.version);
        tasks.push(tokio::spawn(async move {
            control::save(&st, &person("usr_alice"), &id, &input).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(AppError::Conflict(_)) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(ok, 1);
    let c = control::control(st, &alice, id).await.unwrap();
    assert_eq!(c.version, 2);
    // An incident: the expected delegation is frozen, the facts are not.
    incidents::declare(
        st,
        &alice,
        &app::incidents::NewIncident {
            tenant: Some(slug.clone()),
            title: "Registrar account phished".into(),
            reason: "A login to the registrar from an unknown country.".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let inc = incidents::in_force(&st.db, &TenantScope::All)
        .await
        .unwrap();
    let alice = person("usr_alice").under(inc);
    let mut moved = sound("2027-06-01".into());
    moved.expected_ns = vec!["ns1.evil.example".into()];
    moved.version = Some(c.version);
    let r = control::save(st, &alice, id, &moved).await;
    assert!(
        matches!(&r, Err(AppError::Frozen(m)) if m.contains("Registrar account phished")),
        "{r:?}"
    );
    let mut facts = sound("2027-06-01".into());
    facts.expected_ns = c.expected_ns.clone();
    facts.expected_ds = c.expected_ds.clone();
    facts.mfa = Some(false);
    facts.version = Some(c.version);
    let c = control::save(st, &alice, id, &facts).await.unwrap();
    assert_eq!(c.mfa, Some(false));
}
both!(bad_input_races_and_the_freeze);

/// The scanner compares the delegation with the record: as expected it is green; NS moved
/// at the zone, or a DS the parent does not serve, is drift (red) with an event and an alert.
async fn a_moved_delegation_is_drift(b: Backend) {
    use mailward_tests::dns::Knot;
    const APEX: &str = "@ MX 10 mail.mailward.test.\n@ TXT \"v=spf1 mx -all\"\n_dmarc TXT \"v=DMARC1; p=quarantine\"";
    let knot = Knot::start(&[
        ("acme.example", APEX),
        ("mailward.test", "mail A 127.0.0.1"),
    ]);
    let port = knot.port;
    let app = TestApp::start_with(b, |c| {
        c.dns_resolver = Some(format!("127.0.0.1:{port}"));
        c.dns_port = port;
        c.dns_timeout_ms = 500;
        c.mail_host = Some("mail.mailward.test".into());
    })
    .await;
    let st = &app.state;
    let (_, ids) = app
        .tenant_with_domains("plan_agency", &["acme.example"])
        .await;
    let id = &ids[0];
    let alice = person("usr_alice");
    let mut input = sound("2027-06-01".into());
    input.expected_ns = vec!["ns1.acme.example".into()];
    control::save(st, &alice, id, &input).await.unwrap();
    app::dns::service::scan(st, None).await.unwrap();
    let dns = app::dns::service::domain_dns(st, &alice, id).await.unwrap();
    let ns = dns.observed.iter().find(|o| o.purpose == "ns").unwrap();
    assert_eq!(ns.status, "ok", "{ns:?}");
    assert!(!dns
        .health_reason
        .clone()
        .unwrap_or_default()
        .contains("Delegation"));
    let drifts = |acts: Vec<String>| acts.iter().filter(|a| *a == "dns.drift").count();
    let before = drifts(app.audit_actions().await);
    // Someone moves the delegation.
    knot.update(
        "acme.example",
        &[
            "update add acme.example. 60 NS ns9.evil.example.".to_string(),
            "update delete acme.example. NS ns1.acme.example.".to_string(),
        ],
    );
    app::dns::service::scan(st, None).await.unwrap();
    let dns = app::dns::service::domain_dns(st, &alice, id).await.unwrap();
    let ns = dns.observed.iter().find(|o| o.purpose == "ns").unwrap();
    assert_eq!(ns.status, "changed", "{ns:?}");
    assert_eq!(
        ns.observed.as_deref(),
        Some(&["ns9.evil.example.".to_string()][..])
    );
    assert_eq!(dns.health, "red");
    assert!(
        dns.health_reason
            .clone()
            .unwrap()
            .contains("Delegation (NS) differs from the domain-control record"),
        "{:?}",
        dns.health_reason
    );
    assert_eq!(drifts(app.audit_actions().await), before + 1);
    app::monitoring::service::watch(st).await.unwrap();
    let drift = app::monitoring::service::alerts(st, &alice, Some("open"))
        .await
        .unwrap()
        .into_iter()
        .any(|a| a.rule == "dns.drift");
    assert!(drift);
    // A DS where DNSSEC is recorded, which the parent does not serve: missing.
    knot.update(
        "acme.example",
        &[
            "update add acme.example. 60 NS ns1.acme.example.".to_string(),
            "update delete acme.example. NS ns9.evil.example.".to_string(),
        ],
    );
    let c = control::control(st, &alice, id).await.unwrap();
    let mut input = sound("2027-06-01".into());
    input.expected_ns = c.expected_ns.clone();
    input.expected_ds = vec!["2371 13 2 1F987CC6583E92DF0890718C42BF3A1B2C3D4E5F".into()];
    input.version = Some(c.version);
    control::save(st, &alice, id, &input).await.unwrap();
    app::dns::service::scan(st, None).await.unwrap();
    let dns = app::dns::service::domain_dns(st, &alice, id).await.unwrap();
    let ns = dns.observed.iter().find(|o| o.purpose == "ns").unwrap();
    assert_eq!(ns.status, "ok");
    let ds = dns.observed.iter().find(|o| o.purpose == "ds").unwrap();
    assert_eq!(ds.status, "missing", "{ds:?}");
    assert!(dns
        .health_reason
        .clone()
        .unwrap()
        .contains("DNSSEC delegation (DS) missing"));
}
both!(a_moved_delegation_is_drift);

/// RDAP from recorded answers on loopback (directly and through a bootstrap redirect):
/// registrar and expiry are recorded with their source; a domain RDAP does not know keeps
/// what was recorded and says why.
async fn rdap_fills_in_expiry_and_registrar(b: Backend) {
    let rdap = mailward_tests::rdap::RdapServer::start().await;
    let base = rdap.bootstrap.clone();
    let app = TestApp::start_with(b, move |c| c.rdap_url = Some(base)).await;
    let st = &app.state;
    let (_, ids) = app
        .tenant_with_domains("plan_agency", &["acme.example", "unknown.example"])
        .await;
    let alice = person("usr_alice");
    let c = control::rdap_lookup(st, &alice, &ids[0]).await.unwrap();
    assert_eq!(c.registrar, "Example Registrar, LLC");
    assert_eq!(
        c.expires_at.map(app::domain_control::date_of).as_deref(),
        Some("2027-04-14")
    );
    assert_eq!(c.expiry_source.as_deref(), Some("rdap"));
    assert!(c.rdap_error.is_none());
    let r = control::rdap_lookup(st, &alice, &ids[1]).await;
    assert!(
        matches!(&r, Err(AppError::Unavailable(m)) if m.contains("no record of unknown.example")),
        "{r:?}"
    );
    let c = control::control(st, &alice, &ids[1]).await.unwrap();
    assert!(c.rdap_error.unwrap().contains("no record"));
    assert!(c.registrar.is_empty());
    // A manual date replaces RDAP's and says so.
    let c = control::control(st, &alice, &ids[0]).await.unwrap();
    let mut input = sound("2028-01-01".into());
    input.version = Some(c.version);
    let c = control::save(st, &alice, &ids[0], &input).await.unwrap();
    assert_eq!(c.expiry_source.as_deref(), Some("manual"));
    let acts = app.audit_actions().await;
    assert_eq!(
        acts.iter().filter(|a| *a == "domain.control_rdap").count(),
        2
    );
}
both!(rdap_fills_in_expiry_and_registrar);

/// "Validate domain control": each domain of the incident's tenant with its registry facts
/// and five items, each confirmed once by a named person with the time; closed at the end.
async fn validating_domain_control_is_a_named_checklist(b: Backend) {
    let app = TestApp::start(b).await;
    let st = &app.state;
    let (slug, ids) = app
        .tenant_with_domains("plan_agency", &["acme.example", "acme.test"])
        .await;
    let alice = person("usr_alice");
    control::save(st, &alice, &ids[0], &sound("2027-06-01".into()))
        .await
        .unwrap();
    let inc = incidents::declare(
        st,
        &alice,
        &app::incidents::NewIncident {
            tenant: Some(slug.clone()),
            title: "Registrar account phished".into(),
            reason: "A login to the registrar from an unknown country.".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // The hunt lists who changed the record's recovery address since T.
    let (_, found) = incidents::hunt(st, &alice, &inc.id).await.unwrap();
    assert!(
        found.iter().any(|f| f.kind == "domain_control"
            && f.what
                .contains("recovery address (none) \u{2192} domains@agency.example")),
        "{found:?}"
    );
    let (list, total) = incidents::checklist(st, &alice, &inc.id).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|d| d.items.len() == 5));
    let acme = list.iter().find(|d| d.domain_id == ids[0]).unwrap();
    assert!(acme.control.recorded);
    assert_eq!(acme.control.registrar, "Example Registrar, LLC");
    let check = |item: &str, domain: &str| app::incidents::CheckInput {
        domain: domain.into(),
        item: item.into(),
        note: "Logged in at the registrar, password changed".into(),
    };
    let d = incidents::confirm_check(
        st,
        &alice,
        &inc.id,
        &check("registrar_access", "acme.example"),
    )
    .await
    .unwrap();
    let it = d
        .items
        .iter()
        .find(|i| i.item == "registrar_access")
        .unwrap();
    assert_eq!(it.confirmed_by.as_deref(), Some("usr_alice@agency.example"));
    assert!(it.confirmed_at.is_some());
    // Once only, named.
    let again = incidents::confirm_check(
        st,
        &person("usr_bob"),
        &inc.id,
        &check("registrar_access", "acme.example"),
    )
    .await;
    assert!(
        matches!(&again, Err(AppError::Conflict(m)) if m.contains("usr_alice")),
        "{again:?}"
    );
    let bad = incidents::confirm_check(st, &alice, &inc.id, &check("vibes", "acme.example")).await;
    assert!(matches!(bad, Err(AppError::Invalid(_))), "{bad:?}");
    // A domain of another tenant is not on this checklist.
    let other = app::tenancy::service::create_tenant(
        st,
        &app::core::authz::Actor::system("test"),
        &app::tenancy::service::NewTenant {
            name: "Other".into(),
            plan_id: "plan_agency".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    app::tenancy::service::add_domain(
        st,
        &app::core::authz::Actor::system("test"),
        &other.slug,
        "other.example",
        "",
    )
    .await
    .unwrap();
    let foreign =
        incidents::confirm_check(st, &alice, &inc.id, &check("mfa", "other.example")).await;
    assert!(matches!(foreign, Err(AppError::Invalid(_))), "{foreign:?}");
    // 10 people confirm the same item at once: one confirmation.
    let mut tasks = Vec::new();
    for n in 0..10 {
        let st = st.clone();
        let id = inc.id.clone();
        tasks.push(tokio::spawn(async move {
            incidents::confirm_check(
                &st,
                &person(&format!("usr_{n}")),
                &id,
                &app::incidents::CheckInput {
                    domain: "acme.test".into(),
                    item: "dns_access".into(),
                    note: String::new(),
                },
            )
            .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap().is_ok() {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
    assert!(app
        .audit_actions()
        .await
        .iter()
        .any(|a| a == "incident.check_confirmed"));
    // Ended: the checklist is closed, and still readable.
    incidents::request_end(st, &alice, &inc.id, "registrar secured")
        .await
        .unwrap();
    incidents::confirm_end(st, &person("usr_bob"), &inc.id)
        .await
        .unwrap();
    let late = incidents::confirm_check(st, &alice, &inc.id, &check("mfa", "acme.example")).await;
    assert!(matches!(late, Err(AppError::Conflict(_))), "{late:?}");
    let (list, _) = incidents::checklist(st, &alice, &inc.id).await.unwrap();
    let done: usize = list
        .iter()
        .map(|d| d.items.iter().filter(|i| i.confirmed_at.is_some()).count())
        .sum();
    assert_eq!(done, 2);
}
both!(validating_domain_control_is_a_named_checklist);

/// Email as identity: the owner lists the outside services that recover through their
/// address (once each), an operator sees and edits the same list, a client viewer only
/// reads; the incident page's loader lists them for the tenant's mailboxes.
async fn email_as_identity(b: Backend) {
    use app::mailboxes::service as mb;
    use app::mailboxes::NewIdentity;
    let w = crate::routing::world(b).await;
    let st = &w.app.state;
    let ann = w.mailbox("ann").await;
    let (m, owner) = mb::owner(st, &ann, None, None).await.unwrap().unwrap();
    assert!(!m.critical);
    let add = |service: &str| NewIdentity {
        service: service.into(),
        note: "recovery address".into(),
    };
    let i = mb::add_identity(st, &owner, "ignored", &add("Registrar account"))
        .await
        .unwrap();
    assert_eq!(i.mailbox_id, ann);
    assert_eq!(i.added_by, "ann@acme.example");
    let twice = mb::add_identity(st, &owner, "", &add("registrar ACCOUNT")).await;
    assert!(matches!(twice, Err(AppError::Conflict(_))), "{twice:?}");
    let blank = mb::add_identity(st, &owner, "", &add("  ")).await;
    assert!(matches!(blank, Err(AppError::Invalid(_))), "{blank:?}");
    // An operator adds one; both see two.
    let op = person("usr_alice");
    mb::add_identity(st, &op, &ann, &add("AWS root"))
        .await
        .unwrap();
    assert_eq!(mb::identities(st, &owner, "").await.unwrap().len(), 2);
    let list = mb::identities(st, &op, "ann@acme.example").await.unwrap();
    assert_eq!(
        list.iter().map(|i| i.service.as_str()).collect::<Vec<_>>(),
        ["AWS root", "Registrar account"]
    );
    // The owner cannot touch another mailbox's list: theirs is the only one they reach.
    let bob = w.mailbox("bob").await;
    mb::add_identity(st, &owner, &bob, &add("Bank"))
        .await
        .unwrap();
    assert!(mb::identities(st, &op, &bob).await.unwrap().is_empty());
    assert_eq!(mb::identities(st, &owner, "").await.unwrap().len(), 3);
    // Removing: only an entry of that mailbox.
    let bank = mb::identities(st, &owner, "")
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.service == "Bank")
        .unwrap();
    let wrong = mb::remove_identity(st, &op, &bob, &bank.id).await;
    assert!(matches!(wrong, Err(AppError::NotFound)), "{wrong:?}");
    mb::remove_identity(st, &owner, "", &bank.id).await.unwrap();
    // The tenant-wide list an incident shows.
    let all = mb::identities_in(st, &op, Some(&m.tenant_id))
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let acts = w.app.audit_actions().await;
    assert_eq!(
        acts.iter()
            .filter(|a| *a == "mailbox.identity_added")
            .count(),
        3
    );
    assert_eq!(
        acts.iter()
            .filter(|a| *a == "mailbox.identity_removed")
            .count(),
        1
    );
}
both!(email_as_identity);
