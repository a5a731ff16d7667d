//! The roster versions the verifier can check: the one supplied, any others supplied, and the
//! signed roster notes the bundles carry (the versions their nodes adopted), each opened with
//! the national authority's roster key (`spec/verification.md` §1, V2.9).
//!
//! A node logs every roster it adopts as a `roster_changed` entry naming its version and the
//! BLAKE3 hash of the signed note; the replay judges each entry under the version in force at
//! its position, found here by version and hash.

use std::collections::BTreeMap;

use streha_audit::LogBundle;
use streha_wire::Roster;

use crate::finding::{Finding, Rule};
use crate::report::RosterUsed;
use crate::verify::VerifyOptions;

/// The checked roster versions.
pub(crate) struct RosterSet {
    /// Distinct rosters (by hash), oldest version first.
    pub(crate) rosters: Vec<Roster>,
    /// Each roster's hash (BLAKE3 of its signed note), if it has its note.
    pub(crate) hashes: Vec<Option<[u8; 32]>>,
    /// Where each came from: `supplied`, or `bundle of <agency>`.
    pub(crate) sources: Vec<Vec<String>>,
    /// The roster the caller gave (`verify`'s argument).
    pub(crate) supplied: usize,
}

/// BLAKE3 of a roster's signed note, as `roster_changed` entries record it.
pub(crate) fn roster_hash(roster: &Roster) -> Option<[u8; 32]> {
    roster
        .signed_note()
        .map(|note| *blake3::hash(note.as_bytes()).as_bytes())
}

impl RosterSet {
    /// Collects the supplied rosters and the bundles' carried notes. A carried note is
    /// trusted only if it is one of the supplied rosters (same hash) or opens with the
    /// roster key of `options`; one that does not is a `roster_not_signed` warning.
    pub(crate) fn build(
        supplied: &Roster,
        options: &VerifyOptions,
        bundles: &[LogBundle],
        findings: &mut Vec<Finding>,
    ) -> Self {
        let mut set = Self {
            rosters: Vec::new(),
            hashes: Vec::new(),
            sources: Vec::new(),
            supplied: 0,
        };
        set.supplied = set.add(supplied.clone(), "supplied");
        for roster in &options.rosters {
            if roster.federation() == supplied.federation() {
                set.add(roster.clone(), "supplied");
            }
        }
        for bundle in bundles {
            let name = bundle
                .origin
                .rsplit('/')
                .next()
                .unwrap_or(&bundle.origin)
                .to_owned();
            for (position, note) in bundle.rosters.iter().enumerate() {
                let source = format!("bundle of {name}");
                let hash = *blake3::hash(note.as_bytes()).as_bytes();
                if let Some(known) = set.hashes.iter().position(|h| *h == Some(hash)) {
                    if !set.sources[known].contains(&source) {
                        set.sources[known].push(source);
                    }
                    continue;
                }
                let Some(key) = &options.roster_key else {
                    // Without the roster key a roster other than the supplied ones cannot be
                    // checked; an entry decided under it is `roster_unverifiable` (V2.9).
                    continue;
                };
                match Roster::open(note, key) {
                    Ok(roster) if roster.federation() == supplied.federation() => {
                        set.add(roster, &source);
                    }
                    Ok(roster) => findings.push(Finding::new(
                        Rule::RosterNotSigned,
                        &name,
                        format!(
                            "roster note {position} of the bundle is for federation `{}`, not `{}`; ignored",
                            roster.federation(),
                            supplied.federation()
                        ),
                    )),
                    Err(e) => findings.push(Finding::new(
                        Rule::RosterNotSigned,
                        &name,
                        format!(
                            "roster note {position} of the bundle (hash {}) does not open with the roster key: {e}; ignored",
                            hex::encode(hash)
                        ),
                    )),
                }
            }
        }
        set
    }

    fn add(&mut self, roster: Roster, source: &str) -> usize {
        let hash = roster_hash(&roster);
        if let Some(known) = self
            .rosters
            .iter()
            .zip(&self.hashes)
            .position(|(r, h)| *h == hash && r.version() == roster.version())
        {
            if !self.sources[known].iter().any(|s| s == source) {
                self.sources[known].push(source.to_owned());
            }
            return known;
        }
        self.rosters.push(roster);
        self.hashes.push(hash);
        self.sources.push(vec![source.to_owned()]);
        self.rosters.len() - 1
    }

    /// The roster a `roster_changed` entry names, if the verifier holds it.
    pub(crate) fn find(&self, version: u64, hash: &[u8; 32]) -> Option<usize> {
        (0..self.rosters.len()).find(|&i| {
            self.rosters[i].version() == version && self.hashes[i].is_none_or(|h| h == *hash)
        })
    }

    /// Whether the verifier holds another document of `version`.
    pub(crate) fn has_version(&self, version: u64) -> Option<usize> {
        (0..self.rosters.len()).find(|&i| self.rosters[i].version() == version)
    }

    /// The rosters newest first (for the keys of logs: an agency's newest entry).
    pub(crate) fn newest_first(&self) -> Vec<&Roster> {
        let mut order: Vec<&Roster> = self.rosters.iter().collect();
        order.sort_by_key(|r| std::cmp::Reverse(r.version()));
        order
    }

    /// For the report: every roster version, oldest first.
    pub(crate) fn used(&self) -> Vec<RosterUsed> {
        let mut by_version: BTreeMap<(u64, String), RosterUsed> = BTreeMap::new();
        for (i, roster) in self.rosters.iter().enumerate() {
            let hash = self.hashes[i].map(hex::encode).unwrap_or_default();
            by_version.insert(
                (roster.version(), hash.clone()),
                RosterUsed {
                    version: roster.version(),
                    hash,
                    issued_at: roster.issued_at().to_string(),
                    agencies: roster.agencies().len(),
                    clauses: roster.agreement().clauses().len(),
                    sources: self.sources[i].clone(),
                },
            );
        }
        by_version.into_values().collect()
    }
}
