//! Flask-Security's user-facing messages (`_default_messages`), English, and the
//! catalog that translates them.
//!
//! The constants are the English texts the features use; [`Catalog`] turns any of them
//! (and every text of the pages and mails) into the request's locale, after the
//! application's `[security.messages]` replacements.
//!
//! Parity: `SECURITY_MSG_<KEY>`, `get_message`, Flask-Babel's `gettext`.

mod catalog;
pub(crate) mod defaults;

pub use catalog::{interpolate, Catalog, Text};

/// `API_ERROR`.
pub const API_ERROR: &str = "Input not appropriate for requested API";
/// `GENERIC_AUTHN_FAILED`.
pub const GENERIC_AUTHN_FAILED: &str =
    "Authentication failed - identity or password/passcode invalid";
/// `UNAUTHORIZED`.
pub const UNAUTHORIZED: &str = "You do not have permission to view this resource.";
/// `UNAUTHENTICATED`.
pub const UNAUTHENTICATED: &str = "You must sign in to view this resource.";
/// `REAUTHENTICATION_REQUIRED`.
pub const REAUTHENTICATION_REQUIRED: &str = "You must reauthenticate to access this endpoint";
/// `ANONYMOUS_USER_REQUIRED`.
pub const ANONYMOUS_USER_REQUIRED: &str = "You can only access this endpoint when not logged in.";
/// `USER_DOES_NOT_EXIST`.
pub const USER_DOES_NOT_EXIST: &str = "Specified user does not exist";
/// `INVALID_PASSWORD`.
pub const INVALID_PASSWORD: &str = "Invalid password";
/// `PASSWORD_NOT_PROVIDED`.
pub const PASSWORD_NOT_PROVIDED: &str = "Password not provided";
/// `EMAIL_NOT_PROVIDED`.
pub const EMAIL_NOT_PROVIDED: &str = "Email not provided";
/// `INVALID_EMAIL_ADDRESS`.
pub const INVALID_EMAIL_ADDRESS: &str = "Invalid email address";
/// `DISABLED_ACCOUNT`.
pub const DISABLED_ACCOUNT: &str = "Account is disabled.";
/// `CONFIRMATION_REQUIRED`.
pub const CONFIRMATION_REQUIRED: &str = "Email requires confirmation.";
/// `INVALID_REDIRECT`.
pub const INVALID_REDIRECT: &str = "Redirections outside the domain are forbidden";
/// `USERNAME_NOT_PROVIDED`.
pub const USERNAME_NOT_PROVIDED: &str = "Username not provided";
/// Generic body of a 503 when the datastore is unavailable.
pub const SERVICE_UNAVAILABLE: &str = "Service temporarily unavailable, please try again later.";
/// Body of a 500 (details go to the log only).
pub const INTERNAL_ERROR: &str = "Internal error.";
/// Body of a 413.
pub const TOO_LARGE: &str = "Request body too large.";
/// `EMAIL_ALREADY_ASSOCIATED` (`%(email)s` interpolated).
pub fn email_already_associated(email: &str) -> Text {
    Text::new("%(email)s is already associated with an account.").arg("email", email)
}
/// `USERNAME_ALREADY_ASSOCIATED` (`%(username)s` interpolated).
pub fn username_already_associated(username: &str) -> Text {
    Text::new("%(username)s is already associated with an account.").arg("username", username)
}
/// `RETYPE_PASSWORD_MISMATCH`.
pub const RETYPE_PASSWORD_MISMATCH: &str = "Passwords do not match";
/// `PASSWORD_IS_THE_SAME`.
pub const PASSWORD_IS_THE_SAME: &str =
    "Your new password must be different than your previous password.";
