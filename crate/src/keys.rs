//! Digests, HMACs and cache-key normalisation.
//!
//! `make_cache_key` follows djblets' `make_cache_key`
//! (<https://github.com/djblets/djblets/blob/master/djblets/cache/backend.py>) so keys written by a Django site and by
//! restthumbs agree: multi-part keys are escaped so a user-supplied part can never forge a `:`
//! separator, control characters are made visible (memcached rejects them), and over-long keys
//! keep a readable prefix plus a SHA-256 of the whole key.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// djblets' `MAX_KEY_SIZE`: memcached's 250-byte limit minus room for Django's `prefix:version:`.
pub const MAX_KEY_SIZE: usize = 240;

/// Length of a hex SHA-256 digest, the tail of a shortened key.
const SHA256_HEX_LEN: usize = 64;

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// SHA-1 of `data`. Only for interoperability (restthumbnails URLs, python-thumbnails names).
pub fn sha1(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).into()
}

/// HMAC-SHA256 of `data` under `key` (RFC 2104; any key length is valid).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA1 of `data` under `key`, as Django's `salted_hmac` uses by default.
pub fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Django's `salted_hmac(key_salt, value, secret)` with SHA-1:
/// `hmac(sha1(key_salt + secret), value, sha1)`.
pub fn salted_hmac_sha1(key_salt: &[u8], secret: &[u8], value: &[u8]) -> [u8; 20] {
    let mut h = Sha1::new();
    h.update(key_salt);
    h.update(secret);
    let key: [u8; 20] = h.finalize().into();
    hmac_sha1(&key, value)
}

/// Escapes one part of a multi-part key so that it cannot contain the `:` separator.
/// `%` goes first so an escaped `%3A` typed by a user stays distinct from a real `:`.
fn escape_part(part: &str, out: &mut String) {
    for c in part.chars() {
        match c {
            '%' => out.push_str("%25"),
            ':' => out.push_str("%3A"),
            _ => out.push(c),
        }
    }
}

/// Joins the site prefix and the key parts with `:`, escaping parts when there are several.
pub fn join_key(parts: &[&str], site_prefix: Option<&str>) -> String {
    let cap = parts.iter().map(|p| p.len() + 1).sum::<usize>() + site_prefix.map_or(0, str::len);
    let mut key = String::with_capacity(cap);
    if let Some(prefix) = site_prefix.filter(|p| !p.is_empty()) {
        key.push_str(prefix);
        key.push(':');
    }
    let escape = parts.len() > 1;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            key.push(':');
        }
        if escape {
            escape_part(part, &mut key);
        } else {
            key.push_str(part);
        }
    }
    key
}

/// Makes a joined key safe for any backend: `[\x00-\x20\x7f]` become `\xNN`, and a key longer
/// than [`MAX_KEY_SIZE`] characters becomes its first 176 characters plus its hex SHA-256.
pub fn normalize_key(key: &str) -> String {
    let needs_escape = key.bytes().any(|b| b <= 0x20 || b == 0x7f);
    let escaped = if needs_escape {
        let mut out = String::with_capacity(key.len() + 16);
        for c in key.chars() {
            let n = c as u32;
            if n <= 0x20 || n == 0x7f {
                out.push_str(&format!("\\x{n:02x}"));
            } else {
                out.push(c);
            }
        }
        out
    } else {
        key.to_owned()
    };
    // djblets counts Python characters (code points), not UTF-8 bytes; so do we, so that the
    // same key shortens the same way on both sides.
    let fast_len = escaped.len();
    if fast_len <= MAX_KEY_SIZE || escaped.chars().count() <= MAX_KEY_SIZE {
        return escaped;
    }
    let keep = MAX_KEY_SIZE - SHA256_HEX_LEN;
    let cut = escaped
        .char_indices()
        .nth(keep)
        .map_or(escaped.len(), |(i, _)| i);
    let mut out = String::with_capacity(cut + SHA256_HEX_LEN);
    out.push_str(&escaped[..cut]);
    out.push_str(&hex::encode(sha256(escaped.as_bytes())));
    out
}

/// djblets' `make_cache_key`: join (escaping multi-part keys), prefix with the site, then either
/// HMAC the whole key (encryption on: the stored key reveals nothing) or normalise it.
pub fn make_cache_key(
    parts: &[&str],
    site_prefix: Option<&str>,
    encryption_key: Option<&[u8]>,
) -> String {
    let key = join_key(parts, site_prefix);
    match encryption_key {
        Some(secret) => hex::encode(hmac_sha256(secret, key.as_bytes())),
        None => normalize_key(&key),
    }
}

/// HMAC-SHA256 cache keys for one secret and site prefix, with the keyed hash state and the
/// prefix absorbed once. Each key then costs two SHA-256 blocks instead of five, which is what
/// makes encrypted `makeCacheKey` cheaper than a fresh `createHmac` per call.
#[derive(Clone)]
pub struct KeyHmac {
    /// Keyed state with `prefix:` already absorbed.
    primed: Hmac<Sha256>,
}

