//! The transport policies of the daemon: UDP or TCP (RFC 9329 §5.1) and how IKE and ESP
//! behave over TCP (RFC 9329 §6; DESIGN.md "Policies").
//!
//! [`TransportPolicy::default`] is the compliant behaviour with the RFC 9329 section that
//! asks for each part; the alternatives exist so that experiments can measure what they
//! cost. [`TransportPolicy::udp_only`] is what [`super::IkeDaemon::new`] uses: the daemon
//! as it was before TCP, plus a TCP listener on responders.

use sim::SimDuration;

use crate::ike::sa::{InitErrorAction, NAT_T_PORT};
use crate::tcp::TcpConfig;
use crate::wire::tcp_encap::MAX_PAYLOAD;

/// One thousand: the denominator of per-mille ratios.
const PER_MILLE: u64 = 1000;

/// Which transport an initiator uses for its IKE SA (RFC 9329 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportSelection {
    /// UDP (500, then 4500 behind a NAT) only: RFC 7296 as it is.
    UdpOnly,
    /// TCP from the start, e.g. when UDP is known to be blocked (RFC 9329 §5.1).
    TcpOnly,
    /// UDP first; when IKE_SA_INIT got no answer by the trigger, abandon it and start a new
    /// IKE SA (new SPIi, NAT_DETECTION recomputed, RFC 9329 §5.1 MUST) over TCP.
    UdpThenTcp(FallbackTrigger),
}

/// When the UDP attempt is given up for TCP (RFC 9329 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FallbackTrigger {
    /// When the `n`-th UDP retransmission of IKE_SA_INIT has gone unanswered for its whole
    /// wait, i.e. at the time of the next retransmission: the sum of the first `n + 1`
    /// waits of the SA's [`crate::ike::sa::RetransmitPolicy`]. RFC 9329 §5.1 recommends at
    /// least one retransmission (`n >= 1`) unless UDP is known to be blocked.
    Retransmissions(u32),
    /// A fixed delay after the first UDP IKE_SA_INIT.
    After(SimDuration),
}

impl Default for FallbackTrigger {
    fn default() -> Self {
        Self::Retransmissions(1)
    }
}

/// Request retransmission for IKE SAs over TCP (RFC 9329 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TcpRetransmit {
    /// No timer retransmission (the SA fails after the whole schedule with one send);
    /// outstanding requests are resent on every new connection (RFC 9329 §6.2).
    #[default]
    Compliant,
    /// Keep RFC 7296 timer retransmission over TCP as well (allowed as "an
    /// optimization"): the peer sees duplicate requests.
    Timers,
}

/// What a TCP Responder does with a connection after answering IKE_SA_INIT with a COOKIE
/// (RFC 9329 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CookieHold {
    /// Keep it open.
    Keep,
    /// Close it if no further IKE message arrived on it within this time (RFC 9329 §6.3.1
    /// suggests 5 to 10 s); zero closes it right after the answer, so the initiator has to
    /// retry on a new connection.
    CloseAfter(SimDuration),
}

/// How the TCP Originator re-opens a broken connection (RFC 9329 §6.1): after `initial`,
/// then waits growing by `multiplier_per_mille` up to `max`, at most `max_attempts` times
/// in a row without success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReconnectPolicy {
    /// Wait before the first attempt. Default 100 ms.
    pub initial: SimDuration,
    /// Growth per failed attempt, per mille. Default 2000.
    pub multiplier_per_mille: u32,
    /// Cap on one wait. Default 30 s.
    pub max: SimDuration,
    /// Attempts in a row before giving up (the IKE SA then fails on its own timers).
    /// Default 10.
    pub max_attempts: u32,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            initial: SimDuration::from_millis(100),
            multiplier_per_mille: 2000,
            max: SimDuration::from_secs(30),
            max_attempts: 10,
        }
    }
}

impl ReconnectPolicy {
    /// The wait before attempt `n` (from 0), in exact integer nanoseconds.
    pub fn delay(&self, n: u32) -> SimDuration {
        let mut nanos = u128::from(self.initial.as_nanos());
        for _ in 0..n {
            nanos = nanos * u128::from(self.multiplier_per_mille) / u128::from(PER_MILLE);
            if nanos >= u128::from(self.max.as_nanos()) {
                break;
            }
        }
        SimDuration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)).min(self.max)
    }
}

