//! The mailbox owner's own area (`/me`): sign-in with the mailbox password, a reset with a
//! recovery code, their recovery codes, password and app passwords, and recent sign-ins.
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::pages::AppPasswordsTable;
use super::{AppPassword, Mailbox};
use crate::audit::AuditEvent;
use crate::auth::pages::SecretOnce;
use crate::auth::{FreshSecret, PageData};
use crate::ui::{auth_page, status_tone, Badge, CurrentPassword, FlashMessage, NewPassword, Time};

#[cfg(feature = "ssr")]
async fn signed_in_owner(c: &crate::ssr::Ctx) -> crate::core::AppResult<crate::core::authz::Actor> {
    super::http::owner_of(&c.st, &c.session, &c.client)
        .await
        .ok_or_else(|| crate::core::AppError::invalid("Sign in to your mailbox first."))
}

#[component]
pub fn OwnerLoginPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| crate::auth::api::get_shell());
    auth_page(
        "Your mailbox",
        Some("Sign in with your mailbox address and password to manage your password, recovery codes and app passwords."),
        data,
        |_: ()| view! {
            <form method="post" action="/me/login" class="space-y-3">
                <div>
                    <label class="label" for="address">"Mailbox address"</label>
                    <input class="input" id="address" name="address" type="email" required autocomplete="username"/>
                </div>
                <div>
                    <label class="label" for="password">"Password"</label>
                    <input class="input" id="password" name="password" type="password" required autocomplete="current-password"/>
                </div>
                <button class="btn btn-primary w-full" type="submit">"Sign in"</button>
            </form>
            <p class="mt-4 text-sm text-zinc-600">"Forgot your password? "<a class="link" href="/me/reset">"Set a new one with a recovery code"</a></p>
        },
    )
}

#[component]
pub fn SelfResetPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| crate::auth::api::get_shell());
    auth_page(
        "Reset your mailbox password",
        Some("Use one of the recovery codes you saved when you set up your mailbox. Every signed-in session ends, and you get a notice."),
        data,
        |_: ()| view! {
            <form method="post" action="/me/reset" class="space-y-3">
                <div>
                    <label class="label" for="address">"Mailbox address"</label>
                    <input class="input" id="address" name="address" type="email" required autocomplete="username"/>
                </div>
                <div>
                    <label class="label" for="code">"Recovery code"</label>
                    <input class="input font-mono" id="code" name="code" required autocomplete="off" placeholder="XXXX-XXXX-XXXX"/>
                </div>
                <NewPassword action="/me/reset".to_string() first=false/>
                <button class="btn btn-primary w-full" type="submit">"Set new password"</button>
            </form>
            <p class="mt-4 text-sm text-zinc-600">"No recovery code left? Ask whoever manages your mailbox to send you a reset link."</p>
        },
    )
}

#[server(prefix = "/_sf")]
pub async fn get_owner_codes() -> Result<PageData<Vec<String>>, ServerFnError> {
    crate::ssr::page(|c| async move {
        signed_in_owner(&c).await?;
        c.session
            .get::<Vec<String>>(crate::auth::sessions::FRESH_MAILBOX_CODES)
            .await
            .ok()
            .flatten()
            .ok_or_else(|| {
                crate::core::AppError::invalid(
                    "These codes were shown once already. Make new ones from your mailbox page if you lost them.",
                )
            })
    })
    .await
}

#[component]
pub fn OwnerCodesPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_owner_codes());
    auth_page(
        "Save your recovery codes",
        Some("Each code lets you set a new password once, without anyone's help. They are shown only now."),
        data,
        |codes: Vec<String>| view! {
            <ul class="grid grid-cols-2 gap-2 font-mono text-sm" data-testid="recovery-codes">
                {codes.into_iter().map(|c| view! { <li class="rounded bg-zinc-100 px-2 py-1 text-center">{c}</li> }).collect_view()}
            </ul>
            <a class="btn btn-secondary w-full mt-4" href="/me/recovery-codes.txt" download="mailbox-recovery-codes.txt">"Download as a text file"</a>
            <form method="post" action="/me/recovery-codes/ack" class="mt-3">
                <button class="btn btn-primary w-full" type="submit">"I have saved them — continue"</button>
            </form>
        },
    )
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OwnerHome {
    pub mailbox: Mailbox,
    pub recovery_codes_left: i64,
    pub app_passwords: Vec<AppPassword>,
    pub signins: Vec<AuditEvent>,
    pub fresh: Option<FreshSecret>,
    pub now: i64,
    /// Live routes of the mailbox (its forwards) and forward requests waiting.
    pub forwards: Vec<crate::routing::Route>,
    pub forward_requests: i64,
    /// The mail server mail programs connect to (config `mail_host`), if known.
    pub mail_host: Option<String>,
    /// Outside services that use this address (email as identity).
    pub identities: Vec<super::Identity>,
    /// Who may send as it or open its folders, and which mailboxes were delegated to it.
    pub delegations: super::Delegations,
}

