//! Signals: typed events an application can subscribe to with
//! [`Security::on_signal`](crate::Security::on_signal).
//!
//! Parity: `flask_security.signals` (blinker). Each variant names its blinker signal.

use std::sync::Arc;

/// A security event.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Signal {
    /// Parity: `user_authenticated(user, authn_via)`.
    UserAuthenticated {
        /// The user's id.
        user_id: i32,
        /// How: `password`, `basic`, `token`...
        authn_via: Vec<String>,
    },
    /// Parity: `user_unauthenticated`.
    UserUnauthenticated,
    /// Parity: `user_failed_authn(user, auth_type)`; `user_id` is `None` for unknown
    /// identities.
    UserFailedAuthn {
        /// The user's id when the identity exists.
        user_id: Option<i32>,
        /// `password`.
        auth_type: String,
    },
    /// Parity: `identity_changed` on logout (`AnonymousIdentity`).
    UserLoggedOut {
        /// The user's id.
        user_id: i32,
    },
}

/// A subscriber.
pub type Listener = Arc<dyn Fn(&Signal) + Send + Sync>;
