//! The clipboard's self-checking messages: length and checksum in an 8-byte header, so a
//! reader can tell a whole message from a torn one.

/// A message that proves its own integrity: length and checksum in an 8-byte header.
pub fn checked_message(seed: u64, cap: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let len = 8 + (next() as usize % (cap - 8 + 1));
    let mut msg = vec![0u8; len];
    for b in &mut msg[8..] {
        *b = next() as u8;
    }
    let sum = checksum(&msg[8..]);
    msg[..4].copy_from_slice(&(len as u32).to_le_bytes());
    msg[4..8].copy_from_slice(&sum.to_le_bytes());
    msg
}

fn checksum(bytes: &[u8]) -> u32 {
    // FNV-1a
    bytes.iter().fold(0x811c9dc5u32, |h, &b| {
        (h ^ b as u32).wrapping_mul(0x01000193)
    })
}

/// Empty (nothing written yet) or a message whose header matches its body.
pub fn message_is_whole(msg: &[u8]) -> bool {
    if msg.is_empty() {
        return true;
    }
    if msg.len() < 8 {
        return false;
    }
    let len = u32::from_le_bytes([msg[0], msg[1], msg[2], msg[3]]) as usize;
    let sum = u32::from_le_bytes([msg[4], msg[5], msg[6], msg[7]]);
    len == msg.len() && sum == checksum(&msg[8..])
}
