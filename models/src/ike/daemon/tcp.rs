//! The RFC 9329 transport of the daemon: TCP Originator and TCP Responder connections,
//! reassembly with [`StreamParser`], demultiplexing of IKE, ESP and keepalives, the
//! connection an SA sends on, reconnection, and the closing rules of RFC 9329 §6.1 and
//! §6.3.
//!
//! - The **Originator** (the initiator of the first IKE SA) opens a connection to the
//!   peer's TCP port, starts it with "IKETCP" (also every re-established one, §6.1), and
//!   alone re-opens it when it breaks while the IKE SA lives: a dead connection is not a
//!   dead IKE SA. On the new connection it resends every outstanding request (§6.2 MUST),
//!   or, with none outstanding, sends an empty INFORMATIONAL (§6.1), and ESP follows.
//! - The **Responder** accepts, requires the prefix before any frame, and sends for an SA
//!   on the connection where it last received a valid message of it (§6.1), accepting on
//!   old and new ones until they close. It closes connections that carry no IKE SA after
//!   a few seconds, that sent a COOKIE answer and no retry (§6.3), whose prefix does not
//!   arrive, that break the framing (Length 0 or 1, too large, §3), or that look
//!   corrupted (too many invalid frames, an authentication failure on a known SPI).

use std::net::SocketAddrV4;

use sim::SimTime;

use super::policy::CookieHold;
use super::{IkeDaemon, SaPath, Transport};
use crate::esp::{EspInTcpDrop, StreamSink, TcpEncapTx};
use crate::ike::sa::{Retransmission, SaId};
use crate::ike::wire::ExchangeType;
use crate::ip::{AppTimer, ConnId, HostCtx};
use crate::tcp::{Event, State};
use crate::wire::tcp_encap::{Frame, KEEPALIVE, StreamParser};

/// Bytes taken from a connection per read: after a framing error the rest stays unread
/// (the connection is then dropped), as it did when reads went through an 8 KiB buffer.
const READ_CHUNK: usize = 8192;

/// Which end of the connection we are (RFC 9329 §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// We opened it and sent the prefix.
    Originator,
    /// We accepted it.
    Responder,
}

/// One TCP-encapsulation connection.
#[derive(Debug)]
pub(super) struct TcpConn {
    pub(super) role: Role,
    /// Names the connection in timer tokens.
    pub(super) serial: u64,
    pub(super) local: SocketAddrV4,
    pub(super) remote: SocketAddrV4,
    pub(super) parser: StreamParser,
    pub(super) tx: TcpEncapTx,
    /// Originator: it re-establishes a broken connection of an existing SA.
    pub(super) reconnect: bool,
    /// Close (FIN) once everything queued is written; input is ignored meanwhile.
    pub(super) closing: bool,
    /// Consecutive frames that were neither valid IKE nor ESP of a known SA (RFC 9329
    /// §6.1: a few unknown SPIs in a row are no reason to close; many are).
    pub(super) invalid: u32,
    /// Responder: a COOKIE answer went out and no IKE message followed yet.
    pub(super) cookie_pending: bool,
    pub(super) idle_timer: Option<AppTimer>,
}

/// A host's TCP connection as a [`StreamSink`].
struct HostSink<'h, 'a, 'b> {
    host: &'h mut HostCtx<'a, 'b>,
    conn: ConnId,
}

impl StreamSink for HostSink<'_, '_, '_> {
    fn is_established(&self) -> bool {
        self.host
            .tcp(self.conn)
            .is_some_and(|c| matches!(c.state(), State::Established | State::CloseWait))
    }
    fn send(&mut self, data: &[u8]) -> usize {
        if self.is_established() {
            self.host.tcp_send(self.conn, data)
        } else {
            0
        }
    }
}

/// Timer kinds in the top byte of a token, the connection's serial below.
pub(super) const TIMER_PREFIX: u64 = 0x10;
pub(super) const TIMER_IDLE: u64 = 0x11;
pub(super) const TIMER_COOKIE_HOLD: u64 = 0x12;

pub(super) const fn token(kind: u64, serial: u64) -> u64 {
    (kind << 56) | (serial & ((1 << 56) - 1))
}

