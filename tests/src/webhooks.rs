//! A webhook receiver on loopback that checks what it gets the way the Standard Webhooks
//! scheme asks a receiver to: the signature (`v1,<base64 HMAC-SHA256 of id.timestamp.body>`,
//! any of the space-separated ones, with any secret it knows) and a timestamp no older than
//! five minutes. It can be told to fail the next requests (500) to exercise retries.
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Clone, Debug)]
pub struct Received {
    pub id: String,
    pub timestamp: i64,
    pub body: serde_json::Value,
    /// The signature verified with a known secret and the timestamp was fresh.
    pub verified: bool,
    /// How many signatures the header carried.
    pub signatures: usize,
}

#[derive(Clone, Default)]
struct Inner {
    secrets: Arc<Mutex<Vec<String>>>,
    got: Arc<Mutex<Vec<Received>>>,
    fail_next: Arc<AtomicUsize>,
    /// Seconds added to the receiver's clock (to follow a test that moves Mailward's).
    offset: Arc<AtomicI64>,
}

pub struct WebhookReceiver {
    pub url: String,
    inner: Inner,
}

fn verify(secret: &str, id: &str, ts: &str, body: &[u8], sig_b64: &str) -> bool {
    let raw = secret.strip_prefix("whsec_").unwrap_or(secret);
    let Ok(key) = base64::engine::general_purpose::STANDARD.decode(raw) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(sig_b64) else {
        return false;
    };
    mac.verify_slice(&sig).is_ok()
}

async fn receive(State(inner): State<Inner>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (id, ts, sig) = (
        h("webhook-id"),
        h("webhook-timestamp"),
        h("webhook-signature"),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + inner.offset.load(Ordering::SeqCst);
    let timestamp: i64 = ts.parse().unwrap_or(0);
    let fresh = (now - timestamp).abs() <= 300;
    let sigs: Vec<&str> = sig
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .collect();
    let secrets = inner.secrets.lock().unwrap().clone();
    let verified = fresh
        && sigs
            .iter()
            .any(|s| secrets.iter().any(|k| verify(k, &id, &ts, &body, s)));
    inner.got.lock().unwrap().push(Received {
        id,
        timestamp,
        body: serde_json::from_slice(&body).unwrap_or_default(),
        verified,
        signatures: sigs.len(),
    });
    if inner
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    if verified {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::UNAUTHORIZED
    }
}

impl WebhookReceiver {
    pub async fn start() -> WebhookReceiver {
        let inner = Inner::default();
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WebhookReceiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            inner,
        }
    }

    /// The secrets the receiver accepts signatures of.
    pub fn trust(&self, secrets: &[&str]) {
        *self.inner.secrets.lock().unwrap() = secrets.iter().map(|s| s.to_string()).collect();
    }

    /// The next `n` requests are answered 500 (after being recorded).
    pub fn fail_next(&self, n: usize) {
        self.inner.fail_next.store(n, Ordering::SeqCst);
    }

    /// Moves the receiver's clock as the test moved Mailward's.
    pub fn advance(&self, secs: i64) {
        self.inner.offset.fetch_add(secs, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.got.lock().unwrap().clone()
    }
}
