//! `mailward seed`: fills an empty database with a realistic dataset for benchmarks and
//! demos — tenants on the default plans, their domains, and invited mailboxes with quota
//! allocations from the pools (counters kept exact). It also creates a benchmark owner that
//! cannot sign in (random password, no authenticator anyone holds) and prints one session
//! cookie for it, so load tools can fetch signed-in pages. It refuses a database that
//! already has accounts: it is not a way into a live installation.
use app::audit::service::{record, Event};
use app::core::authz::{authorize_in, Action, Actor};
use app::core::secrets::{
    hash_mail_password, hash_password, new_id, new_totp_secret, random_bytes,
};
use app::core::state::AppState;
use app::core::{AppError, AppResult};
use app::mailboxes::store as mstore;
use app::tenancy::store as tstore;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::SessionStore;

pub struct SeedPlan {
    pub domains: i64,
    pub mailboxes_per_domain: i64,
    /// Every second mailbox of an active domain is activated with this password.
    pub mailbox_password: Option<String>,
}

pub struct Seeded {
    pub tenants: i64,
    pub domains: i64,
    pub mailboxes: i64,
    pub active: i64,
    pub cookie: String,
    pub first_domain: String,
}

/// Domains per tenant: Agency tenants (50 allowed) filled to 40, so plans show headroom.
const PER_TENANT: i64 = 40;
const QUOTA: i64 = 200_000_000;

