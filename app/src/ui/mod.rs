//! Shared look: the signed-in layout with its sidebar, the centred layout for sign-in and
//! setup, and small pieces (flash, badges, empty states, times, confirm buttons).
use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::auth::{Flash, FlashKind, PageData, Role, Shell};

pub mod html;

const NAV: &[(&str, &str, &str)] = &[
    ("/", "Dashboard", "M3 12l9-9 9 9M5 10v10h5v-6h4v6h5V10"),
    ("/tenants", "Tenants", "M3 21h18M5 21V7l7-4 7 4v14M9 9h1m4 0h1m-6 4h1m4 0h1m-6 4h1m4 0h1"),
    ("/portal", "Overview", "M12 3a9 9 0 100 18 9 9 0 000-18zm0 0c2.5 2.5 3.5 5.5 3.5 9s-1 6.5-3.5 9m0-18C9.5 5.5 8.5 8.5 8.5 12s1 6.5 3.5 9M3.5 9h17M3.5 15h17"),
    ("/mailboxes", "Mailboxes", "M3 7l9 6 9-6M3 7v10h18V7M3 7h18"),
    ("/routing", "Routing", "M4 7h11l-3-3m3 3l-3 3M20 17H9l3 3m-3-3l3-3"),
    ("/approvals", "Approvals", "M9 12l2 2 4-4m5 2a8 8 0 11-16 0 8 8 0 0116 0z"),
    ("/alerts", "Alerts", "M12 9v4m0 4h.01M10.3 3.9L1.8 18a2 2 0 001.7 3h17a2 2 0 001.7-3L13.7 3.9a2 2 0 00-3.4 0z"),
    ("/incidents", "Incidents", "M12 3l8 4v5c0 5-3.5 8-8 9-4.5-1-8-4-8-9V7l8-4zm0 6v4m0 3h.01"),
    ("/dns/templates", "DNS baselines", "M4 5h16v4H4zM4 15h16v4H4zM8 7h.01M8 17h.01"),
    ("/dns/bulk", "DNS changes", "M4 6h10M4 12h16M4 18h10M17 4l3 2-3 2M17 16l3 2-3 2"),
    ("/audit", "Audit", "M9 5h6m-6 4h6m-6 4h4M6 3h12v18H6z"),
    ("/plans", "Plans", "M4 6h16v12H4zM4 10h16"),
    ("/operators", "Operators", "M17 20h5v-2a4 4 0 00-5-3.9M9 20H2v-2a4 4 0 015-3.9m0 0a5 5 0 0110 0M12 11a4 4 0 100-8 4 4 0 000 8z"),
];

#[component]
fn Icon(d: &'static str) -> impl IntoView {
    view! {
        <svg class="h-4 w-4 shrink-0" fill="none" viewBox="0 0 24 24" stroke="currentColor" stroke-width="1.8" aria-hidden="true">
            <path stroke-linecap="round" stroke-linejoin="round" d=d/>
        </svg>
    }
}

