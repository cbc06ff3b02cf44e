//! Hostile and malformed input (RFC 7296 §2.3, §2.5, §2.21.3) and determinism.

#![allow(clippy::unwrap_used, reason = "tests unwrap what must be there")]

use models::CryptoMode;
use models::esp::GcmKey;
use models::ike::crypto::{IvCounter, SkKey, open, seal};
use models::ike::sa::testing::{CLIENT, GATEWAY, Pair, Side, initiator_config, responder_config};
use models::ike::sa::{EndpointConfig, FailReason, IkeEvent, Transmit};
use models::ike::wire::{ExchangeType, Flags, Message, NotifyType, Payload, PayloadType};
use proptest::prelude::*;
use sim::{Ratio, SimDuration, SimTime};

fn established(seed: u64) -> Pair {
    let mut pair = Pair::new(seed, EndpointConfig::responder(responder_config()));
    pair.connect(initiator_config());
    assert!(pair.drive_until(100, |p| p.established(Side::Initiator)));
    pair
}

/// The IKE SA's SPIs and SK_ei / SK_er, from the key event.
fn sk(pair: &Pair) -> (u64, u64, GcmKey, GcmKey) {
    pair.events_of(Side::Initiator)
        .into_iter()
        .find_map(|e| match e {
            IkeEvent::IkeKeys(k) => Some((k.spi_i, k.spi_r, k.sk_ei, k.sk_er)),
            _ => None,
        })
        .unwrap()
}

/// Sends, as the initiator would, an INFORMATIONAL request with `inner` and Message ID
/// `id`; returns the responder's answers, opened.
fn inject(pair: &mut Pair, id: u32, inner: &[Payload]) -> Vec<Vec<Payload>> {
    let (spi_i, spi_r, sk_ei, sk_er) = sk(pair);
    let header = Message {
        spi_i,
        spi_r,
        exchange_type: ExchangeType::INFORMATIONAL,
        flags: Flags {
            initiator: true,
            response: false,
        },
        message_id: id,
        payloads: Vec::new(),
    };
    let bytes = seal(
        &header,
        inner,
        &SkKey::new(&sk_ei, CryptoMode::Real),
        &mut IvCounter(1 << 40),
    );
    let before = pair.sent_by(Side::Responder).len();
    let now = pair.now;
    pair.endpoint(Side::Responder)
        .handle_datagram(now, GATEWAY, CLIENT, &bytes);
    pair.pump(Side::Responder);
    let key = SkKey::new(&sk_er, CryptoMode::Real);
    pair.sent_by(Side::Responder)[before..]
        .iter()
        .map(|(_, t)| {
            let msg = Message::parse(&t.bytes).unwrap();
            open(&msg, &t.bytes, &key).unwrap()
        })
        .collect()
}

fn notify_types(payloads: &[Payload]) -> Vec<NotifyType> {
    payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Notify(n) => Some(n.ty),
            _ => None,
        })
        .collect()
}

#[test]
fn rfc7296_2_5_unsupported_critical_payload_is_refused() {
    let mut pair = established(60);
    let unknown = Payload::Unknown {
        ty: PayloadType(200),
        critical: true,
        body: vec![1, 2, 3],
    };
    let answers = inject(&mut pair, 2, &[unknown]);
    assert_eq!(answers.len(), 1);
    assert_eq!(
        notify_types(&answers[0]),
        [NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD]
    );
    let sa = pair.endpoints[1].sas().next().unwrap().1;
    assert!(sa.is_established());
    assert_eq!(
        sa.message_ids(),
        (0, 3),
        "the request still took its Message ID"
    );
}

#[test]
fn rfc7296_2_21_3_malformed_authenticated_request_is_invalid_syntax() {
    let mut pair = established(61);
    let answers = inject(&mut pair, 2, &[Payload::Nonce(vec![0; 5])]);
    assert_eq!(notify_types(&answers[0]), [NotifyType::INVALID_SYNTAX]);
    let events = pair.events_of(Side::Responder);
    assert_eq!(
        events.last(),
        Some(&IkeEvent::Failed(FailReason::InvalidSyntax))
    );
}

#[test]
fn rfc7296_2_3_out_of_window_message_ids_are_dropped() {
    let mut pair = established(62);
    assert!(inject(&mut pair, 5, &[]).is_empty());
    let stats = *pair.endpoints[1].sas().next().unwrap().1.stats();
    assert_eq!(stats.dropped_unexpected, 1);
    // The expected ID is still 2 (after IKE_SA_INIT and IKE_AUTH): it is answered, and
    // its retransmission is answered from the cache.
    assert_eq!(inject(&mut pair, 2, &[]), [Vec::<Payload>::new()]);
    assert_eq!(inject(&mut pair, 2, &[]), [Vec::<Payload>::new()]);
    let stats = *pair.endpoints[1].sas().next().unwrap().1.stats();
    assert_eq!((stats.responses_sent, stats.responses_resent), (3, 1));
}

fn scenario(seed: u64) -> Vec<(SimTime, Side, Transmit)> {
    let mut pair = Pair::new(seed, EndpointConfig::responder(responder_config()));
    pair.loss = Ratio::new(1, 5).unwrap();
    let id = pair.connect(initiator_config());
    pair.drive_until(500, |p| p.established(Side::Initiator));
    let now = pair.now;
    pair.endpoint(Side::Initiator)
        .with_sa(now, id, |sa| sa.rekey_ike());
    pair.pump(Side::Initiator);
    pair.drive_to(now + SimDuration::from_secs(300));
    pair.log
}

#[test]
fn same_seed_same_bytes() {
    let a = scenario(70);
    assert!(a.len() > 4);
    assert_eq!(a, scenario(70));
    assert_ne!(a, scenario(71));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn prop_arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        head in any::<[u8; 8]>(),
    ) {
        let mut pair = established(63);
        let (spi_i, spi_r, _, _) = sk(&pair);
        let now = pair.now;
        // Raw garbage, then garbage behind a header naming the SA (in both roles).
        let mut framed = Vec::new();
        framed.extend_from_slice(&spi_i.to_be_bytes());
        framed.extend_from_slice(&spi_r.to_be_bytes());
        framed.extend_from_slice(&[head[0], 0x20, head[1], head[2] & 0x28]);
        framed.extend_from_slice(&head[4..8]);
        let len = u32::try_from(28 + bytes.len()).unwrap();
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&bytes);
        for side in [Side::Initiator, Side::Responder] {
            let endpoint = pair.endpoint(side);
            endpoint.handle_datagram(now, GATEWAY, CLIENT, &bytes);
            endpoint.handle_datagram(now, GATEWAY, CLIENT, &framed);
            pair.pump(side);
        }
        // Mutations of real messages.
        let log: Vec<Transmit> = pair.log.iter().map(|(_, _, t)| t.clone()).collect();
        for (i, t) in log.iter().enumerate() {
            let mut mutated = t.bytes.clone();
            let at = usize::from(head[i % 8]) % mutated.len();
            mutated[at] ^= head[(i + 1) % 8] | 1;
            for side in [Side::Initiator, Side::Responder] {
                pair.endpoint(side).handle_datagram(now, t.remote, t.local, &mutated);
                pair.pump(side);
            }
        }
        pair.drive_to(now + SimDuration::from_secs(200));
    }
}
