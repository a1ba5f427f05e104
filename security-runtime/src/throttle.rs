//! Throttling rules that need no database: the wait after a run of failures, the
//! client's address behind trusted proxies, and the per-address limit on failed
//! attempts (in process, with `governor`).
//!
//! The per-account counters that use [`wait_after`] live in `lockout` (identity layer).

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::SecurityConfig;

/// Seconds an account must wait after `failures` consecutive failures: none up to
/// `lockout_free_failures`, then `lockout_delay` doubling with each failure, capped at
/// `lockout_max_delay`.
pub fn wait_after(cfg: &SecurityConfig, failures: u32) -> u64 {
    if failures < cfg.lockout_free_failures.max(1) {
        return 0;
    }
    let doublings = (failures - cfg.lockout_free_failures.max(1)).min(63);
    cfg.lockout_delay
        .saturating_mul(1u64 << doublings)
        .min(cfg.lockout_max_delay)
}

/// The client's address: the peer, unless the peer is one of `trusted_proxies`; then the
/// right-most `X-Forwarded-For` entry that is not a trusted proxy (entries left of it
/// were written by the client and prove nothing).
pub fn client_address(
    cfg: &SecurityConfig,
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
) -> Option<IpAddr> {
    let peer = peer?;
    if !cfg.trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    let Some(header) = forwarded_for else {
        return Some(peer);
    };
    let mut last = peer;
    for entry in header.rsplit(',') {
        match entry.trim().parse::<IpAddr>() {
            Ok(ip) if cfg.trusted_proxies.contains(&ip) => last = ip,
            Ok(ip) => return Some(ip),
            Err(_) => return Some(last),
        }
    }
    Some(last)
}

/// Failed attempts allowed per client address and minute; an address over its quota
/// is refused every attempt until the quota refills. Off when the quota is 0.
pub struct AddressLimiter {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    blocked: Mutex<HashMap<IpAddr, Instant>>,
}

impl std::fmt::Debug for AddressLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddressLimiter")
            .field("on", &self.limiter.is_some())
            .finish()
    }
}

/// Entries of the blocked map above which expired ones are swept.
const SWEEP_ABOVE: usize = 4096;

impl AddressLimiter {
    /// A limiter allowing `per_minute` failures per address (0: no limit).
    pub fn new(per_minute: u32) -> Self {
        AddressLimiter {
            limiter: NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            blocked: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds `address` must still wait before any attempt (`None`: it may try).
    pub fn blocked(&self, address: Option<IpAddr>) -> Option<u64> {
        self.limiter.as_ref()?;
        let address = address?;
        let blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        let until = *blocked.get(&address)?;
        let left = until.checked_duration_since(Instant::now())?;
        Some(left.as_secs().max(1))
    }

    /// Records a failed attempt from `address`; true when it used up the quota (the
    /// address is refused from now on until it refills).
    pub fn failed(&self, address: Option<IpAddr>) -> bool {
        let (Some(limiter), Some(address)) = (&self.limiter, address) else {
            return false;
        };
        let Err(not_until) = limiter.check_key(&address) else {
            return false;
        };
        let wait = not_until.wait_time_from(governor::clock::Clock::now(limiter.clock()));
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        if blocked.len() > SWEEP_ABOVE {
            let now = Instant::now();
            blocked.retain(|_, until| *until > now);
            limiter.retain_recent();
        }
        blocked.insert(address, Instant::now() + wait.max(Duration::from_secs(1)));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SecurityConfig {
        SecurityConfig::default()
    }

    #[test]
    fn waits_double_after_the_free_failures_and_stop_at_the_cap() {
        let c = cfg();
        assert_eq!(wait_after(&c, 9), 0);
        assert_eq!(wait_after(&c, 10), 30);
        assert_eq!(wait_after(&c, 11), 60);
        assert_eq!(wait_after(&c, 16), 1920);
        assert_eq!(wait_after(&c, 17), 3600);
        assert_eq!(wait_after(&c, 99), 3600);
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let mut c = cfg();
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let xff = Some("6.6.6.6, 1.2.3.4");
        assert_eq!(client_address(&c, Some(peer), xff), Some(peer));
        c.trusted_proxies = vec![peer];
        let client: IpAddr = "1.2.3.4".parse().unwrap();
        assert_eq!(client_address(&c, Some(peer), xff), Some(client));
        c.trusted_proxies.push(client);
        let spoofed: IpAddr = "6.6.6.6".parse().unwrap();
        assert_eq!(client_address(&c, Some(peer), xff), Some(spoofed));
        assert_eq!(client_address(&c, Some(peer), Some("junk")), Some(peer));
    }

    #[test]
    fn an_address_over_its_quota_is_blocked_and_others_are_not() {
        let limiter = AddressLimiter::new(3);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert!(!limiter.failed(Some(a)));
            assert_eq!(limiter.blocked(Some(a)), None);
        }
        assert!(limiter.failed(Some(a)));
        assert!(limiter
            .blocked(Some(a))
            .is_some_and(|s| (1..=60).contains(&s)));
        assert_eq!(limiter.blocked(Some(b)), None);
        let off = AddressLimiter::new(0);
        for _ in 0..100 {
            assert!(!off.failed(Some(a)));
        }
        assert_eq!(off.blocked(Some(a)), None);
    }
}
