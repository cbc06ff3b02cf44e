//! The on-path attacker: drop windows, delay windows that keep order, forged RSTs that
//! the endpoints accept, and injection of crafted bytes.

#![allow(clippy::unwrap_used, reason = "tests")]

mod middlebox_harness;

use middlebox_harness::{Rig, Seg, ep, ms, raw, secs, tcp, udp};
use models::ike::wire::{ExchangeType, Flags, Message, NotifyType, Payload};
use models::middlebox::{OnPath, OnPathCommand, PacketFilter};
use models::wire::{IpProtocol, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber};
use sim::{IfaceId, SimDuration};

/// The client on interface 0 (`in0`), the server on interface 1 (`out`).
fn rig() -> Rig {
    Rig::new(1, 1, Box::new(|_| Box::new(OnPath::new())))
}

fn nat_t() -> PacketFilter {
    PacketFilter::any()
        .protocol(IpProtocol::UDP)
        .dst_ports(4500..=4500)
}

#[test]
fn drop_window_drops_matching_packets_until_it_closes() {
    let mut rig = rig();
    rig.command_at(
        ms(0),
        Box::new(OnPathCommand::Drop {
            filter: nat_t(),
            duration: secs(10),
        }),
    );
    rig.run_until(secs(1));
    let keepalive = || udp(ep("192.0.2.10:4500"), ep("198.51.100.1:4500"), &[0xff]);
    assert!(rig.step("in0", keepalive()).is_empty());
    assert_eq!(
        rig.step(
            "in0",
            udp(ep("192.0.2.10:500"), ep("198.51.100.1:500"), b"x")
        )
        .len(),
        1
    );
    rig.run_until(secs(11));
    assert_eq!(rig.step("in0", keepalive()).len(), 1);
    assert_eq!((rig.count("dropped"), rig.count("forwarded")), (1, 2));
}

#[test]
fn delay_window_holds_matching_packets_and_keeps_their_order() {
    let mut rig = rig();
    let filter = PacketFilter::any().protocol(IpProtocol::TCP);
    let delay = OnPathCommand::Delay {
        filter,
        extra: ms(50),
        duration: secs(1),
    };
    rig.command_at(ms(0), Box::new(delay));
    let (client, server) = (ep("192.0.2.10:40000"), ep("198.51.100.1:4500"));
    for i in 0..5 {
        rig.send_at(
            ms(10 + i),
            "in0",
            tcp(client, server, Seg::data(1000 + 100 * i as u32, 1, 100)),
        );
    }
    rig.send_at(ms(12), "in0", udp(client, server, b"not delayed"));
    rig.run_until(secs(2));
    let got = rig.received("out");
    assert_eq!(got.len(), 6);
    // The datagram overtakes the held segments.
    assert_eq!(got[0].payload, b"not delayed");
    let seqs: Vec<u32> = got[1..]
        .iter()
        .map(|rx| rx.tcp.unwrap().seq_number.0)
        .collect();
    assert_eq!(seqs, [1000, 1100, 1200, 1300, 1400]);
    for (i, rx) in got[1..].iter().enumerate() {
        // Sent at 10+i ms, 1 ms per link, 50 ms held.
        assert_eq!(rx.at.since_start(), ms(62 + i as u64));
    }
    assert_eq!((rig.count("delayed"), rig.count("forwarded")), (5, 1));
}

/// RFC 5961 §3.2: a RST is accepted at once only if its sequence number is exactly the
/// receiver's RCV.NXT. The client's RCV.NXT is the ACK it sent (5000); the server's,
/// after receiving the observed segment, is 1000 + 100.
#[test]
fn reset_forges_rsts_that_both_endpoints_accept() {
    let mut rig = rig();
    let tcp_only = PacketFilter::any().protocol(IpProtocol::TCP);
    rig.command_at(ms(0), Box::new(OnPathCommand::Reset { filter: tcp_only }));
    rig.run_until(ms(1));
    let (client, server) = (ep("192.0.2.10:40000"), ep("198.51.100.1:4500"));
    let got = rig.step("in0", tcp(client, server, Seg::data(1000, 5000, 100)));
    let to = |name: &str| {
        got.iter()
            .filter(|d| d.to == name)
            .map(|d| d.rx.clone())
            .collect::<Vec<_>>()
    };
    let (at_server, at_client) = (to("out"), to("in0"));
    assert_eq!(at_server.len(), 2, "the segment, then the RST");
    assert_eq!(at_server[0].tcp.unwrap().payload_len, 100);
    let rst = at_server[1].tcp.unwrap();
    assert_eq!((at_server[1].src, at_server[1].dst), (client, server));
    assert_eq!(
        (rst.control, rst.seq_number),
        (TcpControl::Rst, TcpSeqNumber(1100))
    );
    assert_eq!(at_client.len(), 1);
    let rst = at_client[0].tcp.unwrap();
    assert_eq!((at_client[0].src, at_client[0].dst), (server, client));
    assert_eq!(
        (rst.control, rst.seq_number),
        (TcpControl::Rst, TcpSeqNumber(5000))
    );
    assert_eq!(rst.ack_number, Some(TcpSeqNumber(1100)));
    assert_eq!(rig.count("resets_injected"), 2);
    // One-shot: the next segment passes alone.
    assert_eq!(
        rig.step("in0", tcp(client, server, Seg::data(1100, 5000, 10)))
            .len(),
        1
    );
}

