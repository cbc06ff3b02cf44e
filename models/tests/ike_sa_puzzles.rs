//! IKE_SA_INIT client puzzles (RFC 8019 §4.4, §7.1; RFC 9329 §6.3; protocol.md 5.3).
//!
//! The IKE_AUTH puzzle (RFC 8019 §7.2) is not implemented, so nothing here tests it.

#![allow(clippy::unwrap_used, reason = "tests unwrap what must be there")]

use models::ike::crypto::Prf;
use models::ike::sa::testing::{CLIENT, GATEWAY, Pair, Side, initiator_config, responder_config};
use models::ike::sa::{EndpointConfig, IkeEvent, PuzzlePolicy, Stats};
use models::ike::wire::{Message, NotifyType, Payload};
use sim::{SimDuration, SimTime};

const SEED: u64 = 21;

/// A responder that demands a cookie always, with a puzzle of `difficulty` if given.
fn responder(difficulty: Option<u8>) -> EndpointConfig {
    let mut config = EndpointConfig::responder(responder_config());
    config.half_open.cookie_threshold = 0;
    config.half_open.puzzle = difficulty.map(|difficulty| PuzzlePolicy {
        difficulty,
        hash_rate_per_sec: 1_000_000,
    });
    config
}

/// Connects with `hash_rate` and runs until both ends are established.
fn run(seed: u64, difficulty: Option<u8>, hash_rate: u64) -> Pair {
    let mut pair = Pair::new(seed, responder(difficulty));
    let mut initiator = initiator_config();
    initiator.puzzle_hash_rate_per_sec = hash_rate;
    // The digest below pins the bytes from before puzzles (and MOBIKE and RFC 6311)
    // existed; those would add their notifies to IKE_AUTH, which puzzles have nothing to
    // do with.
    initiator.mobike = false;
    initiator.ha_sync = models::ike::sa::HaSyncSupport::NONE;
    pair.connect(initiator);
    assert!(pair.drive_until(200, |p| p.established(Side::Initiator)
        && p.established(Side::Responder)));
    pair
}

fn initiator_stats(pair: &Pair) -> Stats {
    *pair.endpoints[0].sas().next().unwrap().1.stats()
}

fn elapsed(pair: &Pair) -> SimDuration {
    pair.events_of(Side::Initiator)
        .into_iter()
        .find_map(|e| match e {
            IkeEvent::Established { elapsed, .. } => Some(elapsed),
            _ => None,
        })
        .unwrap()
}

fn notify_types(bytes: &[u8]) -> Vec<NotifyType> {
    Message::parse(bytes)
        .unwrap()
        .payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Notify(n) => Some(n.ty),
            _ => None,
        })
        .collect()
}

fn cookie_of(bytes: &[u8]) -> Vec<u8> {
    match &Message::parse(bytes).unwrap().payloads[0] {
        Payload::Notify(n) if n.ty == NotifyType::COOKIE => n.data.clone(),
        other => panic!("COOKIE not first: {other:?}"),
    }
}

fn ps_of(bytes: &[u8]) -> Option<Vec<u8>> {
    Message::parse(bytes)
        .unwrap()
        .payloads
        .iter()
        .find_map(|p| match p {
            Payload::PuzzleSolution(keys) => Some(keys.clone()),
            _ => None,
        })
}

/// An independent check of RFC 8019 §7.1.2: four distinct equal-length keys, each with
/// `prf(K, cookie)` ending in at least `difficulty` zero bits.
fn solves(cookie: &[u8], difficulty: u32, ps: &[u8]) -> bool {
    if ps.is_empty() || !ps.len().is_multiple_of(4) {
        return false;
    }
    let keys: Vec<&[u8]> = ps.chunks(ps.len() / 4).collect();
    let distinct = (0..4).all(|i| (0..i).all(|j| keys[i] != keys[j]));
    distinct
        && keys.iter().all(|k| {
            let out = Prf::HmacSha256.compute(k, &[cookie]);
            let value = u128::from_be_bytes(out[16..].try_into().unwrap());
            value.trailing_zeros() >= difficulty
        })
}

/// FNV-1a over every message sent (time, sender, addresses, bytes).
fn digest(pair: &Pair) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (t, side, m) in &pair.log {
        let head = format!("{t:?}{side:?}{}{}", m.local, m.remote);
        for b in head.bytes().chain(m.bytes.iter().copied()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
    }
    h
}

