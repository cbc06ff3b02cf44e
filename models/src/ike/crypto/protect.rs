//! Sealing and opening whole protected messages: SK (RFC 7296 §3.14 with AEAD per
//! RFC 5282 §5) and SKF fragments (RFC 7383 §2.5; protocol.md 1.8, 1.9, 2.4).
//!
//! A sealed message is `header | clear payloads | SK header | IV | E(inner | pad length)
//! | ICV`. The associated data is everything before the IV: the IKE header, any clear
//! payloads (e.g. PS, RFC 8019 §7.2), and the SK generic header, or the 8-octet SKF
//! header with Fragment Number and Total Fragments (as strongSwan's
//! `encrypted_payload.c` does). The header Length and the SK Payload Length are final
//! before sealing, because they are authenticated. We send no padding (pad length 0,
//! RFC 7296 §3.14 lets the sender pick; GCM needs no block alignment) and accept any.
//!
//! Receiving is two steps, because the key depends on the SPIs: parse with
//! `wire::Message::parse`, find the IKE SA, then [`open`] (or [`open_fragment`] and
//! later [`reassemble`]) with the raw bytes the message was parsed from. After opening,
//! check `wire::unsupported_critical` on the inner payloads (RFC 7296 §2.5).

use super::aead::{ICV_LEN, IV_LEN, IvSource, SkKey};
use crate::ike::wire::{
    Encrypted, FragmentInfo, HEADER_LEN, Message, NotifyType, PAYLOAD_HEADER_LEN, ParseError,
    Payload, PayloadType, emit_inner, emit_payloads, finish_header, parse_inner,
};

/// Octets SK adds around its plaintext: generic header, IV, pad length, ICV (29).
pub const SK_OVERHEAD: usize = PAYLOAD_HEADER_LEN + IV_LEN + 1 + ICV_LEN;
/// Octets SKF adds around its chunk: SK's plus Fragment Number and Total Fragments (33).
pub const SKF_OVERHEAD: usize = SK_OVERHEAD + 4;

/// Why a protected message could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The message does not end with the expected SK (for [`open`]) or SKF (for
    /// [`open_fragment`]) payload.
    #[error("message has no SK or SKF payload of the expected kind")]
    NotEncrypted,
    /// Too short for IV and ICV, or the ICV does not verify: drop silently, as if the
    /// message never arrived (RFC 7296 §2.21.2).
    #[error("integrity check failed")]
    Integrity,
    /// Authenticated, but the pad length exceeds the plaintext.
    #[error("invalid padding in SK payload")]
    Padding,
    /// The fragments given to [`reassemble`] are not exactly fragments 1..=Total of one
    /// message.
    #[error("fragments do not form one message")]
    IncompleteFragments,
    /// Authenticated, but the inner payload chain is malformed.
    #[error("malformed inner payloads: {0}")]
    Inner(ParseError),
}

impl OpenError {
    /// The notify to answer with: INVALID_SYNTAX when an authenticated message is
    /// malformed (RFC 7296 §2.21.3), nothing when it did not authenticate.
    pub const fn notify_type(self) -> Option<NotifyType> {
        match self {
            Self::Padding | Self::Inner(_) => Some(NotifyType::INVALID_SYNTAX),
            Self::NotEncrypted | Self::Integrity | Self::IncompleteFragments => None,
        }
    }
}

/// Why a message could not be cut into fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FragmentError {
    /// The maximum message size leaves no room for even one octet of plaintext.
    #[error("maximum message size too small for a fragment")]
    TooSmall,
    /// More than 65535 fragments would be needed.
    #[error("too many fragments")]
    TooManyFragments,
}

/// Seals `inner` into an SK payload and returns the whole message.
///
/// `message` supplies the header fields and the payloads sent in the clear before SK
/// (usually none). `ivs` supplies the explicit IV.
///
/// # Panics
///
/// If `message.payloads` or `inner` contain an [`Payload::Encrypted`].
pub fn seal(message: &Message, inner: &[Payload], key: &SkKey, ivs: &mut impl IvSource) -> Vec<u8> {
    let mut plaintext = Vec::new();
    let first = emit_inner(inner, &mut plaintext);
    seal_part(
        message,
        &message.payloads,
        None,
        first,
        &plaintext,
        key,
        ivs.next_iv(),
    )
}

