//! RFC 6311: Message ID and replay counter synchronisation after an HA cluster failover.
//!
//! Negotiation: the initiator announces IKEV2_MESSAGE_ID_SYNC_SUPPORTED and
//! IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED in IKE_AUTH, the responder echoes those it supports
//! as well (it MUST NOT claim one the initiator did not, §6); only those both announced
//! are used.
//!
//! The **member** side is an SA restored from a replica on the new active node
//! ([`IkeSa::from_replica`]): its Message IDs and ESP counters may be stale. It sends
//! `HDR(MID=0), SK{N(IKEV2_MESSAGE_ID_SYNC), [N(IPSEC_REPLAY_COUNTER_SYNC)]}` once it can
//! reach the peer ([`IkeSa::start_ha_sync`]: at once over UDP; over TCP only after the
//! client has reconnected, RFC 9329 §7.4), or by itself when an authenticated message of
//! the peer arrives (§7: "a packet outside the expected window"). Messages outside the
//! window are dropped meanwhile (§8.1). The **peer** answers with
//! `M2 = max(M1, highest cluster value + 1)` and `P2 = max(P1, own next request ID)`,
//! echoes the nonce, adopts both values, and abandons its pending exchange (§5.1); a
//! liveness check pending is answered by the sync itself, anything else is started again.
//!
//! Only the replay counter capability: an ordinary INFORMATIONAL with
//! N(IPSEC_REPLAY_COUNTER_SYNC) on the current Message IDs (§5.2, case 2).

use sim::SimTime;

use super::HaSyncSupport;
use super::IkeEvent;
use super::child::ChildState;
use super::core::Request;
use super::ike_sa::{IkeSa, Path, Sel, State, Task};
use super::info::notify;
use super::mobike::{MobikeRequest, MobikeTask};
use crate::ike::wire::{ExchangeType, Message, NotifyPayload, NotifyType, Payload, Reader};

/// An SA restored on a new active cluster member, until it is synchronised.
#[derive(Debug, Clone, Copy)]
pub(super) struct Restored {
    /// When it was restored.
    pub(super) at: SimTime,
    /// Where the sync is.
    pub(super) sync: SyncProgress,
    /// The delta for IPSEC_REPLAY_COUNTER_SYNC (the member's own jump).
    pub(super) replay_delta: u32,
}

/// The member's sync exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SyncProgress {
    /// Not started.
    Pending,
    /// Request sent.
    Sent,
}

/// The peer's memory of the cluster's syncs (§5.1: drop a stale one, answer a
/// retransmitted one again).
#[derive(Debug, Clone)]
pub(super) struct PeerSync {
    /// The highest EXPECTED_SEND_REQ_MESSAGE_ID accepted.
    max_m1: u32,
    /// The nonce of the last sync answered, and the answer.
    nonce: [u8; 4],
    answer: Vec<Vec<u8>>,
}

/// The data of an IKEV2_MESSAGE_ID_SYNC notify: nonce, the sender's next request ID, and
/// the request ID it expects next (RFC 6311 §5.1, 12 octets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MessageIdSync {
    pub(crate) nonce: [u8; 4],
    pub(crate) send: u32,
    pub(crate) recv: u32,
}

impl MessageIdSync {
    fn parse(data: &[u8]) -> Option<Self> {
        let mut r = Reader::new(data);
        let nonce = r.array().ok()?;
        let send = r.u32().ok()?;
        let recv = r.u32().ok()?;
        r.finish().ok()?;
        Some(Self { nonce, send, recv })
    }

    fn notify(self) -> Payload {
        let mut data = Vec::with_capacity(12);
        data.extend_from_slice(&self.nonce);
        data.extend_from_slice(&self.send.to_be_bytes());
        data.extend_from_slice(&self.recv.to_be_bytes());
        Payload::Notify(NotifyPayload::new(NotifyType::IKEV2_MESSAGE_ID_SYNC, data))
    }
}

/// The peer's answer to a sync request, given the Message ID it expects next from the
/// cluster and its own next request ID (§5.1): it will expect `max(M1, expected)` and
/// send `max(P1, next)`, in its own order (send first).
pub(crate) fn answer_sync(request: MessageIdSync, expected: u32, next: u32) -> MessageIdSync {
    MessageIdSync {
        nonce: request.nonce,
        send: request.recv.max(next),
        recv: request.send.max(expected),
    }
}

