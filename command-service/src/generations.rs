//! A map bounded by two generations, for the process's small caches.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

/// At most `capacity` entries, in two generations: entries go in the
/// young one, and when it holds half the capacity it becomes the old one and
/// the old one is dropped. [`Generations::get`] moves a hit in the old
/// generation to the young one, so what is used keeps its place; there is no
/// bookkeeping per entry. A capacity of 0 keeps nothing.
#[derive(Debug)]
pub(crate) struct Generations<K, V> {
    young: HashMap<K, V>,
    old: HashMap<K, V>,
    half: usize,
}

impl<K: Hash + Eq, V> Generations<K, V> {
    /// Room for `capacity` entries.
    pub(crate) fn new(capacity: usize) -> Self {
        Generations {
            young: HashMap::new(),
            old: HashMap::new(),
            half: capacity / 2,
        }
    }

    /// The entry, without counting as a use.
    pub(crate) fn peek<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.young.get(key).or_else(|| self.old.get(key))
    }

    /// The entry, counted as a use: moved to the young generation.
    pub(crate) fn get(&mut self, key: &K) -> Option<&V>
    where
        K: Clone,
    {
        if !self.young.contains_key(key) {
            let value = self.old.remove(key)?;
            self.insert(key.clone(), value);
        }
        self.young.get(key)
    }

    /// Puts the entry in the young generation, replacing any.
    pub(crate) fn insert(&mut self, key: K, value: V) {
        if self.half == 0 {
            return;
        }
        self.old.remove(&key);
        if self.young.len() >= self.half && !self.young.contains_key(&key) {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::Generations;

    #[test]
    fn a_used_entry_outlives_a_generation_and_an_unused_one_does_not() {
        let mut g = Generations::new(4);
        g.insert("a", 1);
        g.insert("b", 2);
        // Young is full: "c" starts a new one, "a" and "b" are old.
        g.insert("c", 3);
        assert_eq!(g.get(&"a"), Some(&1));
        // Young ("c", "a") is full again: "d" drops the old ("b").
        g.insert("d", 4);
        assert_eq!(g.peek("b"), None);
        assert_eq!(g.peek("a"), Some(&1));
        assert_eq!(g.peek("d"), Some(&4));
    }

    #[test]
    fn a_capacity_of_nothing_keeps_nothing() {
        let mut g = Generations::new(0);
        g.insert("a", 1);
        assert_eq!(g.get(&"a"), None);
    }
}
