//! RFC 9329 §3, §4 and §6.1: what the TCP Responder does with a broken or hostile
//! stream. Length 0 or 1 closes the connection (§3 MUST); "too many" frames that are
//! neither valid IKE nor ESP of a known SA close it, a few do not (§6.1); an
//! authentication failure on a known SPI closes it (§6.1 SHOULD, a policy knob); a stream
//! that does not start with "IKETCP" is closed, and one whose prefix stalls is closed after
//! the prefix timeout. A closed connection is not a dead IKE SA: the Originator re-opens
//! it and the tunnel carries on.
//!
//! Two ways of getting bytes into a stream:
//!
//! - on the live client–gateway connection, a segment forged by the on-path node with the
//!   next sequence number read from a capture of the core link (used only where the
//!   connection is expected to close: an injected segment desynchronises the two ends);
//! - on a connection of its own, opened by a small [`Crafter`] application on the client
//!   host of a direct client–gateway network.

#![allow(clippy::unwrap_used, reason = "tests")]

mod ike_tcp_harness;

use std::any::Any;
use std::net::SocketAddrV4;

use ike_tcp_harness::{GATEWAY, SERVER, Setup, ms, secs};
use models::ike::daemon::{IkeDaemon, TransportPolicy};
use models::ip::{App, ConnId, Host, HostCtx};
use models::middlebox::OnPathCommand;
use models::tcp::{Event, TcpConfig};
use models::traffic::Start;
use models::traffic::datagram::{UdpPinger, UdpPingerConfig};
use models::wire::{IpProtocol, Ipv4Packet, Ipv4Repr, TcpControl, TcpPacket, TcpRepr};
use sim::{Action, Direction, IfaceId, LinkParams, NodeId, SimDuration, SimTime, Simulation};

// ------------------------------------------------------------------------------------
// Forging a segment on the live connection.
// ------------------------------------------------------------------------------------

/// The harness network over TCP only, pinging through the tunnel, with the core link
/// (on-path node to gateway) captured.
fn live_net(gateway: TransportPolicy) -> ike_tcp_harness::Net {
    let mut setup = Setup::new(TransportPolicy::tcp_only());
    setup.gateway = gateway;
    setup.block_udp = true;
    setup.ping = true;
    let mut net = setup.build();
    let core = net.sim.link_id("core").unwrap();
    net.sim.enable_capture(core);
    net
}

/// Runs to `at`, then has the on-path node send `payload` to the gateway as the next
/// in-sequence segment of the client's connection (sequence number just past the last
/// client segment on the core link, its ACK, window and timestamps), 1 ms later.
fn inject_on_live(net: &mut ike_tcp_harness::Net, at: SimDuration, payload: &[u8]) {
    net.run_until(at);
    let core = net.sim.link_id("core").unwrap();
    // The core link is onpath (a) -> gateway (b): AtoB carries the client's segments.
    let packets = net.sim.capture(core).unwrap().packets(Direction::AtoB);
    let (ip, tcp, next) = packets
        .iter()
        .rev()
        .find_map(|(_, bytes)| {
            let ip_packet = Ipv4Packet::new_checked(&bytes[..]).ok()?;
            let ip = Ipv4Repr::parse(&ip_packet).ok()?;
            if ip.next_header != IpProtocol::TCP || ip.dst_addr != GATEWAY {
                return None;
            }
            let seg = TcpPacket::new_checked(ip_packet.payload()).ok()?;
            let tcp = TcpRepr::parse(&seg, ip.src_addr, ip.dst_addr).ok()?;
            if tcp.dst_port != 4500 || tcp.control == TcpControl::Rst {
                return None;
            }
            let next = tcp.seq_number + tcp.segment_len();
            Some((ip, tcp, next))
        })
        .expect("a client segment on the core link");
    let forged = TcpRepr {
        control: TcpControl::Psh,
        seq_number: next,
        payload_len: payload.len(),
        sack_ranges: [None; 4],
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        ..tcp
    };
    let bytes = ip_tcp(ip.src_addr, ip.dst_addr, &forged, payload);
    net.sim.schedule(
        SimTime::ZERO + at + ms(1),
        Action::Custom {
            node: net.onpath,
            payload: Box::new(OnPathCommand::Inject {
                iface: IfaceId(1),
                bytes,
            }),
        },
    );
}

