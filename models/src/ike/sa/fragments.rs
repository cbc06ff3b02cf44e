//! Reassembly of IKE fragments with limits (RFC 7383 §2.6; protocol.md 5.4).
//!
//! One set is kept per IKE SA: the fragments of one message (a Message ID and a
//! direction). Fragments reach this module authenticated and decrypted
//! (`crypto::open_fragment`), so a forger cannot fill it. The rules:
//!
//! - a fragment of another message replaces the set (a newer message, or a retransmission
//!   with a different fragment size);
//! - a larger Total Fragments restarts the set, a smaller one is dropped (RFC 7383
//!   §2.6.1: the sender only ever lowers the fragment size, raising the count);
//! - a fragment number already held is a replay and dropped;
//! - more than `max_fragments`, more than `max_reassembly_bytes` of plaintext, or an
//!   incomplete set older than `reassembly_timeout` discards the whole set.

use std::collections::BTreeMap;

use sim::SimTime;

use super::FragmentationPolicy;
use crate::ike::crypto::DecryptedFragment;

/// What happened to a fragment offered to [`Reassembly::insert`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Inserted {
    /// Kept; the message is not complete yet.
    Pending,
    /// The message is complete: its fragments, in number order.
    Complete(Vec<DecryptedFragment>),
    /// Ignored: a replay, or a Total smaller than the set's.
    Ignored,
    /// A limit was exceeded and the set discarded.
    Overflow,
}

/// Which message a set belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MessageKey {
    /// Message ID.
    pub(crate) message_id: u32,
    /// Whether the message is a response.
    pub(crate) response: bool,
}

#[derive(Debug, Clone)]
struct Set {
    key: MessageKey,
    total: u16,
    fragments: BTreeMap<u16, DecryptedFragment>,
    bytes: usize,
    started: SimTime,
}

/// The reassembly buffer of one IKE SA.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reassembly {
    set: Option<Set>,
}

impl Reassembly {
    /// Adds an authenticated fragment of message `key`.
    pub(crate) fn insert(
        &mut self,
        now: SimTime,
        key: MessageKey,
        fragment: DecryptedFragment,
        policy: &FragmentationPolicy,
    ) -> Inserted {
        let total = fragment.info.total;
        if total > policy.max_fragments {
            self.set = None;
            return Inserted::Overflow;
        }
        let restart = match &self.set {
            Some(set) if set.key == key && total <= set.total => {
                if total < set.total || set.fragments.contains_key(&fragment.info.number) {
                    return Inserted::Ignored;
                }
                false
            }
            _ => true,
        };
        if restart {
            self.set = Some(Set {
                key,
                total,
                fragments: BTreeMap::new(),
                bytes: 0,
                started: now,
            });
        }
        let set = self.set.as_mut().expect("set just ensured");
        set.bytes += fragment.plaintext.len();
        if set.bytes > policy.max_reassembly_bytes {
            self.set = None;
            return Inserted::Overflow;
        }
        set.fragments.insert(fragment.info.number, fragment);
        if set.fragments.len() < usize::from(set.total) {
            return Inserted::Pending;
        }
        let set = self.set.take().expect("set present");
        Inserted::Complete(set.fragments.into_values().collect())
    }

    /// When the current set times out.
    pub(crate) fn deadline(&self, policy: &FragmentationPolicy) -> Option<SimTime> {
        self.set
            .as_ref()
            .map(|set| set.started.saturating_add(policy.reassembly_timeout))
    }

    /// Discards the current set (on timeout or overflow); whether there was one.
    pub(crate) fn discard(&mut self) -> bool {
        self.set.take().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ike::wire::{FragmentInfo, PayloadType};

    fn fragment(number: u16, total: u16, len: usize) -> DecryptedFragment {
        DecryptedFragment {
            info: FragmentInfo { number, total },
            next_payload: PayloadType::NO_NEXT_PAYLOAD,
            plaintext: vec![number as u8; len],
        }
    }

    const KEY: MessageKey = MessageKey {
        message_id: 1,
        response: false,
    };

    #[test]
    fn completes_in_any_order_and_ignores_replays() {
        let policy = FragmentationPolicy::default();
        let mut r = Reassembly::default();
        let now = SimTime::ZERO;
        assert_eq!(
            r.insert(now, KEY, fragment(2, 3, 10), &policy),
            Inserted::Pending
        );
        assert_eq!(
            r.insert(now, KEY, fragment(2, 3, 10), &policy),
            Inserted::Ignored
        );
        assert_eq!(
            r.insert(now, KEY, fragment(3, 3, 10), &policy),
            Inserted::Pending
        );
        let Inserted::Complete(all) = r.insert(now, KEY, fragment(1, 3, 10), &policy) else {
            panic!("expected a complete message");
        };
        let numbers: Vec<u16> = all.iter().map(|f| f.info.number).collect();
        assert_eq!(numbers, [1, 2, 3]);
        assert_eq!(r.deadline(&policy), None);
    }

    #[test]
    fn larger_total_restarts_smaller_is_ignored() {
        let policy = FragmentationPolicy::default();
        let mut r = Reassembly::default();
        let now = SimTime::ZERO;
        assert_eq!(
            r.insert(now, KEY, fragment(1, 2, 10), &policy),
            Inserted::Pending
        );
        assert_eq!(
            r.insert(now, KEY, fragment(1, 3, 10), &policy),
            Inserted::Pending
        );
        assert_eq!(
            r.insert(now, KEY, fragment(2, 2, 10), &policy),
            Inserted::Ignored
        );
        assert_eq!(
            r.insert(now, KEY, fragment(2, 3, 10), &policy),
            Inserted::Pending
        );
        assert!(matches!(
            r.insert(now, KEY, fragment(3, 3, 10), &policy),
            Inserted::Complete(_)
        ));
    }

    #[test]
    fn limits_discard_the_set() {
        let policy = FragmentationPolicy {
            max_fragments: 4,
            max_reassembly_bytes: 25,
            ..FragmentationPolicy::default()
        };
        let mut r = Reassembly::default();
        let now = SimTime::ZERO;
        assert_eq!(
            r.insert(now, KEY, fragment(1, 5, 1), &policy),
            Inserted::Overflow
        );
        assert_eq!(
            r.insert(now, KEY, fragment(1, 4, 10), &policy),
            Inserted::Pending
        );
        assert_eq!(
            r.insert(now, KEY, fragment(2, 4, 10), &policy),
            Inserted::Pending
        );
        assert_eq!(
            r.insert(now, KEY, fragment(3, 4, 10), &policy),
            Inserted::Overflow
        );
        assert_eq!(r.deadline(&policy), None);
        assert_eq!(
            r.insert(now, KEY, fragment(4, 4, 10), &policy),
            Inserted::Pending
        );
        assert_eq!(
            r.deadline(&policy),
            Some(now.saturating_add(policy.reassembly_timeout))
        );
        assert!(r.discard());
        assert!(!r.discard());
    }
}
