//! Flask-Security-Too for Rocket: authentication, authorization and account flows,
//! wire-compatible with Flask-Security's JSON API.
//!
//! Attach [`Security`] after your `rocket_db_pools` database, protect handlers with the
//! attribute macros (or [`Guard`] by hand), and read the user with [`CurrentUser`].
#![doc(html_no_source)]

// The layers, bottom-up (tests/architecture.rs keeps them so):
// foundation: error, config, messages, model, tokens, hashing, signals, mechanism,
//             validation, mail, html, redirect
// datastore:  datastore
// identity:   state, session, csrf, auth, signin
// account:    account
// web:        guards, input, responses, render, flows
// fairing:    fairing, launch, report, and this facade
#[doc(hidden)]
pub mod __private;
pub(crate) mod account;
pub mod auth;
pub mod config;
pub(crate) mod csrf;
pub mod datastore;
mod error;
mod fairing;
pub(crate) mod flows;
pub mod guards;
pub mod hashing;
pub(crate) mod headers;
pub mod html;
pub(crate) mod input;
mod launch;
pub mod lockout;
pub mod log_filter;
pub mod mail;
mod mechanism;
pub(crate) mod memo;
pub mod messages;
pub mod model;
pub mod recovery_codes;
pub(crate) mod redirect;
pub(crate) mod render;
pub mod report;
pub mod responses;
pub mod second_factor;
pub mod session;
pub mod signals;
pub mod signin;
pub mod sms;
pub mod state;
pub mod throttle;
pub mod tokens;
pub mod totp;
pub mod validation;
#[cfg(feature = "webauthn")]
pub mod webauthn;

pub use account::{admin_change_password, FormErrors};
pub use auth::{get_auth_token, logout_user, lookup_identity};
pub use config::SecurityConfig;
pub use datastore::{
    CacheCheck, CacheSettings, CacheStats, CachedDatastore, MigrationInfo, NewUser, SchemaOrigin,
    SchemaStatus, SqlDatastore, UserDatastore, UserQuery,
};
pub use error::{Result, SecurityError};
pub use fairing::{DenialHook, Security, SeedFuture, SeedHook};
pub use guards::requirement::{AuthRequirement, Requirement, RouteRequirement, UnauthCsrf};
pub use guards::{Authn, CsrfStatus, CurrentUser, Guard};
pub use launch::{protected_routes, route_report, ProtectedRoute};
pub use mechanism::Mechanism;
pub use model::{Role, RoleModel, User, UserModel};
pub use security_macros::*;
pub use session::Session;
pub use signin::{complete, login_user, FirstFactor, Refusal, SignInOutcome};
pub use state::{Hooks, SecurityState, StateData};
pub use tokens::check_and_get_token_status;

/// Re-export of the `chrono` version used by the models.
pub use chrono;
/// The pools to declare an application's database with (`#[derive(Database)]`).
pub use datastore::pool as db;
/// Re-export of the `sqlx` version the datastore runs on.
pub use sqlx;
