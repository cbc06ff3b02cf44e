//! An on-path attacker: forwards everything unchanged except as scripted.
//!
//! It exists for the RFC 9329 experiments on connection loss and forged packets: a TCP
//! connection reset by a third party (RFC 9329 §6.4 and §10; RFC 5961 describes why a reset
//! with an exact sequence number succeeds), a black-holed or slowed path, and crafted
//! packets such as an unauthenticated IKE error notification.

use std::any::Any;
use std::collections::VecDeque;

use sim::{Ctx, IfaceId, Node, Packet, SimDuration, SimTime};

use super::forge::init_error_reply;
use super::packet::{PacketInfo, tcp_rst};
use super::{PacketFilter, Wakeup, assert_two_ifaces, other_iface};
use crate::ike::wire::NotifyType;

/// A scripted command for an [`OnPath`] node, delivered with
/// `sim::Action::Custom { node, payload: Box::new(command) }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnPathCommand {
    /// Drop every packet matching `filter`, either way, for `duration` from now.
    Drop {
        /// Which packets.
        filter: PacketFilter,
        /// How long the window stays open.
        duration: SimDuration,
    },
    /// Hold every packet matching `filter` for `extra` before forwarding it, for `duration`
    /// from now. Held packets leave in arrival order per direction; packets that arrive
    /// after the window closes are not held and may overtake held ones, as on a path whose
    /// delay drops.
    Delay {
        /// Which packets.
        filter: PacketFilter,
        /// Added delay.
        extra: SimDuration,
        /// How long the window stays open.
        duration: SimDuration,
    },
    /// Reset the next TCP connection seen: the next non-RST TCP segment matching `filter`
    /// (either way) is forwarded and followed by a forged RST to each endpoint with a
    /// sequence number that endpoint accepts (RFC 9293 §3.10.7.4 with RFC 5961 §3.2: it
    /// equals the receiver's RCV.NXT). One-shot.
    Reset {
        /// Which connection.
        filter: PacketFilter,
    },
    /// Answer the next IKE_SA_INIT request seen (either way; UDP to port 500 or 4500, or
    /// an IKE frame in a TCP segment to port 4500) with a forged unprotected IKE_SA_INIT
    /// response carrying the error notify `notify` (RFC 7296 §2.21.1, RFC 9329 §6.4),
    /// sent back to the initiator `delay` after the request passed. The request is
    /// forwarded unchanged. Over TCP the forged segment continues the responder's side
    /// of the stream (see `forge::init_error_reply`). One-shot.
    ForgeInitError {
        /// The notify message type, e.g. `NotifyType::NO_PROPOSAL_CHOSEN`.
        notify: NotifyType,
        /// How long after the request the forged response leaves.
        delay: SimDuration,
    },
    /// Send `bytes` out of `iface` as they are (a forged or malformed packet).
    Inject {
        /// The interface to send on (0 or 1).
        iface: IfaceId,
        /// The packet, sent unchanged.
        bytes: Vec<u8>,
    },
}

/// A drop or delay window.
#[derive(Debug)]
struct Window {
    filter: PacketFilter,
    /// Added delay; zero for a drop window.
    extra: SimDuration,
    until: SimTime,
}

const TIMER_RELEASE: u64 = 0;

/// A bump-in-the-wire attacker between interface 0 and interface 1, driven by
/// [`OnPathCommand`]s.
///
/// Packets it cannot parse are never matched and are forwarded. Drop windows are checked
/// first, then reset triggers, then delay windows (the first open one that matches).
///
/// Metrics: `forwarded` (sent on at once), `delayed` (held, then sent), `dropped`,
/// `resets_injected` (forged RST packets, two per reset), `injected` (from
/// [`OnPathCommand::Inject`]), `init_errors_forged` (from
/// [`OnPathCommand::ForgeInitError`]), `invalid_commands` (an unknown payload, or an interface it
/// does not have).
#[derive(Debug, Default)]
pub struct OnPath {
    drops: Vec<Window>,
    delays: Vec<Window>,
    resets: Vec<PacketFilter>,
    /// Pending forged IKE_SA_INIT errors: notify and delay, first come first served.
    forges: VecDeque<(NotifyType, SimDuration)>,
    /// Held packets per outgoing interface, with their release times (non-decreasing).
    held: [VecDeque<(SimTime, Packet)>; 2],
    wakeup: Wakeup,
}

impl OnPath {
    /// An attacker that forwards everything until told otherwise.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends `packet` out of `out` now, or queues it behind the packets already held for
    /// `out` if `hold` is a release time.
    fn emit(&mut self, ctx: &mut Ctx<'_>, out: IfaceId, packet: Packet, hold: Option<SimTime>) {
        let Some(at) = hold else {
            ctx.send(out, packet);
            return;
        };
        let queue = &mut self.held[out.0 as usize];
        let at = queue.back().map_or(at, |&(tail, _)| tail.max(at));
        queue.push_back((at, packet));
        self.wakeup.ensure(ctx, at, TIMER_RELEASE);
    }

