//! eSSP: Diffie-Hellman key negotiation and the AES-128 encrypted layer (GA138
//! "Encryption Layer", "Encryption Keys"; GA973 §4).
//!
//! Key: 128 bits = the 64-bit fixed key (lower half, little-endian) followed by the 64-bit
//! negotiated key (little-endian). Packet inside the SSP DATA field:
//! `7E | AES-128-ECB( eLEN | eCOUNT (4, LE) | eDATA | random packing | eCRC_L eCRC_H )`,
//! packed to a multiple of 16 bytes, eCRC = SSP CRC-16 over eLEN..packing. Both sides
//! count every encrypted packet they send and receive; a packet whose count is not the
//! expected one is discarded. Pure code: randomness comes in as an argument.

use aes::Aes128;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use rand::RngCore;

use super::frame::crc16;

/// First byte of an encrypted DATA field.
pub const STEX: u8 = 0x7E;

/// The manufacturer's default fixed key, `01 23 45 67 01 23 45 67` (GA973 §4.2).
pub const DEFAULT_FIXED_KEY: u64 = 0x0123_4567_0123_4567;

/// Largest eDATA that still fits an SSP frame (255 − STEX − eLEN/eCOUNT/eCRC, in 16s).
pub const MAX_PLAIN: usize = 240 - 7;

/// The negotiated 128-bit session key.
#[derive(Clone, PartialEq, Eq)]
pub struct EsspKey([u8; 16]);

impl std::fmt::Debug for EsspKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EsspKey(..)")
    }
}

impl EsspKey {
    /// Fixed (lower) and negotiated (upper) halves, each little-endian.
    pub fn new(fixed: u64, negotiated: u64) -> Self {
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&fixed.to_le_bytes());
        k[8..].copy_from_slice(&negotiated.to_le_bytes());
        Self(k)
    }

    pub fn bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

/// An encrypted packet that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// DATA does not start with 0x7E.
    #[error("not an encrypted packet")]
    NotEncrypted,
    /// Encrypted part empty or not a multiple of 16 bytes.
    #[error("encrypted length {0} is not a positive multiple of 16")]
    BlockLength(usize),
    /// The CRC inside does not match: wrong key, or the sender did not encrypt.
    #[error("decrypted CRC mismatch (wrong key?)")]
    Crc,
    /// eLEN says more than the packet holds.
    #[error("eLEN {0} does not fit the packet")]
    Length(u8),
    /// Plain data too long to encrypt into one frame.
    #[error("{0} bytes are too many to encrypt into one frame")]
    TooLong(usize),
}

/// Encrypts `payload` with packet counter `count`. Returns the full DATA field (7E first).
pub fn encrypt(
    key: &EsspKey,
    count: u32,
    payload: &[u8],
    rng: &mut dyn RngCore,
) -> Result<Vec<u8>, CryptoError> {
    if payload.len() > MAX_PLAIN {
        return Err(CryptoError::TooLong(payload.len()));
    }
    let len = u8::try_from(payload.len()).map_err(|_| CryptoError::TooLong(payload.len()))?;
    let mut plain = Vec::with_capacity(payload.len() + 23);
    plain.push(len);
    plain.extend_from_slice(&count.to_le_bytes());
    plain.extend_from_slice(payload);
    let total = (plain.len() + 2).div_ceil(16) * 16;
    let mut packing = vec![0u8; total - plain.len() - 2];
    rng.fill_bytes(&mut packing);
    plain.extend_from_slice(&packing);
    let crc = crc16(&plain);
    plain.extend_from_slice(&crc.to_le_bytes());

    let cipher = Aes128::new(GenericArray::from_slice(key.bytes()));
    let mut out = Vec::with_capacity(plain.len() + 1);
    out.push(STEX);
    for chunk in plain.chunks_exact(16) {
        let mut block = GenericArray::clone_from_slice(chunk);
        cipher.encrypt_block(&mut block);
        out.extend_from_slice(&block);
    }
    Ok(out)
}

