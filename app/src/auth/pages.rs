//! Sign-in, invitation/setup, recovery codes, sessions, API tokens and operators pages.
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::api::*;
use super::Role;
use crate::ui::{auth_page, signed_in_page, Badge, ConfirmButton, EmptyState, Time};

#[component]
pub fn LoginPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_shell());
    auth_page(
        "Sign in",
        Some("Use your email and password; we ask for your authenticator code next."),
        data,
        |_: ()| {
            let t = crate::ui::typed("/login");
            view! {
                <form method="post" action="/login" class="space-y-4">
                    <div>
                        <label class="label" for="email">"Email"</label>
                        <input class="input" id="email" name="email" type="email" autocomplete="username" required autofocus
                            value=t.value("email", "")/>
                    </div>
                    <div>
                        <label class="label" for="password">"Password"</label>
                        <input class="input" id="password" name="password" type="password" autocomplete="current-password" required/>
                    </div>
                    <button class="btn btn-primary w-full" type="submit">"Continue"</button>
                </form>
            }
        },
    )
}

#[component]
pub fn VerifyPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_pending_sign_in());
    auth_page(
        "Two-step verification",
        Some("Enter the 6-digit code from your authenticator app, or one of your recovery codes."),
        data,
        |_: bool| {
            view! {
                <form method="post" action="/login/verify" class="space-y-4">
                    <div>
                        <label class="label" for="code">"Code"</label>
                        <input class="input font-mono tracking-widest" id="code" name="code" type="text"
                            inputmode="text" autocomplete="one-time-code" required autofocus
                            placeholder="123456 or XXXX-XXXX-XXXX"/>
                        <p class="hint">"A recovery code works once and is then used up."</p>
                    </div>
                    <button class="btn btn-primary w-full" type="submit">"Sign in"</button>
                </form>
                <p class="mt-4 text-sm text-center"><a class="link" href="/login">"Start over"</a></p>
            }
        },
    )
}

#[component]
pub fn InvitePage() -> impl IntoView {
    let params = use_params_map();
    let token = move || crate::ui::param(&params.read(), "token").unwrap_or_default();
    let data = Resource::new(token, get_invite);
    auth_page(
        "Set up your Mailward account",
        None,
        data,
        move |inv: super::InviteView| {
            let t = token();
            match inv.totp.clone() {
                None => view! { <PasswordStep token=t inv=inv/> }.into_any(),
                Some(totp) => {
                    view! { <TotpStep token=t totp=totp recovering=inv.recovering/> }.into_any()
                }
            }
        },
    )
}

#[component]
fn Steps(current: u8) -> impl IntoView {
    let step = move |n: u8, label: &'static str| {
        let class = if n == current {
            "font-semibold text-indigo-700"
        } else if n < current {
            "text-zinc-500 line-through"
        } else {
            "text-zinc-500"
        };
        view! { <li class=class>{format!("{n}. {label}")}</li> }
    };
    view! {
        <ol class="flex gap-4 text-xs mb-5" aria-label="Steps">
            {step(1, "Password")}{step(2, "Authenticator")}{step(3, "Recovery codes")}
        </ol>
    }
}

