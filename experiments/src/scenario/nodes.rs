//! Nodes, by kind, and the applications and TCP settings of hosts.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use models::ip::Prefix;
use models::tcp::{CongestionControl, DelayedAck, Keepalive, TcpConfig};
use models::traffic::Start;
use serde::{Deserialize, Serialize};
use sim::{LinkParams, SimDuration};

use super::ike::IkeSpec;
use super::links::DirSpec;
use super::middle::{ActionKind, NatSpec, RuleSpec};
use crate::units::{Bytes, Dur, Rate};

/// A node, by kind.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum NodeSpec {
    /// An IP end host with applications.
    Host {
        /// Unique node name (with `count`, instances are `<name>-0`, `<name>-1`, ...).
        name: String,
        /// The address of each interface, in the order its links are listed.
        #[serde(default)]
        addresses: Vec<Ipv4Addr>,
        /// Shorthand for a single address (with `count`, instance `i` gets this plus `i`).
        #[serde(default)]
        address: Option<Ipv4Addr>,
        /// Make this many identical hosts.
        #[serde(default)]
        count: Option<u32>,
        /// With `count`: a link from each instance to this node.
        #[serde(default)]
        uplink: Option<Uplink>,
        /// Static routes (added to the computed ones).
        #[serde(default)]
        routes: Vec<StaticRoute>,
        /// Forward packets for other addresses, as a security gateway does.
        #[serde(default)]
        forwarding: bool,
        /// Applications.
        #[serde(default)]
        apps: Vec<AppSpec>,
    },
    /// An IPv4 router: longest-prefix match, TTL decrement.
    Router {
        /// Unique node name.
        name: String,
        /// Static routes (added to the computed ones).
        #[serde(default)]
        routes: Vec<StaticRoute>,
    },
    /// Sends UDP datagrams at a constant rate or on/off (a node of its own, no IP stack).
    UdpSource {
        /// Unique node name.
        name: String,
        /// Source address and port.
        src: SocketAddrV4,
        /// Destination address and port.
        dst: SocketAddrV4,
        /// Rate (of IP bytes) while sending.
        rate: Rate,
        /// IP packet size in bytes.
        #[serde(default = "default_packet_size")]
        size: usize,
        /// When to start.
        #[serde(default)]
        start: Option<Dur>,
        /// When to stop.
        #[serde(default)]
        stop: Option<Dur>,
        /// Mean on period; with `off`, makes the source exponential on/off.
        #[serde(default)]
        on: Option<Dur>,
        /// Mean off period.
        #[serde(default)]
        off: Option<Dur>,
    },
    /// Receives and measures UDP datagrams addressed to it.
    UdpSink {
        /// Unique node name.
        name: String,
        /// The address it accepts.
        address: Ipv4Addr,
    },
    /// Repeats every packet out of every other interface.
    Hub {
        /// Unique node name.
        name: String,
    },
    /// A NAPT with one public address (RFC 4787 / RFC 5382).
    Nat(NatSpec),
    /// A stateless firewall between exactly two links: ordered rules, first match wins.
    Firewall {
        /// Unique node name.
        name: String,
        /// Verdict when no rule matches: `allow` (default), `deny` or `reject`.
        #[serde(default = "allow")]
        default: ActionKind,
        /// The rules, in order.
        #[serde(default)]
        rules: Vec<RuleSpec>,
    },
    /// A bump in the wire between exactly two links that drops, delays or resets traffic
    /// when told to by `on-path-*` actions.
    OnPath {
        /// Unique node name.
        name: String,
    },
    /// An HA gateway cluster (`models::cluster`): `members` identical gateway hosts
    /// `<name>-0`, `<name>-1`, ... behind one switch called `<name>`, which the
    /// scenario's links attach to. Every member has `addresses` (one per link of the
    /// cluster: the virtual IPs) and `apps`; one member is active at a time.
    Cluster(Box<ClusterSpec>),
}