/// Seals `inner` as SKF fragments of at most `max_message_len` octets each (the IKE
/// message, without the UDP header or non-ESP marker), RFC 7383 §2.5.
///
/// The plaintext chain is cut into chunks; each fragment carries the original header
/// fields (same Message ID), its own IV from `ivs` and its own ICV. Clear payloads of `message` go in fragment 1 only
/// (RFC 8019 §7.2.3), which also alone names the first inner payload type.
pub fn seal_fragments(
    message: &Message,
    inner: &[Payload],
    key: &SkKey,
    ivs: &mut impl IvSource,
    max_message_len: usize,
) -> Result<Vec<Vec<u8>>, FragmentError> {
    let mut clear = Vec::new();
    emit_payloads(&message.payloads, PayloadType::SKF, &mut clear);
    let mut plaintext = Vec::new();
    let first = emit_inner(inner, &mut plaintext);

    let room = |taken: usize| {
        max_message_len
            .checked_sub(taken)
            .filter(|&room| room > 0)
            .ok_or(FragmentError::TooSmall)
    };
    let chunk_len = room(HEADER_LEN + SKF_OVERHEAD)?;
    let first_len = room(HEADER_LEN + SKF_OVERHEAD + clear.len())?.min(plaintext.len());
    let (head, tail) = plaintext.split_at(first_len);
    let chunks: Vec<&[u8]> = std::iter::once(head)
        .chain(tail.chunks(chunk_len))
        .collect();
    let total = u16::try_from(chunks.len()).map_err(|_| FragmentError::TooManyFragments)?;

    Ok((1..=total)
        .zip(chunks)
        .map(|(number, chunk)| {
            let fragment = Some(FragmentInfo { number, total });
            let (clear, next) = if number == 1 {
                (&message.payloads[..], first)
            } else {
                (&[][..], PayloadType::NO_NEXT_PAYLOAD)
            };
            seal_part(message, clear, fragment, next, chunk, key, ivs.next_iv())
        })
        .collect())
}

/// Builds one sealed message: header, `clear` payloads, then SK or SKF around `chunk`.
fn seal_part(
    message: &Message,
    clear: &[Payload],
    fragment: Option<FragmentInfo>,
    inner_next: PayloadType,
    chunk: &[u8],
    key: &SkKey,
    iv: [u8; IV_LEN],
) -> Vec<u8> {
    assert!(
        !clear.iter().any(|p| matches!(p, Payload::Encrypted(_))),
        "clear payloads cannot include SK"
    );
    let header = Encrypted {
        next_payload: inner_next,
        fragment,
        body: Vec::new(),
    };
    // Sized so that building it does not reallocate three or four times: the SK or SKF
    // payload header (at most 8 octets) with 8 to spare for the clear payloads, which are
    // rare next to SK (a larger message only grows once more).
    let mut out = Vec::with_capacity(HEADER_LEN + 16 + IV_LEN + chunk.len() + 1 + ICV_LEN);
    out.resize(HEADER_LEN, 0);
    let first = emit_payloads(clear, header.payload_type(), &mut out);
    let sk_start = out.len();
    out.extend_from_slice(&[inner_next.0, 0, 0, 0]);
    header.emit_fields(&mut out);
    let body_start = out.len();
    let end = body_start + IV_LEN + chunk.len() + 1 + ICV_LEN;
    let sk_len = u16::try_from(end - sk_start).expect("SK payload longer than 65535 octets");
    out[sk_start + 2..sk_start + 4].copy_from_slice(&sk_len.to_be_bytes());
    finish_header(message, first, end, &mut out);

    out.extend_from_slice(&iv);
    out.extend_from_slice(chunk);
    out.push(0); // Pad Length: no padding.
    let (aad, body) = out.split_at_mut(body_start);
    let icv = key.seal_in_place(iv, aad, &mut body[IV_LEN..]);
    out.extend_from_slice(&icv);
    out
}

