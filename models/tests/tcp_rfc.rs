//! Per-RFC behaviour of `models::tcp::Connection`, driven through `testing::Pair` (10 ms
//! one-way delay unless a test says otherwise).

#![allow(clippy::unwrap_used, reason = "test code")]

use models::tcp::testing::{DropFilter, Pair, Side};
use models::tcp::{ConnectionError, Event, Keepalive, State, TcpConfig};
use models::wire::{TcpControl, TcpRepr, TcpSeqNumber};
use sim::{SimDuration, SimTime};

const CLIENT_ISS: TcpSeqNumber = TcpSeqNumber(1000);
const SERVER_ISS: TcpSeqNumber = TcpSeqNumber(5000);
/// Payload of a full segment with timestamps: MSS 1460 minus 12 option bytes.
const SMSS: usize = 1448;

fn pair_with(client: TcpConfig, server: TcpConfig) -> Pair {
    Pair::new(client, CLIENT_ISS, server, SERVER_ISS)
}

fn pair(cfg: &TcpConfig) -> Pair {
    pair_with(cfg.clone(), cfg.clone())
}

fn no_sack() -> TcpConfig {
    TcpConfig {
        sack: false,
        ..TcpConfig::default()
    }
}

fn secs(t: SimTime) -> f64 {
    t.since_start().as_secs_f64()
}