/// The IPSEC_REPLAY_COUNTER_SYNC delta (4 octets without ESN, 8 with, §5.2).
fn replay_delta(payloads: &[Payload]) -> Option<u64> {
    let data = &notify(payloads, NotifyType::IPSEC_REPLAY_COUNTER_SYNC)?.data;
    match data.len() {
        4 => data
            .as_slice()
            .try_into()
            .ok()
            .map(u32::from_be_bytes)
            .map(u64::from),
        8 => data.as_slice().try_into().ok().map(u64::from_be_bytes),
        _ => None,
    }
}

/// The capabilities announced in `payloads`.
pub(super) fn announced(payloads: &[Payload]) -> HaSyncSupport {
    HaSyncSupport {
        message_id: notify(payloads, NotifyType::IKEV2_MESSAGE_ID_SYNC_SUPPORTED).is_some(),
        replay_counter: notify(payloads, NotifyType::IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED).is_some(),
    }
}

/// The notifies announcing `caps` in IKE_AUTH.
pub(super) fn announce(caps: HaSyncSupport) -> impl Iterator<Item = Payload> {
    [
        (caps.message_id, NotifyType::IKEV2_MESSAGE_ID_SYNC_SUPPORTED),
        (
            caps.replay_counter,
            NotifyType::IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED,
        ),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, ty)| Payload::Notify(NotifyPayload::new(ty, Vec::new())))
}

impl IkeSa {
    /// The RFC 6311 capabilities both peers announced (none before IKE_AUTH).
    pub const fn ha_sync(&self) -> HaSyncSupport {
        self.ha
    }

    /// Whether this SA was restored after a failover and is not yet synchronised.
    pub fn is_restoring(&self) -> bool {
        self.restored.is_some()
    }

    /// Member: start the RFC 6311 sync now (the peer is reachable: over UDP at once,
    /// over TCP once the client reconnected). Without any negotiated capability there
    /// is nothing to send: the SA counts as restored once the peer is heard from.
    /// At most one sync per failover (§7).
    pub fn start_ha_sync(&mut self) {
        let pending = self
            .restored
            .is_some_and(|r| r.sync == SyncProgress::Pending);
        if !pending || !self.is_established() {
            return;
        }
        if self.ha == HaSyncSupport::NONE {
            return;
        }
        self.queue_first(Task::HaSync);
        self.rearm();
    }

    /// Member: the peer was heard from (authenticated IKE or ESP). Triggers the sync
    /// (§7), or completes the restore when nothing can be synchronised.
    pub(super) fn peer_heard(&mut self, now: SimTime) {
        let Some(r) = self.restored else {
            return;
        };
        if self.ha == HaSyncSupport::NONE {
            self.restored = None;
            let after = now.saturating_duration_since(r.at);
            self.events.push_back(IkeEvent::HaRestored { after });
        } else {
            self.start_ha_sync();
        }
    }

    /// Member: the restore timeout passed without a sync: the SA is deleted locally
    /// (its peer is unreachable or gone).
    pub fn fail_restore(&mut self) {
        if self.restored.is_some() {
            self.fail(super::FailReason::NotRestored);
            self.rearm();
        }
    }

    /// Member: sends the sync request (window-independent: Message ID 0, §5.1).
    pub(super) fn start_ha_sync_request(&mut self, now: SimTime) {
        let Some(restored) = self.restored.as_mut() else {
            return;
        };
        if restored.sync != SyncProgress::Pending {
            return;
        }
        restored.sync = SyncProgress::Sent;
        let delta = restored.replay_delta;
        self.stats.ha_syncs_sent += 1;
        let replay = Payload::Notify(NotifyPayload::new(
            NotifyType::IPSEC_REPLAY_COUNTER_SYNC,
            delta.to_be_bytes().to_vec(),
        ));
        if !self.ha.message_id {
            // Case 2: replay counters only, on the current Message IDs.
            self.send_request(
                now,
                Sel::Current,
                ExchangeType::INFORMATIONAL,
                &[replay],
                Request::HaSync(None),
            );
            return;
        }
        let nonce = self.rng.then_park(|rng| rng.next_u32().to_be_bytes());
        // M1 must exceed any ID known to be used: add the window size (§5.1).
        let sync = MessageIdSync {
            nonce,
            send: self.core.next_request_id.wrapping_add(1),
            recv: self.core.expected_request_id,
        };
        let mut inner = vec![sync.notify()];
        if self.ha.replay_counter {
            inner.push(replay);
        }
        // Sync messages must not be fragmented (RFC 7383 §3).
        let header = self.core.header(ExchangeType::INFORMATIONAL, 0, false);
        let packets = self
            .rng
            .then_park(|rng| self.core.protect(rng, &header, &inner, None));
        self.start_outstanding(
            now,
            Sel::Current,
            0,
            ExchangeType::INFORMATIONAL,
            Request::HaSync(Some(nonce)),
            packets,
        );
    }

