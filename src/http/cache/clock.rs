//! The replacement policy: CLOCK (second chance). A full cache gives up
//! one entry not used since the hand last passed it, so a working set a
//! little larger than the cache keeps most of its hits instead of being
//! read again from disk after every flush; each eviction costs O(1)
//! amortised (every pass clears the bits it skips).
//!
//! Hand-written rather than a crate: the cache has two bounds at once
//! (entries and body bytes) and entries that change in place (a body or
//! descriptor added later, each counted), which a single-weight cache
//! cannot express exactly.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use super::PathHash;

struct Slot<V> {
    key: Arc<[u8]>,
    value: V,
}

/// Values by byte-string key, with a CLOCK over them.
pub(super) struct Clock<V> {
    index: HashMap<Arc<[u8]>, u32, BuildHasherDefault<PathHash>>,
    /// The ring; a slot freed by a removal is reused by the next insert.
    slots: Vec<Option<Slot<V>>>,
    /// Per slot: used since the hand last passed, so spared once. Apart
    /// from the slots, so the hand reads a dense array, not an entry's
    /// cache line per slot it passes.
    referenced: Vec<bool>,
    free: Vec<u32>,
    hand: usize,
}

impl<V> Default for Clock<V> {
    fn default() -> Self {
        Clock {
            index: HashMap::default(),
            slots: Vec::new(),
            referenced: Vec::new(),
            free: Vec::new(),
            hand: 0,
        }
    }
}

impl<V> Clock<V> {
    /// Entries held.
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    fn slot(&self, key: &[u8]) -> Option<&Slot<V>> {
        let i = *self.index.get(key)? as usize;
        self.slots.get(i)?.as_ref()
    }

    /// The value of `key`, not counted as a use.
    pub(super) fn get(&self, key: &[u8]) -> Option<&V> {
        self.slot(key).map(|s| &s.value)
    }

    /// The value of `key`, not counted as a use.
    pub(super) fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let i = *self.index.get(key)? as usize;
        Some(&mut self.slots.get_mut(i)?.as_mut()?.value)
    }

    /// The value of `key`, counted as a use: the hand spares it once.
    /// Once per request, and not for the request that inserted it, so a
    /// file asked for once is not mistaken for one in use.
    pub(super) fn touch(&mut self, key: &[u8]) -> Option<&mut V> {
        let i = *self.index.get(key)? as usize;
        let s = self.slots.get_mut(i)?.as_mut()?;
        if let Some(r) = self.referenced.get_mut(i) {
            *r = true;
        }
        Some(&mut s.value)
    }

    /// Adds `value` (replacing and returning an older one for `key`). A
    /// new entry starts unreferenced, so one never asked for again is the
    /// first to go; it takes the slot freed last, just behind the hand,
    /// so it has a whole turn to be used again.
    pub(super) fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        if let Some(&i) = self.index.get(key)
            && let Some(s) = self.slots.get_mut(i as usize).and_then(Option::as_mut)
        {
            return Some(std::mem::replace(&mut s.value, value));
        }
        let key: Arc<[u8]> = Arc::from(key);
        let slot = Slot {
            key: Arc::clone(&key),
            value,
        };
        let i = match self.free.pop() {
            Some(i) if (i as usize) < self.slots.len() => {
                self.slots[i as usize] = Some(slot);
                self.referenced[i as usize] = false;
                i
            }
            _ => {
                self.slots.push(Some(slot));
                self.referenced.push(false);
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.index.insert(key, i);
        None
    }

    /// Removes `key`.
    pub(super) fn remove(&mut self, key: &[u8]) -> Option<V> {
        let i = self.index.remove(key)?;
        let s = self.slots.get_mut(i as usize)?.take()?;
        self.free.push(i);
        Some(s.value)
    }

    /// Removes the entry the hand stops at: the first one not used since
    /// the hand last passed it (clearing the bits of those it passes).
    pub(super) fn evict(&mut self) -> Option<V> {
        if self.index.is_empty() {
            return None;
        }
        // Two turns at most: the first clears every bit.
        for _ in 0..=2 * self.slots.len() {
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let i = self.hand;
            self.hand += 1;
            if std::mem::take(&mut self.referenced[i]) {
                continue;
            }
            if let Some(s) = self.slots[i].take() {
                self.index.remove(&s.key);
                self.free.push(u32::try_from(i).unwrap_or(u32::MAX));
                return Some(s.value);
            }
        }
        None
    }

    /// Every value, for sweeps that do not count as uses.
    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.slots.iter_mut().flatten().map(|s| &mut s.value)
    }

    /// Every value.
    #[cfg(test)]
    pub(super) fn values(&self) -> impl Iterator<Item = &V> {
        self.slots.iter().flatten().map(|s| &s.value)
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    fn k(i: usize) -> Vec<u8> {
        format!("/www/f{i:05}").into_bytes()
    }

    /// Inserts `key` as a full cache of `cap` would, evicting first.
    fn add(c: &mut Clock<usize>, cap: usize, i: usize) {
        if c.touch(&k(i)).is_none() {
            if c.len() >= cap {
                assert!(c.evict().is_some());
            }
            c.insert(&k(i), i);
        }
        assert!(c.len() <= cap, "bound exceeded");
    }

    #[test]
    fn hot_entries_survive_a_scan_of_cold_ones() {
        let (cap, hot) = (100, 50);
        let mut c = Clock::default();
        for i in 0..hot {
            add(&mut c, cap, i);
        }
        // Ten thousand files read once each, the hot ones used between.
        for n in 0..10_000 {
            add(&mut c, cap, 1_000 + n);
            if n % 10 == 0 {
                for i in 0..hot {
                    add(&mut c, cap, i);
                }
            }
        }
        for i in 0..hot {
            assert!(c.get(&k(i)).is_some(), "hot entry {i} evicted");
        }
        assert_eq!(c.len(), cap);
    }

    #[test]
    fn a_working_set_a_little_larger_than_the_cache_keeps_its_hits() {
        let (cap, set) = (1_000, 1_200);
        let mut c = Clock::default();
        let mut x = 12_345u64;
        let mut hits = 0;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x % set) as usize;
            hits += usize::from(c.get(&k(i)).is_some());
            add(&mut c, cap, i);
        }
        // Uniform access: at best cap/set = 83 %; flushing gives far less.
        assert!(hits > 50_000 * 75 / 100, "{hits} hits");
    }

    #[test]
    fn removals_free_slots_for_reuse_and_eviction_skips_them() {
        let mut c = Clock::default();
        for i in 0..10 {
            c.insert(&k(i), i);
        }
        for i in (0..10).step_by(2) {
            assert_eq!(c.remove(&k(i)), Some(i));
        }
        assert_eq!(c.remove(&k(0)), None);
        assert_eq!(c.len(), 5);
        for i in 10..15 {
            c.insert(&k(i), i);
        }
        assert_eq!(c.slots.len(), 10, "freed slots reused");
        assert_eq!(c.insert(&k(11), 99), Some(11), "same key replaces");
        let mut out = Vec::new();
        while let Some(v) = c.evict() {
            out.push(v);
        }
        out.sort_unstable();
        assert_eq!(out, vec![1, 3, 5, 7, 9, 10, 12, 13, 14, 99]);
        assert_eq!(c.len(), 0);
        assert_eq!(c.values().count(), 0);
    }
}