/// The signed-in frame: sidebar, header with breadcrumb, title, one-line explanation and the
/// page's primary action, then the flash message and the page body. It takes the shell that
/// came with the page's own data: one resource and one `<Suspense>` per page (several
/// suspense boundaries on one page occasionally stalled SSR responses under load).
#[component]
pub fn Layout(
    shell: Shell,
    title: &'static str,
    #[prop(optional)] crumb: Option<&'static str>,
    #[prop(optional)] description: Option<&'static str>,
    children: Children,
) -> impl IntoView {
    let path = use_location().pathname;
    let role = shell.user.as_ref().map(|u| u.role);
    let platform = matches!(role, Some(Role::Owner) | Some(Role::Operator));
    // Client viewers get their read-only portal, their tenant's audit log and alerts; tenant admins
    // the console without the platform pages; owners and operators everything.
    let viewer = role == Some(Role::ClientViewer);
    // Built twice: the sidebar (wide screens) and the menu a phone opens.
    let nav =
        move || {
            NAV
        .iter()
        .filter(move |(href, _, _)| match *href {
            // Alerts: a viewer reads those its tenant shares with viewers (else an empty page
            // that says so).
            "/portal" | "/audit" | "/alerts" => viewer || *href != "/portal",
            "/operators" | "/plans" => platform,
            _ => !viewer,
        })
        // Only pages that exist: Alerts joins the list with its capability.
        .map(|(href, label, icon)| {
            let href = *href;
            let active = move || {
                let p = path.get();
                if href == "/" { p == "/" } else { p.starts_with(href) }
            };
            view! {
                <a href=href
                    class=move || if active() { "nav-link nav-link-active" } else { "nav-link" }
                    aria-current=move || active().then_some("page")>
                    <Icon d=icon/>{*label}
                </a>
            }
        })
        .collect_view()
        };
    let account = shell.user.clone();
    let user = move || {
        account.clone().map(|u| view! {
        <div class="border-t border-zinc-200 p-3 text-sm">
            <div class="px-2 font-medium truncate" title=u.email.clone()>{u.display_name.clone()}</div>
            <div class="px-2 text-xs text-zinc-500 truncate">{u.email.clone()}" · "{u.role.label()}</div>
            <div class="mt-2 flex flex-col gap-0.5">
                <a class="nav-link" href="/account">"Your account"</a>
                <a class="nav-link" href="/account/sessions">"Your sessions"</a>
                {(u.role != Role::ClientViewer).then(|| view! { <a class="nav-link" href="/account/tokens">"API tokens"</a> })}
                <form method="post" action="/logout">
                    <button class="nav-link w-full text-left" type="submit">"Sign out"</button>
                </form>
            </div>
        </div>
    })
    };
    // Incidents in force over this person's tenants: a red banner on every page (client
    // viewers too), linking to the incident for those who may read it.
    let incidents = shell
        .user
        .as_ref()
        .map(|u| u.incidents.clone())
        .unwrap_or_default();
    let banner = (!incidents.is_empty()).then(|| {
        view! {
            <div class="bg-red-700 text-white px-4 md:px-8 py-3 text-sm space-y-1" role="alert" data-testid="incident-banner">
                {incidents.into_iter().map(|i| {
                    let scope = i.tenant_name.clone().unwrap_or_else(|| "the whole platform".into());
                    let since = utc(i.since_at);
                    view! {
                        <p>
                            <span class="font-semibold">"Incident in force: "</span>
                            {if viewer {
                                view! { <span>{i.title.clone()}</span> }.into_any()
                            } else {
                                view! { <a class="underline font-medium" href=format!("/incidents/{}", i.id)>{i.title.clone()}</a> }.into_any()
                            }}
                            {format!(" \u{2014} {scope}, distrusting what happened since {since}. Risky operations are frozen; locking, revoking and rollbacks still work.")}
                        </p>
                    }
                }).collect_view()}
            </div>
        }
    });
    let brand = || {
        view! {
            <span class="inline-flex h-7 w-7 items-center justify-center rounded-md bg-indigo-600 text-white text-sm">"M"</span>
            "Mailward"
        }
    };
    view! {
        <div class="min-h-screen md:flex bg-zinc-50 text-zinc-900">
            // Keyboard users skip the menu (the first thing a Tab reaches).
            <a href="#content" class="sr-only focus:not-sr-only focus:fixed focus:left-3 focus:top-3 focus:z-50 btn btn-secondary" data-testid="skip-link">"Skip to content"</a>
            <aside class="hidden md:flex w-56 shrink-0 border-r border-zinc-200 bg-white flex-col">
                <a href="/" class="flex items-center gap-2 px-5 h-14 border-b border-zinc-200 font-semibold tracking-tight">
                    {brand()}
                </a>
                <nav class="flex-1 px-3 py-4 space-y-0.5" aria-label="Main">{nav()}</nav>
                {user()}
            </aside>
            // Phones: a bar with the menu behind a button (a <details>: works without JavaScript).
            // After the sidebar in the page, so the first link of a kind is the sidebar's on a
            // wide screen.
            <details class="md:hidden border-b border-zinc-200 bg-white" data-testid="phone-menu">
                <summary class="flex items-center justify-between px-4 h-14 cursor-pointer list-none [&::-webkit-details-marker]:hidden">
                    <span class="flex items-center gap-2 font-semibold tracking-tight">{brand()}</span>
                    <span class="btn btn-secondary py-1">"Menu"</span>
                </summary>
                <nav class="px-3 pb-3 space-y-0.5" aria-label="Main">{nav()}</nav>
                {user()}
            </details>
            <main class="flex-1 min-w-0" id="content" tabindex="-1">
                {banner}
                <header class="border-b border-zinc-200 bg-white px-4 md:px-8 py-5">
                    <nav class="text-xs text-zinc-500" aria-label="Breadcrumb">
                        <a href="/" class="hover:underline">"Mailward"</a>
                        {crumb.map(|c| view! { <span class="mx-1">"/"</span><span>{c}</span> })}
                    </nav>
                    <div class="mt-1">
                        <h1 class="text-xl font-semibold tracking-tight">{title}</h1>
                        {description.map(|d| view! { <p class="mt-1 text-sm text-zinc-600">{d}</p> })}
                    </div>
                </header>
                <div class="px-4 md:px-8 py-6 space-y-6 max-w-6xl">
                    {shell.flash.clone().map(|f| view! { <FlashMessage flash=f/> }.into_any())}
                    {children()}
                </div>
            </main>
        </div>
    }
}