#[component]
fn PasswordStep(token: String, inv: super::InviteView) -> impl IntoView {
    let recovering = inv.recovering;
    let intro = if inv.is_setup {
        "This one-time link creates the first owner account of this Mailward installation."
    } else if recovering {
        "This one-time link, issued on the server, gives your account a new password, authenticator and recovery codes. The old ones stop working and every session of the account ends."
    } else if inv.role == Role::TenantAdmin {
        "You were invited to Mailward to manage your organisation's mail domains and mailboxes. Choose a password only you know."
    } else if inv.role == Role::ClientViewer {
        "You were invited to Mailward to see how your organisation's mail is looked after (read-only). Choose a password only you know."
    } else {
        "You were invited to operate Mailward. Choose a password only you know."
    };
    let t = crate::ui::typed(&format!("/invite/{token}/password"));
    let t2 = t.clone();
    let t3 = t.clone();
    view! {
        <Steps current=1/>
        <p class="text-sm text-zinc-600 mb-4">{intro}</p>
        <form method="post" action=format!("/invite/{token}/password") class="space-y-4">
            {match inv.email.clone() {
                Some(e) => view! {
                    <div>
                        <span class="label">"Email"</span>
                        <p class="text-sm font-medium">{e}</p>
                        <p class="hint">{format!("Role: {}", inv.role.label())}</p>
                    </div>
                }.into_any(),
                None => view! {
                    <div>
                        <label class="label" for="email">"Your email"</label>
                        <input class="input" id="email" name="email" type="email" autocomplete="username" required
                            value=t.value("email", "") autofocus=t.focus("email", false) aria-invalid=t.invalid("email") aria-describedby=t.described("email")/>
                        {t.error_below("email")}
                    </div>
                }.into_any(),
            }}
            {(!recovering).then(|| view! {
                <div>
                    <label class="label" for="display_name">"Your name"</label>
                    <input class="input" id="display_name" name="display_name" type="text" autocomplete="name" required maxlength="100"
                        value=t2.value("display_name", "") autofocus=t2.focus("display_name", false) aria-invalid=t2.invalid("display_name") aria-describedby=t2.described("display_name")/>
                    {t2.error_below("display_name")}
                </div>
            })}
            <div>
                <label class="label" for="password">"Password"</label>
                <input class="input" id="password" name="password" type="password" autocomplete="new-password" required minlength="12"
                    autofocus=t3.focus("password", true) aria-invalid=t3.invalid("password") aria-describedby=t3.described("password")/>
                {t3.error_below("password")}
                <p class="hint">"At least 12 characters. A phrase of several words works well; common passwords are refused."</p>
            </div>
            <div>
                <label class="label" for="confirm">"Repeat the password"</label>
                <input class="input" id="confirm" name="confirm" type="password" autocomplete="new-password" required minlength="12"
                    autofocus=t3.focus("confirm", false) aria-invalid=t3.invalid("confirm") aria-describedby=t3.described("confirm")/>
                {t3.error_below("confirm")}
            </div>
            <button class="btn btn-primary w-full" type="submit">"Continue"</button>
        </form>
    }
}

#[component]
fn TotpStep(token: String, totp: super::TotpEnrolment, recovering: bool) -> impl IntoView {
    view! {
        <Steps current=2/>
        <p class="text-sm text-zinc-600">"Scan this code with your authenticator app (1Password, Aegis, Google Authenticator…), then enter the 6-digit code it shows."</p>
        <div class="mt-4 flex justify-center">
            <img src=totp.qr_data_url.clone() alt="QR code for your authenticator app" width="200" height="200" class="rounded border border-zinc-200"/>
        </div>
        <p class="mt-3 text-xs text-zinc-500">"Can't scan? Enter this secret by hand:"</p>
        <p class="mt-1 font-mono text-sm break-all select-all bg-zinc-100 rounded px-2 py-1" data-testid="totp-secret">{crate::ui::grouped(&totp.secret)}</p>
        <form method="post" action=format!("/invite/{token}/totp") class="mt-5 space-y-4">
            <div>
                <label class="label" for="code">"6-digit code"</label>
                <input class="input font-mono tracking-widest" id="code" name="code" type="text" inputmode="numeric"
                    autocomplete="one-time-code" pattern="[0-9 ]{6,7}" required autofocus/>
            </div>
            <button class="btn btn-primary w-full" type="submit">{if recovering { "Confirm and recover the account" } else { "Confirm and create account" }}</button>
        </form>
        <form method="post" action=format!("/invite/{token}/restart") class="mt-3 text-center">
            <button class="link text-sm" type="submit">"Choose a different password"</button>
        </form>
    }
}

