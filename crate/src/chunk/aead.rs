//! Authenticated encryption of stored chunks: AES-256-GCM with a random 96-bit nonce per chunk.
//!
//! djblets encrypts with AES-CFB8 and no MAC, so a cache writer can flip plaintext bits that then
//! reach `pickle.loads`
//! (<https://github.com/djblets/djblets/blob/master/djblets/cache/backend.py>). GCM authenticates every chunk,
//! and the associated data binds it to its cache key, write id, position and finality, so a
//! swapped, reordered, truncated or edited chunk fails to open instead of decoding as garbage.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use rand_core::{OsRng, RngCore};

use crate::error::{Error, Result};
use crate::keys::hmac_sha256;

/// Bytes of the random nonce stored in front of each sealed chunk.
pub const NONCE_LEN: usize = 12;
/// Bytes of the GCM tag stored after each sealed chunk.
pub const TAG_LEN: usize = 16;
/// What sealing adds to a chunk.
pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// Domain separation for the derived key, so the user's key used elsewhere (e.g. for HMAC cache
/// keys, as djblets does with one setting) never doubles as the raw AES key.
const KDF_LABEL: &[u8] = b"restthumbs/chunk/aes-256-gcm/v1";

/// Derives the AES-256 key from a user secret of any length: HMAC-SHA256(secret, label), the
/// extract-and-expand step of HKDF collapsed to one block since one 32-byte key is needed.
pub fn derive_key(secret: &[u8]) -> [u8; 32] {
    hmac_sha256(secret, KDF_LABEL)
}

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) {
    OsRng.fill_bytes(buf);
}

/// A ready AES-256-GCM cipher for one secret.
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl Sealer {
    /// Derives the key from `secret` and expands the AES key schedule once.
    pub fn new(secret: &[u8]) -> Self {
        let key = derive_key(secret);
        Sealer {
            cipher: Aes256Gcm::new((&key).into()),
        }
    }

    /// Seals `buf[NONCE_LEN..]` in place: writes a fresh nonce into `buf[..NONCE_LEN]`,
    /// encrypts the rest and appends the tag.
    pub fn seal_in_place(&self, buf: &mut Vec<u8>, aad: &[u8]) -> Result<()> {
        let (nonce, payload) = buf.split_at_mut(NONCE_LEN);
        random_bytes(nonce);
        let tag = self
            .cipher
            .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, payload)
            .map_err(|_| Error::encode("AES-GCM refused to seal a chunk"))?;
        buf.extend_from_slice(&tag);
        Ok(())
    }

    /// Opens a sealed chunk (`nonce ‖ ciphertext ‖ tag`) into a fresh plaintext buffer.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < OVERHEAD {
            return Err(Error::chunk_corrupt(format!(
                "Encrypted chunk of {} bytes is shorter than its {OVERHEAD}-byte nonce and tag",
                sealed.len()
            )));
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut plain = ciphertext.to_vec();
        self.cipher
            .decrypt_in_place_detached(
                Nonce::from_slice(nonce),
                aad,
                &mut plain,
                Tag::from_slice(tag),
            )
            .map_err(|_| {
                Error::chunk_corrupt(
                    "Encrypted chunk failed authentication: it was tampered with, moved from \
                     another key or position, or the encryption key changed",
                )
            })?;
        Ok(plain)
    }
}

impl Sealer {
    /// Opens a sealed chunk straight into `out`, which must be exactly its plaintext length
    /// (`sealed.len() - OVERHEAD`), so chunks can be opened in parallel into one buffer.
    pub fn open_into(&self, sealed: &[u8], aad: &[u8], out: &mut [u8]) -> Result<()> {
        if sealed.len() < OVERHEAD || out.len() != sealed.len() - OVERHEAD {
            return Err(Error::chunk_corrupt(format!(
                "Encrypted chunk of {} bytes does not hold {} bytes of plaintext",
                sealed.len(),
                out.len()
            )));
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        out.copy_from_slice(ciphertext);
        self.cipher
            .decrypt_in_place_detached(Nonce::from_slice(nonce), aad, out, Tag::from_slice(tag))
            .map_err(|_| {
                Error::chunk_corrupt(
                    "Encrypted chunk failed authentication: it was tampered with, moved from \
                     another key or position, or the encryption key changed",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_buffer_opens_with_the_same_aad() {
        let s = Sealer::new(b"k");
        let mut buf = vec![0u8; NONCE_LEN];
        buf.extend_from_slice(b"hello");
        s.seal_in_place(&mut buf, b"aad").unwrap();
        assert_eq!(buf.len(), 5 + OVERHEAD);
        assert_eq!(s.open(&buf, b"aad").unwrap(), b"hello");
    }

    #[test]
    fn a_different_aad_or_key_or_a_flipped_bit_fails() {
        let s = Sealer::new(b"k");
        let mut buf = vec![0u8; NONCE_LEN];
        buf.extend_from_slice(b"hello");
        s.seal_in_place(&mut buf, b"aad").unwrap();
        assert!(s.open(&buf, b"aae").is_err());
        assert!(Sealer::new(b"other").open(&buf, b"aad").is_err());
        let mut flipped = buf.clone();
        flipped[NONCE_LEN] ^= 1;
        let err = s.open(&flipped, b"aad").unwrap_err();
        assert_eq!(err.code, crate::ErrorCode::ChunkCorrupt);
        assert!(s.open(&buf[..OVERHEAD - 1], b"aad").is_err());
    }

    #[test]
    fn open_into_matches_open_and_checks_the_length() {
        let s = Sealer::new(b"k");
        let mut buf = vec![0u8; NONCE_LEN];
        buf.extend_from_slice(b"hello");
        s.seal_in_place(&mut buf, b"a").unwrap();
        let mut out = [0u8; 5];
        s.open_into(&buf, b"a", &mut out).unwrap();
        assert_eq!(&out, b"hello");
        assert!(s.open_into(&buf, b"a", &mut [0u8; 4]).is_err());
        assert!(s.open_into(&buf, b"b", &mut out).is_err());
    }

    #[test]
    fn two_seals_of_the_same_plaintext_use_different_nonces() {
        let s = Sealer::new(b"k");
        let mut a = vec![0u8; NONCE_LEN];
        a.extend_from_slice(b"same");
        let mut b = a.clone();
        s.seal_in_place(&mut a, b"").unwrap();
        s.seal_in_place(&mut b, b"").unwrap();
        assert_ne!(a, b);
    }
}