/// Decrypts a DATA field that starts with 7E. Returns the packet counter and eDATA;
/// the caller compares the counter with its own.
pub fn decrypt(key: &EsspKey, data: &[u8]) -> Result<(u32, Vec<u8>), CryptoError> {
    let (&first, body) = data.split_first().ok_or(CryptoError::NotEncrypted)?;
    if first != STEX {
        return Err(CryptoError::NotEncrypted);
    }
    if body.is_empty() || body.len() % 16 != 0 {
        return Err(CryptoError::BlockLength(body.len()));
    }
    let cipher = Aes128::new(GenericArray::from_slice(key.bytes()));
    let mut plain = Vec::with_capacity(body.len());
    for chunk in body.chunks_exact(16) {
        let mut block = GenericArray::clone_from_slice(chunk);
        cipher.decrypt_block(&mut block);
        plain.extend_from_slice(&block);
    }
    let (content, crc) = plain.split_at(plain.len() - 2);
    if crc16(content) != u16::from_le_bytes([crc[0], crc[1]]) {
        return Err(CryptoError::Crc);
    }
    let elen = content[0];
    let payload = content
        .get(5..5 + usize::from(elen))
        .ok_or(CryptoError::Length(elen))?;
    let count = u32::from_le_bytes([content[1], content[2], content[3], content[4]]);
    Ok((count, payload.to_vec()))
}

/// (a × b) mod m without overflow.
pub fn mul_mod(a: u64, b: u64, m: u64) -> u64 {
    if m == 0 {
        return 0;
    }
    let r = (u128::from(a) * u128::from(b)) % u128::from(m);
    u64::try_from(r).unwrap_or(0)
}

/// (base ^ exp) mod m.
pub fn pow_mod(base: u64, mut exp: u64, m: u64) -> u64 {
    if m <= 1 {
        return 0;
    }
    let mut result = 1u64;
    let mut b = base % m;
    while exp > 0 {
        if exp & 1 == 1 {
            result = mul_mod(result, b, m);
        }
        b = mul_mod(b, b, m);
        exp >>= 1;
    }
    result
}

/// Deterministic Miller-Rabin for every 64-bit number.
pub fn is_prime(n: u64) -> bool {
    const BASES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    if n < 2 {
        return false;
    }
    for p in BASES {
        if n.is_multiple_of(p) {
            return n == p;
        }
    }
    let mut d = n - 1;
    let mut s = 0;
    while d.is_multiple_of(2) {
        d /= 2;
        s += 1;
    }
    'bases: for a in BASES {
        let mut x = pow_mod(a, d, n);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mul_mod(x, x, n);
            if x == n - 1 {
                continue 'bases;
            }
        }
        return false;
    }
    true
}

/// Upper bound of the primes and random exponents the host generates. ITL's reference
/// library keeps them below 2³¹ so that devices computing with 64-bit integers do not
/// overflow; a host that used full 64-bit primes would not interoperate with them.
pub const DH_LIMIT: u64 = 1 << 31;

/// A random prime in `[2^16, DH_LIMIT)`.
pub fn random_prime(rng: &mut dyn RngCore) -> u64 {
    loop {
        let candidate = (rng.next_u64() % (DH_LIMIT - (1 << 16))) + (1 << 16);
        if is_prime(candidate | 1) {
            return candidate | 1;
        }
    }
}

/// The host's half of a key negotiation in progress.
#[derive(Debug, Clone)]
pub struct HostKeyExchange {
    pub generator: u64,
    pub modulus: u64,
    host_random: u64,
}

impl HostKeyExchange {
    /// Picks two primes (generator larger than modulus, as GA973 asks) and a secret.
    pub fn new(rng: &mut dyn RngCore) -> Self {
        let a = random_prime(rng);
        let mut b = random_prime(rng);
        while b == a {
            b = random_prime(rng);
        }
        let (generator, modulus) = if a > b { (a, b) } else { (b, a) };
        let host_random = (rng.next_u64() % (DH_LIMIT - 2)) + 2;
        Self {
            generator,
            modulus,
            host_random,
        }
    }

    /// GENERATOR ^ HOST_RND mod MODULUS, sent with REQUEST KEY EXCHANGE.
    pub fn host_intermediate(&self) -> u64 {
        pow_mod(self.generator, self.host_random, self.modulus)
    }

