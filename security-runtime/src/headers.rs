//! Header lookups for the per-request path, without hashing the name.
//!
//! Rocket's `HeaderMap` is an `IndexMap` keyed by case-insensitive names, hashed with
//! SipHash one lowercased byte at a time: looking up `Authentication-Token` costs about
//! 1,300 instructions, `Cache-Control` about 800, whether the header is there or not. A
//! request or response has a handful of headers, and comparing their names (length
//! first) costs a tenth of that. These functions answer as `get_one`, `contains` and
//! `get` do (`has` differs only for a name kept without values, see there).

use std::borrow::Cow;

use rocket::http::{Header, HeaderMap};

/// The first value of header `name` (any case), as `HeaderMap::get_one`.
pub(crate) fn first<'m>(headers: &'m HeaderMap<'_>, name: &str) -> Option<&'m str> {
    let header = headers.iter().find(|h| named(h, name))?;
    match header.value {
        Cow::Borrowed(value) => Some(value),
        // `HeaderMap::iter` lends every value; should that change, ask the map.
        Cow::Owned(_) => headers.get_one(name),
    }
}

/// Whether header `name` (any case) has a value. `HeaderMap::contains` also says yes to a
/// name left without values (`add_all` of none), which sends nothing.
pub(crate) fn has(headers: &HeaderMap<'_>, name: &str) -> bool {
    headers.iter().any(|h| named(&h, name))
}

/// Every value of header `name` (any case), in order, as `HeaderMap::get`.
pub(crate) fn all<'m>(
    headers: &'m HeaderMap<'_>,
    name: &'m str,
) -> impl Iterator<Item = Header<'m>> {
    headers.iter().filter(move |h| named(h, name))
}

/// Whether `header` is called `name`, in any case.
fn named(header: &Header<'_>, name: &str) -> bool {
    header.name().as_str().eq_ignore_ascii_case(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> HeaderMap<'static> {
        let mut m = HeaderMap::new();
        m.add(Header::new("Host", "example.com"));
        m.add(Header::new("authentication-token", "first"));
        m.add(Header::new("Authentication-Token", "second"));
        m.add(Header::new("Set-Cookie", "a=1"));
        m.add(Header::new("set-cookie", "b=2"));
        m.add(Header::new("X-Empty", ""));
        m
    }

    #[test]
    fn answers_as_rockets_lookups() {
        let m = map();
        for name in [
            "Authentication-Token",
            "AUTHENTICATION-TOKEN",
            "authentication-tokeN",
            "Host",
            "Set-Cookie",
            "X-Empty",
            "Cache-Control",
            "",
            "Authentication-Toke",
            "Authentication-Tokens",
        ] {
            assert_eq!(first(&m, name), m.get_one(name), "{name}");
            assert_eq!(has(&m, name), m.contains(name), "{name}");
            let ours: Vec<String> = all(&m, name).map(|h| h.value().to_owned()).collect();
            let rockets: Vec<&str> = m.get(name).collect();
            assert_eq!(ours, rockets, "{name}");
        }
        assert_eq!(first(&m, "authentication-token"), Some("first"));
        assert_eq!(all(&m, "SET-COOKIE").count(), 2);
    }

    #[test]
    fn an_empty_map_has_nothing() {
        let m = HeaderMap::new();
        assert_eq!(first(&m, "Cookie"), None);
        assert!(!has(&m, "Cookie"));
        assert_eq!(all(&m, "Cookie").count(), 0);
    }
}
