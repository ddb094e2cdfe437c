//! K-of-N Shamir split of Krypton's 32-byte master key, in shares that people read aloud and type.
//!
//! At initialisation the appliance calls [`split`], hands each [`Share`] to its custodian and
//! stores the [`KeyCheck`]. To unseal, custodians type their shares; each is parsed as it is typed
//! ([`Share::parse`] catches typos in the group they are in) and admitted against the stored key
//! check ([`KeyCheck::admit`] refuses another installation's share at once). With K shares,
//! [`combine_into`] rebuilds the key into memory the caller provides and proves it against the key
//! check, so a wrong but well-formed set is reported as such instead of unsealing into garbage.
//!
//! The arithmetic is blahaj's (the maintained fork of `sharks`); randomness, HMAC and SHA-256 are
//! aws-lc-rs's. Shares and every intermediate copy of the key are wiped on drop, and no `Debug` or
//! error message contains secret bytes.
//!
//! ```
//! let master = [7u8; 32];
//! let split = shamir::split(&master, 3, 5)?;
//! let typed: Vec<shamir::Share> = [&split.shares[4], &split.shares[0], &split.shares[2]]
//!     .iter()
//!     .map(|share| share.to_string().to_lowercase().parse())
//!     .collect::<Result<_, _>>()?;
//! let mut rebuilt = [0u8; 32];
//! shamir::combine_into(&typed, &split.key_check, &mut rebuilt)?;
//! assert_eq!(rebuilt, master);
//! # Ok::<(), shamir::Error>(())
//! ```
//!
//! # Share format, version 1
//!
//! A share is 18 groups of 5 characters, printed separated by spaces (this one is share 1 of 5 of
//! a demonstration key):
//!
//! ```text
//! 048SV W4ZA5 0C0W9 GPBN5 Z4F8G 7SGH7 BJEDT Q5N0T 1Z8RN YZYGG PZ7P1 SHPB0 JP5KV THVAR J7JP3 M3GVY GQ4V3 T7D06
//! ```
//!
//! The first two groups and the start of the third (version, key set, threshold) are the same on
//! every share of one key set, which lets custodians see at a glance that their shares belong
//! together.
//!
//! - **Alphabet**: Crockford's base32, `0-9` and `A-Z` without `I L O U`. Reading forgives case,
//!   reads `O` as `0` and `I`/`L` as `1`, and ignores spaces, tabs, newlines and dashes between
//!   groups.
//! - **Groups**: each group is four data characters and a check character. The check character is
//!   the Luhn mod 32 check over the group's number (1 to 18) followed by its four data characters.
//!   A single mistyped character, in data or check, always fails its own group's check, so the
//!   error names the group to look at again; swapping two neighbouring characters fails it for all
//!   but one pair of values; a whole group typed in the wrong place fails at that place. Where the
//!   operator typed separators, a group with a character dropped or doubled is named by its length.
//! - **Payload**: the 72 data characters carry 360 bits, most significant bit first, which are 45
//!   bytes:
//!
//!   | bytes  | content                                                                      |
//!   |--------|------------------------------------------------------------------------------|
//!   | 0      | format version, 1. The first byte in every version, so a later format is named as such |
//!   | 1..5   | key-set id ([`KeySetId`]): which split the share belongs to                  |
//!   | 5      | threshold K                                                                  |
//!   | 6      | share index, 1 to 255 (the x coordinate)                                     |
//!   | 7..39  | share value (the polynomial evaluated at the index, one byte per key byte)   |
//!   | 39..45 | checksum: the first 6 bytes of SHA-256(`"krypton/shamir/share/v1"` ‖ bytes 0..39) |
//!
//!   The checksum catches what group checks cannot pin down: several typos at once, or a group
//!   copied from another share, which is well formed in its place.
//!
//! # Key check
//!
//! HMAC-SHA256 keyed by the master key over `"krypton/shamir/key-check/v1"` ‖ key-set id ‖
//! threshold, compared in constant time. Its stored form ([`KeyCheck::to_bytes`], 38 bytes) is a
//! version byte (1), the key-set id, the threshold and the tag.

mod error;
mod format;
mod key_check;
mod key_set;
mod rng;
mod share;
mod sharing;

pub use error::{Error, Malformed};
pub use key_check::KeyCheck;
pub use key_set::KeySetId;
pub use share::Share;
pub use sharing::{Split, combine_into, split};

/// Length of the master key, and of every share value.
const KEY_LEN: usize = 32;
