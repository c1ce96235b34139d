//! Secrets: random tokens (stored as SHA-256), argon2id passwords (hashed off the async
//! runtime), TOTP with replay protection, recovery codes, and the password policy.
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
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

/// Hashes with argon2id (default parameters: m=19 MiB, t=2, p=1) into a PHC string.
pub async fn hash_password(password: String) -> AppResult<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&random_bytes::<16>()).map_err(AppError::internal)?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(AppError::internal)
    })
    .await
    .map_err(AppError::internal)?
}

/// Verifies a password against a PHC string. A missing hash still costs one verification,
/// so unknown accounts take as long as known ones.
pub async fn verify_password(password: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let phc = phc.unwrap_or_else(|| DUMMY_HASH.with(|h| h.clone()));
        match PasswordHash::new(&phc) {
            Ok(parsed) => {
                let ok = Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok();
                ok && phc != DUMMY_HASH.with(|h| h.clone())
            }
            Err(_) => false,
        }
    })
    .await
    .unwrap_or(false)
}

thread_local! {
    static DUMMY_HASH: String = {
        let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("salt");
        Argon2::default()
            .hash_password(&random_bytes::<16>(), &salt)
            .expect("dummy hash")
            .to_string()
    };
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
pub async fn verify_mail_password(password: String, stored: Option<String>) -> bool {
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
        assert!(verify_password("violet tugboat mirrors".into(), Some(h.clone())).await);
        assert!(!verify_password("violet tugboat mirror".into(), Some(h)).await);
        assert!(!verify_password("anything".into(), None).await);
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
        assert!(verify_mail_password("violet tugboat mirrors".into(), Some(h.clone())).await);
        assert!(!verify_mail_password("violet tugboat mirror".into(), Some(h)).await);
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
