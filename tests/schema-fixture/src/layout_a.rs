//! Layout A of the output types (built without the feature `b`).

use serde::{Deserialize, Serialize};

/// A price, net first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// Without tax.
    pub net: f64,
    /// With tax.
    pub gross: f64,
}

/// A signed count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Count(pub i32);

/// A side, `Buy` first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Side {
    /// Buying.
    Buy,
    /// Selling.
    Sell,
}

/// An order without a note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Its number.
    pub id: u64,
}

/// The price this build writes. Its bytes read as layout B would be a price with net and
/// gross swapped.
pub fn price() -> Price {
    Price {
        net: 1.5,
        gross: 1.75,
    }
}

/// The count this build writes; read as layout B's `u32`, its bytes would be 5.
pub fn count() -> Count {
    Count(-3)
}

/// The side this build writes; read as layout B, its bytes would be `Sell`.
pub fn side() -> Side {
    Side::Buy
}

/// The order this build writes; layout B would find its note missing.
pub fn order() -> Order {
    Order { id: 9 }
}