impl KeyHmac {
    /// Keys the HMAC with `secret` and absorbs `site_prefix` plus the `:` separator, if any.
    pub fn new(secret: &[u8], site_prefix: Option<&str>) -> Self {
        let mut primed =
            <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC accepts any key length");
        if let Some(prefix) = site_prefix.filter(|p| !p.is_empty()) {
            primed.update(prefix.as_bytes());
            primed.update(b":");
        }
        KeyHmac { primed }
    }

    /// Hex HMAC of `prefix:key` for an already joined key, into a stack buffer.
    pub fn hex(&self, key: &[u8]) -> [u8; 64] {
        let mut mac = self.primed.clone();
        mac.update(key);
        let digest = mac.finalize().into_bytes();
        let mut out = [0u8; 64];
        hex::encode_to_slice(digest, &mut out).expect("64 bytes hold a hex SHA-256");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_fips_abc_vector() {
        assert_eq!(
            hex::encode(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn sha1_matches_the_fips_abc_vector() {
        assert_eq!(
            hex::encode(sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231_case_2() {
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231_case_6_with_a_key_longer_than_a_block() {
        let key = [0xaau8; 131];
        assert_eq!(
            hex::encode(hmac_sha256(
                &key,
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn hmac_sha1_matches_rfc_2202_case_2() {
        assert_eq!(
            hex::encode(hmac_sha1(b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    #[test]
    fn salted_hmac_reproduces_the_restthumbnails_golden_secret() {
        let source = "animals/kitten.jpg";
        let value = [source, "100x100", "crop", ".jpg"].join("-");
        let mac = salted_hmac_sha1(source.as_bytes(), b"foobar", value.as_bytes());
        assert_eq!(hex::encode(mac), "38cdd9ad3dda068a81ebd59c113039637c1c8d1d");
    }

    #[test]
    fn a_single_part_is_not_escaped() {
        assert_eq!(make_cache_key(&["a:b%c"], None, None), "a:b%c");
    }

    #[test]
    fn several_parts_escape_percent_before_colon() {
        assert_eq!(
            make_cache_key(&["a:b", "50%", "%3A"], None, None),
            "a%3Ab:50%25:%253A"
        );
    }

    #[test]
    fn the_site_prefix_is_joined_with_a_colon_and_not_escaped() {
        assert_eq!(
            make_cache_key(&["x", "y:z"], Some("example.com:/root"), None),
            "example.com:/root:x:y%3Az"
        );
        assert_eq!(make_cache_key(&["x"], Some(""), None), "x");
    }

    #[test]
    fn control_characters_and_spaces_become_hex_escapes() {
        assert_eq!(
            make_cache_key(&["a b\tc\x00d\x7fe\u{e9}"], None, None),
            "a\\x20b\\x09c\\x00d\\x7fe\u{e9}"
        );
    }

    #[test]
    fn a_key_of_exactly_240_characters_is_kept() {
        let key = "k".repeat(240);
        assert_eq!(make_cache_key(&[&key], None, None), key);
    }

    #[test]
    fn a_key_of_241_characters_keeps_176_and_appends_its_sha256() {
        let key = "k".repeat(241);
        let out = make_cache_key(&[&key], None, None);
        assert_eq!(out.len(), 240);
        assert_eq!(&out[..176], &key[..176]);
        assert_eq!(&out[176..], hex::encode(sha256(key.as_bytes())));
    }

    #[test]
    fn the_length_limit_applies_after_escaping() {
        // 100 spaces become 400 characters, so the key is shortened and the hash covers the
        // escaped form, as in djblets.
        let key = " ".repeat(100);
        let escaped = "\\x20".repeat(100);
        let out = make_cache_key(&[&key], None, None);
        assert_eq!(&out[..176], &escaped[..176]);
        assert_eq!(&out[176..], hex::encode(sha256(escaped.as_bytes())));
    }

    #[test]
    fn the_length_limit_counts_characters_not_bytes() {
        let key = "\u{e9}".repeat(240);
        assert_eq!(make_cache_key(&[&key], None, None), key);
        let long = "\u{e9}".repeat(241);
        let out = make_cache_key(&[&long], None, None);
        assert_eq!(out.chars().count(), 240);
        assert!(out.starts_with(&"\u{e9}".repeat(176)));
    }

    #[test]
    fn a_primed_key_hmac_equals_make_cache_key_with_encryption() {
        let h = KeyHmac::new(b"secret", Some("site"));
        let hex = h.hex(b"a:b%3Ac");
        assert_eq!(
            std::str::from_utf8(&hex).unwrap(),
            make_cache_key(&["a", "b:c"], Some("site"), Some(b"secret"))
        );
        let bare = KeyHmac::new(b"secret", Some(""));
        assert_eq!(
            std::str::from_utf8(&bare.hex(b"k")).unwrap(),
            make_cache_key(&["k"], None, Some(b"secret"))
        );
    }

    #[test]
    fn encryption_replaces_the_whole_key_with_its_hmac() {
        let out = make_cache_key(&["a", "b c"], Some("site"), Some(b"secret"));
        assert_eq!(out, hex::encode(hmac_sha256(b"secret", b"site:a:b c")));
        assert_eq!(out.len(), 64);
    }
}
