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
    /// An attempt was refused without checking the credential: the account waits after
    /// failures or is locked, or the client's address is over its quota. Beyond
    /// Flask-Security.
    AttemptsThrottled {
        /// The user's id (`None` when the address alone was refused).
        user_id: Option<i32>,
        /// `password` or `code`.
        factor: String,
        /// Seconds to wait; `None` when locked until a reset or an unlock.
        retry_after: Option<u64>,
    },
    /// Parity: `user_registered(user, confirmation_token)`.
    UserRegistered {
        /// The new user's id.
        user_id: i32,
        /// The confirmation token mailed, when confirmable.
        confirmation_token: Option<String>,
    },
    /// Parity: `user_not_registered` (generic responses: identity already in use).
    UserNotRegistered {
        /// The existing user's id when the email was taken.
        user_id: Option<i32>,
        /// The email was taken.
        existing_email: bool,
        /// The username was taken.
        existing_username: bool,
    },
    /// Parity: `user_confirmed(user)`.
    UserConfirmed {
        /// The user's id.
        user_id: i32,
    },
    /// Parity: `confirm_instructions_sent(user, token)`.
    ConfirmInstructionsSent {
        /// The user's id.
        user_id: i32,
        /// The confirmation token.
        token: String,
    },
    /// Parity: `reset_password_instructions_sent(user, token)`.
    ResetPasswordInstructionsSent {
        /// The user's id.
        user_id: i32,
        /// The reset token.
        token: String,
    },
    /// Parity: `password_reset(user)`.
    PasswordReset {
        /// The user's id.
        user_id: i32,
    },
    /// Parity: `password_changed(user)`.
    PasswordChanged {
        /// The user's id.
        user_id: i32,
    },
    /// Parity: `username_recovery_email_sent(user)`.
    UsernameRecoveryEmailSent {
        /// The user's id.
        user_id: i32,
    },
    /// Parity: `username_changed(user, old_username)`.
    UsernameChanged {
        /// The user's id.
        user_id: i32,
        /// The previous username.
        old_username: Option<String>,
    },
    /// Parity: `change_email_instructions_sent(user, new_email, token)`.
    ChangeEmailInstructionsSent {
        /// The user's id.
        user_id: i32,
        /// The requested address.
        new_email: String,
        /// The change-email token.
        token: String,
    },
    /// Parity: `change_email_confirmed(user, old_email)`.
    ChangeEmailConfirmed {
        /// The user's id.
        user_id: i32,
        /// The previous address.
        old_email: String,
    },
    /// Parity: `identity_changed` on logout (`AnonymousIdentity`).
    UserLoggedOut {
        /// The user's id.
        user_id: i32,
    },
    /// Parity: `tf_code_confirmed(user, method)`: a second-factor code was accepted.
    TfCodeConfirmed {
        /// The user's id.
        user_id: i32,
        /// The method (`email`, `authenticator`, `sms`).
        method: String,
    },
    /// Parity: `tf_profile_changed(user, method)`: a method was set up.
    TfProfileChanged {
        /// The user's id.
        user_id: i32,
        /// The new method.
        method: String,
    },
    /// Parity: `tf_disabled(user)`.
    TfDisabled {
        /// The user's id.
        user_id: i32,
    },
    /// Parity: `tf_security_token_sent(user, method)`; the code itself is not carried.
    TfSecurityTokenSent {
        /// The user's id.
        user_id: i32,
        /// `email` or `sms`.
        method: String,
    },
    /// Parity: `login_instructions_sent(user, login_token)`; the token is not carried.
    LoginInstructionsSent {
        /// The user's id.
        user_id: i32,
    },
    /// Parity: `us_security_token_sent(user, method, ...)`; the code itself is not
    /// carried.
    UsSecurityTokenSent {
        /// The user's id.
        user_id: i32,
        /// `email` or `sms`.
        method: String,
        /// True when the mail carried a magic link.
        magic_link: bool,
    },
    /// Parity: `us_profile_changed(user, methods, delete)`.
    UsProfileChanged {
        /// The user's id.
        user_id: i32,
        /// The methods set up or removed.
        methods: Vec<String>,
        /// True when they were removed.
        delete: bool,
    },
    /// A recovery code signed the user in (single use: it is gone).
    MfRecoveryCodeUsed {
        /// The user's id.
        user_id: i32,
    },
    /// New recovery codes replaced the user's old ones.
    MfRecoveryCodesGenerated {
        /// The user's id.
        user_id: i32,
    },
    /// Parity: `wan_registered(user, name)`.
    WanRegistered {
        /// The user's id.
        user_id: i32,
        /// The new credential's name.
        name: String,
    },
    /// Parity: `wan_deleted(user, name)`.
    WanDeleted {
        /// The user's id.
        user_id: i32,
        /// The deleted credential's name.
        name: String,
    },
}

/// A subscriber.
pub type Listener = Arc<dyn Fn(&Signal) + Send + Sync>;