/// An IPv4 packet carrying `tcp` with `payload`, checksums filled.
fn ip_tcp(
    src: std::net::Ipv4Addr,
    dst: std::net::Ipv4Addr,
    tcp: &TcpRepr,
    payload: &[u8],
) -> Vec<u8> {
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::TCP,
        payload_len: tcp.buffer_len(),
        hop_limit: 64,
        ident: 0,
        dont_frag: true,
    };
    let mut buf = vec![0; ip.buffer_len()];
    let mut ip_packet = Ipv4Packet::new_unchecked(&mut buf[..]);
    ip.emit(&mut ip_packet);
    let mut seg = TcpPacket::new_unchecked(ip_packet.payload_mut());
    tcp.emit(&mut seg, src, dst, |b| b.copy_from_slice(payload));
    buf
}

/// What every "the connection closed, the SA lived on" test checks after the run.
fn assert_sa_survived_and_reconnected(net: &ike_tcp_harness::Net, echoes_before: u64) {
    assert_eq!(net.client_counter("tcp_reconnections"), 1);
    assert_eq!(net.client_counter("tcp_prefixes_sent"), 2);
    assert_eq!(net.gateway_counter("tcp_sa_moved"), 1);
    assert_eq!(net.sas(net.client), (1, 1), "the same IKE SA");
    assert_eq!(net.sas(net.gateway), (1, 1));
    assert_eq!(net.client_counter("ike_established"), 1, "no new IKE SA");
    assert_eq!(net.client_counter("ike_failed"), 0);
    assert_eq!(net.gateway_counter("ike_failed"), 0);
    // 10 s of pings at 10/s after the injection: nearly all answered.
    let echoes = net.client_counter("udp_echoes") - echoes_before;
    assert!(echoes >= 90, "pings continue: {echoes} echoes");
}

// ------------------------------------------------------------------------------------
// A connection of its own: the crafter.
// ------------------------------------------------------------------------------------

/// Commands for a [`Crafter`], delivered to the client host with `Action::Custom`.
#[derive(Clone, Debug)]
enum CrafterCmd {
    /// Open a TCP connection to the gateway's port 4500.
    Connect,
    /// Write these bytes on it.
    Send(Vec<u8>),
}

/// Opens one TCP connection to the gateway and writes what it is told; records when the
/// connection came up and when (and how) it ended.
#[derive(Debug, Default)]
struct Crafter {
    conn: Option<ConnId>,
    connected_at: Option<SimTime>,
    ended: Option<(SimTime, String)>,
    received: usize,
}

impl App for Crafter {
    fn on_action(&mut self, host: &mut HostCtx<'_, '_>, action: &dyn Any) {
        match action.downcast_ref::<CrafterCmd>() {
            Some(CrafterCmd::Connect) => {
                self.conn = host
                    .tcp_connect(SocketAddrV4::new(GATEWAY, 4500), TcpConfig::default())
                    .ok();
            }
            Some(CrafterCmd::Send(bytes)) => {
                let conn = self.conn.unwrap();
                assert_eq!(host.tcp_send(conn, bytes), bytes.len());
            }
            None => {}
        }
    }

    fn on_tcp(&mut self, host: &mut HostCtx<'_, '_>, conn: ConnId, event: Event) {
        match event {
            Event::Connected => self.connected_at = Some(host.now()),
            Event::Readable | Event::Writable => {
                let mut buf = [0; 4096];
                loop {
                    let n = host.tcp_recv(conn, &mut buf);
                    if n == 0 {
                        break;
                    }
                    self.received += n;
                }
            }
            Event::PeerFinished | Event::Closed | Event::Failed(_) => {
                if self.ended.is_none() {
                    self.ended = Some((host.now(), format!("{event:?}")));
                }
            }
        }
    }
}

/// client 192.168.1.10 (IKE initiator over TCP, pinger, crafter) -- gateway -- server.
struct Lab {
    sim: Simulation,
    client: NodeId,
    gateway: NodeId,
}

