//! Time-ordered identifiers (UUID version 7, RFC 9562).
//!
//! Every scope, tool call, LLM call and mark gets a fresh v7 UUID: 48 bits of
//! Unix milliseconds, then 74 random bits. UUIDs minted on one thread are
//! strictly increasing (the 12-bit `rand_a` field is used as a per-thread
//! sequence within one millisecond), which keeps exported files sortable.
//!
//! Why not `Uuid::now_v7()`? Without the `fast-rng` feature it asks the OS for
//! randomness on every call (a syscall, ~200 ns); here randomness comes from a
//! per-thread generator seeded once from the OS, so minting costs a few ns.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

pub use uuid::Uuid;

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
    static LAST: Cell<(u64, u16)> = const { Cell::new((0, 0)) };
}

fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // Extremely unlikely; fall back to a time/address mix so ids stay unique
        // across threads (uniqueness, not secrecy, is what we need here).
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let addr = &bytes as *const _ as u64;
        return t ^ addr.rotate_left(32) ^ 0x9E37_79B9_7F4A_7C15;
    }
    u64::from_le_bytes(bytes) | 1
}

/// SplitMix64: tiny, fast, good enough statistical quality for id entropy.
fn next_random() -> u64 {
    RNG.with(|s| {
        let mut z = s.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        s.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

/// Mint a v7 UUID for an instant given as Unix milliseconds.
///
/// Per thread, ids are strictly increasing: within one millisecond the
/// 12-bit `rand_a` field counts up; when it would overflow, or when the
/// clock steps backwards, the id borrows the next millisecond (RFC 9562
/// §6.2, method 1) rather than break ordering.
pub fn uuid_v7_at(unix_ms: u64) -> Uuid {
    let (ms, seq) = LAST.with(|last| {
        let (last_ms, last_seq) = last.get();
        let next = if unix_ms > last_ms {
            (unix_ms, (next_random() as u16) & 0x03FF) // headroom for counting
        } else if last_seq < 0x0FFF {
            (last_ms, last_seq + 1)
        } else {
            (last_ms + 1, 0)
        };
        last.set(next);
        next
    });
    let rand_b = next_random();
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b[6] = 0x70 | ((seq >> 8) as u8 & 0x0F);
    b[7] = seq as u8;
    b[8..].copy_from_slice(&rand_b.to_be_bytes());
    b[8] = (b[8] & 0x3F) | 0x80; // RFC 4122 variant
    Uuid::from_bytes(b)
}

/// Mint a v7 UUID for now.
pub fn uuid_v7() -> Uuid {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    uuid_v7_at(ms)
}

/// A hash map keyed by uuids the runtime minted (see [`UuidHasher`]).
pub type UuidMap<V> = std::collections::HashMap<Uuid, V, BuildUuidHasher>;

/// Hashes a uuid by the random bits it carries instead of running SipHash
/// over all sixteen bytes: a v7 uuid's last eight bytes are 62 random bits,
/// which spread keys as well as a general hasher does, at a fraction of the
/// cost (exporters look one up per event). Meant for runtime-minted uuids;
/// anything else written to it is still mixed in, just not as carefully.
#[derive(Clone, Copy, Default)]
pub struct UuidHasher(u64);

impl std::hash::Hasher for UuidHasher {
    fn write(&mut self, bytes: &[u8]) {
        if let Ok(uuid) = <[u8; 16]>::try_from(bytes) {
            let (high, random) = uuid.split_at(8);
            let word = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("eight bytes"));
            self.0 = self.0.rotate_left(29) ^ word(random) ^ word(high).rotate_left(17);
            return;
        }
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(word);
        }
    }
    fn write_usize(&mut self, _len: usize) {
        // The length prefix of the uuid's byte slice: always 16.
    }
    fn finish(&self) -> u64 {
        // hashbrown reads the top bits: spread the random ones there.
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

/// The [`std::hash::BuildHasher`] of [`UuidHasher`].
pub type BuildUuidHasher = std::hash::BuildHasherDefault<UuidHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_map_finds_every_key_and_spreads_minted_ids() {
        use std::hash::BuildHasher;
        let ids: Vec<Uuid> = (0..10_000).map(|_| uuid_v7()).collect();
        let mut map = UuidMap::default();
        for (i, id) in ids.iter().enumerate() {
            map.insert(*id, i);
        }
        assert!(ids
            .iter()
            .enumerate()
            .all(|(i, id)| map.get(id) == Some(&i)));
        // The top 7 bits (hashbrown's control bytes) take many values.
        let tops: std::collections::HashSet<u64> = ids
            .iter()
            .map(|id| BuildUuidHasher::default().hash_one(id) >> 57)
            .collect();
        assert!(tops.len() > 100, "{} distinct top-7-bit values", tops.len());
    }

    #[test]
    fn minted_ids_are_version_7_and_rfc_variant() {
        let id = uuid_v7();
        assert_eq!(id.get_version_num(), 7);
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
    }

    #[test]
    fn ids_minted_on_one_thread_are_strictly_increasing() {
        let mut prev = uuid_v7();
        for _ in 0..100_000 {
            let next = uuid_v7();
            assert!(next > prev, "{next} <= {prev}");
            prev = next;
        }
    }

    #[test]
    fn ids_from_many_threads_are_unique() {
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..5000).map(|_| uuid_v7()).collect::<Vec<_>>()))
            .collect();
        let mut all = std::collections::HashSet::new();
        for h in handles {
            for id in h.join().unwrap() {
                assert!(all.insert(id));
            }
        }
    }
}
