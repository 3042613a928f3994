//! The canary's weight: per mille of new requests, 0..=1000.
//!
//! Weights travel as bare `u16` on the wire and in the state file (the JSON
//! stays as it is), but every place that must make one valid goes through
//! [`Permille`]: a weight over 100 % is clamped or refused in one place, and
//! stable's share is computed in one place.

/// A canary weight that is never above 1000 ‰.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permille(u16);

impl Permille {
    pub const ZERO: Permille = Permille(0);
    pub const FULL: Permille = Permille(1000);

    /// `value` if it is a weight (0..=1000), else `None` (to refuse).
    pub fn new(value: u16) -> Option<Permille> {
        (value <= 1000).then_some(Permille(value))
    }

    /// The nearest weight to `value`: below 0 is 0, above 1000 is 1000.
    pub fn clamped(value: i64) -> Permille {
        Permille(value.clamp(0, 1000) as u16)
    }

    pub fn get(self) -> u16 {
        self.0
    }

    /// Stable's share when the canary has this one.
    pub fn stable_share(self) -> u16 {
        1000 - self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_made_valid_in_one_place() {
        assert_eq!(Permille::new(1000), Some(Permille::FULL));
        assert_eq!(Permille::new(1001), None);
        assert_eq!(Permille::clamped(-5), Permille::ZERO);
        assert_eq!(Permille::clamped(4000).get(), 1000);
        assert_eq!(Permille::clamped(250).stable_share(), 750);
    }
}