#[test]
fn rfc8019_7_1_1_cookie_answer_carries_puzzle() {
    let pair = run(SEED, Some(8), 1_000_000);
    let answers = pair.sent_by(Side::Responder);
    assert_eq!(
        notify_types(&answers[0].1.bytes),
        [NotifyType::COOKIE, NotifyType::PUZZLE],
        "HDR, N(COOKIE), N(PUZZLE)"
    );
    let msg = Message::parse(&answers[0].1.bytes).unwrap();
    let Payload::Notify(puzzle) = &msg.payloads[1] else {
        panic!("PUZZLE second");
    };
    assert_eq!(
        puzzle.data,
        [0, 5, 8],
        "PRF_HMAC_SHA2_256 (5), difficulty 8"
    );
    let stats = pair.endpoints[1].stats();
    assert_eq!(
        (stats.cookies_sent, stats.puzzles_sent, stats.puzzles_solved),
        (1, 1, 1)
    );
    assert_eq!((stats.puzzles_failed, stats.sas_created), (0, 1));
}

#[test]
fn rfc8019_7_1_2_retry_carries_a_valid_solution() {
    let pair = run(SEED, Some(8), 1_000_000);
    let sent = pair.sent_by(Side::Initiator);
    assert_eq!(sent.len(), 3, "IKE_SA_INIT, its retry, IKE_AUTH");
    assert!(ps_of(&sent[0].1.bytes).is_none());
    let retry = Message::parse(&sent[1].1.bytes).unwrap();
    assert_eq!(retry.message_id, 0);
    assert!(
        matches!(&retry.payloads[1], Payload::PuzzleSolution(_)),
        "HDR, N(COOKIE), PS, SA, KE, Ni"
    );
    let cookie = cookie_of(&sent[1].1.bytes);
    let answers = pair.sent_by(Side::Responder);
    assert_eq!(cookie, cookie_of(&answers[0].1.bytes));
    let ps = ps_of(&sent[1].1.bytes).unwrap();
    assert!(solves(&cookie, 8, &ps));
    let stats = initiator_stats(&pair);
    assert_eq!((stats.cookies_received, stats.puzzles_solved), (1, 1));
    assert!(stats.puzzle_attempts >= 4);
}

#[test]
fn rfc8019_7_1_2_solving_cost_is_charged_in_virtual_time() {
    let plain = run(SEED, None, 1_000_000);
    for rate in [1_000_000, 10_000] {
        let puzzled = run(SEED, Some(8), rate);
        let stats = initiator_stats(&puzzled);
        let expected = u128::from(stats.puzzle_attempts) * 1_000_000_000 / u128::from(rate);
        assert_eq!(u128::from(stats.puzzle_time.as_nanos()), expected);
        assert!(stats.puzzle_time > SimDuration::ZERO);
        // The retry leaves exactly puzzle_time after the COOKIE + PUZZLE answer arrived.
        let answer_at = puzzled.sent_by(Side::Responder)[0]
            .0
            .saturating_add(puzzled.latency);
        let retry_at = puzzled.sent_by(Side::Initiator)[1].0;
        assert_eq!(retry_at, answer_at.saturating_add(stats.puzzle_time));
        assert_eq!(
            elapsed(&puzzled),
            elapsed(&plain).saturating_add(stats.puzzle_time),
            "establishment longer by attempts / hash rate"
        );
    }
}

#[test]
fn rfc8019_4_4_higher_difficulty_costs_more_virtual_time() {
    let costs: Vec<(u64, SimDuration, SimDuration)> = [4, 8, 12]
        .into_iter()
        .map(|difficulty| {
            let pair = run(SEED, Some(difficulty), 1_000_000);
            let stats = initiator_stats(&pair);
            (stats.puzzle_attempts, stats.puzzle_time, elapsed(&pair))
        })
        .collect();
    for w in costs.windows(2) {
        assert!(w[0].0 < w[1].0, "attempts grow: {costs:?}");
        assert!(w[0].1 < w[1].1, "puzzle time grows: {costs:?}");
        assert!(w[0].2 < w[1].2, "establishment time grows: {costs:?}");
    }
}

