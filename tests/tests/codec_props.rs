//! Property tests of the record format (`duraflow::codec`): values round-trip, and bytes
//! that are not exactly a record written for this key and this schema never decode to a
//! value. Which types count as the same schema: schema_props.rs.

use duraflow::codec::{compress, decode, decode_owned, encode, parse, Expect, Miss, Stamp};
use proptest::collection::vec;
use proptest::prelude::*;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fmt::Debug;
use std::num::NonZeroU32;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Point {
    x: i64,
    y: i64,
    label: String,
    tags: Vec<u16>,
    parent: Option<Box<Point>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Figure {
    Empty,
    Circle(u32),
    Polygon { corners: Vec<(i32, i32)> },
}

fn point() -> impl Strategy<Value = Point> {
    let leaf = (
        any::<i64>(),
        any::<i64>(),
        "\\PC{0,20}",
        vec(any::<u16>(), 0..8),
    )
        .prop_map(|(x, y, label, tags)| Point {
            x,
            y,
            label,
            tags,
            parent: None,
        });
    leaf.prop_recursive(3, 8, 1, |inner| {
        (inner, any::<i64>()).prop_map(|(parent, x)| Point {
            x,
            y: -x,
            label: String::new(),
            tags: Vec::new(),
            parent: Some(Box::new(parent)),
        })
    })
}

fn figure() -> impl Strategy<Value = Figure> {
    prop_oneof![
        Just(Figure::Empty),
        any::<u32>().prop_map(Figure::Circle),
        vec(any::<(i32, i32)>(), 0..10).prop_map(|corners| Figure::Polygon { corners }),
    ]
}

fn stamp() -> impl Strategy<Value = Stamp> {
    (any::<u32>(), any::<u32>(), any::<[u8; 16]>()).prop_map(
        |(task_version, schema_version, input_fingerprint)| Stamp {
            task_version,
            schema_version,
            input_fingerprint,
        },
    )
}

/// CRC-32 (IEEE 802.3, reflected), written from its definition: what codec.rs documents.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Replaces the checksum of `record` by the right one for its (changed) bytes.
fn reseal(record: &mut [u8]) {
    let body = record.len() - 4;
    let crc = crc32(&record[..body]);
    record[body..].copy_from_slice(&crc.to_le_bytes());
}

fn u16_at(record: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([record[at], record[at + 1]]))
}

fn u32_at(record: &[u8], at: usize) -> usize {
    u32::from_le_bytes(record[at..at + 4].try_into().unwrap()) as usize
}

fn u64_at(record: &[u8], at: usize) -> usize {
    u64::from_le_bytes(record[at..at + 8].try_into().unwrap()) as usize
}

/// Offset of `N`, the payload length: everything before it is header, type name, shape, key.
fn payload_len_at(record: &[u8]) -> usize {
    62 + u16_at(record, 54) + u16_at(record, 56) + u32_at(record, 58)
}

/// Everything the record was written with is asked for.
fn strict(stamp: Stamp) -> Expect {
    Expect {
        schema_version: stamp.schema_version,
        task_version: Some(stamp.task_version),
        input_fingerprint: Some(stamp.input_fingerprint),
        ttl: Some(std::time::Duration::from_secs(86_400)),
    }
}

