//! Pure rules of monitoring (no IO): which thresholds apply to a tenant, who may change them
//! how, and when a login's hour is far outside a mailbox's own history.
use super::{RulesChange, Thresholds};

/// Each threshold's name, the bounds a value must keep, and whether a larger value is the
/// stricter one (a longer window or memory catches more; a lower count or share fires
/// sooner).
const BOUNDS: [(&str, i64, i64, bool); 6] = [
    ("failure_burst", 2, 10_000, false),
    ("failure_minutes", 1, 1_440, true),
    ("new_network_days", 1, 365, true),
    ("reset_burst", 1, 1_000, false),
    ("reset_minutes", 1, 1_440, true),
    ("auth_fail_percent", 1, 100, false),
];

/// The bounds (lowest, highest) a threshold keeps (the form's `min` and `max`).
pub fn bounds(name: &str) -> (i64, i64) {
    BOUNDS
        .iter()
        .find(|b| b.0 == name)
        .map(|b| (b.1, b.2))
        .unwrap_or((1, 10_000))
}

fn values(t: &Thresholds) -> [i64; 6] {
    [
        t.failure_burst,
        t.failure_minutes,
        t.new_network_days,
        t.reset_burst,
        t.reset_minutes,
        t.auth_fail_percent,
    ]
}

fn change_values(c: &RulesChange) -> [Option<i64>; 6] {
    [
        c.failure_burst,
        c.failure_minutes,
        c.new_network_days,
        c.reset_burst,
        c.reset_minutes,
        c.auth_fail_percent,
    ]
}

/// What applies: a tenant's values where it set them, the platform's elsewhere.
pub fn effective(defaults: &Thresholds, c: &RulesChange) -> Thresholds {
    Thresholds {
        failure_burst: c.failure_burst.unwrap_or(defaults.failure_burst),
        failure_minutes: c.failure_minutes.unwrap_or(defaults.failure_minutes),
        new_network_days: c.new_network_days.unwrap_or(defaults.new_network_days),
        reset_burst: c.reset_burst.unwrap_or(defaults.reset_burst),
        reset_minutes: c.reset_minutes.unwrap_or(defaults.reset_minutes),
        auth_fail_percent: c.auth_fail_percent.unwrap_or(defaults.auth_fail_percent),
        odd_hours: c.odd_hours,
    }
}

/// Whether `next` may replace `current` (both a tenant's own settings). Values keep their
/// bounds. Without `may_loosen` (a tenant's admin), a rule may only become stricter than what
/// applies now, and the unusual-hour rule cannot be turned off: muting one's own alarms takes
/// the platform's people.
pub fn check_change(
    defaults: &Thresholds,
    current: &RulesChange,
    next: &RulesChange,
    may_loosen: bool,
) -> Result<(), String> {
    let now = values(&effective(defaults, current));
    let after = values(&effective(defaults, next));
    for (i, v) in change_values(next).iter().enumerate() {
        let (name, lo, hi, larger_is_stricter) = BOUNDS[i];
        if let Some(v) = v {
            if *v < lo || *v > hi {
                return Err(format!(
                    "{} is between {lo} and {hi}.",
                    name.replace('_', " ")
                ));
            }
        }
        let looser = if larger_is_stricter {
            after[i] < now[i]
        } else {
            after[i] > now[i]
        };
        if looser && !may_loosen {
            return Err(format!(
                "Only an operator can loosen {} (now {}, asked {}); a tenant's admin can make \
                 rules stricter.",
                name.replace('_', " "),
                now[i],
                after[i]
            ));
        }
    }
    if current.odd_hours && !next.odd_hours && !may_loosen {
        return Err("Only an operator can turn off the alert for logins at unusual hours.".into());
    }
    Ok(())
}

/// Logins a mailbox needs, over at least `MIN_HISTORY_DAYS`, before its hours mean anything.
pub const MIN_HISTORY_DAYS: i64 = 7;
/// How near (in hours, either side, round the clock) a past login must be to make an hour
/// usual.
pub const NEAR_HOURS: i64 = 2;
/// Share (per mille) of past logins near an hour below which the hour is unusual.
pub const RARE_PER_MILLE: i64 = 20;

