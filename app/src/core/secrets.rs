//! Secrets: random tokens (stored as SHA-256), argon2id passwords (hashed off the async
//! runtime), TOTP with replay protection, recovery codes, and the password policy.
use argon2::password_hash::{PasswordHash, SaltString};
use argon2::Argon2;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::error::{AppError, AppResult};

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::getrandom(&mut buf).expect("the operating system's random source failed");
    buf
}

/// A 256-bit URL-safe token with a readable prefix (`mwi_` invite, `mwt_` API token …).
pub fn new_token(prefix: &str) -> String {
    let b = random_bytes::<32>();
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    )
}

/// A random identifier with a type prefix, e.g. `usr_3f9c…` (128 bits).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", hex::encode(random_bytes::<16>()))
}

pub fn sha256_hex(data: &str) -> String {
    hex::encode(Sha256::digest(data.as_bytes()))
}

/// Constant-time comparison of two strings of public length.
pub fn ct_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// ---------- passwords ----------

pub const MIN_PASSWORD_LEN: usize = 12;
pub const MAX_PASSWORD_LEN: usize = 256;
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

/// The password policy: length bounds, not a well-known password, not built from the
/// account's own name. Returns a message that can be shown as is.
pub fn check_password_policy(password: &str, email: &str) -> AppResult<()> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(AppError::invalid(format!(
            "The password must be at least {MIN_PASSWORD_LEN} characters long."
        )));
    }
    if n > MAX_PASSWORD_LEN {
        return Err(AppError::invalid(format!(
            "The password must be at most {MAX_PASSWORD_LEN} characters long."
        )));
    }
    let lower = password.to_lowercase();
    let is_common = COMMON_PASSWORDS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|l| l == lower);
    let distinct = {
        let mut c: Vec<char> = lower.chars().collect();
        c.sort_unstable();
        c.dedup();
        c.len()
    };
    if is_common || distinct < 4 {
        return Err(AppError::invalid(
            "That password is too common or too simple. Choose a longer phrase only you would think of.",
        ));
    }
    let local = email.split('@').next().unwrap_or("").to_lowercase();
    if local.len() >= 4 && lower.contains(&local) {
        return Err(AppError::invalid(
            "The password must not contain your own address.",
        ));
    }
    Ok(())
}

// ---------- bounded password work ----------
//
// An argon2id check takes 19 MiB and tens of milliseconds. Unbounded, parallel sign-in
// attempts from anyone could take the server's memory (and its database connections) with
// them. All password work therefore runs on a few dedicated threads (one per core), behind a
// short queue; when the queue is full the caller gets `AppError::Busy` at once (503 with
// Retry-After). Dedicated threads also keep the allocator's per-thread arenas to that few.

type PasswordJob = Box<dyn FnOnce() + Send>;

struct PasswordPool {
    queue: std::sync::mpsc::SyncSender<PasswordJob>,
}

/// How many password checks may wait for a worker before new ones are turned away: about
/// half a second of work (a check takes ≈ 15 ms in a release build). Waiting checks hold only
/// their strings, so the queue costs no memory to speak of; the workers bound that.
pub fn password_queue_len() -> usize {
    password_workers() * 32
}

/// One worker per core (at least one).
pub fn password_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 16)
}

fn password_pool() -> &'static PasswordPool {
    static POOL: std::sync::OnceLock<PasswordPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<PasswordJob>(password_queue_len());
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..password_workers() {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("password-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                })
                .expect("cannot start a password worker thread");
        }
        PasswordPool { queue: tx }
    })
}

/// Password checks run so far (verifications and hashes), for /metrics and the tests that
/// prove throttles bound the work done.
pub static PASSWORD_CHECKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// Password checks turned away because the queue was full.
pub static PASSWORD_BUSY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub const BUSY: &str = "Too many sign-ins are being checked right now. Try again in a few seconds.";

