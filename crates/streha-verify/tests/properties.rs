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

mod forge;

use forge::{Forgery, Honest, steps};
use streha_verify::render_text;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Issue 15: a random federation played by honest nodes (every disclosure decided by the
    /// policy, refusals logged, deliveries received and receipted, witnesses cosigning)
    /// verifies with no finding at the DPO's options.
    #[test]
    fn random_valid_federations_verify_clean(history in steps()) {
        let fed = Honest::play(&history);
        let report = fed.report();
        prop_assert!(report.is_clean(), "{:?}\n{}", history, render_text(&report));
    }

    /// Issue 15: any single forgery of any class, written by a node's operator with its own
    /// key (two, colluding) into a random valid federation, is caught with its exact
    /// finding.
    #[test]
    fn any_single_forgery_is_caught(history in steps(), class in 0..Forgery::ALL.len(), salt in 0u8..16) {
        let mut fed = Honest::play(&history);
        let class = Forgery::ALL[class];
        let forged = class.apply(&mut fed, salt);
        let report = forged.report(&fed);
        prop_assert!(!report.is_clean(), "{:?} on {:?}\n{}", class, history, render_text(&report));
        for expected in &forged.expected {
            let hit = report.findings.iter().chain(&report.notes).any(|f| {
                f.rule == expected.rule
                    && f.node == expected.node
                    && f.severity == expected.severity
                    && f.article == expected.article
                    && (expected.entry.is_none() || f.entry_index == expected.entry)
            });
            prop_assert!(hit, "{:?}: expected {:?}\n{}", class, expected, render_text(&report));
        }
    }
}