/// Drives the handshake to completion on both sides.
fn establish(p: &mut Pair) {
    let ok = p.drive_until(100, |p| {
        p.conns
            .iter()
            .all(|c| c.as_ref().is_some_and(|c| c.state() == State::Established))
    });
    assert!(ok, "handshake did not complete");
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Client data segments with payload: (time, seq, len).
fn client_data(p: &Pair) -> Vec<(SimTime, u32, usize)> {
    p.sent_by(Side::Client)
        .into_iter()
        .filter(|(_, r)| r.payload_len > 0)
        .map(|(t, r)| (t, r.seq_number.0, r.payload_len))
        .collect()
}

/// Loses the first transmission of the client data segments whose index (0-based, in
/// sending order of first transmissions) is in `lost`.
fn drop_first_tx(lost: &'static [usize]) -> DropFilter {
    let mut seen = std::collections::BTreeSet::new();
    Box::new(move |side, s| {
        if side != Side::Client || s.payload.is_empty() || !seen.insert(s.repr.seq_number.0) {
            return false;
        }
        lost.contains(&(seen.len() - 1))
    })
}

fn transfer(p: &mut Pair, n: usize) {
    let bytes = data(n);
    assert_eq!(p.conn(Side::Client).send(&bytes), n);
    assert!(p.drive_until(100_000, |p| p.received[1].len() >= n));
    assert_eq!(p.received[1], bytes);
}

#[test]
fn rfc9293_three_way_handshake_and_transfer() {
    let mut p = pair(&TcpConfig::default());
    establish(&mut p);
    let syn = p.sent_by(Side::Client)[0].1;
    assert_eq!(
        (syn.control, syn.seq_number, syn.ack_number),
        (TcpControl::Syn, CLIENT_ISS, None)
    );
    assert_eq!(syn.max_seg_size, Some(1460));
    assert!(syn.sack_permitted && syn.timestamp.is_some());
    // 4 MiB needs a shift of 7 to fit 16 bits (RFC 7323 §2.3).
    assert_eq!(syn.window_scale, Some(7));
    let syn_ack = p.sent_by(Side::Server)[0].1;
    assert_eq!(syn_ack.ack_number, Some(CLIENT_ISS + 1));
    assert_eq!(p.events_of(Side::Client), [Event::Connected]);
    transfer(&mut p, 300_000);
    p.drive_to(p.now + SimDuration::from_secs(1));
    assert!(client_data(&p).iter().all(|(_, _, len)| *len <= SMSS));
    let stats = p.conn(Side::Client).stats().clone();
    assert_eq!((stats.bytes_sent, stats.bytes_acked), (300_000, 300_000));
    assert_eq!(stats.retransmits_total, 0);
    assert_eq!(p.conn(Side::Server).stats().bytes_received, 300_000);
    // RTT samples from timestamps: at least the 20 ms round trip (delayed ACKs add to it,
    // RFC 7323 §4.1).
    assert!(stats.srtt >= SimDuration::from_millis(20));
}

#[test]
fn rfc9293_mss_and_window_scale_negotiation() {
    let server = TcpConfig {
        mss: 1000,
        window_scale: false,
        ..TcpConfig::default()
    };
    let mut p = pair_with(TcpConfig::default(), server);
    establish(&mut p);
    // No window scaling unless both offer it; the SYN-ACK carries no window scale option.
    assert_eq!(p.sent_by(Side::Server)[0].1.window_scale, None);
    transfer(&mut p, 50_000);
    // min(1460, 1000) minus 12 bytes of timestamps (RFC 6691).
    assert!(client_data(&p).iter().all(|(_, _, len)| *len <= 988));
    assert!(client_data(&p).iter().any(|(_, _, len)| *len == 988));
}

#[test]
fn rfc9293_simultaneous_open() {
    use models::tcp::Connection;
    use models::tcp::testing::{CLIENT, SERVER};
    let cfg = TcpConfig::default();
    let mut a = Connection::connect(SimTime::ZERO, CLIENT, SERVER, CLIENT_ISS, cfg.clone());
    let mut b = Connection::connect(SimTime::ZERO, SERVER, CLIENT, SERVER_ISS, cfg);
    let now = SimTime::from_nanos(1_000_000);
    for _ in 0..4 {
        let from_a: Vec<_> = std::iter::from_fn(|| a.poll_transmit(now)).collect();
        let from_b: Vec<_> = std::iter::from_fn(|| b.poll_transmit(now)).collect();
        for s in from_a {
            b.handle_segment(now, &s.repr, &s.payload);
        }
        for s in from_b {
            a.handle_segment(now, &s.repr, &s.payload);
        }
    }
    assert_eq!(
        (a.state(), b.state()),
        (State::Established, State::Established)
    );
    assert_eq!(a.poll_event(), Some(Event::Connected));
}

#[test]
fn rfc9293_simultaneous_close_goes_through_closing() {
    let mut p = pair(&TcpConfig {
        time_wait: SimDuration::from_secs(5),
        ..TcpConfig::default()
    });
    establish(&mut p);
    p.conn(Side::Client).close();
    p.conn(Side::Server).close();
    assert_eq!(p.conn(Side::Client).state(), State::FinWait1);
    let mut saw_closing = false;
    assert!(p.drive_until(20, |p| {
        let state = p.conns[0].as_ref().unwrap().state();
        saw_closing |= state == State::Closing;
        state == State::TimeWait
    }));
    assert!(saw_closing);
    assert_eq!(p.conn(Side::Server).state(), State::TimeWait);
    p.drive_to(SimTime::ZERO + SimDuration::from_secs(10));
    assert_eq!(p.conn(Side::Client).state(), State::Closed);
    assert!(
        p.events_of(Side::Client)
            .ends_with(&[Event::PeerFinished, Event::Closed])
    );
}

#[test]
fn time_wait_expires() {
    let mut p = pair(&TcpConfig {
        time_wait: SimDuration::from_secs(7),
        ..TcpConfig::default()
    });
    establish(&mut p);
    p.conn(Side::Client).close();
    assert!(p.drive_until(100, |p| p.conns[1].as_ref().unwrap().state()
        == State::CloseWait));
    p.conn(Side::Server).close();
    assert!(p.drive_until(100, |p| p.conns[0].as_ref().unwrap().state()
        == State::TimeWait));
    let entered = p.now;
    // The passive closer is done once its FIN is acknowledged (LAST-ACK -> CLOSED).
    assert!(p.drive_until(100, |p| p.conns[1].as_ref().unwrap().state()
        == State::Closed));
    p.drive_to(SimTime::ZERO + SimDuration::from_secs(60));
    let (closed_at, _) = *p.events[0].last().unwrap();
    assert_eq!(p.events[0].last().unwrap().1, Event::Closed);
    assert_eq!(closed_at - entered, SimDuration::from_secs(7));
    assert_eq!(p.conn(Side::Client).poll_timeout(), None);
}

#[test]
fn time_wait_zero_closes_at_once() {
    let mut p = pair(&TcpConfig {
        time_wait: SimDuration::ZERO,
        ..TcpConfig::default()
    });
    establish(&mut p);
    p.conn(Side::Client).close();
    p.conn(Side::Server).close();
    p.drive_to(SimTime::ZERO + SimDuration::from_secs(5));
    for side in [Side::Client, Side::Server] {
        assert_eq!(p.conn(side).state(), State::Closed);
        assert_eq!(p.events_of(side).last(), Some(&Event::Closed));
    }
}

#[test]
fn rfc9293_half_close_keeps_receiving() {
    let mut p = pair(&TcpConfig::default());
    establish(&mut p);
    p.conn(Side::Client).close();
    assert!(p.drive_until(100, |p| p.conns[0].as_ref().unwrap().state()
        == State::FinWait2));
    assert_eq!(p.conn(Side::Server).state(), State::CloseWait);
    assert_eq!(p.conn(Side::Client).send(b"late"), 0);
    let bytes = data(100_000);
    assert_eq!(p.conn(Side::Server).send(&bytes), bytes.len());
    p.conn(Side::Server).close();
    assert!(p.drive_until(10_000, |p| p.received[0].len() == bytes.len()
        && p.conns[0].as_ref().unwrap().state() == State::TimeWait));
    assert_eq!(p.received[0], bytes);
    assert!(p.events_of(Side::Server).contains(&Event::PeerFinished));
}

#[test]
fn rfc9293_reset_for_listenerless_port_refuses() {
    let mut p = pair(&TcpConfig::default());
    p.listening = false;
    p.drive_to(SimTime::ZERO + SimDuration::from_secs(1));
    let rst = p.sent_by(Side::Server)[0].1;
    assert_eq!(
        (rst.control, rst.seq_number, rst.ack_number),
        (TcpControl::Rst, TcpSeqNumber(0), Some(CLIENT_ISS + 1))
    );
    assert_eq!(
        p.events_of(Side::Client),
        [Event::Failed(ConnectionError::Refused)]
    );
    assert_eq!(p.conn(Side::Client).state(), State::Closed);
}

#[test]
fn half_open_connection_is_reset_after_peer_restart() {
    let mut p = pair(&TcpConfig::default());
    establish(&mut p);
    // The server host restarts: its connection is gone and nothing listens.
    p.conns[1] = None;
    p.listening = false;
    p.conn(Side::Client).send(b"hello?");
    p.drive_to(SimTime::ZERO + SimDuration::from_secs(1));
    // RFC 9293 §3.10.7.1: the RST takes its sequence number from the segment's ACK, which
    // is exactly RCV.NXT for the client, so the client accepts it.
    assert_eq!(
        p.events_of(Side::Client).last(),
        Some(&Event::Failed(ConnectionError::Reset))
    );
}

/// A segment from the server to the client with our choice of fields.
fn forged(seq: TcpSeqNumber, ack: Option<TcpSeqNumber>, control: TcpControl) -> TcpRepr {
    TcpRepr {
        src_port: 80,
        dst_port: 49152,
        control,
        seq_number: seq,
        ack_number: ack,
        window_len: 1000,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [None; 4],
        timestamp: None,
        payload_len: 0,
    }
}

#[test]
fn rfc5961_rst_in_window_but_not_exact_gets_challenge_ack() {
    let mut p = pair(&TcpConfig::default());
    establish(&mut p);
    let now = p.now;
    let rcv_nxt = SERVER_ISS + 1;
    let client = p.conn(Side::Client);
    client.handle_segment(now, &forged(rcv_nxt + 100, None, TcpControl::Rst), &[]);
    assert_eq!(client.state(), State::Established);
    let challenge = client.poll_transmit(now).unwrap();
    assert_eq!(challenge.repr.ack_number, Some(rcv_nxt));
    // A SYN in a synchronized state also earns a challenge ACK (RFC 5961 §4.2).
    client.handle_segment(now, &forged(rcv_nxt + 7, None, TcpControl::Syn), &[]);
    assert_eq!(client.state(), State::Established);
    assert!(client.poll_transmit(now).is_some());
    // Out of window: silently dropped. Exact: reset.
    client.handle_segment(
        now,
        &forged(rcv_nxt + (8 << 20), None, TcpControl::Rst),
        &[],
    );
    assert!(client.poll_transmit(now).is_none());
    client.handle_segment(now, &forged(rcv_nxt, None, TcpControl::Rst), &[]);
    assert_eq!(client.state(), State::Closed);
    assert_eq!(
        client.poll_event(),
        Some(Event::Failed(ConnectionError::Reset))
    );
}

#[test]
fn rfc9293_syn_sent_resets_unacceptable_ack() {
    let mut p = pair(&TcpConfig::default());
    let client = p.conn(Side::Client);
    client.poll_transmit(SimTime::ZERO).unwrap();
    let bogus = forged(TcpSeqNumber(77), Some(CLIENT_ISS + 50), TcpControl::None);
    client.handle_segment(SimTime::ZERO, &bogus, &[]);
    let rst = client.poll_transmit(SimTime::ZERO).unwrap().repr;
    assert_eq!(
        (rst.control, rst.seq_number),
        (TcpControl::Rst, CLIENT_ISS + 50)
    );
    assert_eq!(client.state(), State::SynSent);
}

#[test]
fn syn_retries_then_timed_out() {
    let mut p = pair(&TcpConfig {
        syn_retries: 3,
        ..TcpConfig::default()
    });
    p.drop = Some(Box::new(|_, _| true));
    p.drive_to(SimTime::ZERO + SimDuration::from_secs(60));
    let times: Vec<f64> = p
        .sent_by(Side::Client)
        .iter()
        .map(|(t, _)| secs(*t))
        .collect();
    assert_eq!(times, [0.0, 1.0, 3.0, 7.0]);
    assert_eq!(
        p.events[0],
        [(
            SimTime::ZERO + SimDuration::from_secs(15),
            Event::Failed(ConnectionError::TimedOut)
        )]
    );
}

#[test]
fn peer_vanishes_rto_backoff_then_abort() {
    let mut p = pair(&TcpConfig {
        max_retransmissions: 5,
        ..TcpConfig::default()
    });
    establish(&mut p);
    let start = p.now;
    p.drop = Some(Box::new(|side, _| side == Side::Client));
    p.conn(Side::Client).send(b"anyone there?");
    p.drive_to(start + SimDuration::from_secs(200));
    let sends: Vec<f64> = client_data(&p)
        .iter()
        .map(|(t, _, _)| secs(*t) - secs(start))
        .collect();
    // First transmission, then RTOs of 1, 2, 4, 8, 16 s (RFC 6298 §5.5).
    assert_eq!(sends, [0.0, 1.0, 3.0, 7.0, 15.0, 31.0]);
    let (t, e) = *p.events[0].last().unwrap();
    assert_eq!(e, Event::Failed(ConnectionError::TimedOut));
    assert_eq!(secs(t) - secs(start), 63.0);
    assert_eq!(p.conn(Side::Client).stats().timeouts, 5);
}

#[test]
fn user_timeout_aborts_unacknowledged_data() {
    let mut p = pair(&TcpConfig {
        user_timeout: Some(SimDuration::from_secs(5)),
        ..TcpConfig::default()
    });
    establish(&mut p);
    let start = p.now;
    p.drop = Some(Box::new(|side, _| side == Side::Client));
    p.conn(Side::Client).send(b"x");
    p.drive_to(start + SimDuration::from_secs(60));
    let (t, e) = *p.events[0].last().unwrap();
    assert_eq!(e, Event::Failed(ConnectionError::TimedOut));
    assert_eq!(t - start, SimDuration::from_secs(5));
}

#[test]
fn keepalive_detects_dead_peer() {
    let ka = Keepalive {
        idle: SimDuration::from_secs(10),
        interval: SimDuration::from_secs(2),
        count: 3,
    };
    let mut p = pair_with(
        TcpConfig {
            keepalive: Some(ka),
            ..TcpConfig::default()
        },
        TcpConfig::default(),
    );
    establish(&mut p);
    let start = p.now;
    // A live peer answers probes: the connection survives.
    p.drive_to(start + SimDuration::from_secs(25));
    assert_eq!(p.conn(Side::Client).state(), State::Established);
    let probes = p
        .sent_by(Side::Client)
        .iter()
        .filter(|(t, _)| *t > start)
        .count();
    assert_eq!(probes, 2, "one probe per idle period, each answered");
    // Then the peer dies.
    p.drop = Some(Box::new(|side, _| side == Side::Server));
    let dead = p.now;
    p.drive_to(dead + SimDuration::from_secs(60));
    let (t, e) = *p.events[0].last().unwrap();
    assert_eq!(e, Event::Failed(ConnectionError::TimedOut));
    // Established at 20 ms; probes at 10.02 s and 20.04 s are answered 20 ms later; the
    // next idle period ends at 30.06 s; unanswered probes at 30.06, 32.06, 34.06 s.
    assert_eq!(t, SimTime::ZERO + SimDuration::from_millis(36_060));
}

#[test]
fn rfc5681_fast_retransmit_after_three_dupacks() {
    let mut p = pair(&no_sack());
    establish(&mut p);
    p.drop = Some(drop_first_tx(&[2]));
    let start = p.now;
    transfer(&mut p, 10 * SMSS);
    let stats = p.conn(Side::Client).stats().clone();
    assert_eq!((stats.retransmits_fast, stats.timeouts), (1, 0));
    assert!(stats.dupacks_received >= 3);
    let lost_seq = (CLIENT_ISS + 1 + 2 * SMSS).0;
    let retx: Vec<_> = client_data(&p)
        .into_iter()
        .filter(|(_, s, _)| *s == lost_seq)
        .collect();
    assert_eq!(retx.len(), 2);
    // The third duplicate ACK (for segment 6) arrives one RTT after the burst.
    assert_eq!(retx[1].0 - start, SimDuration::from_millis(20));
}

#[test]
fn rfc3042_limited_transmit_sends_new_data_on_first_dupacks() {
    // The initial window of 10, two more on the first (new) ACK's slow-start growth, and
    // with limited transmit one per each of the first two duplicate ACKs.
    for (limited, expect) in [(true, 14), (false, 12)] {
        let mut p = pair(&TcpConfig {
            limited_transmit: limited,
            ..no_sack()
        });
        establish(&mut p);
        p.drop = Some(drop_first_tx(&[1]));
        p.conn(Side::Client).send(&data(30 * SMSS));
        p.drive_to(p.now + SimDuration::from_millis(21));
        let sent = client_data(&p);
        let lost = (CLIENT_ISS + 1 + SMSS).0;
        let before_fr = sent
            .iter()
            .skip(2)
            .position(|(_, s, _)| *s == lost)
            .unwrap()
            + 2;
        assert_eq!(before_fr, expect, "limited={limited}");
    }
}

#[test]
fn rfc6582_partial_ack_retransmits_next_hole() {
    let mut p = pair(&no_sack());
    establish(&mut p);
    p.drop = Some(drop_first_tx(&[2, 5]));
    transfer(&mut p, 10 * SMSS);
    let stats = p.conn(Side::Client).stats().clone();
    assert_eq!((stats.retransmits_fast, stats.timeouts), (2, 0));
    let seq = |i: usize| (CLIENT_ISS + 1 + i * SMSS).0;
    let times: Vec<SimTime> = client_data(&p)
        .into_iter()
        .filter(|(_, s, _)| *s == seq(2) || *s == seq(5))
        .map(|(t, _, _)| t)
        .collect();
    // Fast retransmit of the first hole, then the second on its partial ACK, one RTT later.
    assert_eq!(times.len(), 4);
    assert_eq!(times[3] - times[2], SimDuration::from_millis(20));
}

#[test]
fn rfc6675_sack_recovery_repairs_all_holes_in_one_round_trip() {
    let mut p = pair(&TcpConfig::default());
    establish(&mut p);
    p.drop = Some(drop_first_tx(&[1, 3, 5]));
    transfer(&mut p, 10 * SMSS);
    let stats = p.conn(Side::Client).stats().clone();
    assert_eq!((stats.retransmits_fast, stats.timeouts), (3, 0));
    // The SACK scoreboard shows all three holes at once: the first two go out together
    // (cwnd = ssthresh = pipe / 2 allows two), the third on the next ACK. NewReno alone
    // would need one round trip per hole.
    let retx_times: Vec<SimTime> = {
        let mut seen = std::collections::BTreeSet::new();
        client_data(&p)
            .into_iter()
            .filter(|(_, s, _)| !seen.insert(*s))
            .map(|(t, _, _)| t)
            .collect()
    };
    assert_eq!(retx_times.len(), 3);
    assert_eq!(retx_times[1], retx_times[0]);
    assert!(retx_times[2] - retx_times[0] <= SimDuration::from_millis(20));
}

#[test]
fn rfc2018_acks_carry_sack_blocks_most_recent_first() {
    let mut p = pair(&TcpConfig::default());
    establish(&mut p);
    p.drop = Some(drop_first_tx(&[1, 3]));
    transfer(&mut p, 6 * SMSS);
    let seq = |i: usize| (CLIENT_ISS + 1 + i * SMSS).0;
    let sacks: Vec<_> = p
        .sent_by(Side::Server)
        .into_iter()
        .filter_map(|(_, r)| r.sack_ranges[0].map(|first| (first, r.sack_ranges[1])))
        .collect();
    // Segment 2 arrives: block [2,3). Segment 4: block [4,5) first, then [2,3).
    assert_eq!(sacks[0], ((seq(2), seq(3)), None));
    assert_eq!(sacks[1], ((seq(4), seq(5)), Some((seq(2), seq(3)))));
}

#[test]
fn delayed_ack_every_second_segment() {
    let mut p = pair(&TcpConfig::default());
    establish(&mut p);
    let start = p.now;
    transfer(&mut p, 9 * SMSS);
    p.drive_to(p.now + SimDuration::from_millis(100));
    let acks: Vec<(SimTime, u32)> = p
        .sent_by(Side::Server)
        .into_iter()
        .filter(|(t, r)| *t > start && r.payload_len == 0)
        .map(|(t, r)| (t, r.ack_number.unwrap().0))
        .collect();
    let seq = |i: usize| (CLIENT_ISS + 1 + i * SMSS).0;
    // The first segment is acknowledged at once (as ns-3 does), then every second one.
    let expected: Vec<u32> = [1, 3, 5, 7, 9].map(seq).to_vec();
    assert_eq!(acks.iter().map(|a| a.1).collect::<Vec<_>>(), expected);
    assert!(
        acks.iter()
            .all(|(t, _)| *t - start == SimDuration::from_millis(10))
    );
    // A lone segment waits for the 200 ms timer.
    let before = p.now;
    p.conn(Side::Client).send(&[1; 100]);
    p.drive_to(before + SimDuration::from_secs(1));
    let (t, last) = p.sent_by(Side::Server).last().copied().unwrap();
    assert_eq!(last.ack_number, Some(CLIENT_ISS + 1 + 9 * SMSS + 100));
    assert_eq!(t - before, SimDuration::from_millis(210));
}

#[test]
fn nagle_coalesces_small_writes() {
    for (nagle, segments) in [(true, 2), (false, 3)] {
        let mut p = pair(&TcpConfig {
            nagle,
            ..TcpConfig::default()
        });
        establish(&mut p);
        for _ in 0..3 {
            p.conn(Side::Client).send(&[7; 10]);
            p.pump(Side::Client);
        }
        assert!(p.drive_until(100, |p| p.received[1].len() == 30));
        let lens: Vec<usize> = client_data(&p).iter().map(|(_, _, l)| *l).collect();
        assert_eq!(lens.len(), segments, "nagle={nagle}: {lens:?}");
    }
}

#[test]
fn zero_window_probe() {
    let mut p = pair_with(
        TcpConfig::default(),
        TcpConfig {
            recv_buffer: 10_000,
            ..TcpConfig::default()
        },
    );
    p.auto_read = false;
    establish(&mut p);
    let bytes = data(30_000);
    p.conn(Side::Client).send(&bytes);
    p.drive_to(p.now + SimDuration::from_secs(20));
    // The window closed after 10,000 bytes; probes of one byte follow, backing off.
    let probes: Vec<f64> = client_data(&p)
        .iter()
        .filter(|(_, _, l)| *l == 1)
        .map(|(t, _, _)| secs(*t))
        .collect();
    assert!(probes.len() >= 3, "{probes:?}");
    assert!(
        probes
            .windows(3)
            .all(|w| (w[2] - w[1]) > 1.9 * (w[1] - w[0])),
        "{probes:?}"
    );
    assert_eq!(p.conn(Side::Server).recv_len(), 10_000);
    let start = p.now;
    // The application reads: a window update reopens the flow.
    let mut got = Vec::new();
    assert!(p.drive_until(10_000, |p| {
        let server = p.conns[1].as_mut().unwrap();
        let mut buf = vec![0; server.recv_len()];
        let n = server.recv(&mut buf);
        got.extend_from_slice(&buf[..n]);
        got.len() == bytes.len()
    }));
    assert_eq!(got, bytes);
    assert!(
        p.now - start < SimDuration::from_secs(1),
        "the window update restarts at once"
    );
}

#[test]
fn isn_near_wrap() {
    for sack in [true, false] {
        let cfg = TcpConfig {
            sack,
            ..TcpConfig::default()
        };
        let mut p = Pair::new(
            cfg.clone(),
            TcpSeqNumber(u32::MAX - 3000),
            cfg,
            TcpSeqNumber(u32::MAX),
        );
        establish(&mut p);
        p.drop = Some(drop_first_tx(&[1, 2, 4]));
        transfer(&mut p, 50 * SMSS);
        // The server's SYN took the last number: its first byte is 0.
        let back = data(5000);
        p.conn(Side::Server).send(&back);
        assert!(p.drive_until(1000, |p| p.received[0].len() == back.len()));
        assert_eq!(p.received[0], back);
        assert_eq!(p.conn(Side::Client).stats().timeouts, 0);
    }
}

#[test]
fn cwnd_series_records_changes() {
    let mut p = pair(&TcpConfig {
        cwnd_series: true,
        ..TcpConfig::default()
    });
    establish(&mut p);
    transfer(&mut p, 100 * SMSS);
    let series = &p.conn(Side::Client).stats().cwnd_series;
    assert!(series.len() > 10);
    assert!(
        series
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 != w[1].1)
    );
    assert_eq!(series[0].1, 10 * SMSS as u32, "RFC 6928 initial window");
}
