//! Stored sessions' data, parsed once per text.
//!
//! A signed-in browser sends the same session with every request, and its stored JSON
//! changes only when the session does (sign-in, CSRF secret, two-factor step, freshness
//! grace). Parsing it was 3,600 instructions of a cached session request (4 %); the memo
//! hands out one shared copy, so a request copies nothing. A pure memo: the text
//! determines the data, and whether the session is still good (its row, its age, the
//! user behind it) is decided afresh on every request before its text gets here.

use std::sync::Arc;

use super::SessionData;
use crate::memo::TextMemo;

/// Session texts and their data, [`MEMO_BYTES`] in all.
static PARSED: std::sync::LazyLock<TextMemo<Arc<SessionData>>> = std::sync::LazyLock::new(|| {
    // The text twice: the key, and the strings parsed from it.
    TextMemo::new(MEMO_BYTES, ENTRY_MAX, |text, _| {
        2 * text.len() + ENTRY_OVERHEAD
    })
});

/// Bytes the memo's entries weigh at most in all.
const MEMO_BYTES: usize = 4 * 1024 * 1024;
/// Longest text the memo keeps (a signed-in session's is ~200 bytes).
const ENTRY_MAX: usize = 2048;
/// What an entry costs besides twice its text (the parsed strings, the slot, the table).
const ENTRY_OVERHEAD: usize = 128;

/// The data a stored session's text holds; `None` when it is not a session's JSON.
pub(super) fn parse(text: &str) -> Option<Arc<SessionData>> {
    if let Some(data) = PARSED.get(text) {
        return Some(data);
    }
    let data: Arc<SessionData> = Arc::new(serde_json::from_str(text).ok()?);
    #[cfg(test)]
    crate::memo::count_decode();
    PARSED.keep(text, Arc::clone(&data));
    Some(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memo::decoded as parses;

    #[test]
    fn a_text_is_parsed_once_and_read_the_same() {
        let text = format!(
            r#"{{"_user_id":"u-{:016x}","fs_paa":1.5,"csrf":"abc","tf_state":"ready"}}"#,
            rand::random::<u64>()
        );
        let fresh: SessionData = serde_json::from_str(&text).expect("json");
        let before = parses();
        let first = parse(&text).expect("parsed");
        assert_eq!(*first, fresh);
        assert_eq!(parses(), before + 1);
        for _ in 0..3 {
            let again = parse(&text).expect("parsed");
            assert!(Arc::ptr_eq(&again, &first), "the same copy, not a new one");
        }
        assert_eq!(parses(), before + 1, "read from the memo");
        // Another text, another entry: nothing is shared between sessions.
        let other = text.replace("abc", "abd");
        let parsed = parse(&other).expect("parsed");
        assert_eq!(parsed.csrf.as_deref(), Some("abd"));
        assert_eq!(parses(), before + 2);
    }

    #[test]
    fn what_is_not_a_session_is_none_and_not_kept() {
        let before = parses();
        for text in ["", "not json", "[1,2]", r#"{"_user_id":5}"#] {
            assert_eq!(parse(text), None, "{text}");
            assert!(PARSED.get(text).is_none());
        }
        assert_eq!(parses(), before);
        let long = format!(r#"{{"csrf":"{}"}}"#, "a".repeat(ENTRY_MAX));
        assert_eq!(
            parse(&long).and_then(|d| d.csrf.as_ref().map(String::len)),
            Some(ENTRY_MAX)
        );
        assert!(PARSED.get(long.as_str()).is_none(), "too long to keep");
    }
}
