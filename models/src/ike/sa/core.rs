//! One generation of an IKE SA: SPIs, SK keys and Message IDs (RFC 7296 §2.2, §2.3).
//!
//! An [`super::IkeSa`] holds one [`Core`], and for a while after an IKE rekey also the
//! old one (to answer retransmissions of the rekey request and to delete it,
//! RFC 7296 §2.18). Each core counts Message IDs separately per direction: the next ID
//! of our requests, and the next ID expected in the peer's. With window size 1
//! (RFC 7296 §2.3), at most one request of ours is outstanding, and the last response
//! sent is cached so that a retransmitted request is answered from the cache and never
//! processed twice.

use std::rc::Rc;

use sim::{SimRng, SimTime};

use super::fragments::Reassembly;
use super::mobike::MobikeRequest;
use crate::CryptoMode;
use crate::ike::crypto::{
    self, DecryptedFragment, DhGroup, DhSecret, OpenError, SkKey, open, open_fragment, seal,
    seal_fragments,
};
use crate::ike::wire::{ExchangeType, Flags, Message, Payload};

/// The SK keys of a core, oriented: `send` protects what we send.
#[derive(Debug, Clone)]
pub(crate) struct CoreKeys {
    /// The DH group of the IKE SA (also used for PFS and IKE rekey).
    pub(crate) group: DhGroup,
    /// All keys, as derived.
    pub(crate) sk: crypto::IkeSaKeys,
    send: SkKey,
    recv: SkKey,
}

impl CoreKeys {
    /// Keys for the side that sets the I flag iff `initiator` (SK_ei protects the
    /// initiator's messages, RFC 7296 §2.14).
    pub(crate) fn new(
        group: DhGroup,
        sk: crypto::IkeSaKeys,
        initiator: bool,
        mode: CryptoMode,
    ) -> Self {
        let (send, recv) = if initiator {
            (&sk.sk_ei, &sk.sk_er)
        } else {
            (&sk.sk_er, &sk.sk_ei)
        };
        let (send, recv) = (SkKey::new(send, mode), SkKey::new(recv, mode));
        Self {
            group,
            sk,
            send,
            recv,
        }
    }
}

/// What an outstanding request is for; the exchange's own state rides along.
#[derive(Debug)]
pub(crate) enum Request {
    /// IKE_SA_INIT (details in the initiator's state).
    SaInit,
    /// IKE_AUTH (details in the initiator's state).
    Auth,
    /// CREATE_CHILD_SA rekeying the Child SA with this inbound SPI.
    RekeyChild(Box<ChildRekey>),
    /// CREATE_CHILD_SA rekeying the IKE SA.
    RekeyIke(Box<IkeRekey>),
    /// INFORMATIONAL deleting these Child SAs (our inbound SPIs).
    DeleteChild(u32),
    /// INFORMATIONAL deleting this IKE SA.
    DeleteIke,
    /// Empty INFORMATIONAL (RFC 7296 §2.4).
    Liveness,
    /// RFC 6311 sync after a failover: Message ID 0 with this nonce, or (replay counters
    /// only) an ordinary INFORMATIONAL.
    HaSync(Option<[u8; 4]>),
    /// A MOBIKE exchange (RFC 4555).
    Mobike(MobikeRequest),
}

/// Our side of a Child SA rekey in progress.
#[derive(Debug)]
pub(crate) struct ChildRekey {
    /// The old SA's inbound SPI.
    pub(crate) old_spi_in: u32,
    /// The new SA's inbound SPI.
    pub(crate) new_spi_in: u32,
    /// Ni of this exchange.
    pub(crate) ni: Vec<u8>,
    /// Our DH secret, with PFS.
    pub(crate) dh: Option<DhSecret>,
}

/// Our side of an IKE SA rekey in progress.
#[derive(Debug)]
pub(crate) struct IkeRekey {
    /// Our SPI in the new IKE SA (its SPIi: we initiate).
    pub(crate) new_spi: u64,
    /// Ni of this exchange.
    pub(crate) ni: Vec<u8>,
    /// Our DH secret (always: RFC 7296 §2.18).
    pub(crate) dh: DhSecret,
}

/// Our request awaiting its response.
#[derive(Debug)]
pub(crate) struct Outstanding {
    /// Its Message ID.
    pub(crate) id: u32,
    /// Its exchange type.
    pub(crate) exchange: ExchangeType,
    /// What it is for.
    pub(crate) request: Request,
    /// The message, or its fragments, exactly as first sent (retransmissions are
    /// bit-identical, RFC 7296 §2.1).
    pub(crate) packets: Vec<Vec<u8>>,
    /// Retransmissions so far.
    pub(crate) tries: u32,
    /// When to retransmit or give up.
    pub(crate) deadline: SimTime,
}

/// The last response we sent, kept for retransmitted requests (RFC 7296 §2.1).
#[derive(Debug, Clone)]
pub(crate) struct CachedResponse {
    /// The Message ID it answered.
    pub(crate) id: u32,
    /// The request it answered, for IKE_SA_INIT, where no key authenticates the
    /// retransmission (RFC 7296 §2.1 suggests comparing the whole packet).
    pub(crate) request: Option<Vec<u8>>,
    /// The message or its fragments.
    pub(crate) packets: Vec<Vec<u8>>,
}

