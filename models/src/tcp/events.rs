//! The queue of events a connection has for its application.

use std::collections::VecDeque;

use super::Event;

/// Events kept inline; see [`EventQueue`].
const INLINE: usize = 8;

/// Events not yet polled, oldest first: the first [`INLINE`] inline, any others in a boxed
/// queue.
///
/// An input queues a handful of events at most and hosts poll them all after each input
/// (the driving contract of `Connection`), so a heap buffer would either stay allocated in
/// every idle connection or, released when drained, be allocated again at nearly every
/// input (2% of the instructions of a bulk transfer with the system allocator). Inline,
/// the queue takes 16 bytes instead of a `VecDeque`'s 32 and no heap (BENCHMARKS.md,
/// "Memory per idle client"). Only a host that lets events pile up reaches the boxed
/// overflow, which is dropped once drained.
#[derive(Clone, Debug, Default)]
pub(crate) struct EventQueue {
    /// The oldest events, packed at the front.
    inline: [Option<Event>; INLINE],
    /// The events after those of `inline`, while `inline` is full; never empty.
    #[expect(
        clippy::box_collection,
        reason = "8 bytes in every connection instead of 32, for a queue almost never used"
    )]
    overflow: Option<Box<VecDeque<Event>>>,
}

impl EventQueue {
    pub(crate) fn push_back(&mut self, event: Event) {
        if let Some(overflow) = &mut self.overflow {
            overflow.push_back(event);
        } else if let Some(slot) = self.inline.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some(event);
        } else {
            self.overflow = Some(Box::new(VecDeque::from([event])));
        }
    }

    pub(crate) fn pop_front(&mut self) -> Option<Event> {
        let event = self.inline[0].take()?;
        self.inline.rotate_left(1);
        if let Some(overflow) = &mut self.overflow {
            self.inline[INLINE - 1] = overflow.pop_front();
            if overflow.is_empty() {
                self.overflow = None;
            }
        }
        Some(event)
    }

    /// The newest event.
    pub(crate) fn back(&self) -> Option<Event> {
        match &self.overflow {
            Some(overflow) => overflow.back().copied(),
            None => self.inline.iter().rev().flatten().next().copied(),
        }
    }

    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        self.overflow.as_ref().map_or(0, |overflow| {
            size_of::<VecDeque<Event>>() + overflow.capacity() * size_of::<Event>()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::ConnectionError;

    #[test]
    fn first_in_first_out_past_the_inline_slots() {
        let events = [
            Event::Connected,
            Event::Readable,
            Event::Writable,
            Event::PeerFinished,
            Event::Closed,
            Event::Failed(ConnectionError::Reset),
        ];
        let mut queue = EventQueue::default();
        let mut expected = VecDeque::new();
        assert_eq!(queue.back(), None);
        // Interleaved pushes and pops, filling the inline slots and the overflow twice.
        for round in 0..2 {
            for i in 0..3 * INLINE {
                let event = events[(i + round) % events.len()];
                queue.push_back(event);
                expected.push_back(event);
                assert_eq!(queue.back(), Some(event));
                if i % 3 == 0 {
                    assert_eq!(queue.pop_front(), expected.pop_front());
                }
            }
            assert!(queue.heap_bytes() > 0);
            while let Some(event) = expected.pop_front() {
                assert_eq!(queue.pop_front(), Some(event));
            }
            assert_eq!(queue.pop_front(), None);
            assert_eq!(queue.back(), None);
            assert_eq!(queue.heap_bytes(), 0);
        }
    }
}
