//! Draining a sans-IO state machine's output queue (`poll_transmit`, `poll_event`) before
//! acting on it.
//!
//! A host or daemon must take everything a connection or endpoint has queued before it
//! sends any of it (sending borrows the rest of the host), so the output is gathered
//! first. It is almost always one segment or one message, or none, so the first item is
//! kept inline: collecting them all allocated a vector (480 bytes of TCP segments, 640 of
//! IKE transmits) for every packet of the scale scenario.

use std::iter::Chain;

/// What [`drain`] gathered, in the order polled.
pub(crate) type Polled<T> = Chain<std::option::IntoIter<T>, std::vec::IntoIter<T>>;

/// Everything `poll` yields up to its first `None`, in order. The first item is kept
/// inline; only a second one allocates.
pub(crate) fn drain<T>(mut poll: impl FnMut() -> Option<T>) -> Polled<T> {
    let first = poll();
    let rest = if first.is_some() {
        std::iter::from_fn(poll).collect()
    } else {
        Vec::new()
    };
    first.into_iter().chain(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_stops_at_the_first_none() {
        for n in 0..4 {
            let mut queue: Vec<u32> = (0..n).rev().collect();
            let mut polls = 0;
            let got: Vec<u32> = drain(|| {
                polls += 1;
                queue.pop()
            })
            .collect();
            assert_eq!(got, (0..n).collect::<Vec<_>>());
            assert_eq!(polls, n + 1, "polled until the first None, and no further");
        }
    }
}
