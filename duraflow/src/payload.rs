//! A record's payload: the value in postcard. A `Vec<u8>` is written and read as one block
//! of bytes (postcard's own layout for it: its length as a varint, then the bytes), where
//! serde would visit it byte by byte: a 1 GiB buffer then encodes and decodes at memory
//! speed. `serde_bytes` and `bytes::Bytes` values need nothing of this: serde hands them to
//! postcard as one slice already.

use serde::{de::DeserializeOwned, Serialize};
use std::any::Any;

/// Appends `value` in postcard to `out`.
pub(crate) fn encode<T: Serialize + 'static>(
    value: &T,
    mut out: Vec<u8>,
) -> Result<Vec<u8>, postcard::Error> {
    if let Some(bytes) = (value as &dyn Any).downcast_ref::<Vec<u8>>() {
        // Room for the varint and the record's checksum after the bytes: no regrowth.
        out.reserve_exact(bytes.len() + 16);
        let mut out = postcard::to_extend(&(bytes.len() as u64), out)?;
        out.extend_from_slice(bytes);
        return Ok(out);
    }
    postcard::to_extend(value, out)
}

/// Decodes `payload`, which postcard must consume exactly.
pub(crate) fn decode<T: DeserializeOwned + 'static>(payload: &[u8]) -> Result<T, String> {
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<Vec<u8>>() {
        let bytes: Box<dyn Any> = Box::new(decode_bytes(payload)?);
        let value = bytes.downcast::<T>().expect("T is Vec<u8>");
        return Ok(*value);
    }
    match postcard::take_from_bytes::<T>(payload) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(format!("payload has {} trailing bytes", rest.len())),
        Err(e) => Err(format!("payload does not decode: {e}")),
    }
}

/// Decodes the payload at `payload` in `buffer`; a `Vec<u8>` is `buffer` itself, with what
/// surrounds its bytes cut off. On failure the buffer comes back.
pub(crate) fn decode_owned<T: DeserializeOwned + 'static>(
    mut buffer: Vec<u8>,
    payload: std::ops::Range<usize>,
) -> Result<T, (String, Vec<u8>)> {
    if std::any::TypeId::of::<T>() != std::any::TypeId::of::<Vec<u8>>() {
        return decode(&buffer[payload.clone()]).map_err(|why| (why, buffer));
    }
    let start = match bytes_of(&buffer[payload.clone()]) {
        Ok(bytes) => payload.end - bytes.len(),
        Err(why) => return Err((why, buffer)),
    };
    buffer.truncate(payload.end);
    buffer.drain(..start);
    let bytes: Box<dyn Any> = Box::new(buffer);
    Ok(*bytes.downcast::<T>().expect("T is Vec<u8>"))
}

/// A `Vec<u8>` in postcard's layout: its length as a varint, then exactly that many bytes.
fn decode_bytes(payload: &[u8]) -> Result<Vec<u8>, String> {
    bytes_of(payload).map(<[u8]>::to_vec)
}

/// The bytes of a `Vec<u8>` in postcard's layout, checked against its length.
fn bytes_of(payload: &[u8]) -> Result<&[u8], String> {
    let (len, bytes) = postcard::take_from_bytes::<u64>(payload)
        .map_err(|e| format!("payload does not decode: {e}"))?;
    match (bytes.len() as u64).cmp(&len) {
        std::cmp::Ordering::Equal => Ok(bytes),
        std::cmp::Ordering::Greater => Err(format!(
            "payload has {} trailing bytes",
            bytes.len() as u64 - len
        )),
        std::cmp::Ordering::Less => Err(format!(
            "payload does not decode: {len} bytes announced, {} present",
            bytes.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The block path writes exactly what postcard writes for a `Vec<u8>`, and reads
        /// back what postcard reads, so records of either kind decode both ways.
        #[test]
        fn byte_vectors_are_postcard_both_ways(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let block = encode(&bytes, Vec::new()).unwrap();
            prop_assert_eq!(&block, &postcard::to_allocvec(&bytes).unwrap());
            prop_assert_eq!(decode::<Vec<u8>>(&block).unwrap(), bytes.clone());
            // In a buffer with bytes around it, as in a record.
            let mut buffer = vec![7u8; 5];
            buffer.extend_from_slice(&block);
            buffer.extend_from_slice(&[9; 4]);
            let owned: Vec<u8> = decode_owned(buffer, 5..5 + block.len()).unwrap();
            prop_assert_eq!(&owned, &bytes);
            let (by_serde, rest) = postcard::take_from_bytes::<Vec<u8>>(&block).unwrap();
            prop_assert_eq!((by_serde, rest.len()), (bytes, 0));
        }

        /// A cut or extended block is an error, never a shorter or longer value.
        #[test]
        fn cut_or_extended_byte_vectors_are_refused(
            bytes in proptest::collection::vec(any::<u8>(), 1..300),
            cut in 1usize..300,
            extra in proptest::collection::vec(any::<u8>(), 1..4),
        ) {
            let block = encode(&bytes, Vec::new()).unwrap();
            let cut = block.len() - cut.min(block.len());
            prop_assert!(decode::<Vec<u8>>(&block[..cut]).is_err());
            let mut longer = block.clone();
            longer.extend_from_slice(&extra);
            prop_assert!(decode::<Vec<u8>>(&longer).is_err());
        }
    }

    #[test]
    fn other_types_go_through_serde() {
        let value = (7u32, String::from("x"), vec![1u16, 2]);
        let payload = encode(&value, Vec::new()).unwrap();
        assert_eq!(payload, postcard::to_allocvec(&value).unwrap());
        assert_eq!(decode::<(u32, String, Vec<u16>)>(&payload).unwrap(), value);
        assert!(decode::<u32>(&[1, 2]).unwrap_err().contains("trailing"));
    }
}
