//! The Security Association Database of one host (RFC 4301 §4.4.2), ESP part.
//!
//! Inbound SAs are found by SPI (RFC 4301 §4.1: for unicast the SPI alone names the SA);
//! outbound SAs by a [`SelectorId`], the handle the policy layer gives each tunnel (a pair
//! of traffic selectors). Both are `SmallIndex`es, listed only in key order, so hash
//! order never leaks.
//!
//! Rekeying a Child SA (RFC 7296 §2.8): the new inbound SA is added next to the old one, so
//! both are accepted while the peer switches; [`Sad::install_outbound`] then moves the
//! selector's traffic to the new outbound SA, and the old inbound SA is removed when its
//! deletion is exchanged.

use super::sa::{Decapsulated, InboundSa, OutboundSa, SequenceExhausted};
use super::wire::{Packet, Repr};
use super::{EspCounters, EspDropReason};
use crate::small_map::SmallIndex;

/// An opaque handle naming one outbound traffic flow (a Child SA's traffic selectors), set
/// by the IKE or policy layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SelectorId(pub u32);

/// An inbound SA with this SPI exists already; SPIs must be unique per receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an inbound SA with SPI {0:#010x} exists already")]
pub struct DuplicateSpi(pub u32);

/// Why a packet could not be encapsulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EspSendError {
    /// No outbound SA for this selector (none negotiated yet, or deleted).
    #[error("no outbound SA for this selector")]
    NoSa,
    /// The SA's sequence numbers are used up; it must be rekeyed.
    #[error(transparent)]
    SequenceExhausted(#[from] SequenceExhausted),
}

/// The ESP SAs of one host.
#[derive(Debug, Clone, Default)]
pub struct Sad {
    /// Both maps hold boxes: an SA holds its AES key schedule, and a growing table moves
    /// its values (a gateway adds one per client).
    inbound: SmallIndex<u32, Box<InboundSa>>,
    outbound: SmallIndex<SelectorId, Box<OutboundSa>>,
    /// Counters of removed SAs, and drops that belong to no SA (unknown SPI, too short).
    base: EspCounters,
}

impl Sad {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an inbound SA; fails if its SPI is taken.
    pub fn insert_inbound(&mut self, sa: InboundSa) -> Result<(), DuplicateSpi> {
        let spi = sa.spi();
        if self.inbound.contains_key(&spi) {
            return Err(DuplicateSpi(spi));
        }
        self.inbound.insert(spi, Box::new(sa));
        Ok(())
    }

    /// Removes the inbound SA `spi` and returns its final counters; they stay in
    /// [`Self::counters`]. Later packets for it count as unknown SPI.
    pub fn remove_inbound(&mut self, spi: u32) -> Option<EspCounters> {
        let sa = self.inbound.remove(&spi)?;
        self.base.merge(sa.counters());
        Some(*sa.counters())
    }

    /// Makes `sa` the outbound SA of `selector`. A replaced SA is dropped and its final
    /// counters returned (they stay in [`Self::counters`]).
    pub fn install_outbound(
        &mut self,
        selector: SelectorId,
        sa: OutboundSa,
    ) -> Option<EspCounters> {
        let old = self.outbound.insert(selector, Box::new(sa))?;
        self.base.merge(old.counters());
        Some(*old.counters())
    }

    /// Removes the outbound SA of `selector` and returns its final counters.
    pub fn remove_outbound(&mut self, selector: SelectorId) -> Option<EspCounters> {
        let sa = self.outbound.remove(&selector)?;
        self.base.merge(sa.counters());
        Some(*sa.counters())
    }

    /// The inbound SA with this SPI.
    pub fn inbound(&self, spi: u32) -> Option<&InboundSa> {
        self.inbound.get(&spi).map(|sa| &**sa)
    }

    /// The inbound SA with this SPI, to change (HA restore).
    pub fn inbound_mut(&mut self, spi: u32) -> Option<&mut InboundSa> {
        self.inbound.get_mut(&spi).map(|sa| &mut **sa)
    }

    /// The outbound SA of `selector`.
    pub fn outbound(&self, selector: SelectorId) -> Option<&OutboundSa> {
        self.outbound.get(&selector).map(|sa| &**sa)
    }

    /// The outbound SA of `selector`, mutably (for RFC 6311 counter jumps).
    pub fn outbound_mut(&mut self, selector: SelectorId) -> Option<&mut OutboundSa> {
        self.outbound.get_mut(&selector).map(|sa| &mut **sa)
    }

    /// Protects an inner IPv4 packet with the outbound SA of `selector`.
    pub fn encapsulate(
        &mut self,
        selector: SelectorId,
        inner: &[u8],
    ) -> Result<Vec<u8>, EspSendError> {
        let sa = self.outbound.get_mut(&selector).ok_or(EspSendError::NoSa)?;
        Ok(sa.encapsulate(inner)?)
    }

    /// Finds the inbound SA by SPI and opens the packet with it (RFC 4303 §3.4.2).
    pub fn decapsulate(&mut self, esp: &[u8]) -> Result<Decapsulated, EspDropReason> {
        let spi = Packet::new_checked(esp)
            .and_then(|packet| Repr::parse(&packet))
            .map(|repr| repr.spi);
        let found = match spi {
            Ok(spi) => self.inbound.get_mut(&spi).ok_or(EspDropReason::UnknownSpi),
            Err(_) => Err(EspDropReason::Malformed),
        };
        let sa = found.inspect_err(|&reason| self.base.drops.record(reason))?;
        sa.decapsulate(esp)
    }

    /// Totals over live and removed SAs, plus drops no SA owns.
    pub fn counters(&self) -> EspCounters {
        let mut total = self.base;
        for (_, sa) in self.inbound.sorted() {
            total.merge(sa.counters());
        }
        for (_, sa) in self.outbound.sorted() {
            total.merge(sa.counters());
        }
        total
    }
}