impl Lab {
    fn new(gateway_policy: TransportPolicy) -> Self {
        let pinger = UdpPinger::new(UdpPingerConfig {
            to: SocketAddrV4::new(SERVER, 7),
            port: 40000,
            size: 100,
            interval: ms(100),
            start: Start::At(secs(1)),
            stop: None,
        });
        let p = LinkParams::new().delay(ms(5)).rate_bps(100_000_000);
        let (sim, client, gateway) = ike_tcp_harness::direct(
            TransportPolicy::tcp_only(),
            gateway_policy,
            vec![Box::new(pinger), Box::new(Crafter::default())],
            p.clone(),
            p,
        );
        Self {
            sim,
            client,
            gateway,
        }
    }

    fn run_until(&mut self, t: SimDuration) {
        self.sim.run_until(SimTime::ZERO + t).unwrap();
    }

    fn crafter_cmd(&mut self, at: SimDuration, cmd: CrafterCmd) {
        self.sim.schedule(
            SimTime::ZERO + at,
            Action::Custom {
                node: self.client,
                payload: Box::new(cmd),
            },
        );
    }

    fn crafter(&self) -> &Crafter {
        self.sim
            .node::<Host>(self.client)
            .unwrap()
            .apps_of::<Crafter>()
            .next()
            .unwrap()
    }

    fn daemon(&self, node: NodeId) -> &IkeDaemon {
        self.sim
            .node::<Host>(node)
            .unwrap()
            .apps_of::<IkeDaemon>()
            .next()
            .unwrap()
    }

    fn counter(&self, node: NodeId, name: &str) -> u64 {
        self.sim
            .nodes()
            .find(|(id, _, _)| *id == node)
            .map(|(_, _, m)| m.counter(name))
            .unwrap()
    }

    fn gw(&self, name: &str) -> u64 {
        self.counter(self.gateway, name)
    }

    /// The gateway's IKE SA: (SPIi, SPIr, next request Message ID it expects, inbound
    /// ESP SPI of its Child SA).
    fn gateway_sa(&self) -> (u64, u64, u32, u32) {
        let e = self.daemon(self.gateway).endpoint().unwrap();
        let (_, sa) = e.sas().find(|(_, s)| s.is_established()).unwrap();
        let child = sa.children().next().unwrap();
        (sa.spi_i(), sa.spi_r(), sa.message_ids().1, child.spi_in)
    }

    /// The client's IKE SA is the first and only one, established, on a connection that
    /// was never re-opened.
    fn assert_client_undisturbed(&self) {
        assert_eq!(self.counter(self.client, "ike_established"), 1);
        assert_eq!(self.counter(self.client, "tcp_reconnections"), 0);
        assert_eq!(self.counter(self.client, "ike_failed"), 0);
    }
}

/// The prefix followed by `frames`.
fn prefixed(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"IKETCP".to_vec();
    for f in frames {
        out.extend_from_slice(f);
    }
    out
}

/// A frame: Length (counting itself) then `payload`.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(payload.len() + 2)
        .unwrap()
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(payload);
    out
}

/// A runt: a 2-byte payload, neither keepalive, IKE nor ESP.
fn runt() -> Vec<u8> {
    frame(&[0x01, 0x02])
}

/// An ESP packet with `spi`, sequence number `seq`, an 8-byte IV, 32 bytes of
/// "ciphertext" and a 16-byte ICV, none of them valid.
fn esp(spi: u32, seq: u32) -> Vec<u8> {
    let mut out = spi.to_be_bytes().to_vec();
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&[0x5a; 8 + 32 + 16]);
    out
}

/// An IKE INFORMATIONAL request (I flag) of the SA with an SK payload of garbage: the
/// header is right, integrity fails.
fn ike_garbage(spi_i: u64, spi_r: u64, message_id: u32) -> Vec<u8> {
    let sk_len: u16 = 4 + 8 + 16 + 16;
    let total = 28 + u32::from(sk_len);
    let mut out = Vec::new();
    out.extend_from_slice(&spi_i.to_be_bytes());
    out.extend_from_slice(&spi_r.to_be_bytes());
    out.extend_from_slice(&[46, 0x20, 37, 0x08]);
    out.extend_from_slice(&message_id.to_be_bytes());
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&sk_len.to_be_bytes());
    out.extend_from_slice(&[0xa5; 8 + 16 + 16]);
    out
}