/// The one `<Suspense>` of a page: awaits its resource, renders `body` with the data (or the
/// load error in words) and puts the result in `frame` together with the shell.
fn load_page<T, V, F, W>(
    data: Resource<Result<PageData<T>, ServerFnError>>,
    body: F,
    frame: W,
) -> impl IntoView
where
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
    V: IntoView + 'static,
    F: Fn(T) -> V + Clone + Send + Sync + 'static,
    W: Fn(Shell, AnyView) -> AnyView + Clone + Send + Sync + 'static,
{
    view! {
        <Suspense fallback=|| ()>
            {move || {
                let (body, frame) = (body.clone(), frame.clone());
                Suspend::new(async move {
                    match data.await {
                        Ok(p) => {
                            // What a failed form carried, for `typed` in the page's forms.
                            provide_context(TypedBack(p.shell.flash.as_ref().and_then(|f| {
                                let error = f.field.clone().map(|n| (n, f.message.clone()));
                                f.typed.clone().map(|t| (t, error))
                            })));
                            let inner = match p.data {
                                Ok(d) => body(d).into_any(),
                                Err(msg) => load_error(msg),
                            };
                            frame(p.shell, inner)
                        }
                        Err(e) => load_error(e),
                    }
                })
            }}
        </Suspense>
    }
}

/// The fields of the form post that just failed, and the field its error is about (with
/// the message), as the page's context.
#[derive(Clone)]
struct TypedBack(Option<(crate::auth::Typed, Option<(String, String)>)>);

/// What was typed into the form posting to `action`, when its post just failed: each field
/// shows it instead of the stored or default value, so one mistake does not cost the form.
/// Empty when the page is shown for any other reason. Passwords and codes are never kept.
pub fn typed(action: &str) -> Typed {
    let action = crate::auth::without_link_token(action);
    match use_context::<TypedBack>()
        .and_then(|t| t.0)
        .filter(|(t, _)| t.action == action)
    {
        Some((t, error)) => Typed(Some(t), error),
        None => Typed(None, None),
    }
}

/// See [`typed`]. The second part: the field the error is about, and the message.
#[derive(Clone, Debug, Default)]
pub struct Typed(Option<crate::auth::Typed>, Option<(String, String)>);