    /// If a pending reset matches, removes it and returns the two forged RSTs: to the
    /// sender of `info` and to its receiver.
    fn take_reset(&mut self, info: &PacketInfo) -> Option<(Vec<u8>, Vec<u8>)> {
        let tcp = info.tcp.filter(|t| !t.rst)?;
        let i = self.resets.iter().position(|f| f.matches(info))?;
        self.resets.remove(i);
        let (sender, receiver) = (info.src(), info.dst());
        let next = tcp.seq + tcp.seg_len;
        // The sender's RCV.NXT is the ACK it just sent; without one (a SYN) it is in
        // SYN-SENT and accepts a RST that acknowledges its SYN (RFC 9293 §3.10.7.3).
        let seq = tcp.ack.unwrap_or_default();
        let to_sender = tcp_rst(receiver, sender, seq, Some(next));
        // The receiver's RCV.NXT is just past the segment it receives right before.
        let to_receiver = tcp_rst(sender, receiver, next, tcp.ack);
        Some((to_sender, to_receiver))
    }
}

impl Node for OnPath {
    fn start(&mut self, ctx: &mut Ctx<'_>) {
        assert_two_ifaces(ctx);
    }

    fn on_packet(&mut self, ctx: &mut Ctx<'_>, iface: IfaceId, packet: Packet) {
        let now = ctx.now();
        self.drops.retain(|w| w.until > now);
        self.delays.retain(|w| w.until > now);
        let out = other_iface(iface);
        let Some(info) = PacketInfo::parse(&packet.data) else {
            ctx.metrics().incr("forwarded");
            ctx.send(out, packet);
            return;
        };
        if self.drops.iter().any(|w| w.filter.matches(&info)) {
            ctx.metrics().incr("dropped");
            return;
        }
        let rsts = self.take_reset(&info);
        let forged = self
            .forges
            .front()
            .and_then(|&(notify, delay)| Some((init_error_reply(&packet.data, notify)?, delay)));
        let hold = self
            .delays
            .iter()
            .find(|w| w.filter.matches(&info))
            .map(|w| now + w.extra);
        ctx.metrics().incr(if hold.is_some() {
            "delayed"
        } else {
            "forwarded"
        });
        self.emit(ctx, out, packet, hold);
        if let Some((to_sender, to_receiver)) = rsts {
            ctx.metrics().add("resets_injected", 2);
            let to_sender = ctx.packet(to_sender);
            ctx.send(iface, to_sender);
            // Behind the observed segment, so the receiver's RCV.NXT has moved past it.
            let to_receiver = ctx.packet(to_receiver);
            self.emit(ctx, out, to_receiver, hold);
        }
        if let Some((reply, delay)) = forged {
            self.forges.pop_front();
            ctx.metrics().incr("init_errors_forged");
            let reply = ctx.packet(reply);
            let at = (delay > SimDuration::ZERO).then(|| now + delay);
            self.emit(ctx, iface, reply, at);
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, _: u64) {
        self.wakeup.fired();
        let now = ctx.now();
        for out in 0..2 {
            let queue = &mut self.held[out];
            while queue.front().is_some_and(|(at, _)| *at <= now) {
                let (_, packet) = queue.pop_front().expect("front checked above");
                ctx.send(IfaceId(out as u32), packet);
            }
        }
        let next = self
            .held
            .iter()
            .filter_map(|q| q.front().map(|e| e.0))
            .min();
        if let Some(at) = next {
            self.wakeup.ensure(ctx, at, TIMER_RELEASE);
        }
    }

    fn on_action(&mut self, ctx: &mut Ctx<'_>, action: &dyn Any) {
        let now = ctx.now();
        match action.downcast_ref::<OnPathCommand>() {
            Some(OnPathCommand::Drop { filter, duration }) => self.drops.push(Window {
                filter: filter.clone(),
                extra: SimDuration::ZERO,
                until: now + *duration,
            }),
            Some(OnPathCommand::Delay {
                filter,
                extra,
                duration,
            }) => self.delays.push(Window {
                filter: filter.clone(),
                extra: *extra,
                until: now + *duration,
            }),
            Some(OnPathCommand::Reset { filter }) => self.resets.push(filter.clone()),
            Some(OnPathCommand::ForgeInitError { notify, delay }) => {
                self.forges.push_back((*notify, *delay));
            }
            Some(OnPathCommand::Inject { iface, bytes })
                if (iface.0 as usize) < ctx.iface_count() =>
            {
                ctx.metrics().incr("injected");
                let packet = ctx.packet(bytes.clone());
                ctx.send(*iface, packet);
            }
            Some(OnPathCommand::Inject { .. }) | None => ctx.metrics().incr("invalid_commands"),
        }
    }
}
