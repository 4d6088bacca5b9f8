//! Login throttling, on by default.
//!
//! Policy (documented in `docs/throttling.md`):
//! - Failures are counted per submitted identifier (its keyed hash) whether
//!   or not an account exists, so responses are identical either way. After
//!   `max_failures` within `window`, the identifier is locked for `lockout`:
//!   every login for it gets 429 with `Retry-After`, even with the right
//!   password, without any password being checked. For an existing account
//!   the lock is also recorded as a `UserLockedOut` event, so it survives
//!   restarts and holds on every instance.
//! - Failures are also counted per client IP (`max_failures_per_ip`), which
//!   slows one client spraying many identifiers.
//! - A successful login clears the identifier's failures.
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
    /// Failures per identifier before a lock.
    pub max_failures: u32,
    /// Failures per client IP before a lock.
    pub max_failures_per_ip: u32,
    /// Window failures are counted in.
    pub window: Duration,
    /// Lock duration.
    pub lockout: Duration,
}

#[derive(Debug, Default)]
struct Counter {
    failures: VecDeque<Instant>,
    locked_until: Option<Instant>,
}

impl Counter {
    fn locked(&self, now: Instant) -> Option<Duration> {
        self.locked_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }

    /// Counts a failure; returns true when it starts a lock.
    fn fail(&mut self, now: Instant, policy: &Policy, max: u32) -> bool {
        while self
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) > policy.window)
        {
            self.failures.pop_front();
        }
        self.failures.push_back(now);
        if self.failures.len() as u32 >= max && self.locked(now).is_none() {
            self.locked_until = Some(now + policy.lockout);
            self.failures.clear();
            return true;
        }
        false
    }

    fn expired(&self, now: Instant, policy: &Policy) -> bool {
        self.locked(now).is_none()
            && self
                .failures
                .back()
                .is_none_or(|t| now.duration_since(*t) > policy.window)
    }
}

/// Failure counters of one instance.
#[derive(Debug)]
pub struct Throttle {
    policy: Policy,
    identifiers: DashMap<String, Counter>,
    ips: DashMap<IpAddr, Counter>,
}

impl Throttle {
    /// Counters under `policy`.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            identifiers: DashMap::new(),
            ips: DashMap::new(),
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
        if let Some(ip) = ip {
            self.ips.entry(ip).or_default().fail(
                now,
                &self.policy,
                self.policy.max_failures_per_ip,
            );
        }
        let locked = self
            .identifiers
            .entry(identifier.to_string())
            .or_default()
            .fail(now, &self.policy, self.policy.max_failures);
        locked.then_some(self.policy.lockout)
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
        self.identifiers
            .retain(|_, c| !c.expired(now, &self.policy));
        self.ips.retain(|_, c| !c.expired(now, &self.policy));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> Throttle {
        Throttle::new(Policy {
            max_failures: 3,
            max_failures_per_ip: 5,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(30),
        })
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
    fn pruning_keeps_running_locks() {
        let t = throttle();
        for _ in 0..3 {
            t.record_failure("id", None);
        }
        t.prune();
        assert!(t.locked("id", None).is_some());
    }
}