/// The keys of a `cluster` node.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// Unique node name (the switch); members are `<name>-<i>`.
    pub name: String,
    /// How many gateways. Default 2.
    #[serde(default = "two")]
    pub members: u32,
    /// The virtual addresses, one per link of the cluster, in link order.
    pub addresses: Vec<Ipv4Addr>,
    /// Forward decapsulated traffic to the networks behind the cluster. Default true.
    #[serde(default = "yes")]
    pub forwarding: bool,
    /// The applications of every member (an `ike` responder, usually).
    #[serde(default)]
    pub apps: Vec<AppSpec>,
    /// The active member copies its SA state this often. Default 1s.
    #[serde(default)]
    pub sync_interval: Option<Dur>,
    /// A copy is usable this long after it was taken. Default 0s.
    #[serde(default)]
    pub replication_lag: Option<Dur>,
    /// Heartbeat period. Default 1s.
    #[serde(default)]
    pub heartbeat: Option<Dur>,
    /// A standby declares the active member dead after this long. Default 3s.
    #[serde(default)]
    pub dead_interval: Option<Dur>,
    /// From detection to serving the virtual IP. Default 1s.
    #[serde(default)]
    pub takeover_delay: Option<Dur>,
    /// Restored SAs not synchronised with their peer by then are deleted. Default 300s.
    #[serde(default)]
    pub restore_timeout: Option<Dur>,
    /// The new active member's jump of its outbound ESP sequence numbers. Default 2^20.
    #[serde(default)]
    pub replay_jump: Option<u32>,
    /// After expansion: the cluster this switch belongs to (its own name for side 0;
    /// side `k > 0` has a switch `<name>-side<k>`).
    #[serde(skip)]
    pub cluster: String,
}

impl ClusterSpec {
    /// The cluster's policy.
    pub fn policy(&self) -> Result<models::cluster::HaPolicy, String> {
        let d = models::cluster::HaPolicy::default();
        let p = models::cluster::HaPolicy {
            sync_interval: self.sync_interval.map_or(d.sync_interval, |x| x.0),
            replication_lag: self.replication_lag.map_or(d.replication_lag, |x| x.0),
            heartbeat: self.heartbeat.map_or(d.heartbeat, |x| x.0),
            dead_interval: self.dead_interval.map_or(d.dead_interval, |x| x.0),
            takeover_delay: self.takeover_delay.map_or(d.takeover_delay, |x| x.0),
            restore_timeout: self.restore_timeout.map_or(d.restore_timeout, |x| x.0),
            replay_jump: self.replay_jump.unwrap_or(d.replay_jump),
        };
        for (key, v) in [
            ("sync_interval", p.sync_interval),
            ("heartbeat", p.heartbeat),
            ("dead_interval", p.dead_interval),
        ] {
            if v == SimDuration::ZERO {
                return Err(format!("{key}: must be longer than 0s"));
            }
        }
        if self.members < 2 {
            return Err(format!(
                "members: a cluster needs at least 2, got {}",
                self.members
            ));
        }
        if self.members > 64 {
            return Err(format!("members: at most 64, got {}", self.members));
        }
        Ok(p)
    }
}

const fn two() -> u32 {
    2
}

const fn yes() -> bool {
    true
}

fn allow() -> ActionKind {
    ActionKind::Allow
}

fn default_packet_size() -> usize {
    1000
}

impl NodeSpec {
    /// The node's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Host { name, .. }
            | Self::Router { name, .. }
            | Self::UdpSource { name, .. }
            | Self::UdpSink { name, .. }
            | Self::Hub { name }
            | Self::Nat(NatSpec { name, .. })
            | Self::Firewall { name, .. }
            | Self::OnPath { name } => name,
            Self::Cluster(c) => &c.name,
        }
    }
}

/// With `count`: the link each instance gets: `to` (the node at the other end) and the
/// [`DirSpec`] keys of `[[links]]`; the link is called `<instance>-<to>`.
#[derive(Clone, Debug, Serialize)]
pub struct Uplink {
    /// The node at the other end.
    pub to: String,
    /// The link's parameters.
    #[serde(flatten)]
    pub params: DirSpec,
}

impl<'de> Deserialize<'de> for Uplink {
    /// As [`super::LinkSpec`]: `to` is taken out, the rest must be [`DirSpec`] keys.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut t = toml::Table::deserialize(d)?;
        let to = match t.remove("to") {
            Some(toml::Value::String(s)) => s,
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "to: expected a node name, got {other}"
                )));
            }
            None => return Err(D::Error::missing_field("to")),
        };
        let params = toml::Value::Table(t)
            .try_into()
            .map_err(|e: toml::de::Error| {
                D::Error::custom(format!(
                    "uplink: {} (an uplink also takes `to`)",
                    e.message()
                ))
            })?;
        Ok(Self { to, params })
    }
}

