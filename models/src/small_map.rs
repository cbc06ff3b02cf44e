//! Ordered maps and sets that cost no more than their entries while they are small.
//!
//! A host keeps a dozen indexes (SAs by id, by SPI, connections by tuple, timers, routes,
//! Child SAs…). On a gateway they hold one entry per client; on each of 100,000 client
//! hosts they hold one entry. A `BTreeMap` with one entry allocates a whole leaf node with
//! room for eleven (192 to 368 bytes here), which made these indexes about 4 kB of every
//! idle client (BENCHMARKS.md, "Memory per idle client"). [`SmallMap`] keeps up to
//! [`INLINE_MAX`] entries in a sorted vector sized to its contents and becomes a `BTreeMap`
//! beyond that, so a gateway's large indexes keep their O(log n) updates.
//!
//! Both representations iterate in key order, so replacing a `BTreeMap` with a `SmallMap`
//! changes no iteration order and no result (determinism, style.md rule 10).
//!
//! [`SmallIndex`] is the same idea for indexes that are only ever looked up (connections by
//! address and port, SAs by SPI, routes of one prefix length): a sorted vector while small,
//! a hash table beyond. At a gateway of 100,000 clients every packet looks up several of
//! them, and a B-tree lookup there costs a cache miss per level. Its only iteration,
//! [`SmallIndex::sorted`], sorts by key on every call, so hash order cannot reach a
//! result.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::collections::btree_map;
use std::hash::Hash;

use foldhash::fast::FixedState;

/// Entries kept in the sorted vector; one more turns the map into a B-tree.
pub const INLINE_MAX: usize = 16;

/// An ordered map: a sorted vector while small, a `BTreeMap` when large.
#[derive(Clone)]
pub struct SmallMap<K, V>(Repr<K, V>);

#[derive(Clone)]
enum Repr<K, V> {
    /// Sorted by key, unique keys, at most [`INLINE_MAX`] entries, capacity equal to length.
    Inline(Vec<(K, V)>),
    Tree(BTreeMap<K, V>),
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        Self(Repr::Inline(Vec::new()))
    }
}

