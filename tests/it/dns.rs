//! DNS against a real authoritative server (Knot on loopback): verification activates a
//! domain, the scanner sees a record removed behind Mailward's back and turns the badge red
//! within one scan (and green again), DKIM keys start signing only once served, lookups that
//! time out are unknown (never "missing"), templates refuse bad input.
use app::core::authz::Actor;
use app::dns::service as dns;
use app::tenancy::service as tenancy;
use mailward_tests::dns::Knot;
use mailward_tests::{both, Backend, TestApp};

const MAIL_HOST: &str = "mail.mailward.test";

async fn app_with(knot: &Knot, b: Backend) -> TestApp {
    let port = knot.port;
    TestApp::start_with(b, |c| {
        c.dns_resolver = Some(format!("127.0.0.1:{port}"));
        c.dns_port = port;
        c.dns_timeout_ms = 500;
        c.mail_host = Some(MAIL_HOST.into());
    })
    .await
}

/// Publishes every record the domain's page asks for (as an operator pasting the snippet).
fn publish_all(knot: &Knot, page: &app::dns::DomainDns, skip: &[&str]) {
    let mut lines = vec![];
    for e in &page.expected {
        if skip.contains(&e.purpose.as_str()) {
            continue;
        }
        let fqdn = if e.name == "@" {
            page.domain.clone()
        } else {
            format!("{}.{}", e.name, page.domain)
        };
        for v in &e.values {
            lines.push(Knot::add_line(&fqdn, &e.rtype, v));
        }
    }
    knot.update(&page.domain, &lines);
}

both!(verification_drift_and_keys);
async fn verification_drift_and_keys(b: Backend) {
    let mut knot = Knot::start(&[("acme.example", ""), ("mailward.test", "mail A 127.0.0.1")]);
    let app = app_with(&knot, b).await;
    let owner = app.setup_owner().await;
    let sys = Actor::system("test");
    let t = tenancy::create_tenant(
        &app.state,
        &sys,
        &tenancy::NewTenant {
            name: "Acme".into(),
            plan_id: "plan_pro".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let d = tenancy::add_domain(&app.state, &sys, &t.slug, "acme.example", "")
        .await
        .unwrap();
    assert_eq!(d.status.to_string(), "pending");
    // Activation by hand is refused until the challenge record is seen.
    let e = tenancy::set_domain_status(&app.state, &sys, &d.id, "active")
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("_mailward-challenge.acme.example"),
        "{e}"
    );

    // First scan: nothing published; a key is made (published, not signing); red.
    let s = dns::scan(&app.state, None).await.unwrap();
    assert_eq!((s.domains, s.keys_made, s.verified), (1, 1, 0), "{s:?}");
    let page = dns::domain_dns(&app.state, &sys, "acme.example")
        .await
        .unwrap();
    assert_eq!(page.health, "red", "{page:?}");
    assert!(page.drift);
    assert_eq!(page.keys.len(), 1);
    assert_eq!(page.keys[0].state, "published");
    assert!(page.challenge.is_some());
    assert!(
        page.snippet.contains("_mailward-challenge"),
        "{}",
        page.snippet
    );
    assert!(page.snippet.contains(&format!("10 {MAIL_HOST}.")));
    assert!(
        page.observed.iter().all(|o| o.status == "missing"),
        "{:?}",
        page.observed
    );
    assert_eq!(
        tenancy::domain(&app.state, &sys, &d.id)
            .await
            .unwrap()
            .status
            .to_string(),
        "pending"
    );

    // The operator publishes everything: verified, activated, the key starts signing, green.
    publish_all(&knot, &page, &[]);
    let s = dns::scan(&app.state, None).await.unwrap();
    assert_eq!(
        (s.verified, s.keys_activated, s.unknown),
        (1, 1, 0),
        "{s:?}"
    );
    let dom = tenancy::domain(&app.state, &sys, &d.id).await.unwrap();
    assert_eq!(dom.status.to_string(), "active");
    assert_eq!(dom.verified.as_deref(), Some("dns"));
    let page = dns::domain_dns(&app.state, &sys, "acme.example")
        .await
        .unwrap();
    assert_eq!(
        page.health, "green",
        "{:?} {:?}",
        page.health_reason, page.observed
    );
    assert!(!page.drift);
    assert_eq!(page.keys[0].state, "active");
    assert!(page.challenge.is_none(), "verified: no challenge any more");
    let actions = app.audit_actions().await;
    for a in [
        "domain.verified",
        "domain.activated",
        "dkim.key_created",
        "dkim.key_active",
        "dns.drift_cleared",
    ] {
        assert!(actions.contains(&a.to_string()), "{a} in {actions:?}");
    }

    // A second scan with nothing changed writes no event (no daily noise).
    let before = app.audit_actions().await.len();
    let s = dns::scan(&app.state, None).await.unwrap();
    assert_eq!(s.changed, 0);
    assert_eq!(app.audit_actions().await.len(), before);

    // Someone removes the DKIM record behind Mailward's back: red within one scan.
    let sel = &page.keys[0].selector;
    knot.update(
        "acme.example",
        &[format!("update delete {sel}._domainkey.acme.example. TXT")],
    );
    dns::scan(&app.state, None).await.unwrap();
    let page = dns::domain_dns(&app.state, &sys, "acme.example")
        .await
        .unwrap();
    assert_eq!(page.health, "red");
    let reason = page.health_reason.clone().unwrap();
    assert!(
        reason.contains("DKIM") && reason.contains("missing"),
        "{reason}"
    );
    let dkim = page.observed.iter().find(|o| o.purpose == "dkim").unwrap();
    assert_eq!(dkim.status, "missing");
    // …on the dashboard, behind the "drifted" filter, and in the history.
    let dash = owner.browser.get_text("/?health=drifted").await;
    assert!(
        dash.contains("acme.example") && dash.contains("data-health=\"red\""),
        "dashboard shows it red"
    );
    let html = owner.browser.get_text("/domains/acme.example/dns").await;
    assert!(html.contains("dns.drift"), "history on the DNS page");
    assert!(html.contains("dns-records"));
    assert!(app.audit_actions().await.contains(&"dns.drift".to_string()));
    // …and as a critical alert, which resolves itself once the record is back.
    app::monitoring::service::watch(&app.state).await.unwrap();
    let alerts = app::monitoring::service::alerts(&app.state, &sys, None)
        .await
        .unwrap();
    let drift = alerts
        .iter()
        .find(|a| a.rule == "dns.drift")
        .expect("drift alert");
    assert_eq!(drift.severity, "critical");
    assert!(drift.detail.contains("DKIM"), "{}", drift.detail);

    // Put back: green again, and the filter no longer lists it.
    publish_all(&knot, &page, &["mx", "spf", "dmarc", "srv", "verify"]);
    dns::scan(&app.state, None).await.unwrap();
    app::monitoring::service::watch(&app.state).await.unwrap();
    assert!(app::monitoring::service::alerts(&app.state, &sys, None)
        .await
        .unwrap()
        .iter()
        .all(|a| a.rule != "dns.drift"));
    let page = dns::domain_dns(&app.state, &sys, "acme.example")
        .await
        .unwrap();
    assert_eq!(page.health, "green", "{:?}", page.health_reason);
    let dash = owner.browser.get_text("/?health=drifted").await;
    assert!(!dash.contains("data-health=\"red\""));

    // The nameserver stops answering: unknown, and what was known stays (no false red).
    knot.stop();
    let before = app.audit_actions().await.len();
    let s = dns::scan(&app.state, None).await.unwrap();
    assert!(s.unknown > 0 || s.sets == 0, "{s:?}");
    let page = dns::domain_dns(&app.state, &sys, "acme.example")
        .await
        .unwrap();
    assert_eq!(page.health, "green");
    assert_eq!(
        app.audit_actions().await.len(),
        before,
        "a timeout is not an event"
    );
}

both!(a_changed_mx_is_red_and_spf_findings_amber);
async fn a_changed_mx_is_red_and_spf_findings_amber(b: Backend) {
    let knot = Knot::start(&[("globex.example", "")]);
    let app = app_with(&knot, b).await;
    let (_, ids) = app
        .tenant_with_domains("plan_pro", &["globex.example"])
        .await;
    let sys = Actor::system("test");
    dns::generate_key(&app.state, &sys, &ids[0], "ed25519")
        .await
        .unwrap();
    let page = dns::domain_dns(&app.state, &sys, &ids[0]).await.unwrap();
    assert!(page.keys[0].record.contains("k=ed25519"));
    publish_all(&knot, &page, &["mx", "verify"]);
    knot.update(
        "globex.example",
        &[Knot::add_line(
            "globex.example",
            "MX",
            "10 mx.elsewhere.example.",
        )],
    );
    dns::scan(&app.state, None).await.unwrap();
    let page = dns::domain_dns(&app.state, &sys, &ids[0]).await.unwrap();
    assert_eq!(page.health, "red");
    let mx = page.observed.iter().find(|o| o.purpose == "mx").unwrap();
    assert_eq!(mx.status, "changed");
    assert_eq!(
        mx.observed.as_deref(),
        Some(&["10 mx.elsewhere.example.".to_string()][..])
    );
    // A second key while one lives is a rotation, not a second "first key".
    let e = dns::generate_key(&app.state, &sys, &ids[0], "rsa")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("rotation"), "{e}");
}

