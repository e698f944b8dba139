//! Random opaque identifiers.

use rand::Rng as _;

/// `len` random ASCII letters: room id localparts, media ids, transaction-free names.
pub fn random_letters(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
