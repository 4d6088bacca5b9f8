//! Login throttling, on by default.
//!
//! Policy (documented in `docs/throttling.md`; NIST SP 800-63B §5.2.2):
//! - Only failures count: a password that was checked and did not match
//!   (an attempt without a password, like Kolibri's "Next" step, checks
//!   none and is no failure).
//! - Failures are counted per submitted identifier (its keyed hash) whether
//!   or not an account exists, so responses are identical either way. The
//!   first `free_failures` cost nothing; each one after that makes the
//!   identifier wait (`delay_base`, doubling per failure, at most
//!   `delay_max`): logins for it get 429 with `Retry-After` until then,
//!   without any password being checked. After `max_failures` consecutive
//!   failures (NIST: at most 100) within `window` the identifier is locked
//!   for `lockout`; for an existing account the lock is also recorded as a
//!   `UserLockedOut` event, so it survives restarts and holds on every
//!   instance.
//! - Failures are also counted per client IP (`max_failures_per_ip` within
//!   `ip_window`), which slows one client spraying many identifiers and is
//!   sized for a classroom behind one address.
//! - A successful login clears the identifier's failures and wait.
//! - Failed attempts never grow the User stream; only the lock does.
//!
//! Counters live in memory per instance and are pruned as they expire. Locks
//! are shared: each is also a `LoginLockedOut` event on the identifier's
//! stream, which every instance's security feed applies here, for known and
//! unknown identifiers alike.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// The throttling policy.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Consecutive failures per identifier before a lock.
    pub max_failures: u32,
    /// Failures per identifier that cost no wait.
    pub free_failures: u32,
    /// The first wait after the free failures (doubling per failure).
    pub delay_base: Duration,
    /// The longest wait.
    pub delay_max: Duration,
    /// Failures per client IP within `ip_window` before the IP is locked.
    pub max_failures_per_ip: u32,
    /// Window an identifier's failures are counted in.
    pub window: Duration,
    /// Window a client IP's failures are counted in.
    pub ip_window: Duration,
    /// Lock duration.
    pub lockout: Duration,
}

/// How a counter counts.
#[derive(Debug, Clone, Copy)]
struct Rule {
    window: Duration,
    max: u32,
    /// Failures before waits begin (`None`: no waits).
    free: Option<u32>,
}

#[derive(Debug, Default)]
struct Counter {
    failures: VecDeque<Instant>,
    locked_until: Option<Instant>,
    /// A wait after a failure (this instance's only; locks are shared).
    waits_until: Option<Instant>,
}

impl Counter {
    fn locked(&self, now: Instant) -> Option<Duration> {
        self.locked_until
            .max(self.waits_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
    }

    /// Counts a failure; returns true when it starts a lock.
    fn fail(&mut self, now: Instant, policy: &Policy, rule: Rule) -> bool {
        while self
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) > rule.window)
        {
            self.failures.pop_front();
        }
        self.failures.push_back(now);
        let count = self.failures.len() as u32;
        if count >= rule.max && self.locked_until.is_none_or(|until| until <= now) {
            self.locked_until = Some(now + policy.lockout);
            self.failures.clear();
            self.waits_until = None;
            return true;
        }
        if let Some(free) = rule.free.filter(|free| count > *free) {
            self.waits_until = Some(now + wait_after(policy, count - free));
        }
        false
    }

    fn expired(&self, now: Instant, window: Duration) -> bool {
        self.locked(now).is_none()
            && self
                .failures
                .back()
                .is_none_or(|t| now.duration_since(*t) > window)
    }
}

/// The wait after the `nth` failure beyond the free ones: the base,
/// doubling each time, at most the maximum.
fn wait_after(policy: &Policy, nth: u32) -> Duration {
    let doublings = nth.saturating_sub(1).min(31);
    policy
        .delay_base
        .saturating_mul(1u32 << doublings)
        .min(policy.delay_max)
}

/// Requests of one client in a fixed window (a surface's request limit).
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    length: Duration,
    requests: u32,
}

