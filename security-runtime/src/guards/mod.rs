//! Request guards: who is calling, and may they.
//!
//! [`Guard`] evaluates a [`Requirement`](requirement::Requirement) (what the attribute
//! macros expand to); [`CurrentUser`] hands the authenticated user to a handler without
//! another query. Denials are recorded for the fairing, which answers them as
//! Flask-Security does (JSON 401/403, redirect to login, `WWW-Authenticate`...).

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use rocket::request::{FromRequest, Outcome, Request};
use rocket::Sentinel;

use crate::model::{User, UserModel};
use crate::responses::Denial;
use crate::state::SecurityState;

mod authn;
mod evaluate;
mod local;
pub mod requirement;

pub(crate) use authn::state;
pub use authn::Authn;
pub(crate) use authn::{client, current_user};
use evaluate::evaluate;
pub(crate) use evaluate::evaluate_with;
pub use evaluate::CsrfStatus;
pub(crate) use local::GuardLocal;
use requirement::{Mechanism, RouteRequirement};

/// Records `denial` and returns the matching error outcome.
pub(crate) fn deny<T>(req: &Request<'_>, denial: Denial) -> Outcome<T, Denial> {
    if matches!(denial, Denial::Unauthenticated { .. }) {
        if let Some(state) = req.rocket().state::<SecurityState>() {
            state.send(crate::signals::Signal::UserUnauthenticated);
        }
    }
    let status = denial.status();
    GuardLocal::of(req).set_denial(denial.clone());
    Outcome::Error((status, denial))
}

/// The request guard the security attributes expand to.
///
/// Use it by hand with your own [`RouteRequirement`]:
///
/// ```
/// use security_runtime::{AuthRequirement, Guard, Mechanism, Requirement, RouteRequirement};
///
/// struct AdminOnly;
/// impl RouteRequirement for AdminOnly {
///     const REQUIREMENT: Requirement = Requirement {
///         auth: Some(AuthRequirement { mechanisms: &[Mechanism::Session], ..AuthRequirement::DEFAULT }),
///         roles_required: &["admin"],
///         ..Requirement::NONE
///     };
///     const HANDLER: &'static str = "admin";
/// }
///
/// #[rocket::get("/admin")]
/// fn admin(_g: Guard<AdminOnly>) -> &'static str { "secret" }
/// ```
pub struct Guard<R: RouteRequirement> {
    authn: Option<Authn>,
    _r: PhantomData<R>,
}

impl<R: RouteRequirement> Guard<R> {
    /// The authentication that satisfied the route, if it demanded one.
    pub fn authn(&self) -> Option<&Authn> {
        self.authn.as_ref()
    }
}

#[rocket::async_trait]
impl<'r, R: RouteRequirement> FromRequest<'r> for Guard<R> {
    type Error = Denial;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Denial> {
        match evaluate(req, &R::REQUIREMENT, R::HANDLER).await {
            Ok(authn) => Outcome::Success(Guard {
                authn,
                _r: PhantomData,
            }),
            Err(d) => deny(req, d),
        }
    }
}

impl<R: RouteRequirement> Sentinel for Guard<R> {
    fn abort(rocket: &rocket::Rocket<rocket::Ignite>) -> bool {
        if rocket.state::<SecurityState>().is_none() {
            rocket::error!(
                "route `{}` is protected but the `Security` fairing is not attached",
                R::HANDLER
            );
            return true;
        }
        false
    }
}

/// The authenticated user, as the application's user type.
///
/// After a security attribute it is the user the route authenticated (no second
/// query); on its own it is Flask-Login's `current_user` (token, then session) and
/// answers 401 when nobody is signed in. Use `Option<CurrentUser>` for optional users.
///
/// `CurrentUser<User>` shares the user the guard found (the auth cache's, when the cache
/// answered) rather than copying it; an application type is built for each
/// `CurrentUser` with [`UserModel::from_shared`], by default [`UserModel::from_user`].
pub struct CurrentUser<U: UserModel = User> {
    user: Held<U>,
    via: Mechanism,
    paa: Option<f64>,
}

/// The user of a [`CurrentUser`]: its own, or shared with others (then with the stored
/// user it came from, which [`CurrentUser::into_inner`] builds an owned one from).
enum Held<U> {
    Own(U),
    Shared(Arc<U>, Arc<User>),
}

impl<U: UserModel> Held<U> {
    fn new(stored: Arc<User>) -> Held<U> {
        match Arc::try_unwrap(U::from_shared(&stored)) {
            Ok(own) => Held::Own(own),
            Err(shared) => Held::Shared(shared, stored),
        }
    }
}

impl<U: UserModel> CurrentUser<U> {
    /// How the user authenticated (`fs_authn_via`).
    pub fn authn_via(&self) -> Mechanism {
        self.via
    }

    /// When the user last authenticated with a primary factor (epoch seconds).
    pub fn fs_paa(&self) -> Option<f64> {
        self.paa
    }

    /// The application's user, owned: the one built for this `CurrentUser`, or, where
    /// the user is shared (`CurrentUser<User>`), one built with
    /// [`UserModel::from_user`] (for [`User`], a copy).
    pub fn into_inner(self) -> U {
        match self.user {
            Held::Own(own) => own,
            Held::Shared(_, stored) => U::from_user(&stored),
        }
    }
}

impl<U: UserModel> Deref for CurrentUser<U> {
    type Target = U;
    fn deref(&self) -> &U {
        match &self.user {
            Held::Own(own) => own,
            Held::Shared(shared, _) => shared,
        }
    }
}

#[rocket::async_trait]
impl<'r, U: UserModel> FromRequest<'r> for CurrentUser<U> {
    type Error = Denial;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Denial> {
        match current_user(req).await {
            Ok(Some(a)) => Outcome::Success(CurrentUser {
                user: Held::new(a.user),
                via: a.via,
                paa: a.paa,
            }),
            Ok(None) => {
                let realm = state(req)
                    .map(|s| s.config.default_http_auth_realm.clone())
                    .unwrap_or_default();
                deny(
                    req,
                    Denial::Unauthenticated {
                        mechanisms: vec![Mechanism::Token, Mechanism::Session],
                        realm,
                    },
                )
            }
            Err(()) => deny(req, Denial::Unavailable),
        }
    }
}

impl<U: UserModel> Sentinel for CurrentUser<U> {
    fn abort(rocket: &rocket::Rocket<rocket::Ignite>) -> bool {
        rocket.state::<SecurityState>().is_none()
    }
}