both!(templates_refuse_bad_input_and_only_owners_edit);
async fn templates_refuse_bad_input_and_only_owners_edit(b: Backend) {
    let app = TestApp::start(b).await;
    let sys = Actor::system("test");
    let mut t = app::dns::Template::default_for("standard");
    t.spf = "v=spf1 +all".into();
    let e = dns::save_template(&app.state, &sys, "standard", t.clone())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("+all"), "{e}");
    t.spf = "v=spf1 mx include:_spf.agency.example -all".into();
    t.dmarc_policy = "bogus".into();
    assert!(dns::save_template(&app.state, &sys, "standard", t.clone())
        .await
        .is_err());
    assert!(dns::save_template(
        &app.state,
        &sys,
        "nope",
        app::dns::Template::default_for("standard")
    )
    .await
    .is_err());
    let before = app.audit_actions().await.len();
    assert_eq!(before, app.audit_actions().await.len());
    t.dmarc_policy = "reject".into();
    t.dmarc_rua = "dmarc@agency.example".into();
    dns::save_template(&app.state, &sys, "standard", t.clone())
        .await
        .unwrap();
    let list = dns::templates(&app.state, &sys).await.unwrap();
    let (_, _, saved, by_owner) = list.iter().find(|(c, ..)| c == "standard").unwrap();
    assert!(by_owner);
    assert_eq!(saved.dmarc_rua, "dmarc@agency.example");
    assert!(app
        .audit_actions()
        .await
        .contains(&"dns.template_changed".to_string()));
    // The MTA-STS policy follows the template (served only when its mode is not none).
    assert_eq!(
        dns::mta_sts_policy(&app.state, "mta-sts.nothing.example")
            .await
            .unwrap(),
        None
    );
}