/// The IKE header fields the transport needs: (SPIi, SPIr, initiator flag, response
/// flag, exchange type).
pub(super) fn ike_header(bytes: &[u8]) -> Option<(u64, u64, bool, bool, u8)> {
    let spi_i = u64::from_be_bytes(bytes.get(0..8)?.try_into().ok()?);
    let spi_r = u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
    let exchange = *bytes.get(18)?;
    let flags = *bytes.get(19)?;
    Some((spi_i, spi_r, flags & 0x08 != 0, flags & 0x20 != 0, exchange))
}

impl IkeDaemon {
    /// The SA that `spi` (one of our SPIs) names.
    pub(super) fn sa_by_local_spi(&self, spi: u64) -> Option<SaId> {
        if spi == 0 {
            return None;
        }
        self.endpoint.as_ref()?.sa_by_local_spi(spi)
    }

    /// The SA a message we send or receive belongs to. `outgoing`: we send it.
    pub(super) fn sa_of_message(&self, bytes: &[u8], outgoing: bool) -> Option<SaId> {
        let (spi_i, spi_r, initiator, _, exchange) = ike_header(bytes)?;
        // The I flag says the sender is the original initiator.
        let ours = if initiator == outgoing { spi_i } else { spi_r };
        if let Some(id) = self.sa_by_local_spi(ours) {
            return Some(id);
        }
        if !outgoing && initiator && spi_r == 0 && exchange == ExchangeType::IKE_SA_INIT.0 {
            // A new IKE_SA_INIT request: the responder SA it created, by SPIi.
            return self.endpoint.as_ref()?.half_open_by_initiator_spi(spi_i);
        }
        None
    }

    /// Opens a connection to the peer as TCP Originator. `sa`: the SA it re-establishes.
    pub(super) fn tcp_open(
        &mut self,
        host: &mut HostCtx<'_, '_>,
        peer: SocketAddrV4,
        reconnect: bool,
    ) -> Option<ConnId> {
        let mut cfg = self.transport.tcp.clone();
        if let Some(k) = self.transport.tcp_keepalive {
            cfg.keepalive = Some(k);
        }
        let Ok(id) = host.tcp_connect(peer, cfg) else {
            host.metrics().incr("tcp_connect_failed");
            return None;
        };
        let (local, remote) = host.tcp(id).map(|c| (c.local(), c.remote()))?;
        self.register_conn(id, Role::Originator, (local, remote), reconnect);
        host.metrics().incr("tcp_prefixes_sent");
        host.metrics().add(
            "tcp_prefix_bytes_sent",
            crate::wire::tcp_encap::PREFIX.len() as u64,
        );
        Some(id)
    }

    /// Starts keeping connection `id` (local, remote) in the given role; returns its
    /// serial (the key of its timers).
    fn register_conn(
        &mut self,
        id: ConnId,
        role: Role,
        (local, remote): (SocketAddrV4, SocketAddrV4),
        reconnect: bool,
    ) -> u64 {
        let serial = self.next_serial;
        self.next_serial += 1;
        let responder = role == Role::Responder;
        self.conns.insert(
            id,
            Box::new(TcpConn {
                role,
                serial,
                local,
                remote,
                parser: StreamParser::new(responder, self.transport.max_frame),
                tx: if responder {
                    TcpEncapTx::responder()
                } else {
                    TcpEncapTx::originator()
                },
                reconnect,
                closing: false,
                invalid: 0,
                cookie_pending: false,
                idle_timer: None,
            }),
        );
        self.serials.insert(serial, id);
        self.conn_by_tuple.insert((local, remote), id);
        serial
    }

    /// A connection we did not open came up: we are its TCP Responder.
    fn tcp_accept(&mut self, host: &mut HostCtx<'_, '_>, id: ConnId) {
        let Some((local, remote)) = host.tcp(id).map(|c| (c.local(), c.remote())) else {
            return;
        };
        let serial = self.register_conn(id, Role::Responder, (local, remote), false);
        host.metrics().incr("ike_tcp_accepted");
        let now = host.now();
        host.set_timer(
            now.saturating_add(self.transport.prefix_timeout),
            token(TIMER_PREFIX, serial),
        );
        self.arm_idle(host, id);
    }

