//! [`WordMap`]: the hash map of the scans' small integer keys (files' device and inode,
//! PFNs, cgroup ids).

/// A hash map keyed by small integers (a file's device and inode, a PFN): hashed with one
/// multiplication per word instead of SipHash, whose resistance to chosen keys buys
/// nothing where the kernel, not another user, chooses the keys. Per-mapping lookups of a
/// machine-wide scan would spend more in SipHash than in the map.
pub type WordMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<WordHasher>>;

/// The hasher of [`WordMap`]: each word folded in with a 64x64->128-bit multiplication.
#[derive(Default)]
pub struct WordHasher(u64);

impl std::hash::Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u32(&mut self, x: u32) {
        self.write_u64(u64::from(x));
    }

    fn write_u64(&mut self, x: u64) {
        let m = u128::from(self.0 ^ x) * 0x9E37_79B9_7F4A_7C15;
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
}
