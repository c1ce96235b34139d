//! `mailward seed`: fills an empty database with a realistic dataset for benchmarks and
//! demos — tenants on the default plans, their domains, and invited mailboxes with quota
//! allocations from the pools (counters kept exact). It also creates a benchmark owner that
//! cannot sign in (random password, no authenticator anyone holds) and prints one session
//! cookie for it, so load tools can fetch signed-in pages. It refuses a database that
//! already has accounts: it is not a way into a live installation.
use app::audit::service::{record, Event};
use app::core::authz::Actor;
use app::core::secrets::{hash_password, new_id, new_totp_secret, random_bytes};
use app::core::state::AppState;
use app::core::{AppError, AppResult};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::SessionStore;

pub struct SeedPlan {
    pub domains: i64,
    pub mailboxes_per_domain: i64,
}

pub struct Seeded {
    pub tenants: i64,
    pub domains: i64,
    pub mailboxes: i64,
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
    let mut tx = st.db.begin().await?;
    sqlx::query(
        "INSERT INTO users (id, email, display_name, role, status, password_hash, totp_secret, \
         totp_last_step, created_at, updated_at, all_tenants) \
         VALUES ($1, 'bench-owner@mailward.test', 'Benchmark owner', 'owner', 'active', $2, $3, 0, $4, $4, 1)",
    )
    .bind(owner_id.clone())
    .bind(hash)
    .bind(new_totp_secret())
    .bind(now)
    .execute(tx.conn())
    .await?;
    let tenants = (plan.domains + PER_TENANT - 1) / PER_TENANT;
    let mut first_domain = String::new();
    let mut mailboxes = 0i64;
    for t in 0..tenants {
        let tid = new_id("ten");
        let in_tenant = PER_TENANT.min(plan.domains - t * PER_TENANT);
        sqlx::query(
            "INSERT INTO tenants (id, name, slug, plan_id, status, contact_name, contact_email, \
             domain_count, storage_allocated, created_at, updated_at) \
             VALUES ($1, $2, $3, 'plan_agency', 'active', $4, $5, $6, 0, $7, $7)",
        )
        .bind(tid.clone())
        .bind(format!("Client {:04}", t + 1))
        .bind(format!("client-{:04}", t + 1))
        .bind(format!("Contact {}", t + 1))
        .bind(format!("it@client-{:04}.example", t + 1))
        .bind(in_tenant)
        .bind(now - (tenants - t) * 3600)
        .execute(tx.conn())
        .await?;
        let mut allocated = 0i64;
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
            sqlx::query(
                "INSERT INTO domains (id, tenant_id, name, unicode_name, status, category, \
                 catch_all_enabled, mailbox_count, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'standard', 0, $6, $7, $7)",
            )
            .bind(did.clone())
            .bind(tid.clone())
            .bind(ascii.clone())
            .bind(unicode)
            .bind(status)
            .bind(plan.mailboxes_per_domain)
            .bind(now - n * 60)
            .execute(tx.conn())
            .await?;
            for m in 0..plan.mailboxes_per_domain {
                let local = format!("user{:03}", m + 1);
                // Every second mailbox has its own allocation; the others share the pool.
                let quota = (m % 2 == 0).then_some(QUOTA);
                allocated += quota.unwrap_or(0);
                sqlx::query(
                    "INSERT INTO mailboxes (id, tenant_id, domain_id, local_part, address, \
                     display_name, status, quota_bytes, used_bytes, critical, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, 'invited', $7, NULL, $8, $9, $9)",
                )
                .bind(new_id("mbx"))
                .bind(tid.clone())
                .bind(did.clone())
                .bind(local.clone())
                .bind(format!("{local}@{ascii}"))
                .bind(format!("User {}", m + 1))
                .bind(quota)
                .bind((m == 0) as i64)
                .bind(now)
                .execute(tx.conn())
                .await?;
                mailboxes += 1;
            }
        }
        sqlx::query("UPDATE tenants SET storage_allocated = $1 WHERE id = $2")
            .bind(allocated)
            .bind(tid)
            .execute(tx.conn())
            .await?;
    }
    record(
        &mut tx,
        &Actor::system("mailward seed"),
        now,
        Event::new("seed.loaded").details(serde_json::json!({
            "tenants": tenants, "domains": plan.domains, "mailboxes": mailboxes,
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
        cookie: format!("mailward_session={}", rec.id),
        first_domain,
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
