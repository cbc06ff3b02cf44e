//! UDP applications for hosts: a constant-rate sender that measures echoed round trips, and
//! an echo server. They exercise tunnels (ESP in UDP or TCP) with traffic in both
//! directions.

use std::net::SocketAddrV4;

use sim::{SimDuration, SimTime};

use super::Start;
use crate::ip::{App, HostCtx};

/// Configuration of a [`UdpPinger`].
#[derive(Clone, Debug)]
pub struct UdpPingerConfig {
    /// Where to send.
    pub to: SocketAddrV4,
    /// Local port.
    pub port: u16,
    /// Datagram payload size in bytes (at least 16: sequence number and send time).
    pub size: usize,
    /// Time between datagrams.
    pub interval: SimDuration,
    /// When to send the first.
    pub start: Start,
    /// When to stop (never if `None`).
    pub stop: Option<SimDuration>,
}

/// Sends a datagram every `interval` and measures the round trip of the echoes.
///
/// Metrics: `udp_sent`, `udp_send_failed` (no route), `udp_echoes`, `udp_rtt_ns`
/// (histogram), `udp_reordered`.
#[derive(Debug)]
pub struct UdpPinger {
    cfg: UdpPingerConfig,
    seq: u64,
    highest_echo: Option<u64>,
}

impl UdpPinger {
    /// A pinger with this configuration.
    pub fn new(mut cfg: UdpPingerConfig) -> Self {
        cfg.size = cfg.size.max(16);
        Self {
            cfg,
            seq: 0,
            highest_echo: None,
        }
    }
}

impl App for UdpPinger {
    fn start(&mut self, host: &mut HostCtx<'_, '_>) {
        if host.udp_bind(self.cfg.port).is_err() {
            host.metrics().incr("udp_bind_failed");
            return;
        }
        let at = SimTime::ZERO + self.cfg.start.draw(host.rng());
        host.set_timer(at, 0);
    }

    fn on_timer(&mut self, host: &mut HostCtx<'_, '_>, _: u64) {
        let now = host.now();
        if self
            .cfg
            .stop
            .is_some_and(|stop| now >= SimTime::ZERO + stop)
        {
            return;
        }
        let mut payload = vec![0; self.cfg.size];
        payload[..8].copy_from_slice(&self.seq.to_be_bytes());
        payload[8..16].copy_from_slice(&now.as_nanos().to_be_bytes());
        self.seq += 1;
        let metric = match host.udp_send(self.cfg.port, self.cfg.to, &payload) {
            Ok(()) => "udp_sent",
            Err(_) => "udp_send_failed",
        };
        host.metrics().incr(metric);
        host.set_timer(now + self.cfg.interval, 0);
    }

    fn on_udp(
        &mut self,
        host: &mut HostCtx<'_, '_>,
        from: SocketAddrV4,
        _: SocketAddrV4,
        payload: &[u8],
    ) {
        if from != self.cfg.to || payload.len() < 16 {
            return host.metrics().incr("udp_unexpected");
        }
        let seq = u64::from_be_bytes(payload[..8].try_into().expect("8 bytes"));
        let sent = u64::from_be_bytes(payload[8..16].try_into().expect("8 bytes"));
        let rtt = host.now().as_nanos().saturating_sub(sent);
        let m = host.metrics();
        m.incr("udp_echoes");
        m.record("udp_rtt_ns", rtt);
        if self.highest_echo.is_some_and(|h| seq < h) {
            m.incr("udp_reordered");
        }
        self.highest_echo = Some(self.highest_echo.map_or(seq, |h| h.max(seq)));
    }
}

/// Sends every datagram it receives on `port` back to its sender (RFC 862 style).
///
/// Metric: `udp_echoed`.
#[derive(Clone, Copy, Debug)]
pub struct UdpEcho {
    port: u16,
}

impl UdpEcho {
    /// An echo server on `port`.
    pub fn new(port: u16) -> Self {
        Self { port }
    }
}

impl App for UdpEcho {
    fn start(&mut self, host: &mut HostCtx<'_, '_>) {
        if host.udp_bind(self.port).is_err() {
            host.metrics().incr("udp_bind_failed");
        }
    }

    fn on_udp(
        &mut self,
        host: &mut HostCtx<'_, '_>,
        from: SocketAddrV4,
        _: SocketAddrV4,
        payload: &[u8],
    ) {
        if host.udp_send(self.port, from, payload).is_ok() {
            host.metrics().incr("udp_echoed");
        }
    }
}