impl Typed {
    /// Whether a field gets the focus: the one the error is about, or else `first` (the
    /// form's first field) when the form is back at all.
    pub fn focus(&self, name: &str, first: bool) -> bool {
        match &self.1 {
            Some((f, _)) => f == name,
            None => first && self.is_back(),
        }
    }
    /// `aria-invalid` of the field the error is about.
    pub fn invalid(&self, name: &str) -> Option<&'static str> {
        self.error(name).map(|_| "true")
    }
    /// `aria-describedby` of the field the error is about: its message below it.
    pub fn described(&self, name: &str) -> Option<String> {
        self.error(name).map(|_| format!("err-{name}"))
    }
    fn error(&self, name: &str) -> Option<&str> {
        self.1
            .as_ref()
            .filter(|(f, _)| f == name)
            .map(|(_, m)| m.as_str())
    }
    /// The error's message, below the field it is about (nothing for any other field).
    pub fn error_below(&self, name: &str) -> Option<AnyView> {
        self.error(name).map(|m| {
            view! { <p class="field-error" id=format!("err-{name}") data-testid="field-error">{m.to_string()}</p> }
                .into_any()
        })
    }
    /// Whether the form's post just failed (its fields are back).
    pub fn is_back(&self) -> bool {
        self.0.is_some()
    }
    /// The field as typed, or `stored` when the form is shown fresh.
    pub fn value(&self, name: &str, stored: impl Into<String>) -> String {
        match &self.0 {
            Some(t) => t
                .fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
            None => stored.into(),
        }
    }
    /// For an `<option>` or a radio button: whether `value` was chosen, or `default` fresh.
    pub fn chose(&self, name: &str, value: &str, default: bool) -> bool {
        match &self.0 {
            Some(t) => t.fields.iter().any(|(k, v)| k == name && v == value),
            None => default,
        }
    }
    /// For a checkbox: whether it was ticked, or `default` fresh.
    pub fn ticked(&self, name: &str, default: bool) -> bool {
        match &self.0 {
            Some(t) => t.fields.iter().any(|(k, _)| k == name),
            None => default,
        }
    }
}

/// A new password and its repetition (fields `password` and `confirm`) for the form posting
/// to `action`, each with its error below it when the post was refused for it. Two grid
/// items, so the form lays them out. `first`: the password gets the focus when the form is
/// back for another reason (its other fields were kept, the passwords never are).
#[component]
pub fn NewPassword(
    action: String,
    #[prop(default = "pw")] id: &'static str,
    /// The repetition's id: `{id}2` unless given.
    #[prop(optional)]
    repeat_id: Option<&'static str>,
    #[prop(default = "New password")] label: &'static str,
    #[prop(default = "Repeat it")] repeat: &'static str,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(default = true)] first: bool,
) -> impl IntoView {
    let t = typed(&action);
    let id2 = repeat_id.map_or_else(|| format!("{id}2"), str::to_string);
    view! {
        <div>
            <label class="label" for=id>{label}</label>
            <input class="input" id=id name="password" type="password" required minlength="12" autocomplete="new-password"
                autofocus=t.focus("password", first) aria-invalid=t.invalid("password") aria-describedby=t.described("password")/>
            {t.error_below("password")}
            {hint.map(|h| view! { <p class="hint">{h}</p> })}
        </div>
        <div>
            <label class="label" for=id2.clone()>{repeat}</label>
            <input class="input" id=id2 name="confirm" type="password" required minlength="12" autocomplete="new-password"
                autofocus=t.focus("confirm", false) aria-invalid=t.invalid("confirm") aria-describedby=t.described("confirm")/>
            {t.error_below("confirm")}
        </div>
    }
    .into_any()
}

/// The current password (field `current`) that confirms a change, with its error below it.
#[component]
pub fn CurrentPassword(
    action: String,
    #[prop(default = "current")] id: &'static str,
    #[prop(default = "Current password")] label: &'static str,
) -> impl IntoView {
    let t = typed(&action);
    view! {
        <div>
            <label class="label" for=id>{label}</label>
            <input class="input" id=id name="current" type="password" required autocomplete="current-password"
                autofocus=t.focus("current", false) aria-invalid=t.invalid("current") aria-describedby=t.described("current")/>
            {t.error_below("current")}
        </div>
    }
    .into_any()
}

/// A signed-in page: its one resource rendered inside [`Layout`].
pub fn signed_in_page<T, V, F>(
    title: &'static str,
    crumb: Option<&'static str>,
    description: &'static str,
    data: Resource<Result<PageData<T>, ServerFnError>>,
    body: F,
) -> impl IntoView
where
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
    V: IntoView + 'static,
    F: Fn(T) -> V + Clone + Send + Sync + 'static,
{
    load_page(data, body, move |shell, inner| {
        match crumb {
        Some(c) => view! { <Layout shell=shell title=title crumb=c description=description>{inner}</Layout> }.into_any(),
        None => view! { <Layout shell=shell title=title description=description>{inner}</Layout> }.into_any(),
    }
    })
}

