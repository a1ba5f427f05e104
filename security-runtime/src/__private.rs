//! Re-exports used by code the macros generate. Not a public API: names here change
//! without notice. Generated code reaches everything through this one module.

pub use crate::guards::requirement::{
    AuthRequirement, Mechanism, Requirement, RouteRequirement, UnauthCsrf,
};
pub use crate::guards::Guard;
pub use crate::model::{Role, RoleModel, User, UserModel};
pub use crate::report::{DeclaredRole, DeclaredRoles, RouteRecord};
pub use chrono;
pub use inventory;
pub use rocket;
pub use serde_json;