/// What a request limit says of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Whether the request may go on.
    pub allowed: bool,
    /// Requests a window allows.
    pub limit: u32,
    /// Requests left in this window.
    pub remaining: u32,
    /// Until the window ends.
    pub reset_after: Duration,
}

/// Failure counters (and request windows) of one instance.
#[derive(Debug)]
pub struct Throttle {
    policy: Policy,
    identifiers: DashMap<String, Counter>,
    ips: DashMap<IpAddr, Counter>,
    requests: DashMap<(&'static str, IpAddr), Window>,
}

impl Throttle {
    /// Counters under `policy`.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            identifiers: DashMap::new(),
            ips: DashMap::new(),
            requests: DashMap::new(),
        }
    }

    /// Counts one request of `ip` against a surface's request limit
    /// (`scope`: `limit` requests per fixed `window`, as Open Archiver's
    /// express-rate-limit counts them). Every request counts, refused or
    /// not.
    pub fn count_request(
        &self,
        scope: &'static str,
        ip: IpAddr,
        limit: u32,
        window: Duration,
    ) -> Quota {
        let now = Instant::now();
        let mut entry = self.requests.entry((scope, ip)).or_insert(Window {
            started: now,
            length: window,
            requests: 0,
        });
        if now.duration_since(entry.started) >= entry.length {
            *entry = Window {
                started: now,
                length: window,
                requests: 0,
            };
        }
        entry.requests = entry.requests.saturating_add(1);
        Quota {
            allowed: entry.requests <= limit,
            limit,
            remaining: limit.saturating_sub(entry.requests),
            reset_after: entry
                .length
                .saturating_sub(now.duration_since(entry.started)),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// How long the identifier or the IP is still locked, if at all.
    pub fn locked(&self, identifier: &str, ip: Option<IpAddr>) -> Option<Duration> {
        let now = Instant::now();
        let by_identifier = self.identifiers.get(identifier).and_then(|c| c.locked(now));
        let by_ip = ip.and_then(|ip| self.ips.get(&ip).and_then(|c| c.locked(now)));
        by_identifier.max(by_ip)
    }

    /// Counts a failed login. Returns the identifier's lock duration when
    /// this failure locked it.
    pub fn record_failure(&self, identifier: &str, ip: Option<IpAddr>) -> Option<Duration> {
        let now = Instant::now();
        let policy = &self.policy;
        if let Some(ip) = ip {
            let rule = Rule {
                window: policy.ip_window,
                max: policy.max_failures_per_ip,
                free: None,
            };
            self.ips.entry(ip).or_default().fail(now, policy, rule);
        }
        let rule = Rule {
            window: policy.window,
            max: policy.max_failures,
            free: Some(policy.free_failures),
        };
        let locked = self
            .identifiers
            .entry(identifier.to_string())
            .or_default()
            .fail(now, policy, rule);
        locked.then_some(policy.lockout)
    }

    /// Locks an identifier until `until` (a lock recorded by any instance,
    /// arriving through the global stream).
    pub fn lock_identifier(&self, identifier: &str, until: chrono::DateTime<chrono::Utc>) {
        let Ok(remaining) = (until - chrono::Utc::now()).to_std() else {
            return;
        };
        let until = Instant::now() + remaining;
        let mut counter = self.identifiers.entry(identifier.to_string()).or_default();
        if counter.locked_until.is_none_or(|current| current < until) {
            counter.locked_until = Some(until);
        }
    }

    /// A successful login clears the identifier's failures.
    pub fn record_success(&self, identifier: &str) {
        self.identifiers.remove(identifier);
    }

    /// Drops counters with nothing left to remember.
    pub fn prune(&self) {
        let now = Instant::now();
        let (window, ip_window) = (self.policy.window, self.policy.ip_window);
        self.identifiers.retain(|_, c| !c.expired(now, window));
        self.ips.retain(|_, c| !c.expired(now, ip_window));
        self.requests
            .retain(|_, w| now.duration_since(w.started) < w.length);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> Throttle {
        Throttle::new(Policy {
            max_failures: 3,
            free_failures: 100,
            delay_base: Duration::from_secs(1),
            delay_max: Duration::from_secs(8),
            max_failures_per_ip: 5,
            window: Duration::from_secs(60),
            ip_window: Duration::from_secs(60),
            lockout: Duration::from_secs(30),
        })
    }

    #[test]
    fn failures_beyond_the_free_ones_make_the_identifier_wait_longer_each_time() {
        let policy = Policy {
            max_failures: 100,
            free_failures: 2,
            ..*throttle().policy()
        };
        assert_eq!(wait_after(&policy, 1), Duration::from_secs(1));
        assert_eq!(wait_after(&policy, 2), Duration::from_secs(2));
        assert_eq!(wait_after(&policy, 3), Duration::from_secs(4));
        assert_eq!(wait_after(&policy, 4), Duration::from_secs(8));
        assert_eq!(wait_after(&policy, 60), Duration::from_secs(8));
        let t = Throttle::new(policy);
        assert_eq!(t.record_failure("id", None), None);
        assert_eq!(t.record_failure("id", None), None);
        assert!(t.locked("id", None).is_none(), "free failures cost nothing");
        assert_eq!(t.record_failure("id", None), None, "a wait is no lock");
        let wait = t.locked("id", None).expect("waits");
        assert!(wait <= Duration::from_secs(1) && wait > Duration::from_millis(900));
        t.record_failure("id", None);
        assert!(t.locked("id", None).expect("waits") > Duration::from_millis(1900));
        t.record_success("id");
        assert!(t.locked("id", None).is_none(), "success clears the wait");
    }

    #[test]
    fn an_identifier_is_locked_after_the_maximum_number_of_failures() {
        let t = throttle();
        assert_eq!(t.record_failure("id", None), None);
        assert_eq!(t.record_failure("id", None), None);
        assert!(t.locked("id", None).is_none());
        assert_eq!(t.record_failure("id", None), Some(Duration::from_secs(30)));
        assert!(t.locked("id", None).is_some());
        assert!(t.locked("other", None).is_none());
    }

    #[test]
    fn success_clears_the_count() {
        let t = throttle();
        t.record_failure("id", None);
        t.record_failure("id", None);
        t.record_success("id");
        assert_eq!(t.record_failure("id", None), None);
    }

    #[test]
    fn one_ip_spraying_many_identifiers_is_locked() {
        let t = throttle();
        let ip: IpAddr = [10, 0, 0, 1].into();
        for n in 0..5 {
            t.record_failure(&format!("id{n}"), Some(ip));
        }
        assert!(t.locked("fresh", Some(ip)).is_some());
        assert!(t.locked("fresh", Some([10, 0, 0, 2].into())).is_none());
    }

    #[test]
    fn a_request_limit_counts_per_client_in_fixed_windows() {
        let t = throttle();
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        let other: IpAddr = "10.0.0.2".parse().expect("ip");
        let window = Duration::from_millis(200);
        for n in 1..=3 {
            let quota = t.count_request("test", ip, 3, window);
            assert!(quota.allowed);
            assert_eq!(quota.remaining, 3 - n);
        }
        let refused = t.count_request("test", ip, 3, window);
        assert!(!refused.allowed);
        assert!(refused.reset_after <= window);
        assert!(
            t.count_request("test", other, 3, window).allowed,
            "per client"
        );
        assert!(t.count_request("other", ip, 3, window).allowed, "per scope");
        std::thread::sleep(window);
        assert!(
            t.count_request("test", ip, 3, window).allowed,
            "a new window"
        );
    }

    #[test]
    fn pruning_keeps_running_locks() {
        let t = throttle();
        for _ in 0..3 {
            t.record_failure("id", None);
        }
        t.prune();
        assert!(t.locked("id", None).is_some());
    }
}
