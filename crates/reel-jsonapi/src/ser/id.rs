//! Resource ids as exact, cheaply hashed keys for deduplicating `included`.

use super::*;

/// An exact, cheaply hashed form of a resource id, used to deduplicate `included`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdKey {
    /// An unsigned integer id.
    Unsigned(u64),
    /// A signed integer id.
    Signed(i64),
    /// Any other id, by its `Display` form.
    Text(Box<str>),
}

/// Wraps an id for [`IdKeyExact`]/[`IdKeyFallback`] (derived code picks the exact impl for
/// integers and strings, and `Display` for everything else).
#[derive(Debug)]
pub struct IdProbe<'a, T: ?Sized>(pub &'a T);

/// The exact [`IdKey`] of common id types.
pub trait IdKeyExact {
    /// The key.
    fn id_key(&self) -> IdKey;
}

/// The [`IdKey`] of any `Display` id, by its text.
pub trait IdKeyFallback {
    /// The key.
    fn id_key(&self) -> IdKey;
}

macro_rules! exact_unsigned {
    ($($t:ty),*) => {$(
        impl IdKeyExact for IdProbe<'_, $t> {
            #[inline]
            fn id_key(&self) -> IdKey {
                IdKey::Unsigned(u64::from(*self.0))
            }
        }
    )*};
}
macro_rules! exact_signed {
    ($($t:ty),*) => {$(
        impl IdKeyExact for IdProbe<'_, $t> {
            #[inline]
            fn id_key(&self) -> IdKey {
                // A non-negative signed id is the same identity as the unsigned one.
                let value = i64::from(*self.0);
                match u64::try_from(value) {
                    Ok(unsigned) => IdKey::Unsigned(unsigned),
                    Err(_) => IdKey::Signed(value),
                }
            }
        }
    )*};
}
exact_unsigned!(u8, u16, u32, u64);
exact_signed!(i8, i16, i32, i64);

impl IdKeyExact for IdProbe<'_, String> {
    fn id_key(&self) -> IdKey {
        IdKey::from_text(self.0)
    }
}

impl<T: Display + ?Sized> IdKeyFallback for &IdProbe<'_, T> {
    fn id_key(&self) -> IdKey {
        IdKey::from_text(&self.0.to_string())
    }
}

impl IdKey {
    /// The key of an id written as `text`: the id's identity is its JSON:API string, so a text
    /// id `"9"` is the same resource as an integer id `9` (both are written `"9"`).
    pub fn from_text(text: &str) -> IdKey {
        let canonical = |digits: &str| {
            !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'))
        };
        if canonical(text)
            && let Ok(value) = text.parse::<u64>()
        {
            return IdKey::Unsigned(value);
        }
        if let Some(digits) = text.strip_prefix('-')
            && canonical(digits)
            && digits != "0"
            && let Ok(value) = text.parse::<i64>()
        {
            return IdKey::Signed(value);
        }
        IdKey::Text(text.into())
    }
}

/// A small multiply-rotate hasher: the keys are our own ids, not attacker-chosen map keys
/// that could degrade a long-lived table, and the table lives for one response.
#[derive(Default, Clone, Copy)]
pub(super) struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }

    #[inline]
    fn write_u8(&mut self, value: u8) {
        self.write_u64(u64::from(value));
    }

    #[inline]
    fn write_i64(&mut self, value: i64) {
        self.write_u64(value as u64);
    }
}

pub(super) type FastSet<K> = HashSet<K, std::hash::BuildHasherDefault<FastHasher>>;