#[server(prefix = "/_sf")]
pub async fn get_owner_home() -> Result<PageData<OwnerHome>, ServerFnError> {
    crate::ssr::page(|c| async move {
        let a = signed_in_owner(&c).await?;
        let v = super::service::owner_view(&c.st, &a).await?;
        let fresh = crate::auth::api::take_fresh(&c).await;
        let (forwards, forward_requests) = crate::routing::service::own_routes(&c.st, &a).await?;
        let identities = super::service::identities(&c.st, &a, "").await?;
        let delegations = super::service::delegations(&c.st, &a, "").await?;
        Ok(OwnerHome {
            identities,
            delegations,
            forwards,
            forward_requests,
            mailbox: v.mailbox,
            recovery_codes_left: v.recovery_codes_left,
            app_passwords: v.app_passwords,
            signins: v.signins,
            fresh,
            now: c.st.clock.now(),
            mail_host: c.st.config.mail_host.clone(),
        })
    })
    .await
}

fn event_label(action: &str) -> &'static str {
    match action {
        "mailbox.signin" => "Signed in",
        "mailbox.signin_failed" => "Failed sign-in",
        "mailbox.self_reset" => "Password reset with a recovery code",
        "mailbox.password_reset" => "Password set from a reset link",
        "mailbox.password_changed" => "Password changed",
        "mailbox.activated" => "Mailbox activated",
        _ => "Event",
    }
}

#[component]
pub fn OwnerHomePage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_owner_home());
    view! {
        <Suspense fallback=|| view! { <p class="p-8 text-sm text-zinc-500">"Loading…"</p> }>
            {move || data.get().map(|r| match r {
                Err(e) => crate::ui::load_error(e),
                Ok(PageData { shell, data }) => match data {
                    Err(msg) => view! { <p class="p-8 text-sm text-red-700">{msg}</p> }.into_any(),
                    Ok(h) => view! { <OwnerHomeView shell_flash=shell.flash home=h/> }.into_any(),
                },
            })}
        </Suspense>
    }
}

