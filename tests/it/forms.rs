//! One mistake does not cost the form: after a server-side error every console form shows
//! what was typed (never a password or a code), the form that failed is open, its first
//! field takes the focus, and the choice of a select stays chosen. One mechanism
//! (`auth::web::keep_typed` + `ui::typed`) for every form.
use mailward_tests::{both, Backend, TestApp};

/// The `<input>` or `<select>` tag with `id="…"` in a page.
fn tag<'a>(page: &'a str, id: &str) -> &'a str {
    let at = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("#{id} on the page"));
    let start = page[..at].rfind('<').unwrap();
    let end = at + page[at..].find('>').unwrap();
    &page[start..=end]
}

async fn forms_keep_what_was_typed(b: Backend) {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let (slug, doms) = app
        .tenant_with_domains("plan_starter", &["acme.example"])
        .await;
    let web = &owner.browser;

    // A tenant whose contact address is not one: everything else comes back as typed.
    let r = web
        .post(
            "/tenants",
            &[
                ("name", "Globex <Partners>"),
                ("slug", "globex"),
                ("plan_id", "plan_pro"),
                ("contact_name", "Gina"),
                ("contact_email", "not-an-address"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = web.get_text("/tenants").await;
    assert!(page.contains("data-testid=\"flash\""), "the error is shown");
    let name = tag(&page, "t-name");
    assert!(
        name.contains("value=\"Globex &lt;Partners&gt;\"") && name.contains("autofocus"),
        "typed, escaped, focused: {name}"
    );
    assert!(tag(&page, "t-slug").contains("value=\"globex\""));
    assert!(tag(&page, "t-cemail").contains("value=\"not-an-address\""));
    let pro = page.find("value=\"plan_pro\"").unwrap();
    assert!(
        page[pro..pro + 40].contains("selected"),
        "the plan stays chosen"
    );
    assert!(
        page.contains("<details open class=\"card p-5\">"),
        "the form is open although tenants exist"
    );
    // Shown once: the next visit is a fresh form.
    let page = web.get_text("/tenants").await;
    assert!(!tag(&page, "t-name").contains("value=\"Globex"));

    // A route whose kind is a forward: the kind stays a forward, not "Alias".
    web.post(
        "/routing",
        &[
            ("kind", "forward"),
            ("source", "sales@acme.example"),
            ("targets", "someone@elsewhere.example"),
            ("days", "500"),
            ("reason", "trade fair"),
            ("back", "/routing"),
        ],
    )
    .await;
    let page = web.get_text("/routing").await;
    assert!(page.contains("data-testid=\"flash\""));
    let form = &page[page.find("id=\"r-kind\"").unwrap()..];
    let fwd = form.find("<option value=\"forward\"").unwrap();
    assert!(form[fwd..fwd + 40].contains("selected"), "still a forward");
    let alias = form.find("<option value=\"alias\"").unwrap();
    assert!(!form[alias..alias + 40].contains("selected"));
    assert!(tag(&page, "r-days").contains("value=\"500\""));
    assert!(tag(&page, "r-reason").contains("value=\"trade fair\""));

    // A mailbox past the pool: name, quota and the critical box come back.
    let dom = format!("/domains/{}", doms[0]);
    web.post(
        "/mailboxes",
        &[
            ("domain", doms[0].as_str()),
            ("back", dom.as_str()),
            ("address", "ann"),
            ("display_name", "Ann Example"),
            ("quota", "900 GB"),
            ("critical", "on"),
        ],
    )
    .await;
    let page = web.get_text(&dom).await;
    assert!(page.contains("data-testid=\"flash\""), "refused");
    assert!(tag(&page, "mb-address").contains("value=\"ann\""));
    assert!(tag(&page, "mb-quota").contains("value=\"900 GB\""));
    let critical = page.find("name=\"critical\"").unwrap();
    let start = page[..critical].rfind('<').unwrap();
    assert!(
        page[start..critical + 60].contains("checked"),
        "critical stays ticked"
    );

    // Signing in: the address comes back, the password never does.
    let b = app.browser();
    b.post(
        "/login",
        &[
            ("email", "owner@agency.example"),
            ("password", "a wrong password here"),
        ],
    )
    .await;
    let page = b.get_text("/login").await;
    assert!(tag(&page, "email").contains("value=\"owner@agency.example\""));
    assert!(!page.contains("a wrong password here"), "never a password");
    let _ = slug;
}
both!(forms_keep_what_was_typed);