/// An IKE frame: Length, the non-ESP marker, the message.
fn ike_frame(message: &[u8]) -> Vec<u8> {
    let mut payload = vec![0; 4];
    payload.extend_from_slice(message);
    frame(&payload)
}

// ------------------------------------------------------------------------------------
// §3: Length 0 or 1.
// ------------------------------------------------------------------------------------

/// RFC 9329 §3: "a Length of 0 or 1 ... MUST close the connection"; §6.1: the IKE SA
/// survives it, the Originator re-opens the connection and the tunnel carries on.
#[test]
fn s3_length_1_on_live_connection_closes_it_and_sa_survives() {
    let mut net = live_net(TransportPolicy::default());
    // Pings leave every 100 ms from 2 s; at 5.06 s the 5.0 s round trip is over.
    inject_on_live(&mut net, ms(5060), &[0x00, 0x01]);
    let echoes_before = net.client_counter("udp_echoes");
    net.run_until(ms(5100));
    assert_eq!(net.gateway_counter("tcp_framing_errors"), 1);
    net.run_until(secs(16));
    assert_eq!(net.gateway_counter("tcp_framing_errors"), 1);
    assert_eq!(net.gateway_counter("tcp_closed_corrupted"), 0);
    assert_sa_survived_and_reconnected(&net, echoes_before);
}

/// Length 0 as well, on a connection of its own (the crafter's): closed at once.
#[test]
fn s3_length_0_closes_the_connection() {
    let mut lab = Lab::new(TransportPolicy::default());
    lab.crafter_cmd(secs(2), CrafterCmd::Connect);
    lab.crafter_cmd(ms(2100), CrafterCmd::Send(prefixed(&[vec![0, 0]])));
    lab.run_until(secs(3));
    assert_eq!(lab.gw("tcp_framing_errors"), 1);
    let (at, how) = lab.crafter().ended.clone().unwrap();
    assert!(at < SimTime::ZERO + ms(2200), "closed at {at:?}");
    assert!(how.contains("Reset"), "aborted: {how}");
    lab.assert_client_undisturbed();
}

/// Length 2 (an empty frame) is ignored, and so is a keepalive (§3, §6.6).
#[test]
fn s3_length_2_and_keepalive_are_ignored() {
    let mut lab = Lab::new(TransportPolicy::default());
    lab.crafter_cmd(secs(2), CrafterCmd::Connect);
    let frames = vec![vec![0, 2], vec![0, 3, 0xff], vec![0, 2]];
    lab.crafter_cmd(ms(2100), CrafterCmd::Send(prefixed(&frames)));
    lab.run_until(secs(4));
    assert_eq!(lab.gw("tcp_empty_frames"), 2);
    assert_eq!(lab.gw("tcp_keepalives_dropped"), 1);
    assert_eq!(lab.gw("tcp_framing_errors"), 0);
    assert_eq!(lab.crafter().ended, None);
}

// ------------------------------------------------------------------------------------
// §6.1: a corrupted stream.
// ------------------------------------------------------------------------------------

/// Four runts and four ESP frames with an unknown SPI: `max_invalid_frames` (8) reached.
fn eight_invalid() -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    for i in 0..4 {
        frames.push(runt());
        frames.push(frame(&esp(0xdead_0000 + i, 1)));
    }
    frames
}

/// RFC 9329 §6.1: "too many" invalid frames on the live connection close it; the SA lives.
#[test]
fn s6_1_too_many_invalid_frames_on_live_connection_close_it() {
    let mut net = live_net(TransportPolicy::default());
    let bytes: Vec<u8> = eight_invalid().concat();
    inject_on_live(&mut net, ms(5060), &bytes);
    let echoes_before = net.client_counter("udp_echoes");
    net.run_until(ms(5100));
    assert_eq!(net.gateway_counter("tcp_runt_frames"), 4);
    assert_eq!(net.gateway_counter("esp_dropped_unknown_spi"), 4);
    assert_eq!(net.gateway_counter("tcp_closed_corrupted"), 1);
    net.run_until(secs(16));
    assert_eq!(net.gateway_counter("tcp_closed_corrupted"), 1);
    assert_eq!(net.gateway_counter("tcp_framing_errors"), 0);
    assert_sa_survived_and_reconnected(&net, echoes_before);
}