/// The centred frame of sign-in and invitation pages.
#[component]
pub fn AuthLayout(
    shell: Shell,
    title: &'static str,
    #[prop(optional)] subtitle: Option<&'static str>,
    children: Children,
) -> impl IntoView {
    view! {
        <div class="min-h-screen bg-zinc-50 flex flex-col items-center justify-center px-4 py-10 text-zinc-900">
            <div class="mb-6 flex items-center gap-2 font-semibold text-lg tracking-tight">
                <span class="inline-flex h-8 w-8 items-center justify-center rounded-md bg-indigo-600 text-white">"M"</span>
                "Mailward"
            </div>
            <div class="w-full max-w-md card p-8">
                <h1 class="text-lg font-semibold">{title}</h1>
                {subtitle.map(|s| view! { <p class="mt-1 text-sm text-zinc-600">{s}</p> })}
                <div class="mt-4">{shell.flash.clone().map(|f| view! { <FlashMessage flash=f/> }.into_any())}</div>
                <div class="mt-4">{children()}</div>
            </div>
        </div>
    }
}

/// Like [`signed_in_page`], in the centred frame.
pub fn auth_page<T, V, F>(
    title: &'static str,
    subtitle: Option<&'static str>,
    data: Resource<Result<PageData<T>, ServerFnError>>,
    body: F,
) -> impl IntoView
where
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
    V: IntoView + 'static,
    F: Fn(T) -> V + Clone + Send + Sync + 'static,
{
    load_page(data, body, move |shell, inner| match subtitle {
        Some(st) => view! { <AuthLayout shell=shell title=title subtitle=st>{inner}</AuthLayout> }
            .into_any(),
        None => view! { <AuthLayout shell=shell title=title>{inner}</AuthLayout> }.into_any(),
    })
}

/// The flash after a form post. Only its words go to the browser (an island, so "×" can
/// dismiss it); what the failed form carried stays on the server.
#[component]
pub fn FlashMessage(flash: Flash) -> impl IntoView {
    view! { <FlashNote success=matches!(flash.kind, FlashKind::Success) message=flash.message/> }
}

#[island]
fn FlashNote(success: bool, message: String) -> impl IntoView {
    let (class, role, label) = if success {
        ("toast toast-success", "status", "Done")
    } else {
        ("toast toast-error", "alert", "Error")
    };
    let open = RwSignal::new(true);
    view! {
        <Show when=move || open.get()>
            <div class=class role=role data-testid="flash">
                <span class="font-medium">{label}": "</span>
                <span>{message.clone()}</span>
                <button type="button" class="ml-auto text-current opacity-60 hover:opacity-100" aria-label="Dismiss"
                    on:click=move |_| open.set(false)>"×"</button>
            </div>
        </Show>
    }
}

/// A status word in a coloured pill (colour never carries meaning alone).
#[component]
pub fn Badge(
    #[prop(into)] text: String,
    #[prop(default = "gray")] tone: &'static str,
) -> impl IntoView {
    view! { <span class=badge_class(tone)>{text}</span> }
}

/// A [`Badge`]'s classes for its tone.
pub fn badge_class(tone: &str) -> &'static str {
    match tone {
        "green" => "badge badge-green",
        "red" => "badge badge-red",
        "amber" => "badge badge-amber",
        "blue" => "badge badge-blue",
        _ => "badge badge-gray",
    }
}

#[component]
pub fn EmptyState(title: &'static str, #[prop(into)] hint: String) -> impl IntoView {
    view! {
        <div class="rounded-lg border border-dashed border-zinc-300 bg-white px-6 py-10 text-center">
            <p class="font-medium text-zinc-800">{title}</p>
            <p class="mt-1 text-sm text-zinc-500">{hint}</p>
        </div>
    }
}