/// `ALREADY_CONFIRMED`.
pub const ALREADY_CONFIRMED: &str = "Your email has already been confirmed.";
/// `EMAIL_CONFIRMED`.
pub const EMAIL_CONFIRMED: &str = "Thank you. Your email has been confirmed.";
/// `INVALID_CONFIRMATION_TOKEN`.
pub const INVALID_CONFIRMATION_TOKEN: &str = "Invalid confirmation token.";
/// `CONFIRMATION_EXPIRED` (5.x wording: no new link is sent, and the address is not
/// shown to whoever holds the link; the trailing space is Flask-Security's).
pub fn confirmation_expired(within: &str) -> Text {
    Text::new("You did not confirm your email within %(within)s. ").arg("within", within)
}
/// `CONFIRMATION_REQUEST`.
pub fn confirmation_request(email: &str) -> Text {
    Text::new("Confirmation instructions have been sent to %(email)s.").arg("email", email)
}
/// `CONFIRM_REGISTRATION`.
pub fn confirm_registration(email: &str) -> Text {
    Text::new("Thank you. Confirmation instructions have been sent to %(email)s.")
        .arg("email", email)
}
/// `INVALID_RESET_PASSWORD_TOKEN`.
pub const INVALID_RESET_PASSWORD_TOKEN: &str = "Invalid reset password token.";
/// `PASSWORD_RESET_EXPIRED` (5.x wording, as `CONFIRMATION_EXPIRED`).
pub fn password_reset_expired(within: &str) -> Text {
    Text::new("You did not reset your password within %(within)s. ").arg("within", within)
}
/// `PASSWORD_RESET_REQUEST`.
pub fn password_reset_request(email: &str) -> Text {
    Text::new("Instructions to reset your password have been sent to %(email)s.")
        .arg("email", email)
}
/// `PASSWORD_RESET`.
pub const PASSWORD_RESET: &str =
    "You successfully reset your password and you have been logged in automatically.";
/// `PASSWORD_RESET_NO_LOGIN`.
pub const PASSWORD_RESET_NO_LOGIN: &str =
    "You successfully reset your password. Please authenticate using your new password.";
/// `PASSWORD_CHANGE`.
pub const PASSWORD_CHANGE: &str = "You successfully changed your password.";
/// `CHANGE_EMAIL_EXPIRED`.
pub fn change_email_expired(within: &str) -> Text {
    Text::new("Your change email link has expired (%(within)s). Please request a new one.")
        .arg("within", within)
}
/// `CHANGE_EMAIL_CONFIRMED`.
pub const CHANGE_EMAIL_CONFIRMED: &str = "Change of email address confirmed";
/// `USERNAME_CHANGE`.
pub const USERNAME_CHANGE: &str = "You successfully changed your username";
/// `USERNAME_RECOVERY_REQUEST`.
pub const USERNAME_RECOVERY_REQUEST: &str =
    "If registered, your username will be sent to your email.";
/// `GENERIC_RECOVERY`.
pub const GENERIC_RECOVERY: &str =
    "If that email address is in our system, you will receive an email describing how to \
     reset your password.";
/// Answer when a mail that a flow depends on could not be sent.
pub const MAIL_FAILED: &str = "We could not send the email; please try again later.";
/// `INVALID_INPUT`.
pub const INVALID_INPUT: &str = "Value entered is not valid for the field";
/// `PASSWORD_INVALID_LENGTH` (`%(length)s` interpolated: the minimum length).
pub fn password_invalid_length(length: usize) -> Text {
    Text::new("Password must be at least %(length)s characters").arg("length", length)
}
/// `PASSWORD_TOO_SIMPLE`.
pub const PASSWORD_TOO_SIMPLE: &str = "Password not complex enough";
/// `PASSWORD_BREACHED`.
pub const PASSWORD_BREACHED: &str = "Password on breached list";
/// `PASSWORD_BREACHED_SITE_ERROR`.
pub const PASSWORD_BREACHED_SITE_ERROR: &str = "Failed to contact breached passwords site";
/// `PHONE_INVALID`.
pub const PHONE_INVALID: &str = "Phone number not valid e.g. missing country code";
/// `USERNAME_INVALID_LENGTH` (`%(min)d`, `%(max)d` interpolated).
pub fn username_invalid_length(min: usize, max: usize) -> Text {
    Text::new("Username must be at least %(min)d characters and less than %(max)d characters")
        .arg("min", min)
        .arg("max", max)
}
/// `USERNAME_DISALLOWED_CHARACTERS`.
pub const USERNAME_DISALLOWED_CHARACTERS: &str = "Username can contain only letters and numbers";