impl Uplink {
    /// Parameters of the `a`-to-`b` and `b`-to-`a` directions of each instance's link (the
    /// same both ways), as [`super::LinkSpec::dir_params`].
    pub fn dir_params(&self) -> Result<(LinkParams, LinkParams), String> {
        let params = self.params.to_params()?;
        Ok((params.clone(), params))
    }
}

/// A static route.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StaticRoute {
    /// Destination, e.g. `"10.0.0.0/8"` or `"0.0.0.0/0"`.
    pub prefix: String,
    /// The link to send it on (one of this node's links).
    pub link: String,
}

impl StaticRoute {
    /// The parsed prefix.
    pub fn parsed(&self) -> Result<Prefix, String> {
        self.prefix
            .parse()
            .map_err(|e: models::ip::PrefixError| e.to_string())
    }
}

/// When an application starts: `"2s"` or `{ uniform = ["0s", "10s"] }`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum StartSpec {
    /// At a fixed time.
    At(Dur),
    /// Uniformly at random between two times (from the host's random stream).
    Uniform {
        /// `[earliest, latest]`.
        uniform: [Dur; 2],
    },
}

impl StartSpec {
    /// The model's start.
    pub fn start(&self) -> Start {
        match self {
            Self::At(d) => Start::At(d.0),
            Self::Uniform { uniform: [lo, hi] } => Start::Uniform(lo.0, hi.0),
        }
    }
}

impl Default for StartSpec {
    fn default() -> Self {
        Self::At(Dur(SimDuration::ZERO))
    }
}

/// An application on a host.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum AppSpec {
    /// Sends `bytes` over one TCP connection as fast as TCP allows, then closes.
    BulkSend {
        /// Where to connect.
        to: Endpoint,
        /// How much to send.
        bytes: Bytes,
        /// When to connect.
        #[serde(default)]
        start: StartSpec,
        /// TCP settings (over the scenario's `[tcp]`).
        #[serde(default)]
        tcp: TcpSpec,
    },
    /// Accepts bulk transfers on a port and measures them.
    BulkSink {
        /// Port.
        port: u16,
        /// TCP settings (over the scenario's `[tcp]`).
        #[serde(default)]
        tcp: TcpSpec,
    },
    /// Sends requests over TCP and measures response latency.
    Request {
        /// The server.
        server: Endpoint,
        /// Request size (at least 8 bytes).
        request_bytes: Bytes,
        /// Response size.
        response_bytes: Bytes,
        /// When the first request starts.
        #[serde(default)]
        start: StartSpec,
        /// How many requests, one connection each, one after the other.
        #[serde(default = "one")]
        count: u32,
        /// TCP settings (over the scenario's `[tcp]`).
        #[serde(default)]
        tcp: TcpSpec,
    },
    /// Answers requests on a port.
    Responder {
        /// Port.
        port: u16,
        /// TCP settings (over the scenario's `[tcp]`).
        #[serde(default)]
        tcp: TcpSpec,
    },
    /// Sends a UDP datagram every `interval` and measures echoed round trips.
    UdpPing {
        /// Where to send (an echo server).
        to: Endpoint,
        /// Local port.
        port: u16,
        /// Payload bytes (at least 16).
        #[serde(default = "ping_size")]
        size: usize,
        /// Time between datagrams.
        interval: Dur,
        /// When to start.
        #[serde(default)]
        start: StartSpec,
        /// When to stop.
        #[serde(default)]
        stop: Option<Dur>,
    },
    /// Echoes UDP datagrams on a port.
    UdpEcho {
        /// Port.
        port: u16,
    },
    /// An IKEv2 daemon with the ESP data plane (see `models::ike::daemon`). Shared by the
    /// instances of a group and their node factories: a copy per client was ~1.2 kB of
    /// every client of the scale scenario.
    Ike(Arc<IkeSpec>),
}

fn ping_size() -> usize {
    100
}

fn one() -> u32 {
    1
}

impl AppSpec {
    /// The application's own TCP settings (none for UDP applications).
    pub fn tcp(&self) -> Option<&TcpSpec> {
        match self {
            Self::BulkSend { tcp, .. }
            | Self::BulkSink { tcp, .. }
            | Self::Request { tcp, .. }
            | Self::Responder { tcp, .. } => Some(tcp),
            Self::UdpPing { .. } | Self::UdpEcho { .. } | Self::Ike(_) => None,
        }
    }