/// Runs `f` on a password worker; `Busy` at once when the queue is full.
async fn on_password_worker<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> AppResult<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: PasswordJob = Box::new(move || {
        PASSWORD_CHECKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _ = tx.send(f());
    });
    match password_pool().queue.try_send(job) {
        Ok(()) => {}
        Err(std::sync::mpsc::TrySendError::Full(_)) => {
            PASSWORD_BUSY.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(AppError::Busy(BUSY.into()));
        }
        Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
            return Err(AppError::internal("the password workers stopped"));
        }
    }
    rx.await
        .map_err(|_| AppError::internal("a password worker failed"))
}

// Each worker keeps one argon2 memory area and reuses it: allocating and freeing 19 MiB per
// check fragmented the allocator's arenas (measured: +19 MiB of RSS per check, never given
// back), so a sign-in storm still grew the process even with the workers bounded.
thread_local! {
    static ARGON2_MEMORY: std::cell::RefCell<Vec<argon2::Block>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The largest argon2 memory a stored hash may ask for (64 MiB); anything above is refused
/// rather than allocated.
const MAX_ARGON2_BLOCKS: usize = 64 * 1024;

fn argon2_into(
    alg: argon2::Algorithm,
    ver: argon2::Version,
    params: argon2::Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let n = params.block_count();
    if n > MAX_ARGON2_BLOCKS {
        return Err(argon2::Error::MemoryTooMuch);
    }
    ARGON2_MEMORY.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() < n {
            m.resize(n, argon2::Block::new());
        }
        Argon2::new(alg, ver, params).hash_password_into_with_memory(
            password,
            salt,
            out,
            &mut m[..n],
        )
    })
}

/// argon2id with the default parameters (m=19 MiB, t=2, p=1) into a PHC string.
fn hash_phc(password: &[u8]) -> AppResult<String> {
    use argon2::password_hash::{Output, ParamsString};
    let salt_bytes = random_bytes::<16>();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(AppError::internal)?;
    let params = argon2::Params::default();
    let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
    argon2_into(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params.clone(),
        password,
        &salt_bytes,
        &mut out,
    )
    .map_err(AppError::internal)?;
    let ph = PasswordHash {
        algorithm: argon2::Algorithm::Argon2id.ident(),
        version: Some(argon2::Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(AppError::internal)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(AppError::internal)?),
    };
    Ok(ph.to_string())
}

/// Checks `password` against a PHC string (any argon2 variant and parameters within bounds).
fn verify_phc(password: &[u8], phc: &str) -> bool {
    use argon2::password_hash::Output;
    let Ok(h) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (h.salt, h.hash) else {
        return false;
    };
    let Ok(alg) = argon2::Algorithm::try_from(h.algorithm) else {
        return false;
    };
    let ver = match h.version.map(argon2::Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = argon2::Params::try_from(&h) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    if argon2_into(alg, ver, params, password, salt_bytes, &mut out).is_err() {
        return false;
    }
    // Output's equality is constant-time.
    Output::new(&out).is_ok_and(|o| o == expected)
}

/// Hashes with argon2id (default parameters: m=19 MiB, t=2, p=1) into a PHC string.
pub async fn hash_password(password: String) -> AppResult<String> {
    on_password_worker(move || hash_phc(password.as_bytes())).await?
}

/// Verifies a password against a PHC string. A missing hash still costs one verification,
/// so unknown accounts take as long as known ones. `Busy` when too many checks wait already.
pub async fn verify_password(password: String, phc: Option<String>) -> AppResult<bool> {
    on_password_worker(move || match phc {
        Some(phc) => verify_phc(password.as_bytes(), &phc),
        None => {
            DUMMY_HASH.with(|h| verify_phc(password.as_bytes(), h));
            false
        }
    })
    .await
}

thread_local! {
    static DUMMY_HASH: String = hash_phc(&random_bytes::<16>()).expect("dummy hash");
}

// ---------- TOTP ----------

/// The scheme prefix Dovecot reads in front of an argon2id PHC string.
pub const DOVECOT_ARGON2ID: &str = "{ARGON2ID}";

/// Hashes a mailbox (or app) password as the mail plane stores it: `{ARGON2ID}$argon2id$…`.
pub async fn hash_mail_password(password: String) -> AppResult<String> {
    Ok(format!(
        "{DOVECOT_ARGON2ID}{}",
        hash_password(password).await?
    ))
}

/// Verifies against a `{ARGON2ID}…` string; `None` costs the same time and fails.
pub async fn verify_mail_password(password: String, stored: Option<String>) -> AppResult<bool> {
    let phc = stored.map(|s| s.strip_prefix(DOVECOT_ARGON2ID).unwrap_or(&s).to_string());
    verify_password(password, phc).await
}

/// The public part of an app password (its first group of four): Dovecot's passdb query
/// finds the one row to verify by it. The other seven groups (140 bits) are the secret.
pub fn app_password_selector(app_password: &str) -> &str {
    app_password.get(..4).unwrap_or(app_password)
}

/// A new app password: 160 random bits as eight groups of four lower-case letters and
/// digits (`abcd-efgh-…`), easy to type into a mail client.
pub fn new_app_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789"; // 31 symbols, no 0/o, 1/l/i
    let mut out = String::with_capacity(40);
    let mut n = 0;
    while n < 32 {
        for b in random_bytes::<32>() {
            // 248 = 8 × 31: unbiased
            if (b as usize) < 248 && n < 32 {
                if n > 0 && n % 4 == 0 {
                    out.push('-');
                }
                out.push(ALPHABET[(b as usize) % ALPHABET.len()] as char);
                n += 1;
            }
        }
    }
    out
}

