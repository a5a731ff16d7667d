//! Streha's offline verifier: what a data-protection officer runs to prove, trusting no node,
//! that every disclosure in the federation's audit logs followed Law No. 04/L-218.
//!
//! Input: the nodes' exported log bundles ([`LogBundle`](streha_audit::LogBundle)) and the
//! roster signed by the national authority ([`Roster`](streha_wire::Roster), opened with the
//! roster key). [`verify`] checks, in the order of `spec/verification.md`:
//!
//! - **V1, each log**: it belongs to a roster agency (by origin); every checkpoint is signed
//!   by that node's identity key; witness cosignatures (`cosignature/v1`) verify under other
//!   nodes' keys and are counted; the tree recomputed from the entries has every signed root;
//!   checkpoints are consistent, and no two of one size differ (a fork); entries decode;
//!   their times keep to their log order within the clock skew.
//! - **V2, the policy replayed**: subjects and consents rebuilt from each log's own events,
//!   under the roster version in force at each entry (the signed roster notes the bundles
//!   carry, checked with the roster key), and [`streha_core::decide`] called again at each
//!   disclosure's time — no protection
//!   category ever left, every consent for a child came from a registered representative, no
//!   revoked or expired consent was used, every urgent-danger disclosure had two approvers,
//!   the logged basis is the replayed one.
//! - **V3, the logs against each other**: every `received` has its `disclosed`, every
//!   `receipt` names the receiver's `received` in the receiver's tree, every disclosure is
//!   accounted for; the other side's signatures each log keeps (the sender's envelope
//!   signature and checkpoint in `received`, the receiver's checkpoint in `receipt`) verify,
//!   and every checkpoint so kept is in its node's bundle — so a disagreement names the
//!   false log.
//!
//! Output: a [`Report`] of [`Finding`]s (node, entry, [`Rule`], article, what was seen) and
//! notes, per-node summaries and the disclosures over time, rendered as text
//! ([`render_text`]), JSON ([`render_json`]) or one self-contained HTML page
//! ([`render_html`]). [`subject_view`] answers "who received what about me" without ever
//! pointing to a shelter or protector (Art. 18.4). [`prove_from_bundle`] and [`check_proof`]
//! write and check one entry's C2SP `tlog-proof`.
//!
//! What it does not do: read files, open sockets or read a clock (the CLI `streha audit`
//! does the IO); trust any node (every claim is checked against the roster's keys and the
//! other logs); see record content (logs hold none). What it cannot check is listed in
//! `spec/verification.md` §4.
//!
//! ```text
//!  bundles ──V1 integrity──▶ CheckedLog ──V2 replay (decide)──▶ Replayed ──V3 matching──▶ Report
//!  roster  ──node keys, officer keys, roles, agreement ─────────────┘                   │
//!                                                         render_text / render_json / render_html
//! ```
//!
//! # Example
//!
//! ```
//! use streha_audit::{Checkpoint, LogBundle, MemoryTree, NoteSigner, sign_checkpoint};
//! use streha_core::{AgeStatus, AgencyId, AuditEntry, ExchangeAgreement, Role, SubjectId, Timestamp};
//! use streha_crypto::{
//!     AgencyEncryptionSecretKey, AgencySigningSecretKey, NodeIdentitySecretKey, RosterSecretKey,
//! };
//! use streha_verify::{VerifyOptions, render_text, verify};
//! use streha_wire::{AgencyEntry, Roster};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The roster the national authority signed (demo keys from fixed seeds).
//! let roster_key = RosterSecretKey::from_seed_bytes([1; 32]);
//! let node_key = NodeIdentitySecretKey::from_seed_bytes([2; 32]);
//! let police = AgencyEntry {
//!     id: AgencyId::new("police")?,
//!     role: Role::Police,
//!     address: "127.0.0.1:7401".into(),
//!     node_key: node_key.public_key(),
//!     signing_key: AgencySigningSecretKey::from_seed_bytes([3; 32]).public_key(),
//!     encryption_key: AgencyEncryptionSecretKey::from_seed_bytes([4; 32]).public_key(),
//!     officers: vec![],
//! };
//! let signed = Roster::new("demo.example", 1, Timestamp(0), vec![police], ExchangeAgreement::new(vec![])?)?
//!     .sign(&roster_key)?;
//! let roster = Roster::open(&signed, &roster_key.public_key())?;
//!
//! // The police node's log: one entry and the checkpoint its node key signed.
//! let origin = roster.agencies()[0].log_origin(roster.federation());
//! let entry = AuditEntry::SubjectRegistered {
//!     subject: SubjectId::from_bytes([7; 16]),
//!     age_status: AgeStatus::PresumedChild,
//!     at: Timestamp(1_750_000_000_000),
//! }
//! .encode();
//! let tree = MemoryTree::from_entries([&entry]);
//! let signer = NoteSigner::new(&origin, node_key.as_dalek().clone())?;
//! let note = sign_checkpoint(&Checkpoint::new(origin.as_str(), 1, tree.root())?, &signer);
//! let bundle = LogBundle::new(origin, vec![entry], vec![note.to_text()]);
//!
//! let report = verify(&[bundle], &roster, &VerifyOptions::default());
//! assert!(report.is_clean(), "{}", render_text(&report));
//! assert_eq!(report.nodes[0].signed_size, 1);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod batch;
mod borrowed;
mod cross;
mod directory;
mod epochs;
mod evidence;
mod finding;
mod integrity;
mod proof;
mod render;
mod replay;
mod report;
mod rosters;
mod subject;
mod times;
mod verify;
mod witnessed;

pub use crate::finding::{Finding, Rule, Severity};
pub use crate::proof::{ProofCheck, ProveError, check_proof, prove_from_bundle};
pub use crate::render::{
    render_html, render_json, render_subject_json, render_subject_text, render_text,
};
pub use crate::report::{
    CheckpointSummary, ConsentRefusalRow, ConsentRow, DisclosureRow, InputFile, InputKind,
    NodeSummary, OptionsUsed, REPORT_FORMAT, RefusalRow, Report, ReportMeta, RosterUsed, Timeline,
    TimelineBucket, Totals, WitnessSummary,
};
pub use crate::subject::{
    SHOWN_ROLES, SUBJECT_VIEW_FORMAT, SUBJECT_VIEW_NOTICE, SubjectDisclosure, SubjectView,
    subject_view,
};
pub use crate::verify::{VerifyOptions, verify};

/// For the benchmarks only (`benches/forks.rs`): not part of the API.
#[doc(hidden)]
pub mod __bench {
    use streha_audit::Hash;

    use crate::integrity::{SignedHead, forks};

    /// The V1.5 fork check over signed heads `(size, root)`: how many forks it finds.
    #[must_use]
    pub fn fork_check(heads: &[(u64, [u8; 32])]) -> usize {
        let heads: Vec<SignedHead> = heads
            .iter()
            .enumerate()
            .map(|(i, (size, root))| SignedHead {
                checkpoint_index: i,
                size: *size,
                root: Hash::from_bytes(*root),
            })
            .collect();
        forks(&heads).len()
    }
}

/// The crates whose types this API takes, re-exported so that a caller (the CLI) needs only
/// this one: bundles and proofs ([`streha_audit`]), the roster ([`streha_wire`]), ids
/// ([`streha_core`]) and the roster key ([`streha_crypto`]).
pub mod deps {
    pub use streha_audit;
    pub use streha_core;
    pub use streha_crypto;
    pub use streha_wire;
}
