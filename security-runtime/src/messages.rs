//! Flask-Security's user-facing messages (`_default_messages`), English.
//!
//! Parity: `SECURITY_MSG_<KEY>`. Only the keys used by the features built so far.

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
/// Body of a 413.
pub const TOO_LARGE: &str = "Request body too large.";