pub const TOTP_STEP: u64 = 30;

fn totp(secret_b32: &str, issuer: &str, account: &str) -> AppResult<totp_rs::TOTP> {
    let bytes = totp_rs::Secret::Encoded(secret_b32.to_string())
        .to_bytes()
        .map_err(|e| AppError::internal(format!("bad TOTP secret: {e:?}")))?;
    totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        TOTP_STEP,
        bytes,
        Some(issuer.to_string()),
        account.to_string(),
    )
    .map_err(|e| AppError::internal(format!("bad TOTP parameters: {e:?}")))
}

/// A fresh 160-bit TOTP secret, base32.
pub fn new_totp_secret() -> String {
    match totp_rs::Secret::Raw(random_bytes::<20>().to_vec()).to_encoded() {
        totp_rs::Secret::Encoded(s) => s,
        totp_rs::Secret::Raw(_) => unreachable!("to_encoded returns Encoded"),
    }
}

/// The `otpauth://` URL an authenticator app scans.
pub fn totp_url(secret_b32: &str, issuer: &str, account: &str) -> AppResult<String> {
    Ok(totp(secret_b32, issuer, account)?.get_url())
}

/// Checks a 6-digit code at `now` (±1 step). Returns the matched time step, which the
/// caller must require to be greater than the last accepted step (replay protection).
pub fn totp_match(secret_b32: &str, code: &str, now: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let t = totp(secret_b32, "Mailward", "x").ok()?;
    let step = now / TOTP_STEP as i64;
    let mut found = None;
    for s in [step - 1, step, step + 1] {
        if s < 0 {
            continue;
        }
        if ct_eq(&t.generate((s as u64) * TOTP_STEP), &code) {
            found = Some(s);
        }
    }
    found
}

/// The code for a given time (tests and the CLI use it).
pub fn totp_code(secret_b32: &str, now: i64) -> AppResult<String> {
    Ok(totp(secret_b32, "Mailward", "x")?.generate(now as u64))
}

