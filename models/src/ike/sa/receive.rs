//! Receiving: protected messages after the Message ID check, fragments, and the
//! dispatch of requests and responses to the exchange modules (RFC 7296 §2.1, §2.5,
//! §2.21; RFC 7383 §2.6).

use sim::SimTime;

use super::core::{Incoming, Request};
use super::fragments::{Inserted, MessageKey};
use super::ike_sa::{IkeSa, Path, Sel};
use super::{FailReason, IkeEvent};
use crate::ike::crypto::{OpenError, reassemble};
use crate::ike::wire::{ExchangeType, Message, NotifyType, Payload, unsupported_critical};

impl IkeSa {
    /// A protected message of generation `sel` that passed the Message ID check.
    pub(super) fn on_protected(
        &mut self,
        now: SimTime,
        sel: Sel,
        path: Path,
        msg: &Message,
        raw: &[u8],
        kind: Incoming,
    ) {
        let Some(core) = self.core_ref(sel) else {
            return;
        };
        let fragment = msg.encrypted().and_then(|e| e.fragment);
        if kind == Incoming::Retransmission {
            // RFC 7383 §2.6.1: only fragment 1 of a retransmission triggers the resend.
            let first = fragment.is_none_or(|f| f.number == 1);
            let authentic = match fragment {
                Some(_) => core.open_fragment(msg, raw).is_ok(),
                None => core
                    .open(msg, raw)
                    .map_or_else(|e| e.notify_type().is_some(), |_| true),
            };
            if first && authentic {
                self.resend_response(sel, path);
            } else if !authentic {
                self.stats.dropped_integrity += 1;
            }
            return;
        }
        let opened = if fragment.is_some() {
            match self.collect_fragment(now, sel, msg, raw) {
                Some(result) => result,
                None => return,
            }
        } else {
            core.open(msg, raw)
        };
        let payloads = match opened {
            Ok(payloads) => payloads,
            Err(e) if e.notify_type().is_some() => {
                self.on_syntax_error(sel, path, msg, kind);
                return;
            }
            Err(_) => {
                self.stats.dropped_integrity += 1;
                return;
            }
        };
        self.stats.messages_received += 1;
        self.last_received = self.last_received.max(now);
        // RFC 4555 §3.5, §3.8: with MOBIKE the initiator alone decides its addresses; the
        // responder still follows a NAT rebinding, but only on requests (a late response
        // from an address already left must not undo an UPDATE_SA_ADDRESSES).
        let dynamic =
            !self.mobike_negotiated() || (!self.original_initiator && kind == Incoming::NewRequest);
        if self.nat.any() && dynamic {
            self.local = path.local;
            self.remote = path.remote;
        }
        if let Some(ty) = unsupported_critical(&payloads) {
            if kind == Incoming::NewRequest {
                let critical = NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD;
                self.respond_notify(sel, path, msg, critical, vec![ty.0]);
            } else {
                self.fail(FailReason::InvalidSyntax);
            }
            return;
        }
        self.mobike.note_path(path.local, path.remote);
        match kind {
            Incoming::NewRequest => self.on_request(now, sel, path, msg, &payloads),
            _ => self.on_response(now, sel, &payloads),
        }
    }

    /// Adds an SKF fragment; `Some` once the message is complete (or unusable).
    fn collect_fragment(
        &mut self,
        now: SimTime,
        sel: Sel,
        msg: &Message,
        raw: &[u8],
    ) -> Option<Result<Vec<Payload>, OpenError>> {
        let policy = self.config.fragmentation;
        let core = match sel {
            Sel::Current => &mut self.core,
            Sel::Old => &mut self.old.as_mut()?.core,
        };
        let Ok(fragment) = core.open_fragment(msg, raw) else {
            self.stats.dropped_integrity += 1;
            return None;
        };
        self.stats.fragments_received += 1;
        let key = MessageKey {
            message_id: msg.message_id,
            response: msg.flags.response,
        };
        match core.reassembly.insert(now, key, fragment, &policy) {
            Inserted::Complete(fragments) => Some(reassemble(&fragments)),
            Inserted::Overflow => {
                self.stats.reassembly_discarded += 1;
                None
            }
            Inserted::Pending | Inserted::Ignored => None,
        }
    }

    /// An authenticated message was malformed: answer a request with INVALID_SYNTAX,
    /// then close the SA either way (RFC 7296 §2.21.3).
    fn on_syntax_error(&mut self, sel: Sel, path: Path, msg: &Message, kind: Incoming) {
        if kind == Incoming::NewRequest {
            self.respond_notify(sel, path, msg, NotifyType::INVALID_SYNTAX, Vec::new());
        }
        self.fail(FailReason::InvalidSyntax);
    }

    /// A new authenticated request.
    fn on_request(
        &mut self,
        now: SimTime,
        sel: Sel,
        path: Path,
        msg: &Message,
        payloads: &[Payload],
    ) {
        match msg.exchange_type {
            ExchangeType::IKE_AUTH if sel == Sel::Current => {
                self.respond_auth(now, path, msg, payloads);
            }
            ExchangeType::CREATE_CHILD_SA if sel == Sel::Current && self.is_established() => {
                self.respond_create_child(now, path, msg, payloads);
            }
            ExchangeType::CREATE_CHILD_SA => {
                let busy = NotifyType::TEMPORARY_FAILURE;
                self.respond_notify(sel, path, msg, busy, Vec::new());
            }
            ExchangeType::INFORMATIONAL => {
                self.respond_informational(now, sel, path, msg, payloads);
            }
            _ => self.stats.dropped_unexpected += 1,
        }
    }

    /// The authenticated response to our outstanding request on generation `sel`.
    fn on_response(&mut self, now: SimTime, sel: Sel, payloads: &[Payload]) {
        let Some(out) = self
            .core_rng(sel)
            .and_then(|(core, _)| core.outstanding.take())
        else {
            return;
        };
        self.stats.exchanges_completed += 1;
        match out.request {
            Request::SaInit => {}
            Request::Auth => self.on_auth_response(now, payloads),
            Request::RekeyChild(rekey) => self.on_child_rekey_response(now, *rekey, payloads),
            Request::RekeyIke(rekey) => self.on_ike_rekey_response(now, *rekey, payloads),
            Request::DeleteChild(spi) => self.on_delete_child_response(spi),
            Request::DeleteIke => match sel {
                Sel::Current => self.close(IkeEvent::Deleted),
                Sel::Old => self.old = None,
            },
            Request::Liveness => {}
            Request::HaSync(nonce) => self.on_ha_sync_response(now, nonce, payloads),
            Request::Mobike(request) => self.on_mobike_response(request, payloads),
        }
    }
}