pub async fn seed(st: &AppState, plan: &SeedPlan) -> AppResult<Seeded> {
    if !(1..=100_000).contains(&plan.domains) || !(0..=1_000).contains(&plan.mailboxes_per_domain) {
        return Err(AppError::invalid(
            "--domains must be 1–100000 and --mailboxes-per-domain 0–1000",
        ));
    }
    if app::auth::store::count_users(&st.db).await? > 0 {
        return Err(AppError::Conflict(
            "this database already has accounts; seed only a new, empty database".into(),
        ));
    }
    let now = st.clock.now();
    let owner_id = new_id("usr");
    let password = hex(&random_bytes::<32>());
    let hash = hash_password(password).await?;
    // One hash for every activated mailbox: a benchmark dataset, not a live installation.
    let mailbox_hash = match &plan.mailbox_password {
        Some(p) => Some(hash_mail_password(p.clone()).await?),
        None => None,
    };
    let mut active = 0i64;
    // Everything through the tables' owners, as the system (the same functions the console
    // uses: counters and pools stay exact by construction).
    let system = Actor::system("mailward seed");
    let mut tx = st.db.begin().await?;
    app::auth::store::insert_user(
        tx.conn(),
        &owner_id,
        "bench-owner@mailward.test",
        "Benchmark owner",
        app::auth::Role::Owner,
        &hash,
        &new_totp_secret(),
        0,
        now,
    )
    .await?;
    let tenants = (plan.domains + PER_TENANT - 1) / PER_TENANT;
    let mut first_domain = String::new();
    let mut mailboxes = 0i64;
    for t in 0..tenants {
        let tid = new_id("ten");
        let g = authorize_in(&system, Action::ManageTenants, &tid)?;
        let in_tenant = PER_TENANT.min(plan.domains - t * PER_TENANT);
        let created = now - (tenants - t) * 3600;
        tstore::insert_tenant(
            tx.conn(),
            &g,
            &tid,
            &format!("Client {:04}", t + 1),
            &format!("client-{:04}", t + 1),
            "plan_agency",
            Some(&format!("Contact {}", t + 1)),
            Some(&format!("it@client-{:04}.example", t + 1)),
            created,
        )
        .await?;
        for d in 0..in_tenant {
            let n = t * PER_TENANT + d + 1;
            let (ascii, unicode) = if n % 25 == 0 {
                // Some internationalised names, stored as punycode.
                let u = format!("bücher-{n:05}.example");
                let a = idna::domain_to_ascii(&u).map_err(|_| AppError::invalid("idna"))?;
                (a, u)
            } else {
                let a = format!("mail-{n:05}.client-{:04}.example", t + 1);
                (a.clone(), a)
            };
            if first_domain.is_empty() {
                first_domain = ascii.clone();
            }
            let status = match n % 50 {
                0 => "suspended",
                1..=3 => "pending",
                _ => "active",
            };
            let did = new_id("dom");
            let at = now - n * 60;
            if !tstore::take_domain_slot(tx.conn(), &g, &tid, at).await? {
                return Err(AppError::Internal(
                    "seed: the plan has no domain slot".into(),
                ));
            }
            tstore::insert_domain(tx.conn(), &g, &did, &tid, &ascii, &unicode, "standard", at)
                .await?;
            if status != "pending" {
                // Verified (as its challenge record would make it), hence active; then
                // suspended where the dataset says so.
                let gd = authorize_in(&system, Action::ManageDomains, &tid)?;
                tstore::mark_verified(tx.conn(), &gd, &did, at).await?;
                if status != "active" {
                    tstore::set_domain_status(tx.conn(), &g, &did, status, at).await?;
                }
            }
            let names: Vec<(String, String, String)> = (0..plan.mailboxes_per_domain)
                .map(|m| {
                    let local = format!("user{:03}", m + 1);
                    let address = format!("{local}@{ascii}");
                    (new_id("mbx"), local, address)
                })
                .collect();
            let labels: Vec<String> = (0..plan.mailboxes_per_domain)
                .map(|m| format!("User {}", m + 1))
                .collect();
            let rows: Vec<mstore::NewRow> = names
                .iter()
                .zip(&labels)
                .enumerate()
                .map(|(m, ((id, local, address), label))| mstore::NewRow {
                    id,
                    tenant_id: &tid,
                    domain_id: &did,
                    local_part: local,
                    address,
                    display_name: label,
                    // Every second mailbox has its own allocation; the others share the pool.
                    quota: (m % 2 == 0).then_some(QUOTA),
                    critical: m == 0,
                    contact_email: None,
                    shared: false,
                })
                .collect();
            let allocated: i64 = rows.iter().filter_map(|r| r.quota).sum();
            if allocated > 0 && !tstore::allocate(tx.conn(), &g, &tid, allocated).await? {
                return Err(AppError::Internal("seed: the pool is full".into()));
            }
            mstore::insert_many(tx.conn(), &g, &rows, now).await?;
            mailboxes += rows.len() as i64;
            if let (Some(h), "active") = (&mailbox_hash, status) {
                let gm = authorize_in(&system, Action::ManageMailboxes, &tid)?;
                for (id, _, _) in names.iter().skip(1).step_by(2) {
                    mstore::set_password(tx.conn(), &gm, id, h, now, true).await?;
                    active += 1;
                }
            }
        }
    }
    record(
        &mut tx,
        &Actor::system("mailward seed"),
        now,
        Event::new("seed.loaded").details(serde_json::json!({
            "tenants": tenants, "domains": plan.domains, "mailboxes": mailboxes, "active": active,
            "note": "benchmark dataset; the benchmark owner cannot sign in",
        })),
    )
    .await?;
    tx.commit().await?;

    // One session for the benchmark owner, stored like any other (visible and revocable).
    let store = app::auth::sessions::DbSessionStore::new(st.db.clone(), st.clock.clone());
    let mut rec = Record {
        id: Id::default(),
        data: Default::default(),
        expiry_date: time::OffsetDateTime::from_unix_timestamp(now + 12 * 3600)
            .map_err(AppError::internal)?,
    };
    rec.data
        .insert(app::auth::sessions::USER_ID.into(), owner_id.into());
    rec.data
        .insert(app::auth::sessions::AUTH_AT.into(), now.into());
    rec.data.insert(
        app::auth::sessions::USER_AGENT.into(),
        "mailward seed (benchmark)".into(),
    );
    store.create(&mut rec).await.map_err(AppError::internal)?;
    Ok(Seeded {
        tenants,
        domains: plan.domains,
        mailboxes,
        active,
        cookie: format!("mailward_session={}", rec.id),
        first_domain,
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
