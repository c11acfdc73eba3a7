//! AES-128 keys for proving: one per nonce group, and a "lazy" one per nonce for borderline bytes.

use aes::cipher::KeyInit;
use aes::Aes128;

fn key(challenge: &[u8; 32], group: u32, pow: u64, nonce: Option<u32>) -> Aes128 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(challenge);
    hasher.update(&group.to_le_bytes());
    hasher.update(&pow.to_le_bytes());
    if let Some(nonce) = nonce {
        hasher.update(&nonce.to_le_bytes());
    }
    let hash = hasher.finalize();
    Aes128::new(aes::cipher::generic_array::GenericArray::from_slice(
        &hash.as_bytes()[..16],
    ))
}

/// The group cipher: key = blake3(challenge ‖ group u32 LE ‖ pow u64 LE)[..16].
pub fn group_cipher(challenge: &[u8; 32], group: u32, pow: u64) -> Aes128 {
    key(challenge, group, pow, None)
}

/// The per-nonce cipher: key = blake3(challenge ‖ group u32 LE ‖ pow u64 LE ‖ nonce u32 LE)[..16].
pub fn nonce_cipher(challenge: &[u8; 32], group: u32, pow: u64, nonce: u32) -> Aes128 {
    key(challenge, group, pow, Some(nonce))
}
