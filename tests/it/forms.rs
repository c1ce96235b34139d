//! One mistake does not cost the form: after a server-side error every console form shows
//! what was typed (never a password or a code), the form that failed is open, its first
//! field takes the focus, and the choice of a select stays chosen. One mechanism
//! (`auth::web::keep_typed` + `ui::typed`) for every form.
use mailward_tests::{both, Backend, TestApp};

/// The `<input>` or `<select>` tag with `id="…"` in a page.
/// The one field a refused form marks (`aria-invalid`), and its error below it: the field's
/// id, the message.
fn marked(page: &str) -> (String, String) {
    assert_eq!(
        page.matches("aria-invalid=\"true\"").count(),
        1,
        "one field marked"
    );
    assert_eq!(
        page.matches("data-testid=\"field-error\"").count(),
        1,
        "one error below a field"
    );
    let at = page.find("aria-invalid=\"true\"").unwrap();
    let start = page[..at].rfind('<').unwrap();
    let end = at + page[at..].find('>').unwrap();
    let input = &page[start..=end];
    let id = mailward_tests::between(input, " id=\"", "\"")
        .unwrap()
        .to_string();
    let described = mailward_tests::between(input, "aria-describedby=\"", "\"").unwrap();
    assert!(
        input.contains("autofocus"),
        "the marked field is focused: {input}"
    );
    let err = page.find("data-testid=\"field-error\"").unwrap();
    let p = page[..err].rfind("<p").unwrap();
    assert!(
        page[p..err].contains(&format!("id=\"{described}\"")),
        "the field is described by its error"
    );
    let msg = mailward_tests::between(&page[err..], ">", "</p>")
        .unwrap()
        .to_string();
    (id, msg)
}

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
        name.contains("value=\"Globex &lt;Partners&gt;\"") && !name.contains("autofocus"),
        "typed, escaped: {name}"
    );
    // The error stands below the field it is about, which has the focus.
    let (field, msg) = marked(&page);
    assert_eq!(field, "t-cemail");
    assert!(msg.contains("not-an-address"), "{msg}");
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
    let (field, msg) = marked(&page);
    assert_eq!(field, "r-source", "sales@ is no mailbox to forward: {msg}");
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
    // (That was the critical box without outgoing mail: no one field to blame.)
    assert!(!page.contains("data-testid=\"field-error\""));
    // Not critical: now the quota is what is wrong.
    web.post(
        "/mailboxes",
        &[
            ("domain", doms[0].as_str()),
            ("back", dom.as_str()),
            ("address", "ann"),
            ("display_name", "Ann Example"),
            ("quota", "900 GB"),
        ],
    )
    .await;
    let page = web.get_text(&dom).await;
    let (field, msg) = marked(&page);
    assert_eq!(field, "mb-quota", "the pool is too small: {msg}");
    assert!(msg.contains("does not fit"), "{msg}");

    // A domain that is not one, in the second category: both come back.
    let tenant_page = format!("/tenants/{slug}");
    web.post(
        &format!("/tenants/{slug}/domains"),
        &[("name", "not a domain!"), ("category", "marketing")],
    )
    .await;
    let page = web.get_text(&tenant_page).await;
    assert!(tag(&page, "d-name").contains("value=\"not a domain!\""));
    let cat = &page[page.find("id=\"d-cat\"").unwrap()..];
    let m = cat.find("<option value=\"marketing\"").unwrap();
    assert!(cat[m..m + 40].contains("selected"), "the category stays");
    assert_eq!(marked(&page).0, "d-name");

    // An API token with a bad source range: name, scopes as ticked, the range.
    web.post(
        "/account/tokens",
        &[
            ("name", "ci"),
            ("days", "7"),
            ("scope_write", "on"),
            ("allow_from", "nowhere/99"),
        ],
    )
    .await;
    let page = web.get_text("/account/tokens").await;
    assert!(
        !page.contains("data-testid=\"fresh-secret\""),
        "no token made"
    );
    assert!(tag(&page, "name").contains("value=\"ci\""));
    assert!(tag(&page, "days").contains("value=\"7\""));
    assert!(tag(&page, "token-from").contains("value=\"nowhere/99\""));
    let ticked = |name: &str| {
        let at = page.find(&format!("name=\"{name}\"")).unwrap();
        let start = page[..at].rfind('<').unwrap();
        let end = at + page[at..].find('>').unwrap();
        page[start..end].contains("checked")
    };
    assert!(
        ticked("scope_write") && !ticked("scope_read"),
        "scopes as typed"
    );

    // An invitation's password step: the name comes back; the session never holds the
    // link's token (the form is known by its path without it).
    web.post("/operators/invite", &[("email", "otto@agency.example")])
        .await;
    let ops = web.get_text("/operators").await;
    let i = ops.find("otto@agency.example").unwrap();
    let reveal = mailward_tests::between(&ops[i..], "action=\"", "/reveal\"").unwrap();
    web.post(&format!("{reveal}/reveal"), &[]).await;
    let ops = web.get_text("/operators").await;
    let link = mailward_tests::testid_text(&ops, "fresh-secret").expect("the link, once");
    let path = link.trim_start_matches(&app.url("")).to_string();
    let token = path.trim_start_matches("/invite/").to_string();
    let b = app.browser();
    b.post(
        &format!("{path}/password"),
        &[
            ("display_name", "Otto Operator"),
            ("password", "harbour lights at midnight"),
            ("confirm", "harbour lights at noon"),
        ],
    )
    .await;
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM sessions WHERE data LIKE '%{token}%'"
        ))
        .await,
        0,
        "no link token in a session"
    );
    let page = b.get_text(&path).await;
    assert!(page.contains("do not match"), "the error is shown");
    assert!(tag(&page, "display_name").contains("value=\"Otto Operator\""));
    assert_eq!(marked(&page).0, "confirm", "below the repeated password");
    assert!(!page.contains("harbour lights"), "never a password");

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
    assert!(
        !page.contains("data-testid=\"field-error\""),
        "a sign-in failure names no field"
    );

    // A form of passwords only (a mailbox's activation link) still learns its field.
    let sys = app::core::authz::Actor::system("t");
    let created = app::mailboxes::service::create(
        &app.state,
        &sys,
        &app::mailboxes::NewMailbox {
            address: "bea@acme.example".into(),
            display_name: "Bea".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let link = app::mailboxes::service::reveal_invite(&app.state, &sys, &created.mailbox.id)
        .await
        .unwrap();
    let path = link.trim_start_matches(&app.url("")).to_string();
    let b = app.browser();
    b.post(
        &path,
        &[
            ("password", "password123456"),
            ("confirm", "password123456"),
        ],
    )
    .await;
    let page = b.get_text(&path).await;
    let (field, msg) = marked(&page);
    assert_eq!(field, "pw", "{msg}");
    assert!(msg.contains("too common"), "{msg}");

    // The REST API names the field too.
    let token = app.api_token("owner@agency.example", "write").await;
    let (status, body) = app
        .api(
            "POST",
            "/api/v1/tenants",
            &token,
            Some(serde_json::json!({ "name": "Initech", "plan_id": "plan_free", "contact_email": "nope" })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "contact_email", "{body}");
    let _ = slug;
}
both!(forms_keep_what_was_typed);
