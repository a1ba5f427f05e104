//! Account logic: what the account flows do, without HTTP.
//!
//! Functions here take the state and typed inputs and return typed outcomes; the web
//! layer parses requests into them and renders what they return.

use crate::error::Result;
use crate::model::User;
use crate::signals::Signal;
use crate::state::SecurityState;

pub(crate) mod links;
pub(crate) mod mail;

/// Sets a user's password as an administrator: new hash, new `fs_uniquifier` (every
/// session and token of the user dies), in one write; mails `change_notice` when
/// `notify`. The password must already be validated.
///
/// Parity: `flask_security.admin_change_password(user, new_passwd, notify=True)`.
pub async fn admin_change_password(
    state: &SecurityState,
    user: &mut User,
    new_password: &str,
    notify: bool,
) -> Result<()> {
    let hash = state.hash_password(new_password).await?;
    crate::datastore::update(state.datastore.as_ref(), user, |u| {
        u.password = Some(hash);
        u.rotate_identity();
    })
    .await?;
    state.send(Signal::PasswordChanged { user_id: user.id });
    if notify && state.config.send_password_change_email {
        let subject = &state.config.email_subject_password_change_notice;
        crate::account::mail::notify(
            state,
            state.catalog.default_locale(),
            "change_notice",
            user,
            subject,
        )
        .await;
    }
    Ok(())
}
