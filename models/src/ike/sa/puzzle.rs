//! IKE_SA_INIT client puzzles (RFC 8019 §7.1; protocol.md 5.3): the PUZZLE notify, the
//! search for a solution, and its verification.
//!
//! A solution is four distinct keys `K` of one length such that `prf(K, cookie)` ends in
//! at least Zero-Bit-Count zero bits (RFC 8019 §7.1.2); the PS payload carries them
//! concatenated, so the key length is its length / 4 (RFC 8019 §8.2). With
//! PRF_HMAC_SHA2_256 (not a fixed-key PRF) a key has 1..=32 octets. The IKE_AUTH puzzle
//! (RFC 8019 §7.2) is not implemented.

use crate::ike::crypto::Prf;
use crate::ike::wire::{NotifyPayload, NotifyType, TransformId};

/// Keys in a solution (RFC 8019 §7.1.2).
const KEYS: usize = 4;

/// Octets of the keys we send: a big-endian counter (any length from 1 to the PRF's
/// preferred key length is allowed for HMAC, RFC 8019 §7.1.2).
const KEY_LEN: usize = 8;

/// The PRF we ask for: the suite's (protocol.md 2.1), always in our peers' offers.
pub(super) const PUZZLE_PRF: Prf = Prf::HmacSha256;

/// `N(PUZZLE)`: PRF transform ID (2 octets) | difficulty (1) (RFC 8019 §8.1).
pub(super) fn puzzle_notify(difficulty: u8) -> NotifyPayload {
    let mut data = PUZZLE_PRF.transform_id().0.to_be_bytes().to_vec();
    data.push(difficulty);
    NotifyPayload::new(NotifyType::PUZZLE, data)
}

/// The PRF and difficulty of a PUZZLE notify's data, if well formed and the PRF is one
/// we implement.
pub(super) fn parse_puzzle(data: &[u8]) -> Option<(Prf, u8)> {
    let &[a, b, difficulty] = data else {
        return None;
    };
    let prf = Prf::from_transform_id(TransformId(u16::from_be_bytes([a, b])))?;
    Some((prf, difficulty))
}

/// Trailing zero bits of a PRF output (its last octet's low bits first).
fn trailing_zero_bits(out: &[u8]) -> u32 {
    let mut bits = 0;
    for &octet in out.iter().rev() {
        if octet != 0 {
            return bits + octet.trailing_zeros();
        }
        bits += 8;
    }
    bits
}

/// Searches keys 0, 1, 2, ... (as [`KEY_LEN`]-octet big-endian counters) for a solution:
/// the PS payload data and the number of PRF calls it took. Deterministic for a cookie.
pub(super) fn solve(prf: Prf, cookie: &[u8], difficulty: u8) -> (Vec<u8>, u64) {
    let mut keys = Vec::with_capacity(KEYS * KEY_LEN);
    let mut attempts = 0u64;
    let mut counter = 0u64;
    while keys.len() < KEYS * KEY_LEN {
        let key = counter.to_be_bytes();
        counter += 1;
        attempts += 1;
        if trailing_zero_bits(&prf.compute(&key, &[cookie])) >= u32::from(difficulty) {
            keys.extend_from_slice(&key);
        }
    }
    (keys, attempts)
}

/// Whether PS data `ps` solves the puzzle `(cookie, difficulty)`: four distinct keys of
/// 1..=preferred-key-length octets, each meeting the difficulty (RFC 8019 §7.1.4: the
/// achieved level is the minimum over all four keys).
pub(super) fn verify(prf: Prf, cookie: &[u8], difficulty: u8, ps: &[u8]) -> bool {
    let key_len = ps.len() / KEYS;
    if !ps.len().is_multiple_of(KEYS) || key_len == 0 || key_len > prf.key_len() {
        return false;
    }
    let keys: Vec<&[u8]> = ps.chunks(key_len).collect();
    let distinct = keys.iter().enumerate().all(|(i, k)| !keys[..i].contains(k));
    distinct
        && keys
            .iter()
            .all(|k| trailing_zero_bits(&prf.compute(k, &[cookie])) >= u32::from(difficulty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_zero_bits_counts_from_the_last_octet() {
        assert_eq!(trailing_zero_bits(&[0xff, 0x00]), 8);
        assert_eq!(trailing_zero_bits(&[0x01, 0x08]), 3);
        assert_eq!(trailing_zero_bits(&[0x10, 0x00]), 12);
        assert_eq!(trailing_zero_bits(&[0, 0]), 16);
    }

    #[test]
    fn solution_verifies_and_tampering_does_not() {
        let cookie = b"\x00\x00\x00\x01cookie value";
        let (ps, attempts) = solve(PUZZLE_PRF, cookie, 6);
        assert!(attempts >= 4);
        assert!(verify(PUZZLE_PRF, cookie, 6, &ps));
        assert!(!verify(PUZZLE_PRF, b"another cookie", 6, &ps));
        let mut twice = ps[..KEY_LEN].to_vec();
        twice.extend_from_slice(&ps[..KEY_LEN * 3]);
        assert!(
            !verify(PUZZLE_PRF, cookie, 6, &twice),
            "keys must be distinct"
        );
        assert!(!verify(PUZZLE_PRF, cookie, 6, &ps[1..]));
        assert!(!verify(PUZZLE_PRF, cookie, 6, &[]));
    }

    #[test]
    fn notify_round_trip() {
        let n = puzzle_notify(12);
        assert_eq!(n.data, [0, 5, 12]);
        assert_eq!(parse_puzzle(&n.data), Some((PUZZLE_PRF, 12)));
        assert_eq!(parse_puzzle(&[0, 5]), None);
    }
}
