//! DNS pages: a domain's DNS (`/domains/:name/dns`: expected against observed, DKIM keys, the
//! snippet, the history) and the category baselines (`/dns/templates`).
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

use super::{
    health_tone, phase_label, DnsChange, DomainDns, Template, DMARC_POLICIES, MTA_STS_MODES,
};
use crate::audit::AuditEvent;
use crate::auth::PageData;
use crate::ui::{signed_in_page, Badge, ConfirmButton, CopyButton, EmptyState, Time};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DnsPage {
    pub dns: DomainDns,
    pub history: Vec<AuditEvent>,
    pub now: i64,
    pub can_manage: bool,
    pub can_override: bool,
    /// Owners may allow DNS changes outside the baseline's record sets.
    pub can_allow_unmanaged: bool,
}

/// Events that make up a domain's DNS history.
pub const HISTORY_ACTIONS: [&str; 21] = [
    "domain.added",
    "domain.verified",
    "domain.activated",
    "dns.drift",
    "dns.drift_cleared",
    "dns.health",
    "dns.observed",
    "dkim.key_created",
    "dkim.key_active",
    "dkim.rotation_started",
    "dkim.key_revoked",
    "dkim.key_retired",
    "dkim.delegated",
    "dkim.delegation_ended",
    "dkim.zone_written",
    "dmarc.report_imported",
    "dmarc.new_source",
    "domain.suspended",
    "dns.record_updated",
    "dns.provider_set",
    "dns.provider_tested",
];

#[server(prefix = "/_sf")]
pub async fn get_dns_page(name: String) -> Result<PageData<DnsPage>, ServerFnError> {
    use crate::core::authz::{authorize, authorize_in, Action};
    crate::ssr::page(|c| async move {
        let a = c.actor();
        let dns = super::service::domain_dns(&c.st, &a, &name).await?;
        let history = match authorize(&a, Action::ViewAudit) {
            Ok(g) => {
                crate::audit::service::about(
                    &c.st.db,
                    &g.actor.tenants,
                    &dns.domain_id,
                    crate::audit::service::Actions::OneOf(&HISTORY_ACTIONS),
                    100,
                )
                .await?
            }
            Err(_) => vec![],
        };
        let tenant = crate::tenancy::service::domain(&c.st, &a, &dns.domain_id)
            .await?
            .tenant_id;
        Ok(DnsPage {
            can_manage: authorize_in(&a, Action::ManageDomains, &tenant).is_ok(),
            can_override: authorize_in(&a, Action::OverrideVerification, &tenant).is_ok(),
            can_allow_unmanaged: authorize_in(&a, Action::ManageDnsBaselines, &tenant).is_ok(),
            now: c.st.clock.now(),
            dns,
            history,
        })
    })
    .await
}

fn status_badge(s: &str) -> impl IntoView {
    let (text, tone) = match s {
        "ok" => ("as expected", "green"),
        "missing" => ("missing", "red"),
        "changed" => ("differs", "amber"),
        "unknown" => ("unknown", "gray"),
        _ => ("not checked", "gray"),
    };
    view! { <Badge text=text tone=tone/> }
}

/// The health of a domain as a badge with its reason as a tooltip (dashboard, tenant page,
/// portal).
#[component]
pub fn HealthBadge(
    #[prop(into)] health: String,
    #[prop(into)] reason: Option<String>,
    #[prop(into)] verified: Option<String>,
    #[prop(into)] href: String,
) -> impl IntoView {
    let mut h = crate::ui::html::Html::with_capacity(256);
    health_badge(
        &mut h,
        &health,
        reason.as_deref(),
        verified.is_some(),
        &href,
    );
    h.view()
}

/// [`HealthBadge`] written into a buffer (the domain overview writes one on every row).
pub fn health_badge(
    h: &mut crate::ui::html::Html,
    health: &str,
    reason: Option<&str>,
    verified: bool,
    href: &str,
) {
    let word = match health {
        "green" => "healthy",
        "amber" => "warning",
        "red" => "broken",
        _ => "not checked",
    };
    let title = reason.unwrap_or(match health {
        "green" => "Every baseline record is published as expected",
        "unknown" => "The DNS scanner has not reached this domain's nameservers yet",
        _ => "",
    });
    h.tag("<a href=\"")
        .text(href)
        .tag("\" class=\"health\" title=\"")
        .text(title)
        .tag("\" data-testid=\"health\" data-health=\"")
        .text(health)
        .tag("\">")
        .tag("<span class=\"")
        .tag(crate::ui::badge_class(health_tone(health)))
        .tag("\">")
        .tag(word)
        .tag("</span>");
    if health == "red" || health == "amber" {
        h.tag("<span class=\"text-xs text-zinc-500 max-w-48 truncate\">")
            .text(title)
            .tag("</span>");
    }
    if !verified {
        h.tag(
            "<span class=\"text-xs text-amber-700\" data-testid=\"unverified\">unverified</span>",
        );
    }
    h.tag("</a>");
}

