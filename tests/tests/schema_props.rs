//! Property tests of the schema check of `duraflow::codec`: a record is a value only to a
//! type of the shape it was written with; to any other it is a miss naming both shapes.
//! (Two builds of one program, the way the check is met in use: schema_change.rs.)

use duraflow::codec::{decode, encode, parse, Expect, Miss, Stamp};
use proptest::prelude::*;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fmt::Debug;

/// The same type names as [`after`], in the layout a program had before an edit.
mod before {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Price {
        pub net: f64,
        pub gross: f64,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Count(pub i32);

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub enum Side {
        Buy,
        Sell,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Order {
        pub id: u64,
    }
}

/// [`before`] edited: fields reordered, an integer type changed, variants reordered, a field
/// added. postcard alone would decode most of these records as wrong values.
mod after {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Price {
        pub gross: f64,
        pub net: f64,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Count(pub u32);

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub enum Side {
        Sell,
        Buy,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Order {
        pub id: u64,
        pub note: String,
    }
}

/// `before::Price` moved to another module unchanged: the shape leaves out the module path.
mod moved {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Price {
        pub net: f64,
        pub gross: f64,
    }
}

/// Untagged enums: the tracer cannot describe them, so records of them are checked by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Loose {
    Number(i64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Either {
    Left(u8),
    Right(bool),
}

fn stamp() -> impl Strategy<Value = Stamp> {
    any::<(u32, u32, [u8; 16])>().prop_map(|(task_version, schema_version, input_fingerprint)| {
        Stamp {
            task_version,
            schema_version,
            input_fingerprint,
        }
    })
}

/// `value`'s record read as a `B` is a schema change naming the shape written and the
/// shape of `B`.
fn read_as<A, B>(value: &A, stored: &str, expected: &str) -> Result<(), TestCaseError>
where
    A: Serialize + DeserializeOwned + 'static,
    B: DeserializeOwned + PartialEq + Debug + 'static,
{
    let record = encode("k", value, Stamp::default()).unwrap();
    prop_assert_eq!(parse(&record).unwrap().shape, stored);
    prop_assert_eq!(
        decode::<B>("k", &record, Expect::default()),
        Err(Miss::SchemaChanged {
            stored: stored.to_owned(),
            expected: expected.to_owned()
        })
    );
    Ok(())
}

const PRICE_BEFORE: &str = "Price; Price { net: f64, gross: f64 }";
const PRICE_AFTER: &str = "Price; Price { gross: f64, net: f64 }";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_record_read_as_another_shape_is_a_schema_change_naming_both(v in any::<i32>(), s in any::<String>(), net in any::<f64>(), gross in any::<f64>()) {
        read_as::<i32, u32>(&v, "i32", "u32")?;
        read_as::<i32, i64>(&v, "i32", "i64")?;
        read_as::<String, Vec<u8>>(&s, "str", "[u8]")?;
        read_as::<Option<i32>, i32>(&Some(v), "Option<i32>", "i32")?;
        read_as::<before::Price, before::Side>(&before::Price { net, gross }, PRICE_BEFORE, "Side; Side { Buy, Sell }")?;
    }

    /// The same type name in two layouts, both directions; postcard alone would return
    /// swapped prices, the other side, or a reinterpreted count.
    #[test]
    fn an_edited_type_is_a_schema_change_naming_both_layouts(net in any::<f64>(), gross in any::<f64>(), count in any::<i32>(), buy in any::<bool>(), id in any::<u64>(), note in "\\PC{0,20}") {
        read_as::<before::Price, after::Price>(&before::Price { net, gross }, PRICE_BEFORE, PRICE_AFTER)?;
        read_as::<after::Price, before::Price>(&after::Price { gross, net }, PRICE_AFTER, PRICE_BEFORE)?;
        read_as::<before::Count, after::Count>(&before::Count(count), "Count; Count(i32)", "Count; Count(u32)")?;
        read_as::<after::Count, before::Count>(&after::Count(count.unsigned_abs()), "Count; Count(u32)", "Count; Count(i32)")?;
        let (side_before, side_after) = if buy { (before::Side::Buy, after::Side::Buy) } else { (before::Side::Sell, after::Side::Sell) };
        read_as::<before::Side, after::Side>(&side_before, "Side; Side { Buy, Sell }", "Side; Side { Sell, Buy }")?;
        read_as::<after::Side, before::Side>(&side_after, "Side; Side { Sell, Buy }", "Side; Side { Buy, Sell }")?;
        read_as::<before::Order, after::Order>(&before::Order { id }, "Order; Order { id: u64 }", "Order; Order { id: u64, note: str }")?;
        read_as::<after::Order, before::Order>(&after::Order { id, note }, "Order; Order { id: u64, note: str }", "Order; Order { id: u64 }")?;
    }

    /// The check is by shape, not by type name: a type moved to another module unchanged
    /// still reads its records.
    #[test]
    fn a_type_moved_unchanged_reads_its_records(net in proptest::num::f64::NORMAL, gross in proptest::num::f64::NORMAL, stamp in stamp()) {
        let record = encode("k", &before::Price { net, gross }, stamp).unwrap();
        let expect = Expect { schema_version: stamp.schema_version, ..Expect::default() };
        prop_assert_eq!(decode::<moved::Price>("k", &record, expect), Ok(moved::Price { net, gross }));
    }

    #[test]
    fn the_schema_fingerprint_depends_on_the_shape_only(k1 in "\\PC{0,20}", k2 in "\\PC{0,20}", prices in any::<[f64; 4]>(), s1 in stamp(), s2 in stamp()) {
        let fingerprint = |record: Vec<u8>| parse(&record).unwrap().schema_fingerprint;
        let [net, gross, other_net, other_gross] = prices;
        let price = fingerprint(encode(&k1, &before::Price { net, gross }, s1).unwrap());
        prop_assert_eq!(price, fingerprint(encode(&k2, &before::Price { net: other_net, gross: other_gross }, s2).unwrap()));
        prop_assert_eq!(price, fingerprint(encode(&k2, &moved::Price { net, gross }, s2).unwrap()));
        prop_assert_ne!(price, fingerprint(encode(&k1, &after::Price { gross, net }, s1).unwrap()));
        prop_assert_ne!(price, fingerprint(encode(&k1, &before::Side::Buy, s1).unwrap()));
        prop_assert_ne!(price, fingerprint(encode(&k1, &Loose::Number(1), s1).unwrap()));
    }

    /// Types the tracer cannot describe are checked by type name, against each other and
    /// against traced types.
    #[test]
    fn untraced_types_are_checked_by_name(number in any::<i64>(), text in "\\PC{0,20}") {
        let loose_name = std::any::type_name::<Loose>();
        for value in [Loose::Number(number), Loose::Text(text.clone())] {
            let record = encode("k", &value, Stamp::default()).unwrap();
            let view = parse(&record).unwrap();
            prop_assert_eq!((view.type_name, view.shape), (loose_name, ""));
            prop_assert_eq!(
                decode::<Either>("k", &record, Expect::default()),
                Err(Miss::TypeChanged { stored: loose_name.to_owned(), expected: std::any::type_name::<Either>().to_owned() })
            );
            let as_traced = decode::<i64>("k", &record, Expect::default());
            prop_assert!(
                matches!(&as_traced, Err(Miss::SchemaChanged { stored, expected }) if stored.contains(loose_name) && expected == "i64"),
                "{:?}", as_traced
            );
        }
        // A bumped schema version is the only check an untraced type has: a schema change.
        let record = encode("k", &Loose::Number(number), Stamp::default()).unwrap();
        let bumped = decode::<Loose>("k", &record, Expect { schema_version: 1, ..Expect::default() });
        prop_assert!(
            matches!(&bumped, Err(Miss::SchemaChanged { stored, expected }) if stored.contains("not traced") && expected.ends_with("(schema 1)")),
            "{:?}", bumped
        );
        let record = encode("k", &number, Stamp::default()).unwrap();
        let as_untraced = decode::<Loose>("k", &record, Expect::default());
        prop_assert!(
            matches!(&as_untraced, Err(Miss::SchemaChanged { stored, expected }) if stored == "i64" && expected.contains(loose_name)),
            "{:?}", as_untraced
        );
    }
}
