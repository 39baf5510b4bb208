//! `Padded<T>`: a value alone on its cache lines, so that shards touched by different
//! threads at once (store shards, run-log shards, counters) do not share a line.

use std::ops::Deref;

/// `T` aligned to 128 bytes: two 64-byte lines, as adjacent-line prefetchers pair them.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> Deref for Padded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}
