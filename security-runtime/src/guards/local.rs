//! What the guards remember during one request, kept as one request-local value: each
//! value in Rocket's request-local cache costs an allocation and a map insert (the map's
//! work was 3 % of a cached session request's instructions with six of them).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use rocket::request::Request;
use tokio::sync::OnceCell;

use super::authn::{Authn, Loaded};
use super::requirement::Mechanism;
use crate::responses::Denial;

/// The guards' state of a request.
#[derive(Default)]
pub(crate) struct GuardLocal {
    /// A security guard evaluated the request: its answer depends on who asked.
    guarded: AtomicBool,
    /// The denial a guard recorded, for the fairing to answer.
    denial: Mutex<Option<Denial>>,
    /// The authentication a route's guard settled on.
    route_auth: Mutex<Option<Authn>>,
    /// What each mechanism found, looked up at most once.
    token: OnceCell<Loaded>,
    session: OnceCell<Loaded>,
    basic: OnceCell<Loaded>,
    /// An `#[unauth_csrf(fall_through)]` route let a failed CSRF check through.
    csrf_failed: AtomicBool,
}

impl GuardLocal {
    /// The state of `req`.
    pub(crate) fn of<'r>(req: &'r Request<'_>) -> &'r GuardLocal {
        req.local_cache(GuardLocal::default)
    }

    pub(crate) fn mark_guarded(&self) {
        self.guarded.store(true, Ordering::Relaxed);
    }

    pub(crate) fn guarded(&self) -> bool {
        self.guarded.load(Ordering::Relaxed)
    }

    pub(crate) fn set_denial(&self, denial: Denial) {
        if let Ok(mut g) = self.denial.lock() {
            *g = Some(denial);
        }
    }

    /// Takes the recorded denial.
    pub(crate) fn take_denial(&self) -> Option<Denial> {
        self.denial.lock().ok().and_then(|mut g| g.take())
    }

    pub(crate) fn set_route_auth(&self, authn: Authn) {
        if let Ok(mut g) = self.route_auth.lock() {
            *g = Some(authn);
        }
    }

    pub(crate) fn route_auth(&self) -> Option<Authn> {
        self.route_auth.lock().ok().and_then(|g| g.clone())
    }

    /// The cell holding what `mechanism` found.
    pub(crate) fn found(&self, mechanism: Mechanism) -> &OnceCell<Loaded> {
        match mechanism {
            Mechanism::Token => &self.token,
            Mechanism::Session => &self.session,
            Mechanism::Basic => &self.basic,
        }
    }

    pub(crate) fn fail_csrf(&self) {
        self.csrf_failed.store(true, Ordering::Relaxed);
    }

    pub(crate) fn csrf_failed(&self) -> bool {
        self.csrf_failed.load(Ordering::Relaxed)
    }
}