/// RFC 9329 §6.1: at the limit the connection is closed; one below it ("a few
/// consecutive" unknown SPIs) it stays open.
#[test]
fn s6_1_invalid_frames_close_at_the_limit_only() {
    for (count, closed) in [(7, false), (8, true)] {
        let mut lab = Lab::new(TransportPolicy::default());
        lab.crafter_cmd(secs(2), CrafterCmd::Connect);
        let frames: Vec<Vec<u8>> = eight_invalid().into_iter().take(count).collect();
        lab.crafter_cmd(ms(2100), CrafterCmd::Send(prefixed(&frames)));
        lab.run_until(secs(4));
        let invalid = lab.gw("tcp_runt_frames") + lab.gw("esp_dropped_unknown_spi");
        assert_eq!(invalid, count as u64);
        assert_eq!(lab.gw("tcp_closed_corrupted"), u64::from(closed), "{count}");
        assert_eq!(lab.crafter().ended.is_some(), closed, "{count}");
        lab.assert_client_undisturbed();
    }
}

/// A lower `max_invalid_frames` is honoured: with a limit of 2, a runt then an unknown SPI
/// close the connection.
#[test]
fn s6_1_max_invalid_frames_is_a_knob() {
    let policy = TransportPolicy {
        max_invalid_frames: 2,
        ..TransportPolicy::default()
    };
    let mut lab = Lab::new(policy);
    lab.crafter_cmd(secs(2), CrafterCmd::Connect);
    lab.crafter_cmd(ms(2100), CrafterCmd::Send(prefixed(&[runt()])));
    lab.run_until(secs(3));
    assert_eq!(lab.crafter().ended, None);
    lab.crafter_cmd(secs(3), CrafterCmd::Send(frame(&esp(0xdead_beef, 1))));
    lab.run_until(secs(4));
    assert_eq!(lab.gw("tcp_closed_corrupted"), 1);
    assert!(lab.crafter().ended.is_some());
}

// ------------------------------------------------------------------------------------
// §6.1: authentication failure on a known SPI.
// ------------------------------------------------------------------------------------

/// Sends one forged frame built from the gateway's SA at 3 s on the crafter's connection;
/// returns the lab at 5 s.
fn auth_failure(
    close_on_auth_failure: bool,
    forge: impl Fn((u64, u64, u32, u32)) -> Vec<u8>,
) -> Lab {
    let policy = TransportPolicy {
        close_on_auth_failure,
        ..TransportPolicy::default()
    };
    let mut lab = Lab::new(policy);
    lab.crafter_cmd(secs(2), CrafterCmd::Connect);
    lab.crafter_cmd(ms(2100), CrafterCmd::Send(b"IKETCP".to_vec()));
    lab.run_until(secs(3));
    let bytes = forge(lab.gateway_sa());
    lab.crafter_cmd(ms(3001), CrafterCmd::Send(bytes));
    lab.run_until(secs(5));
    lab
}

/// RFC 9329 §6.1: an ESP frame with the gateway's inbound SPI and a bad ICV closes the
/// connection (`close_on_auth_failure`, the default), and does not with the knob off.
#[test]
fn s6_1_esp_auth_failure_on_known_spi_closes_the_connection() {
    // A sequence number far ahead of the window: the replay check passes, the ICV fails.
    let forge = |(_, _, _, spi_in): (u64, u64, u32, u32)| frame(&esp(spi_in, 1_000_000));
    let lab = auth_failure(true, forge);
    assert_eq!(lab.gw("esp_dropped_auth_failure"), 1);
    assert_eq!(lab.gw("tcp_closed_auth_failure"), 1);
    let (at, how) = lab.crafter().ended.clone().unwrap();
    assert!(at < SimTime::ZERO + ms(3100), "closed at {at:?}");
    assert!(how.contains("Reset"), "{how}");
    lab.assert_client_undisturbed();

    let lab = auth_failure(false, forge);
    assert_eq!(lab.gw("esp_dropped_auth_failure"), 1);
    assert_eq!(lab.gw("tcp_closed_auth_failure"), 0);
    assert_eq!(lab.crafter().ended, None);
    lab.assert_client_undisturbed();
}

