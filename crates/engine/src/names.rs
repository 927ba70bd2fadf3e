//! Generated container names, `adjective_noun` as Docker's, from lists of our own (sailing
//! words, for a flotilla).

const ADJECTIVES: &[&str] = &[
    "agile", "amber", "bold", "brave", "bright", "calm", "clever", "crisp", "daring", "eager",
    "fair", "fleet", "gentle", "glad", "hardy", "keen", "lively", "lucky", "merry", "nimble",
    "proud", "quick", "quiet", "rapid", "sharp", "silent", "steady", "stout", "swift", "tidy",
    "trusty", "vivid", "wise", "zesty",
];

const NOUNS: &[&str] = &[
    "anchor", "beacon", "brig", "buoy", "cutter", "dinghy", "dory", "frigate", "galleon", "harbor",
    "helm", "jib", "keel", "ketch", "lantern", "mast", "pilot", "rudder", "schooner", "sextant",
    "skiff", "sloop", "spar", "tiller", "trawler", "wake", "yawl",
];

/// A random `adjective_noun`.
pub fn generate() -> String {
    let a = ADJECTIVES[rand::random_range(0..ADJECTIVES.len())];
    let n = NOUNS[rand::random_range(0..NOUNS.len())];
    format!("{a}_{n}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_have_two_words() {
        let n = super::generate();
        assert_eq!(n.split('_').count(), 2);
    }
}
