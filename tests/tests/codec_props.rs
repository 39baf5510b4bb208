//! Property tests of the record format (`duraflow::codec`): values round-trip, and bytes
//! that are not exactly a record written for this key and type never decode to a value.

use duraflow::codec::{decode, encode, parse, Expect, Miss};
use proptest::collection::vec;
use proptest::prelude::*;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fmt::Debug;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Point {
    x: i64,
    y: i64,
    label: String,
    tags: Vec<u16>,
    parent: Option<Box<Point>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Shape {
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

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Empty),
        any::<u32>().prop_map(Shape::Circle),
        vec(any::<(i32, i32)>(), 0..10).prop_map(|corners| Shape::Polygon { corners }),
    ]
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

fn strict(task_version: u32, input_fingerprint: [u8; 16]) -> Expect {
    Expect {
        task_version: Some(task_version),
        input_fingerprint: Some(input_fingerprint),
    }
}

/// Encodes and decodes `value`, checking the record's documented layout on the way.
fn round_trip<T>(
    key: &str,
    value: &T,
    version: u32,
    fingerprint: [u8; 16],
) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let record = encode(key, value, version, fingerprint).unwrap();
    let checked = decode::<T>(key, &record, strict(version, fingerprint));
    prop_assert_eq!(checked.as_ref(), Ok(value));
    let unchecked = decode::<T>(key, &record, Expect::default());
    prop_assert_eq!(unchecked.as_ref(), Ok(value));

    let view = parse(&record).unwrap();
    prop_assert_eq!(view.key, key);
    prop_assert_eq!(view.type_name, std::any::type_name::<T>());
    prop_assert_eq!(view.task_version, version);
    prop_assert_eq!(view.input_fingerprint, fingerprint);
    prop_assert_eq!(
        view.type_fingerprint,
        duraflow::codec::type_fingerprint::<T>()
    );
    prop_assert!(
        view.written_at_ms > 1_600_000_000_000,
        "{}",
        view.written_at_ms
    );

    // the byte table of codec.rs
    prop_assert_eq!(&record[0..4], b"DFLW");
    prop_assert_eq!(record[4], 1);
    prop_assert_eq!(&record[5..9], &version.to_le_bytes());
    prop_assert_eq!(&record[17..33], &fingerprint);
    let t = usize::from(u16::from_le_bytes([record[41], record[42]]));
    let k = u32::from_le_bytes(record[43..47].try_into().unwrap()) as usize;
    prop_assert_eq!(t, view.type_name.len());
    prop_assert_eq!(k, key.len());
    prop_assert_eq!(&record[47 + t..47 + t + k], key.as_bytes());
    let n = u32::from_le_bytes(record[47 + t + k..51 + t + k].try_into().unwrap()) as usize;
    prop_assert_eq!(n, view.payload.len());
    prop_assert_eq!(record.len(), 51 + t + k + n + 4);
    let crc = u32::from_le_bytes(record[record.len() - 4..].try_into().unwrap());
    prop_assert_eq!(crc, crc32(&record[..record.len() - 4]));
    Ok(())
}

/// A valid record of some type, with the key it was written for.
fn any_record() -> impl Strategy<Value = (String, Vec<u8>)> {
    ("\\PC{0,40}", 0u8..3, any::<i64>(), "\\PC{0,60}").prop_map(|(key, kind, number, text)| {
        let record = match kind {
            0 => encode(&key, &number, 0, [0; 16]),
            1 => encode(&key, &text, 3, [7; 16]),
            _ => encode(&key, &(number, text, vec![number; 3]), 1, [0; 16]),
        };
        (key, record.unwrap())
    })
}

