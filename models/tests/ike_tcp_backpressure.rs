//! ESP in TCP under back-pressure (protocol.md §1.12, the Linux `espintcp` rule): the
//! sender keeps at most one partially written ESP message beyond the TCP send buffer and
//! tail-drops the next ESP packet while it cannot finish it (`esp_dropped_backpressure`);
//! IKE messages wait in a queue instead and are never dropped, so liveness checks keep
//! working through a saturated tunnel. With a large send buffer nothing is dropped: the
//! buffer becomes a standing queue and the tunnel's delay grows instead.
//!
//! client 192.168.1.10 (IKE initiator over TCP, a heavy UDP pinger) -- 1 Mbit/s --
//! gateway 203.0.113.1 | 10.10.0.1 -- server 10.10.0.10 (UDP echo).

#![allow(clippy::unwrap_used, reason = "tests")]

mod ike_tcp_harness;

use std::net::SocketAddrV4;

use ike_tcp_harness::{SERVER, ms, secs};
use models::ike::daemon::{IkeCommand, IkeDaemon, TransportPolicy};
use models::ip::Host;
use models::tcp::TcpConfig;
use models::traffic::Start;
use models::traffic::datagram::{UdpPinger, UdpPingerConfig};
use sim::{Action, LinkParams, Metric, NodeId, SimDuration, SimTime, Simulation};

/// The bottleneck between client and gateway, both ways.
const WAN_BPS: u64 = 1_000_000;
/// The pinger: 500-byte datagrams every 2 ms (2 Mbit/s of inner traffic) from 2 s to 3.5 s.
const PING_SIZE: usize = 500;

struct Lab {
    sim: Simulation,
    client: NodeId,
    gateway: NodeId,
}

impl Lab {
    /// Both ends use a TCP send buffer of `send_buffer` bytes.
    fn new(send_buffer: usize) -> Self {
        let tcp = TcpConfig {
            send_buffer,
            ..TcpConfig::default()
        };
        let client_policy = TransportPolicy {
            tcp: tcp.clone(),
            ..TransportPolicy::tcp_only()
        };
        let gateway_policy = TransportPolicy {
            tcp,
            ..TransportPolicy::default()
        };
        let pinger = UdpPinger::new(UdpPingerConfig {
            to: SocketAddrV4::new(SERVER, 7),
            port: 40000,
            size: PING_SIZE,
            interval: ms(2),
            start: Start::At(secs(2)),
            stop: Some(ms(3500)),
        });
        let wan = LinkParams::new().delay(ms(10)).rate_bps(WAN_BPS);
        let lan = LinkParams::new().delay(ms(1)).rate_bps(100_000_000);
        let (sim, client, gateway) = ike_tcp_harness::direct(
            client_policy,
            gateway_policy,
            vec![Box::new(pinger)],
            wan,
            lan,
        );
        let mut lab = Self {
            sim,
            client,
            gateway,
        };
        // Liveness checks both ways while the tunnel is saturated.
        for t in [2500, 3000, 3500] {
            lab.command(ms(t), lab.client);
            lab.command(ms(t + 100), lab.gateway);
        }
        lab
    }

    fn command(&mut self, at: SimDuration, node: NodeId) {
        self.sim.schedule(
            SimTime::ZERO + at,
            Action::Custom {
                node,
                payload: Box::new(IkeCommand::CheckLiveness),
            },
        );
    }

    fn run_until(&mut self, t: SimDuration) {
        self.sim.run_until(SimTime::ZERO + t).unwrap();
    }

    fn counter(&self, node: NodeId, name: &str) -> u64 {
        self.metric(node, name, |m| match m {
            Metric::Counter(c) => *c,
            _ => 0,
        })
    }

    /// The largest sample of a histogram, 0 if none.
    fn max(&self, node: NodeId, name: &str) -> u64 {
        self.metric(node, name, |m| match m {
            Metric::Histogram(h) => h.max(),
            _ => 0,
        })
    }

    fn metric(&self, node: NodeId, name: &str, f: impl Fn(&Metric) -> u64) -> u64 {
        self.sim
            .nodes()
            .find(|(id, _, _)| *id == node)
            .and_then(|(_, _, m)| m.get(name).map(&f))
            .unwrap_or(0)
    }

    fn daemon(&self, node: NodeId) -> &IkeDaemon {
        self.sim
            .node::<Host>(node)
            .unwrap()
            .apps_of::<IkeDaemon>()
            .next()
            .unwrap()
    }

