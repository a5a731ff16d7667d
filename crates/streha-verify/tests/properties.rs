//! Untrusted input never panics the verifier: arbitrary proof text, and bundles with bytes
//! flipped anywhere.

mod common;

use common::*;
use proptest::prelude::*;
use streha_verify::{VerifyOptions, check_proof, subject_view, verify};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn checking_arbitrary_proof_text_never_panics(text in "\\PC{0,300}", entry in any::<Vec<u8>>()) {
        let fed = Fed::new();
        let _ = check_proof(&text, &entry, &fed.roster, 0);
        let _ = check_proof(&format!("c2sp.org/tlog-proof@v1\nindex 0\n\n{text}"), &entry, &fed.roster, 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn flipped_bundle_bytes_never_panic(flips in proptest::collection::vec((0usize..4, any::<usize>(), any::<u8>()), 1..6)) {
        let fed = Fed::demo();
        let mut bundles = fed.bundles();
        let count = bundles.len();
        for (n, (which, at, byte)) in flips.into_iter().enumerate() {
            // The first flip always changes an entry, so the report cannot be clean.
            let b = &mut bundles[which % count];
            if n > 0 && which == 3 && !b.checkpoints.is_empty() {
                let i = at % b.checkpoints.len();
                let mut raw = b.checkpoints[i].clone().into_bytes();
                let j = at % raw.len();
                raw[j] = byte;
                b.checkpoints[i] = String::from_utf8_lossy(&raw).into_owned();
            } else if !b.entries.is_empty() {
                let i = at % b.entries.len();
                let e = &mut b.entries[i];
                let j = at % e.len().max(1);
                if let Some(x) = e.get_mut(j) {
                    *x ^= byte | 1;
                }
            }
        }
        let report = verify(&bundles, &fed.roster, &VerifyOptions::default());
        prop_assert!(!report.is_clean());
        let _ = subject_view(&bundles, &fed.roster, SUBJECT_ADULT);
    }
}