    /// The negotiated 64-bit key from the slave's intermediate key.
    pub fn key(&self, slave_intermediate: u64) -> u64 {
        pow_mod(slave_intermediate, self.host_random, self.modulus)
    }
}

/// The device's half: checks the primes and answers the host's intermediate key.
#[derive(Debug, Clone, Default)]
pub struct SlaveKeyExchange {
    pub generator: Option<u64>,
    pub modulus: Option<u64>,
}

impl SlaveKeyExchange {
    /// Answers REQUEST KEY EXCHANGE: (slave intermediate key, negotiated key), or `None`
    /// when generator or modulus is missing.
    pub fn respond(&self, host_intermediate: u64, rng: &mut dyn RngCore) -> Option<(u64, u64)> {
        let (g, m) = (self.generator?, self.modulus?);
        let slave_random = (rng.next_u64() % (DH_LIMIT - 2)) + 2;
        Some((
            pow_mod(g, slave_random, m),
            pow_mod(host_intermediate, slave_random, m),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn key_layout_is_fixed_then_negotiated_little_endian() {
        let k = EsspKey::new(DEFAULT_FIXED_KEY, 0x1122_3344_5566_7788);
        assert_eq!(
            k.bytes(),
            &[
                0x67, 0x45, 0x23, 0x01, 0x67, 0x45, 0x23, 0x01, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33,
                0x22, 0x11
            ]
        );
    }

    #[test]
    fn primes() {
        assert!(is_prime(982_451_653));
        assert!(is_prime(1_287_821));
        assert!(!is_prime(1_287_823 * 3));
        assert!(is_prime(18_446_744_073_709_551_557)); // largest 64-bit prime
        assert!(!is_prime(3_215_031_751)); // strong pseudoprime to 2, 3, 5, 7
    }

    #[test]
    fn both_sides_derive_the_same_key() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..20 {
            let host = HostKeyExchange::new(&mut rng);
            assert!(is_prime(host.generator) && is_prime(host.modulus));
            assert!(host.generator > host.modulus);
            let slave = SlaveKeyExchange {
                generator: Some(host.generator),
                modulus: Some(host.modulus),
            };
            let (slave_inter, slave_key) =
                slave.respond(host.host_intermediate(), &mut rng).unwrap();
            assert_eq!(host.key(slave_inter), slave_key);
        }
        assert!(SlaveKeyExchange::default().respond(5, &mut rng).is_none());
    }

    #[test]
    fn poll_packs_into_one_block() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let key = EsspKey::new(DEFAULT_FIXED_KEY, 42);
        let data = encrypt(&key, 0xA7, &[0x07], &mut rng).unwrap();
        // GA973 §4.4: a POLL gives 7E + 16 encrypted bytes (SSP LEN 0x11).
        assert_eq!(data.len(), 17);
        assert_eq!(data[0], STEX);
        assert_eq!(decrypt(&key, &data), Ok((0xA7, vec![0x07])));
        let other = EsspKey::new(DEFAULT_FIXED_KEY, 43);
        assert_eq!(decrypt(&other, &data), Err(CryptoError::Crc));
        assert!(encrypt(&key, 0, &[0; MAX_PLAIN + 1], &mut rng).is_err());
        assert_eq!(
            encrypt(&key, 0, &[0; MAX_PLAIN], &mut rng).unwrap().len(),
            241
        );
    }

    proptest::proptest! {
        #[test]
        fn encrypted_layer_round_trips(payload in proptest::collection::vec(proptest::num::u8::ANY, 0..=MAX_PLAIN),
                                       count: u32, neg: u64, seed: u64) {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let key = EsspKey::new(DEFAULT_FIXED_KEY, neg);
            let data = encrypt(&key, count, &payload, &mut rng).unwrap();
            proptest::prop_assert_eq!((data.len() - 1) % 16, 0);
            proptest::prop_assert_eq!(decrypt(&key, &data), Ok((count, payload)));
        }

        #[test]
        fn random_encrypted_data_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..80), neg: u64) {
            let key = EsspKey::new(DEFAULT_FIXED_KEY, neg);
            let _ = decrypt(&key, &bytes);
            let mut with_stex = vec![STEX];
            with_stex.extend_from_slice(&bytes);
            let _ = decrypt(&key, &with_stex);
        }
    }
}
