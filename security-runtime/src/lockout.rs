//! Failed-attempt limits per account and factor (NIST SP 800-63B §3.2.2), kept in the
//! database so every instance shares them.
//!
//! An attempt is counted *before* its credential is checked, with a conditional write,
//! so parallel attempts are each counted and none slips past the limit; a success then
//! clears the count. Requesting a new code does not. After `lockout_free_failures` the
//! account waits between attempts (doubling, see [`crate::throttle::wait_after`]); at
//! `lockout_max_failures` the factor is locked until a password reset or an unlock.

use std::net::IpAddr;

use crate::datastore::{Attempts, Factor};
use crate::error::Result;
use crate::signals::Signal;
use crate::state::SecurityState;

/// Whether an attempt may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Go on: the attempt is counted, and cleared by [`succeeded`].
    Open,
    /// Refused: wait this many seconds.
    Wait(u64),
    /// Refused until a password reset or an administrator's unlock.
    Locked,
}

impl Gate {
    /// The `Retry-After` seconds of a refusal (a locked factor gets the longest wait).
    pub fn retry_after(self, st: &SecurityState) -> Option<u64> {
        match self {
            Gate::Open => None,
            Gate::Wait(s) => Some(s),
            Gate::Locked => Some(st.config.lockout_max_delay),
        }
    }
}

/// Conditional writes tried before a refusal under heavy contention.
const SWAP_TRIES: usize = 16;

/// Claims one attempt with `factor` for the user, or says why it is refused.
pub async fn begin(st: &SecurityState, user_id: i32, factor: Factor) -> Result<Gate> {
    let cfg = &st.config;
    if !cfg.lockout_enabled {
        return Ok(Gate::Open);
    }
    let now = st.now() as i64;
    for _ in 0..SWAP_TRIES {
        let seen = st.datastore.failed_attempts(user_id, factor).await?;
        if seen.failures >= cfg.lockout_max_failures {
            return Ok(refused(st, user_id, factor, Gate::Locked));
        }
        let wait = crate::throttle::wait_after(cfg, seen.failures) as i64;
        let until = seen.last_at.saturating_add(wait);
        if wait > 0 && now < until {
            let gate = Gate::Wait((until - now) as u64);
            return Ok(refused(st, user_id, factor, gate));
        }
        let next = Attempts {
            failures: seen.failures + 1,
            last_at: now,
        };
        if st
            .datastore
            .swap_failed_attempts(user_id, factor, seen, next)
            .await?
        {
            return Ok(Gate::Open);
        }
    }
    Ok(refused(st, user_id, factor, Gate::Wait(1)))
}

/// The attempt claimed by [`begin`] succeeded: the count starts again.
pub async fn succeeded(st: &SecurityState, user_id: i32, factor: Factor) -> Result<()> {
    if st.config.lockout_enabled {
        st.datastore.clear_failed_attempts(user_id, factor).await?;
    }
    Ok(())
}

/// Seconds the client's address must wait before any attempt (`None`: it may try).
pub fn address_blocked(st: &SecurityState, from: Option<IpAddr>, factor: Factor) -> Option<u64> {
    let wait = st.addresses.blocked(from)?;
    st.send(Signal::AttemptsThrottled {
        user_id: None,
        factor: factor_name(factor).into(),
        retry_after: Some(wait),
    });
    Some(wait)
}

/// Records a failed attempt from the client's address.
pub fn address_failed(st: &SecurityState, from: Option<IpAddr>) {
    if st.addresses.failed(from) {
        rocket::warn!("failed attempts: a client address is over its quota");
    }
}

fn refused(st: &SecurityState, user_id: i32, factor: Factor, gate: Gate) -> Gate {
    st.send(Signal::AttemptsThrottled {
        user_id: Some(user_id),
        factor: factor_name(factor).into(),
        retry_after: match gate {
            Gate::Wait(s) => Some(s),
            _ => None,
        },
    });
    gate
}

fn factor_name(factor: Factor) -> &'static str {
    match factor {
        Factor::Password => "password",
        Factor::Code => "code",
        Factor::Passcode => "passcode",
    }
}