/// RFC 9329 §6.1 (new in 9329): the same for an IKE message with the SA's SPIs whose
/// integrity check fails.
#[test]
fn s6_1_ike_auth_failure_on_known_spis_closes_the_connection() {
    let forge =
        |(spi_i, spi_r, mid, _): (u64, u64, u32, u32)| ike_frame(&ike_garbage(spi_i, spi_r, mid));
    let lab = auth_failure(true, forge);
    let gw = lab.daemon(lab.gateway).endpoint().unwrap().sa_totals();
    assert_eq!(gw.dropped_integrity, 1);
    assert_eq!(lab.gw("tcp_closed_auth_failure"), 1);
    assert!(lab.crafter().ended.is_some());
    lab.assert_client_undisturbed();
    assert_eq!(lab.daemon(lab.gateway).endpoint().unwrap().sas().count(), 1);

    let lab = auth_failure(false, forge);
    let gw = lab.daemon(lab.gateway).endpoint().unwrap().sa_totals();
    assert_eq!(gw.dropped_integrity, 1);
    assert_eq!(lab.gw("tcp_closed_auth_failure"), 0);
    assert_eq!(lab.crafter().ended, None);
    lab.assert_client_undisturbed();
}

/// RFC 9329 §6.1 on the live connection: a bad ICV with the known SPI closes it; the SA
/// lives and the Originator re-opens it.
#[test]
fn s6_1_esp_auth_failure_on_live_connection_closes_it() {
    let mut net = live_net(TransportPolicy::default());
    net.run_until(secs(5));
    let spi_in = {
        let e = net.daemon(net.gateway).endpoint().unwrap();
        let (_, sa) = e.sas().next().unwrap();
        sa.children().next().unwrap().spi_in
    };
    inject_on_live(&mut net, ms(5060), &frame(&esp(spi_in, 1_000_000)));
    let echoes_before = net.client_counter("udp_echoes");
    net.run_until(ms(5100));
    assert_eq!(net.gateway_counter("tcp_closed_auth_failure"), 1);
    net.run_until(secs(16));
    assert_sa_survived_and_reconnected(&net, echoes_before);
}

// ------------------------------------------------------------------------------------
// §4, §6.1: the prefix.
// ------------------------------------------------------------------------------------

/// RFC 9329 §4: a stream that does not start with "IKETCP" is closed by the Responder.
#[test]
fn s4_wrong_prefix_is_closed() {
    let mut lab = Lab::new(TransportPolicy::default());
    lab.crafter_cmd(secs(2), CrafterCmd::Connect);
    let mut bytes = b"IKEUDP".to_vec();
    bytes.extend_from_slice(&ike_frame(&[0; 28]));
    lab.crafter_cmd(ms(2100), CrafterCmd::Send(bytes));
    lab.run_until(secs(3));
    assert_eq!(lab.gw("tcp_framing_errors"), 1);
    assert_eq!(lab.gw("tcp_prefixes_received"), 1, "only the client's");
    let (at, how) = lab.crafter().ended.clone().unwrap();
    assert!(at < SimTime::ZERO + ms(2200), "closed at {at:?}");
    assert!(how.contains("Reset"), "{how}");
    lab.assert_client_undisturbed();
}

/// A prefix that stops after "IKE" is closed after the prefix timeout (5 s), not before.
/// (Idle close is off so that only the prefix timer can close it.)
#[test]
fn s4_stalled_prefix_is_closed_after_the_timeout() {
    let policy = TransportPolicy {
        idle_close: None,
        ..TransportPolicy::default()
    };
    let mut lab = Lab::new(policy);
    lab.crafter_cmd(secs(2), CrafterCmd::Connect);
    lab.crafter_cmd(ms(2100), CrafterCmd::Send(b"IKE".to_vec()));
    lab.run_until(ms(6900));
    let connected = lab.crafter().connected_at.unwrap();
    assert_eq!(lab.crafter().ended, None);
    assert_eq!(lab.gw("tcp_prefix_timeouts"), 0);
    lab.run_until(ms(7500));
    assert_eq!(lab.gw("tcp_prefix_timeouts"), 1);
    let (at, _) = lab.crafter().ended.clone().unwrap();
    let after = at.saturating_duration_since(connected);
    assert!(
        after >= secs(5) && after < ms(5100),
        "closed {after:?} after connecting"
    );
    lab.assert_client_undisturbed();
}