#[component]
fn OwnerHomeView(shell_flash: Option<crate::auth::Flash>, home: OwnerHome) -> impl IntoView {
    let m = home.mailbox.clone();
    let now = home.now;
    // Large sections are type-erased: the page renders within a worker thread's stack.
    let identities = view! {
        <super::pages::IdentitiesCard items=home.identities.clone() critical=m.critical owner=true now=now base=Some("/me/identities".to_string())/>
    }
    .into_any();
    let delegations = view! {
        <super::pages::DelegationsCard mailbox=m.clone() d=home.delegations.clone() now=now
            base="/me/delegations".to_string() owner=true can_delegate=!m.shared/>
    }
    .into_any();
    let fw = crate::ui::typed("/me/forward");
    let forwarding = view! {
                <section class="card p-5 space-y-2">
                    <h2 class="font-medium">"Forwarding"</h2>
                    {if home.forwards.is_empty() {
                        view! { <p class="text-sm text-zinc-600" data-testid="no-forwards">"No forwarding rule sends your mail anywhere else."</p> }.into_any()
                    } else {
                        view! { <ul class="text-sm" data-testid="forwards">{home.forwards.iter().map(|r| view! {
                            <li>{format!("{} → {}", r.kind_label(), r.targets.iter().map(|t| t.address.clone()).collect::<Vec<_>>().join(", "))}
                                {r.expires_at.map(|e| view! { <span class="text-zinc-500">" · ends "<Time at=e now=now/></span> })}
                                {(r.state == "unconfirmed").then(|| view! { <span class="text-amber-700">" · waiting for the recipient to confirm"</span> })}</li>
                        }).collect_view()}</ul> }.into_any()
                    }}
                    {(home.forward_requests > 0).then(|| view! { <p class="text-sm text-amber-700" data-testid="forward-pending">{format!("{} forward request(s) waiting for approval.", home.forward_requests)}</p> })}
                    <form method="post" action="/me/forward" class="grid gap-3 sm:grid-cols-4 items-start">
                        <div class="sm:col-span-2"><label class="label" for="fw-to">"Forward my mail to"</label><input class="input" id="fw-to" name="targets" type="email" required placeholder="me@elsewhere.example" value=fw.value("targets", "") autofocus=fw.focus("targets", true) aria-invalid=fw.invalid("targets") aria-describedby=fw.described("targets")/>{fw.error_below("targets")}</div>
                        <div><label class="label" for="fw-days">"For (days)"</label><input class="input" id="fw-days" name="days" type="number" min="1" max="90" placeholder="30" value=fw.value("days", "") autofocus=fw.focus("days", false) aria-invalid=fw.invalid("days") aria-describedby=fw.described("days")/>{fw.error_below("days")}</div>
                        <div class="sm:col-span-3"><label class="label" for="fw-why">"Why"</label><input class="input" id="fw-why" name="reason" required maxlength="500" placeholder="e.g. on leave, reading mail at my other address" value=fw.value("reason", "") autofocus=fw.focus("reason", false) aria-invalid=fw.invalid("reason") aria-describedby=fw.described("reason")/>{fw.error_below("reason")}</div>
                        <div class="sm:pt-6"><button class="btn btn-secondary w-full" type="submit">"Request forward"</button></div>
                    </form>
                    <p class="hint">"Forwarding needs approval from whoever manages your mailbox, goes only to allowed domains, and always ends (at most 90 days). A copy stays in your mailbox."</p>
                </section>
    }
    .into_any();
    let signins = view! {
                <section class="card">
                    <h2 class="px-5 py-3 border-b border-zinc-200 font-medium">"Recent sign-ins and changes"</h2>
                    <ul class="divide-y divide-zinc-100" data-testid="owner-signins">
                        {home.signins.clone().into_iter().map(|e| view! {
                            <li class="px-5 py-2 text-sm flex gap-3">
                                <span class="w-28 shrink-0 text-zinc-500"><Time at=e.at now=now/></span>
                                <span class=if e.action.ends_with("_failed") { "text-red-700" } else { "" }>{event_label(&e.action)}</span>
                                <span class="text-zinc-500 font-mono text-xs">{e.ip.clone().unwrap_or_default()}</span>
                                <span class="text-zinc-500 truncate">{crate::ui::describe_user_agent(e.user_agent.as_deref())}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                </section>
    }
    .into_any();
    view! {
        <div class="min-h-screen bg-zinc-50 text-zinc-900">
            <header class="border-b border-zinc-200 bg-white">
                <div class="mx-auto max-w-3xl px-6 h-14 flex items-center justify-between">
                    <span class="flex items-center gap-2 font-semibold tracking-tight">
                        <span class="inline-flex h-7 w-7 items-center justify-center rounded-md bg-indigo-600 text-white text-sm">"M"</span>
                        "Your mailbox"
                    </span>
                    <form method="post" action="/me/logout"><button class="btn btn-secondary" type="submit">"Sign out"</button></form>
                </div>
            </header>
            <main class="mx-auto max-w-3xl px-6 py-6 space-y-6">
                {shell_flash.map(|f| view! { <FlashMessage flash=f/> }.into_any())}
                <section class="card p-5">
                    <h1 class="text-lg font-semibold" data-testid="owner-address">{crate::types::readable(&m.address)}" "<Badge text=m.status.as_str() tone=status_tone(m.status.as_str())/></h1>
                    <p class="text-sm text-zinc-600">{m.display_name.clone()}</p>
                </section>
                {home.fresh.clone().map(|f| view! { <SecretOnce secret=f/> })}
                {view! {
                <section class="card p-5 space-y-3">
                    <h2 class="font-medium">"Password"</h2>
                    <form method="post" action="/me/password" class="grid gap-3 sm:grid-cols-3 items-start">
                        <CurrentPassword action="/me/password".to_string() id="cur" label="Current"/>
                        <NewPassword action="/me/password".to_string() id="new" label="New" repeat="Repeat new" first=false/>
                        <div class="sm:col-span-3"><button class="btn btn-primary" type="submit">"Change password"</button></div>
                    </form>
                </section>
                <section class="card p-5 space-y-2">
                    <h2 class="font-medium">"Recovery codes"</h2>
                    <p class="text-sm text-zinc-600" data-testid="codes-left">{format!("{} of 10 unused. Each sets a new password once at /me/reset.", home.recovery_codes_left)}</p>
                    <form method="post" action="/me/recovery-codes" class="grid gap-3 sm:grid-cols-3 items-end">
                        <CurrentPassword action="/me/recovery-codes".to_string() id="rc-cur" label="Your password"/>
                        <div class="sm:col-span-2"><button class="btn btn-secondary" type="submit">"Make new codes"</button>
                            <span class="ml-2 text-xs text-zinc-500">"Ten new codes replace the old ones, which stop working at once."</span></div>
                    </form>
                </section>
                }.into_any()}
                {view! {
                <section class="card">
                    <div class="px-5 py-3 border-b border-zinc-200">
                        <h2 class="font-medium">"App passwords"</h2>
                        <p class="text-sm text-zinc-600">"For a mail program or phone: each has its own password, only for the protocols you choose, and can be revoked alone."</p>
                    </div>
                    <form method="post" action="/me/app-passwords" class="px-5 py-4 grid gap-3 sm:grid-cols-4 items-end border-b border-zinc-100">
                        <div class="sm:col-span-2"><label class="label" for="ap-name">"Name"</label><input class="input" id="ap-name" name="name" required maxlength="64" placeholder="e.g. Phone mail app"/></div>
                        <CurrentPassword action="/me/app-passwords".to_string() id="ap-cur" label="Your password"/>
                        <fieldset class="flex gap-3 text-sm">
                            <legend class="label">"For"</legend>
                            <label class="flex items-center gap-1"><input type="checkbox" name="imap" value="on" checked/>"IMAP"</label>
                            <label class="flex items-center gap-1"><input type="checkbox" name="smtp" value="on" checked/>"SMTP"</label>
                        </fieldset>
                        <div><label class="label" for="ap-days">"Expires in (days)"</label><input class="input" id="ap-days" name="days" type="number" min="1" max="730" placeholder="never"/></div>
                        <div class="sm:col-span-4"><button class="btn btn-primary" type="submit">"Create app password"</button></div>
                    </form>
                    <AppPasswordsTable items=home.app_passwords.clone() now=now revoke_base=Some("/me/app-passwords".to_string())/>
                </section>
                }.into_any()}
                {home.mail_host.clone().map(|host| view! { <MailSettings host=host address=m.address.clone()/> }.into_any())}
                {identities}
                {delegations}
                {forwarding}
                {signins}
            </main>
        </div>
    }
}

/// What a mail program needs: the server, ports and user name (config `mail_host`).
#[component]
fn MailSettings(host: String, address: String) -> impl IntoView {
    view! {
        <section class="card p-5 space-y-2" data-testid="mail-settings">
            <h2 class="font-medium">"Settings for your mail program"</h2>
            <dl class="grid grid-cols-[auto_1fr] gap-x-6 gap-y-1 text-sm">
                <dt class="text-zinc-500">"Incoming (IMAP)"</dt>
                <dd><span class="font-mono">{host.clone()}</span>", port 993, SSL/TLS (or 143, STARTTLS)"</dd>
                <dt class="text-zinc-500">"Outgoing (SMTP)"</dt>
                <dd><span class="font-mono">{host.clone()}</span>", port 587, STARTTLS, with sign-in"</dd>
                <dt class="text-zinc-500">"User name"</dt>
                <dd class="font-mono">{address}</dd>
                <dt class="text-zinc-500">"Password"</dt>
                <dd>"Your mailbox password, or better an app password made above for that program"</dd>
            </dl>
            <p class="text-xs text-zinc-500">"POP3 is not offered: IMAP keeps your mail on the server, in step on every device."</p>
        </section>
    }
}
