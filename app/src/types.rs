//! Shared types, compiled for the browser too: values that can only hold valid data (parse,
//! don't validate), and the vocabulary of the mechanisms every capability plugs into — the
//! console roles the gate decides on, and the change-request record the change kinds read.
//! Core and the capabilities both name these; neither owns the other.
use serde::{Deserialize, Serialize};

/// A mail address as Mailward accepts it: `local@domain`, ASCII, domain lower-cased.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, String> {
        let s = input.trim();
        let err = || format!("“{s}” is not a valid email address.");
        if s.is_empty() {
            return Err("An email address is required.".into());
        }
        if s.len() > 254 {
            return Err(err());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(err)?;
        if local.is_empty()
            || local.len() > 64
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
            || !local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
        {
            return Err(err());
        }
        let domain = domain.to_ascii_lowercase();
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2
            || labels.iter().any(|l| {
                l.is_empty()
                    || l.len() > 63
                    || l.starts_with('-')
                    || l.ends_with('-')
                    || !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
        {
            return Err(err());
        }
        Ok(EmailAddress(format!("{local}@{domain}")))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Case-folded form used to look accounts up.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        EmailAddress::parse(&s)
    }
}
impl From<EmailAddress> for String {
    fn from(e: EmailAddress) -> String {
        e.0
    }
}
impl std::fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn emails() {
        assert_eq!(
            EmailAddress::parse(" Ann@Example.COM ").unwrap().as_str(),
            "Ann@example.com"
        );
        for bad in [
            "", "a", "a@b", "@b.c", "a@.c", "a..b@c.d", "a b@c.d", "a@c-.d", "a@b_c.d",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }
}

// ---------- statuses, kinds and states: enums at the edges ----------

/// A closed set of names stored as text: parsed once where a row or a request enters
/// (`parse`; an unknown name is an error there), written by name (`as_str`), serialized by
/// name, and comparable with a name (`status == "active"`) so pages read naturally.
macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $var),+
        }
        // By hand: the derive does not see a `rename` that arrives through the macro, and
        // documented the Rust names instead of the stored ones.
        #[cfg(feature = "ssr")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::SchemaType::Type(
                        utoipa::openapi::schema::Type::String,
                    ))
                    .enum_values(Some([$($s),+]))
                    .into()
            }
        }
        #[cfg(feature = "ssr")]
        impl utoipa::ToSchema for $name {}
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($s => Some($name::$var),)+ _ => None }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_string()
            }
        }
        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $name::parse(s).ok_or_else(|| format!("unknown {} {s:?}", stringify!($name)))
            }
        }
    };
}

named_enum! {
    /// Where a mailbox is in its life.
    MailboxStatus {
        /// Created; the owner has not set a password from their link yet.
        Invited = "invited",
        Active = "active",
        /// Suspected compromise: receives mail, nobody can sign in; a reset link opens it.
        Locked = "locked",
        Offboarded = "offboarded",
    }
}

named_enum! {
    /// What a delegate may do with a mailbox's folders over IMAP (Dovecot's ACLs; the
    /// delegate sees them under `Shared/<address>/`).
    FolderAccess {
        None = "none",
        /// Read and search; its own `\Seen` flags.
        Read = "read",
        /// Also file, flag, delete messages and make folders (never delete folders or
        /// change who has access).
        ReadWrite = "read_write",
    }
}

impl Default for FolderAccess {
    fn default() -> Self {
        FolderAccess::None
    }
}

named_enum! {
    /// A tenant or a domain: receiving mail, or suspended (a domain starts `pending`).
    LiveStatus {
        Pending = "pending",
        Active = "active",
        Suspended = "suspended",
    }
}

named_enum! {
    /// A domain's DNS health, as the scanner sums it up.
    DnsHealth {
        /// Not checked yet, or no nameserver answered.
        Unknown = "unknown",
        Green = "green",
        /// An optional record differs, or the records have findings (SPF lookups, DMARC tags).
        Amber = "amber",
        /// A record mail depends on (MX, SPF, the signing DKIM key, DMARC) is missing or wrong.
        Red = "red",
    }
}

named_enum! {
    /// One record set against its baseline.
    RecordStatus {
        Ok = "ok",
        Missing = "missing",
        Changed = "changed",
        Extra = "extra",
        /// No nameserver answered.
        Unknown = "unknown",
    }
}

named_enum! {
    /// Where a DKIM key is in its life.
    DkimKeyState {
        /// Its record is published (or should be); not signing until every nameserver serves it.
        Published = "published",
        Active = "active",
        /// Replaced; its record stays until it is retired.
        Retiring = "retiring",
        Retired = "retired",
    }
}

