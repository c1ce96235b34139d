//! RDAP (RFC 9083): a domain's registrar, expiry, nameservers and DNSSEC delegation from the
//! configured RDAP service (`rdap_url`, such as `https://rdap.org`, which redirects to the
//! registry's own server). Optional: manual entry always works.
use serde_json::Value;

/// What RDAP says about a domain.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    pub registrar: Option<String>,
    /// The `expiration` event, at midnight UTC of its date.
    pub expires_at: Option<i64>,
    /// Lower case, no final dot.
    pub nameservers: Vec<String>,
    pub signed: bool,
}

/// Answers larger than this are refused (a domain object is a few kilobytes).
const MAX_BYTES: usize = 1 << 20;

fn http() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            // Bootstrap services answer with a redirect to the registry's server.
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent("Mailward-RDAP/1")
            .build()
            .expect("http client")
    })
}

/// Asks `{base}/domain/{name}`. The error says what went wrong in words.
pub async fn lookup(base: &str, domain: &str) -> Result<Facts, String> {
    let url = format!("{}/domain/{}", base.trim_end_matches('/'), domain);
    let resp = http()
        .get(&url)
        .header(
            http::header::ACCEPT,
            "application/rdap+json, application/json",
        )
        .send()
        .await
        .map_err(|e| format!("the RDAP service did not answer ({})", e.without_url()))?;
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Err(format!("the RDAP service has no record of {domain}"));
    }
    if !status.is_success() {
        return Err(format!("the RDAP service answered {status}"));
    }
    if resp
        .content_length()
        .is_some_and(|n| n as usize > MAX_BYTES)
    {
        return Err("the RDAP answer is too large".into());
    }
    let mut body = Vec::new();
    let mut resp = resp;
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("the RDAP answer broke off ({})", e.without_url()))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BYTES {
            return Err("the RDAP answer is too large".into());
        }
    }
    let v: Value =
        serde_json::from_slice(&body).map_err(|_| "the RDAP answer is not JSON".to_string())?;
    parse(&v, domain)
}

/// Reads a domain object (pure; tests feed it recorded answers).
pub fn parse(v: &Value, domain: &str) -> Result<Facts, String> {
    if v.get("objectClassName").and_then(Value::as_str) != Some("domain") {
        return Err("the RDAP answer is not a domain object".into());
    }
    if let Some(name) = v.get("ldhName").and_then(Value::as_str) {
        if !name.trim_end_matches('.').eq_ignore_ascii_case(domain) {
            return Err(format!("the RDAP answer is about {name}, not {domain}"));
        }
    }
    let expires_at = v
        .get("events")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|e| e.get("eventAction").and_then(Value::as_str) == Some("expiration"))
        .and_then(|e| e.get("eventDate").and_then(Value::as_str))
        .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
        .and_then(|d| d.date_naive().and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp());
    let registrar = v
        .get("entities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|e| {
            e.get("roles")
                .and_then(Value::as_array)
                .is_some_and(|r| r.iter().any(|x| x.as_str() == Some("registrar")))
        })
        .and_then(vcard_name)
        .map(|s| s.chars().take(200).collect::<String>());
    let mut nameservers: Vec<String> = v
        .get("nameservers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|n| n.get("ldhName").and_then(Value::as_str))
        .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
        .take(13)
        .collect();
    nameservers.sort();
    nameservers.dedup();
    let signed = v
        .pointer("/secureDNS/delegationSigned")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(Facts {
        registrar,
        expires_at,
        nameservers,
        signed,
    })
}

/// The `fn` (formatted name) of an entity's jCard.
fn vcard_name(e: &Value) -> Option<String> {
    e.get("vcardArray")?
        .get(1)?
        .as_array()?
        .iter()
        .find(|p| p.get(0).and_then(Value::as_str) == Some("fn"))
        .and_then(|p| p.get(3))
        .and_then(Value::as_str)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_domain_object() {
        let v: Value = serde_json::json!({
            "objectClassName": "domain", "ldhName": "ACME.EXAMPLE",
            "events": [
                {"eventAction": "registration", "eventDate": "2001-02-03T04:05:06Z"},
                {"eventAction": "expiration", "eventDate": "2027-03-15T23:59:59Z"}
            ],
            "entities": [
                {"objectClassName": "entity", "roles": ["registrant"], "vcardArray": ["vcard", [["fn", {}, "text", "Someone"]]]},
                {"objectClassName": "entity", "roles": ["registrar"], "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Example Registrar, Inc."]]]}
            ],
            "nameservers": [{"ldhName": "NS2.Provider.example."}, {"ldhName": "ns1.provider.example"}],
            "secureDNS": {"delegationSigned": true}
        });
        let f = parse(&v, "acme.example").unwrap();
        assert_eq!(f.registrar.as_deref(), Some("Example Registrar, Inc."));
        assert_eq!(f.expires_at, Some(1_805_068_800)); // 2027-03-15
        assert_eq!(
            f.nameservers,
            ["ns1.provider.example", "ns2.provider.example"]
        );
        assert!(f.signed);
        assert!(parse(&v, "other.example").is_err());
        assert!(parse(&serde_json::json!({"errorCode": 404}), "acme.example").is_err());
    }
}
