//! The IKE daemon application in scenarios: role, credentials, selectors and policies.

use std::net::Ipv4Addr;

use models::esp::ReplayWindowSize;
use models::ike::crypto::DhGroup;
use models::ike::daemon::{
    Connect, CookieHold, FallbackTrigger, IkeDaemonConfig, TcpRetransmit, TransportPolicy,
    TransportSelection,
};
use models::ike::sa::{
    AddressPool, EndpointConfig, IkeConfig, InitErrorAction, InnerAddress, LivenessMode,
    PuzzlePolicy, Retransmission,
};
use models::ike::wire::{IdPayload, TrafficSelector};
use models::ip::Prefix;
use serde::{Deserialize, Serialize};

use super::StartSpec;
use crate::units::Dur;

/// An IKE daemon (IKEv2 with PSK, ESP tunnel mode) on a host.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IkeSpec {
    /// `initiator` (a client: set `peer`) or `responder` (a gateway: set `pool` to assign
    /// inner addresses).
    pub role: IkeRole,
    /// The responder's address (initiator).
    #[serde(default)]
    pub peer: Option<Ipv4Addr>,
    /// The pre-shared key.
    pub psk: String,
    /// Our identity (FQDN); default: our address.
    #[serde(default)]
    pub id: Option<String>,
    /// When the initiator starts.
    #[serde(default)]
    pub start: StartSpec,
    /// Selectors of our side (prefixes); default any.
    #[serde(default)]
    pub local_ts: Vec<String>,
    /// Selectors of the peer's side (prefixes); default any.
    #[serde(default)]
    pub remote_ts: Vec<String>,
    /// Initiator: ask the responder for an inner address (RFC 7296 §2.19).
    #[serde(default)]
    pub request_address: bool,
    /// Responder: inner addresses to hand out: `{ first = "10.8.0.1", size = 250 }`.
    #[serde(default)]
    pub pool: Option<PoolSpec>,
    /// DH groups to offer, first preferred: `curve25519` (31), `ecp256` (19).
    #[serde(default)]
    pub dh_groups: Vec<String>,
    /// A fresh DH exchange when Child SAs are rekeyed (PFS).
    #[serde(default)]
    pub child_pfs: bool,
    /// Retransmission timer: first wait (default 4 s).
    #[serde(default)]
    pub retransmit_initial: Option<Dur>,
    /// Retransmission timer: growth per try, per mille (default 1800).
    #[serde(default)]
    pub retransmit_multiplier_per_mille: Option<u32>,
    /// Retransmissions before the peer is declared dead (default 5).
    #[serde(default)]
    pub retransmit_tries: Option<u32>,
    /// `timers` (default) or `off` (RFC 9329 §6.2 over TCP).
    #[serde(default)]
    pub retransmission: Option<String>,
    /// Liveness check after this much silence (default 30 s); `"0s"` disables it.
    #[serde(default)]
    pub liveness_interval: Option<Dur>,
    /// `on-demand` (default, RFC 7296 §2.4), `periodic` (RFC 9329 §7.4 towards an HA
    /// cluster), or `tcp-keepalive` (no IKE liveness checks; TCP keepalive probes on the
    /// RFC 9329 connection every `liveness_interval` of silence instead).
    #[serde(default)]
    pub liveness_mode: Option<String>,
    /// Announce RFC 6311 IKEV2_MESSAGE_ID_SYNC_SUPPORTED in IKE_AUTH (default true).
    #[serde(default)]
    pub ha_message_id_sync: Option<bool>,
    /// Announce RFC 6311 IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED in IKE_AUTH (default true).
    #[serde(default)]
    pub ha_replay_counter_sync: Option<bool>,
    /// Child SA rekey time (soft lifetime).
    #[serde(default)]
    pub child_rekey: Option<Dur>,
    /// Child SA hard lifetime.
    #[serde(default)]
    pub child_lifetime: Option<Dur>,
    /// IKE SA rekey time.
    #[serde(default)]
    pub ike_rekey: Option<Dur>,
    /// IKE SA hard lifetime.
    #[serde(default)]
    pub ike_lifetime: Option<Dur>,
    /// Random part subtracted from rekey times.
    #[serde(default)]
    pub rekey_jitter: Option<Dur>,
    /// Largest IKE message before fragmentation (RFC 7383; default 1280).
    #[serde(default)]
    pub fragment_size: Option<usize>,
    /// NAT keepalive interval when behind a NAT (default 20 s; `"0s"` disables).
    #[serde(default)]
    pub nat_keepalive: Option<Dur>,
    /// ESP anti-replay window in packets (default 64).
    #[serde(default)]
    pub replay_window: Option<u32>,
    /// Responder: demand COOKIEs above this many half-open SAs.
    #[serde(default)]
    pub cookie_threshold: Option<usize>,
    /// Responder: with every COOKIE, demand an RFC 8019 puzzle of this many zero bits.
    #[serde(default)]
    pub puzzle_difficulty: Option<u8>,
    /// Initiator: PRF computations per second when solving puzzles, which sets how much
    /// virtual time a solution costs (default 1,000,000).
    #[serde(default)]
    pub puzzle_hash_rate: Option<u64>,
    /// Responder: put the initiator's port into the cookie (RFC 9329 §6.3 says not to:
    /// a retry on a new TCP connection then fails the check). Default false.
    #[serde(default)]
    pub cookie_includes_port: bool,
    /// Initiator transport (RFC 9329 §5.1): `udp` (default), `tcp` or `udp-then-tcp`.
    #[serde(default)]
    pub transport: Option<TransportKey>,
    /// `udp-then-tcp`: fall back after this many unanswered UDP retransmissions of
    /// IKE_SA_INIT (default 1).
    #[serde(default)]
    pub tcp_fallback_retransmissions: Option<u32>,
    /// `udp-then-tcp`: fall back after this fixed delay instead.
    #[serde(default)]
    pub tcp_fallback_after: Option<Dur>,
    /// The responder's TCP port (default 4500, RFC 9329 §2).
    #[serde(default)]
    pub tcp_port: Option<u16>,
    /// Responder: listen on the TCP port (default true).
    #[serde(default)]
    pub tcp_listen: Option<bool>,
    /// Retransmission over TCP (RFC 9329 §6.2): `compliant` (default: none, resend after
    /// reconnect) or `timers` (RFC 7296 timers as over UDP).
    #[serde(default)]
    pub tcp_retransmit: Option<TcpRetransmitKey>,
    /// Send IKE fragments over TCP anyway (RFC 9329 §7.5: default false).
    #[serde(default)]
    pub tcp_fragment: bool,
    /// Send NAT keepalives over TCP anyway (RFC 9329 §6.6: default false).
    #[serde(default)]
    pub tcp_keepalives: bool,
    /// Error notify in IKE_SA_INIT over TCP (RFC 9329 §6.4): `immediate` (default) or
    /// `wait`.
    #[serde(default)]
    pub tcp_init_error: Option<InitErrorKey>,
    /// Error notify in IKE_SA_INIT over UDP: `immediate` (default) or `wait` (RFC 7296
    /// §2.21.1: keep retransmitting in case a genuine response follows).
    #[serde(default)]
    pub udp_init_error: Option<InitErrorKey>,
    /// First wait before re-opening a broken connection (default 100 ms; doubles).
    #[serde(default)]
    pub tcp_reconnect_delay: Option<Dur>,
    /// Responder: close connections without an IKE SA after this long (default 5 s;
    /// `"0s"` keeps them).
    #[serde(default)]
    pub tcp_idle_close: Option<Dur>,
    /// Responder: close a connection this long after a COOKIE answer without a retry
    /// (RFC 9329 §6.3; default 5 s).
    #[serde(default)]
    pub tcp_cookie_hold: Option<Dur>,
    /// Responder: keep the connection after a COOKIE answer.
    #[serde(default)]
    pub tcp_cookie_keep: bool,
    /// Close a connection after this many invalid frames (default 8).
    #[serde(default)]
    pub tcp_max_invalid_frames: Option<u32>,
    /// MOBIKE (RFC 4555; RFC 9329 §7.1): announce MOBIKE_SUPPORTED (default true).
    #[serde(default)]
    pub mobike: Option<bool>,
    /// MOBIKE: return-routability checks with COOKIE2 over UDP (default true).
    #[serde(default)]
    pub mobike_return_routability: Option<bool>,
    /// MOBIKE client: send an unanswered UDP update over TCP after this many
    /// retransmissions (default 1).
    #[serde(default)]
    pub mobike_tcp_retransmissions: Option<u32>,
    /// MOBIKE client: ... or after this fixed delay from the move instead.
    #[serde(default)]
    pub mobike_tcp_after: Option<Dur>,
    /// MOBIKE client: switch to TCP at all (default true).
    #[serde(default)]
    pub mobike_tcp: Option<bool>,
    /// MOBIKE client: `keep` (default, RFC 9329 §7.1) or `new` Message ID on the switch.
    #[serde(default)]
    pub mobike_message_id: Option<String>,
    /// MOBIKE client: `recompute` (default, RFC 9329 §7.1) or `stale` NAT-D after the
    /// switch to TCP.
    #[serde(default)]
    pub mobike_nat_detection: Option<String>,
}