/// Relative time with the exact UTC time on hover. `now` comes with the page data so the
/// server and the browser render the same text.
#[component]
pub fn Time(at: i64, now: i64) -> impl IntoView {
    let exact = chrono::DateTime::from_timestamp(at, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default();
    let iso = chrono::DateTime::from_timestamp(at, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    view! { <time datetime=iso title=exact>{relative(at, now)}</time> }
}

/// An exact UTC time as text: `2026-12-04 14:37 UTC`.
pub fn utc(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

pub fn relative(at: i64, now: i64) -> String {
    let d = now - at;
    let (n, unit, future) = if d >= 0 {
        (d, "", false)
    } else {
        (-d, "", true)
    };
    let _ = unit;
    let s = if n < 45 {
        return if future {
            "in a moment".into()
        } else {
            "just now".into()
        };
    } else if n < 90 * 60 {
        format!("{} min", (n + 30) / 60)
    } else if n < 36 * 3600 {
        format!("{} h", (n + 1800) / 3600)
    } else {
        format!("{} days", (n + 43200) / 86400)
    };
    if future {
        format!("in {s}")
    } else {
        format!("{s} ago")
    }
}

/// A POST button for destructive actions: with JavaScript it asks first in a dialog that
/// names what will happen; without JavaScript it posts directly. `children` are the form's
/// fields (checked before the dialog opens); `form_class` and `button_class` style the form
/// (inline by default) and the button (a quiet red one by default). The form and its fields
/// are plain server HTML; only the button and its dialog are an island.
#[component]
pub fn ConfirmButton(
    #[prop(into)] action: String,
    #[prop(into)] label: String,
    #[prop(into)] question: String,
    #[prop(optional, into)] hidden_name: Option<String>,
    #[prop(optional, into)] hidden_value: Option<String>,
    #[prop(optional, into)] form_class: Option<String>,
    #[prop(optional, into)] button_class: Option<String>,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <form method="post" action=action class=form_class.unwrap_or_else(|| "inline".into())>
            {hidden_name.map(|n| view! { <input type="hidden" name=n value=hidden_value.clone().unwrap_or_default()/> })}
            {children.map(|c| c())}
            {view! { <ConfirmSubmit label=label question=question
                button_class=button_class.unwrap_or_else(|| "btn btn-danger-ghost".into())/> }.into_any()}
        </form>
    }
}

/// The submit button of a `ConfirmButton`: once the page is interactive, a click opens the
/// dialog (on "Cancel", the safe choice; Escape closes it) and "confirm" submits its form.
#[island]
fn ConfirmSubmit(label: String, question: String, button_class: String) -> impl IntoView {
    let open = RwSignal::new(false);
    let submit_ref = NodeRef::<leptos::html::Button>::new();
    let cancel_ref = NodeRef::<leptos::html::Button>::new();
    // In the browser only (the wasm build has no `ssr`; a workspace build has both features,
    // and a server-side effect would be spawned outside a LocalSet).
    #[cfg(not(feature = "ssr"))]
    Effect::new(move |_| {
        if let Some(b) = cancel_ref.get() {
            let _ = b.focus();
        }
    });
    // The click handlers run only in the browser; the server build never needs the form.
    let ask = move || {
        #[cfg(feature = "hydrate")]
        if let Some(f) = submit_ref.get().and_then(|b| b.form()) {
            // The fields' own checks (a required reason) speak first.
            if !f.report_validity() {
                return;
            }
        }
        open.set(true);
    };
    let confirm = move || {
        #[cfg(feature = "hydrate")]
        if let Some(f) = submit_ref.get().and_then(|b| b.form()) {
            let _ = f.submit();
        }
    };
    let label2 = label.clone();
    view! {
        <button type="submit" class=button_class node_ref=submit_ref
            on:click=move |ev| {
                ev.prevent_default();
                ask();
            }>{label}</button>
        <Show when=move || open.get()>
            <div class="fixed inset-0 z-50 flex items-center justify-center bg-zinc-900/40" role="dialog" aria-modal="true"
                on:keydown=move |ev: leptos::ev::KeyboardEvent| if ev.key() == "Escape" { open.set(false) }>
                <div class="card w-full max-w-sm p-6 text-left">
                    <p class="font-medium">"Are you sure?"</p>
                    <p class="mt-2 text-sm text-zinc-600">{question.clone()}</p>
                    <div class="mt-5 flex justify-end gap-2">
                        <button type="button" class="btn btn-secondary" node_ref=cancel_ref on:click=move |_| open.set(false)>"Cancel"</button>
                        <button type="button" class="btn btn-danger"
                            on:click=move |_| confirm()>{label2.clone()}</button>
                    </div>
                </div>
            </div>
        </Show>
    }
}

/// A secret typed by hand, in groups of four (`ABCD EFGH …`): easier to read out and compare.
/// Authenticator apps ignore the spaces.
pub fn grouped(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A count with its noun: `plural(1, "line", "lines")` is "1 line", 6 gives "6 lines".
pub fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// A whole number with its thousands grouped: `12,500`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Shows a page's load error in words.
pub fn load_error(e: impl std::fmt::Display) -> AnyView {
    let text = e.to_string();
    let text = text
        .strip_prefix("error running server function: ")
        .unwrap_or(&text)
        .to_string();
    view! { <div class="toast toast-error" role="alert">{text}</div> }.into_any()
}

/// "Chrome on Linux" from a User-Agent header (the full string stays in the tooltip).
pub fn describe_user_agent(ua: Option<&str>) -> String {
    let Some(ua) = ua else {
        return "Unknown client".into();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(k, _)| ua.contains(k))
    .map(|(_, v)| *v);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(k, _)| ua.contains(k))
    .map(|(_, v)| *v);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_string(),
        (None, Some(o)) => format!("Browser on {o}"),
        (None, None) => ua.chars().take(40).collect(),
    }
}

/// The storage pool as an inline SVG bar: allocated (light) and used (dark) out of the size,
/// with the numbers in words beside it.
#[component]
pub fn PoolBar(allocated: i64, used: Option<i64>, size: i64) -> impl IntoView {
    let mut h = html::Html::with_capacity(320);
    pool_bar(&mut h, allocated, used, size);
    h.view()
}

/// [`PoolBar`] written into a buffer (the domain overview writes one on every row).
pub fn pool_bar(h: &mut html::Html, allocated: i64, used: Option<i64>, size: i64) {
    use crate::tenancy::Bytes;
    // Colours and sizes are the `.pool` rules of style/main.css.
    h.tag("<div class=\"pool\"><svg viewBox=\"0 0 100 6\" preserveAspectRatio=\"none\" aria-hidden=\"true\"><rect width=\"100\" height=\"6\"></rect><rect width=\"")
        .percent(allocated, size)
        .tag("\" height=\"6\"></rect><rect width=\"")
        .percent(used.unwrap_or(0), size)
        .tag("\" height=\"6\"></rect></svg><div>")
        .fmt(format_args!("{} / {} allocated · ", Bytes(allocated), Bytes(size)));
    match used {
        Some(u) => h.fmt(format_args!("{} used", Bytes(u))),
        None => h.tag("used: no data"),
    };
    h.tag("</div></div>");
}

pub fn status_tone(status: impl AsRef<str>) -> &'static str {
    match status.as_ref() {
        "active" => "green",
        "pending" => "amber",
        "suspended" | "disabled" => "red",
        _ => "gray",
    }
}

