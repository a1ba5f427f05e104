//! Flask-Security-Too for Rocket: authentication, authorization and account flows,
//! wire-compatible with Flask-Security's JSON API.
//!
//! Attach [`Security`] after your `rocket_db_pools` database, protect handlers with the
//! attribute macros (or [`Guard`] by hand), and read the user with [`CurrentUser`].
#![doc(html_no_source)]

#[doc(hidden)]
pub mod __private;
pub mod account;
pub mod auth;
pub mod config;
pub mod csrf;
pub mod datastore;
pub mod error;
pub mod fairing;
pub mod flows;
pub mod guards;
pub mod hashing;
pub mod html;
pub mod input;
pub mod launch;
pub mod mail;
mod mechanism;
pub mod messages;
pub mod model;
pub mod redirect;
pub mod render;
pub mod report;
pub mod responses;
pub mod session;
pub mod signals;
pub mod signin;
pub mod state;
pub mod tokens;
pub mod validation;

pub use account::admin_change_password;
pub use auth::{get_auth_token, logout_user, lookup_identity};
pub use config::SecurityConfig;
pub use datastore::{
    MigrationInfo, NewUser, SchemaOrigin, SchemaStatus, SqlDatastore, UserDatastore, UserQuery,
};
pub use error::{Result, SecurityError};
pub use fairing::Security;
pub use guards::{CsrfStatus, CurrentUser, Guard};
pub use launch::route_report;
pub use mechanism::Mechanism;
pub use model::{Role, RoleModel, User, UserModel};
pub use security_macros::*;
pub use signin::login_user;
pub use state::SecurityState;
pub use tokens::check_and_get_token_status;

/// Re-export of the `chrono` version used by the models.
pub use chrono;
