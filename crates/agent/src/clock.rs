//! Wall-clock timestamps for task statuses (the model reads no clock itself).

use flotilla_model::Timestamp;
use std::time::{SystemTime, UNIX_EPOCH};

/// Now, as the model's [`Timestamp`] (nanoseconds since the epoch; 0 if the clock is before it).
pub fn now() -> Timestamp {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Timestamp(nanos)
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_after_2020() {
        assert!(super::now().as_secs() > 1_577_836_800);
    }
}
