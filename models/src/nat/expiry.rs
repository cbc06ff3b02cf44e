//! Session deadlines of a NAT table: one FIFO list per idle timeout.
//!
//! A session's deadline is always "now plus the idle timeout of its class" (TCP
//! established, TCP transitory, UDP, other protocols), and the table's clock only moves
//! forward, so appending a refreshed session at the back of its class's list keeps every
//! list in deadline order. Refreshing is then O(1) (unlink, append) instead of two
//! searches of an ordered set holding every session, the NAT's cost on every packet: at
//! 100,000 clients behind 100 NATs each set held a thousand sessions and every packet
//! moved one. The earliest deadline is the earliest of the lists' heads.
//!
//! Nodes live in one vector, linked by index; freed nodes are reused last-freed first,
//! so the layout (and everything else) is a function of the packets seen.

use std::net::SocketAddrV4;

use sim::SimTime;

/// The index of a node; [`NIL`] for none.
pub(super) type Slot = u32;

/// No node.
pub(super) const NIL: Slot = Slot::MAX;

/// The `prev` of a freed node, so that removing one twice is caught (debug builds).
const FREED: Slot = Slot::MAX - 1;

/// The idle-timeout classes (RFC 4787 REQ-5, RFC 5382 REQ-5); each has one duration for
/// the life of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Class {
    TcpEstablished,
    TcpTransitory,
    Udp,
    Other,
}

impl Class {
    const COUNT: usize = 4;

    const fn index(self) -> usize {
        self as usize
    }
}

/// One session's entry: its deadline and whose it is.
#[derive(Clone, Copy, Debug)]
struct Node {
    deadline: SimTime,
    mapping: u64,
    remote: SocketAddrV4,
    class: Class,
    prev: Slot,
    next: Slot,
}

/// The head and tail of one class's list.
#[derive(Clone, Copy, Debug)]
struct List {
    head: Slot,
    tail: Slot,
}

/// Every session's deadline; see the module docs.
#[derive(Debug)]
pub(super) struct Expiry {
    lists: [List; Class::COUNT],
    nodes: Vec<Node>,
    /// Freed nodes, each linked to the next by `next`.
    free: Slot,
}

impl Default for Expiry {
    fn default() -> Self {
        Self {
            lists: [List {
                head: NIL,
                tail: NIL,
            }; Class::COUNT],
            nodes: Vec::new(),
            free: NIL,
        }
    }
}

impl Expiry {
    /// Adds the deadline of session `remote` of `mapping`, which must not be earlier than
    /// any deadline of `class` already present; returns its slot.
    pub(super) fn push(
        &mut self,
        class: Class,
        deadline: SimTime,
        mapping: u64,
        remote: SocketAddrV4,
    ) -> Slot {
        let list = self.lists[class.index()];
        debug_assert!(list.tail == NIL || self.node(list.tail).deadline <= deadline);
        let node = Node {
            deadline,
            mapping,
            remote,
            class,
            prev: list.tail,
            next: NIL,
        };
        let slot = if self.free == NIL {
            let slot = Slot::try_from(self.nodes.len()).expect("fewer than 2^32 sessions");
            self.nodes.push(node);
            slot
        } else {
            let slot = self.free;
            self.free = self.node(slot).next;
            self.nodes[slot as usize] = node;
            slot
        };
        match list.tail {
            NIL => self.lists[class.index()].head = slot,
            tail => self.nodes[tail as usize].next = slot,
        }
        self.lists[class.index()].tail = slot;
        slot
    }

    /// Removes the entry at `slot`, which must be live.
    pub(super) fn remove(&mut self, slot: Slot) {
        let Node {
            class, prev, next, ..
        } = *self.node(slot);
        debug_assert!(prev != FREED, "slot {slot} removed twice");
        match prev {
            NIL => self.lists[class.index()].head = next,
            prev => self.nodes[prev as usize].next = next,
        }
        match next {
            NIL => self.lists[class.index()].tail = prev,
            next => self.nodes[next as usize].prev = prev,
        }
        let freed = &mut self.nodes[slot as usize];
        freed.prev = FREED;
        freed.next = self.free;
        self.free = slot;
    }