/// Encodes and decodes `value`, checking the record's documented layout on the way.
fn round_trip<T>(key: &str, value: &T, stamp: Stamp) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug + 'static,
{
    let record = encode(key, value, stamp).unwrap();
    let checked = decode::<T>(key, &record, strict(stamp));
    prop_assert_eq!(checked.as_ref(), Ok(value));
    let by_schema_only = Expect {
        schema_version: stamp.schema_version,
        ..Expect::default()
    };
    let by_schema_only = decode::<T>(key, &record, by_schema_only);
    prop_assert_eq!(by_schema_only.as_ref(), Ok(value));

    let view = parse(&record).unwrap();
    prop_assert_eq!(view.key, key);
    prop_assert_eq!(view.type_name, std::any::type_name::<T>());
    prop_assert_eq!(view.task_version, stamp.task_version);
    prop_assert_eq!(view.schema_version, stamp.schema_version);
    prop_assert_eq!(view.input_fingerprint, stamp.input_fingerprint);
    prop_assert!(
        view.written_at_ms > 1_600_000_000_000,
        "{}",
        view.written_at_ms
    );

    // the byte table of codec.rs
    prop_assert_eq!(&record[0..4], b"DFLW");
    prop_assert_eq!((record[4], record[5]), (3, 0));
    prop_assert_eq!(&record[6..10], &stamp.task_version.to_le_bytes());
    prop_assert_eq!(&record[10..14], &stamp.schema_version.to_le_bytes());
    prop_assert_eq!(&record[14..30], &view.schema_fingerprint);
    prop_assert_eq!(&record[30..46], &stamp.input_fingerprint);
    prop_assert_eq!(&record[46..54], &view.written_at_ms.to_le_bytes());
    let (t, s, k) = (
        u16_at(&record, 54),
        u16_at(&record, 56),
        u32_at(&record, 58),
    );
    prop_assert_eq!(t, view.type_name.len());
    prop_assert_eq!(s, view.shape.len());
    prop_assert_eq!(k, key.len());
    prop_assert_eq!(&record[62..62 + t], view.type_name.as_bytes());
    prop_assert_eq!(&record[62 + t..62 + t + s], view.shape.as_bytes());
    prop_assert_eq!(&record[62 + t + s..62 + t + s + k], key.as_bytes());
    let n = u64_at(&record, 62 + t + s + k);
    prop_assert_eq!(n, view.payload.len());
    prop_assert_eq!(&record[70 + t + s + k..70 + t + s + k + n], view.payload);
    prop_assert_eq!(record.len(), 70 + t + s + k + n + 4);
    let crc = u32_at(&record, record.len() - 4) as u32;
    prop_assert_eq!(crc, crc32(&record[..record.len() - 4]));
    Ok(())
}

/// A valid record of some type, with the key it was written for.
fn any_record() -> impl Strategy<Value = (String, Vec<u8>)> {
    ("\\PC{0,40}", 0u8..4, any::<i64>(), "\\PC{0,60}").prop_map(|(key, kind, number, text)| {
        let record = match kind {
            0 => encode(&key, &number, Stamp::default()),
            1 => {
                let stamp = Stamp {
                    task_version: 3,
                    input_fingerprint: [7; 16],
                    ..Stamp::default()
                };
                encode(&key, &text, stamp)
            }
            2 => {
                let stamp = Stamp {
                    task_version: 1,
                    schema_version: 1,
                    ..Stamp::default()
                };
                encode(&key, &(number, text, vec![number; 3]), stamp)
            }
            // A compressed payload: text repeated until zstd shrinks it.
            _ => encode(&key, &text.repeat(40), Stamp::default()).map(|r| compress(r, 3)),
        };
        (key, record.unwrap())
    })
}

/// Every way [`any_record`]'s records can be read: each type, each schema version it uses.
fn decode_as_everything(key: &str, bytes: &[u8]) -> Vec<Result<(), Miss>> {
    let mut results = Vec::new();
    for schema_version in [0, 1] {
        let expect = Expect {
            schema_version,
            ..Expect::default()
        };
        results.push(decode::<i64>(key, bytes, expect).map(drop));
        results.push(decode::<String>(key, bytes, expect).map(drop));
        results.push(decode::<(i64, String, Vec<i64>)>(key, bytes, expect).map(drop));
    }
    results
}

