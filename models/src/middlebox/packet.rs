//! What a middlebox reads from a packet, and the TCP resets it forges.
//!
//! [`PacketInfo::parse`] never panics and proves, when it succeeds, that the IPv4 header and
//! a TCP or UDP header are in bounds, so a caller may then use unchecked views on the same
//! bytes. Transport checksums are not verified: a middlebox forwards a corrupted segment
//! and the endpoint drops it, and a NAT's incremental update (RFC 1624) keeps it corrupted.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::wire::{IpProtocol, Ipv4Packet, Ipv4Repr, TcpPacket, TcpRepr, TcpSeqNumber, UdpPacket};

/// TTL of packets a middlebox originates (RSTs); Linux's default.
const ORIGIN_TTL: u8 = 64;

/// The fields of an IPv4 packet that middleboxes classify and act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PacketInfo {
    /// Source address.
    pub(crate) src_addr: Ipv4Addr,
    /// Destination address.
    pub(crate) dst_addr: Ipv4Addr,
    /// IP protocol of the payload.
    pub(crate) protocol: IpProtocol,
    /// Time to live as received.
    pub(crate) hop_limit: u8,
    /// Source and destination ports, for TCP and UDP only.
    pub(crate) ports: Option<(u16, u16)>,
    /// The TCP header fields, for TCP only.
    pub(crate) tcp: Option<TcpInfo>,
}

/// The TCP header fields that decide connection tracking and resets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TcpInfo {
    /// Sequence number.
    pub(crate) seq: TcpSeqNumber,
    /// Acknowledgment number, if the ACK flag is set.
    pub(crate) ack: Option<TcpSeqNumber>,
    /// SYN flag.
    pub(crate) syn: bool,
    /// FIN flag.
    pub(crate) fin: bool,
    /// RST flag.
    pub(crate) rst: bool,
    /// Sequence space used: payload plus one for SYN and one for FIN (RFC 9293 §3.4).
    pub(crate) seg_len: usize,
}

impl PacketInfo {
    /// Reads an unfragmented IPv4 packet with a valid header checksum and, for TCP and UDP,
    /// a transport header that fits. `None` for anything else (counted as malformed).
    pub(crate) fn parse(data: &[u8]) -> Option<Self> {
        let packet = Ipv4Packet::new_checked(data).ok()?;
        let ip = Ipv4Repr::parse(&packet).ok()?;
        let payload = packet.payload();
        let (ports, tcp) = match ip.next_header {
            IpProtocol::TCP => {
                let seg = TcpPacket::new_checked(payload).ok()?;
                let tcp = TcpInfo {
                    seq: seg.seq_number(),
                    ack: seg.ack().then(|| seg.ack_number()),
                    syn: seg.syn(),
                    fin: seg.fin(),
                    rst: seg.rst(),
                    seg_len: seg.payload().len() + usize::from(seg.syn()) + usize::from(seg.fin()),
                };
                (Some((seg.src_port(), seg.dst_port())), Some(tcp))
            }
            IpProtocol::UDP => {
                let datagram = UdpPacket::new_checked(payload).ok()?;
                (Some((datagram.src_port(), datagram.dst_port())), None)
            }
            _ => (None, None),
        };
        Some(Self {
            src_addr: ip.src_addr,
            dst_addr: ip.dst_addr,
            protocol: ip.next_header,
            hop_limit: ip.hop_limit,
            ports,
            tcp,
        })
    }

    /// Source address and port (port 0 for protocols without ports).
    pub(crate) fn src(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.src_addr, self.ports.map_or(0, |p| p.0))
    }

    /// Destination address and port (port 0 for protocols without ports).
    pub(crate) fn dst(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.dst_addr, self.ports.map_or(0, |p| p.1))
    }
}