    /// This application as run by instance `i` of a group (`+i` endpoints resolved).
    pub fn for_instance(&self, i: u32) -> Result<Self, String> {
        let mut app = self.clone();
        match &mut app {
            Self::BulkSend { to: e, .. }
            | Self::Request { server: e, .. }
            | Self::UdpPing { to: e, .. } => {
                *e = e.resolve(i)?;
            }
            Self::BulkSink { .. }
            | Self::Responder { .. }
            | Self::UdpEcho { .. }
            | Self::Ike(_) => {}
        }
        Ok(app)
    }
}

/// A destination `"10.0.0.1:80"`, or `"10.2.0.1+i:80"` in a group: instance `i` uses the
/// address plus `i` (so sender `i` of a group talks to receiver `i` of another).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The address (plus the instance index if `per_instance`).
    pub addr: SocketAddrV4,
    /// Whether the instance index is added to the address.
    pub per_instance: bool,
}

impl Endpoint {
    /// The concrete endpoint for instance `i`.
    fn resolve(self, i: u32) -> Result<Self, String> {
        if !self.per_instance {
            return Ok(self);
        }
        let ip = u32::from(*self.addr.ip()).checked_add(i).ok_or_else(|| {
            format!(
                "{}+i runs past 255.255.255.255 for instance {i}",
                self.addr.ip()
            )
        })?;
        Ok(Self {
            addr: SocketAddrV4::new(Ipv4Addr::from(ip), self.addr.port()),
            per_instance: false,
        })
    }
}

impl std::str::FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || {
            format!(
                "expected an address and port such as \"10.0.0.1:80\" or \"10.2.0.1+i:80\", got {s:?}"
            )
        };
        let (host, port) = s.rsplit_once(':').ok_or_else(err)?;
        let (host, per_instance) = match host.strip_suffix("+i") {
            Some(h) => (h, true),
            None => (host, false),
        };
        let ip: Ipv4Addr = host.parse().map_err(|_| err())?;
        let port: u16 = port.parse().map_err(|_| err())?;
        Ok(Self {
            addr: SocketAddrV4::new(ip, port),
            per_instance,
        })
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Endpoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let plus = if self.per_instance { "+i" } else { "" };
        s.serialize_str(&format!("{}{plus}:{}", self.addr.ip(), self.addr.port()))
    }
}

/// TCP settings; unset fields keep the defaults of `models::tcp::TcpConfig`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TcpSpec {
    /// Maximum segment size to advertise (bytes of payload per segment, before options).
    pub mss: Option<u16>,
    /// Initial congestion window in segments.
    pub initial_window: Option<u32>,
    /// Initial retransmission timeout.
    pub rto_initial: Option<Dur>,
    /// Lower bound of the retransmission timeout.
    pub rto_min: Option<Dur>,
    /// Upper bound of the retransmission timeout.
    pub rto_max: Option<Dur>,
    /// Data retransmissions before the connection is aborted.
    pub max_retransmissions: Option<u32>,
    /// SYN retransmissions before giving up.
    pub syn_retries: Option<u32>,
    /// Abort when data stays unacknowledged this long.
    pub user_timeout: Option<Dur>,
    /// Delayed ACKs on or off.
    pub delayed_ack: Option<bool>,
    /// With delayed ACKs: acknowledge every this many full segments.
    pub delayed_ack_segments: Option<u32>,
    /// With delayed ACKs: the longest an ACK waits.
    pub delayed_ack_timeout: Option<Dur>,
    /// SACK (RFC 2018/6675).
    pub sack: Option<bool>,
    /// Timestamps (RFC 7323).
    pub timestamps: Option<bool>,
    /// Window scaling (RFC 7323).
    pub window_scale: Option<bool>,
    /// Nagle's algorithm.
    pub nagle: Option<bool>,
    /// Keepalive: idle time before the first probe (enables keepalive).
    pub keepalive_idle: Option<Dur>,
    /// Keepalive: interval between probes.
    pub keepalive_interval: Option<Dur>,
    /// Keepalive: unanswered probes before the connection is dropped.
    pub keepalive_count: Option<u32>,
    /// Send buffer size.
    pub send_buffer: Option<Bytes>,
    /// Receive buffer size.
    pub recv_buffer: Option<Bytes>,
    /// TIME-WAIT duration.
    pub time_wait: Option<Dur>,
    /// Congestion control: `newreno`.
    pub congestion: Option<String>,
    /// Limited transmit (RFC 3042).
    pub limited_transmit: Option<bool>,
    /// Without SACK, recover as ns-3.44 does rather than as RFC 6582 says (for comparisons
    /// with ns-3; see `models::tcp::TcpConfig::ns3_reno_recovery`).
    pub ns3_reno_recovery: Option<bool>,
    /// Record cwnd/ssthresh over time.
    pub cwnd_series: Option<bool>,
}