#[component]
pub fn RecoveryCodesPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_fresh_recovery_codes());
    auth_page(
        "Save your recovery codes",
        Some(
            "Each code signs you in once if you lose your authenticator. They are shown only now.",
        ),
        data,
        |codes: Vec<String>| {
            view! {
                <Steps current=3/>
                <ul class="grid grid-cols-2 gap-2 font-mono text-sm" data-testid="recovery-codes">
                    {codes.into_iter().map(|c| view! { <li class="rounded bg-zinc-100 px-2 py-1 text-center">{c}</li> }).collect_view()}
                </ul>
                <a class="btn btn-secondary w-full mt-4" href="/account/recovery-codes.txt" download="mailward-recovery-codes.txt">"Download as a text file"</a>
                <form method="post" action="/account/recovery-codes/ack" class="mt-3">
                    <button class="btn btn-primary w-full" type="submit">"I have saved them — continue"</button>
                </form>
            }
        },
    )
}

/// An authenticator code field (6 digits, spaces allowed).
#[component]
fn CodeField(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    /// Also takes a recovery code (for someone whose authenticator is gone).
    #[prop(optional)]
    recovery: bool,
) -> impl IntoView {
    if recovery {
        view! {
            <div>
                <label class="label" for=id.clone()>{label}</label>
                <input class="input font-mono w-56" id=id name="code" type="text"
                    autocomplete="one-time-code" spellcheck="false" autocapitalize="off" required maxlength="32"/>
                <p class="hint">"Your authenticator's 6-digit code, or one of your recovery codes."</p>
            </div>
        }
        .into_any()
    } else {
        view! {
            <div>
                <label class="label" for=id.clone()>{label}</label>
                <input class="input font-mono tracking-widest w-40" id=id name="code" type="text" inputmode="numeric"
                    autocomplete="one-time-code" pattern="[0-9 ]{6,7}" required/>
            </div>
        }
        .into_any()
    }
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_account());
    signed_in_page(
        "Your account",
        Some("Your account"),
        "Your password, authenticator and recovery codes. Each change asks for a current factor again and is recorded in the audit log.",
        data,
        |p: AccountPage| {
            let notice = if p.mail_configured {
                format!("A notice goes to {} after each change.", p.email)
            } else {
                "Outgoing mail is not configured, so no notice is emailed; the audit log records each change.".to_string()
            };
            view! {
                <section class="card p-5" data-testid="account-summary">
                    <div class="flex flex-wrap items-baseline gap-x-6 gap-y-1">
                        <h2 class="font-medium">{p.display_name.clone()}</h2>
                        <span class="text-sm text-zinc-600">{p.email.clone()}</span>
                        <Badge text=p.role.label() tone="blue"/>
                    </div>
                    <p class="hint mt-2">{notice}</p>
                    <p class="text-sm mt-2">
                        <a class="link" href="/account/sessions">{format!("{} signed-in session(s)", p.live_sessions)}</a>
                        {(p.role != Role::ClientViewer).then(|| view! { " · " <a class="link" href="/account/tokens">"API tokens"</a> })}
                    </p>
                </section>
                {p.fresh_codes.clone().map(|codes| view! {
                    <section class="rounded-lg border border-amber-300 bg-amber-50 p-5" role="status">
                        <h2 class="font-medium text-amber-900">"Your new recovery codes"</h2>
                        <p class="text-sm text-amber-900">"Each works once in place of your authenticator code. The old ones no longer work. Save these now: they are not shown again once you leave."</p>
                        <ul class="mt-3 grid grid-cols-2 sm:grid-cols-5 gap-2 font-mono text-sm" data-testid="recovery-codes">
                            {codes.into_iter().map(|c| view! { <li class="rounded bg-white px-2 py-1 text-center">{c}</li> }).collect_view()}
                        </ul>
                        <div class="mt-3 flex flex-wrap gap-3">
                            <a class="btn btn-secondary" href="/account/recovery-codes.txt" download="mailward-recovery-codes.txt">"Download as a text file"</a>
                            <form method="post" action="/account/recovery-codes/ack">
                                <input type="hidden" name="from" value="account"/>
                                <button class="btn btn-primary" type="submit">"I have saved them"</button>
                            </form>
                        </div>
                    </section>
                })}
                <section class="card p-5">
                    <h2 class="font-medium">"Password"</h2>
                    <p class="hint">"Your other sessions are signed out; this one stays."</p>
                    <form method="post" action="/account/password" class="mt-3 grid gap-4 sm:grid-cols-3 items-start">
                        <crate::ui::CurrentPassword action="/account/password".to_string()/>
                        <crate::ui::NewPassword action="/account/password".to_string() id="password" repeat_id="confirm" repeat="Repeat the new password" first=false/>
                        <p class="hint sm:col-span-3">"At least 12 characters, not containing your address. A phrase of several words works well."</p>
                        <div class="sm:col-span-3"><button class="btn btn-primary" type="submit">"Change password"</button></div>
                    </form>
                </section>
                <section class="card p-5" data-testid="authenticator">
                    <h2 class="font-medium">"Authenticator"</h2>
                    {match p.totp_change.clone() {
                        None => view! {
                            <p class="hint">"A new phone, or the old one lost? Confirm with your current authenticator code (or a recovery code), then scan the new code. Until you confirm the new one, the old one keeps working."</p>
                            <form method="post" action="/account/totp/start" class="mt-3 flex flex-wrap gap-3 items-end">
                                <CodeField id="totp-current" label="Current code" recovery=true/>
                                <button class="btn btn-secondary" type="submit">"Set up a new authenticator"</button>
                            </form>
                        }.into_any(),
                        Some(t) => view! {
                            <p class="text-sm text-zinc-600">"Scan this code with the new authenticator app, then enter the code it shows. The old authenticator stops working and your other sessions are signed out."</p>
                            <div class="mt-3 flex flex-wrap gap-6 items-start">
                                <img src=t.qr_data_url.clone() alt="QR code for your new authenticator" width="180" height="180" class="rounded border border-zinc-200"/>
                                <div class="space-y-3">
                                    <p class="text-xs text-zinc-500">"Can't scan? Enter this secret by hand:"</p>
                                    <p class="font-mono text-sm break-all select-all bg-zinc-100 rounded px-2 py-1" data-testid="totp-secret">{crate::ui::grouped(&t.secret)}</p>
                                    <form method="post" action="/account/totp/finish" class="flex flex-wrap gap-3 items-end">
                                        <CodeField id="totp-new" label="Code from the new authenticator"/>
                                        <button class="btn btn-primary" type="submit">"Confirm the new authenticator"</button>
                                    </form>
                                    <form method="post" action="/account/totp/cancel">
                                        <button class="link text-sm" type="submit">"Cancel: keep the old one"</button>
                                    </form>
                                </div>
                            </div>
                        }.into_any(),
                    }}
                </section>
                <section class="card p-5">
                    <h2 class="font-medium">"Recovery codes"</h2>
                    <p class="hint" data-testid="codes-left">{format!("{} of 10 unused. New codes replace all of them.", p.recovery_codes_left)}</p>
                    <form method="post" action="/account/recovery-codes/new" class="mt-3 flex flex-wrap gap-3 items-end">
                        <CodeField id="codes-current" label="Current code" recovery=true/>
                        <button class="btn btn-secondary" type="submit">"Make new recovery codes"</button>
                    </form>
                </section>
            }
        },
    )
}

