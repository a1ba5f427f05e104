//! The crate's error type.

/// Everything that can go wrong inside the security layer.
///
/// HTTP mapping lives in [`crate::responses`]: datastore trouble is a 503 with a
/// generic body, never details.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecurityError {
    /// The datastore failed or could not be reached.
    #[error("datastore error: {0}")]
    Datastore(#[source] sqlx::Error),
    /// A unique column (email, username, role name...) already holds the value.
    #[error("{what} already exists")]
    AlreadyExists {
        /// What collided, for example `user` or `role`.
        what: &'static str,
    },
    /// The row to change does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was missing.
        what: &'static str,
    },
    /// Invalid input given to a datastore or utility call.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// Password hashing failed.
    #[error("hashing error: {0}")]
    Hashing(#[from] crate::hashing::HashingError),
    /// Invalid configuration; the message names the key.
    #[error("invalid security configuration: {0}")]
    Config(String),
    /// The database schema cannot be used or upgraded; the message says why.
    #[error("database schema: {0}")]
    Schema(String),
    /// The session store (Redis) failed or could not be reached.
    #[error("session store error: {0}")]
    SessionStore(String),
    /// A blocking task was cancelled or panicked.
    #[error("background task failed")]
    Task,
}

impl From<sqlx::Error> for SecurityError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return SecurityError::AlreadyExists { what: "row" };
            }
        }
        SecurityError::Datastore(e)
    }
}

/// Result alias for this crate.
pub type Result<T, E = SecurityError> = std::result::Result<T, E>;