/// Whether a login at `hour` (UTC) is far outside the history `hits[h]` (logins per hour of
/// day since `first_at`): the history is long and large enough, and fewer than 2 % of its
/// logins were within two hours of this one.
pub fn odd_hour(hits: &[i64; 24], first_at: i64, now: i64, min_logins: i64, hour: usize) -> bool {
    let total: i64 = hits.iter().sum();
    if total < min_logins.max(1) || now - first_at < MIN_HISTORY_DAYS * 86_400 {
        return false;
    }
    let near: i64 = (-NEAR_HOURS..=NEAR_HOURS)
        .map(|d| hits[(hour as i64 + d).rem_euclid(24) as usize])
        .sum();
    near * 1000 < total * RARE_PER_MILLE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Thresholds {
        Thresholds {
            failure_burst: 10,
            failure_minutes: 10,
            new_network_days: 30,
            reset_burst: 3,
            reset_minutes: 10,
            auth_fail_percent: 10,
            odd_hours: true,
        }
    }

    fn on() -> RulesChange {
        RulesChange {
            odd_hours: true,
            ..Default::default()
        }
    }

    #[test]
    fn tenant_admins_only_tighten() {
        let d = defaults();
        let stricter = RulesChange {
            failure_burst: Some(5),
            failure_minutes: Some(30),
            ..on()
        };
        assert!(check_change(&d, &on(), &stricter, false).is_ok());
        let looser = RulesChange {
            failure_burst: Some(50),
            ..on()
        };
        let e = check_change(&d, &on(), &looser, false).unwrap_err();
        assert!(e.contains("failure burst (now 10, asked 50)"), "{e}");
        assert!(check_change(&d, &on(), &looser, true).is_ok());
        // Back from an operator's looser value towards the default is tightening.
        assert!(check_change(&d, &looser, &on(), false).is_ok());
        // A shorter window is looser.
        let short = RulesChange {
            failure_minutes: Some(2),
            ..on()
        };
        assert!(check_change(&d, &on(), &short, false).is_err());
        let off = RulesChange::default();
        assert!(check_change(&d, &on(), &off, false).is_err());
        assert!(check_change(&d, &on(), &off, true).is_ok());
    }

    #[test]
    fn values_keep_their_bounds() {
        let d = defaults();
        for bad in [
            RulesChange {
                failure_burst: Some(1),
                ..on()
            },
            RulesChange {
                auth_fail_percent: Some(101),
                ..on()
            },
            RulesChange {
                new_network_days: Some(0),
                ..on()
            },
        ] {
            assert!(check_change(&d, &on(), &bad, true).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn odd_hours_need_a_history() {
        let day = 86_400;
        let mut hits = [0i64; 24];
        hits[9] = 20;
        hits[10] = 15;
        hits[14] = 10;
        // Long enough, large enough: 03:00 is far from everything; 12:00 is near 10 and 14.
        assert!(odd_hour(&hits, 0, 8 * day, 30, 3));
        assert!(!odd_hour(&hits, 0, 8 * day, 30, 12));
        assert!(!odd_hour(&hits, 0, 8 * day, 30, 7));
        // Too young, or too few logins: nothing is unusual yet.
        assert!(!odd_hour(&hits, 0, 3 * day, 30, 3));
        assert!(!odd_hour(&hits, 0, 8 * day, 100, 3));
        // Round the clock: 23:00 is near 01:00.
        let mut night = [0i64; 24];
        night[1] = 50;
        assert!(!odd_hour(&night, 0, 8 * day, 30, 23));
        assert!(odd_hour(&night, 0, 8 * day, 30, 12));
        // One stray login in 100 does not make an hour usual.
        hits[3] = 1;
        hits[9] = 64;
        assert!(odd_hour(&hits, 0, 8 * day, 30, 3));
    }
}
