//! The authentication mechanisms Flask-Security names: `token`, `session`, `basic`.

use serde::de::{Deserialize, Deserializer, Error};

/// An authentication mechanism a route accepts.
///
/// Parity: the `token`, `session` and `basic` names of `auth_required`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// `Authentication-Token` header or `auth_token` query key.
    Token,
    /// The session cookie (or remember cookie).
    Session,
    /// HTTP Basic authentication.
    Basic,
}

impl Mechanism {
    /// Lowercase name, as Flask-Security spells it (`fs_authn_via`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Mechanism::Token => "token",
            Mechanism::Session => "session",
            Mechanism::Basic => "basic",
        }
    }

    /// Parses a Flask-Security mechanism name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "token" => Some(Mechanism::Token),
            "session" => Some(Mechanism::Session),
            "basic" => Some(Mechanism::Basic),
            _ => None,
        }
    }
}

/// Read from settings such as `api_enabled_methods`; an unknown name is refused at launch.
impl<'de> Deserialize<'de> for Mechanism {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Mechanism::parse(&name).ok_or_else(|| {
            D::Error::custom(format!(
                "unknown mechanism `{name}` in `security.api_enabled_methods` or \
                 `security.csrf_protect_mechanisms`; expected `token`, `session` or `basic`"
            ))
        })
    }
}