    /// IKE over the connection lost nothing: every message one side sent, the other
    /// received; no exchange failed; the single IKE SA is up on both sides.
    fn assert_ike_intact(&self) {
        let (c, g) = (self.client, self.gateway);
        assert_eq!(
            self.counter(c, "ike_messages_sent"),
            self.counter(g, "ike_messages_received")
        );
        assert_eq!(
            self.counter(g, "ike_messages_sent"),
            self.counter(c, "ike_messages_received")
        );
        for node in [c, g] {
            let e = self.daemon(node).endpoint().unwrap();
            assert_eq!(e.sa_totals().exchanges_failed, 0);
            assert_eq!(e.sas().filter(|(_, s)| s.is_established()).count(), 1);
            assert_eq!(self.counter(node, "ike_failed"), 0);
        }
        assert_eq!(self.counter(c, "tcp_reconnections"), 0);
        assert_eq!(self.counter(c, "ike_established"), 1);
    }

    /// Requests of the client's SA sent so far (IKE_SA_INIT, IKE_AUTH, liveness, ...).
    fn requests(&self, node: NodeId) -> u64 {
        self.daemon(node)
            .endpoint()
            .unwrap()
            .sa_totals()
            .requests_sent
    }
}

/// A small send buffer (4 KiB) on a 1 Mbit/s path with 2 Mbit/s of tunnel traffic: the
/// client tail-drops ESP (`esp_dropped_backpressure`), while all six liveness exchanges
/// complete and not one IKE message is lost.
#[test]
fn small_send_buffer_tail_drops_esp_but_never_ike() {
    let mut lab = Lab::new(4096);
    lab.run_until(secs(8));
    let (c, g) = (lab.client, lab.gateway);
    let sent = lab.counter(c, "udp_sent");
    let dropped = lab.counter(c, "esp_dropped_backpressure");
    let echoes = lab.counter(c, "udp_echoes");
    let rtt_max = lab.max(c, "udp_rtt_ns");
    eprintln!(
        "small buffer: sent {sent}, esp out {}, dropped {dropped} (gateway {}), echoes {echoes}, \
         max rtt {} ms",
        lab.counter(c, "esp_packets_out"),
        lab.counter(g, "esp_dropped_backpressure"),
        rtt_max / 1_000_000
    );
    assert!(sent >= 740, "{sent}");
    // Offered about twice what the path carries: a large part is dropped at the client.
    assert!(dropped > sent / 4, "{dropped} of {sent}");
    assert_eq!(
        lab.counter(c, "esp_packets_out") + dropped,
        sent,
        "every ping either entered the stream or was tail-dropped"
    );
    assert!(echoes > 0);
    // The queue stays short: a 4 KiB buffer is ~35 ms at 1 Mbit/s.
    assert!(rtt_max < 500_000_000, "{rtt_max}");
    assert_eq!(lab.counter(c, "esp_dropped_not_established"), 0);
    lab.assert_ike_intact();
    // IKE_SA_INIT, IKE_AUTH and three liveness checks from the client; three from the
    // gateway.
    assert_eq!(lab.requests(c), 5);
    assert_eq!(lab.requests(g), 3);
}

/// A large send buffer (default 4 MiB): no ESP is dropped; the buffer becomes a standing
/// queue and the tunnel's round trip grows to seconds instead. IKE is intact too.
#[test]
fn large_send_buffer_drops_nothing_and_delays_instead() {
    let mut lab = Lab::new(TcpConfig::default().send_buffer);
    lab.run_until(secs(8));
    let (c, g) = (lab.client, lab.gateway);
    let sent = lab.counter(c, "udp_sent");
    let echoes = lab.counter(c, "udp_echoes");
    let rtt_max = lab.max(c, "udp_rtt_ns");
    eprintln!(
        "large buffer: sent {sent}, esp out {}, echoes {echoes}, max rtt {} ms",
        lab.counter(c, "esp_packets_out"),
        rtt_max / 1_000_000
    );
    assert_eq!(lab.counter(c, "esp_dropped_backpressure"), 0);
    assert_eq!(lab.counter(g, "esp_dropped_backpressure"), 0);
    assert_eq!(lab.counter(c, "esp_packets_out"), sent);
    // 1.5 s at twice the path's rate: seconds of standing queue by the end.
    assert!(rtt_max > 700_000_000, "{rtt_max}");
    assert_eq!(echoes, sent, "all of it arrives, late");
    lab.assert_ike_intact();
    assert_eq!(lab.requests(c), 5);
    assert_eq!(lab.requests(g), 3);
}