named_enum! {
    /// What a route is.
    RouteKind {
        Alias = "alias",
        /// To an outside address.
        Forward = "forward",
        /// `@domain`: whatever no mailbox or route takes.
        Catchall = "catchall",
        /// Left by an offboarding: the old address's mail goes to a colleague for a while.
        Offboarding = "offboarding",
    }
}

named_enum! {
    /// Where a route is in its life.
    RouteState {
        /// Waiting for an external recipient to confirm.
        Unconfirmed = "unconfirmed",
        Active = "active",
        Expired = "expired",
        Removed = "removed",
    }
}

named_enum! {
    /// Where a background job is in its life.
    JobState {
        /// Checked, not started (an import's preview).
        Draft = "draft",
        Queued = "queued",
        Running = "running",
        Done = "done",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

named_enum! {
    /// A console account: usable, or disabled (offboarded with its person's mailbox).
    AccountStatus {
        Active = "active",
        Disabled = "disabled",
    }
}

// ---------- the gate's roles ----------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Operator,
    TenantAdmin,
    ClientViewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Operator => "operator",
            Role::TenantAdmin => "tenant_admin",
            Role::ClientViewer => "client_viewer",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "operator" => Some(Role::Operator),
            "tenant_admin" => Some(Role::TenantAdmin),
            "client_viewer" => Some(Role::ClientViewer),
            _ => None,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Operator => "Operator",
            Role::TenantAdmin => "Tenant admin",
            Role::ClientViewer => "Client viewer",
        }
    }
    /// Roles that belong to one tenant.
    pub fn is_tenant_role(self) -> bool {
        matches!(self, Role::TenantAdmin | Role::ClientViewer)
    }
    pub const ALL: [Role; 4] = [
        Role::Owner,
        Role::Operator,
        Role::TenantAdmin,
        Role::ClientViewer,
    ];
}

// ---------- names as people read them ----------

/// A route's source as people read it: a catch-all (stored `@domain`) as `*@domain`, an
/// address as [`readable`]. One way of writing catch-alls wherever routes are listed.
pub fn shown_source(source: &str) -> String {
    match source.strip_prefix('@') {
        Some(domain) => format!("*@{}", readable(domain)),
        None => readable(source),
    }
}

/// A domain or address as people read it: each `xn--` label of the domain decoded to Unicode
/// (Punycode, RFC 3492), so `anna@xn--bcher-kva.example` reads `anna@bücher.example`. A label
/// that does not decode stays as it is. Compiled for the browser too (no IDNA tables), so a
/// page renders the same on both sides. Machines keep the ASCII form.
pub fn readable(s: &str) -> String {
    if !s.to_ascii_lowercase().contains("xn--") {
        return s.to_string();
    }
    let (local, domain) = match s.rsplit_once('@') {
        Some((l, d)) => (Some(l), d),
        None => (None, s),
    };
    let labels: Vec<String> = domain
        .split('.')
        .map(|l| match l.get(..4) {
            Some(p) if p.eq_ignore_ascii_case("xn--") => {
                punycode_decode(&l[4..]).unwrap_or_else(|| l.to_string())
            }
            _ => l.to_string(),
        })
        .collect();
    match local {
        Some(l) => format!("{l}@{}", labels.join(".")),
        None => labels.join("."),
    }
}

fn punycode_decode(input: &str) -> Option<String> {
    const BASE: u32 = 36;
    const TMIN: u32 = 1;
    const TMAX: u32 = 26;
    const SKEW: u32 = 38;
    const DAMP: u32 = 700;
    fn adapt(delta: u32, points: u32, first: bool) -> u32 {
        let mut delta = if first { delta / DAMP } else { delta / 2 };
        delta += delta / points;
        let mut k = 0;
        while delta > ((BASE - TMIN) * TMAX) / 2 {
            delta /= BASE - TMIN;
            k += BASE;
        }
        k + ((BASE - TMIN + 1) * delta) / (delta + SKEW)
    }
    let (basic, rest) = match input.rfind('-') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => ("", input),
    };
    if !basic.is_ascii() || input.is_empty() || input.len() > 63 {
        return None;
    }
    let mut out: Vec<char> = basic.chars().collect();
    let (mut n, mut i, mut bias) = (128u32, 0u32, 72u32);
    let mut digits = rest.bytes().peekable();
    while digits.peek().is_some() {
        let (old_i, mut w, mut k) = (i, 1u32, BASE);
        loop {
            let c = digits.next()?;
            let digit = match c {
                b'a'..=b'z' => c - b'a',
                b'A'..=b'Z' => c - b'A',
                b'0'..=b'9' => c - b'0' + 26,
                _ => return None,
            } as u32;
            i = i.checked_add(digit.checked_mul(w)?)?;
            let t = if k <= bias {
                TMIN
            } else if k >= bias + TMAX {
                TMAX
            } else {
                k - bias
            };
            if digit < t {
                break;
            }
            w = w.checked_mul(BASE - t)?;
            k += BASE;
        }
        let len = out.len() as u32 + 1;
        bias = adapt(i - old_i, len, old_i == 0);
        n = n.checked_add(i / len)?;
        i %= len;
        let ch = char::from_u32(n).filter(|c| !c.is_control())?;
        out.insert(i as usize, ch);
        i += 1;
    }
    Some(out.into_iter().collect())
}

