//! Input fingerprints: what a task's output was computed from, for `cache = inputs`.
//!
//! The fingerprint is the first 16 bytes of SHA-256 over a domain tag, the task version, the
//! task's own state (its fields, serialized) and each input (serialized). Every part is
//! framed with its type name and length, so different inputs never produce the same byte
//! stream: `("ab", "c")` and `("a", "bc")`, or an `i32` and a `u32` with equal bytes, differ.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Collects the framed parts of a fingerprint: one buffer, so that an `Option` of it, which
/// every task's future carries, stays small.
#[derive(Debug, Clone, Default)]
pub struct Fingerprint {
    frames: Vec<u8>,
}

impl Fingerprint {
    /// An empty fingerprint.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one part: `value` serialized with postcard, framed with its type name.
    /// Returns false (and adds nothing usable) if postcard cannot serialize it.
    pub fn part<V: Serialize + ?Sized>(&mut self, value: &V) -> bool {
        self.frame(std::any::type_name::<V>().as_bytes());
        // The value is serialized in place, after its length's slot, filled in afterwards.
        let len_at = self.frames.len();
        self.frames.extend_from_slice(&[0; 8]);
        let Ok(frames) = postcard::to_extend(value, std::mem::take(&mut self.frames)) else {
            return false;
        };
        self.frames = frames;
        let len = (self.frames.len() - len_at - 8) as u64;
        self.frames[len_at..len_at + 8].copy_from_slice(&len.to_le_bytes());
        true
    }

    fn frame(&mut self, bytes: &[u8]) {
        self.frames
            .extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        self.frames.extend_from_slice(bytes);
    }

    /// The 16-byte fingerprint of `version`, the task state and the inputs. Never all zero
    /// (all zero marks records written without one).
    pub(crate) fn finish(state: &Fingerprint, inputs: &Fingerprint, version: u32) -> [u8; 16] {
        let mut hasher = Sha256::new();
        hasher.update(b"duraflow input fingerprint v1");
        hasher.update(version.to_le_bytes());
        hasher.update((state.frames.len() as u64).to_le_bytes());
        hasher.update(&state.frames);
        hasher.update((inputs.frames.len() as u64).to_le_bytes());
        hasher.update(&inputs.frames);
        let digest = hasher.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        if out == [0; 16] {
            out[0] = 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Fingerprint;

    fn of(parts: &[&dyn Fn(&mut Fingerprint) -> bool]) -> [u8; 16] {
        let mut inputs = Fingerprint::new();
        for part in parts {
            assert!(part(&mut inputs));
        }
        Fingerprint::finish(&Fingerprint::new(), &inputs, 0)
    }

    #[test]
    fn framing_keeps_parts_apart() {
        let ab_c = of(&[&|f| f.part("ab"), &|f| f.part("c")]);
        let a_bc = of(&[&|f| f.part("a"), &|f| f.part("bc")]);
        assert_ne!(ab_c, a_bc);
        assert_ne!(of(&[&|f| f.part(&1i32)]), of(&[&|f| f.part(&1u32)]));
        assert_eq!(of(&[&|f| f.part(&7u8)]), of(&[&|f| f.part(&7u8)]));
    }

    #[test]
    fn parts_are_framed_as_length_and_bytes() {
        // The byte stream records were fingerprinted with: it must never change.
        let mut fingerprint = Fingerprint::new();
        assert!(fingerprint.part("ab"));
        assert!(fingerprint.part(&300u16));
        let mut expected = Vec::new();
        for part in [&b"str"[..], &[2, b'a', b'b'], b"u16", &[0xac, 0x02]] {
            expected.extend_from_slice(&(part.len() as u64).to_le_bytes());
            expected.extend_from_slice(part);
        }
        assert_eq!(fingerprint.frames, expected);
        assert_eq!(
            Fingerprint::finish(&Fingerprint::new(), &fingerprint, 0),
            // Computed by the two-buffer implementation this one replaced.
            [
                0x4c, 0xb6, 0xa2, 0x01, 0xe8, 0x52, 0xea, 0xa7, 0x13, 0x74, 0xfb, 0x3d, 0xf2, 0x52,
                0xa0, 0x43
            ]
        );
    }

    #[test]
    fn version_and_state_count() {
        let inputs = Fingerprint::new();
        let mut state = Fingerprint::new();
        assert!(state.part(&3u8));
        assert_ne!(
            Fingerprint::finish(&Fingerprint::new(), &inputs, 1),
            Fingerprint::finish(&Fingerprint::new(), &inputs, 2)
        );
        assert_ne!(
            Fingerprint::finish(&state, &inputs, 1),
            Fingerprint::finish(&Fingerprint::new(), &inputs, 1)
        );
    }
}
