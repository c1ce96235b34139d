//! An RDAP service on loopback serving recorded answers (`tests/data/rdap/<domain>.json`):
//! `/domain/<name>` answers the recording or 404 with an RDAP error object, and
//! `/bootstrap/domain/<name>` redirects there (as rdap.org redirects to a registry).
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

pub struct RdapServer {
    /// The base URL to configure (`rdap_url`), the direct one.
    pub url: String,
    /// A base URL whose answers are redirects to `url`.
    pub bootstrap: String,
}

async fn domain(Path(name): Path<String>) -> Response {
    let safe = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/rdap")
        .join(format!("{}.json", name.to_ascii_lowercase()));
    match (safe, std::fs::read(&file)) {
        (true, Ok(body)) => {
            ([(header::CONTENT_TYPE, "application/rdap+json")], body).into_response()
        }
        _ => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "application/rdap+json")],
            r#"{"errorCode":404,"title":"Not Found","description":["The object was not found."]}"#,
        )
            .into_response(),
    }
}

async fn bootstrap(Path(name): Path<String>) -> Redirect {
    Redirect::to(&format!("/domain/{name}"))
}

impl RdapServer {
    pub async fn start() -> RdapServer {
        let app = Router::new()
            .route("/domain/{name}", get(domain))
            .route("/bootstrap/domain/{name}", get(bootstrap));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        RdapServer {
            url: format!("http://{addr}"),
            bootstrap: format!("http://{addr}/bootstrap"),
        }
    }
}