/// The transport of an [`super::IkeDaemon`] and the RFC 9329 knobs.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportPolicy {
    /// UDP, TCP or UDP then TCP (initiator). Default UDP then TCP after one
    /// retransmission (RFC 9329 §5.1).
    pub selection: TransportSelection,
    /// The responder's TCP port (RFC 9329 §2, §11: TCP 4500 "ipsec-nat-t").
    pub tcp_port: u16,
    /// Responder: listen on `tcp_port` (RFC 9329 §5: a responder configured for TCP MUST
    /// listen). Default true.
    pub listen_tcp: bool,
    /// Retransmission over TCP (RFC 9329 §6.2). Default compliant (none).
    pub retransmit: TcpRetransmit,
    /// Send IKE fragments over TCP (RFC 9329 §7.5: SHOULD NOT). Default false.
    pub fragment: bool,
    /// Send NAT keepalives over TCP (RFC 9329 §6.6: SHOULD NOT). Default false.
    pub keepalives: bool,
    /// Reaction to an error notify in IKE_SA_INIT over TCP (RFC 9329 §6.4: act at once).
    pub init_error: InitErrorAction,
    /// Re-opening broken connections (RFC 9329 §6.1).
    pub reconnect: ReconnectPolicy,
    /// Responder: close a connection that carries no IKE SA after this long (RFC 9329
    /// §6.1, "a few seconds"); `None` keeps it. Default 5 s.
    pub idle_close: Option<SimDuration>,
    /// Responder: close a connection whose prefix has not fully arrived after this long
    /// (libreswan: 5 s). Default 5 s.
    pub prefix_timeout: SimDuration,
    /// Responder: the connection after a COOKIE answer (RFC 9329 §6.3). Default closed
    /// after 5 s without a retry.
    pub cookie_hold: CookieHold,
    /// Close a connection after this many frames that are neither valid IKE nor ESP of a
    /// known SA (RFC 9329 §6.1 "too many"; a few unknown SPIs are tolerated). Default 8.
    pub max_invalid_frames: u32,
    /// Close a connection on an authentication failure of an IKE or ESP message with a
    /// known SPI (RFC 9329 §6.1 SHOULD). Default true.
    pub close_on_auth_failure: bool,
    /// Largest frame payload accepted (RFC 9329 §3: at most 65533). Default 65533.
    pub max_frame: usize,
    /// The TCP configuration of the connections.
    pub tcp: TcpConfig,
    /// Originator: TCP keepalive on its connections (RFC 9329 §6.7: allowed, but no
    /// proof of IKE liveness), over what `tcp` says. Default none.
    pub tcp_keepalive: Option<crate::tcp::Keepalive>,
}

impl Default for TransportPolicy {
    fn default() -> Self {
        Self {
            selection: TransportSelection::UdpThenTcp(FallbackTrigger::default()),
            tcp_port: NAT_T_PORT,
            listen_tcp: true,
            retransmit: TcpRetransmit::Compliant,
            fragment: false,
            keepalives: false,
            init_error: InitErrorAction::Immediate,
            reconnect: ReconnectPolicy::default(),
            idle_close: Some(SimDuration::from_secs(5)),
            prefix_timeout: SimDuration::from_secs(5),
            cookie_hold: CookieHold::CloseAfter(SimDuration::from_secs(5)),
            max_invalid_frames: 8,
            close_on_auth_failure: true,
            max_frame: MAX_PAYLOAD,
            tcp: TcpConfig::default(),
            tcp_keepalive: None,
        }
    }
}

impl TransportPolicy {
    /// UDP only for the initiator; everything else at its default.
    pub fn udp_only() -> Self {
        Self {
            selection: TransportSelection::UdpOnly,
            ..Self::default()
        }
    }

    /// TCP only for the initiator; everything else at its default.
    pub fn tcp_only() -> Self {
        Self {
            selection: TransportSelection::TcpOnly,
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_backoff_doubles_up_to_the_cap() {
        let p = ReconnectPolicy::default();
        let ms: Vec<u64> = (0..11).map(|n| p.delay(n).as_millis_total()).collect();
        assert_eq!(
            ms,
            [
                100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000
            ]
        );
    }
}