#[component]
pub fn DomainDnsPage() -> impl IntoView {
    let params = use_params_map();
    let name = move || crate::ui::param(&params.read(), "name").unwrap_or_default();
    let data = Resource::new(name, get_dns_page);
    signed_in_page(
        "DNS",
        Some("Domains"),
        "What this domain's zone should hold, what its nameservers answer, and what changed when.",
        data,
        move |p: DnsPage| {
            let d = p.dns.clone();
            let now = p.now;
            let back = format!("/domains/{}", d.domain_id);
            let observed = d.observed.clone();
            let rows: Vec<_> = d
                .expected
                .iter()
                .map(|e| {
                    let o = observed
                        .iter()
                        .find(|o| o.name == e.name && o.rtype == e.rtype && o.purpose == e.purpose)
                        .cloned();
                    (e.clone(), o)
                })
                .collect();
            let snippet = d.snippet.clone();
            view! {
                <section class="card p-5 space-y-2">
                    <h2 class="text-lg font-semibold flex flex-wrap items-center gap-2">
                        <a class="link" href=back.clone()>{d.unicode_name.clone()}</a>
                        <HealthBadge health=d.health.clone() reason=d.health_reason.clone() verified=d.verified.clone() href="#records".to_string()/>
                    </h2>
                    <p class="text-sm text-zinc-600">
                        {format!("Tenant {} · category {} · {} · ", d.tenant_name, d.category, d.status)}
                        {match d.verified.as_deref() {
                            Some("dns") => "verified by its challenge record".to_string(),
                            Some("override") => "activated by an owner without DNS verification".to_string(),
                            Some("legacy") => "active before verification existed".to_string(),
                            _ => "not verified".to_string(),
                        }}
                    </p>
                    <p class="text-sm text-zinc-600" data-testid="checked">
                        {match d.checked_at {
                            Some(t) => view! { <span>"Last checked "<Time at=t now=now/>" on its authoritative nameservers."</span> }.into_any(),
                            None => view! { <span>"Not checked yet: the scanner runs every few minutes."</span> }.into_any(),
                        }}
                        {d.health_reason.clone().map(|r| view! { <span class="block font-medium text-zinc-800" data-testid="health-reason">{r}</span> })}
                    </p>
                    {p.can_manage.then(|| view! {
                        <form method="post" action=format!("/domains/{}/dns/check", d.domain_id)>
                            <button class="btn btn-primary" type="submit" data-testid="check-now">"Check now"</button>
                        </form>
                    })}
                </section>
                {d.notes.iter().map(|n| view! { <p class="rounded-lg border border-amber-300 bg-amber-50 px-4 py-2 text-sm text-amber-900">{n.clone()}</p> }).collect_view()}
                {d.challenge.clone().map(|(name, value)| view! {
                    <section class="card p-5 space-y-2" data-testid="challenge">
                        <h3 class="font-medium">"Prove this domain is yours"</h3>
                        <p class="text-sm text-zinc-600">{if d.status == "pending" {
                            "Publish this TXT record at the domain's DNS host, then check. The domain activates by itself once its nameservers serve it."
                        } else {
                            "Publish this TXT record at the domain's DNS host, then check: it turns the owner's override into a verification."
                        }}</p>
                        <code class="block break-all rounded bg-zinc-100 px-2 py-1 text-sm">{format!("{name}. 3600 IN TXT \"{value}\"")}</code>
                        {(p.can_override && d.status == "pending").then(|| view! {
                            <details class="text-sm">
                                <summary class="cursor-pointer text-zinc-600">"Activate without verification (owners)…"</summary>
                                <form method="post" action=format!("/domains/{}/activate-unverified", d.domain_id) class="mt-2 space-y-2">
                                    <label class="label" for="ov-reason">"Why may it receive mail without proof?"</label>
                                    <textarea class="input" id="ov-reason" name="reason" required minlength="5" rows="2"></textarea>
                                    <button class="btn btn-secondary" type="submit">"Activate anyway"</button>
                                </form>
                            </details>
                        })}
                    </section>
                })}
                <section class="space-y-2" id="records">
                    <h3 class="font-medium">"Records: expected and observed"</h3>
                    // relative: the header's screen-reader label (absolute) stays inside the
                    // scrolling card instead of widening the page.
                    <div class="card overflow-x-auto relative">
                        <table class="table" data-testid="dns-records">
                            <thead><tr><th>"For"</th><th>"Name"</th><th>"Type"</th><th>"Expected"</th><th>"Observed"</th><th>"Status"</th><th>"Since"</th><th><span class="sr-only">"Restore"</span></th></tr></thead>
                            <tbody>
                                {rows.into_iter().map(|(e, o)| {
                                    let status = o.as_ref().map(|o| o.status.clone()).unwrap_or_default();
                                    view! {
                                        <tr data-purpose=e.purpose.clone() data-status=status.clone()>
                                            <td class="whitespace-nowrap">{e.purpose.clone()}{e.required.then(|| view! { <span class="text-xs text-zinc-500">" (required)"</span> })}</td>
                                            <td class="font-mono text-xs">{e.name.clone()}</td>
                                            <td>{e.rtype.clone()}</td>
                                            <td class="font-mono text-xs break-all max-w-xs" title=e.values.join(" | ")>{if e.values.is_empty() { "(none)".to_string() } else { short(&e.values.join(" | ")) }}</td>
                                            <td class="font-mono text-xs break-all max-w-xs">
                                                {o.as_ref().and_then(|o| o.observed.clone()).map(|v| if v.is_empty() { "(none)".to_string() } else { short(&v.join(" | ")) }).unwrap_or_else(|| "—".into())}
                                                {o.as_ref().and_then(|o| o.detail.clone()).map(|dt| view! { <span class="block font-sans text-zinc-500">{dt}</span> })}
                                            </td>
                                            <td class="whitespace-nowrap">{status_badge(&status)}</td>
                                            <td class="whitespace-nowrap">{o.map(|o| view! { <Time at=o.since now=now/> })}</td>
                                            <td class="text-right">
                                                {(matches!(e.purpose.as_str(), "ns" | "ds") && (status == "missing" || status == "changed")).then(|| view! {
                                                    <a class="link text-xs whitespace-nowrap" href=format!("/domains/{}/control", d.domain_id) data-testid="at-registrar">"Changed at the registrar: see domain control →"</a>
                                                })}
                                                {(p.can_manage && (status == "missing" || status == "changed") && !e.name.ends_with('.') && !matches!(e.purpose.as_str(), "ns" | "ds")).then(|| {
                                                    let fid = format!("restore-{}-{}", e.purpose, e.rtype);
                                                    view! {
                                                        <details class="relative inline-block text-left" data-testid="restore">
                                                            <summary class="btn btn-secondary cursor-pointer whitespace-nowrap list-none">"Restore…"</summary>
                                                            <form method="post" action=format!("/domains/{}/dns/changes", d.domain_id) class="card absolute right-0 z-20 mt-2 w-80 p-3 space-y-2 shadow-lg text-left">
                                                                <input type="hidden" name="name" value=e.name.clone()/>
                                                                <input type="hidden" name="rtype" value=e.rtype.clone()/>
                                                                <input type="hidden" name="values" value=e.values.join("\n")/>
                                                                <p class="text-xs text-zinc-600">"Asks for a change that brings this record set back to the baseline; a second person approves it."</p>
                                                                <label class="block text-xs text-zinc-600" for=fid.clone()>"Why?"</label>
                                                                <input class="input w-full" id=fid name="reason" required maxlength="2000" placeholder="e.g. drift found by the scanner"/>
                                                                <button class="btn btn-primary" type="submit">"Ask to restore"</button>
                                                            </form>
                                                        </details>
                                                    }
                                                })}
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                </section>
                {changes_view(&d, p.can_manage, p.can_allow_unmanaged, now)}
                <section class="space-y-2">
                    <h3 class="font-medium">"DKIM keys"</h3>
                    {if d.keys.is_empty() {
                        view! {
                            <div class="card p-4 text-sm text-zinc-600 space-y-2">
                                <p>"No key yet. The scanner makes one on its next run; or make it now."</p>
                                {p.can_manage.then(|| view! {
                                    <form method="post" action=format!("/domains/{}/dkim", d.domain_id) class="flex flex-wrap gap-2 items-end">
                                        <select class="input w-auto max-w-full" name="algorithm">
                                            <option value="rsa">"RSA 2048 (works everywhere)"</option>
                                            <option value="ed25519">"Ed25519 (short; not every receiver checks it)"</option>
                                        </select>
                                        <button class="btn btn-secondary" type="submit">"Generate key"</button>
                                    </form>
                                })}
                            </div>
                        }.into_any()
                    } else {
                        view! {
                            <div class="card overflow-x-auto">
                                <table class="table" data-testid="dkim-keys">
                                    <thead><tr><th>"Selector"</th><th>"Algorithm"</th><th>"State"</th><th>"Made"</th><th>"Signing since"</th></tr></thead>
                                    <tbody>
                                        {d.keys.iter().map(|k| view! {
                                            <tr>
                                                <td class="font-mono">{k.selector.clone()}</td>
                                                <td>{k.algorithm.clone()}</td>
                                                <td><Badge text=match k.state.as_str() {
                                                    "published" => "waiting to be seen everywhere".to_string(),
                                                    "active" => "signing".to_string(),
                                                    "retiring" => "replaced: record kept a few days".to_string(),
                                                    s => s.to_string(),
                                                } tone=match k.state.as_str() { "active" => "green", "retiring" => "gray", _ => "amber" }/></td>
                                                <td><Time at=k.created_at now=now/></td>
                                                <td>{k.active_at.map(|t| view! { <Time at=t now=now/> })}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            {(p.can_manage && d.keys.iter().any(|k| k.state == "active") && !d.keys.iter().any(|k| k.state == "published")).then(|| view! {
                                <div class="flex flex-wrap items-center gap-2" data-testid="rotate">
                                    <form method="post" action=format!("/domains/{}/dkim/rotate", d.domain_id)>
                                        <button class="btn btn-secondary" type="submit">"Rotate key"</button>
                                    </form>
                                    <ConfirmButton action=format!("/domains/{}/dkim/rotate", d.domain_id) label="Emergency rotation…"
                                        hidden_name="emergency" hidden_value="on"
                                        question="The current key stops signing now and is revoked. Mail leaves unsigned until the new key's record is served by every nameserver. Use it when the key may be known to someone else."/>
                                    <span class="text-xs text-zinc-500">"Keys rotate by themselves after 90 days."</span>
                                </div>
                            })}
                        }.into_any()
                    }}
                    {delegation_view(&d, p.can_manage)}
                </section>
                <section class="space-y-2" data-testid="dmarc">
                    <h3 class="font-medium">{format!("DMARC reports ({})", d.dmarc.reports)}</h3>
                    {if d.dmarc.days.is_empty() {
                        view! { <p class="text-sm text-zinc-600">"No aggregate reports yet. Receivers send them to the rua address of the baseline's DMARC record; upload one here, or post it to /api/v1/dmarc/reports."</p> }.into_any()
                    } else {
                        view! {
                            <div class="card overflow-x-auto">
                                <table class="table" data-testid="dmarc-days">
                                    <thead><tr><th>"Day"</th><th>"Messages"</th><th>"Pass"</th><th>"Quarantined"</th><th>"Rejected"</th><th>"SPF softfail"</th><th>"DKIM failed"</th><th>"Not aligned"</th></tr></thead>
                                    <tbody>
                                        {d.dmarc.days.iter().map(|x| view! {
                                            <tr>
                                                <td class="whitespace-nowrap">{chrono::DateTime::from_timestamp(x.day, 0).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()}</td>
                                                <td class="tabular-nums">{x.messages}</td>
                                                <td class="tabular-nums">{x.passed}</td>
                                                <td class="tabular-nums">{x.quarantined}</td>
                                                <td class="tabular-nums">{x.rejected}</td>
                                                <td class="tabular-nums">{x.spf_softfail}</td>
                                                <td class="tabular-nums">{x.dkim_fail}</td>
                                                <td class={if x.misaligned > 0 { "tabular-nums font-medium text-amber-800" } else { "tabular-nums" }}>{x.misaligned}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any()
                    }}
                    {(!d.dmarc.new_sources.is_empty()).then(|| view! {
                        <p class="text-sm text-zinc-700" data-testid="dmarc-new-sources">
                            <span class="font-medium">"Sending sources first seen in the last 30 days: "</span>
                            {d.dmarc.new_sources.iter().map(|s| format!("{} ({} messages, {} passed)", s.ip, s.messages, s.passed)).collect::<Vec<_>>().join(", ")}
                        </p>
                    })}
                    {p.can_manage.then(|| view! {
                        <form method="post" enctype="multipart/form-data" action=format!("/domains/{}/dmarc", d.domain_id) class="flex flex-wrap gap-2 items-end">
                            <label class="sr-only" for="dmarc-file">"Report file"</label>
                            <input class="input w-auto max-w-full" id="dmarc-file" type="file" name="report" required/>
                            <button class="btn btn-secondary" type="submit">"Upload report"</button>
                        </form>
                    })}
                </section>
                <section class="space-y-2">
                    <div class="flex items-center justify-between">
                        <h3 class="font-medium">"Zone-file snippet"</h3>
                        <CopyButton text=snippet.clone() testid="copy-snippet"/>
                    </div>
                    <pre class="card p-4 overflow-x-auto text-xs" data-testid="zone-snippet">{d.snippet.clone()}</pre>
                </section>
                <section class="space-y-2">
                    <h3 class="font-medium">"History"</h3>
                    {if p.history.is_empty() {
                        view! { <EmptyState title="Nothing yet" hint="Verification, drift, repairs and keys appear here as they happen."/> }.into_any()
                    } else {
                        view! {
                            <ol class="card divide-y divide-zinc-100" data-testid="dns-history">
                                {p.history.iter().map(|e| {
                                    let summary = history_line(e);
                                    view! {
                                        <li class="px-4 py-2 text-sm flex flex-wrap gap-x-3">
                                            <span class="text-zinc-500 whitespace-nowrap"><Time at=e.at now=now/></span>
                                            <span class="font-mono text-xs text-zinc-700 whitespace-nowrap">{e.action.clone()}</span>
                                            <span class="text-zinc-700 min-w-0 break-all">{summary}</span>
                                        </li>
                                    }
                                }).collect_view()}
                            </ol>
                        }.into_any()
                    }}
                </section>
            }
        },
    )
}

/// Delegation of the DKIM selectors to the operator's zone: what it means, the records it
/// takes, the switch.
fn delegation_view(d: &DomainDns, can_manage: bool) -> impl IntoView {
    let busy = d.keys.iter().any(|k| k.state == "published");
    let action = format!("/domains/{}/dkim/delegation", d.domain_id);
    match d.delegated_to.clone() {
        Some(zone) => {
            let operator = d.operator_snippet.clone();
            view! {
                <div class="card p-4 space-y-2 text-sm" data-testid="delegation">
                    <p>
                        <span class="font-medium">{format!("Selectors delegated to {zone}. ")}</span>
                        "The domain publishes the two CNAMEs mw1._domainkey and mw2._domainkey once (they are in the snippet below); the key records they point to are kept in the operator zone, so rotations need no edit at the domain's DNS host."
                    </p>
                    {(!operator.is_empty()).then(|| view! {
                        <p class="text-zinc-600">{if d.operator_zone_automatic {
                            "Mailward writes these records into the operator zone itself (RFC 2136); shown for reference:"
                        } else {
                            "Add these records to the operator zone (no update server is configured, so Mailward cannot write them itself):"
                        }}</p>
                        <pre class="rounded bg-zinc-100 p-2 overflow-x-auto text-xs" data-testid="operator-snippet">{operator}</pre>
                    })}
                    {(can_manage && !busy).then(|| view! {
                        <ConfirmButton action=action.clone() label="Take delegation back…"
                            hidden_name="delegate" hidden_value="off"
                            question="A new key is made for the domain's own zone: its record must be published there before signing switches to it. The current key goes on signing meanwhile."/>
                    })}
                </div>
            }
            .into_any()
        }
        None if d.delegation_offered => view! {
            <div class="card p-4 space-y-2 text-sm" data-testid="delegation">
                <p class="text-zinc-600">"DNS of this domain managed elsewhere? Delegate its DKIM selectors: the domain publishes two CNAMEs once, and every later rotation happens in the operator's zone without anyone editing the domain's DNS."</p>
                {(can_manage && !busy).then(|| view! {
                    <form method="post" action=action.clone()>
                        <input type="hidden" name="delegate" value="on"/>
                        <button class="btn btn-secondary" type="submit" data-testid="delegate">"Delegate selectors"</button>
                    </form>
                })}
            </div>
        }
        .into_any(),
        None => ().into_any(),
    }
}

/// DNS changes: those waiting and made (with their verification and rollback), where the
/// zone is managed, and asking for a change.
fn changes_view(d: &DomainDns, can_manage: bool, can_allow: bool, now: i64) -> impl IntoView {
    let p = d.provider.clone();
    let rfc = p.kind == "rfc2136";
    let id = d.domain_id.clone();
    view! {
        <section class="space-y-3" id="dns-changes" data-testid="dns-changes">
            <h3 class="font-medium">"DNS changes"</h3>
            <p class="text-sm text-zinc-600">{if rfc {
                format!("Mailward updates this zone itself by RFC 2136 at {} (zone {}). Each change records the live before-state, waits for a second person, is sent as a compare-and-swap, verified on every nameserver and rolled back by itself when it is not seen.", p.server.clone().unwrap_or_default(), p.zone.clone().unwrap_or_default())
            } else {
                "This zone is edited by hand. An approved change shows the records to enter; Mailward then verifies them on every nameserver.".to_string()
            }}</p>
            {if d.changes.is_empty() {
                view! { <p class="text-sm text-zinc-500">"No DNS changes yet."</p> }.into_any()
            } else {
                view! {
                    <div class="space-y-2">
                        {d.changes.iter().map(|c| change_card(&id, c, can_manage, now)).collect_view()}
                    </div>
                }.into_any()
            }}
            {(can_manage && rfc && d.drift).then(|| view! {
                <form method="post" action="/dns/bulk" class="card p-4 flex flex-wrap items-end gap-2" data-testid="restore-all">
                    <input type="hidden" name="tenant" value=d.tenant_slug.clone()/>
                    <input type="hidden" name="operation" value="restore"/>
                    <input type="hidden" name="domain" value=d.domain.clone()/>
                    <input type="hidden" name="back" value=format!("/domains/{id}/dns")/>
                    <div class="grow">
                        <label class="label" for="restore-why">"Bring every drifted record set back to the baseline — why?"</label>
                        <input class="input" id="restore-why" name="reason" required maxlength="2000"/>
                    </div>
                    <button class="btn btn-secondary" type="submit">"Plan the restore"</button>
                </form>
            })}
            {can_manage.then(|| view! {
                <details class="card p-4" data-testid="ask-change">
                    <summary class="cursor-pointer font-medium">"Ask for a change…"</summary>
                    <form method="post" action=format!("/domains/{id}/dns/changes") class="mt-3 grid grid-cols-1 gap-3 sm:grid-cols-2 [&>*]:min-w-0">
                        <div>
                            <label class="label" for="chg-name">"Name"</label>
                            <input class="input" id="chg-name" name="name" required maxlength="253" placeholder="@, _dmarc, www"/>
                        </div>
                        <div>
                            <label class="label" for="chg-type">"Type"</label>
                            <select class="input max-w-full" id="chg-type" name="rtype">
                                {super::service_types().iter().map(|t| view! { <option value=*t>{*t}</option> }).collect_view()}
                            </select>
                        </div>
                        <div class="sm:col-span-2">
                            <label class="label" for="chg-values">"Values afterwards, one per line (empty: remove the record set)"</label>
                            <textarea class="input font-mono text-xs" id="chg-values" name="values" rows="3" placeholder="v=DMARC1; p=reject"></textarea>
                        </div>
                        <div class="sm:col-span-2">
                            <label class="label" for="chg-reason">"Why?"</label>
                            <input class="input" id="chg-reason" name="reason" required maxlength="2000"/>
                        </div>
                        <div class="sm:col-span-2">
                            <button class="btn btn-primary" type="submit" data-testid="ask-change-submit">"Ask for approval"</button>
                            <span class="ml-2 text-xs text-zinc-500">"The before-state is read from the live zone now, and again when it is applied."</span>
                        </div>
                    </form>
                </details>
            })}
            <details class="card p-4" data-testid="dns-provider">
                <summary class="cursor-pointer font-medium">{format!("Where this zone is managed: {}", if rfc { "RFC 2136 (Mailward updates it)" } else { "by hand" })}</summary>
                <div class="mt-3 space-y-3">
                    {p.test_result.clone().map(|r| view! { <p class="text-sm" data-testid="provider-test">{r}</p> })}
                    {can_manage.then(|| view! {
                        <form method="post" action=format!("/domains/{id}/dns/provider") class="grid grid-cols-1 gap-3 sm:grid-cols-2 [&>*]:min-w-0">
                            <div class="sm:col-span-2">
                                <label class="label" for="prov-kind">"Managed"</label>
                                <select class="input max-w-full" id="prov-kind" name="kind">
                                    <option value="manual" selected=!rfc>"By hand"</option>
                                    <option value="rfc2136" selected=rfc>"RFC 2136 (Mailward updates it)"</option>
                                </select>
                            </div>
                            <div>
                                <label class="label" for="prov-server">"Primary nameserver (IP, optional :port)"</label>
                                <input class="input" id="prov-server" name="server" value=p.server.clone().unwrap_or_default() placeholder="192.0.2.53"/>
                            </div>
                            <div>
                                <label class="label" for="prov-zone">"Zone"</label>
                                <input class="input" id="prov-zone" name="zone" value=p.zone.clone().unwrap_or_default() placeholder=d.domain.clone()/>
                            </div>
                            <div>
                                <label class="label" for="prov-key">"TSIG key name"</label>
                                <input class="input" id="prov-key" name="tsig_name" value=p.tsig_name.clone().unwrap_or_default()/>
                            </div>
                            <div>
                                <label class="label" for="prov-alg">"Algorithm"</label>
                                <select class="input max-w-full" id="prov-alg" name="tsig_algorithm">
                                    {["hmac-sha256", "hmac-sha384", "hmac-sha512"].into_iter().map(|a| view! {
                                        <option value=a selected=p.tsig_algorithm.as_deref() == Some(a)>{a}</option>
                                    }).collect_view()}
                                </select>
                            </div>
                            <div class="sm:col-span-2">
                                <label class="label" for="prov-secret">{if p.secret_set { "TSIG secret (stored; leave empty to keep it)" } else { "TSIG secret (base64)" }}</label>
                                <input class="input font-mono" id="prov-secret" name="tsig_secret" type="password" autocomplete="off"/>
                            </div>
                            {can_allow.then(|| view! {
                                <div class="sm:col-span-2">
                                    <input type="hidden" name="unmanaged_shown" value="1"/>
                                    <label class="inline-flex items-center gap-2 text-sm">
                                        <input type="checkbox" name="allow_unmanaged" value="on" checked=p.allow_unmanaged/>
                                        "Allow changes outside the baseline's record sets, and to NS (owners)"
                                    </label>
                                </div>
                            })}
                            <div class="sm:col-span-2 flex flex-wrap gap-2">
                                <button class="btn btn-primary" type="submit" data-testid="provider-save">"Save"</button>
                            </div>
                        </form>
                    })}
                    {(can_manage && rfc).then(|| view! {
                        <form method="post" action=format!("/domains/{id}/dns/provider/test")>
                            <button class="btn btn-secondary" type="submit" data-testid="provider-test-button">"Test the connection"</button>
                            <span class="ml-2 text-xs text-zinc-500">"Writes a TXT record at _mailward-test, reads it back and removes it."</span>
                        </form>
                    })}
                </div>
            </details>
        </section>
    }
}

fn values_text(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".to_string()
    } else {
        v.join(" | ")
    }
}

fn change_card(domain_id: &str, c: &DnsChange, can_manage: bool, now: i64) -> impl IntoView {
    let (label, tone) = phase_label(&c.phase);
    let label = if c.phase.is_empty() && c.state != "pending" {
        c.state.clone()
    } else {
        label.to_string()
    };
    let entering = c.phase == "awaiting_entry";
    let in_progress = ["verifying", "rolling_back"].contains(&c.phase.as_str());
    view! {
        <article class="card p-4 space-y-2" data-testid="dns-change" data-phase=c.phase.clone()>
            <div class="flex flex-wrap items-center gap-2">
                <Badge text=label tone=tone/>
                <span class="font-mono text-sm">{format!("{} {}", c.fqdn, c.rtype)}</span>
                <span class="text-xs text-zinc-500">{format!("asked by {} ", c.requested_by)}<Time at=c.requested_at now=now/>{c.decided_by.clone().map(|d| format!(" · approved by {d}"))}</span>
            </div>
            <p class="text-sm">{format!("“{}”", c.reason)}</p>
            <div class="grid grid-cols-1 gap-1 text-xs font-mono sm:grid-cols-2 [&>*]:min-w-0">
                <div class="break-all"><span class="font-sans text-zinc-500">"Before: "</span>{values_text(&c.before)}</div>
                <div class="break-all"><span class="font-sans text-zinc-500">"After: "</span>{values_text(&c.after)}</div>
            </div>
            {c.checks.iter().map(|k| view! {
                <p class="text-xs text-zinc-700" data-testid="dns-check">
                    <span class="font-medium">{format!("{}: {} ", k.name, match (k.ok, k.name == "nameservers") {
                        (Some(true), _) => "passed —",
                        (Some(false), true) if in_progress => "not yet —",
                        (Some(false), _) => "failed —",
                        (None, true) => "no answer yet —",
                        (None, false) => "waiting —",
                    })}</span>
                    {k.detail.clone()}
                </p>
            }).collect_view()}
            {c.note.clone().map(|n| view! { <p class="text-sm text-zinc-800" data-testid="dns-change-note">{n}</p> })}
            {entering.then(|| view! {
                <div class="rounded-lg border border-amber-300 bg-amber-50 p-3 space-y-2">
                    <p class="text-sm text-amber-900">{if c.want == "before" { "Enter these records to restore the before-state, then say so:" } else { "Enter these records in the zone, then say so:" }}</p>
                    <pre class="overflow-x-auto text-xs">{c.zone_snippet.clone()}</pre>
                    {can_manage.then(|| view! {
                        <form method="post" action=format!("/domains/{domain_id}/dns/changes/{}/entered", c.id)>
                            <button class="btn btn-primary" type="submit" data-testid="entered">"Entered"</button>
                        </form>
                    })}
                </div>
            })}
            <details class="text-xs text-zinc-600">
                <summary class="cursor-pointer">"Rollback, ready to paste"</summary>
                <pre class="mt-1 overflow-x-auto">{c.rollback_update.clone()}</pre>
                <pre class="mt-1 overflow-x-auto">{c.rollback_zone.clone()}</pre>
            </details>
        </article>
    }
}

/// A long value (a DKIM key) cut for the table; the snippet and the API have it whole.
fn short(v: &str) -> String {
    if v.chars().count() > 72 {
        format!("{}…", v.chars().take(64).collect::<String>())
    } else {
        v.to_string()
    }
}

/// One line of the history from an event's details.
fn history_line(e: &AuditEvent) -> String {
    let d: serde_json::Value = serde_json::from_str(&e.details).unwrap_or_default();
    let sets = d
        .get("sets")
        .and_then(|s| s.as_array())
        .map(|a| {
            a.iter()
                .map(|s| {
                    format!(
                        "{} {} {}: {} → {}",
                        s.get("purpose").and_then(|v| v.as_str()).unwrap_or(""),
                        s.get("name").and_then(|v| v.as_str()).unwrap_or(""),
                        s.get("type").and_then(|v| v.as_str()).unwrap_or(""),
                        s.get("before").and_then(|v| v.as_str()).unwrap_or("new"),
                        s.get("after").and_then(|v| v.as_str()).unwrap_or(""),
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    let health = d.get("health").map(|h| {
        format!(
            "health {} → {}",
            h.get("before").and_then(|v| v.as_str()).unwrap_or("?"),
            h.get("after").and_then(|v| v.as_str()).unwrap_or("?")
        )
    });
    let key = d
        .get("selector")
        .and_then(|v| v.as_str())
        .map(|s| format!("key {s}"));
    let key = key.or_else(|| {
        d.get("next_selector")
            .and_then(|v| v.as_str())
            .map(|s| format!("next key {s}"))
    });
    let zone = d
        .get("zone")
        .and_then(|v| v.as_str())
        .map(|z| format!("zone {z}"));
    let reason = d
        .get("reason")
        .or_else(|| d.get("result"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let record = match (
        d.get("name").and_then(|v| v.as_str()),
        d.get("type").and_then(|v| v.as_str()),
    ) {
        (Some(n), Some(t)) => {
            let list = |k: &str| {
                d.get(k)
                    .and_then(|v| v.as_array())
                    .map(|a| {
                        let v: Vec<&str> = a.iter().filter_map(|x| x.as_str()).collect();
                        if v.is_empty() {
                            "(none)".to_string()
                        } else {
                            v.join(" | ")
                        }
                    })
                    .unwrap_or_default()
            };
            Some(format!("{n} {t}: {} → {}", list("before"), list("after")))
        }
        _ => None,
    };
    let provider = d
        .get("kind")
        .and_then(|v| v.as_str())
        .map(|k| format!("managed: {k}"));
    let report = d.get("org").and_then(|v| v.as_str()).map(|org| {
        let sources = d.get("sources").and_then(|v| v.as_array()).map(|a| {
            let ips: Vec<&str> = a.iter().filter_map(|x| x.as_str()).collect();
            format!("new sources {}", ips.join(", "))
        });
        match (d.get("messages").and_then(|v| v.as_i64()), sources) {
            (_, Some(s)) => format!("{org}: {s}"),
            (Some(m), None) => format!("{org}: {m} messages"),
            _ => org.to_string(),
        }
    });
    [
        health,
        Some(sets).filter(|s| !s.is_empty()),
        key,
        zone,
        reason,
        report,
        record,
        provider,
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" · ")
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TemplatesPage {
    /// (category, label, template, saved by an owner)
    pub templates: Vec<(String, String, Template, bool)>,
    pub can_edit: bool,
    pub mail_host: Option<String>,
}

#[server(prefix = "/_sf")]
pub async fn get_templates_page() -> Result<PageData<TemplatesPage>, ServerFnError> {
    use crate::core::authz::{decide, Action};
    crate::ssr::page(|c| async move {
        let a = c.actor();
        Ok(TemplatesPage {
            templates: super::service::templates(&c.st, &a).await?,
            can_edit: decide(&a, Action::ManageDnsBaselines),
            mail_host: c.st.config.mail_host.clone(),
        })
    })
    .await
}

#[component]
pub fn TemplatesPageView() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_templates_page());
    signed_in_page(
        "DNS baselines",
        Some("DNS baselines"),
        "What every domain of a category publishes. The scanner compares each domain's nameservers with its category's baseline.",
        data,
        |p: TemplatesPage| {
            let host = p.mail_host.clone().unwrap_or_else(|| "(mail_host not set)".into());
            view! {
                <p class="text-sm text-zinc-600">{format!("MX and SRV records point at the mail host {host}. Each domain adds its own DKIM key.")}</p>
                <div class="grid gap-4 lg:grid-cols-2">
                    {p.templates.into_iter().map(|(cat, label, t, saved)| {
                        let can_edit = p.can_edit;
                        let id = |f: &str| format!("{cat}-{f}");
                        view! {
                            <form method="post" action=format!("/dns/templates/{cat}") class="card p-5 space-y-3" data-testid=format!("template-{cat}")>
                                <h3 class="font-medium">{label}<span class="ml-2 text-xs text-zinc-500">{if saved { "saved by an owner" } else { "built-in" }}</span></h3>
                                <fieldset disabled=!can_edit class="space-y-3">
                                    <label class="flex items-center gap-2 text-sm"><input type="checkbox" name="receive" checked=t.receive/>"Receives mail (MX at the mail host; off: null MX)"</label>
                                    <div>
                                        <label class="label" for=id("spf")>"SPF record"</label>
                                        <input class="input font-mono" id=id("spf") name="spf" value=t.spf.clone() required/>
                                    </div>
                                    <label class="flex items-center gap-2 text-sm"><input type="checkbox" name="dkim" checked=t.dkim/>"Signs with DKIM (a key per domain)"</label>
                                    <div class="grid grid-cols-1 gap-3 sm:grid-cols-2 [&>*]:min-w-0">
                                        <div>
                                            <label class="label" for=id("dmarc")>"DMARC policy"</label>
                                            <select class="input" id=id("dmarc") name="dmarc_policy">
                                                {DMARC_POLICIES.iter().map(|v| view! { <option value=*v selected=t.dmarc_policy == *v>{*v}</option> }).collect_view()}
                                            </select>
                                        </div>
                                        <div>
                                            <label class="label" for=id("rua")>"DMARC reports to"</label>
                                            <input class="input" id=id("rua") name="dmarc_rua" type="email" value=t.dmarc_rua.clone() placeholder="dmarc@agency.example"/>
                                        </div>
                                        <div>
                                            <label class="label" for=id("sts")>"MTA-STS"</label>
                                            <select class="input" id=id("sts") name="mta_sts">
                                                {MTA_STS_MODES.iter().map(|v| view! { <option value=*v selected=t.mta_sts == *v>{*v}</option> }).collect_view()}
                                            </select>
                                        </div>
                                        <div>
                                            <label class="label" for=id("tls")>"TLS reports to"</label>
                                            <input class="input" id=id("tls") name="tls_rpt_rua" type="email" value=t.tls_rpt_rua.clone() placeholder="tls@agency.example"/>
                                        </div>
                                    </div>
                                    <label class="flex items-center gap-2 text-sm"><input type="checkbox" name="autoconfig" checked=t.autoconfig/>"Mail-client autoconfiguration (SRV for submission and IMAPS; never POP3)"</label>
                                </fieldset>
                                {can_edit.then(|| view! { <button class="btn btn-primary" type="submit">"Save baseline"</button> })}
                            </form>
                        }
                    }).collect_view()}
                </div>
            }
        },
    )
}

// ---------- bulk DNS changes ----------

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BulkListPage {
    pub plans: Vec<super::BulkPlan>,
    /// (short name, name) of the tenants the user may plan for.
    pub tenants: Vec<(String, String)>,
    pub categories: Vec<(String, String)>,
    pub batch_size: i64,
    pub max_percent: i64,
    pub now: i64,
}

#[server(prefix = "/_sf")]
pub async fn get_bulk_list_page() -> Result<PageData<BulkListPage>, ServerFnError> {
    use crate::core::authz::{authorize_in, Action};
    crate::ssr::page(|c| async move {
        let a = c.actor();
        let plans = super::service::bulk::bulk_plans(&c.st, &a).await?;
        let tenants = crate::tenancy::service::tenants(&c.st, &a)
            .await?
            .into_iter()
            .filter(|t| authorize_in(&a, Action::ManageDomains, &t.id).is_ok())
            .map(|t| (t.slug, t.name))
            .collect();
        Ok(BulkListPage {
            plans,
            tenants,
            categories: crate::tenancy::DOMAIN_CATEGORIES
                .iter()
                .map(|(k, l)| (k.to_string(), l.to_string()))
                .collect(),
            batch_size: c.st.config.dns_bulk_batch_size,
            max_percent: c.st.config.dns_bulk_max_percent,
            now: c.st.clock.now(),
        })
    })
    .await
}

fn plan_state_badge(state: &str, request_state: &str) -> impl IntoView {
    let (text, tone) = match (state, request_state) {
        ("planned", "pending") => ("waiting for approval", "amber"),
        ("planned", s) => (s, "zinc"),
        ("running", _) => ("running", "blue"),
        ("done", _) => ("done", "green"),
        ("stopped", _) => ("stopped, batch rolled back", "red"),
        ("undoing", _) => ("rolling back", "amber"),
        ("undone", _) => ("rolled back", "zinc"),
        (s, _) => (s, "zinc"),
    };
    let text = text.to_string();
    view! { <span data-testid="plan-state" data-state=state.to_string()><Badge text=text tone=tone/></span> }
}

#[component]
pub fn BulkListPageView() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_bulk_list_page());
    signed_in_page(
        "DNS changes",
        Some("DNS changes"),
        "Changes across many domains of a tenant: one approval for the plan, a canary domain first, then batches, each verified on every nameserver before the next.",
        data,
        |p: BulkListPage| {
            let now = p.now;
            view! {
                <section class="card">
                    <h2 class="px-4 py-3 border-b border-zinc-200 font-medium">"Plans"</h2>
                    {if p.plans.is_empty() {
                        view! { <p class="px-4 py-3 text-sm text-zinc-500">"No bulk change yet."</p> }.into_any()
                    } else {
                        view! {
                            <div class="overflow-x-auto">
                                <table class="table" data-testid="bulk-plans">
                                    <thead><tr><th>"Plan"</th><th>"State"</th><th>"Progress"</th><th>"Asked by"</th><th>"Updated"</th></tr></thead>
                                    <tbody>
                                        {p.plans.into_iter().map(|b| view! {
                                            <tr>
                                                <td><a class="link" href=format!("/dns/bulk/{}", b.id)>{b.title.clone()}</a></td>
                                                <td>{plan_state_badge(&b.state, &b.request_state)}</td>
                                                <td class="text-sm tabular-nums">{format!("{} verified · {} rolled back · {} to go", b.verified, b.rolled_back, b.pending)}</td>
                                                <td class="text-sm">{b.requested_by.clone()}</td>
                                                <td><Time at=b.updated_at now=now/></td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any()
                    }}
                </section>
                {(!p.tenants.is_empty()).then(|| view! {
                    <form method="post" action="/dns/bulk" class="card p-5 grid grid-cols-1 gap-3 sm:grid-cols-2 [&>*]:min-w-0" data-testid="bulk-form">
                        <h2 class="sm:col-span-2 font-medium">"Plan a change"</h2>
                        <div>
                            <label class="label" for="bk-tenant">"Tenant"</label>
                            <select class="input max-w-full" id="bk-tenant" name="tenant">
                                {p.tenants.iter().map(|(slug, name)| view! { <option value=slug.clone()>{name.clone()}</option> }).collect_view()}
                            </select>
                        </div>
                        <div>
                            <label class="label" for="bk-op">"What"</label>
                            <select class="input max-w-full" id="bk-op" name="operation">
                                <option value="restore">"Restore the baseline"</option>
                                <option value="set">"Set one record set"</option>
                            </select>
                        </div>
                        <div>
                            <label class="label" for="bk-category">"Category"</label>
                            <select class="input max-w-full" id="bk-category" name="category">
                                <option value="">"Any"</option>
                                {p.categories.iter().map(|(k, l)| view! { <option value=k.clone()>{l.clone()}</option> }).collect_view()}
                            </select>
                        </div>
                        <div>
                            <label class="label" for="bk-domain">"Only this domain (optional)"</label>
                            <input class="input" id="bk-domain" name="domain" placeholder="acme.example"/>
                        </div>
                        <label class="sm:col-span-2 inline-flex items-center gap-2 text-sm">
                            <input type="checkbox" name="only_drifted" value="on"/>"Only domains whose DNS differs from the baseline now"
                        </label>
                        <fieldset class="sm:col-span-2 grid grid-cols-1 gap-3 sm:grid-cols-3 [&>*]:min-w-0 rounded-lg border border-zinc-200 p-3">
                            <legend class="px-1 text-xs text-zinc-500">"For “set one record set”"</legend>
                            <div>
                                <label class="label" for="bk-name">"Name"</label>
                                <input class="input" id="bk-name" name="name" placeholder="@, _dmarc"/>
                            </div>
                            <div>
                                <label class="label" for="bk-type">"Type"</label>
                                <select class="input max-w-full" id="bk-type" name="rtype">
                                    {["TXT", "MX", "A", "AAAA", "CNAME", "SRV"].into_iter().map(|t| view! { <option value=t>{t}</option> }).collect_view()}
                                </select>
                            </div>
                            <div>
                                <label class="label" for="bk-values">"Values, one per line"</label>
                                <textarea class="input font-mono text-xs" id="bk-values" name="values" rows="2"></textarea>
                            </div>
                        </fieldset>
                        <div>
                            <label class="label" for="bk-batch">"Domains per batch"</label>
                            <input class="input" id="bk-batch" name="batch_size" type="number" min="1" max="1000" value=p.batch_size.to_string()/>
                        </div>
                        <div>
                            <label class="label" for="bk-reason">"Why?"</label>
                            <input class="input" id="bk-reason" name="reason" required maxlength="2000"/>
                        </div>
                        <div class="sm:col-span-2">
                            <button class="btn btn-primary" type="submit" data-testid="bulk-plan">"Plan it"</button>
                            <span class="ml-2 text-xs text-zinc-500">{format!("The plan lists every domain's diff and waits for a second person. A plan that changes more than {}% of a zone's records needs an override.", p.max_percent)}</span>
                        </div>
                    </form>
                })}
            }
        },
    )
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BulkPlanPage {
    pub plan: super::BulkPlan,
    pub can_decide: bool,
    pub mine: bool,
    pub now: i64,
}

#[server(prefix = "/_sf")]
pub async fn get_bulk_plan_page(id: String) -> Result<PageData<BulkPlanPage>, ServerFnError> {
    use crate::core::authz::{decide, Action};
    crate::ssr::page(|c| async move {
        let a = c.actor();
        let plan = super::service::bulk::bulk_plan(&c.st, &a, &id).await?;
        Ok(BulkPlanPage {
            mine: plan.requested_by_id.is_some() && plan.requested_by_id == a.user_id,
            can_decide: decide(&a, Action::ApproveChanges),
            now: c.st.clock.now(),
            plan,
        })
    })
    .await
}

#[component]
pub fn BulkPlanPageView() -> impl IntoView {
    let params = use_params_map();
    let id = move || crate::ui::param(&params.read(), "id").unwrap_or_default();
    let data = Resource::new(id, get_bulk_plan_page);
    signed_in_page(
        "DNS change plan",
        Some("DNS changes"),
        "Every domain's diff, the canary and the batches, and where the run stands.",
        data,
        |p: BulkPlanPage| {
            let b = p.plan.clone();
            let now = p.now;
            let running = b.state == "running" || b.state == "undoing";
            let batches: Vec<i64> = (0..=b.batches).collect();
            let unsafe_open = !b.unsafe_zones.is_empty()
                && b.override_by.is_none()
                && b.request_state == "pending";
            view! {
                {running.then(|| view! { <meta http-equiv="refresh" content="3"/> })}
                <section class="card p-5 space-y-2" data-testid="bulk-plan">
                    <h2 class="text-lg font-semibold flex flex-wrap items-center gap-2">{b.title.clone()}{plan_state_badge(&b.state, &b.request_state)}</h2>
                    <p class="text-sm">{format!("“{}”", b.reason)}</p>
                    <p class="text-xs text-zinc-500">{format!("Asked by {}{} · canary first, then {} batch{} of up to {} domains · updated ", b.requested_by, b.decided_by.clone().map(|d| format!(", approved by {d}")).unwrap_or_default(), b.batches, if b.batches == 1 { "" } else { "es" }, b.batch_size)}<Time at=b.updated_at now=now/></p>
                    <p class="text-sm tabular-nums" data-testid="bulk-progress">{format!("{} record sets: {} verified, {} applied, {} failed, {} rolled back, {} not started.", b.items.len(), b.verified, b.applied, b.failed, b.rolled_back, b.pending)}
                        {running.then(|| view! { <span class="text-zinc-500">{format!(" Now: {} — {}.", if b.batch == 0 { "the canary".to_string() } else { format!("batch {}", b.batch) }, match b.stage.as_str() { "apply" => "applying", "verify" => "verifying on every nameserver", "rollback" => "rolling back", _ => "verifying the rollback" })}" "<a class="link" href="">"Refresh"</a></span> })}
                    </p>
                    {b.note.clone().map(|n| view! { <p class="rounded-lg border border-zinc-300 bg-zinc-50 px-3 py-2 text-sm" data-testid="bulk-note">{n}</p> })}
                    {(!b.unsafe_zones.is_empty()).then(|| view! {
                        <div class="rounded-lg border border-red-300 bg-red-50 p-3 text-sm text-red-900 space-y-1" data-testid="bulk-unsafe">
                            <p class="font-medium">{format!("Unsafe: it would update or delete more than {}% of the records of {}.", b.max_percent, b.unsafe_zones.iter().map(|(d, pct)| format!("{d} ({pct}%)")).collect::<Vec<_>>().join(", "))}</p>
                            {match (&b.override_by, &b.override_reason) {
                                (Some(by), Some(why)) => view! { <p>{format!("Overridden by {by}: “{why}”")}</p> }.into_any(),
                                _ => view! { <p>"An approver must override it with a reason before it can be approved."</p> }.into_any(),
                            }}
                        </div>
                    })}
                    {(b.request_state == "pending" && !p.mine && p.can_decide).then(|| view! {
                        <div class="flex flex-wrap items-end gap-2">
                            {unsafe_open.then(|| view! {
                                <form method="post" action=format!("/dns/bulk/{}/override", b.id) class="flex flex-wrap items-end gap-2" data-testid="bulk-override">
                                    <div>
                                        <label class="label" for="ov-why">"Why is it safe anyway?"</label>
                                        <input class="input" id="ov-why" name="reason" required minlength="5" maxlength="2000"/>
                                    </div>
                                    <button class="btn btn-secondary" type="submit">"Override"</button>
                                </form>
                            })}
                            <form method="post" action=format!("/approvals/{}/approve", b.id)>
                                <button class="btn btn-primary" type="submit" data-testid="bulk-approve" disabled=unsafe_open>"Approve and start"</button>
                            </form>
                        </div>
                    })}
                    {(b.request_state == "pending" && p.mine).then(|| view! { <p class="text-sm text-zinc-600">"You asked for this plan: someone else approves it (Approvals)."</p> })}
                </section>
                {batches.into_iter().map(|n| {
                    let rows: Vec<super::BulkItem> = b.items.iter().filter(|i| i.batch == n).cloned().collect();
                    (!rows.is_empty()).then(|| view! {
                        <section class="space-y-2" data-testid="bulk-batch" data-batch=n.to_string()>
                            <h3 class="font-medium">{if n == 0 { "Canary".to_string() } else { format!("Batch {n}") }}</h3>
                            <div class="card overflow-x-auto">
                                <table class="table">
                                    <thead><tr><th>"Domain"</th><th>"Record set"</th><th>"Before"</th><th>"After"</th><th>"State"</th></tr></thead>
                                    <tbody>
                                        {rows.into_iter().map(|i| {
                                            let tone = match i.state.as_str() { "verified" => "green", "applied" => "blue", "failed" => "red", "rolled_back" => "zinc", _ => "zinc" };
                                            view! {
                                                <tr data-testid="bulk-item" data-state=i.state.clone()>
                                                    <td class="whitespace-nowrap">{i.domain.clone()}</td>
                                                    <td class="font-mono text-xs whitespace-nowrap">{format!("{} {}", i.fqdn, i.rtype)}</td>
                                                    <td class="font-mono text-xs break-words min-w-40 max-w-xs">{short(&values_text(&i.before))}</td>
                                                    <td class="font-mono text-xs break-words min-w-40 max-w-xs">{short(&values_text(&i.after))}</td>
                                                    <td class="text-sm"><Badge text=i.state.replace('_', " ") tone=tone/>{i.detail.clone().map(|d| view! { <span class="block text-xs text-zinc-500">{d}</span> })}</td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        </section>
                    })
                }).collect_view()}
            }
        },
    )
}