// ---------- a change request in words ----------

/// A change request as the people deciding it read it: one sentence, and what it changes,
/// row by row, before and after. Written by the request's kind (`ChangeKind::describe`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Described {
    pub summary: String,
    pub rows: Vec<ChangeRow>,
}

/// One thing a change request changes: what, as it is now, as it will be.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChangeRow {
    pub what: String,
    pub before: String,
    pub after: String,
}

impl ChangeRow {
    pub fn new(what: &str, before: impl Into<String>, after: impl Into<String>) -> Self {
        ChangeRow {
            what: what.into(),
            before: before.into(),
            after: after.into(),
        }
    }
}

// ---------- routes a mailbox's offboarding or lock touches ----------

/// A route from or to a mailbox, named for people: the offboarding page lists them (with what
/// happens to their mail if nothing is done), the receipt and the lock say what was done.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MailboxRoute {
    pub id: String,
    /// "Alias", "External forward", "Catch-all".
    pub kind: String,
    /// The address mail is for, or `@domain` for a catch-all.
    pub source: String,
    pub targets: Vec<String>,
    /// Mail comes to the mailbox through it (an alias or catch-all pointing at it); otherwise
    /// it takes the mailbox's mail elsewhere (a forward).
    pub inbound: bool,
    /// In words: what happens (or happened) to its mail.
    pub fate: String,
}

/// Offboarding option: an inbound route (alias, catch-all) goes on to a colleague instead.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Repoint {
    /// The route's id (as the offboarding preview lists it).
    pub route: String,
    /// The colleague's mailbox (address or id, same tenant, active).
    pub to: String,
}

// ---------- the change queue's record ----------

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChangeRequest {
    pub id: String,
    /// The tenant the change is about; none for a change to the platform itself (an
    /// operator made owner, an operator's wider scope, a platform person's second factor).
    pub tenant_id: Option<String>,
    /// The tenant's name, or "Platform".
    pub tenant_name: String,
    /// What kind of change, e.g. `mailbox.reset`.
    pub kind: String,
    pub target_id: String,
    pub target_label: String,
    /// The change itself (JSON text).
    pub payload: String,
    /// The state before the change (JSON text), for the record and for rollback.
    pub before: String,
    pub reason: String,
    pub state: ChangeState,
    pub requested_by: Option<String>,
    pub requested_by_label: String,
    pub requested_at: i64,
    pub expires_at: i64,
    pub decided_by_label: Option<String>,
    pub decided_at: Option<i64>,
    pub decision_note: Option<String>,
    pub applied_at: Option<i64>,
    /// What applying did, or why it failed.
    pub result: Option<String>,
    /// The object as applying left it (JSON text), for a rollback's "changed since?" check.
    pub after: Option<String>,
    /// For a rollback: the applied request it undoes.
    pub rollback_of: Option<String>,
    /// The request in words, as the console shows it: a sentence and what it changes, now and
    /// after approval (written by its kind). Present whenever a request is read through the
    /// service (the queue, one request, the REST API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub words: Option<Described>,
}

impl ChangeRequest {
    /// The tenant of a tenant's change ("" for a platform change: kinds that act in a tenant
    /// only ever submit with one).
    pub fn tenant(&self) -> &str {
        self.tenant_id.as_deref().unwrap_or_default()
    }
}

/// Where a change request is in its life (stored and sent as its snake_case name).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeState {
    /// Waiting for a second person (until it expires).
    Pending,
    /// Won by an approver, being applied (never seen outside the approving transaction).
    Approved,
    Applied,
    Rejected,
    /// Withdrawn by the requester, or ended with its object (offboarding).
    Cancelled,
    /// Nobody decided in time (shown as soon as the time passes).
    Expired,
    /// Approved, but it no longer fitted the data; the reason is in `result`.
    Failed,
    /// Applied, then undone by an applied rollback request.
    RolledBack,
}

