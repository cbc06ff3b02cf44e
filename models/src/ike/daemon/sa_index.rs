//! What the daemon keeps per IKE SA beside the endpoint's own state: the path its ESP
//! takes, whether it runs over TCP (RFC 9329), and the connection it sends on (§6.1).
//!
//! One index for all three: a gateway reads the path and the connection of every ESP
//! packet it sends and the transport of every IKE message it answers, and with 100,000
//! SAs each distinct index was a cache miss of its own (a second lookup of the same
//! entry finds it in the cache).

use crate::ike::sa::SaId;
use crate::ip::ConnId;
use crate::small_map::SmallIndex;

use super::SaPath;

/// The daemon's per-SA records; an SA has one while any part is set.
#[derive(Debug, Default)]
pub(super) struct SaIndex(SmallIndex<SaId, SaEntry>);

#[derive(Debug, Clone, Copy, Default)]
struct SaEntry {
    /// Where its ESP goes, once established (or restored by an HA takeover).
    path: Option<SaPath>,
    /// It runs over TCP.
    over_tcp: bool,
    /// The connection it sends on.
    conn: Option<ConnId>,
}

impl SaEntry {
    const fn is_empty(&self) -> bool {
        self.path.is_none() && !self.over_tcp && self.conn.is_none()
    }
}

impl SaIndex {
    /// SA `sa`'s ESP path.
    pub(super) fn path(&self, sa: SaId) -> Option<SaPath> {
        self.0.get(&sa).and_then(|e| e.path)
    }

    /// Sets SA `sa`'s ESP path.
    pub(super) fn set_path(&mut self, sa: SaId, path: SaPath) {
        self.entry(sa).path = Some(path);
    }

    /// Every SA's ESP path, in SA id order.
    pub(super) fn paths(&self) -> Vec<(SaId, SaPath)> {
        let sorted = self.0.sorted().into_iter();
        sorted.filter_map(|(&id, e)| Some((id, e.path?))).collect()
    }

    /// Whether SA `sa` runs over TCP.
    pub(super) fn is_tcp(&self, sa: SaId) -> bool {
        self.0.get(&sa).is_some_and(|e| e.over_tcp)
    }

    /// The connection SA `sa` sends on.
    pub(super) fn conn(&self, sa: SaId) -> Option<ConnId> {
        self.0.get(&sa).and_then(|e| e.conn)
    }

    /// Whether SA `sa` runs over TCP, and its connection, in one lookup.
    pub(super) fn transport(&self, sa: SaId) -> (bool, Option<ConnId>) {
        self.0
            .get(&sa)
            .map_or((false, None), |e| (e.over_tcp, e.conn))
    }

    /// SA `sa` runs over TCP from now on; whether it did not before.
    pub(super) fn set_tcp(&mut self, sa: SaId) -> bool {
        !std::mem::replace(&mut self.entry(sa).over_tcp, true)
    }

    /// SA `sa` no longer runs over TCP; whether it did.
    pub(super) fn clear_tcp(&mut self, sa: SaId) -> bool {
        self.update(sa, |e| std::mem::replace(&mut e.over_tcp, false))
            .unwrap_or(false)
    }

    /// SA `sa` sends on `conn`; the connection it sent on before.
    pub(super) fn bind(&mut self, sa: SaId, conn: ConnId) -> Option<ConnId> {
        self.entry(sa).conn.replace(conn)
    }

    /// SA `sa` sends on no connection; the one it did.
    pub(super) fn unbind(&mut self, sa: SaId) -> Option<ConnId> {
        self.update(sa, |e| e.conn.take()).flatten()
    }

    /// SA `sa` ended: its path and transport go (its connection is unbound apart, see
    /// `IkeDaemon::unbind_sa`).
    pub(super) fn end(&mut self, sa: SaId) {
        self.update(sa, |e| {
            e.path = None;
            e.over_tcp = false;
        });
    }

    fn entry(&mut self, sa: SaId) -> &mut SaEntry {
        self.0.get_or_insert_with(sa, SaEntry::default)
    }

    /// Applies `f` to SA `sa`'s entry, if any, and drops the entry once empty.
    fn update<R>(&mut self, sa: SaId, f: impl FnOnce(&mut SaEntry) -> R) -> Option<R> {
        let e = self.0.get_mut(&sa)?;
        let r = f(e);
        if e.is_empty() {
            self.0.remove(&sa);
        }
        Some(r)
    }
}
