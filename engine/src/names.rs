//! A fast hash map for task names and paths.
//!
//! The standard library's SipHash resists hash flooding by untrusted input. A manifest is the
//! user's own file, and a large one is hashed a few million times while it is checked (every
//! task name, every dependency), so wf uses a simple multiply-and-rotate hash over eight bytes at
//! a time for these maps.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The hasher of [`NameMap`]: eight bytes per step, one rotate, one xor and one multiply each.
#[derive(Debug, Clone, Copy, Default)]
pub struct NameHasher {
    state: u64,
}

/// An odd constant with well-spread bits (the fractional part of the golden ratio).
const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

impl NameHasher {
    fn mix(&mut self, word: u64) {
        self.state = (self.state.rotate_left(26) ^ word).wrapping_mul(MULTIPLIER);
    }
}

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // The length keeps "a" and "a\0" apart.
            self.mix(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.mix(u64::from(byte));
    }

    fn write_usize(&mut self, value: usize) {
        self.mix(value as u64);
    }

    fn finish(&self) -> u64 {
        // The high bits are the best mixed; hashbrown takes its control bits from the top and
        // its bucket from the bottom, so fold them down.
        self.state ^ (self.state >> 32)
    }
}

/// A `HashMap` keyed by names (or paths) with [`NameHasher`].
pub type NameMap<K, V> = HashMap<K, V, BuildHasherDefault<NameHasher>>;

/// An empty [`NameMap`] with room for `capacity` entries.
pub fn name_map<K, V>(capacity: usize) -> NameMap<K, V> {
    NameMap::with_capacity_and_hasher(capacity, BuildHasherDefault::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    fn hash(text: &str) -> u64 {
        BuildHasherDefault::<NameHasher>::default().hash_one(text)
    }

    #[test]
    fn different_names_hash_differently() {
        let names = [
            "a",
            "b",
            "a\0",
            "t1",
            "t10",
            "t100",
            "task_0000001",
            "task_0000002",
        ];
        let mut hashes: Vec<u64> = names.iter().map(|n| hash(n)).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), names.len());
    }

    #[test]
    fn a_map_of_a_hundred_thousand_names_finds_each() {
        let mut map = name_map(0);
        for i in 0..100_000 {
            map.insert(format!("t{i}"), i);
        }
        assert!((0..100_000).all(|i| map.get(format!("t{i}").as_str()) == Some(&i)));
        assert_eq!(map.get("t100000"), None);
    }
}