/// `transport` of an initiator (RFC 9329 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransportKey {
    /// UDP only.
    Udp,
    /// TCP only.
    Tcp,
    /// UDP first, then TCP.
    UdpThenTcp,
}

/// `tcp_retransmit` (RFC 9329 §6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TcpRetransmitKey {
    /// No timer retransmission over TCP.
    Compliant,
    /// RFC 7296 timers over TCP too.
    Timers,
}

/// `tcp_init_error` (RFC 9329 §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitErrorKey {
    /// Act on the error at once.
    Immediate,
    /// Wait for a possibly genuine response.
    Wait,
}

/// Which side of IKE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IkeRole {
    /// Starts the IKE SA.
    Initiator,
    /// Answers.
    Responder,
}

/// An address pool.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    /// First address handed out.
    pub first: Ipv4Addr,
    /// How many.
    pub size: u32,
}

fn selectors(key: &str, list: &[String]) -> Result<Vec<TrafficSelector>, String> {
    if list.is_empty() {
        return Ok(vec![TrafficSelector::ipv4_any()]);
    }
    list.iter()
        .map(|s| {
            let p: Prefix = s.parse().map_err(|e| format!("{key}: {e}"))?;
            Ok(TrafficSelector::ipv4(p.addr(), p.last()))
        })
        .collect()
}