    /// Responder: closes the connection after the idle time if it carries no SA then.
    pub(super) fn arm_idle(&mut self, host: &mut HostCtx<'_, '_>, id: ConnId) {
        let Some(idle) = self.transport.idle_close else {
            return;
        };
        let now = host.now();
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.role != Role::Responder || conn.idle_timer.is_some() {
            return;
        }
        conn.idle_timer =
            Some(host.set_timer(now.saturating_add(idle), token(TIMER_IDLE, conn.serial)));
    }

    /// Makes `conn` the connection SA `sa` sends on; the one it sent on before, if any.
    pub(super) fn bind_sa(&mut self, sa: SaId, conn: ConnId) -> Option<ConnId> {
        let previous = self.per_sa.bind(sa, conn);
        // Most calls (every message a Responder receives) name the same connection.
        if previous != Some(conn) {
            if let Some(p) = previous {
                self.conn_sas.remove(&(p, sa));
            }
            self.conn_sas.insert((conn, sa));
        }
        previous
    }

    /// SA `sa` no longer sends on a connection; the one it did, if any.
    pub(super) fn unbind_sa(&mut self, sa: SaId) -> Option<ConnId> {
        let conn = self.per_sa.unbind(sa)?;
        self.conn_sas.remove(&(conn, sa));
        Some(conn)
    }

