//! `/domains/:name/control`: who controls the domain outside Mailward, what is wrong with
//! that, the delegation as the scanner sees it, and the form to record it.
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::{date_of, tone, DomainControl, Warning};
use crate::auth::PageData;
use crate::ui::{signed_in_page, Badge, Time};

/// What the registry page shows.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ControlPage {
    pub control: DomainControl,
    pub tenant_name: String,
    pub tenant_slug: String,
    pub can_edit: bool,
    /// May change the expected delegation (NS/DS).
    pub can_edit_delegation: bool,
    pub rdap_configured: bool,
    /// The scanner's latest look at the delegation (`ns` and `ds` record sets).
    pub delegation: Vec<crate::dns::Observed>,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ControlPageData {
    pub page: ControlPage,
    pub now: i64,
}

#[server(prefix = "/_sf")]
pub async fn get_control_page(name: String) -> Result<PageData<ControlPageData>, ServerFnError> {
    crate::ssr::page(|c| async move {
        use crate::core::authz::{authorize_in, Action};
        let a = c.actor();
        let d = crate::tenancy::service::domain(&c.st, &a, &name).await?;
        let control = super::service::control_of(&c.st, &a, &d).await?;
        let delegation = crate::dns::service::domain_dns(&c.st, &a, &d.id)
            .await?
            .observed
            .into_iter()
            .filter(|o| o.purpose == "ns" || o.purpose == "ds")
            .collect();
        let page = ControlPage {
            can_edit: authorize_in(&a, Action::ManageDomains, &d.tenant_id).is_ok(),
            can_edit_delegation: authorize_in(&a, Action::ChangeDns, &d.tenant_id).is_ok(),
            rdap_configured: c.st.config.rdap_url.is_some(),
            tenant_name: d.tenant_name.clone(),
            tenant_slug: d.tenant_slug.clone(),
            control,
            delegation,
        };
        Ok(ControlPageData {
            page,
            now: c.st.clock.now(),
        })
    })
    .await
}

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "on",
        Some(false) => "off",
        None => "not recorded",
    }
}

fn or_dash(s: &str) -> String {
    if s.trim().is_empty() {
        "—".into()
    } else {
        s.to_string()
    }
}

/// The warnings of one record, as a list.
#[component]
pub fn Warnings(warnings: Vec<Warning>) -> impl IntoView {
    view! {
        <ul class="space-y-1" data-testid="control-warnings">
            {warnings.into_iter().map(|w| view! {
                <li class="flex items-start gap-2 text-sm" data-testid="control-warning" data-code=w.code.clone()>
                    <Badge text=w.severity.clone() tone=tone(&w.severity)/>
                    <span>{w.text.clone()}</span>
                </li>
            }).collect_view()}
        </ul>
    }
}

/// A yes / no / not recorded choice.
fn tri(name: &'static str, id: &'static str, v: Option<bool>) -> impl IntoView {
    view! {
        <select class="input mt-1 w-full" name=name id=id>
            <option value="" selected=v.is_none()>"Not recorded"</option>
            <option value="on" selected=v == Some(true)>"On"</option>
            <option value="off" selected=v == Some(false)>"Off"</option>
        </select>
    }
}

fn facts(c: &DomainControl, now: i64) -> impl IntoView {
    let row = |k: &'static str, v: String| {
        view! {
            <div class="py-1 sm:grid sm:grid-cols-3 sm:gap-4">
                <dt class="text-sm text-zinc-500">{k}</dt>
                <dd class="text-sm text-zinc-900 sm:col-span-2 break-words">{v}</dd>
            </div>
        }
    };
    view! {
        <dl class="divide-y divide-zinc-100" data-testid="control-facts">
            {row("Registrar", or_dash(&c.registrar))}
            {row("Registrar account held by", or_dash(&c.registrar_account))}
            {row("Account recovery address", or_dash(&c.recovery_address))}
            {row("MFA on the registrar account", yes_no(c.mfa).into())}
            {row("DNS provider", or_dash(&c.dns_provider))}
            {row("Expires", c.expires_at.map(|e| format!("{}{}", date_of(e), match c.expiry_source.as_deref() { Some("rdap") => " (from RDAP)", _ => "" })).unwrap_or_else(|| "—".into()))}
            {row("Auto-renew", yes_no(c.auto_renew).into())}
            {row("Billing owner (whose card pays)", or_dash(&c.billing_owner))}
            {row("Expected nameservers", if c.expected_ns.is_empty() { "— (the delegation is not watched)".into() } else { c.expected_ns.join(", ") })}
            {row("Expected DS", if c.expected_ds.is_empty() { "— (no DNSSEC recorded)".into() } else { c.expected_ds.join("; ") })}
            {(!c.notes.is_empty()).then(|| row("Notes", c.notes.clone()))}
            <div class="py-1 sm:grid sm:grid-cols-3 sm:gap-4">
                <dt class="text-sm text-zinc-500">"Last reviewed"</dt>
                <dd class="text-sm text-zinc-900 sm:col-span-2" data-testid="reviewed">
                    {match (c.reviewed_at, c.reviewed_by.clone()) {
                        (Some(t), Some(by)) => view! { <span>{format!("by {by}, ")}<Time at=t now=now/></span> }.into_any(),
                        _ => view! { <span>"never"</span> }.into_any(),
                    }}
                </dd>
            </div>
        </dl>
    }
}