/// A SYN carries no ACK: the sender, in SYN-SENT, accepts a RST whose ACK covers its SYN
/// (RFC 9293 §3.10.7.3).
#[test]
fn reset_of_a_syn_acknowledges_it() {
    let mut rig = rig();
    rig.command_at(
        ms(0),
        Box::new(OnPathCommand::Reset {
            filter: PacketFilter::any(),
        }),
    );
    rig.run_until(ms(1));
    let got = rig.step(
        "in0",
        tcp(ep("192.0.2.10:40000"), ep("198.51.100.1:443"), Seg::syn(77)),
    );
    let rst = got.iter().find(|d| d.to == "in0").unwrap().rx.tcp.unwrap();
    assert_eq!(
        (rst.control, rst.ack_number),
        (TcpControl::Rst, Some(TcpSeqNumber(78)))
    );
}

#[test]
fn inject_sends_bytes_as_they_are() {
    let mut rig = rig();
    let forged = udp(
        ep("198.51.100.1:500"),
        ep("192.0.2.10:500"),
        b"INVALID_KE_PAYLOAD",
    );
    let inject = |iface, bytes| {
        Box::new(OnPathCommand::Inject {
            iface: IfaceId(iface),
            bytes,
        })
    };
    rig.command_at(ms(5), inject(0, forged.clone()));
    rig.command_at(ms(5), inject(1, vec![1, 2, 3]));
    rig.command_at(ms(5), inject(2, forged));
    rig.run_until(ms(20));
    let got = rig.received("in0");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload, b"INVALID_KE_PAYLOAD");
    assert_eq!(rig.raw_log("out")[0].1, [1, 2, 3]);
    assert_eq!(
        (rig.count("injected"), rig.count("invalid_commands")),
        (2, 1)
    );
}

/// An IKE message header-only request of `exchange` with SPIi `spi_i` (the attacker reads
/// nothing beyond the header).
fn ike_request(exchange: ExchangeType, spi_i: u64, message_id: u32) -> Vec<u8> {
    Message {
        spi_i,
        spi_r: 0,
        exchange_type: exchange,
        flags: Flags {
            initiator: true,
            response: false,
        },
        message_id,
        payloads: vec![],
    }
    .emit()
}

fn forge(delay: SimDuration) -> Box<OnPathCommand> {
    Box::new(OnPathCommand::ForgeInitError {
        notify: NotifyType::NO_PROPOSAL_CHOSEN,
        delay,
    })
}

/// The forged message: an unprotected IKE_SA_INIT response to `spi_i` with one notify.
fn assert_forged_error(ike: &[u8], spi_i: u64) {
    let msg = Message::parse(ike).unwrap();
    assert_eq!(
        (msg.spi_i, msg.spi_r, msg.exchange_type, msg.message_id),
        (spi_i, 0, ExchangeType::IKE_SA_INIT, 0)
    );
    assert!(msg.flags.response && !msg.flags.initiator);
    let [Payload::Notify(n)] = msg.payloads.as_slice() else {
        panic!("one notify expected: {:?}", msg.payloads);
    };
    assert_eq!(n.ty, NotifyType::NO_PROPOSAL_CHOSEN);
}