    /// Member: the answer to our sync request.
    pub(super) fn on_ha_sync_response(
        &mut self,
        now: SimTime,
        nonce: Option<[u8; 4]>,
        payloads: &[Payload],
    ) {
        if let Some(nonce) = nonce {
            let answer = notify(payloads, NotifyType::IKEV2_MESSAGE_ID_SYNC)
                .and_then(|n| MessageIdSync::parse(&n.data))
                .filter(|a| a.nonce == nonce);
            let Some(answer) = answer else {
                // A wrong nonce is dropped (§5.1): the SA stays unrestored, and the
                // cluster's restore timeout ends it.
                self.stats.dropped_unexpected += 1;
                return;
            };
            // The peer's next request is `answer.send`, it expects ours at `answer.recv`.
            self.core.next_request_id = answer.recv;
            self.core.expected_request_id = answer.send;
            self.core.last_response = None;
        }
        if let Some(r) = self.restored.take() {
            let after = now.saturating_duration_since(r.at);
            self.events.push_back(IkeEvent::HaRestored { after });
        }
    }

    /// Peer and member: a message that RFC 6311 handles before the Message ID check.
    /// Returns true if it was consumed.
    pub(super) fn on_ha_message(
        &mut self,
        now: SimTime,
        path: Path,
        msg: &Message,
        raw: &[u8],
    ) -> bool {
        if !matches!(self.state, State::Established(_)) || !self.core.matches(msg) {
            return false;
        }
        if self.restored.is_some() {
            // Member: any authenticated message of the peer triggers the sync (§7); one
            // outside the window is then dropped (§8.1).
            if self.core.open(msg, raw).is_ok() {
                self.stats.messages_received += 1;
                self.last_received = self.last_received.max(now);
                let consumed = self.core.classify(msg).is_none()
                    && !(msg.flags.response && msg.message_id == 0);
                self.peer_heard(now);
                return consumed;
            }
            return false;
        }
        let sync_request = self.ha.message_id
            && msg.exchange_type == ExchangeType::INFORMATIONAL
            && msg.message_id == 0
            && !msg.flags.response
            && msg.flags.initiator != self.core.initiator;
        if !sync_request {
            return false;
        }
        let Ok(payloads) = self.core.open(msg, raw) else {
            return false;
        };
        let Some(request) = notify(&payloads, NotifyType::IKEV2_MESSAGE_ID_SYNC)
            .and_then(|n| MessageIdSync::parse(&n.data))
        else {
            return false;
        };
        self.on_sync_request(now, path, request, &payloads);
        true
    }

    /// Peer: an IKEV2_MESSAGE_ID_SYNC request from the cluster (§5.1).
    fn on_sync_request(
        &mut self,
        now: SimTime,
        path: Path,
        request: MessageIdSync,
        payloads: &[Payload],
    ) {
        self.stats.messages_received += 1;
        self.last_received = self.last_received.max(now);
        if let Some(prev) = &self.peer_sync
            && prev.nonce == request.nonce
        {
            let answer = prev.answer.clone();
            self.stats.responses_resent += 1;
            self.queue_packets(&answer, path);
            return;
        }
        // §5.1: drop a sync whose M1 is not above an earlier sync's (the values of
        // ordinary messages do not count: a stale member is below them by design).
        if self
            .peer_sync
            .as_ref()
            .is_some_and(|p| request.send <= p.max_m1)
        {
            self.stats.ha_syncs_dropped += 1;
            return;
        }
        let answer = answer_sync(
            request,
            self.core.expected_request_id,
            self.core.next_request_id,
        );
        let (m2, p2) = (answer.recv, answer.send);
        self.abandon_for_sync();
        self.core.expected_request_id = m2;
        self.core.next_request_id = p2;
        self.core.last_response = None;
        let header = self.core.header(ExchangeType::INFORMATIONAL, 0, true);
        let packets = self
            .rng
            .then_park(|rng| self.core.protect(rng, &header, &[answer.notify()], None));
        self.stats.responses_sent += 1;
        self.stats.ha_syncs_answered += 1;
        self.queue_packets(&packets, path);
        self.peer_sync = Some(Box::new(PeerSync {
            max_m1: request.send,
            nonce: request.nonce,
            answer: packets,
        }));
        self.events.push_back(IkeEvent::HaSyncAnswered);
        if let Some(delta) = replay_delta(payloads) {
            self.events.push_back(IkeEvent::ReplayCounterSync { delta });
        }
    }

