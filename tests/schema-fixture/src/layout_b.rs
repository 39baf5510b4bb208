//! Layout B of the output types (built with the feature `b`): the types of layout A under
//! the same names and module path, edited the ways a program's types are edited.

use serde::{Deserialize, Serialize};

/// A price, its fields reordered: gross first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// With tax.
    pub gross: f64,
    /// Without tax.
    pub net: f64,
}

/// A count, its integer type changed to unsigned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Count(pub u32);

/// A side, its variants reordered: `Sell` first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Side {
    /// Selling.
    Sell,
    /// Buying.
    Buy,
}

/// An order with a field added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Its number.
    pub id: u64,
    /// What to keep in mind.
    pub note: String,
}

/// The price this build writes.
pub fn price() -> Price {
    Price {
        gross: 2.5,
        net: 2.25,
    }
}

/// The count this build writes; read as layout A's `i32`, its bytes would be -4.
pub fn count() -> Count {
    Count(7)
}

/// The side this build writes; read as layout A, its bytes would be `Buy`.
pub fn side() -> Side {
    Side::Sell
}

/// The order this build writes; layout A would find a byte too many.
pub fn order() -> Order {
    Order {
        id: 10,
        note: "rush".to_owned(),
    }
}