    /// The earliest deadline.
    pub(super) fn next_deadline(&self) -> Option<SimTime> {
        self.earliest().map(|slot| self.node(slot).deadline)
    }

    /// Removes and returns the earliest entry if it is due at `now`: its mapping and
    /// remote endpoint. Equal deadlines come out in a fixed order, but not the key
    /// order of the ordered set this replaced: what a pass of expiry leaves does not
    /// depend on the order within it (each entry drops its own session, and its mapping
    /// with the last).
    pub(super) fn pop_due(&mut self, now: SimTime) -> Option<(u64, SocketAddrV4)> {
        let slot = self.earliest()?;
        let node = *self.node(slot);
        if node.deadline > now {
            return None;
        }
        self.remove(slot);
        Some((node.mapping, node.remote))
    }

    /// The head with the earliest deadline (the first such list on a tie).
    fn earliest(&self) -> Option<Slot> {
        self.lists
            .iter()
            .map(|list| list.head)
            .filter(|&head| head != NIL)
            .min_by_key(|&head| self.node(head).deadline)
    }

    fn node(&self, slot: Slot) -> &Node {
        &self.nodes[slot as usize]
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::net::Ipv4Addr;

    use proptest::prelude::*;

    use super::*;

    const CLASSES: [Class; 4] = [
        Class::TcpEstablished,
        Class::TcpTransitory,
        Class::Udp,
        Class::Other,
    ];

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "removed twice")]
    fn removing_a_slot_twice_is_caught() {
        let mut expiry = Expiry::default();
        let remote = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 1);
        let slot = expiry.push(Class::Udp, SimTime::from_nanos(5), 1, remote);
        expiry.remove(slot);
        expiry.remove(slot);
    }

    proptest! {
        /// Against the ordered set it replaces: sessions refreshed, removed and expired in
        /// any order, with a fixed timeout per class and a clock that only moves forward,
        /// expire in the same passes, earliest deadline first, and the earliest deadline
        /// is always the same.
        #[test]
        fn matches_an_ordered_set(
            steps in proptest::collection::vec((0u8..4, 0u64..6, 0u64..3, 0u8..4), 1..300),
            timeouts in proptest::array::uniform4(1u64..50),
        ) {
            let mut expiry = Expiry::default();
            let mut model: BTreeSet<(SimTime, u64, SocketAddrV4)> = BTreeSet::new();
            let mut slots: std::collections::BTreeMap<(u64, SocketAddrV4), (Slot, SimTime)> =
                std::collections::BTreeMap::new();
            let mut now = 0u64;
            for (op, mapping, port, class) in steps {
                let remote = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), port as u16);
                let key = (mapping, remote);
                match op {
                    // Refresh (or open) a session in a class.
                    0 | 1 => {
                        let class = CLASSES[class as usize];
                        let deadline =
                            SimTime::from_nanos(now + timeouts[class.index()]);
                        if let Some((slot, old)) = slots.remove(&key) {
                            expiry.remove(slot);
                            model.remove(&(old, mapping, remote));
                        }
                        let slot = expiry.push(class, deadline, mapping, remote);
                        slots.insert(key, (slot, deadline));
                        model.insert((deadline, mapping, remote));
                    }
                    // Drop a session early.
                    2 => {
                        if let Some((slot, old)) = slots.remove(&key) {
                            expiry.remove(slot);
                            model.remove(&(old, mapping, remote));
                        }
                    }
                    // Time passes; everything due expires, earliest first.
                    _ => {
                        now += mapping * 7;
                        let t = SimTime::from_nanos(now);
                        let mut got = Vec::new();
                        let mut last = SimTime::ZERO;
                        while let Some(key) = expiry.pop_due(t) {
                            let (_, deadline) = slots.remove(&key).expect("a live session");
                            prop_assert!(deadline >= last, "earliest deadline first");
                            last = deadline;
                            got.push((deadline, key.0, key.1));
                        }
                        got.sort_unstable();
                        let mut want = Vec::new();
                        while model.first().is_some_and(|e| e.0 <= t) {
                            want.extend(model.pop_first());
                        }
                        prop_assert_eq!(got, want);
                    }
                }
                prop_assert_eq!(expiry.next_deadline(), model.first().map(|e| e.0));
            }
        }
    }
}