/// `USE_CODE` (`%(code)s` interpolated).
pub const USE_CODE: &str = "Use this code to sign in: %(code)s";
/// `CODE_HAS_BEEN_SENT`.
pub const CODE_HAS_BEEN_SENT: &str = "Code has been sent.";
/// `FAILED_TO_SEND_CODE`.
pub const FAILED_TO_SEND_CODE: &str = "Failed to send code. Please try again later";
/// `TWO_FACTOR_INVALID_TOKEN`.
pub const TWO_FACTOR_INVALID_TOKEN: &str = "Invalid code";
/// `TWO_FACTOR_LOGIN_SUCCESSFUL`.
pub const TWO_FACTOR_LOGIN_SUCCESSFUL: &str = "Your code has been confirmed";
/// `TWO_FACTOR_CHANGE_METHOD_SUCCESSFUL`.
pub const TWO_FACTOR_CHANGE_METHOD_SUCCESSFUL: &str =
    "You successfully changed your two-factor method.";
/// `TWO_FACTOR_DISABLED`.
pub const TWO_FACTOR_DISABLED: &str = "You successfully disabled two-factor authorization.";
/// `TWO_FACTOR_METHOD_NOT_AVAILABLE`.
pub const TWO_FACTOR_METHOD_NOT_AVAILABLE: &str = "Marked method is not valid";
/// `TWO_FACTOR_PERMISSION_DENIED`.
pub const TWO_FACTOR_PERMISSION_DENIED: &str =
    "You currently do not have permissions to access this page";
/// `TWO_FACTOR_SETUP_EXPIRED` (`%(within)s` interpolated).
pub fn two_factor_setup_expired(within: &str) -> Text {
    Text::new("Setup must be completed within %(within)s. Please start over.").arg("within", within)
}
/// `INVALID_RECOVERY_CODE`.
pub const INVALID_RECOVERY_CODE: &str = "Recovery code invalid";
/// `NO_RECOVERY_CODES_SETUP`.
pub const NO_RECOVERY_CODES_SETUP: &str = "No recovery codes generated yet";
/// `REAUTHENTICATION_SUCCESSFUL`.
pub const REAUTHENTICATION_SUCCESSFUL: &str = "Reauthentication successful";
/// The notice after `/tf-rescue` mailed a request for help (beyond Flask-Security, which
/// shows none).
pub const HELP_REQUEST_SENT: &str = "Your request for help has been sent.";
/// An attempt refused after too many failures (beyond Flask-Security, which has no
/// limit; in generic mode the generic failure is shown instead).
pub const TOO_MANY_ATTEMPTS: &str = "Too many failed attempts. Please try again later.";