/// Decodes `bytes` as every type `any_record` writes: true when any of them gives a value.
fn decodes_as_anything(key: &str, bytes: &[u8]) -> bool {
    decode::<i64>(key, bytes, Expect::default()).is_ok()
        || decode::<String>(key, bytes, Expect::default()).is_ok()
        || decode::<(i64, String, Vec<i64>)>(key, bytes, Expect::default()).is_ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn integers_round_trip(key in "\\PC*", v in any::<(i8, i32, i64, u64, u128)>(), version in any::<u32>(), fp in any::<[u8; 16]>()) {
        round_trip(&key, &v, version, fp)?;
        round_trip(&key, &v.1, version, fp)?;
        round_trip(&key, &v.3, version, fp)?;
    }

    #[test]
    fn strings_and_bytes_round_trip(key in any::<String>(), s in any::<String>(), bytes in vec(any::<u8>(), 0..300)) {
        round_trip(&key, &s, 0, [0; 16])?;
        round_trip(&key, &bytes, 0, [0; 16])?;
        round_trip(&key, &(s.clone(), bytes.clone(), s.len()), 0, [0; 16])?;
    }

    #[test]
    fn collections_round_trip(v in vec("\\PC{0,10}", 0..20), nested in vec(vec(any::<Option<i8>>(), 0..5), 0..5), f in proptest::num::f64::NORMAL) {
        round_trip("vec", &v, 0, [0; 16])?;
        round_trip("nested", &nested, 0, [0; 16])?;
        round_trip("float", &f, 0, [0; 16])?;
        round_trip("unit", &(), 0, [0; 16])?;
    }

    #[test]
    fn options_and_results_round_trip(o in any::<Option<u16>>(), r in any::<Result<i32, String>>(), rr in any::<Option<Result<bool, Option<u8>>>>()) {
        round_trip("option", &o, 1, [1; 16])?;
        round_trip("result", &r, 2, [2; 16])?;
        round_trip("nested", &rr, 3, [3; 16])?;
    }

    #[test]
    fn structs_and_enums_round_trip(key in "\\PC{1,30}", p in point(), s in shape()) {
        round_trip(&key, &p, 9, [9; 16])?;
        round_trip(&key, &s, 0, [0; 16])?;
        round_trip(&key, &vec![s.clone(), s], 0, [0; 16])?;
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
        bytes.push(version % 3);
        bytes.extend(tail);
        prop_assert!(parse(&bytes).is_err());
        prop_assert!(!decodes_as_anything("k", &bytes));
    }

    #[test]
    fn any_single_byte_change_is_corrupt((key, record) in any_record(), at in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let mut bad = record.clone();
        let at = at.index(bad.len());
        bad[at] ^= xor;
        for result in [
            decode::<i64>(&key, &bad, Expect::default()).map(drop),
            decode::<String>(&key, &bad, Expect::default()).map(drop),
            decode::<(i64, String, Vec<i64>)>(&key, &bad, Expect::default()).map(drop),
        ] {
            prop_assert!(matches!(result, Err(Miss::Corrupt(_))), "byte {} ^ {:#x}: {:?}", at, xor, result);
        }
    }

    #[test]
    fn any_truncation_is_corrupt((key, record) in any_record(), keep in any::<prop::sample::Index>()) {
        let keep = keep.index(record.len());
        prop_assert!(parse(&record[..keep]).is_err());
        prop_assert!(!decodes_as_anything(&key, &record[..keep]));
        prop_assert!(matches!(decode::<i64>(&key, &record[..keep], Expect::default()), Err(Miss::Corrupt(_))));
    }

    #[test]
    fn appended_bytes_are_corrupt((key, record) in any_record(), extra in vec(any::<u8>(), 1..64)) {
        let mut longer = record.clone();
        longer.extend(extra);
        prop_assert!(parse(&longer).is_err());
        prop_assert!(!decodes_as_anything(&key, &longer));
    }

    #[test]
    fn scattered_changes_never_decode_to_another_value(key in "\\PC{0,20}", value in "\\PC{0,40}", changes in vec((any::<prop::sample::Index>(), 1u8..=255), 1..8)) {
        let record = encode(&key, &value, 0, [0; 16]).unwrap();
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

    /// A header changed with a matching checksum (a bug, not bit rot) still never yields a
    /// value other than the one written.
    #[test]
    fn resealed_header_changes_never_give_another_value(key in "\\PC{0,20}", value in any::<i64>(), at in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let record = encode(&key, &value, 0, [0; 16]).unwrap();
        let header = 47 + parse(&record).unwrap().type_name.len() + key.len(); // all before `N`
        let mut bad = record.clone();
        bad[at.index(header)] ^= xor;
        reseal(&mut bad);
        if let Ok(decoded) = decode::<i64>(&key, &bad, Expect::default()) {
            prop_assert_eq!(decoded, value);
        }
        // an `i64` payload also decodes as a `u64`: only the header tells them apart
        prop_assert!(decode::<u64>(&key, &bad, Expect::default()).is_err());
    }

    /// A payload with a byte too many (checksum and length fixed) is refused.
    #[test]
    fn trailing_payload_bytes_are_corrupt(key in "\\PC{0,20}", value in any::<u32>(), extra in any::<u8>()) {
        let record = encode(&key, &value, 0, [0; 16]).unwrap();
        let view = parse(&record).unwrap();
        let len_at = 47 + view.type_name.len() + key.len();
        let n = view.payload.len();
        let mut longer = record[..record.len() - 4].to_vec();
        longer.push(extra);
        longer[len_at..len_at + 4].copy_from_slice(&u32::try_from(n + 1).unwrap().to_le_bytes());
        longer.extend([0; 4]);
        reseal(&mut longer);
        prop_assert!(parse(&longer).is_ok(), "structurally valid");
        let result = decode::<u32>(&key, &longer, Expect::default());
        prop_assert!(matches!(&result, Err(Miss::Corrupt(why)) if why.contains("trailing")), "{:?}", result);
    }

    /// Random payloads with a valid frame never panic the decoder.
    #[test]
    fn random_payloads_in_a_valid_frame_never_panic(payload in vec(any::<u8>(), 0..64)) {
        let record = encode("k", &Point { x: 0, y: 0, label: String::new(), tags: vec![], parent: None }, 0, [0; 16]).unwrap();
        let view = parse(&record).unwrap();
        let len_at = 47 + view.type_name.len() + 1;
        let mut framed = record[..len_at].to_vec();
        framed.extend(u32::try_from(payload.len()).unwrap().to_le_bytes());
        framed.extend(&payload);
        framed.extend([0; 4]);
        reseal(&mut framed);
        let _ = decode::<Point>("k", &framed, Expect::default());
    }

    #[test]
    fn a_record_read_under_another_key_is_corrupt(k1 in "\\PC{0,30}", k2 in "\\PC{0,30}", v in any::<i32>()) {
        prop_assume!(k1 != k2);
        let record = encode(&k1, &v, 0, [0; 16]).unwrap();
        prop_assert!(matches!(decode::<i32>(&k2, &record, Expect::default()), Err(Miss::Corrupt(_))));
    }

    #[test]
    fn a_record_read_as_another_type_is_type_changed(v in any::<i32>(), s in any::<String>()) {
        let record = encode("k", &v, 0, [0; 16]).unwrap();
        prop_assert_eq!(
            decode::<u32>("k", &record, Expect::default()),
            Err(Miss::TypeChanged { stored: "i32".into(), expected: "u32".into() })
        );
        let record = encode("k", &s, 0, [0; 16]).unwrap();
        let as_bytes = decode::<Vec<u8>>("k", &record, Expect::default());
        prop_assert!(matches!(as_bytes, Err(Miss::TypeChanged { .. })), "{:?}", as_bytes);
    }

    #[test]
    fn versions_and_input_fingerprints_are_checked_when_asked(stored in any::<u32>(), asked in any::<u32>(), fp in any::<[u8; 16]>(), other_fp in any::<[u8; 16]>()) {
        let record = encode("k", &1u8, stored, fp).unwrap();
        let by_version = decode::<u8>("k", &record, Expect { task_version: Some(asked), input_fingerprint: None });
        if stored == asked {
            prop_assert_eq!(by_version, Ok(1));
        } else {
            prop_assert_eq!(by_version, Err(Miss::VersionChanged { stored, expected: asked }));
        }
        let by_inputs = decode::<u8>("k", &record, Expect { task_version: None, input_fingerprint: Some(other_fp) });
        if fp == other_fp {
            prop_assert_eq!(by_inputs, Ok(1));
        } else {
            prop_assert_eq!(by_inputs, Err(Miss::InputsChanged));
        }
    }
}