/// An IPv4/TCP RST from `src` to `dst` with sequence number `seq`, and the ACK flag and
/// number if `ack` is given. Checksums are correct; no options, no payload.
pub(crate) fn tcp_rst(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    seq: TcpSeqNumber,
    ack: Option<TcpSeqNumber>,
) -> Vec<u8> {
    let tcp = TcpRepr::rst(src.port(), dst.port(), seq, ack);
    let ip = Ipv4Repr {
        src_addr: *src.ip(),
        dst_addr: *dst.ip(),
        next_header: IpProtocol::TCP,
        payload_len: tcp.buffer_len(),
        hop_limit: ORIGIN_TTL,
        ident: 0,
        dont_frag: true,
    };
    let mut buf = vec![0; ip.buffer_len()];
    let mut ip_packet = Ipv4Packet::new_unchecked(&mut buf[..]);
    ip.emit(&mut ip_packet);
    let mut seg = TcpPacket::new_unchecked(ip_packet.payload_mut());
    tcp.emit(&mut seg, ip.src_addr, ip.dst_addr, |_| {});
    buf
}

/// The RST that a TCP without a matching connection sends in reply to `info`, from the
/// segment's destination back to its source; `None` unless `info` is TCP without RST
/// (a RST is never answered with a RST).
///
/// RFC 9293 §3.10.7.1: if the segment carries an ACK, the reset takes its sequence number
/// from that ACK field; otherwise the reset has sequence number zero and acknowledges
/// SEG.SEQ + SEG.LEN, which a host in SYN-SENT accepts.
pub(crate) fn rst_reply(info: &PacketInfo) -> Option<Vec<u8>> {
    let tcp = info.tcp.filter(|t| !t.rst)?;
    let (seq, ack) = match tcp.ack {
        Some(ack) => (ack, None),
        None => (TcpSeqNumber(0), Some(tcp.seq + tcp.seg_len)),
    };
    Some(tcp_rst(info.dst(), info.src(), seq, ack))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    #[test]
    fn rst_parses_back_with_valid_checksums() {
        let bytes = tcp_rst(
            addr("192.0.2.1:4500"),
            addr("198.51.100.2:50000"),
            TcpSeqNumber(u32::MAX),
            Some(TcpSeqNumber(7)),
        );
        let info = PacketInfo::parse(&bytes).unwrap();
        let tcp = info.tcp.unwrap();
        assert!(tcp.rst && !tcp.syn && !tcp.fin);
        assert_eq!(
            (tcp.seq, tcp.ack),
            (TcpSeqNumber(u32::MAX), Some(TcpSeqNumber(7)))
        );
        let ip = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        let seg = TcpPacket::new_checked(ip.payload()).unwrap();
        assert!(TcpRepr::parse(&seg, ip.src_addr(), ip.dst_addr()).is_ok());
    }

    #[test]
    fn reply_to_syn_acknowledges_it_and_reply_to_ack_uses_it() {
        let syn = PacketInfo::parse(&tcp_rst(
            addr("10.0.0.1:1000"),
            addr("10.0.0.2:2000"),
            TcpSeqNumber(100),
            None,
        ))
        .unwrap();
        // A RST is never answered.
        assert_eq!(rst_reply(&syn), None);
        let mut syn = syn;
        let tcp = syn.tcp.as_mut().unwrap();
        (tcp.rst, tcp.syn, tcp.seg_len) = (false, true, 1);
        let reply = PacketInfo::parse(&rst_reply(&syn).unwrap()).unwrap();
        assert_eq!(reply.src(), addr("10.0.0.2:2000"));
        assert_eq!(reply.tcp.unwrap().ack, Some(TcpSeqNumber(101)));
        syn.tcp.as_mut().unwrap().ack = Some(TcpSeqNumber(9));
        let reply = PacketInfo::parse(&rst_reply(&syn).unwrap()).unwrap();
        assert_eq!(
            (reply.tcp.unwrap().seq, reply.tcp.unwrap().ack),
            (TcpSeqNumber(9), None)
        );
    }
}