impl IkeSpec {
    /// The transport policy (RFC 9329).
    pub fn transport(&self) -> Result<TransportPolicy, String> {
        let mut t = TransportPolicy::default();
        let trigger = match (self.tcp_fallback_after, self.tcp_fallback_retransmissions) {
            (Some(_), Some(_)) => {
                return Err(
                    "ike: set tcp_fallback_after or tcp_fallback_retransmissions, not both".into(),
                );
            }
            (Some(d), None) => FallbackTrigger::After(d.0),
            (None, Some(n)) => FallbackTrigger::Retransmissions(n),
            (None, None) => FallbackTrigger::default(),
        };
        t.selection = match self.transport {
            None | Some(TransportKey::Udp) => TransportSelection::UdpOnly,
            Some(TransportKey::Tcp) => TransportSelection::TcpOnly,
            Some(TransportKey::UdpThenTcp) => TransportSelection::UdpThenTcp(trigger),
        };
        if let Some(p) = self.tcp_port {
            t.tcp_port = p;
        }
        if let Some(l) = self.tcp_listen {
            t.listen_tcp = l;
        }
        t.retransmit = match self.tcp_retransmit {
            None | Some(TcpRetransmitKey::Compliant) => TcpRetransmit::Compliant,
            Some(TcpRetransmitKey::Timers) => TcpRetransmit::Timers,
        };
        t.fragment = self.tcp_fragment;
        t.keepalives = self.tcp_keepalives;
        if self.liveness_mode.as_deref() == Some("tcp-keepalive") {
            // RFC 9329 §6.7: TCP keepalives may be used, but are no proof of IKE liveness.
            let idle = self
                .liveness_interval
                .map_or(sim::SimDuration::from_secs(30), |d| d.0);
            t.tcp_keepalive = Some(models::tcp::Keepalive {
                idle,
                interval: idle,
                count: 3,
            });
        }
        t.init_error = match self.tcp_init_error {
            None | Some(InitErrorKey::Immediate) => InitErrorAction::Immediate,
            Some(InitErrorKey::Wait) => InitErrorAction::Wait,
        };
        if let Some(d) = self.tcp_reconnect_delay {
            t.reconnect.initial = d.0;
        }
        if let Some(d) = self.tcp_idle_close {
            t.idle_close = (d.0 > sim::SimDuration::ZERO).then_some(d.0);
        }
        if let Some(d) = self.tcp_cookie_hold {
            t.cookie_hold = CookieHold::CloseAfter(d.0);
        }
        if self.tcp_cookie_keep {
            t.cookie_hold = CookieHold::Keep;
        }
        if let Some(n) = self.tcp_max_invalid_frames {
            t.max_invalid_frames = n.max(1);
        }
        Ok(t)
    }