impl ChangeState {
    pub const ALL: [ChangeState; 8] = [
        ChangeState::Pending,
        ChangeState::Approved,
        ChangeState::Applied,
        ChangeState::Rejected,
        ChangeState::Cancelled,
        ChangeState::Expired,
        ChangeState::Failed,
        ChangeState::RolledBack,
    ];
    /// The stored name (`rolled_back`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeState::Pending => "pending",
            ChangeState::Approved => "approved",
            ChangeState::Applied => "applied",
            ChangeState::Rejected => "rejected",
            ChangeState::Cancelled => "cancelled",
            ChangeState::Expired => "expired",
            ChangeState::Failed => "failed",
            ChangeState::RolledBack => "rolled_back",
        }
    }
    /// How it reads on pages and in messages (`rolled back`).
    pub fn label(self) -> &'static str {
        match self {
            ChangeState::RolledBack => "rolled back",
            other => other.as_str(),
        }
    }
    pub fn parse(s: &str) -> Option<ChangeState> {
        ChangeState::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl std::fmt::Display for ChangeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// Compares with the stored name, so `state == "applied"` reads as before.
impl PartialEq<&str> for ChangeState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod named_enum_tests {
    use super::*;

    fn round_trip<T>(all: &[T])
    where
        T: Copy + std::fmt::Debug + PartialEq + std::str::FromStr<Err = String> + AsRef<str>,
        T: Serialize + for<'de> Deserialize<'de>,
    {
        for v in all {
            let name = v.as_ref();
            assert_eq!(name.parse::<T>().unwrap(), *v);
            assert_eq!(serde_json::to_string(v).unwrap(), format!("\"{name}\""));
            assert_eq!(
                serde_json::from_str::<T>(&format!("\"{name}\"")).unwrap(),
                *v
            );
        }
        assert!("no such name".parse::<T>().is_err());
        assert!(
            "Active".parse::<T>().is_err(),
            "names are exact, lower case"
        );
    }

    #[test]
    fn every_name_round_trips_and_unknown_names_are_refused() {
        round_trip(MailboxStatus::ALL);
        round_trip(LiveStatus::ALL);
        round_trip(RouteKind::ALL);
        round_trip(RouteState::ALL);
        round_trip(JobState::ALL);
        round_trip(AccountStatus::ALL);
        assert!(MailboxStatus::Locked == "locked");
        assert_eq!(RouteKind::Catchall.to_string(), "catchall");
    }

    #[test]
    fn readable_names() {
        assert_eq!(readable("xn--bcher-kva.example"), "bücher.example");
        assert_eq!(
            readable("anna@xn--bcher-kva.example"),
            "anna@bücher.example"
        );
        assert_eq!(readable("@XN--mnchen-3ya.de"), "@münchen.de");
        assert_eq!(readable("mail.xn--fiqs8s"), "mail.中国");
        assert_eq!(readable("xn--ls8h.example"), "💩.example");
        assert_eq!(readable("ann@acme.example"), "ann@acme.example");
        // What does not decode stays as written.
        assert_eq!(readable("xn--zz!.example"), "xn--zz!.example");
        assert_eq!(readable("xn--.example"), "xn--.example");
        assert_eq!(
            readable("xn--99999999999a.example"),
            "xn--99999999999a.example"
        );
    }
}

// ---------- incidents the gate knows about ----------

/// An incident in force (declared, not ended), as the gate and every page's banner see it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ActiveIncident {
    pub id: String,
    /// The tenant it holds for; none: the whole platform.
    pub tenant_id: Option<String>,
    pub tenant_name: Option<String>,
    pub title: String,
    /// Since when what happened is distrusted (T).
    pub since_at: i64,
    pub declared_at: i64,
}

impl ActiveIncident {
    /// Whether it holds for objects of `tenant_id` (a platform incident holds for all).
    pub fn covers(&self, tenant_id: &str) -> bool {
        self.tenant_id.as_deref().is_none_or(|t| t == tenant_id)
    }
    /// How messages name it.
    pub fn name(&self) -> String {
        match &self.tenant_name {
            Some(t) => format!("the incident \u{201c}{}\u{201d} ({t})", self.title),
            None => format!("the platform incident \u{201c}{}\u{201d}", self.title),
        }
    }
}

/// Whether `h` is an ASCII host name with at least two labels (`ns1.example.com`): letters,
/// digits and inner hyphens, labels of 1–63 characters, 253 in all. Lower-case it first.
pub fn is_host_name(h: &str) -> bool {
    h.len() <= 253
        && h.contains('.')
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}