    /// The SAs that send on connection `id`, in id order.
    fn sas_on(&self, id: ConnId) -> impl Iterator<Item = SaId> + '_ {
        self.conn_sas
            .range_from(&(id, SaId(0)))
            .take_while(move |(c, _)| *c == id)
            .map(|&(_, sa)| sa)
    }

    /// Whether a live SA sends on this connection.
    fn carries_sa(&self, id: ConnId) -> bool {
        self.sas_on(id).any(|sa| {
            self.endpoint
                .as_ref()
                .and_then(|e| e.sa(sa))
                .is_some_and(|s| !s.is_closed())
        })
    }

    /// A connection timer fired.
    pub(super) fn on_conn_timer(&mut self, host: &mut HostCtx<'_, '_>, kind: u64, serial: u64) {
        let Some(&id) = self.serials.get(&serial) else {
            return;
        };
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        match kind {
            TIMER_PREFIX if !conn.parser.prefix_seen() => {
                host.metrics().incr("tcp_prefix_timeouts");
                self.tcp_drop(host, id, true);
            }
            TIMER_IDLE => {
                conn.idle_timer = None;
                if !self.carries_sa(id) {
                    host.metrics().incr("tcp_idle_closed");
                    self.tcp_finish(host, id);
                }
            }
            TIMER_COOKIE_HOLD if conn.cookie_pending => {
                host.metrics().incr("tcp_cookie_closed");
                self.tcp_finish(host, id);
            }
            _ => {}
        }
    }

    /// Closes gracefully once everything queued is written; input is ignored from now.
    pub(super) fn tcp_finish(&mut self, host: &mut HostCtx<'_, '_>, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.closing = true;
        }
        self.tcp_flush(host, id);
    }

    /// Forgets a connection (its partial frame is discarded, RFC 9329 §3) and resets it
    /// when `abort`. The Originator re-opens it if its SA lives.
    pub(super) fn tcp_drop(&mut self, host: &mut HostCtx<'_, '_>, id: ConnId, abort: bool) {
        let Some(mut conn) = self.conns.remove(&id) else {
            return;
        };
        if self.conn_by_tuple.get(&(conn.local, conn.remote)) == Some(&id) {
            self.conn_by_tuple.remove(&(conn.local, conn.remote));
        }
        conn.parser.reset();
        self.serials.remove(&conn.serial);
        if let Some(t) = conn.idle_timer.take() {
            host.cancel_timer(t);
        }
        if abort {
            host.tcp_abort(id);
        } else if host.tcp(id).is_some_and(|c| c.state() != State::Closed) {
            host.tcp_close(id);
        }
        let sas: Vec<SaId> = self.sas_on(id).collect();
        if conn.role == Role::Responder {
            // The SA keeps naming the dead connection until a valid message arrives on a
            // new one (RFC 9329 §6.1): sends fail meanwhile, the Responder cannot
            // re-open.
            return;
        }
        for sa in sas {
            self.unbind_sa(sa);
            if !conn.closing {
                self.schedule_reconnect(host, sa);
            }
        }
    }

    /// Writes what the connection can take; closes it when closing and drained.
    pub(super) fn tcp_flush(&mut self, host: &mut HostCtx<'_, '_>, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.tx.flush(&mut HostSink { host, conn: id });
        if conn.closing && conn.tx.pending_len() == 0 {
            let established = host
                .tcp(id)
                .is_some_and(|c| matches!(c.state(), State::Established | State::CloseWait));
            if established {
                host.tcp_close(id);
            }
        }
    }

    /// Originator: re-opens the SA's connection after the backoff delay.
    fn schedule_reconnect(&mut self, host: &mut HostCtx<'_, '_>, sa: SaId) {
        let alive = self
            .endpoint
            .as_ref()
            .and_then(|e| e.sa(sa))
            .is_some_and(|s| !s.is_closed());
        if !alive || self.abandoned.contains(&sa) {
            return;
        }
        let Some(o) = self.originator.as_mut() else {
            return;
        };
        if o.sa != Some(sa) || o.reconnect_timer.is_some() {
            return;
        }
        if o.attempts >= self.transport.reconnect.max_attempts {
            host.metrics().incr("tcp_reconnect_gave_up");
            return;
        }
        let delay = self.transport.reconnect.delay(o.attempts);
        o.attempts += 1;
        let at = host.now().saturating_add(delay);
        o.reconnect_timer = Some(host.set_timer(at, super::TIMER_RECONNECT));
    }

    /// Originator: the reconnect timer fired.
    pub(super) fn reconnect(&mut self, host: &mut HostCtx<'_, '_>) {
        let Some(o) = self.originator.as_mut() else {
            return;
        };
        o.reconnect_timer = None;
        let (Some(sa), peer) = (o.sa, o.peer) else {
            return;
        };
        host.metrics().incr("tcp_reconnect_attempts");
        match self.tcp_open(host, peer, true) {
            Some(id) => {
                self.bind_sa(sa, id);
            }
            None => self.schedule_reconnect(host, sa),
        }
    }

    /// Sends an IKE message on a connection.
    pub(super) fn tcp_send_ike(&mut self, host: &mut HostCtx<'_, '_>, id: ConnId, bytes: &[u8]) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return host.metrics().incr("ike_tcp_no_connection");
        };
        conn.tx.send_ike(&mut HostSink { host, conn: id }, bytes);
        let m = host.metrics();
        m.incr("ike_messages_sent");
        m.add("ike_bytes_sent", bytes.len() as u64);
        m.add("ike_tcp_bytes_sent", bytes.len() as u64 + 6);
        self.tcp_flush(host, id);
    }

    /// Sends an ESP packet of `sa` on its connection, by the `espintcp` rules.
    pub(super) fn tcp_send_esp(
        &mut self,
        host: &mut HostCtx<'_, '_>,
        sa: SaId,
        esp: &[u8],
    ) -> bool {
        let Some(id) = self.per_sa.conn(sa) else {
            host.metrics().incr("esp_dropped_no_connection");
            return false;
        };
        let Some(conn) = self.conns.get_mut(&id) else {
            host.metrics().incr("esp_dropped_no_connection");
            return false;
        };
        let result = conn.tx.send_esp(&mut HostSink { host, conn: id }, esp);
        let m = host.metrics();
        match result {
            Ok(()) => {
                m.add("esp_tcp_bytes_out", esp.len() as u64 + 2);
                true
            }
            Err(EspInTcpDrop::NoBufferSpace) => {
                m.incr("esp_dropped_backpressure");
                false
            }
            Err(EspInTcpDrop::NotEstablished) => {
                m.incr("esp_dropped_not_established");
                false
            }
            Err(EspInTcpDrop::TooLarge) => {
                m.incr("esp_dropped_too_large");
                false
            }
        }
    }

    /// Sends a keepalive frame (only by policy, RFC 9329 §6.6).
    pub(super) fn tcp_send_keepalive(&mut self, host: &mut HostCtx<'_, '_>, sa: SaId) {
        let Some(id) = self.per_sa.conn(sa) else {
            return;
        };
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.tx
                .send_raw(&mut HostSink { host, conn: id }, &KEEPALIVE);
            let m = host.metrics();
            m.incr("nat_keepalives_sent");
            m.add("keepalive_tcp_bytes_sent", KEEPALIVE.len() as u64);
        }
    }

    /// Something happened on one of our connections.
    pub(super) fn on_tcp_event(&mut self, host: &mut HostCtx<'_, '_>, id: ConnId, event: Event) {
        let known = self.conns.contains_key(&id);
        match event {
            Event::Connected if !known => self.tcp_accept(host, id),
            Event::Connected => self.tcp_connected(host, id),
            Event::Readable => self.tcp_read(host, id),
            Event::Writable => self.tcp_flush(host, id),
            Event::PeerFinished => {
                host.metrics().incr("tcp_peer_finished");
                // Either end closing ends the connection for IKE; the Originator re-opens
                // it if its SA lives (RFC 9329 §6.1).
                self.tcp_drop(host, id, false);
            }
            Event::Closed => self.tcp_drop(host, id, false),
            Event::Failed(e) => {
                if known {
                    host.metrics()
                        .incr(format!("tcp_failed_{e:?}").to_lowercase());
                }
                self.tcp_drop(host, id, false);
            }
        }
    }

    /// Originator: the connection is up; after a reconnect, resend what is outstanding.
    fn tcp_connected(&mut self, host: &mut HostCtx<'_, '_>, id: ConnId) {
        let reconnect = self.conns.get(&id).is_some_and(|c| c.reconnect);
        if let Some(o) = self.originator.as_mut() {
            o.attempts = 0;
        }
        self.tcp_flush(host, id);
        if !reconnect {
            return;
        }
        host.metrics().incr("tcp_reconnections");
        let Some(sa) = self.originator.as_ref().and_then(|o| o.sa) else {
            return;
        };
        let now = host.now();
        let Some(endpoint) = self.endpoint.as_mut() else {
            return;
        };
        let resent = endpoint.with_sa(now, sa, |s| {
            let before = s.stats().retransmits;
            s.resend_outstanding();
            let resent = s.stats().retransmits - before;
            if resent == 0 {
                // An empty INFORMATIONAL tells the Responder the new connection (§6.1).
                s.check_liveness();
            }
            resent
        });
        if let Some(n) = resent {
            host.metrics().add("ike_requests_resent_after_reconnect", n);
        }
    }

    /// Reads and handles every complete frame.
    fn tcp_read(&mut self, host: &mut HostCtx<'_, '_>, id: ConnId) {
        let mut frames = Vec::new();
        if !self.tcp_read_frames(host, id, &mut frames) {
            return;
        }
        for frame in frames {
            if !self.conns.contains_key(&id) {
                return;
            }
            self.tcp_frame(host, id, frame);
        }
    }

    /// Feeds everything readable on `id` to its parser, in place in the connection's
    /// receive buffer (a zeroed 8 KiB buffer to copy into was a fifth of the instructions
    /// of a liveness exchange); false if the connection is gone.
    fn tcp_read_frames(
        &mut self,
        host: &mut HostCtx<'_, '_>,
        id: ConnId,
        frames: &mut Vec<Frame>,
    ) -> bool {
        loop {
            let mut conn = self.conns.get_mut(&id).filter(|c| !c.closing);
            let was = conn.as_ref().is_some_and(|c| c.parser.prefix_seen());
            let mut fed = Ok(());
            let n = host.tcp_recv_with(id, READ_CHUNK, |part| {
                if let Some(conn) = conn.as_mut()
                    && fed.is_ok()
                {
                    fed = conn.parser.feed(part, frames);
                }
            });
            if n == 0 {
                return true;
            }
            let Some(conn) = self.conns.get_mut(&id) else {
                return false;
            };
            if conn.closing {
                host.metrics().add("tcp_bytes_ignored_closing", n as u64);
                continue;
            }
            if let Err(e) = fed {
                host.metrics().incr("tcp_framing_errors");
                host.trace(|| format!("TCP encapsulation: {e}, closing"));
                self.tcp_drop(host, id, true);
                return false;
            }
            if !was && conn.parser.prefix_seen() {
                host.metrics().incr("tcp_prefixes_received");
            }
        }
    }

    /// One frame from a connection.
    fn tcp_frame(&mut self, host: &mut HostCtx<'_, '_>, id: ConnId, frame: Frame) {
        match frame {
            Frame::Ike(bytes) => self.tcp_ike(host, id, &bytes),
            Frame::Esp(esp) => {
                host.metrics().add("esp_tcp_bytes_in", esp.len() as u64 + 2);
                match self.receive_esp(host, &esp) {
                    Ok(sa) => self.note_valid(host, id, sa),
                    Err(crate::esp::EspDropReason::AuthFailure)
                        if self.transport.close_on_auth_failure =>
                    {
                        host.metrics().incr("tcp_closed_auth_failure");
                        self.tcp_drop(host, id, true);
                    }
                    Err(_) => self.note_invalid(host, id),
                }
            }
            Frame::Keepalive => {
                // RFC 9329 §6.6: MUST be dropped silently over TCP.
                host.metrics().incr("tcp_keepalives_dropped");
            }
            Frame::Empty => host.metrics().incr("tcp_empty_frames"),
            Frame::Runt => {
                host.metrics().incr("tcp_runt_frames");
                self.note_invalid(host, id);
            }
        }
    }

    /// A frame that is neither valid IKE nor ESP of a known SA; too many in a row close
    /// the connection (RFC 9329 §6.1).
    fn note_invalid(&mut self, host: &mut HostCtx<'_, '_>, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.invalid += 1;
        if conn.invalid >= self.transport.max_invalid_frames {
            host.metrics().incr("tcp_closed_corrupted");
            self.tcp_drop(host, id, true);
        }
    }

    /// A valid message of `sa` arrived on `id`: the Responder sends there from now on
    /// (RFC 9329 §6.1); a request of ours outstanding is resent on a new connection
    /// (§6.2).
    fn note_valid(&mut self, host: &mut HostCtx<'_, '_>, id: ConnId, sa: SaId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.invalid = 0;
        let role = conn.role;
        if role != Role::Responder {
            return;
        }
        self.ha_heard(host, sa);
        let previous = self.bind_sa(sa, id);
        if let Some(conn) = self.conns.get_mut(&id)
            && let Some(t) = conn.idle_timer.take()
        {
            host.cancel_timer(t);
        }
        if let Some(old) = previous
            && old != id
        {
            host.metrics().incr("tcp_sa_moved");
            let now = host.now();
            if let Some(endpoint) = self.endpoint.as_mut() {
                let resent = endpoint.with_sa(now, sa, |s| {
                    let before = s.stats().retransmits;
                    s.resend_outstanding();
                    s.stats().retransmits - before
                });
                host.metrics()
                    .add("ike_requests_resent_after_reconnect", resent.unwrap_or(0));
            }
            // The old connection is superseded: close it once idle (§6.1 MAY).
            if !self.carries_sa(old) {
                self.arm_idle(host, old);
            }
        }
    }

    /// An IKE message from a connection.
    fn tcp_ike(&mut self, host: &mut HostCtx<'_, '_>, id: ConnId, bytes: &[u8]) {
        let now = host.now();
        let Some((local, remote, role)) = self.conns.get_mut(&id).map(|c| {
            c.cookie_pending = false;
            (c.local, c.remote, c.role)
        }) else {
            return;
        };
        self.note_exchange(host, bytes, false);
        let before_sa = self.sa_of_message(bytes, false);
        self.mobike_note_transport(now, before_sa, true);
        let stats_of = |d: &Self, sa: Option<SaId>| {
            sa.and_then(|sa| d.endpoint.as_ref()?.sa(sa))
                .map(|s| (s.stats().messages_received, s.stats().dropped_integrity))
        };
        let before = stats_of(self, before_sa);
        let Some(endpoint) = self.endpoint.as_mut() else {
            return;
        };
        let cookies = endpoint.stats().cookies_sent;
        let unknown = endpoint.stats().unknown_spi + endpoint.stats().malformed;
        host.metrics().incr("ike_messages_received");
        endpoint.handle_datagram(now, local, remote, bytes);
        let cookie_sent = endpoint.stats().cookies_sent > cookies;
        let unknown_now = endpoint.stats().unknown_spi + endpoint.stats().malformed > unknown;
        let sa = before_sa.or_else(|| self.sa_of_message(bytes, false));
        if let Some(sa) = sa
            && self.per_sa.set_tcp(sa)
        {
            // A responder SA that came over TCP: RFC 9329 §6.2, §7.5.
            self.configure_tcp_sa(now, sa);
        }
        let after = stats_of(self, sa);
        match (sa, before, after) {
            (Some(sa), None, Some(_)) => self.note_valid(host, id, sa),
            (Some(sa), Some((rx0, bad0)), Some((rx1, bad1))) => {
                if rx1 > rx0 {
                    self.note_valid(host, id, sa);
                } else if bad1 > bad0 && self.transport.close_on_auth_failure {
                    host.metrics().incr("tcp_closed_auth_failure");
                    self.tcp_drop(host, id, true);
                    return;
                }
            }
            _ => {}
        }
        if unknown_now {
            self.note_invalid(host, id);
        }
        if cookie_sent && role == Role::Responder {
            self.cookie_answered(host, id);
        }
    }

    /// RFC 9329 §6.3: the COOKIE answer went out on `id`; close it unless a retry comes.
    fn cookie_answered(&mut self, host: &mut HostCtx<'_, '_>, id: ConnId) {
        let CookieHold::CloseAfter(hold) = self.transport.cookie_hold else {
            return;
        };
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.cookie_pending = true;
        if hold.as_nanos() == 0 {
            // Closed right after the answer (which is queued first).
            self.pump_pending_close.push(id);
        } else {
            let at = host.now().saturating_add(hold);
            host.set_timer(at, token(TIMER_COOKIE_HOLD, conn.serial));
        }
    }

    /// Sets the TCP behaviour of an SA (RFC 9329 §6.2, §7.5).
    pub(super) fn configure_tcp_sa(&mut self, now: SimTime, sa: SaId) {
        let retransmit = self.transport.retransmit;
        let fragment = self.transport.fragment;
        if let Some(endpoint) = self.endpoint.as_mut() {
            endpoint.with_sa(now, sa, |s| {
                if retransmit == super::policy::TcpRetransmit::Compliant {
                    s.set_retransmission(Retransmission::Off);
                }
                s.set_fragment_sending(fragment);
            });
        }
    }

    /// Where an IKE message goes: UDP, or a TCP connection (`None`: its SA is on TCP
    /// but has no connection now).
    pub(super) fn route_ike(
        &self,
        bytes: &[u8],
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) -> Transport {
        let response = ike_header(bytes).is_some_and(|h| h.3);
        // An index, not a scan of every connection per message (the gateway of the scale
        // scenario has one per client).
        let by_tuple = self
            .conn_by_tuple
            .get(&(local, remote))
            .copied()
            .filter(|id| self.conns.get(id).is_some_and(|c| !c.closing));
        match self
            .sa_of_message(bytes, true)
            .map(|sa| self.per_sa.transport(sa))
        {
            Some((true, conn)) => {
                if response && by_tuple.is_some() {
                    // A response goes back where its request came from.
                    Transport::Tcp(by_tuple)
                } else {
                    Transport::Tcp(conn)
                }
            }
            Some((false, _)) => Transport::Udp,
            None => by_tuple.map_or(Transport::Udp, |c| Transport::Tcp(Some(c))),
        }
    }

    /// The path record of an SA established over TCP.
    pub(super) fn tcp_path(&self, sa: SaId, nat: crate::ike::sa::NatStatus) -> Option<SaPath> {
        let remote = self.endpoint.as_ref()?.sa(sa)?.remote();
        Some(SaPath {
            remote,
            nat,
            tcp: true,
        })
    }
}