#[component]
pub fn SessionsPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_sessions());
    signed_in_page(
        "Your sessions",
        Some("Your sessions"),
        "Every browser signed in to your account. Sign out any you do not recognise.",
        data,
        |p: SessionsPage| {
            view! {
                <div class="card overflow-hidden">
                    <table class="table">
                        <thead><tr><th>"Client"</th><th>"Address"</th><th>"Signed in"</th><th>"Last active"</th><th class="text-right">"Action"</th></tr></thead>
                        <tbody>
                            {p.sessions.into_iter().map(|s| view! {
                                <tr>
                                    <td title=s.user_agent.clone().unwrap_or_default()>
                                        {crate::ui::describe_user_agent(s.user_agent.as_deref())}
                                        {s.current.then(|| view! { <span class="ml-2"><Badge text="this browser" tone="blue"/></span> })}
                                    </td>
                                    <td class="font-mono text-xs">{s.ip.clone().unwrap_or_default()}</td>
                                    <td><Time at=s.created_at now=p.now/></td>
                                    <td><Time at=s.last_seen_at now=p.now/></td>
                                    <td class="text-right">
                                        <ConfirmButton action="/account/sessions/revoke" label="Sign out"
                                            question="This browser session will be signed out at once."
                                            hidden_name="handle" hidden_value=s.handle.clone()/>
                                    </td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
                <div class="flex justify-end">
                    <ConfirmButton action="/account/sessions/revoke-all" label="Sign out everywhere"
                        question="Every session of your account, including this one, will be signed out."/>
                </div>
            }
        },
    )
}

#[component]
pub fn TokensPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_tokens());
    signed_in_page(
        "API tokens",
        Some("API tokens"),
        "Tokens act for you on /api/v1, narrowed to the scopes you choose, until they expire or you revoke them.",
        data,
        |p: TokensPage| { let t = crate::ui::typed("/account/tokens"); view! {
                            {p.fresh.map(|f| view! { <SecretOnce secret=f/> })}
                            <section class="card p-5">
                                <h2 class="font-medium">"New token"</h2>
                                <form method="post" action="/account/tokens" class="mt-3 grid gap-4 sm:grid-cols-4 items-end">
                                    <div class="sm:col-span-2">
                                        <label class="label" for="name">"Name"</label>
                                        <input class="input" id="name" name="name" required maxlength="64" placeholder="e.g. monitoring"
                                            value=t.value("name", "") autofocus=t.is_back()/>
                                    </div>
                                    <div>
                                        <label class="label" for="days">"Expires in (days)"</label>
                                        <input class="input" id="days" name="days" type="number" min="1" max="365" value=t.value("days", "30") required/>
                                    </div>
                                    <fieldset class="flex gap-3 text-sm">
                                        <legend class="label">"Scopes"</legend>
                                        <label class="flex items-center gap-1"><input type="checkbox" name="scope_read" value="on" checked=t.ticked("scope_read", true)/>"read"</label>
                                        <label class="flex items-center gap-1"><input type="checkbox" name="scope_write" value="on" checked=t.ticked("scope_write", false)/>"write"</label>
                                        <label class="flex items-center gap-1"><input type="checkbox" name="scope_audit" value="on" checked=t.ticked("scope_audit", false)/>"audit"</label>
                                    </fieldset>
                                    <div class="sm:col-span-4 grid gap-4 sm:grid-cols-2 items-start">
                                    <div>
                                        <label class="label" for="token-tenants">"Only these tenants (optional)"</label>
                                        <input class="input" id="token-tenants" name="tenants" maxlength="2000" placeholder="short names, e.g. acme, globex" value=t.value("tenants", "")/>
                                        <p class="text-xs text-zinc-500 mt-1">"Empty: every tenant you see. A limited token cannot act platform-wide (operators, plans, new tenants)."</p>
                                    </div>
                                    <div>
                                        <label class="label" for="token-from">"Only from (optional)"</label>
                                        <input class="input" id="token-from" name="allow_from" maxlength="2000" placeholder="addresses or ranges, e.g. 203.0.113.7, 10.0.0.0/8" value=t.value("allow_from", "")/>
                                        <p class="text-xs text-zinc-500 mt-1">"Empty: from anywhere."</p>
                                    </div>
                                    </div>
                                    <div class="sm:col-span-4"><button class="btn btn-primary" type="submit">"Create token"</button></div>
                                </form>
                            </section>
                            {if p.tokens.is_empty() {
                                view! { <EmptyState title="No tokens yet" hint="Create one above to use the API from scripts and monitoring."/> }.into_any()
                            } else {
                                let now = p.now;
                                view! {
                                    <div class="card overflow-hidden">
                                        <table class="table">
                                            <thead><tr><th>"Name"</th><th>"Scopes"</th><th>"Status"</th><th>"Expires"</th><th>"Last used"</th><th class="text-right">"Action"</th></tr></thead>
                                            <tbody>
                                                {p.tokens.into_iter().map(|t| {
                                                    let live = t.revoked_at.is_none() && t.expires_at > now;
                                                    let status = if t.revoked_at.is_some() { ("revoked", "red") } else if t.expires_at <= now { ("expired", "gray") } else { ("active", "green") };
                                                    view! {
                                                        <tr>
                                                            <td class="font-medium">{t.name.clone()}</td>
                                                            <td>
                                                                {t.scopes.join(", ")}
                                                                {t.tenant_ids.clone().map(|ids| view! { <span class="block text-xs text-zinc-500">{format!("{} tenant(s) only", ids.len())}</span> })}
                                                                {t.allow_from.clone().map(|a| view! { <span class="block text-xs text-zinc-500">{format!("from {}", a.join(", "))}</span> })}
                                                            </td>
                                                            <td><Badge text=status.0 tone=status.1/></td>
                                                            <td><Time at=t.expires_at now=now/></td>
                                                            <td>{match t.last_used_at { Some(at) => view! { <Time at=at now=now/> }.into_any(), None => view! { <span class="text-zinc-400">"never"</span> }.into_any() }}</td>
                                                            <td class="text-right">{live.then(|| view! {
                                                                <ConfirmButton action=format!("/account/tokens/{}/revoke", t.id) label="Revoke"
                                                                    question=format!("The token “{}” stops working at once.", t.name)/>
                                                            })}</td>
                                                        </tr>
                                                    }
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                    </div>
                                }.into_any()
                            }}
                        }},
    )
}

/// A secret displayed exactly once, with a copy button once the page is interactive.
#[component]
pub fn SecretOnce(secret: super::FreshSecret) -> impl IntoView {
    let value = secret.value.clone();
    view! {
        <div class="rounded-lg border border-amber-300 bg-amber-50 p-4" role="status">
            <p class="text-sm font-medium text-amber-900">{secret.label.clone()}" — copy it now; it will not be shown again."</p>
            <div class="mt-2 flex items-center gap-2">
                <code class="flex-1 break-all rounded bg-white px-2 py-1 text-sm select-all" data-testid="fresh-secret">{secret.value.clone()}</code>
                <crate::ui::CopyButton text=value/>
            </div>
        </div>
    }
}

#[component]
pub fn OperatorsPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_operators());
    signed_in_page(
        "Operators",
        Some("Operators"),
        "People who run this Mailward. Each has their own account, password and authenticator; nobody shares one.",
        data,
        |p: OperatorsPage| {
                            let now = p.now;
                            let tenants = p.tenants.clone();
                            let can_scope = p.can_invite;
                            let me = p.me.clone();
                            view! {
                                {p.fresh.map(|f| view! { <SecretOnce secret=f/> })}
                                {p.can_invite.then(|| view! {
                                    <section class="card p-5">
                                        <h2 class="font-medium">"Invite an operator"</h2>
                                        <p class="hint">{if p.mail_configured { "The invitation link goes to this address by email." } else { "Outgoing mail is not configured: you will reveal the link once and hand it over yourself." }}</p>
                                        <form method="post" action="/operators/invite" class="mt-3 flex gap-3 items-start">
                                            {let t = crate::ui::typed("/operators/invite"); view! {
                                            <div class="flex-1">
                                                <label class="label" for="email">"Email"</label>
                                                <input class="input" id="email" name="email" type="email" required
                                                    value=t.value("email", "") autofocus=t.focus("email", true)
                                                    aria-invalid=t.invalid("email") aria-describedby=t.described("email")/>
                                                {t.error_below("email")}
                                            </div>
                                            }}
                                            <button class="btn btn-primary mt-6" type="submit">"Invite"</button>
                                        </form>
                                    </section>
                                })}
                                <div class="card overflow-hidden">
                                    <table class="table">
                                        <thead><tr><th>"Name"</th><th>"Email"</th><th>"Role"</th><th>"Tenants"</th><th>"Status"</th><th>"Since"</th><th class="text-right">"Access"</th></tr></thead>
                                        <tbody>
                                            {p.users.into_iter().map(|u| {
                                                let scope_names = u.tenant_ids.as_ref().map(|ids| {
                                                    tenants.iter().filter(|(id, _)| ids.contains(id)).map(|(_, n)| n.clone()).collect::<Vec<_>>().join(", ")
                                                });
                                                let scope_text = match u.role {
                                                    Role::Owner => "all".to_string(),
                                                    Role::Operator => scope_names.clone().unwrap_or_else(|| "all".into()),
                                                    _ => u.tenant.clone().unwrap_or_default(),
                                                };
                                                let editable = can_scope && u.role == Role::Operator;
                                                let access = (can_scope && u.id != me).then(|| {
                                                    if u.status == "active" {
                                                        view! {
                                                            <ConfirmButton action=format!("/people/{}/disable", u.id) label="Disable"
                                                                question=format!("{} can no longer sign in; their sessions end, and their API tokens and the invitations they sent are revoked, at once.", u.email)
                                                                hidden_name="back" hidden_value="/operators"/>
                                                        }.into_any()
                                                    } else {
                                                        view! {
                                                            <ConfirmButton action=format!("/people/{}/enable", u.id) label="Enable"
                                                                question=format!("{} can sign in again with their own password and authenticator.", u.email)
                                                                hidden_name="back" hidden_value="/operators"/>
                                                        }.into_any()
                                                    }
                                                });
                                                view! {
                                                <tr>
                                                    <td class="font-medium">{u.display_name.clone()}</td>
                                                    <td>{u.email.clone()}</td>
                                                    <td>{u.role.label()}</td>
                                                    <td>
                                                        <span data-testid="operator-scope">{scope_text}</span>
                                                        {editable.then(|| view! { <OperatorScopeForm user_id=u.id.clone() current=u.tenant_ids.clone() tenants=tenants.clone()/> })}
                                                    </td>
                                                    <td><Badge text=u.status.clone() tone=if u.status == "active" { "green" } else { "gray" }/></td>
                                                    <td><Time at=u.created_at now=now/></td>
                                                    <td class="text-right">
                                                        {access}
                                                        {(can_scope && u.id != me).then(|| view! { <PersonGrants user_id=u.id.clone() email=u.email.clone() role=u.role back="/operators".to_string()/> })}
                                                    </td>
                                                </tr>
                                            }}).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                                <h2 class="font-medium">"Open invitations"</h2>
                                {if p.invites.is_empty() {
                                    view! { <EmptyState title="No open invitations" hint="Invite an operator above; the invitation shows here until it is accepted, revoked or expires."/> }.into_any()
                                } else {
                                    let can = p.can_invite;
                                    view! {
                                        <div class="card overflow-hidden">
                                            <table class="table">
                                                <thead><tr><th>"Email"</th><th>"Delivery"</th><th>"Expires"</th><th class="text-right">"Actions"</th></tr></thead>
                                                <tbody>
                                                    {p.invites.into_iter().map(|i| {
                                                        let email = i.email.clone().unwrap_or_default();
                                                        view! {
                                                            <tr>
                                                                <td>{email.clone()}</td>
                                                                <td><DeliveryBadge invite=i.clone()/></td>
                                                                <td><Time at=i.expires_at now=now/></td>
                                                                <td class="text-right space-x-2">
                                                                    {can.then(|| view! { <InviteActions base=format!("/operators/invites/{}", i.id) invite=i.clone()/> })}
                                                                </td>
                                                            </tr>
                                                        }
                                                    }).collect_view()}
                                                </tbody>
                                            </table>
                                        </div>
                                    }.into_any()
                                }}
                            }
        },
    )
}

/// Which tenants an operator may see: all, or a listed set.
#[component]
fn OperatorScopeForm(
    user_id: String,
    current: Option<Vec<String>>,
    tenants: Vec<(String, String)>,
) -> impl IntoView {
    let listed = current.is_some();
    let chosen = current.unwrap_or_default();
    view! {
        <details class="mt-1">
            <summary class="text-xs link cursor-pointer">"Change"</summary>
            <form method="post" action=format!("/operators/{user_id}/tenants") class="mt-2 space-y-1 text-sm">
                <label class="flex items-center gap-2"><input type="radio" name="scope" value="all" checked=!listed/>"All tenants"</label>
                <label class="flex items-center gap-2"><input type="radio" name="scope" value="listed" checked=listed/>"Only these:"</label>
                <div class="ml-6 max-h-40 overflow-y-auto space-y-0.5">
                    {tenants.into_iter().map(|(id, name)| {
                        let on = chosen.contains(&id);
                        view! { <label class="flex items-center gap-2"><input type="checkbox" name="tenant" value=id checked=on/>{name}</label> }
                    }).collect_view()}
                </div>
                <label class="label mt-2" for=format!("scope-reason-{user_id}")>"Reason (when adding tenants)"</label>
                <input class="input" id=format!("scope-reason-{user_id}") name="reason" maxlength="500"
                    placeholder="Seeing more tenants waits for another owner"/>
                <button class="btn btn-secondary" type="submit">"Save scope"</button>
            </form>
        </details>
    }
}

/// Giving a person more access, or taking some away: the other role of their family (the
/// way up is a change request with a reason) and a reset of their second factor (always a
/// change request). For the operators page and a tenant's people.
#[component]
pub fn PersonGrants(user_id: String, email: String, role: Role, back: String) -> impl IntoView {
    let (other, up) = match role {
        Role::Owner => (Role::Operator, false),
        Role::Operator => (Role::Owner, true),
        Role::TenantAdmin => (Role::ClientViewer, false),
        Role::ClientViewer => (Role::TenantAdmin, true),
    };
    let role_hint = if up {
        format!(
            "Making {email} {} waits for another person's approval.",
            other.label().to_lowercase()
        )
    } else {
        format!(
            "{email} becomes {} at once, from their next click.",
            other.label().to_lowercase()
        )
    };
    let (rid, fid) = (
        format!("role-reason-{user_id}"),
        format!("factor-reason-{user_id}"),
    );
    view! {
        <details class="mt-1 text-left" data-testid="person-grants">
            <summary class="text-xs link cursor-pointer text-right">"Role and second factor"</summary>
            <div class="mt-2 space-y-3 text-sm min-w-64">
                <form method="post" action=format!("/people/{user_id}/role") class="space-y-1">
                    <input type="hidden" name="role" value=other.as_str()/>
                    <input type="hidden" name="back" value=back.clone()/>
                    <p class="hint">{role_hint}</p>
                    {up.then(|| view! {
                        <label class="label" for=rid.clone()>"Reason"</label>
                        <input class="input" id=rid.clone() name="reason" required minlength="4" maxlength="500"/>
                    })}
                    <button class="btn btn-secondary" type="submit">{format!("Make {}", other.label().to_lowercase())}</button>
                </form>
                <form method="post" action=format!("/people/{user_id}/factor-reset") class="space-y-1">
                    <input type="hidden" name="back" value=back/>
                    <p class="hint">"For a lost authenticator: once another person approves, they get a link by mail to set a new password and authenticator."</p>
                    <label class="label" for=fid.clone()>"Reason"</label>
                    <input class="input" id=fid name="reason" required minlength="4" maxlength="500"/>
                    <button class="btn btn-secondary" type="submit">"Ask for a second-factor reset"</button>
                </form>
            </div>
        </details>
    }
}

/// How an invitation travels, as a badge with words.
#[component]
pub fn DeliveryBadge(invite: super::InviteRow) -> impl IntoView {
    if invite.delivery == "email" {
        view! { <Badge text="emailed" tone="blue"/> }.into_any()
    } else if invite.revealed {
        view! { <Badge text="link revealed" tone="amber"/> }.into_any()
    } else {
        view! { <Badge text="awaiting reveal" tone="gray"/> }.into_any()
    }
}

/// The reveal-once and revoke buttons of an open invitation; `base` is its URL prefix.
#[component]
pub fn InviteActions(base: String, invite: super::InviteRow) -> impl IntoView {
    let email = invite.email.clone().unwrap_or_default();
    view! {
        {(invite.delivery == "reveal" && !invite.revealed).then(|| view! {
            <form method="post" action=format!("{base}/reveal") class="inline">
                <button class="btn btn-secondary" type="submit">"Reveal link once"</button>
            </form>
        })}
        <ConfirmButton action=format!("{base}/revoke") label="Revoke"
            question=format!("The invitation for {email} stops working at once.")/>
    }
}