/// An SVG QR code of `data`, as a `data:` URL for an `<img>`.
pub fn qr_svg_data_url(data: &str) -> AppResult<String> {
    let code = qrcode::QrCode::new(data.as_bytes()).map_err(AppError::internal)?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

// ---------- recovery codes ----------

pub const RECOVERY_CODE_COUNT: usize = 10;
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTVWXYZ23456789"; // no 0/O, 1/I/L, U

/// One recovery code, `XXXX-XXXX-XXXX` (≈ 59 bits).
pub fn new_recovery_code() -> String {
    let bytes = random_bytes::<24>();
    let chars: Vec<char> = bytes
        .iter()
        .filter(|b| (**b as usize) < 240) // 240 = 8 × 30: unbiased
        .map(|b| CODE_ALPHABET[(*b as usize) % CODE_ALPHABET.len()] as char)
        .take(12)
        .collect();
    if chars.len() < 12 {
        return new_recovery_code();
    }
    format!(
        "{}-{}-{}",
        chars[0..4].iter().collect::<String>(),
        chars[4..8].iter().collect::<String>(),
        chars[8..12].iter().collect::<String>()
    )
}

/// Canonical form for hashing: upper case, no separators.
pub fn normalize_recovery_code(input: &str) -> String {
    input
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

pub fn looks_like_recovery_code(input: &str) -> bool {
    normalize_recovery_code(input).len() == 12
}

pub fn hash_recovery_code(input: &str) -> String {
    sha256_hex(&format!(
        "mailward-recovery:{}",
        normalize_recovery_code(input)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_unique_and_prefixed() {
        let a = new_token("mwt_");
        let b = new_token("mwt_");
        assert!(a.starts_with("mwt_") && a.len() == 4 + 43);
        assert_ne!(a, b);
        assert_eq!(sha256_hex(&a).len(), 64);
    }

    #[test]
    fn password_policy() {
        assert!(check_password_policy("short", "a@b.c").is_err());
        assert!(check_password_policy("passwordpassword", "a@b.c").is_err());
        assert!(check_password_policy("aaaaaaaaaaaaaa", "a@b.c").is_err());
        assert!(check_password_policy("alice.smith-rocks-1", "alice.smith@example.com").is_err());
        assert!(check_password_policy("violet tugboat mirrors", "alice@example.com").is_ok());
    }

    #[tokio::test]
    async fn argon2_roundtrip_and_dummy() {
        let h = hash_password("violet tugboat mirrors".into())
            .await
            .unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(
            verify_password("violet tugboat mirrors".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!verify_password("violet tugboat mirror".into(), Some(h))
            .await
            .unwrap());
        assert!(!verify_password("anything".into(), None).await.unwrap());
    }

    #[test]
    fn totp_matches_window_and_reports_step() {
        let s = new_totp_secret();
        let now = 1_800_000_000;
        let code = totp_code(&s, now).unwrap();
        assert_eq!(totp_match(&s, &code, now), Some(now / 30));
        // still accepted one step later (clock skew), but reported as the earlier step
        assert_eq!(totp_match(&s, &code, now + 30), Some(now / 30));
        assert_eq!(totp_match(&s, &code, now + 120), None);
        assert_eq!(totp_match(&s, "12345", now), None);
        assert_eq!(totp_match(&s, "abcdef", now), None);
    }

    #[tokio::test]
    async fn mail_passwords_carry_the_dovecot_prefix() {
        let h = hash_mail_password("violet tugboat mirrors".into())
            .await
            .unwrap();
        assert!(h.starts_with("{ARGON2ID}$argon2id$"));
        assert!(
            verify_mail_password("violet tugboat mirrors".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify_mail_password("violet tugboat mirror".into(), Some(h))
                .await
                .unwrap()
        );
        let a = new_app_password();
        assert_eq!(a.len(), 39);
        assert_ne!(a, new_app_password());
    }

    #[test]
    fn recovery_codes() {
        let c = new_recovery_code();
        assert_eq!(c.len(), 14);
        assert!(looks_like_recovery_code(&c));
        assert_eq!(
            hash_recovery_code(&c),
            hash_recovery_code(&c.to_lowercase().replace('-', " "))
        );
        assert_ne!(
            hash_recovery_code(&c),
            hash_recovery_code(&new_recovery_code())
        );
    }
}