    /// The daemon's configuration for a host whose first address is `address`.
    pub fn config(&self, address: Option<Ipv4Addr>) -> Result<IkeDaemonConfig, String> {
        self.transport()?;
        let id = match (&self.id, address) {
            (Some(name), _) => IdPayload::fqdn(name),
            (None, Some(a)) => IdPayload::ipv4(a),
            (None, None) => return Err("ike: id is needed on a host without an address".into()),
        };
        let mut c = IkeConfig::new(self.psk.as_bytes(), id);
        c.local_ts = selectors("local_ts", &self.local_ts)?;
        c.remote_ts = selectors("remote_ts", &self.remote_ts)?;
        if !self.dh_groups.is_empty() {
            c.dh_groups = self
                .dh_groups
                .iter()
                .map(|g| match g.as_str() {
                    "curve25519" => Ok(DhGroup::Curve25519),
                    "ecp256" => Ok(DhGroup::Ecp256),
                    other => Err(format!(
                        "ike.dh_groups: expected curve25519 or ecp256, got {other:?}"
                    )),
                })
                .collect::<Result<_, _>>()?;
        }
        c.child_pfs = self.child_pfs;
        if self.udp_init_error == Some(InitErrorKey::Wait) {
            c.init_error = InitErrorAction::Wait;
        }
        if self.request_address {
            c.inner_address = InnerAddress::Request;
        }
        let r = &mut c.retransmit;
        if let Some(d) = self.retransmit_initial {
            r.initial = d.0;
        }
        r.multiplier_per_mille = self
            .retransmit_multiplier_per_mille
            .unwrap_or(r.multiplier_per_mille);
        r.max_tries = self.retransmit_tries.unwrap_or(r.max_tries);
        r.mode = match self.retransmission.as_deref() {
            None | Some("timers") => Retransmission::Timers,
            Some("off") => Retransmission::Off,
            Some(other) => {
                return Err(format!(
                    "ike.retransmission: expected timers or off, got {other:?}"
                ));
            }
        };
        if let Some(i) = self.liveness_interval {
            c.liveness.interval = (i.0 > sim::SimDuration::ZERO).then_some(i.0);
        }
        c.liveness.mode = match self.liveness_mode.as_deref() {
            None | Some("on-demand") => LivenessMode::OnDemand,
            Some("periodic") => LivenessMode::Periodic,
            Some("tcp-keepalive") => {
                c.liveness.interval = None;
                LivenessMode::OnDemand
            }
            Some(other) => {
                return Err(format!(
                    "ike.liveness_mode: expected on-demand, periodic or tcp-keepalive, got {other:?}"
                ));
            }
        };
        if let Some(on) = self.ha_message_id_sync {
            c.ha_sync.message_id = on;
        }
        if let Some(on) = self.ha_replay_counter_sync {
            c.ha_sync.replay_counter = on;
        }
        let l = &mut c.lifetimes;
        for (slot, v) in [
            (&mut l.child_soft, self.child_rekey),
            (&mut l.child_hard, self.child_lifetime),
            (&mut l.ike_soft, self.ike_rekey),
            (&mut l.ike_hard, self.ike_lifetime),
            (&mut l.jitter, self.rekey_jitter),
        ] {
            if let Some(d) = v {
                *slot = d.0;
            }
        }
        if l.child_soft >= l.child_hard || l.ike_soft >= l.ike_hard {
            return Err("ike: rekey times must be shorter than the lifetimes".into());
        }
        if let Some(f) = self.fragment_size {
            if !(576..=65_000).contains(&f) {
                return Err(format!(
                    "ike.fragment_size: expected 576 to 65000 bytes, got {f}"
                ));
            }
            c.fragmentation.fragment_size = f;
        }
        if let Some(rate) = self.puzzle_hash_rate {
            if rate == 0 {
                return Err("ike.puzzle_hash_rate: must be above 0".into());
            }
            c.puzzle_hash_rate_per_sec = rate;
        }
        if self.puzzle_difficulty.is_some_and(|d| d > 24) {
            return Err("ike.puzzle_difficulty: at most 24 bits (the search really runs)".into());
        }
        self.apply_mobike(&mut c)?;
        let endpoint = match self.role {
            IkeRole::Initiator => EndpointConfig::initiator(),
            IkeRole::Responder => {
                let mut e = EndpointConfig::responder(c.clone());
                e.pool = self.pool.map(|p| AddressPool {
                    first: p.first,
                    size: p.size,
                });
                if let Some(t) = self.cookie_threshold {
                    e.half_open.cookie_threshold = t;
                }
                e.half_open.puzzle = self.puzzle_difficulty.map(|difficulty| PuzzlePolicy {
                    difficulty,
                    hash_rate_per_sec: self.puzzle_hash_rate.unwrap_or(1_000_000),
                });
                e.half_open.cookie.include_port = self.cookie_includes_port;
                e
            }
        };
        let connect = match (self.role, self.peer) {
            (IkeRole::Initiator, Some(peer)) => Some(Connect {
                peer,
                config: c.into(),
                start: self.start.start(),
            }),
            (IkeRole::Initiator, None) => return Err("ike: an initiator needs `peer`".into()),
            (IkeRole::Responder, _) => None,
        };
        let replay_window = match self.replay_window {
            None => ReplayWindowSize::DEFAULT,
            Some(n) => ReplayWindowSize::new(n)
                .ok_or_else(|| format!("ike.replay_window: 1 to 65536 packets, got {n}"))?,
        };
        let nat_keepalive = match self.nat_keepalive {
            None => Some(sim::SimDuration::from_secs(20)),
            Some(d) => (d.0 > sim::SimDuration::ZERO).then_some(d.0),
        };
        Ok(IkeDaemonConfig {
            endpoint,
            connect,
            nat_keepalive,
            replay_window,
        })
    }
}