#[component]
pub fn ControlPageView() -> impl IntoView {
    let params = use_params_map();
    let name = move || crate::ui::param(&params.read(), "name").unwrap_or_default();
    let data = Resource::new(name, get_control_page);
    signed_in_page(
        "Domain control",
        Some("Domains"),
        "Who controls this domain outside Mailward: registrar, DNS provider, recovery, renewal, billing — and the delegation it should have.",
        data,
        move |d: ControlPageData| {
            let now = d.now;
            let p = d.page;
            let c = p.control.clone();
            let id = c.domain_id.clone();
            let action = format!("/domains/{id}/control");
            view! {
                <section class="card p-5 space-y-3">
                    <h2 class="text-lg font-semibold flex flex-wrap items-center gap-2">
                        <a class="link" href=format!("/domains/{id}")>{c.unicode_name.clone()}</a>
                        {if !c.recorded {
                            view! { <Badge text="not recorded" tone="amber"/> }.into_any()
                        } else if c.warnings.is_empty() {
                            view! { <Badge text="in order" tone="green"/> }.into_any()
                        } else {
                            let worst = c.warnings[0].severity.clone();
                            view! { <Badge text=format!("{} warning{}", c.warnings.len(), if c.warnings.len() == 1 { "" } else { "s" }) tone=tone(&worst)/> }.into_any()
                        }}
                    </h2>
                    <p class="text-sm text-zinc-600">"Tenant "<a class="link" href=format!("/tenants/{}", p.tenant_slug)>{p.tenant_name.clone()}</a>
                        " · "<a class="link" href=format!("/domains/{id}/dns")>"DNS records →"</a></p>
                    {if c.recorded {
                        view! { <Warnings warnings=c.warnings.clone()/> }.into_any()
                    } else {
                        view! { <p class="text-sm text-zinc-600" data-testid="control-empty">"Nothing is recorded yet. Whoever holds the registrar account can take the domain — and all its mail — away: write down who that is, how the account is recovered, and when the domain expires."</p> }.into_any()
                    }}
                    {c.recorded.then(|| facts(&c, now))}
                    {(p.can_edit && c.recorded).then(|| view! {
                        <div class="flex flex-wrap gap-2">
                            <form method="post" action=format!("{action}/review")>
                                <button class="btn btn-secondary" type="submit" data-testid="control-review">"Mark reviewed: I checked this with the registrar"</button>
                            </form>
                            {p.rdap_configured.then(|| view! {
                                <form method="post" action=format!("{action}/rdap")>
                                    <button class="btn btn-secondary" type="submit" data-testid="control-rdap">"Look up expiry and registrar (RDAP)"</button>
                                </form>
                            })}
                        </div>
                    })}
                    {c.rdap_error.clone().map(|e| view! { <p class="text-sm text-amber-800" data-testid="rdap-error">{format!("Last RDAP lookup failed: {e}")}</p> })}
                </section>
                {(!p.delegation.is_empty()).then(|| view! {
                    <section class="card p-5 space-y-2" data-testid="delegation">
                        <h3 class="font-medium">"Delegation as the world sees it"</h3>
                        <ul class="space-y-1 text-sm">
                            {p.delegation.iter().map(|o| {
                                let (word, t) = match o.status.as_str() {
                                    "ok" => ("as expected", "green"),
                                    "missing" => ("missing", "red"),
                                    "changed" => ("moved", "red"),
                                    _ => ("unknown", "gray"),
                                };
                                view! {
                                    <li data-testid="delegation-set" data-status=o.status.clone()>
                                        <span class="font-medium">{if o.purpose == "ns" { "Nameservers (NS)" } else { "DNSSEC (DS)" }}</span>" "
                                        <Badge text=word tone=t/>
                                        <span class="block font-mono text-xs text-zinc-600 break-all">{format!("served: {}", o.observed.clone().map(|v| if v.is_empty() { "(none)".to_string() } else { v.join(", ") }).unwrap_or_else(|| "no answer".into()))}</span>
                                        <span class="block text-xs text-zinc-500">"since "<Time at=o.since now=now/></span>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    </section>
                })}
                {p.can_edit.then(|| {
                    let v = c.clone();
                    let deleg_locked = !p.can_edit_delegation;
                    view! {
                        <section class="card p-5 space-y-3" data-testid="control-form">
                            <h3 class="font-medium">{if v.recorded { "Change the record" } else { "Record who controls this domain" }}</h3>
                            <form method="post" action=action.clone() class="grid gap-3 sm:grid-cols-2">
                                <input type="hidden" name="version" value=v.version.to_string()/>
                                <label class="text-sm">"Registrar"
                                    <input class="input mt-1 w-full" name="registrar" maxlength="200" value=v.registrar.clone() placeholder="Example Registrar, Inc."/>
                                </label>
                                <label class="text-sm">"Registrar account held by"
                                    <input class="input mt-1 w-full" name="registrar_account" maxlength="200" value=v.registrar_account.clone() placeholder="Agency ops team (login ops-acme)"/>
                                </label>
                                <label class="text-sm">"Account recovery address"
                                    <input class="input mt-1 w-full" type="email" name="recovery_address" maxlength="254" value=v.recovery_address.clone() placeholder="domains@agency.example"/>
                                </label>
                                <label class="text-sm" for="mfa">"MFA on the registrar account"{tri("mfa", "mfa", v.mfa)}</label>
                                <label class="text-sm">"DNS provider"
                                    <input class="input mt-1 w-full" name="dns_provider" maxlength="200" value=v.dns_provider.clone() placeholder="Mailward (RFC 2136), or the provider's name"/>
                                </label>
                                <label class="text-sm">"Billing owner (whose card pays)"
                                    <input class="input mt-1 w-full" name="billing_owner" maxlength="200" value=v.billing_owner.clone() placeholder="Acme Ltd, finance"/>
                                </label>
                                <label class="text-sm">"Expires on"
                                    <input class="input mt-1 w-full" type="date" name="expires_on" value=v.expires_at.map(date_of).unwrap_or_default()/>
                                </label>
                                <label class="text-sm" for="auto_renew">"Auto-renew"{tri("auto_renew", "auto_renew", v.auto_renew)}</label>
                                <label class="text-sm">"Expected nameservers (one per line)"
                                    <textarea class="input mt-1 w-full font-mono" name="expected_ns" rows="3" maxlength="4000" readonly=deleg_locked
                                        placeholder="ns1.provider.example\nns2.provider.example">{v.expected_ns.join("\n")}</textarea>
                                </label>
                                <label class="text-sm">"Expected DS records, if DNSSEC is used (one per line)"
                                    <textarea class="input mt-1 w-full font-mono" name="expected_ds" rows="3" maxlength="4000" readonly=deleg_locked
                                        placeholder="2371 13 2 1F987CC6583E92DF0890718C42…">{v.expected_ds.join("\n")}</textarea>
                                </label>
                                {deleg_locked.then(|| view! { <p class="text-xs text-zinc-500 sm:col-span-2">"The expected delegation is what drift is judged against: changing it takes the right to change DNS (and waits while an incident holds)."</p> })}
                                <label class="text-sm sm:col-span-2">"Notes"
                                    <textarea class="input mt-1 w-full" name="notes" rows="2" maxlength="4000">{v.notes.clone()}</textarea>
                                </label>
                                <label class="text-sm sm:col-span-2 flex items-center gap-2">
                                    <input type="checkbox" name="reviewed" value="on" checked=true/>
                                    "I checked these facts with the registrar just now (sets “last reviewed”)"
                                </label>
                                <div class="sm:col-span-2">
                                    <button class="btn btn-primary" type="submit" data-testid="control-save">"Save"</button>
                                </div>
                            </form>
                        </section>
                    }
                })}
            }
        },
    )
}