impl TcpSpec {
    /// `self` over `base`: fields set here win.
    pub fn over(&self, base: &Self) -> Self {
        macro_rules! pick {
            ($($f:ident),*) => { Self { $($f: self.$f.clone().or_else(|| base.$f.clone())),* } };
        }
        pick!(
            mss,
            initial_window,
            rto_initial,
            rto_min,
            rto_max,
            max_retransmissions,
            syn_retries,
            user_timeout,
            delayed_ack,
            delayed_ack_segments,
            delayed_ack_timeout,
            sack,
            timestamps,
            window_scale,
            nagle,
            keepalive_idle,
            keepalive_interval,
            keepalive_count,
            send_buffer,
            recv_buffer,
            time_wait,
            congestion,
            limited_transmit,
            ns3_reno_recovery,
            cwnd_series
        )
    }

    /// The model's configuration, or what is wrong.
    pub fn config(&self) -> Result<TcpConfig, String> {
        let mut c = TcpConfig::default();
        let set = |slot: &mut SimDuration, v: Option<Dur>| {
            if let Some(d) = v {
                *slot = d.0;
            }
        };
        if let Some(m) = self.mss {
            if m < 64 {
                return Err(format!("tcp.mss: must be at least 64 bytes, got {m}"));
            }
            c.mss = m;
        }
        if let Some(w) = self.initial_window {
            if w == 0 {
                return Err("tcp.initial_window: must be at least 1 segment".into());
            }
            c.initial_window_segments = w;
        }
        set(&mut c.rto_initial, self.rto_initial);
        set(&mut c.rto_min, self.rto_min);
        set(&mut c.rto_max, self.rto_max);
        if c.rto_min > c.rto_max {
            return Err("tcp: rto_min must not exceed rto_max".into());
        }
        c.max_retransmissions = self.max_retransmissions.unwrap_or(c.max_retransmissions);
        c.syn_retries = self.syn_retries.unwrap_or(c.syn_retries);
        if let Some(u) = self.user_timeout {
            c.user_timeout = Some(u.0);
        }
        match self.delayed_ack {
            Some(false) => c.delayed_ack = None,
            _ => {
                if let Some(d) = &mut c.delayed_ack {
                    d.segments = self.delayed_ack_segments.unwrap_or(d.segments).max(1);
                    set(&mut d.timeout, self.delayed_ack_timeout);
                } else if self.delayed_ack == Some(true) {
                    c.delayed_ack = Some(DelayedAck::default());
                }
            }
        }
        c.sack = self.sack.unwrap_or(c.sack);
        c.timestamps = self.timestamps.unwrap_or(c.timestamps);
        c.window_scale = self.window_scale.unwrap_or(c.window_scale);
        c.nagle = self.nagle.unwrap_or(c.nagle);
        if let Some(idle) = self.keepalive_idle {
            // Unset interval and count take Linux's defaults (75 s, 9 probes).
            c.keepalive = Some(Keepalive {
                idle: idle.0,
                interval: self
                    .keepalive_interval
                    .map_or(SimDuration::from_secs(75), |i| i.0),
                count: self.keepalive_count.unwrap_or(9),
            });
        } else if self.keepalive_interval.is_some() || self.keepalive_count.is_some() {
            return Err("tcp: keepalive_interval and keepalive_count need keepalive_idle".into());
        }
        if let Some(b) = self.send_buffer {
            c.send_buffer = usize::try_from(b.0).map_err(|_| "tcp.send_buffer: too large")?;
        }
        if let Some(b) = self.recv_buffer {
            c.recv_buffer = usize::try_from(b.0).map_err(|_| "tcp.recv_buffer: too large")?;
        }
        set(&mut c.time_wait, self.time_wait);
        if let Some(cc) = &self.congestion {
            c.congestion = match cc.as_str() {
                "newreno" => CongestionControl::NewReno,
                other => return Err(format!("tcp.congestion: expected newreno, got {other:?}")),
            };
        }
        c.limited_transmit = self.limited_transmit.unwrap_or(c.limited_transmit);
        c.ns3_reno_recovery = self.ns3_reno_recovery.unwrap_or(c.ns3_reno_recovery);
        c.cwnd_series = self.cwnd_series.unwrap_or(c.cwnd_series);
        Ok(c)
    }
}