impl<K: Ord + std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for SmallMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Ord, V> SmallMap<K, V> {
    /// An empty map (no allocation).
    pub const fn new() -> Self {
        Self(Repr::Inline(Vec::new()))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Inline(v) => v.len(),
            Repr::Tree(t) => t.len(),
        }
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value for `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match &self.0 {
            Repr::Inline(v) => find(v, key).ok().map(|i| &v[i].1),
            Repr::Tree(t) => t.get(key),
        }
    }

    /// The value for `key`, mutably.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match &mut self.0 {
            Repr::Inline(v) => find(v, key).ok().map(|i| &mut v[i].1),
            Repr::Tree(t) => t.get_mut(key),
        }
    }

    /// Whether `key` is present.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Inserts or replaces the value for `key`; returns the old value.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match &mut self.0 {
            Repr::Inline(v) => match find(v, &key) {
                Ok(i) => Some(std::mem::replace(&mut v[i].1, value)),
                Err(i) if v.len() < INLINE_MAX => {
                    v.reserve_exact(1);
                    v.insert(i, (key, value));
                    None
                }
                Err(_) => {
                    let mut tree: BTreeMap<K, V> = std::mem::take(v).into_iter().collect();
                    tree.insert(key, value);
                    self.0 = Repr::Tree(tree);
                    None
                }
            },
            Repr::Tree(t) => t.insert(key, value),
        }
    }

    /// The value for `key`, inserted from `make` if absent (`entry(key).or_insert_with`).
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        if let Repr::Inline(v) = &self.0
            && find(v, &key).is_err()
            && v.len() == INLINE_MAX
        {
            let tree = match std::mem::replace(&mut self.0, Repr::Inline(Vec::new())) {
                Repr::Inline(v) => v.into_iter().collect(),
                Repr::Tree(t) => t,
            };
            self.0 = Repr::Tree(tree);
        }
        match &mut self.0 {
            Repr::Inline(v) => inline_get_or_insert_with(v, key, make),
            Repr::Tree(t) => t.entry(key).or_insert_with(make),
        }
    }

    /// Removes the entry for `key`; returns its value. An emptied map frees its storage.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let removed = match &mut self.0 {
            Repr::Inline(v) => find(v, key).ok().map(|i| v.remove(i).1),
            Repr::Tree(t) => t.remove(key),
        };
        if removed.is_some() && self.is_empty() {
            self.0 = Repr::Inline(Vec::new());
        }
        removed
    }

    /// The entry with the smallest key.
    pub fn first_key_value(&self) -> Option<(&K, &V)> {
        match &self.0 {
            Repr::Inline(v) => v.first().map(|(k, v)| (k, v)),
            Repr::Tree(t) => t.first_key_value(),
        }
    }

    /// Keeps only the entries for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        match &mut self.0 {
            Repr::Inline(v) => v.retain_mut(|(k, v)| keep(k, v)),
            Repr::Tree(t) => t.retain(|k, v| keep(k, v)),
        }
        if self.is_empty() {
            self.0 = Repr::Inline(Vec::new());
        }
    }

    /// The entries in key order.
    pub fn iter(&self) -> Iter<'_, K, V> {
        match &self.0 {
            Repr::Inline(v) => Iter::Inline(v.iter()),
            Repr::Tree(t) => Iter::Tree(t.range::<K, _>(..)),
        }
    }

    /// The entries in key order, values mutable.
    pub fn iter_mut(&mut self) -> IterMut<'_, K, V> {
        match &mut self.0 {
            Repr::Inline(v) => IterMut::Inline(v.iter_mut()),
            Repr::Tree(t) => IterMut::Tree(t.iter_mut()),
        }
    }

    /// The entries with keys at or after `from`, in key order.
    pub fn range_from(&self, from: &K) -> Iter<'_, K, V> {
        match &self.0 {
            Repr::Inline(v) => Iter::Inline(v[v.partition_point(|(k, _)| k < from)..].iter()),
            Repr::Tree(t) => Iter::Tree(t.range(from..)),
        }
    }

    /// The values in key order, consuming the map.
    pub fn into_values(self) -> impl DoubleEndedIterator<Item = V> {
        let (inline, tree) = match self.0 {
            Repr::Inline(v) => (Some(v.into_iter().map(|(_, v)| v)), None),
            Repr::Tree(t) => (None, Some(t.into_values())),
        };
        inline
            .into_iter()
            .flatten()
            .chain(tree.into_iter().flatten())
    }

    /// The keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> {
        self.iter().map(|(k, _)| k)
    }

    /// The values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// The values in key order, mutable.
    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> {
        self.iter_mut().map(|(_, v)| v)
    }
}

impl<'a, K: Ord, V> IntoIterator for &'a mut SmallMap<K, V> {
    type Item = (&'a K, &'a mut V);
    type IntoIter = IterMut<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

/// Binary search of a sorted entry vector by key.
fn find<K: Borrow<Q>, V, Q: Ord + ?Sized>(v: &[(K, V)], key: &Q) -> Result<usize, usize> {
    v.binary_search_by(|(k, _)| k.borrow().cmp(key))
}

/// The value for `key` in a sorted entry vector, inserted from `make` if absent (the
/// vector grows by exactly one: its capacity stays its length).
fn inline_get_or_insert_with<K: Ord, V>(
    v: &mut Vec<(K, V)>,
    key: K,
    make: impl FnOnce() -> V,
) -> &mut V {
    let i = find(v, &key).unwrap_or_else(|i| {
        v.reserve_exact(1);
        v.insert(i, (key, make()));
        i
    });
    &mut v[i].1
}

/// The entries of a [`SmallMap`] in key order.
pub enum Iter<'a, K, V> {
    /// Over the sorted vector.
    Inline(std::slice::Iter<'a, (K, V)>),
    /// Over the B-tree.
    Tree(btree_map::Range<'a, K, V>),
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Inline(i) => i.next().map(|(k, v)| (k, v)),
            Self::Tree(i) => i.next(),
        }
    }
}

impl<K, V> DoubleEndedIterator for Iter<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Self::Inline(i) => i.next_back().map(|(k, v)| (k, v)),
            Self::Tree(i) => i.next_back(),
        }
    }
}

/// The entries of a [`SmallMap`] in key order, values mutable.
pub enum IterMut<'a, K, V> {
    /// Over the sorted vector.
    Inline(std::slice::IterMut<'a, (K, V)>),
    /// Over the B-tree.
    Tree(btree_map::IterMut<'a, K, V>),
}

impl<'a, K, V> Iterator for IterMut<'a, K, V> {
    type Item = (&'a K, &'a mut V);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Inline(i) => i.next().map(|(k, v)| (&*k, v)),
            Self::Tree(i) => i.next(),
        }
    }
}

impl<K, V> DoubleEndedIterator for IterMut<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Self::Inline(i) => i.next_back().map(|(k, v)| (&*k, v)),
            Self::Tree(i) => i.next_back(),
        }
    }
}

/// An ordered set: a [`SmallMap`] with no values.
#[derive(Clone, Default)]
pub struct SmallSet<K>(SmallMap<K, ()>);

impl<K: Ord + std::fmt::Debug> std::fmt::Debug for SmallSet<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.0.iter().map(|(k, ())| k))
            .finish()
    }
}

impl<K: Ord> SmallSet<K> {
    /// An empty set (no allocation).
    pub const fn new() -> Self {
        Self(SmallMap::new())
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds `key`; returns whether it was new.
    pub fn insert(&mut self, key: K) -> bool {
        self.0.insert(key, ()).is_none()
    }

    /// Removes `key`; returns whether it was present.
    pub fn remove<Q>(&mut self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.0.remove(key).is_some()
    }

    /// Whether `key` is present.
    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.0.contains_key(key)
    }

    /// The smallest element.
    pub fn first(&self) -> Option<&K> {
        self.0.first_key_value().map(|(k, ())| k)
    }

    /// The elements in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &K> {
        self.0.keys()
    }

    /// The elements from `from` on, in order.
    pub fn range_from<'a>(&'a self, from: &K) -> impl Iterator<Item = &'a K> + use<'a, K> {
        self.0.range_from(from).map(|(k, ())| k)
    }
}

/// A map that is looked up, and listed only rarely: a sorted vector while small, a hash
/// table (fixed seed) when large. See the module docs.
#[derive(Clone)]
pub struct SmallIndex<K, V>(IndexRepr<K, V>);

#[derive(Clone)]
enum IndexRepr<K, V> {
    /// As [`Repr::Inline`].
    Inline(Vec<(K, V)>),
    Hashed(HashTable<K, V>),
}

/// The large representation of a [`SmallIndex`], seeded with a constant.
#[expect(
    clippy::disallowed_types,
    reason = "SmallIndex lists its entries only in key order (`sorted`), so hash order never reaches a result"
)]
type HashTable<K, V> = std::collections::HashMap<K, V, FixedState>;

/// In key order, like everything else that lists a [`SmallIndex`].
impl<K: Ord + Hash + std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for SmallIndex<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.sorted()).finish()
    }
}

impl<K, V> Default for SmallIndex<K, V> {
    fn default() -> Self {
        Self(IndexRepr::Inline(Vec::new()))
    }
}

impl<K: Ord + Hash, V> SmallIndex<K, V> {
    /// An empty index (no allocation).
    pub const fn new() -> Self {
        Self(IndexRepr::Inline(Vec::new()))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        match &self.0 {
            IndexRepr::Inline(v) => v.len(),
            IndexRepr::Hashed(h) => h.len(),
        }
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value for `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        match &self.0 {
            IndexRepr::Inline(v) => find(v, key).ok().map(|i| &v[i].1),
            IndexRepr::Hashed(h) => h.get(key),
        }
    }

    /// The value for `key`, mutably.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        match &mut self.0 {
            IndexRepr::Inline(v) => find(v, key).ok().map(|i| &mut v[i].1),
            IndexRepr::Hashed(h) => h.get_mut(key),
        }
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    /// Inserts or replaces the value for `key`; returns the old value.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let mut value = Some(value);
        let slot = self.get_or_insert_with(key, || value.take().expect("taken once"));
        value.map(|v| std::mem::replace(slot, v))
    }

    /// The value for `key`, inserted from `make` if absent.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        if let IndexRepr::Inline(v) = &mut self.0
            && v.len() == INLINE_MAX
            && find(v, &key).is_err()
        {
            let mut h = HashTable::with_capacity_and_hasher(2 * INLINE_MAX, FixedState::default());
            h.extend(std::mem::take(v));
            self.0 = IndexRepr::Hashed(h);
        }
        match &mut self.0 {
            IndexRepr::Inline(v) => inline_get_or_insert_with(v, key, make),
            IndexRepr::Hashed(h) => h.entry(key).or_insert_with(make),
        }
    }

    /// The entries in key order. Sorted on every call when large (O(n log n)): for
    /// reports and rare passes over every entry, not for every packet.
    pub fn sorted(&self) -> Vec<(&K, &V)> {
        match &self.0 {
            IndexRepr::Inline(v) => v.iter().map(|(k, v)| (k, v)).collect(),
            IndexRepr::Hashed(h) => {
                let mut entries: Vec<(&K, &V)> = h.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                entries
            }
        }
    }

    /// Removes the entry for `key`; returns its value. An emptied index frees its storage.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let removed = match &mut self.0 {
            IndexRepr::Inline(v) => find(v, key).ok().map(|i| v.remove(i).1),
            IndexRepr::Hashed(h) => h.remove(key),
        };
        if removed.is_some() && self.is_empty() {
            self.0 = IndexRepr::Inline(Vec::new());
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any sequence of inserts, removes and retains leaves the same entries, in
        /// the same order, as a `BTreeMap` given the same sequence (across the switch to
        /// a B-tree at INLINE_MAX + 1 entries and back to a vector when emptied).
        #[test]
        fn behaves_like_a_btree_map(ops in prop::collection::vec((0u8..5, 0u16..40, any::<u32>()), 0..300)) {
            let mut small: SmallMap<u16, u32> = SmallMap::new();
            let mut model: BTreeMap<u16, u32> = BTreeMap::new();
            for (op, k, v) in ops {
                match op {
                    0 | 1 => prop_assert_eq!(small.insert(k, v), model.insert(k, v)),
                    2 => prop_assert_eq!(small.remove(&k), model.remove(&k)),
                    3 => {
                        let got = *small.get_or_insert_with(k, || v);
                        prop_assert_eq!(got, *model.entry(k).or_insert(v));
                    }
                    _ => {
                        let m = (v % 3 + 2) as u16;
                        small.retain(|k, _| k % m != 0);
                        model.retain(|k, _| k % m != 0);
                    }
                }
                prop_assert_eq!(small.len(), model.len());
                prop_assert_eq!(small.get(&k), model.get(&k));
                prop_assert!(small.iter().eq(model.iter()));
                prop_assert!(small.iter().rev().eq(model.iter().rev()));
                prop_assert_eq!(small.first_key_value(), model.first_key_value());
            }
        }
    }

    proptest! {
        /// The index finds what a `BTreeMap` given the same inserts and removes finds,
        /// across the switch to a hash table and back to a vector when emptied.
        #[test]
        fn an_index_finds_what_a_btree_map_finds(ops in prop::collection::vec((0u8..4, 0u16..40, any::<u32>()), 0..300)) {
            let mut index: SmallIndex<u16, u32> = SmallIndex::new();
            let mut model: BTreeMap<u16, u32> = BTreeMap::new();
            for (op, k, v) in ops {
                match op {
                    0 | 1 => prop_assert_eq!(index.insert(k, v), model.insert(k, v)),
                    2 => prop_assert_eq!(index.remove(&k), model.remove(&k)),
                    _ => {
                        let got = *index.get_or_insert_with(k, || v);
                        prop_assert_eq!(got, *model.entry(k).or_insert(v));
                    }
                }
                prop_assert_eq!(index.len(), model.len());
                prop_assert!(index.sorted().into_iter().eq(model.iter()));
                for probe in 0..40 {
                    prop_assert_eq!(index.get(&probe), model.get(&probe));
                }
            }
        }
    }

    #[test]
    fn a_small_map_holds_exactly_its_entries() {
        let mut m = SmallMap::new();
        m.insert(7u64, 1u64);
        match &m.0 {
            Repr::Inline(v) => assert_eq!(v.capacity(), 1),
            Repr::Tree(_) => panic!("one entry must stay inline"),
        }
        for k in 0..=INLINE_MAX as u64 {
            m.insert(k + 100, k);
        }
        assert!(
            matches!(m.0, Repr::Tree(_)),
            "beyond INLINE_MAX it is a B-tree"
        );
        m.retain(|_, _| false);
        assert!(
            matches!(&m.0, Repr::Inline(v) if v.capacity() == 0),
            "emptied: freed"
        );
    }

    #[test]
    fn an_index_is_a_vector_while_small_and_a_hash_table_beyond() {
        let mut index = SmallIndex::new();
        for k in 0..INLINE_MAX as u64 {
            index.insert(k, k);
        }
        assert!(
            matches!(&index.0, IndexRepr::Inline(v) if v.capacity() == INLINE_MAX),
            "up to INLINE_MAX entries it is a vector sized to them"
        );
        index.insert(INLINE_MAX as u64, 0);
        assert!(
            matches!(index.0, IndexRepr::Hashed(_)),
            "beyond: a hash table"
        );
        for k in 0..=INLINE_MAX as u64 {
            assert!(index.remove(&k).is_some());
        }
        assert!(
            matches!(&index.0, IndexRepr::Inline(v) if v.capacity() == 0),
            "emptied: freed"
        );
    }
}