    /// Peer: an IPSEC_REPLAY_COUNTER_SYNC in an ordinary INFORMATIONAL (§5.2, case 2).
    pub(super) fn on_replay_counter_notify(&mut self, payloads: &[Payload]) {
        if self.ha.replay_counter
            && let Some(delta) = replay_delta(payloads)
        {
            self.events.push_back(IkeEvent::ReplayCounterSync { delta });
        }
    }

    /// Peer: the pending exchange is abandoned by a sync (§5.1). A liveness check is
    /// answered by the sync itself; other exchanges start again on the new IDs.
    fn abandon_for_sync(&mut self) {
        let Some(out) = self.core.outstanding.take() else {
            return;
        };
        let task = match out.request {
            Request::RekeyChild(r) => {
                if let Some(child) = self.children.get_mut(&r.old_spi_in) {
                    child.state = ChildState::Installed;
                }
                Some(Task::RekeyChild(r.old_spi_in))
            }
            Request::RekeyIke(_) => Some(Task::RekeyIke),
            Request::DeleteChild(spi) => Some(Task::DeleteChild(spi)),
            Request::DeleteIke => Some(Task::DeleteIke),
            // A MOBIKE exchange starts again, built for the addresses of now.
            Request::Mobike(m) => Some(Task::Mobike(match m {
                MobikeRequest::Update { .. } => MobikeTask::Update,
                MobikeRequest::ReturnRoutability { .. } => MobikeTask::ReturnRoutability,
                MobikeRequest::Addresses => MobikeTask::Addresses,
            })),
            Request::SaInit | Request::Auth | Request::Liveness | Request::HaSync(_) => None,
        };
        if let Some(task) = task {
            self.queue_first(task);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync(send: u32, recv: u32) -> MessageIdSync {
        MessageIdSync {
            nonce: [1, 2, 3, 4],
            send,
            recv,
        }
    }

    /// RFC 6311 Appendix A: the member's (send, recv), the peer's (send, recv), and the
    /// peer's answer (send, recv).
    #[test]
    fn appendix_a_examples() {
        for ((m_send, m_recv), (p_send, p_recv), expected) in [
            ((0, 5), (5, 0), (5, 0)),
            ((2, 3), (4, 5), (4, 5)),
            ((2, 5), (2, 4), (5, 4)),
        ] {
            // The peer's next request is `p_send`; it expects `p_recv` from the cluster.
            let a = answer_sync(sync(m_send, m_recv), p_recv, p_send);
            assert_eq!((a.send, a.recv), expected, "member ({m_send}, {m_recv})");
            assert_eq!(a.nonce, [1, 2, 3, 4], "the nonce is echoed");
        }
    }

    #[test]
    fn notify_data_round_trips_and_rejects_bad_lengths() {
        let s = sync(7, 9);
        let Payload::Notify(n) = s.notify() else {
            panic!("a notify");
        };
        assert_eq!(n.ty, NotifyType::IKEV2_MESSAGE_ID_SYNC);
        assert_eq!(n.data.len(), 12, "nonce and two Message IDs (§5.1)");
        assert_eq!(MessageIdSync::parse(&n.data), Some(s));
        assert_eq!(MessageIdSync::parse(&n.data[..11]), None);
        let mut long = n.data.clone();
        long.push(0);
        assert_eq!(MessageIdSync::parse(&long), None);
    }
}
