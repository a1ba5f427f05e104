//! A cap on the mails anyone may trigger to one address (reset, confirmation, codes,
//! username recovery): at most `per_hour` in any hour, per process. Over the cap a mail
//! is dropped and the request answers as if it had been sent, so a caller learns
//! nothing and a mailbox cannot be flooded (security plan L3).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Seconds in the sliding window.
const WINDOW: f64 = 3600.0;

/// Recipients above which those with no send in the window are swept.
const SWEEP_ABOVE: usize = 4096;

/// The send times of recent capped mails, per recipient (folded to lower case).
#[derive(Debug)]
pub struct MailCap {
    per_hour: usize,
    sent: Mutex<HashMap<String, VecDeque<f64>>>,
}

impl MailCap {
    /// A cap of `per_hour` mails per address (0: no cap).
    pub fn new(per_hour: u32) -> Self {
        MailCap {
            per_hour: per_hour as usize,
            sent: Mutex::new(HashMap::new()),
        }
    }

    /// Records a mail to `to` at `now` (seconds) and says whether it may go: false when
    /// `per_hour` mails went to the address in the hour before `now`.
    pub fn allow(&self, to: &str, now: f64) -> bool {
        if self.per_hour == 0 {
            return true;
        }
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        if sent.len() > SWEEP_ABOVE {
            sent.retain(|_, times| times.back().is_some_and(|t| now - t < WINDOW));
        }
        let times = sent.entry(to.to_lowercase()).or_default();
        while times.front().is_some_and(|t| now - t >= WINDOW) {
            times.pop_front();
        }
        if times.len() >= self.per_hour {
            return false;
        }
        times.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::MailCap;

    #[test]
    fn an_address_gets_per_hour_mails_in_any_hour() {
        let cap = MailCap::new(5);
        let sent = (0..1000)
            .filter(|i| cap.allow("a@x.org", *i as f64 * 0.06))
            .count();
        assert_eq!(sent, 5);
        assert!(
            cap.allow("b@x.org", 60.0),
            "another address has its own cap"
        );
        assert!(
            !cap.allow("A@X.ORG", 3599.0),
            "case does not make a new address"
        );
        assert!(
            cap.allow("a@x.org", 3600.0),
            "the first send left the window"
        );
        assert!(!cap.allow("a@x.org", 3600.0));
    }

    #[test]
    fn zero_is_no_cap() {
        let cap = MailCap::new(0);
        assert!((0..100).all(|_| cap.allow("a@x.org", 0.0)));
    }
}