#[test]
fn forge_init_error_answers_the_next_udp_init_request_once() {
    let mut rig = rig();
    rig.command_at(ms(0), forge(ms(30)));
    rig.run_until(ms(1));
    let (client, gw) = (ep("192.0.2.10:500"), ep("198.51.100.1:500"));
    // Not IKE_SA_INIT: passes without a reply.
    let auth = ike_request(ExchangeType::IKE_AUTH, 7, 1);
    assert_eq!(rig.step("in0", udp(client, gw, &auth)).len(), 1);
    let init = ike_request(ExchangeType::IKE_SA_INIT, 0x1122_3344_5566_7788, 0);
    rig.send_at(ms(10), "in0", udp(client, gw, &init));
    rig.run_until(ms(100));
    let got = rig.received("in0");
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].src, got[0].dst), (gw, client));
    // Sent 10 ms, 1 ms to the attacker, held 30 ms, 1 ms back.
    assert_eq!(got[0].at.since_start(), ms(42));
    assert_forged_error(&got[0].payload, 0x1122_3344_5566_7788);
    assert_eq!(rig.received("out").len(), 2, "the requests pass unchanged");
    // One-shot.
    rig.send_at(ms(110), "in0", udp(client, gw, &init));
    rig.run_until(ms(200));
    assert_eq!(rig.received("in0").len(), 1);
    assert_eq!(rig.count("init_errors_forged"), 1);
}

#[test]
fn forge_init_error_keeps_the_non_esp_marker_on_port_4500() {
    let mut rig = rig();
    rig.command_at(ms(0), forge(SimDuration::ZERO));
    rig.run_until(ms(1));
    let (client, gw) = (ep("192.0.2.10:4500"), ep("198.51.100.1:4500"));
    let mut init = vec![0; 4];
    init.extend(ike_request(ExchangeType::IKE_SA_INIT, 99, 0));
    let got = rig.step("in0", udp(client, gw, &init));
    let reply = &got.iter().find(|d| d.to == "in0").unwrap().rx;
    assert_eq!(reply.payload[..4], [0; 4]);
    assert_forged_error(&reply.payload[4..], 99);
}

/// Over TCP the forged frame continues the responder's side of the stream: its sequence
/// number is the ACK of the request (the initiator's RCV.NXT) and it acknowledges the
/// request; the request's timestamps are echoed so PAWS lets it in.
#[test]
fn forge_init_error_continues_the_tcp_stream() {
    let mut rig = rig();
    rig.command_at(ms(0), forge(SimDuration::ZERO));
    rig.run_until(ms(1));
    let (client, gw) = (ep("192.0.2.10:40000"), ep("198.51.100.1:4500"));
    let ike = ike_request(ExchangeType::IKE_SA_INIT, 42, 0);
    let mut stream = b"IKETCP".to_vec();
    stream.extend(u16::try_from(ike.len() + 6).unwrap().to_be_bytes());
    stream.extend([0; 4]);
    stream.extend(&ike);
    let repr = TcpRepr {
        src_port: client.port(),
        dst_port: gw.port(),
        control: TcpControl::Psh,
        seq_number: TcpSeqNumber(1000),
        ack_number: Some(TcpSeqNumber(5000)),
        window_len: 65535,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [None; 4],
        timestamp: Some((111, 222)),
        payload_len: stream.len(),
    };
    let mut seg = vec![0; repr.buffer_len()];
    repr.emit(
        &mut TcpPacket::new_unchecked(&mut seg[..]),
        *client.ip(),
        *gw.ip(),
        |p| p.copy_from_slice(&stream),
    );
    let packet = raw(*client.ip(), *gw.ip(), IpProtocol::TCP, &seg);
    let got = rig.step("in0", packet);
    assert_eq!(got.iter().filter(|d| d.to == "out").count(), 1);
    let reply = &got.iter().find(|d| d.to == "in0").unwrap().rx;
    let tcp = reply.tcp.unwrap();
    assert_eq!((reply.src, reply.dst), (gw, client));
    assert_eq!(tcp.seq_number, TcpSeqNumber(5000));
    assert_eq!(
        tcp.ack_number,
        Some(TcpSeqNumber(1000 + u32::try_from(stream.len()).unwrap()))
    );
    assert_eq!(tcp.timestamp, Some((222, 111)));
    let frame = &reply.payload;
    assert_eq!(
        usize::from(u16::from_be_bytes([frame[0], frame[1]])),
        frame.len()
    );
    assert_eq!(frame[2..6], [0; 4]);
    assert_forged_error(&frame[6..], 42);
}