/// Opens the SK payload of `message`, which was parsed from `raw`, and parses the inner
/// payloads.
pub fn open(message: &Message, raw: &[u8], key: &SkKey) -> Result<Vec<Payload>, OpenError> {
    let encrypted = match message.encrypted() {
        Some(e) if e.fragment.is_none() => e,
        _ => return Err(OpenError::NotEncrypted),
    };
    let plaintext = decrypt(encrypted, raw, key)?;
    parse_inner(encrypted.next_payload, &plaintext).map_err(OpenError::Inner)
}

/// One authenticated SKF fragment, decrypted but not yet parsed (its chunk may end in
/// the middle of a payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptedFragment {
    /// Fragment Number and Total Fragments.
    pub info: FragmentInfo,
    /// The SKF Next Payload: first inner payload type in fragment 1, else 0.
    pub next_payload: PayloadType,
    /// This fragment's part of the inner payload chain.
    pub plaintext: Vec<u8>,
}

/// Opens the SKF payload of `message`, which was parsed from `raw`. Reassembly
/// bookkeeping (RFC 7383 §2.6: replays, larger Total restarts, timeouts) is the caller's.
pub fn open_fragment(
    message: &Message,
    raw: &[u8],
    key: &SkKey,
) -> Result<DecryptedFragment, OpenError> {
    let (encrypted, info) = match message.encrypted() {
        Some(e) => match e.fragment {
            Some(info) => (e, info),
            None => return Err(OpenError::NotEncrypted),
        },
        None => return Err(OpenError::NotEncrypted),
    };
    Ok(DecryptedFragment {
        info,
        next_payload: encrypted.next_payload,
        plaintext: decrypt(encrypted, raw, key)?,
    })
}

/// Joins fragments 1..=Total of one message, in any order, and parses the inner chain.
pub fn reassemble(fragments: &[DecryptedFragment]) -> Result<Vec<Payload>, OpenError> {
    let mut sorted: Vec<&DecryptedFragment> = fragments.iter().collect();
    sorted.sort_by_key(|f| f.info.number);
    let in_order = sorted.iter().enumerate().all(|(i, f)| {
        usize::from(f.info.number) == i + 1 && usize::from(f.info.total) == fragments.len()
    });
    let Some(first) = sorted.first().filter(|_| in_order) else {
        return Err(OpenError::IncompleteFragments);
    };
    let plaintext: Vec<u8> = sorted
        .iter()
        .flat_map(|f| f.plaintext.iter().copied())
        .collect();
    parse_inner(first.next_payload, &plaintext).map_err(OpenError::Inner)
}

/// Authenticates and decrypts an SK/SKF body; the associated data is `raw` up to the
/// body, which is the end of `raw`.
fn decrypt(encrypted: &Encrypted, raw: &[u8], key: &SkKey) -> Result<Vec<u8>, OpenError> {
    let body = encrypted.body.as_slice();
    if body.len() < IV_LEN + 1 + ICV_LEN {
        return Err(OpenError::Integrity);
    }
    let aad_len = raw
        .len()
        .checked_sub(body.len())
        .ok_or(OpenError::Integrity)?;
    let (iv, rest) = body.split_at(IV_LEN);
    let (ciphertext, icv) = rest.split_at(rest.len() - ICV_LEN);
    let iv = <[u8; IV_LEN]>::try_from(iv).map_err(|_| OpenError::Integrity)?;
    let icv = <[u8; ICV_LEN]>::try_from(icv).map_err(|_| OpenError::Integrity)?;
    let mut plaintext = ciphertext.to_vec();
    key.open_in_place(iv, &raw[..aad_len], &mut plaintext, icv)
        .map_err(|_| OpenError::Integrity)?;
    let pad_len = plaintext.last().map_or(0, |&n| usize::from(n));
    let len = plaintext
        .len()
        .checked_sub(pad_len + 1)
        .ok_or(OpenError::Padding)?;
    plaintext.truncate(len);
    Ok(plaintext)
}