#[test]
fn rfc8019_7_1_4_invalid_solutions_are_refused_and_counted() {
    let solved = run(SEED, Some(8), 1_000_000);
    let retry = solved.sent_by(Side::Initiator)[1].1.bytes.clone();
    let cookie = cookie_of(&retry);
    let ps = ps_of(&retry).unwrap();
    let with_ps = |keys: Option<Vec<u8>>| {
        let mut msg = Message::parse(&retry).unwrap();
        msg.payloads
            .retain(|p| !matches!(p, Payload::PuzzleSolution(_)));
        if let Some(keys) = keys {
            msg.payloads.insert(1, Payload::PuzzleSolution(keys));
        }
        msg.emit()
    };
    // Keys that miss the difficulty (checked independently), a repeated valid key, keys
    // longer than the PRF's preferred key length (32 octets, RFC 8019 §7.1.2), and no PS
    // at all (a legacy initiator).
    let mut weak = vec![0u8; 32];
    for (i, k) in weak.chunks_mut(8).enumerate() {
        k[7] = u8::try_from(i).unwrap();
    }
    assert!(!solves(&cookie, 8, &weak));
    let mut repeated = ps[..8].to_vec();
    repeated.extend_from_slice(&ps[..24]);
    let forged = [Some(weak), Some(repeated), Some(vec![0; 4 * 33]), None];
    // A fresh pair from the same seed has the same cookie secret.
    let mut pair = Pair::new(SEED, responder(Some(8)));
    let gateway = pair.endpoint(Side::Responder);
    for (n, keys) in forged.into_iter().enumerate() {
        gateway.handle_datagram(SimTime::ZERO, GATEWAY, CLIENT, &with_ps(keys));
        let answer = gateway.poll_transmit().unwrap();
        assert_eq!(
            notify_types(&answer.bytes),
            [NotifyType::COOKIE, NotifyType::PUZZLE],
            "forgery {n} answered with COOKIE + PUZZLE again"
        );
        assert_eq!(cookie_of(&answer.bytes), cookie);
        assert!(gateway.poll_transmit().is_none());
        let stats = gateway.stats();
        assert_eq!(stats.puzzles_failed, n as u64 + 1);
        assert_eq!((stats.sas_created, stats.cookies_invalid), (0, 0));
        assert_eq!(gateway.half_open_count(), 0);
    }
    // A PS whose length is not a non-zero multiple of 4 does not parse (RFC 8019 §8.2):
    // dropped as malformed, without an answer.
    for keys in [ps[..31].to_vec(), Vec::new()] {
        let mut bytes = with_ps(Some(vec![0; 4]));
        let mut msg = Message::parse(&bytes).unwrap();
        msg.payloads[1] = Payload::PuzzleSolution(keys);
        bytes = msg.emit();
        gateway.handle_datagram(SimTime::ZERO, GATEWAY, CLIENT, &bytes);
        assert!(gateway.poll_transmit().is_none());
    }
    assert_eq!(gateway.stats().malformed, 2);
    // The genuine solution is accepted.
    gateway.handle_datagram(SimTime::ZERO, GATEWAY, CLIENT, &retry);
    let stats = *gateway.stats();
    assert_eq!(
        (
            stats.sas_created,
            stats.puzzles_solved,
            stats.puzzles_failed
        ),
        (1, 1, 4)
    );
}

#[test]
fn rfc7296_2_6_without_a_puzzle_nothing_changes() {
    let pair = run(SEED, None, 1_000_000);
    assert_eq!(pair.log.len(), 6);
    assert_eq!(
        notify_types(&pair.sent_by(Side::Responder)[0].1.bytes),
        [NotifyType::COOKIE]
    );
    assert!(pair.log.iter().all(|(_, _, m)| ps_of(&m.bytes).is_none()));
    // Time, addresses and bytes of every message, as before puzzles existed.
    assert_eq!(digest(&pair), 0x3958_ffd1_e59e_80c7);
    let stats = initiator_stats(&pair);
    assert_eq!(
        (
            stats.puzzles_solved,
            stats.puzzle_attempts,
            stats.puzzle_time
        ),
        (0, 0, SimDuration::ZERO)
    );
    let gateway = pair.endpoints[1].stats();
    assert_eq!((gateway.puzzles_sent, gateway.puzzles_failed), (0, 0));
}