fn decodes_as_anything(key: &str, bytes: &[u8]) -> bool {
    decode_as_everything(key, bytes).iter().any(Result::is_ok)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A record is expired exactly when it is older than the ttl asked for (ages within a
    /// second of the ttl are left out: the clock moves while the test runs).
    #[test]
    fn a_record_is_expired_exactly_when_older_than_its_ttl(
        ttl_s in 1u64..1_000_000,
        age_s in 0u64..2_000_000,
        value in any::<i64>(),
    ) {
        prop_assume!(age_s.abs_diff(ttl_s) > 1);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let record = encode("k", &value, Stamp::default()).unwrap();
        let record = duraflow_tests::sweep_store::written_at(record, now - age_s * 1000);
        let ttl = std::time::Duration::from_secs(ttl_s);
        let expect = Expect { ttl: Some(ttl), ..Expect::default() };
        match decode::<i64>("k", &record, expect) {
            Ok(decoded) => {
                prop_assert!(age_s < ttl_s);
                prop_assert_eq!(decoded, value);
            }
            Err(Miss::Expired { ttl: reported, .. }) => {
                prop_assert!(age_s > ttl_s);
                prop_assert_eq!(reported, ttl);
            }
            Err(other) => prop_assert!(false, "{other}"),
        }
    }

    #[test]
    fn integers_round_trip(key in "\\PC*", v in any::<(i8, i32, i64, u64, u128)>(), stamp in stamp()) {
        round_trip(&key, &v, stamp)?;
        round_trip(&key, &v.1, stamp)?;
        round_trip(&key, &v.3, stamp)?;
    }

    #[test]
    fn strings_and_bytes_round_trip(key in any::<String>(), s in any::<String>(), bytes in vec(any::<u8>(), 0..300)) {
        round_trip(&key, &s, Stamp::default())?;
        round_trip(&key, &bytes, Stamp::default())?;
        round_trip(&key, &(s.clone(), bytes.clone(), s.len()), Stamp::default())?;
    }

    #[test]
    fn collections_round_trip(v in vec("\\PC{0,10}", 0..20), nested in vec(vec(any::<Option<i8>>(), 0..5), 0..5), f in proptest::num::f64::NORMAL) {
        round_trip("vec", &v, Stamp::default())?;
        round_trip("nested", &nested, Stamp::default())?;
        round_trip("float", &f, Stamp::default())?;
        round_trip("unit", &(), Stamp::default())?;
    }

    #[test]
    fn options_and_results_round_trip(o in any::<Option<u16>>(), r in any::<Result<i32, String>>(), rr in any::<Option<Result<bool, Option<u8>>>>(), stamp in stamp()) {
        round_trip("option", &o, stamp)?;
        round_trip("result", &r, stamp)?;
        round_trip("nested", &rr, stamp)?;
    }

    #[test]
    fn structs_and_enums_round_trip(key in "\\PC{1,30}", p in point(), f in figure(), stamp in stamp()) {
        round_trip(&key, &p, stamp)?;
        round_trip(&key, &f, stamp)?;
        round_trip(&key, &vec![f.clone(), f], Stamp::default())?;
    }

    /// A type the tracer cannot describe still round-trips; its record has no shape.
    #[test]
    fn types_checked_by_name_round_trip(key in "\\PC{0,30}", n in 1u32.., stamp in stamp()) {
        let n = NonZeroU32::new(n).unwrap();
        round_trip(&key, &n, stamp)?;
        let record = encode(&key, &n, stamp).unwrap();
        prop_assert_eq!(parse(&record).unwrap().shape, "");
    }

    #[test]
    fn random_bytes_never_decode(bytes in vec(any::<u8>(), 0..400), key in "\\PC{0,10}") {
        prop_assert!(parse(&bytes).is_err());
        prop_assert!(!decodes_as_anything(&key, &bytes));
        prop_assert!(matches!(decode::<u8>(&key, &bytes, Expect::default()), Err(Miss::Corrupt(_))));
    }

    #[test]
    fn random_bytes_after_a_valid_head_never_decode(tail in vec(any::<u8>(), 0..400), version in any::<u8>()) {
        let mut bytes = b"DFLW".to_vec();
        bytes.push(version % 4);
        bytes.extend(tail);
        prop_assert!(parse(&bytes).is_err());
        prop_assert!(!decodes_as_anything("k", &bytes));
    }

    /// Records of format 1 carry no shape: whatever follows the head, they are a schema
    /// change (the task runs again), not corruption, and never a value.
    #[test]
    fn a_record_of_format_1_is_a_schema_change(tail in vec(any::<u8>(), 0..200)) {
        let mut bytes = b"DFLW\x01".to_vec();
        bytes.extend(tail);
        let error = parse(&bytes).unwrap_err();
        prop_assert!(error.contains("record format 1"), "{}", error);
        for result in decode_as_everything("k", &bytes) {
            prop_assert!(
                matches!(&result, Err(Miss::SchemaChanged { stored, .. }) if stored.contains("record format 1")),
                "{:?}", result
            );
        }
    }

    /// Corrupt, except a format byte changed to the older format: then a schema change.
    #[test]
    fn any_single_byte_change_is_a_miss((key, record) in any_record(), at in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let mut bad = record.clone();
        let at = at.index(bad.len());
        bad[at] ^= xor;
        prop_assert!(parse(&bad).is_err());
        for result in decode_as_everything(&key, &bad) {
            if at == 4 && bad[4] == 1 {
                prop_assert!(matches!(&result, Err(Miss::SchemaChanged { stored, .. }) if stored.contains("record format 1")), "{:?}", result);
            } else {
                prop_assert!(matches!(result, Err(Miss::Corrupt(_))), "byte {} ^ {:#x}: {:?}", at, xor, result);
            }
        }
    }

    #[test]
    fn any_truncation_is_corrupt((key, record) in any_record(), keep in any::<prop::sample::Index>()) {
        let keep = keep.index(record.len());
        prop_assert!(parse(&record[..keep]).is_err());
        for result in decode_as_everything(&key, &record[..keep]) {
            prop_assert!(matches!(result, Err(Miss::Corrupt(_))), "kept {}: {:?}", keep, result);
        }
    }

    #[test]
    fn appended_bytes_are_corrupt((key, record) in any_record(), extra in vec(any::<u8>(), 1..64)) {
        let mut longer = record.clone();
        longer.extend(extra);
        prop_assert!(parse(&longer).is_err());
        for result in decode_as_everything(&key, &longer) {
            prop_assert!(matches!(result, Err(Miss::Corrupt(_))), "{:?}", result);
        }
    }

    #[test]
    fn scattered_changes_never_decode_to_another_value(key in "\\PC{0,20}", value in "\\PC{0,40}", changes in vec((any::<prop::sample::Index>(), 1u8..=255), 1..8)) {
        let record = encode(&key, &value, Stamp::default()).unwrap();
        let mut bad = record.clone();
        for (at, xor) in &changes {
            let at = at.index(bad.len());
            bad[at] ^= xor;
        }
        if let Ok(decoded) = decode::<String>(&key, &bad, Expect::default()) {
            prop_assert_eq!(bad, record, "changes cancelled out, else only the original may decode");
            prop_assert_eq!(decoded, value);
        }
    }

    /// A header, type name, shape or key changed with a matching checksum (a bug, not bit
    /// rot) still never yields a value other than the one written.
    #[test]
    fn resealed_header_changes_never_give_another_value(key in "\\PC{0,20}", value in any::<i64>(), at in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let record = encode(&key, &value, Stamp::default()).unwrap();
        let mut bad = record.clone();
        bad[at.index(payload_len_at(&record))] ^= xor;
        reseal(&mut bad);
        if let Ok(decoded) = decode::<i64>(&key, &bad, Expect::default()) {
            prop_assert_eq!(decoded, value);
        }
        // an `i64` payload also decodes as a `u64`: only the schema tells them apart
        prop_assert!(decode::<u64>(&key, &bad, Expect::default()).is_err());
    }

    /// A payload with a byte too many (checksum and length fixed) is refused.
    #[test]
    fn trailing_payload_bytes_are_corrupt(key in "\\PC{0,20}", value in any::<u32>(), extra in any::<u8>()) {
        let record = encode(&key, &value, Stamp::default()).unwrap();
        let len_at = payload_len_at(&record);
        let n = parse(&record).unwrap().payload.len();
        let mut longer = record[..record.len() - 4].to_vec();
        longer.push(extra);
        longer[len_at..len_at + 8].copy_from_slice(&(n as u64 + 1).to_le_bytes());
        longer.extend([0; 4]);
        reseal(&mut longer);
        prop_assert!(parse(&longer).is_ok(), "structurally valid");
        let result = decode::<u32>(&key, &longer, Expect::default());
        prop_assert!(matches!(&result, Err(Miss::Corrupt(why)) if why.contains("trailing")), "{:?}", result);
    }

    /// Random payloads with a valid frame never panic the decoder.
    #[test]
    fn random_payloads_in_a_valid_frame_never_panic(payload in vec(any::<u8>(), 0..64)) {
        let record = encode("k", &Point { x: 0, y: 0, label: String::new(), tags: vec![], parent: None }, Stamp::default()).unwrap();
        let mut framed = record[..payload_len_at(&record)].to_vec();
        framed.extend((payload.len() as u64).to_le_bytes());
        framed.extend(&payload);
        framed.extend([0; 4]);
        reseal(&mut framed);
        let _ = decode::<Point>("k", &framed, Expect::default());
    }

    /// Compressing a record never changes what it decodes to, by either decoder.
    #[test]
    fn compressed_records_decode_as_written(key in "\\PC{0,20}", text in "\\PC{0,30}", times in 0usize..200, level in 1i32..10) {
        let value = text.repeat(times);
        let record = encode(&key, &value, Stamp::default()).unwrap();
        let packed = compress(record.clone(), level);
        prop_assert!(packed.len() <= record.len());
        prop_assert_eq!(decode::<String>(&key, &packed, Expect::default()), Ok(value.clone()));
        let owned = decode_owned::<String>(&key, packed, Expect::default()).map_err(|(miss, _)| miss);
        prop_assert_eq!(owned, Ok(value));
    }

    /// Byte buffers decode to the same value by both decoders, compressed or not; a miss
    /// gives the buffer back whole.
    #[test]
    fn byte_buffers_decode_alike_by_both_decoders(key in "\\PC{0,20}", bytes in vec(any::<u8>(), 0..2_000), zeros in 0usize..2_000) {
        let mut value = bytes;
        value.extend(std::iter::repeat_n(0, zeros));
        let record = encode(&key, &value, Stamp::default()).unwrap();
        for record in [record.clone(), compress(record, 3)] {
            prop_assert_eq!(decode::<Vec<u8>>(&key, &record, Expect::default()), Ok(value.clone()));
            let owned = decode_owned::<Vec<u8>>(&key, record.clone(), Expect::default());
            prop_assert_eq!(owned.map_err(|(miss, _)| miss), Ok(value.clone()));
            let refused = decode_owned::<Vec<u8>>(&format!("{key}!"), record.clone(), Expect::default());
            let (miss, back) = refused.unwrap_err();
            prop_assert!(matches!(miss, Miss::Corrupt(_)));
            prop_assert_eq!(back, record);
        }
    }

    #[test]
    fn a_record_read_under_another_key_is_corrupt(k1 in "\\PC{0,30}", k2 in "\\PC{0,30}", v in any::<i32>()) {
        prop_assume!(k1 != k2);
        let record = encode(&k1, &v, Stamp::default()).unwrap();
        prop_assert!(matches!(decode::<i32>(&k2, &record, Expect::default()), Err(Miss::Corrupt(_))));
    }

    #[test]
    fn a_schema_version_other_than_the_one_asked_is_a_schema_change(stored in 0u32..4, asked in 0u32..4, v in any::<i32>()) {
        let record = encode("k", &v, Stamp { schema_version: stored, ..Stamp::default() }).unwrap();
        let result = decode::<i32>("k", &record, Expect { schema_version: asked, ..Expect::default() });
        if stored == asked {
            prop_assert_eq!(result, Ok(v));
        } else {
            let Err(Miss::SchemaChanged { stored: said_stored, expected: said_expected }) = result else {
                return Err(TestCaseError::fail(format!("schema {stored} read as {asked}: {result:?}")));
            };
            prop_assert_ne!(&said_stored, &said_expected);
            for (said, version) in [(&said_stored, stored), (&said_expected, asked)] {
                prop_assert!(said.starts_with("i32"), "{}", said);
                prop_assert_eq!(version == 0, !said.contains("schema"), "{}", said);
                prop_assert!(version == 0 || said.contains(&format!("schema {version}")), "{}", said);
            }
        }
    }

    /// Types the tracer cannot describe are checked by type name, against each other and
    /// against traced types.
    #[test]
    fn versions_and_input_fingerprints_are_checked_when_asked(stored in any::<u32>(), asked in any::<u32>(), fp in any::<[u8; 16]>(), other_fp in any::<[u8; 16]>()) {
        let record = encode("k", &1u8, Stamp { task_version: stored, input_fingerprint: fp, ..Stamp::default() }).unwrap();
        let by_version = decode::<u8>("k", &record, Expect { task_version: Some(asked), ..Expect::default() });
        if stored == asked {
            prop_assert_eq!(by_version, Ok(1));
        } else {
            prop_assert_eq!(by_version, Err(Miss::VersionChanged { stored, expected: asked }));
        }
        let by_inputs = decode::<u8>("k", &record, Expect { input_fingerprint: Some(other_fp), ..Expect::default() });
        if fp == other_fp {
            prop_assert_eq!(by_inputs, Ok(1));
        } else {
            prop_assert_eq!(by_inputs, Err(Miss::InputsChanged));
        }
    }
}