/// `US_SPECIFY_IDENTITY`.
pub const US_SPECIFY_IDENTITY: &str = "You must specify a valid identity to sign in";
/// `INVALID_PASSWORD_CODE`.
pub const INVALID_PASSWORD_CODE: &str = "Password or code submitted is not valid";
/// `US_METHOD_NOT_AVAILABLE`.
pub const US_METHOD_NOT_AVAILABLE: &str = "Requested method is not valid";
/// `GENERIC_US_SIGNIN`.
pub const GENERIC_US_SIGNIN: &str = "If that identity is in our system, you were sent a code.";
/// `PASSWORDLESS_LOGIN_SUCCESSFUL`.
pub const PASSWORDLESS_LOGIN_SUCCESSFUL: &str = "You have successfully logged in.";
/// `INVALID_CODE`.
pub const INVALID_CODE: &str = "Invalid code";
/// `US_SETUP_SUCCESSFUL`.
pub const US_SETUP_SUCCESSFUL: &str = "Unified sign in setup successful";
/// `US_SETUP_EXPIRED` (`%(within)s` interpolated).
pub fn us_setup_expired(within: &str) -> Text {
    Text::new("Setup must be completed within %(within)s. Please start over.").arg("within", within)
}
/// `IDENTITY_ALREADY_ASSOCIATED` (`%(attr)s`, `%(value)s` interpolated).
pub fn identity_already_associated(attr: &str, value: &str) -> Text {
    Text::new(
        "Identity attribute '%(attr)s' with value '%(value)s' is already associated with an account.",
    )
    .arg("attr", attr)
    .arg("value", value)
}
/// `INVALID_LOGIN_TOKEN`.
pub const INVALID_LOGIN_TOKEN: &str = "Invalid login token.";
/// `LOGIN_EMAIL_SENT` (`%(email)s` interpolated).
pub fn login_email_sent(email: &str) -> Text {
    Text::new("Instructions to login have been sent to %(email)s.").arg("email", email)
}
/// `LOGIN_EXPIRED` (`%(within)s`, `%(email)s` interpolated).
pub fn login_expired(within: &str, email: &str) -> Text {
    Text::new(
        "You did not login within %(within)s. New instructions to login have been sent to %(email)s.",
    )
    .arg("within", within)
    .arg("email", email)
}
/// `INVALID_INPUT_LENGTH` (`%(length)` interpolated, as Flask-Security's text has it).
pub fn invalid_input_length(length: usize) -> Text {
    Text::new("Value entered must be less than %(length) characters").arg("length", length)
}
/// `WEBAUTHN_NAME_REQUIRED`.
pub const WEBAUTHN_NAME_REQUIRED: &str = "Nickname for new passkey is required.";
/// `WEBAUTHN_NAME_INUSE` (`%(name)s` interpolated).
pub fn webauthn_name_inuse(name: &str) -> Text {
    Text::new("%(name)s is already associated with a passkey.").arg("name", name)
}
/// `WEBAUTHN_NAME_NOT_FOUND` (`%(name)s` interpolated).
pub fn webauthn_name_not_found(name: &str) -> Text {
    Text::new("%(name)s not registered with current user.").arg("name", name)
}
/// `WEBAUTHN_NAME_DISALLOWED_CHARACTERS`.
pub const WEBAUTHN_NAME_DISALLOWED_CHARACTERS: &str =
    "Passkey nicknames can contain only letters, numbers, and limited punctuation.";
/// `WEBAUTHN_EXPIRED` (`%(within)s` interpolated).
pub fn webauthn_expired(within: &str) -> Text {
    Text::new("Passkey operations must be completed within %(within)s. Please start over.")
        .arg("within", within)
}
/// `WEBAUTHN_NO_VERIFY` (`%(cause)s` interpolated).
pub fn webauthn_no_verify(cause: &str) -> Text {
    Text::new("Could not verify passkey: %(cause)s.").arg("cause", cause)
}
/// `WEBAUTHN_CREDENTIAL_ID_INUSE`.
pub const WEBAUTHN_CREDENTIAL_ID_INUSE: &str = "Passkey already registered.";
/// `WEBAUTHN_UNKNOWN_CREDENTIAL_ID`.
pub const WEBAUTHN_UNKNOWN_CREDENTIAL_ID: &str = "Unregistered passkey.";
/// `WEBAUTHN_ORPHAN_CREDENTIAL_ID`.
pub const WEBAUTHN_ORPHAN_CREDENTIAL_ID: &str = "Passkey doesn't belong to any user.";
/// `WEBAUTHN_MISMATCH_USER_HANDLE`.
pub const WEBAUTHN_MISMATCH_USER_HANDLE: &str = "Credential user handle didn't match";
/// `WEBAUTHN_CREDENTIAL_WRONG_USAGE`.
pub const WEBAUTHN_CREDENTIAL_WRONG_USAGE: &str =
    "Passkey not registered for this use (first or secondary)";
/// `WEBAUTHN_REGISTER_SUCCESSFUL` (`%(name)s` interpolated).
pub fn webauthn_register_successful(name: &str) -> Text {
    Text::new("Successfully added the passkey with name: %(name)s").arg("name", name)
}
/// `WEBAUTHN_CREDENTIAL_DELETED` (`%(name)s` interpolated).
pub fn webauthn_credential_deleted(name: &str) -> Text {
    Text::new("Successfully deleted the passkey with name: %(name)s").arg("name", name)
}
