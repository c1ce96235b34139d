//! The parsers at the edge, under generated input: no panic, and what they accept is what
//! they promise (100,000 cases each; `PARSER_CASES` changes the count). Then a few hundred of
//! the same hostile strings through HTTP: never a 5xx.
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

use app::imports::parse_csv;
use app::mailboxes::parse_quota;
use app::tenancy::DomainName;
use app::types::EmailAddress;
use mailward_tests::{both, Backend, TestApp};

fn cases() -> u32 {
    std::env::var("PARSER_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// Strings made to hit the parsers' corners: their special characters, Unicode (IDNA),
/// control characters, long runs.
fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("@".to_string()),
        Just(".".to_string()),
        Just("-".to_string()),
        Just("\"".to_string()),
        Just(",".to_string()),
        Just(";".to_string()),
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        Just("\0".to_string()),
        Just("xn--".to_string()),
        Just("ß".to_string()),
        Just("ü".to_string()),
        Just("\u{200d}".to_string()),
        Just("ﬁ".to_string()),
        Just("%".to_string()),
        Just("_".to_string()),
        Just(" ".to_string()),
        Just("GB".to_string()),
        Just("1e309".to_string()),
        Just("9".repeat(40)),
        (1usize..70, any::<u8>())
            .prop_map(|(n, b)| ((b % 26 + b'a') as char).to_string().repeat(n)),
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

fn run<T: std::fmt::Debug>(
    strategy: impl Strategy<Value = T>,
    check: impl Fn(T) -> Result<(), TestCaseError>,
) {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner.run(&strategy, check).unwrap();
}

#[test]
fn email_addresses() {
    run(hostile(), |s| {
        if let Ok(a) = EmailAddress::parse(&s) {
            let t = a.as_str();
            prop_assert!(t.len() <= 254 && t.is_ascii() && !t.contains(char::is_control));
            let again = EmailAddress::parse(t).unwrap();
            prop_assert_eq!(again.as_str(), t);
        }
        Ok(())
    });
}

#[test]
fn domain_names() {
    run(hostile(), |s| {
        if let Ok(d) = DomainName::parse(&s) {
            prop_assert!(d.ascii.len() <= 253 && d.ascii.is_ascii());
            prop_assert_eq!(d.ascii.to_ascii_lowercase(), d.ascii.clone());
            prop_assert_eq!(DomainName::parse(&d.ascii).unwrap().ascii, d.ascii);
        }
        Ok(())
    });
}

#[test]
fn csv_files() {
    run(hostile(), |s| {
        if let Ok(rows) = parse_csv(&s) {
            prop_assert!(
                rows.windows(2).all(|w| w[0].0 < w[1].0),
                "line numbers ascend"
            );
            prop_assert!(rows.iter().all(|(n, _)| *n >= 1));
        }
        Ok(())
    });
}

#[test]
fn sizes() {
    run(hostile(), |s| {
        if let Ok(Some(b)) = parse_quota(&s) {
            prop_assert!((1_000_000..=10_000_000_000_000).contains(&b));
        }
        Ok(())
    });
}

#[test]
fn search_terms_and_field_limits() {
    run(
        prop_oneof![hostile(), (0usize..6000).prop_map(|n| "é".repeat(n))],
        |s| {
            let t = app::core::db::like_term(&s);
            prop_assert!(t.starts_with('%') && t.ends_with('%'));
            prop_assert!(!t[1..t.len() - 1].contains(['%', '_']));
            if server::edge::check_value("q", &s).is_ok() {
                prop_assert!(s.chars().count() <= server::edge::MAX_FIELD_CHARS);
                prop_assert!(!s.contains('\0'));
            }
            Ok(())
        },
    );
}

/// The same kind of strings through HTTP: the search box, the tenant form (names, contacts),
/// an address lookup. Bad input is a 4xx (or a page), never a 5xx.
async fn hostile_input_never_gives_a_5xx(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let secret = app.api_token(&owner.email, "read,write").await;
    let (slug, _) = app.tenant_with_domains("plan_pro", &["acme.example"]).await;
    let api = reqwest::Client::new();
    // A CSV import with a NUL, a control character in a name, a line break in a quoted name:
    // refused with its line, nothing created.
    for (body, want) in [
        (
            "address,display_name\nann@acme.example,A\0b\n",
            "Line 2 contains a NUL",
        ),
        (
            "address,display_name\nann@acme.example,\"Ann\u{1b}[31m\"\n",
            "control characters",
        ),
        (
            "address,display_name\nann@acme.example,\"Ann\nExample\"\n",
            "control characters",
        ),
    ] {
        let r = api
            .post(app.url(&format!("/api/v1/imports?tenant={slug}")))
            .bearer_auth(&secret)
            .header("content-type", "text/csv")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: serde_json::Value = r.json().await.unwrap();
        let said = if status == 422 {
            v["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        } else {
            assert_eq!(status, 201, "{v}");
            assert_eq!(v["job"]["errors"], 1, "{v}");
            v["rows"][0]["error"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        assert!(said.contains(want), "{body:?}: {v}");
    }
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM mailboxes")
            .await,
        0
    );
    let mut runner = TestRunner::new(Config {
        cases: 150,
        failure_persistence: None,
        ..Config::default()
    });
    let mut inputs = vec!["x".repeat(50_001), "\0".into(), "%00".into()];
    for _ in 0..150 {
        inputs.push(hostile().new_tree(&mut runner).unwrap().current());
    }
    for s in &inputs {
        let r = api
            .get(app.url("/api/v1/domains"))
            .query(&[("q", s.as_str())])
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        assert!(r.status().as_u16() < 500, "q={s:?}: {}", r.status());
        let r = api
            .get(app.url(&format!("/api/v1/mailboxes/{}", urlencode(s))))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        assert!(r.status().as_u16() < 500, "id={s:?}: {}", r.status());
        let r = api
            .post(app.url("/api/v1/tenants"))
            .bearer_auth(&secret)
            .json(&serde_json::json!({"name": s, "plan_id": "plan_free", "contact_name": s, "contact_email": s}))
            .send()
            .await
            .unwrap();
        assert!(r.status().as_u16() < 500, "tenant {s:?}: {}", r.status());
        let r = owner.browser.get(&format!("/?q={}", urlencode(s))).await;
        assert!(
            r.status().as_u16() < 500,
            "dashboard q={s:?}: {}",
            r.status()
        );
    }
}
both!(hostile_input_never_gives_a_5xx);

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
