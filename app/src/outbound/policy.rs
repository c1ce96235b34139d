//! Pure rules of sending limits: the hour a message counts in, and the refusal Postfix
//! passes to the client.

/// The clock hour `now` falls in: its start (epoch seconds, UTC).
pub fn window_start(now: i64) -> i64 {
    now - now.rem_euclid(3600)
}

/// The SMTP reply for a message over a limit: a temporary refusal (the client may try again
/// when the hour ends), saying who reached which limit and when sending resumes.
/// `who` is a mailbox address or a tenant's name; only printable ASCII reaches the wire.
pub fn refusal(who: &str, tenant_wide: bool, limit: i64, plan: &str, now: i64) -> String {
    let resume = clock(window_start(now) + 3600);
    let subject = if tenant_wide {
        format!("the mailboxes of {} together", ascii(who))
    } else {
        ascii(who)
    };
    format!(
        "450 4.7.1 Sending limit reached: {subject} may send {limit} messages an hour on the {} plan; try again after {resume} UTC",
        ascii(plan)
    )
}

/// The SMTP reply for mail to an outside address from a tenant whose plan has no managed
/// relay and which set no relay of its own: permanent (nothing changes by trying again until
/// someone sets a relay), saying what to do.
pub fn no_relay(tenant: &str, plan: &str) -> String {
    format!(
        "550 5.7.1 {} sends mail to outside addresses through its own SMTP relay on the {} plan, and none is set: a tenant admin sets one on the tenant's page in Mailward",
        ascii(tenant),
        ascii(plan)
    )
}

/// What is wrong with a relay as entered, and in which field (`host`, `port`, `username`,
/// `password`); `allowed_ports` are the ports a relay may use (Mailward's `relay_ports`).
pub fn check_relay(
    host: &str,
    port: u16,
    username: &str,
    password: &str,
    allowed_ports: &[u16],
) -> Result<(), (&'static str, String)> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    let ip = h.parse::<std::net::IpAddr>().is_ok();
    let name_ok = crate::types::is_host_name(h);
    if h.is_empty() || !(ip || name_ok) {
        return Err((
            "host",
            "Give the relay's host name (smtp.example.com) or IP address.".into(),
        ));
    }
    if !allowed_ports.contains(&port) {
        let list: Vec<String> = allowed_ports.iter().map(u16::to_string).collect();
        return Err((
            "port",
            format!("The relay's port must be one of {}.", list.join(", ")),
        ));
    }
    // Postfix reads credentials as `user:password`: the user name ends at the first colon.
    if username.is_empty()
        || username.len() > 200
        || username
            .chars()
            .any(|c| c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err((
            "username",
            "Give the relay's user name (no spaces or colons, at most 200 characters).".into(),
        ));
    }
    if password.len() > 200 || password.chars().any(|c| c.is_control()) {
        return Err((
            "password",
            "The password may have at most 200 characters and no control characters.".into(),
        ));
    }
    Ok(())
}

/// The UTC clock time of `at`, `15:00`.
pub fn clock(at: i64) -> String {
    let s = at.rem_euclid(86_400);
    format!("{:02}:{:02}", s / 3600, s % 3600 / 60)
}

/// `s` with only printable ASCII (SMTP replies and Postfix's log), at most 80 characters.
pub fn ascii(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(80)
        .collect();
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relays_are_checked_field_by_field() {
        let ports = [25, 465, 587, 2525];
        assert!(check_relay("smtp.example.com", 587, "ann", "pw", &ports).is_ok());
        assert!(check_relay("[192.0.2.1]", 465, "ann@x.example", "", &ports).is_ok());
        for (host, port, user, pass, field) in [
            ("", 587, "a", "p", "host"),
            ("localhost", 587, "a", "p", "host"),
            ("smtp.example.com\nX", 587, "a", "p", "host"),
            ("-a.example", 587, "a", "p", "host"),
            ("smtp.example.com", 22, "a", "p", "port"),
            ("smtp.example.com", 587, "", "p", "username"),
            ("smtp.example.com", 587, "a:b", "p", "username"),
            ("smtp.example.com", 587, "a b", "p", "username"),
            ("smtp.example.com", 587, "a", "p\nq", "password"),
        ] {
            assert_eq!(
                check_relay(host, port, user, pass, &ports).unwrap_err().0,
                field,
                "{host:?} {port} {user:?} {pass:?}"
            );
        }
        let r = no_relay("Acme", "Free");
        assert!(r.starts_with("550 5.7.1 Acme sends mail"), "{r}");
    }

    #[test]
    fn windows_are_clock_hours() {
        assert_eq!(window_start(7200), 7200);
        assert_eq!(window_start(7199), 3600);
        assert_eq!(window_start(10_799), 7200);
    }

    #[test]
    fn refusals_say_who_what_and_when() {
        // 2026-12-04 14:37:00 UTC
        let now = 1_796_395_020;
        let r = refusal("anna@example.com", false, 50, "Free", now);
        assert!(r.starts_with("450 4.7.1 "), "{r}");
        assert!(
            r.contains("anna@example.com may send 50 messages an hour on the Free plan"),
            "{r}"
        );
        assert!(r.ends_with("try again after 15:00 UTC"), "{r}");
        let r = refusal("Bäckerei\r\nX", true, 100, "Starter", now);
        assert!(
            r.contains("the mailboxes of B?ckerei??X together may send 100"),
            "{r}"
        );
        assert!(!r.contains('\n') && !r.contains('\r'));
        // The last hour of a day resumes at midnight.
        assert!(refusal("a@b.c", false, 1, "P", 86_399).ends_with("after 00:00 UTC"));
    }
}