/// How a received message relates to this core's Message IDs (RFC 7296 §2.2, §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// The request we expect next: process it.
    NewRequest,
    /// The request we answered last: resend the cached response.
    Retransmission,
    /// The response to our outstanding request.
    Response,
}

/// One generation of an IKE SA.
#[derive(Debug)]
pub(crate) struct Core {
    /// SPIi.
    pub(crate) spi_i: u64,
    /// SPIr (zero until the IKE_SA_INIT response, on the initiator).
    pub(crate) spi_r: u64,
    /// Whether we set the I flag: the original initiator, or after an IKE rekey the
    /// rekey initiator (RFC 7296 §2.18).
    pub(crate) initiator: bool,
    /// Keys, once IKE_SA_INIT (or the rekey) is done. Shared with the SA's HA replicas (a
    /// replica is taken whenever the SA's stamp moves); never changed in place: an IKE
    /// rekey makes a new `Core`.
    pub(crate) keys: Option<Rc<CoreKeys>>,
    /// Message ID of our next request.
    pub(crate) next_request_id: u32,
    /// Our outstanding request.
    /// Boxed: an idle SA has none, and inline it was 96 bytes per SA.
    pub(crate) outstanding: Option<Box<Outstanding>>,
    /// Message ID of the peer's next request.
    pub(crate) expected_request_id: u32,
    /// The last response sent.
    pub(crate) last_response: Option<CachedResponse>,
    /// Fragments being reassembled.
    pub(crate) reassembly: Reassembly,
}

impl Core {
    /// A core with no keys and every counter at zero.
    pub(crate) fn new(spi_i: u64, spi_r: u64, initiator: bool) -> Self {
        Self {
            spi_i,
            spi_r,
            initiator,
            keys: None,
            next_request_id: 0,
            outstanding: None,
            expected_request_id: 0,
            last_response: None,
            reassembly: Reassembly::default(),
        }
    }

    /// The SPI we chose, by which the peer names this SA to us (RFC 7296 §2.6).
    pub(crate) const fn local_spi(&self) -> u64 {
        if self.initiator {
            self.spi_i
        } else {
            self.spi_r
        }
    }

    /// Whether `message` carries this core's SPIs. IKE_SA_INIT may have a zero SPIr
    /// (the request, and COOKIE or INVALID_KE answers) or we may not know it yet.
    pub(crate) fn matches(&self, message: &Message) -> bool {
        message.spi_i == self.spi_i
            && (message.spi_r == self.spi_r
                || (message.exchange_type == ExchangeType::IKE_SA_INIT
                    && (message.spi_r == 0 || self.spi_r == 0)))
    }

    /// Classifies a message of this SA by flags and Message ID; `None` means drop it.
    pub(crate) fn classify(&self, message: &Message) -> Option<Incoming> {
        if message.flags.initiator == self.initiator {
            return None;
        }
        let id = message.message_id;
        if message.flags.response {
            let out = self.outstanding.as_ref()?;
            (out.id == id && out.exchange == message.exchange_type).then_some(Incoming::Response)
        } else if id == self.expected_request_id {
            Some(Incoming::NewRequest)
        } else if self.last_response.as_ref().is_some_and(|r| r.id == id) {
            Some(Incoming::Retransmission)
        } else {
            None
        }
    }

    /// The header of a message of ours in this SA.
    pub(crate) const fn header(&self, exchange: ExchangeType, id: u32, response: bool) -> Message {
        Message {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            exchange_type: exchange,
            flags: Flags {
                initiator: self.initiator,
                response,
            },
            message_id: id,
            payloads: Vec::new(),
        }
    }

    /// Seals `inner` into one SK message, or into SKF fragments when it would exceed
    /// `max_len` octets (RFC 7383 §2.5).
    ///
    /// # Panics
    ///
    /// If the core has no keys yet (a local invariant: callers protect only after
    /// IKE_SA_INIT).
    pub(crate) fn protect(
        &self,
        rng: &mut SimRng,
        header: &Message,
        inner: &[Payload],
        max_len: Option<usize>,
    ) -> Vec<Vec<u8>> {
        let keys = self.keys.as_ref().expect("SK keys exist after IKE_SA_INIT");
        let whole = seal(header, inner, &keys.send, rng);
        match max_len {
            Some(max) if whole.len() > max => {
                seal_fragments(header, inner, &keys.send, rng, max).unwrap_or_else(|_| vec![whole])
            }
            _ => vec![whole],
        }
    }

    /// Opens an SK message.
    pub(crate) fn open(&self, message: &Message, raw: &[u8]) -> Result<Vec<Payload>, OpenError> {
        let keys = self.keys.as_ref().ok_or(OpenError::NotEncrypted)?;
        open(message, raw, &keys.recv)
    }

    /// Authenticates and decrypts one SKF fragment.
    pub(crate) fn open_fragment(
        &self,
        message: &Message,
        raw: &[u8],
    ) -> Result<DecryptedFragment, OpenError> {
        let keys = self.keys.as_ref().ok_or(OpenError::NotEncrypted)?;
        open_fragment(message, raw, &keys.recv)
    }
}
