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
