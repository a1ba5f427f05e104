//! Bounded, process-wide memos of what a text decodes to, for texts a client sends again
//! and again (an auth token's compressed payload, a stored session's JSON).
//!
//! A memo is pure: the text determines the value, and whether the token or session is
//! still good is decided afresh on every request before its text gets here. Only short
//! texts are kept, up to a total weight in bytes.

/// Values by the text they were decoded from.
pub(crate) struct TextMemo<V> {
    cache: quick_cache::sync::Cache<Box<str>, V, Weight<V>>,
    entry_max: usize,
}

/// An entry's weight in bytes, as the memo's owner counts it.
struct Weight<V> {
    entry: fn(&str, &V) -> usize,
}

impl<V> Clone for Weight<V> {
    fn clone(&self) -> Self {
        Weight { entry: self.entry }
    }
}

impl<V> quick_cache::Weighter<Box<str>, V> for Weight<V> {
    fn weight(&self, text: &Box<str>, value: &V) -> u64 {
        (self.entry)(text, value) as u64
    }
}

impl<V: Clone> TextMemo<V> {
    /// A memo of `total_bytes` at most, keeping texts of up to `entry_max` bytes; `entry`
    /// gives an entry's bytes: its text, its value and its overhead (slot, table, pointers).
    pub(crate) fn new(total_bytes: usize, entry_max: usize, entry: fn(&str, &V) -> usize) -> Self {
        TextMemo {
            cache: quick_cache::sync::Cache::with_weighter(
                total_bytes / 256,
                total_bytes as u64,
                Weight { entry },
            ),
            entry_max,
        }
    }

    /// The value kept for `text`; never one for a text too long to keep.
    pub(crate) fn get(&self, text: &str) -> Option<V> {
        if text.len() > self.entry_max {
            return None;
        }
        self.cache.get(text)
    }

    /// Keeps `value` for `text`, unless the text is too long.
    pub(crate) fn keep(&self, text: &str, value: V) {
        if text.len() <= self.entry_max {
            self.cache.insert(text.into(), value);
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Texts this thread decoded for a memo. Tests count them: a thread runs one test at
    /// a time, and each test decodes one kind of text.
    static DECODED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts one decoding of a text that a memo may keep (read with [`decoded`]).
#[cfg(test)]
pub(crate) fn count_decode() {
    DECODED.with(|n| n.set(n.get() + 1));
}

/// The texts this thread decoded so far.
#[cfg(test)]
pub(crate) fn decoded() -> usize {
    DECODED.with(std::cell::Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_short_texts_within_its_weight() {
        let memo = TextMemo::<u32>::new(1024, 16, |text, _| text.len() + 48);
        memo.keep("short", 1);
        assert_eq!(memo.get("short"), Some(1));
        assert_eq!(memo.get("other"), None);
        let long = "x".repeat(17);
        memo.keep(&long, 2);
        assert_eq!(memo.get(&long), None, "longer than entry_max");
        // 64 bytes an entry (16 of text), 1024 in all: at most 16 of 100 stay.
        for i in 0..100u32 {
            memo.keep(&format!("text-{i:011}"), i);
        }
        let kept = (0..100u32)
            .filter(|i| memo.get(&format!("text-{i:011}")).is_some())
            .count();
        assert!((1..=16).contains(&kept), "{kept}");
    }
}