/// A query-string value, percent-encoded (unreserved characters and `@` kept as they are).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A value read from the address bar (query or path parameter), as pages pass it on to the
/// server: without control characters (a NUL reaches PostgreSQL as an error) and at most 4,000 characters — the same
/// bounds the edge enforces on requests (the router decodes query values once more than a
/// plain request parser, so `%2500` arrives here as a NUL).
pub fn param(m: &leptos_router::params::ParamsMap, key: &str) -> Option<String> {
    m.get(key).map(clean_param)
}

fn clean_param(s: String) -> String {
    if s.len() <= 4000 && !s.chars().any(char::is_control) {
        return s;
    }
    s.chars().filter(|c| !c.is_control()).take(4000).collect()
}

/// A button that copies `text` to the clipboard once the page is interactive, and says so.
#[island]
pub fn CopyButton(
    #[prop(into)] text: String,
    #[prop(optional, into)] testid: Option<String>,
) -> impl IntoView {
    let copied = RwSignal::new(false);
    view! {
        <button type="button" class="btn btn-secondary" data-testid=testid on:click=move |_| {
            #[cfg(feature = "hydrate")]
            {
                if let Some(w) = web_sys::window() {
                    let _ = w.navigator().clipboard().write_text(&text);
                }
            }
            let _ = &text;
            copied.set(true);
        }>{move || if copied.get() { "Copied" } else { "Copy" }}</button>
    }
}