/// Benchmark (not run by default): `cargo test -p mailward-tests --test it dns::bench -- --ignored --nocapture`.
/// N domains × 6 record sets against a local Knot serving N zones; the first scan stores
/// everything, the second finds nothing new. Set MAILWARD_BENCH_DOMAINS (default 500).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_scan() {
    let n: usize = std::env::var("MAILWARD_BENCH_DOMAINS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let names: Vec<String> = (0..n).map(|i| format!("d{i:05}.example")).collect();
    // Each zone holds its baseline (no DKIM here: the bench measures lookups and storage).
    let body = format!(
        "@ MX 10 {MAIL_HOST}.\n@ TXT \"v=spf1 mx -all\"\n_dmarc TXT \"v=DMARC1; p=quarantine\"\n\
         _submission._tcp SRV 0 1 587 {MAIL_HOST}.\n_imaps._tcp SRV 0 1 993 {MAIL_HOST}.\n"
    );
    let zones: Vec<(&str, &str)> = names.iter().map(|d| (d.as_str(), body.as_str())).collect();
    let knot = Knot::start(&zones);
    let app = app_with(&knot, Backend::Sqlite).await;
    let sys = Actor::system("bench");
    let mut t = app::dns::Template::default_for("standard");
    t.dkim = false;
    dns::save_template(&app.state, &sys, "standard", t)
        .await
        .unwrap();
    let plan = tenancy::create_plan(
        &app.state,
        &sys,
        &tenancy::NewPlan {
            name: "Bench".into(),
            max_domains: 10_000,
            storage_gb: 1.0,
            managed_smtp: false,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let tn = tenancy::create_tenant(
        &app.state,
        &sys,
        &tenancy::NewTenant {
            name: "Bench".into(),
            plan_id: plan.id.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    for d in &names {
        tenancy::add_domain(&app.state, &sys, &tn.slug, d, "")
            .await
            .unwrap();
    }
    for round in ["first (stores everything)", "second (nothing new)"] {
        let started = std::time::Instant::now();
        let s = dns::scan(&app.state, None).await.unwrap();
        println!(
            "dns scan, {round}: {} domains, {} sets, {} unknown, {} changed: lookups {} ms, \
             storing {} ms, total {} ms",
            s.domains,
            s.sets,
            s.unknown,
            s.changed,
            s.lookup_ms,
            s.store_ms,
            started.elapsed().as_millis()
        );
        assert_eq!(s.unknown, 0);
    }
}

/// Mail submitted through the mail plane leaves signed with the domain's active key, and a
/// receiver checking it against the DNS (mail-auth, asking the test's Knot) finds DKIM, SPF
/// and DMARC passing. Before the key is seen on the nameservers, nothing is signed.
async fn submitted_mail_is_signed(b: Backend) {
    use mail_auth::dmarc::verify::DmarcParameters;
    use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
    use mail_auth::spf::verify::SpfParameters;
    use mail_auth::{
        AuthenticatedMessage, DkimResult, DmarcResult, MessageAuthenticator, SpfResult,
    };
    use mailward_tests::mailplane::{MailPlane, Milter};

    // `example` too: DMARC's tree walk asks `_dmarc.example`, which must be an answer
    // (NXDOMAIN), not a refusal.
    let knot = Knot::start(&[
        ("acme.example", ""),
        ("mailward.test", "mail A 127.0.0.1"),
        ("example", ""),
    ]);
    let app = app_with(&knot, b).await;
    let (slug, mut domains) = app
        .tenant_with_domains("plan_starter", &["acme.example"])
        .await;
    let w = crate::routing::World {
        sink: mailward_tests::SmtpSink::start().await,
        app,
        slug,
        domain: domains.remove(0),
    };
    let sys = Actor::system("test");
    dns::generate_key(&w.app.state, &sys, &w.domain, "rsa")
        .await
        .unwrap();
    let page = dns::domain_dns(&w.app.state, &sys, &w.domain)
        .await
        .unwrap();
    w.mailbox("ann").await;
    let milter = Milter::start(&w.app).await;
    let mp = MailPlane::start_with(&w.app, Some(milter.socket.clone())).await;

    // The key is published in Mailward but not in DNS yet: the message leaves unsigned.
    let r = mp
        .submit(
            "ann@acme.example",
            crate::routing::PW,
            "friend@outside.example",
            "before",
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
    let first = mp.relayed(1).await;
    assert!(
        !first[0].contains("DKIM-Signature"),
        "not signed before the record is out"
    );

    // Published and seen on every nameserver: it signs.
    publish_all(&knot, &page, &["verify"]);
    let s = dns::scan(&w.app.state, None).await.unwrap();
    assert_eq!(s.keys_activated, 1, "{s:?}");
    let r = mp
        .submit(
            "ann@acme.example",
            crate::routing::PW,
            "friend@outside.example",
            "after",
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
    mp.relayed(2).await;
    let relayed = mp.relay.raw_messages();
    let raw = relayed
        .iter()
        .find(|m| m.contains("Subject: after"))
        .unwrap();
    assert!(
        raw.contains("DKIM-Signature"),
        "signed: {raw}\n{}",
        milter.log()
    );
    let selector = &page.keys[0].selector;
    assert!(raw.contains(&format!("s={selector}")), "{raw}");

    // A receiver asks the (test's) DNS.
    let mut ns = NameServerConfig::udp("127.0.0.1".parse().unwrap());
    for c in &mut ns.connections {
        c.port = knot.port;
    }
    let auth = MessageAuthenticator::new(
        ResolverConfig::from_parts(None, vec![], vec![ns]),
        ResolverOpts::default(),
    )
    .unwrap();
    // As received: the sink stored LF line ends; DKIM was computed over CRLF.
    let wire = raw.replace("\r\n", "\n").replace('\n', "\r\n");
    let msg = AuthenticatedMessage::parse(wire.as_bytes()).unwrap();
    let dkim = auth.verify_dkim(&msg).await;
    assert!(
        !dkim.is_empty() && dkim.iter().all(|d| d.result() == &DkimResult::Pass),
        "DKIM: {dkim:?}"
    );
    let spf = auth
        .verify_spf(SpfParameters::verify_mail_from(
            "127.0.0.1".parse().unwrap(),
            "mail.mailward.test",
            "receiver.example",
            "ann@acme.example",
        ))
        .await;
    assert_eq!(spf.result(), SpfResult::Pass, "SPF");
    let dmarc = auth
        .verify_dmarc(DmarcParameters::new(&msg, &dkim, "acme.example", &spf))
        .await;
    assert_eq!(
        dmarc.dkim_result(),
        &DmarcResult::Pass,
        "DMARC (DKIM aligned)"
    );
    assert_eq!(
        dmarc.spf_result(),
        &DmarcResult::Pass,
        "DMARC (SPF aligned)"
    );
}
both!(submitted_mail_is_signed);

/// A key rotation through its steps: the new key is published, signing switches only once
/// every nameserver serves it, the old record stays a week and the key is then retired; an
/// emergency rotation stops the old key at once; after 90 days the scanner rotates by itself.
async fn key_rotation_runs_through_its_steps(b: Backend) {
    let knot = Knot::start(&[("acme.example", ""), ("mailward.test", "mail A 127.0.0.1")]);
    let app = app_with(&knot, b).await;
    let (_, ids) = app.tenant_with_domains("plan_pro", &["acme.example"]).await;
    let st = &app.state;
    let sys = Actor::system("test");
    let msg = b"From: Ann <ann@acme.example>\r\nTo: x@outside.example\r\nSubject: hi\r\nDate: Thu, 3 Dec 2026 05:00:00 +0000\r\n\r\nHello.\r\n";
    let signer = || async {
        match dns::sign_message(st, msg).await.unwrap() {
            dns::Signed::Header { selector, .. } => Some(selector),
            dns::Signed::Unsigned(_) => None,
        }
    };
    let state_of = |page: &app::dns::DomainDns, sel: &str| {
        page.keys
            .iter()
            .find(|k| k.selector == sel)
            .map(|k| k.state.clone())
    };
    // The first key, published and seen: it signs.
    let first = dns::generate_key(st, &sys, &ids[0], "rsa")
        .await
        .unwrap()
        .selector;
    let page = dns::domain_dns(st, &sys, &ids[0]).await.unwrap();
    assert_eq!(signer().await, None, "not before its record is out");
    publish_all(&knot, &page, &["verify"]);
    dns::scan(st, None).await.unwrap();
    assert_eq!(signer().await.as_deref(), Some(first.as_str()));

    // A rotation: the new key is published; nothing switches while its record is missing.
    // (The clock moves a day so the new selector differs from the first's.)
    st.clock.advance(86400);
    let second = dns::rotate_key(st, &sys, &ids[0], "ed25519", false)
        .await
        .unwrap()
        .selector;
    assert_ne!(second, first);
    let e = dns::rotate_key(st, &sys, &ids[0], "rsa", false)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("under way"), "{e}");
    dns::scan(st, None).await.unwrap();
    let page = dns::domain_dns(st, &sys, &ids[0]).await.unwrap();
    assert_eq!(state_of(&page, &second).as_deref(), Some("published"));
    assert_eq!(
        signer().await.as_deref(),
        Some(first.as_str()),
        "still the old key"
    );
    assert_eq!(
        page.health, "amber",
        "the new key's record is missing: {:?}",
        page.health_reason
    );

    // Its record is served everywhere: signing switches, the old key keeps its record.
    let new_rec = page
        .keys
        .iter()
        .find(|k| k.selector == second)
        .unwrap()
        .record
        .clone();
    knot.update(
        "acme.example",
        &[Knot::add_line(
            &format!("{second}._domainkey.acme.example"),
            "TXT",
            &new_rec,
        )],
    );
    let s = dns::scan(st, None).await.unwrap();
    assert_eq!(s.keys_activated, 1);
    assert_eq!(signer().await.as_deref(), Some(second.as_str()));
    let page = dns::domain_dns(st, &sys, &ids[0]).await.unwrap();
    assert_eq!(state_of(&page, &first).as_deref(), Some("retiring"));
    assert_eq!(page.health, "green", "{:?}", page.health_reason);
    assert!(page
        .expected
        .iter()
        .any(|e| e.name == format!("{first}._domainkey")));

    // A week later the old key is retired and its record no longer expected.
    st.clock.advance(7 * 86400 + 60);
    let s = dns::scan(st, None).await.unwrap();
    assert_eq!(s.keys_retired, 1);
    let page = dns::domain_dns(st, &sys, &ids[0]).await.unwrap();
    assert_eq!(
        state_of(&page, &first),
        None,
        "retired keys are not listed as live"
    );
    assert!(!page
        .expected
        .iter()
        .any(|e| e.name == format!("{first}._domainkey")));

    // Emergency: the signing key stops at once; nothing is signed until the new one is out.
    st.clock.advance(86400);
    let third = dns::rotate_key(st, &sys, &ids[0], "rsa", true)
        .await
        .unwrap()
        .selector;
    assert_eq!(signer().await, None, "the revoked key never signs again");
    let page = dns::domain_dns(st, &sys, &ids[0]).await.unwrap();
    let rec = page
        .keys
        .iter()
        .find(|k| k.selector == third)
        .unwrap()
        .record
        .clone();
    knot.update(
        "acme.example",
        &[Knot::add_line(
            &format!("{third}._domainkey.acme.example"),
            "TXT",
            &rec,
        )],
    );
    dns::scan(st, None).await.unwrap();
    assert_eq!(signer().await.as_deref(), Some(third.as_str()));

    // 90 days on, the scanner starts the next rotation by itself.
    st.clock.advance(91 * 86400);
    let s = dns::scan(st, None).await.unwrap();
    assert_eq!(s.keys_made, 1, "{s:?}");
    let page = dns::domain_dns(st, &sys, &ids[0]).await.unwrap();
    assert!(page.keys.iter().any(|k| k.state == "published"));
    let actions = app.audit_actions().await;
    for a in [
        "dkim.rotation_started",
        "dkim.key_revoked",
        "dkim.key_retired",
    ] {
        assert!(actions.contains(&a.to_string()), "{a}");
    }
}
both!(key_rotation_runs_through_its_steps);

/// A DMARC aggregate report as receivers send them.
pub(crate) fn dmarc_xml(
    domain: &str,
    report_id: &str,
    begin: i64,
    rows: &[(&str, u32, &str, bool, bool)],
) -> String {
    let records: String = rows
        .iter()
        .map(|(ip, count, disposition, dkim, spf)| {
            let r = |ok: bool| if ok { "pass" } else { "fail" };
            format!(
                "<record><row><source_ip>{ip}</source_ip><count>{count}</count><policy_evaluated>\
                 <disposition>{disposition}</disposition><dkim>{}</dkim><spf>{}</spf></policy_evaluated></row>\
                 <identifiers><header_from>{domain}</header_from></identifiers><auth_results>\
                 <dkim><domain>{domain}</domain><selector>mw1</selector><result>{}</result></dkim>\
                 <spf><domain>{domain}</domain><result>{}</result></spf></auth_results></record>",
                r(*dkim),
                r(*spf),
                r(*dkim),
                if *spf { "pass" } else { "softfail" }
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><feedback><report_metadata><org_name>receiver.example</org_name>\
         <email>noreply-dmarc@receiver.example</email><report_id>{report_id}</report_id><date_range><begin>{begin}</begin>\
         <end>{}</end></date_range></report_metadata><policy_published><domain>{domain}</domain><adkim>r</adkim>\
         <aspf>r</aspf><p>quarantine</p><sp>quarantine</sp><pct>100</pct></policy_published>{records}</feedback>",
        begin + 86399
    )
}

/// DMARC reports: XML, gzip, zip and a report e-mail in the rua Maildir are imported once
/// (the same report twice gives identical counts), counted per day on the domain's page,
/// new sending sources are an event; reports about other domains and non-reports are refused.
async fn dmarc_reports_are_imported_once(b: Backend) {
    use std::io::Write;
    let maildir =
        std::env::temp_dir().join(format!("mw-dmarc-{}", app::core::secrets::new_id("m")));
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let md = maildir.display().to_string();
    let app = TestApp::start_with(b, |c| c.dmarc_maildir = Some(md)).await;
    let owner = app.setup_owner().await;
    let (_, ids) = app.tenant_with_domains("plan_pro", &["acme.example"]).await;
    let st = &app.state;
    let sys = Actor::system("test");
    let day1 = 1_796_169_600; // 2026-12-02 00:00 UTC
    let r1 = dmarc_xml(
        "acme.example",
        "r1",
        day1,
        &[
            ("203.0.113.5", 10, "none", true, true),
            ("198.51.100.7", 3, "quarantine", false, false),
        ],
    );
    // Through the API, twice: the second changes nothing.
    let token = app.api_token(&owner.email, "read,write").await;
    let post = |body: Vec<u8>| {
        let url = app.url("/api/v1/dmarc/reports");
        let token = token.clone();
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/octet-stream")
                .body(body)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let (s, v) = post(r1.clone().into_bytes()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["new"], true);
    assert_eq!(v["messages"], 13);
    assert_eq!(v["new_sources"].as_array().unwrap().len(), 2);
    let before = dns::domain_dns(st, &sys, &ids[0]).await.unwrap().dmarc;
    let (s, v) = post(r1.clone().into_bytes()).await;
    assert_eq!((s, v["new"].as_bool()), (200, Some(false)), "{v}");
    let after = dns::domain_dns(st, &sys, &ids[0]).await.unwrap().dmarc;
    assert_eq!(
        before, after,
        "importing the same report twice gives identical counts"
    );
    assert_eq!(after.reports, 1);
    let d = &after.days[0];
    assert_eq!(
        (
            d.day,
            d.messages,
            d.passed,
            d.quarantined,
            d.rejected,
            d.spf_softfail,
            d.dkim_fail,
            d.misaligned
        ),
        (day1, 13, 10, 3, 0, 3, 3, 3)
    );

    // gzip and zip, on later days; one new source.
    let r2 = dmarc_xml(
        "acme.example",
        "r2",
        day1 + 86400,
        &[
            ("203.0.113.5", 4, "none", true, true),
            ("192.0.2.99", 1, "reject", false, false),
        ],
    );
    let mut gz = mail_auth::flate2::write::GzEncoder::new(
        Vec::new(),
        mail_auth::flate2::Compression::default(),
    );
    gz.write_all(r2.as_bytes()).unwrap();
    let imported = dns::import_report(st, &sys, &gz.finish().unwrap(), "upload", Some(&ids[0]))
        .await
        .unwrap();
    assert_eq!(imported.new_sources, vec!["192.0.2.99".to_string()]);
    let r3 = dmarc_xml(
        "acme.example",
        "r3",
        day1 + 2 * 86400,
        &[("203.0.113.5", 2, "none", true, false)],
    );
    let mut zip = mail_auth::zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(
        "receiver.example!acme.example!r3.xml",
        mail_auth::zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    zip.write_all(r3.as_bytes()).unwrap();
    let zipped = zip.finish().unwrap().into_inner();
    assert!(
        dns::import_report(st, &sys, &zipped, "upload", None)
            .await
            .unwrap()
            .new
    );

    // The rua mailbox: a report e-mail with the XML gzipped, read twice.
    let r4 = dmarc_xml(
        "acme.example",
        "r4",
        day1 + 3 * 86400,
        &[("203.0.113.5", 7, "none", true, true)],
    );
    let mut gz = mail_auth::flate2::write::GzEncoder::new(
        Vec::new(),
        mail_auth::flate2::Compression::default(),
    );
    gz.write_all(r4.as_bytes()).unwrap();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    let eml = format!(
        "From: noreply-dmarc@receiver.example\r\nTo: dmarc@agency.example\r\nSubject: Report domain: acme.example Submitter: receiver.example Report-ID: r4\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nDMARC report\r\n--b1\r\n\
         Content-Type: application/gzip\r\nContent-Disposition: attachment; filename=\"receiver.example!acme.example!r4.xml.gz\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b1--\r\n"
    );
    std::fs::write(maildir.join("new/1.eml"), eml).unwrap();
    std::fs::write(
        maildir.join("new/2.eml"),
        "From: someone\r\nSubject: not a report\r\n\r\nhello\r\n",
    )
    .unwrap();
    assert_eq!(dns::read_maildir(st).await.unwrap(), (1, 0, 1));
    assert_eq!(
        dns::read_maildir(st).await.unwrap(),
        (0, 1, 1),
        "read again: nothing new"
    );
    let summary = dns::domain_dns(st, &sys, &ids[0]).await.unwrap().dmarc;
    assert_eq!(summary.reports, 4);
    assert_eq!(summary.days.len(), 4);
    assert_eq!(summary.days[0].messages, 7);

    // Refused, and nothing stored: another domain's report, a report about a domain not
    // here, garbage; a client viewer; someone of another tenant.
    let other = dmarc_xml(
        "elsewhere.example",
        "x1",
        day1,
        &[("203.0.113.5", 1, "none", true, true)],
    );
    let e = dns::import_report(st, &sys, other.as_bytes(), "upload", None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not a domain here"), "{e}");
    assert!(
        dns::import_report(st, &sys, b"<html>hello</html>", "upload", None)
            .await
            .is_err()
    );
    assert!(
        dns::import_report(st, &sys, &[0x1f, 0x8b, 0, 1, 2], "upload", None)
            .await
            .is_err()
    );
    let tenant_id = tenancy::domain(st, &sys, &ids[0]).await.unwrap().tenant_id;
    let viewer = Actor::for_tests(
        app::core::authz::Principal::User,
        Some("usr_v".into()),
        "viewer@acme.example".into(),
        Some(app::auth::Role::ClientViewer),
        app::core::authz::TenantScope::Only(vec![tenant_id]),
        None,
    );
    let r5 = dmarc_xml(
        "acme.example",
        "r5",
        day1,
        &[("203.0.113.5", 1, "none", true, true)],
    );
    assert!(matches!(
        dns::import_report(st, &viewer, r5.as_bytes(), "upload", None).await,
        Err(app::core::AppError::Forbidden)
    ));
    let stranger = Actor::for_tests(
        app::core::authz::Principal::User,
        Some("usr_s".into()),
        "admin@globex.example".into(),
        Some(app::auth::Role::TenantAdmin),
        app::core::authz::TenantScope::Only(vec!["ten_other".into()]),
        None,
    );
    assert!(
        dns::import_report(st, &stranger, r5.as_bytes(), "upload", None)
            .await
            .is_err()
    );
    assert_eq!(
        dns::domain_dns(st, &sys, &ids[0])
            .await
            .unwrap()
            .dmarc
            .reports,
        4
    );
    let actions = app.audit_actions().await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "dmarc.report_imported")
            .count(),
        4
    );
    assert_eq!(
        actions.iter().filter(|a| *a == "dmarc.new_source").count(),
        2
    );
    // On the page.
    let html = owner.browser.get_text("/domains/acme.example/dns").await;
    assert!(
        html.contains("DMARC reports (4)") && html.contains("dmarc-days"),
        "page shows the days"
    );
    assert!(html.contains("192.0.2.99"), "new source listed");
    let _ = std::fs::remove_dir_all(&maildir);
}
both!(dmarc_reports_are_imported_once);

/// Many clicks at once make one key: parallel "Check now" on a domain without a key and
/// parallel "Generate key" end with a single key (the rest: a conflict, nothing written).
async fn parallel_clicks_make_one_key(b: Backend) {
    let app = TestApp::start(b).await;
    let (_, ids) = app
        .tenant_with_domains("plan_pro", &["acme.example", "globex.example"])
        .await;
    let sys = Actor::system("test");
    let checks = (0..20).map(|_| dns::check_now(&app.state, &sys, &ids[0]));
    for r in futures_join(checks).await {
        r.unwrap();
    }
    let page = dns::domain_dns(&app.state, &sys, &ids[0]).await.unwrap();
    assert_eq!(page.keys.len(), 1, "one key from 20 checks");
    let gens = (0..20).map(|_| dns::generate_key(&app.state, &sys, &ids[1], "ed25519"));
    let results = futures_join(gens).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| matches!(e, app::core::AppError::Conflict(_))));
    let page = dns::domain_dns(&app.state, &sys, &ids[1]).await.unwrap();
    assert_eq!(page.keys.len(), 1);
    let created = app
        .audit_actions()
        .await
        .iter()
        .filter(|a| *a == "dkim.key_created")
        .count();
    assert_eq!(created, 2, "one event per key made");
}
both!(parallel_clicks_make_one_key);

/// Runs the futures concurrently on this task (no extra crate).
/// Polls the futures together on this task (the test's "parallel clicks").
pub(crate) async fn futures_join<F: std::future::Future>(
    fs: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in fs {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.unwrap()).collect()
}

/// Selectors delegated by CNAME to the operator's zone: the customer publishes two CNAMEs
/// once; Mailward writes the key records into the operator zone by RFC 2136 (TSIG), so the
/// next rotation switches without anyone touching the customer's zone; a retired key's record
/// is removed; a wrong TSIG key is refused clearly and changes nothing.
async fn dkim_selectors_delegated_to_the_operator_zone(b: Backend) {
    use mailward_tests::dns::TSIG_SECRET;
    const ZONE: &str = "dkim.op.test";
    let knot = Knot::start_with_tsig(
        &[
            ("acme.example", ""),
            ("mailward.test", "mail A 127.0.0.1"),
            (ZONE, ""),
        ],
        &[ZONE],
    );
    let port = knot.port;
    let tsig = knot.tsig_file(TSIG_SECRET);
    let app = TestApp::start_with(b, |c| {
        c.dns_resolver = Some(format!("127.0.0.1:{port}"));
        c.dns_port = port;
        c.dns_timeout_ms = 500;
        c.mail_host = Some(MAIL_HOST.into());
        c.dkim_zone = Some(ZONE.into());
        c.dkim_zone_server = Some(format!("127.0.0.1:{port}"));
        c.dkim_zone_tsig_file = Some(tsig.clone());
    })
    .await;
    let st = &app.state;
    let (_, ids) = app.tenant_with_domains("plan_pro", &["acme.example"]).await;
    let sys = Actor::system("test");
    let msg =
        b"From: Ann <ann@acme.example>\r\nTo: x@outside.example\r\nSubject: hi\r\n\r\nHello.\r\n";
    let signer = || async {
        match dns::sign_message(st, msg).await.unwrap() {
            dns::Signed::Header { selector, .. } => Some(selector),
            dns::Signed::Unsigned(_) => None,
        }
    };
    // A key of the customer's own zone signs first.
    let direct = dns::generate_key(st, &sys, &ids[0], "rsa")
        .await
        .unwrap()
        .selector;
    let page = dns::domain_dns(st, &sys, &ids[0]).await.unwrap();
    assert!(page.delegation_offered && page.delegated_to.is_none());
    publish_all(&knot, &page, &["verify"]);
    dns::scan(st, None).await.unwrap();
    assert_eq!(signer().await.as_deref(), Some(direct.as_str()));

    // Delegation: the next key (mw1) is written into the operator zone at once.
    let k = dns::set_delegation(st, &sys, &ids[0], true).await.unwrap();
    assert_eq!(k.selector, "mw1");
    let target = "mw1.acme.example.dkim.op.test";
    assert_eq!(
        knot.txt(target),
        vec![k.record.clone()],
        "written by RFC 2136"
    );
    let e = dns::set_delegation(st, &sys, &ids[0], true)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("already"), "{e}");
    // Without the customer's CNAMEs it does not sign yet.
    dns::scan(st, None).await.unwrap();
    assert_eq!(signer().await.as_deref(), Some(direct.as_str()));
    let page = dns::domain_dns(st, &sys, &ids[0]).await.unwrap();
    assert_eq!(page.delegated_to.as_deref(), Some(ZONE));
    assert!(page.snippet.contains("mw1._domainkey") && page.snippet.contains("CNAME"));
    assert!(page.snippet.contains("mw2._domainkey"));
    assert!(page.operator_snippet.contains(target));
    let cname = page
        .observed
        .iter()
        .find(|o| o.name == "mw1._domainkey" && o.rtype == "CNAME")
        .unwrap();
    assert_eq!(cname.status, "missing");
    assert_eq!(page.health, "amber", "{:?}", page.health_reason);

    // The customer publishes the two CNAMEs, once.
    knot.update(
        "acme.example",
        &["mw1", "mw2"]
            .iter()
            .map(|s| {
                Knot::add_line(
                    &format!("{s}._domainkey.acme.example"),
                    "CNAME",
                    &format!("{s}.acme.example.{ZONE}."),
                )
            })
            .collect::<Vec<_>>(),
    );
    let s = dns::scan(st, None).await.unwrap();
    assert_eq!(s.keys_activated, 1, "{s:?}");
    assert_eq!(signer().await.as_deref(), Some("mw1"));
    let page = dns::domain_dns(st, &sys, &ids[0]).await.unwrap();
    assert_eq!(page.health, "green", "{:?}", page.health_reason);

    // A rotation now needs nobody: mw2 is written, seen, and signs after one scan.
    st.clock.advance(8 * 86400);
    dns::scan(st, None).await.unwrap(); // the direct key retires
    let k2 = dns::rotate_key(st, &sys, &ids[0], "rsa", false)
        .await
        .unwrap();
    assert_eq!(k2.selector, "mw2");
    let s = dns::scan(st, None).await.unwrap();
    assert_eq!(s.keys_activated, 1, "{s:?}");
    assert_eq!(signer().await.as_deref(), Some("mw2"));

    // A week on, mw1 retires and its record leaves the operator zone.
    st.clock.advance(8 * 86400);
    let s = dns::scan(st, None).await.unwrap();
    assert_eq!(s.keys_retired, 1, "{s:?}");
    assert!(
        knot.txt(target).is_empty(),
        "the retired key's record is gone"
    );
    // An emergency rotation reuses mw1 with a new key.
    let k3 = dns::rotate_key(st, &sys, &ids[0], "ed25519", true)
        .await
        .unwrap();
    assert_eq!(k3.selector, "mw1");
    assert_eq!(knot.txt(target), vec![k3.record.clone()]);
    dns::scan(st, None).await.unwrap();
    assert_eq!(signer().await.as_deref(), Some("mw1"));
    let page = dns::domain_dns(st, &sys, &ids[0]).await.unwrap();
    assert_eq!(page.health, "green", "{:?}", page.health_reason);

    // A wrong TSIG secret (or none) is refused, clearly, and the zone does not change.
    for secret in [Some("d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE="), None] {
        let mut cfg = (*st.config).clone();
        cfg.dkim_zone_tsig_file = secret.map(|s| knot.tsig_file(s));
        let w = dns::update::ZoneWriter::dkim_zone(&cfg).unwrap().unwrap();
        let e = w
            .put_txt(target, &["v=DKIM1; p=bogus".into()])
            .await
            .unwrap_err();
        assert!(e.contains("refused"), "{e}");
        assert!(e.contains("TSIG"), "{e}");
        assert_eq!(knot.txt(target), vec![k3.record.clone()]);
    }
    let actions = app.audit_actions().await;
    for a in ["dkim.delegated", "dkim.zone_written", "dkim.key_retired"] {
        assert!(actions.contains(&a.to_string()), "{a}");
    }
    // Taking it back: the next key is the customer's own again.
    let k4 = dns::set_delegation(st, &sys, &ids[0], false).await.unwrap();
    assert!(
        !["mw1", "mw2"].contains(&k4.selector.as_str()),
        "{}",
        k4.selector
    );
    let page = dns::domain_dns(st, &sys, &ids[0]).await.unwrap();
    assert!(page.delegated_to.is_none());
    assert!(page
        .snippet
        .contains(&format!("{}._domainkey", k4.selector)));
    // The delegated key signs until the customer's own record is out.
    dns::scan(st, None).await.unwrap();
    assert_eq!(signer().await.as_deref(), Some("mw1"));
}
both!(dkim_selectors_delegated_to_the_operator_zone);

/// SPF includes count toward the 10-lookup limit: a record within it by itself, whose
/// include needs 11 more, is a finding (amber) naming the count.
async fn spf_includes_count_toward_the_limit(b: Backend) {
    let many: String = (1..=10)
        .map(|i| format!(" a:h{i}.globex.example"))
        .collect();
    let knot = Knot::start(&[(
        "globex.example",
        &format!(
            "_spf TXT \"v=spf1{many} include:_spf2.globex.example -all\"\n\
             _spf2 TXT \"v=spf1 ip4:192.0.2.1 -all\""
        ),
    )]);
    let app = app_with(&knot, b).await;
    let sys = Actor::system("test");
    let mut t = app::dns::Template::default_for("standard");
    t.spf = "v=spf1 mx include:_spf.globex.example -all".into();
    dns::save_template(&app.state, &sys, "standard", t)
        .await
        .unwrap();
    let (_, ids) = app
        .tenant_with_domains("plan_pro", &["globex.example"])
        .await;
    dns::generate_key(&app.state, &sys, &ids[0], "ed25519")
        .await
        .unwrap();
    let page = dns::domain_dns(&app.state, &sys, &ids[0]).await.unwrap();
    publish_all(&knot, &page, &["verify"]);
    dns::scan(&app.state, None).await.unwrap();
    let page = dns::domain_dns(&app.state, &sys, &ids[0]).await.unwrap();
    assert_eq!(page.health, "amber", "{:?}", page.health_reason);
    let reason = page.health_reason.unwrap_or_default();
    // mx + include + 10 a: + include = 13.
    assert!(reason.contains("13 DNS lookups"), "{reason}");
    // Fixed at the include's end: green again.
    knot.update(
        "globex.example",
        &[
            "update delete _spf.globex.example. TXT".to_string(),
            Knot::add_line("_spf.globex.example", "TXT", "v=spf1 ip4:192.0.2.0/24 -all"),
        ],
    );
    dns::scan(&app.state, None).await.unwrap();
    let page = dns::domain_dns(&app.state, &sys, &ids[0]).await.unwrap();
    assert_eq!(page.health, "green", "{:?}", page.health_reason);
}
both!(spf_includes_count_toward_the_limit);
