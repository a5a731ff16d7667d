//! Issue 15, points 1–3: a node's operator who holds the node's own identity key (and, as an
//! agency, its own signing key, never another agency's) writes a log that is internally
//! consistent — every entry encodes, the tree is right, every checkpoint is signed again —
//! but false about a disclosure. The evidence the other side's log keeps (`received`: the
//! sender's envelope signature and signed checkpoint; `receipt`: the receiver's signed
//! checkpoint) exposes it, and the finding says which side's log is false.
//!
//! Each test asserts the exact finding — code, severity, article, node, entry — and that the
//! honest side is not blamed.

mod common;

use common::*;
use streha_audit::{Checkpoint, Hash, MemoryTree, SignedNote};
use streha_core::{AuditEntry, Category, DisclosureHeader, Purpose, Timestamp};
use streha_verify::{Finding, Report, Rule, Severity, VerifyOptions, render_text, verify};
use streha_wire::peer::KeptCheckpoint;

fn run(fed: &Fed) -> Report {
    verify(&fed.bundles(), &fed.roster, &VerifyOptions::default())
}

/// The only finding of the report (the honest side is not blamed, nothing else fires).
#[track_caller]
fn only_finding(report: &Report) -> &Finding {
    assert_eq!(
        report.findings.len(),
        1,
        "expected exactly one finding; got:\n{}",
        render_text(report)
    );
    &report.findings[0]
}

#[track_caller]
fn assert_finding(f: &Finding, rule: Rule, node: &str, index: Option<u64>) {
    assert_eq!(f.rule, rule, "{f}");
    assert_eq!(f.severity, rule.severity(), "{f}");
    assert_eq!(f.article, rule.article(), "{f}");
    assert_eq!(f.node, node, "{f}");
    assert_eq!(f.entry_index, index, "{f}");
}

/// The sizes of a node's checkpoints, in bundle order.
fn checkpoint_sizes(node: &Node) -> Vec<u64> {
    node.checkpoints
        .iter()
        .map(|text| {
            Checkpoint::parse_body(SignedNote::parse(text).unwrap().body())
                .unwrap()
                .size()
        })
        .collect()
}

/// The operator replaces its log's entries with `entries` and signs every checkpoint again
/// over the new tree, at the sizes it had signed (those that still fit): an internally
/// consistent log, as only the holder of the node key can make.
fn resign(node: &mut Node, entries: Vec<Vec<u8>>) {
    let sizes = checkpoint_sizes(node);
    node.tree = MemoryTree::from_entries(&entries);
    node.entries = entries;
    node.checkpoints.clear();
    let size = node.tree.size();
    for s in sizes.into_iter().filter(|s| *s <= size) {
        let root = node.tree.root_at(s).unwrap();
        let text = node.signed_checkpoint(s, root);
        node.checkpoints.push(text);
    }
    if checkpoint_sizes(node).last() != Some(&size) {
        node.sign();
    }
}

/// The operator exports only the first `len` entries, with checkpoints signed for them.
fn export_prefix(node: &mut Node, len: usize) {
    let entries = node.entries[..len].to_vec();
    resign(node, entries);
}

/// The operator rewrites entry `index` as `entry` and signs everything again.
fn rewrite(node: &mut Node, index: u64, entry: &AuditEntry) {
    let mut entries = node.entries.clone();
    entries[usize::try_from(index).unwrap()] = entry.encode();
    resign(node, entries);
}

/// A fresh disclosure from police to the centre for social work, under the agreement.
fn header(fed: &Fed, id: u8, day: u64) -> DisclosureHeader {
    fed.header(
        id,
        POLICE,
        CSW,
        SUBJECT_ADULT,
        &[Category::Identity, Category::Referral],
        Purpose::Assistance,
        None,
        t(day * DAY),
    )
}

/// The demo with one more disclosure from police to the centre, delivered, and its indices:
/// the police's `disclosed` and `receipt`, the centre's `received`.
fn delivered() -> (Fed, DisclosureHeader, u64, u64, u64) {
    let mut fed = Fed::demo();
    let h = header(&fed, 0x60, 13);
    let disclosed = fed.disclose(&h, agreement(&["csw-referral"]));
    fed.deliver(&h, agreement(&["csw-referral"]), disclosed);
    let received = fed.nodes[CSW].tree.size() - 1;
    let receipt = fed.nodes[POLICE].tree.size() - 1;
    assert!(run(&fed).is_clean(), "{}", render_text(&run(&fed)));
    (fed, h, disclosed, received, receipt)
}

// ---------------------------------------------------------------------------------------
// 15.1: the sender's `disclosed`, proven by the checkpoint the receiver kept
// ---------------------------------------------------------------------------------------

/// The sender hides a one-sided disclosure by exporting its log up to just before the
/// `disclosed` (re-signed, so the bundle is consistent on its own). Before the receiver kept
/// the sender's checkpoint this was a `counterpart_missing` note; now the checkpoint the
/// sender signed, kept in the receiver's `received`, shows the export is short.
#[test]
fn a_sender_that_exports_a_prefix_without_its_disclosed_is_caught() {
    let (mut fed, _, disclosed, received, _) = delivered();
    export_prefix(fed.node(POLICE), usize::try_from(disclosed).unwrap());
    let report = run(&fed);
    let f = only_finding(&report);
    assert_finding(f, Rule::TruncatedExport, POLICE, None);
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.article, "");
    assert_eq!(
        f.counterpart.as_deref(),
        Some(&*format!("{CSW}#{received}"))
    );
    assert!(
        f.seen.contains(&format!(
            "kept by `{CSW}` in its `received` entry {received}"
        )),
        "{}",
        f.seen
    );
    // Nothing blames the receiver, and the hidden disclosure is not a mere note.
    assert_eq!(report.with_rule(Rule::ReceivedWithoutDisclosed).count(), 0);
    assert_eq!(report.with_rule(Rule::CounterpartMissing).count(), 0);
}

/// The sender rewrites its `disclosed` into a `refused` of the same header (the log now
/// says the data never left) and signs every checkpoint again: its bundle no longer has the
/// root it signed for the checkpoint the receiver kept.
#[test]
fn a_sender_that_rewrites_its_disclosed_as_a_refusal_is_caught() {
    let (mut fed, h, disclosed, received, _) = delivered();
    let refusal = AuditEntry::Refused {
        header: h.clone(),
        reason: streha_core::RefusalReason::NotInAgreement {
            category: Category::Identity,
            role: streha_core::Role::CentreForSocialWork,
            purpose: Purpose::Assistance,
        },
        at: Timestamp(h.created_at.0 + 20),
    };
    rewrite(fed.node(POLICE), disclosed, &refusal);
    let report = run(&fed);
    let rewritten: Vec<_> = report.with_rule(Rule::RewrittenLog).collect();
    assert_eq!(rewritten.len(), 1, "{}", render_text(&report));
    assert_finding(rewritten[0], Rule::RewrittenLog, POLICE, None);
    assert_eq!(rewritten[0].severity, Severity::Critical);
    assert_eq!(
        rewritten[0].counterpart.as_deref(),
        Some(&*format!("{CSW}#{received}"))
    );
    // The receiver's log is not blamed: its evidence is the sender's own signatures.
    assert!(
        report.findings.iter().all(|f| f.node == POLICE),
        "{}",
        render_text(&report)
    );
}

/// A receiver that forges the sender's checkpoint (it holds only its own node key) to make
/// a `received` look proven: the kept checkpoint does not verify under the sender's key.
#[test]
fn a_receiver_that_forges_the_senders_checkpoint_is_caught() {
    let mut fed = Fed::demo();
    let h = header(&fed, 0x61, 13);
    let envelope = fed.envelope(&h);
    let police_size = fed.nodes[POLICE].tree.size();
    // A checkpoint of the police log that would hold a `disclosed` at its end, signed with
    // the centre's own node key (the only one it has).
    let forged = KeptCheckpoint {
        size: police_size + 1,
        root: [0x42; 32],
        signature: fed.nodes[CSW]
            .kept(police_size + 1, Hash::from_bytes([0x42; 32]))
            .signature,
    };
    let index = fed.node(CSW).commit(&[Fed::received_entry(
        &h,
        agreement(&["csw-referral"]),
        &envelope,
        police_size,
        forged,
        t(13 * DAY + 500),
    )]);
    let report = run(&fed);
    let f = only_finding(&report);
    assert_finding(f, Rule::ForgedCheckpointEvidence, CSW, Some(index));
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.article, "");
    assert!(f.seen.contains("this log is false"), "{}", f.seen);
}

/// A receiver keeps the sender's real latest checkpoint but names an index where the
/// sender's log holds no `disclosed` of this envelope: since the sender's bundle has the
/// root it signed, the receiver's claim is false.
#[test]
fn a_receiver_that_names_a_false_index_under_a_real_checkpoint_is_caught() {
    let mut fed = Fed::demo();
    let h = header(&fed, 0x62, 13);
    let index = fed.orphan_received(&h, agreement(&["csw-referral"]), t(13 * DAY + 500));
    let report = run(&fed);
    let f = only_finding(&report);
    assert_finding(f, Rule::ReceivedWithoutDisclosed, CSW, Some(index));
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.article, "Art. 18.2");
    assert!(
        f.seen.contains("the receiver's evidence is false"),
        "{}",
        f.seen
    );
}

/// A receiver whose kept sender checkpoint cannot hold the index it names.
#[test]
fn a_received_naming_an_index_outside_the_kept_checkpoint_is_caught() {
    let mut fed = Fed::demo();
    let h = header(&fed, 0x63, 13);
    let envelope = fed.envelope(&h);
    let kept = fed.nodes[POLICE].kept_checkpoint();
    let index = fed.node(CSW).commit(&[Fed::received_entry(
        &h,
        agreement(&["csw-referral"]),
        &envelope,
        kept.size,
        kept,
        t(13 * DAY + 500),
    )]);
    let report = run(&fed);
    let f = only_finding(&report);
    assert_finding(f, Rule::ForgedCheckpointEvidence, CSW, Some(index));
    assert!(f.seen.contains("cannot hold it"), "{}", f.seen);
}

// ---------------------------------------------------------------------------------------
// 15.2: the receiver's checkpoint, kept in the sender's `receipt`
// ---------------------------------------------------------------------------------------

/// The receiver hides what it received by exporting a prefix ending before its `received`
/// (re-signed). The sender's receipt keeps the receiver's signed checkpoint: critical
/// `truncated_export` at the receiver. Before, this was a `counterpart_missing` note.
#[test]
fn a_receiver_that_exports_a_prefix_without_its_received_is_caught() {
    let (mut fed, _, _, received, receipt) = delivered();
    export_prefix(fed.node(CSW), usize::try_from(received).unwrap());
    let report = run(&fed);
    let f = only_finding(&report);
    assert_finding(f, Rule::TruncatedExport, CSW, None);
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.article, "");
    assert_eq!(
        f.counterpart.as_deref(),
        Some(&*format!("{POLICE}#{receipt}"))
    );
    assert!(
        f.seen.contains(&format!(
            "kept by `{POLICE}` in its `receipt` entry {receipt}"
        )),
        "{}",
        f.seen
    );
}

/// Any checkpoint a node signed that another log keeps counts, not only the last: the
/// receiver exports a prefix that ends before an early delivery of the demo.
#[test]
fn a_bundle_shorter_than_any_kept_checkpoint_of_its_node_is_truncated() {
    let mut fed = Fed::demo();
    // The centre's first `received` (D1) is its entry 1; export only the roster entry.
    export_prefix(fed.node(CSW), 1);
    let report = run(&fed);
    let truncated: Vec<_> = report.with_rule(Rule::TruncatedExport).collect();
    assert_eq!(truncated.len(), 1, "{}", render_text(&report));
    assert_finding(truncated[0], Rule::TruncatedExport, CSW, None);
    // One finding for the node, counting every checkpoint beyond the bundle.
    assert!(
        truncated[0]
            .seen
            .contains("more checkpoints beyond the bundle")
    );
    // The police's own log is not blamed for the receipts it rightly holds.
    assert!(
        report
            .findings
            .iter()
            .filter(|f| f.severity >= Severity::Error)
            .all(|f| f.node == CSW),
        "{}",
        render_text(&report)
    );
}

/// The receiver rewrites its `received` (here: into a `receive_refused`, as if it had never
/// accepted the data) and signs everything again: the sender's receipt keeps the root it
/// signed before.
#[test]
fn a_receiver_that_rewrites_its_received_is_caught() {
    let (mut fed, h, _, received, receipt) = delivered();
    let refusal = AuditEntry::ReceiveRefused {
        header: h.clone(),
        reason: streha_core::RefusalReason::NotInAgreement {
            category: Category::Identity,
            role: streha_core::Role::CentreForSocialWork,
            purpose: Purpose::Assistance,
        },
        ciphertext_hash: fed.seal(&h),
        at: Timestamp(h.created_at.0 + 500),
    };
    rewrite(fed.node(CSW), received, &refusal);
    let report = run(&fed);
    let rewritten: Vec<_> = report.with_rule(Rule::RewrittenLog).collect();
    assert_eq!(rewritten.len(), 1, "{}", render_text(&report));
    assert_finding(rewritten[0], Rule::RewrittenLog, CSW, None);
    assert_eq!(
        rewritten[0].counterpart.as_deref(),
        Some(&*format!("{POLICE}#{receipt}"))
    );
    assert!(
        report
            .findings
            .iter()
            .filter(|f| f.rule != Rule::ReceiverRefused)
            .all(|f| f.node == CSW),
        "{}",
        render_text(&report)
    );
}

/// A sender that logs a receipt the receiver never gave: it can sign the receiver's
/// checkpoint only with its own key.
#[test]
fn a_sender_that_forges_a_receipt_is_caught() {
    let mut fed = Fed::demo();
    let h = header(&fed, 0x64, 13);
    let disclosed = fed.disclose(&h, agreement(&["csw-referral"]));
    let csw_size = fed.nodes[CSW].tree.size();
    let root = Hash::from_bytes([0x24; 32]);
    let forged = fed.nodes[POLICE].kept(csw_size + 1, root);
    let receipt =
        fed.node(POLICE)
            .commit(&[Fed::receipt_entry(&h, csw_size, forged, t(13 * DAY + 900))]);
    let report = run(&fed);
    let f = only_finding(&report);
    assert_finding(f, Rule::ForgedCheckpointEvidence, POLICE, Some(receipt));
    assert_eq!(f.severity, Severity::Critical);
    assert!(disclosed < receipt);
}

// ---------------------------------------------------------------------------------------
// 15.3: the sender's envelope signature, kept in `received`
// ---------------------------------------------------------------------------------------

/// A receiver that invents a `received` (the sender never sent it): it cannot sign as the
/// sender's agency, so it signs the envelope with its own agency key. The receiver's log
/// is false — the sender is not blamed.
#[test]
fn a_forged_received_without_the_senders_signature_blames_the_receiver() {
    let mut fed = Fed::demo();
    let h = header(&fed, 0x65, 13);
    // Sealed and signed by the centre's own agency key, claiming to be from the police.
    let envelope = streha_crypto::danger::seal_with_ephemeral(
        &fed.nodes[CSW].signing_key,
        &fed.nodes[CSW].encryption_key.public_key(),
        &h.encode(),
        &streha_core::Record::new().encode(),
        [0x65; 32],
    )
    .unwrap();
    let kept = fed.nodes[POLICE].kept_checkpoint();
    let index = fed.node(CSW).commit(&[Fed::received_entry(
        &h,
        agreement(&["csw-referral"]),
        &envelope,
        0,
        kept,
        t(13 * DAY + 500),
    )]);
    let report = run(&fed);
    let f = only_finding(&report);
    assert_finding(f, Rule::ForgedEnvelopeSignature, CSW, Some(index));
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.article, "");
    assert!(f.seen.contains("the receiver's log is false"), "{}", f.seen);
    assert!(f.seen.contains("not the agency signing key"), "{}", f.seen);
    assert_eq!(report.with_rule(Rule::ReceivedWithoutDisclosed).count(), 0);
}

/// The same with a signature that does not verify at all (bytes changed in the entry).
#[test]
fn a_received_whose_kept_signature_does_not_verify_blames_the_receiver() {
    let mut fed = Fed::demo();
    let h = header(&fed, 0x66, 13);
    let mut envelope = fed.envelope(&h);
    envelope.ciphertext_hash[0] ^= 1;
    let kept = fed.nodes[POLICE].kept_checkpoint();
    let index = fed.node(CSW).commit(&[Fed::received_entry(
        &h,
        agreement(&["csw-referral"]),
        &envelope,
        0,
        kept,
        t(13 * DAY + 500),
    )]);
    let report = run(&fed);
    let f = only_finding(&report);
    assert_finding(f, Rule::ForgedEnvelopeSignature, CSW, Some(index));
}

/// Issue 19: the envelope signatures of many `received` are verified in batches of 256. A
/// federation of `n` more deliveries from police to the centre, the `forged`-th of which
/// keeps a signature over another ciphertext hash; returns it with the forged `received`'s
/// index.
fn many_deliveries(n: usize, forged: Option<usize>) -> (Fed, Option<u64>) {
    let mut fed = Fed::demo();
    let basis = agreement(&["csw-referral"]);
    let mut forged_index = None;
    for i in 0..n {
        let h = fed.header(
            100 + u8::try_from(i).unwrap(),
            POLICE,
            CSW,
            SUBJECT_ADULT,
            &[Category::Identity, Category::Referral],
            Purpose::Assistance,
            None,
            t(13 * DAY + i as u64 * 1000),
        );
        let disclosed = fed.disclose(&h, basis.clone());
        let mut envelope = fed.envelope(&h);
        if forged == Some(i) {
            envelope.ciphertext_hash[0] ^= 1;
        }
        let at = Timestamp(h.created_at.0 + 500);
        let kept = fed.nodes[POLICE].kept_checkpoint();
        let index = fed.node(CSW).commit(&[Fed::received_entry(
            &h,
            basis.clone(),
            &envelope,
            disclosed,
            kept,
            at,
        )]);
        if forged == Some(i) {
            forged_index = Some(index);
        }
        let receiver = fed.nodes[CSW].kept_checkpoint();
        fed.node(POLICE).commit(&[Fed::receipt_entry(
            &h,
            index,
            receiver,
            Timestamp(at.0 + 100),
        )]);
    }
    (fed, forged_index)
}

/// One forged envelope signature among 150 (one batch): the batch that holds it fails, each of its signatures is checked alone, and the forged one is reported at its
/// own entry with the finding a single check gives — the same as when it is the only
/// `received` of its log in a batch of its own; the 149 others are not blamed.
#[test]
fn one_forged_envelope_signature_among_many_is_reported_at_its_entry() {
    let (fed, _) = many_deliveries(150, None);
    assert!(run(&fed).is_clean(), "{}", render_text(&run(&fed)));

    let (fed, index) = many_deliveries(150, Some(97));
    let report = run(&fed);
    let f = only_finding(&report);
    assert_finding(f, Rule::ForgedEnvelopeSignature, CSW, index);

    // The same forged delivery alone (a batch of one, or in a batch with the demo's).
    let (alone, alone_index) = many_deliveries(1, Some(0));
    let alone_report = run(&alone);
    let g = only_finding(&alone_report);
    assert_finding(g, Rule::ForgedEnvelopeSignature, CSW, alone_index);
    assert_eq!(f.seen, g.seen);
    assert_eq!(f.check, g.check);
    // Its own envelope, not a neighbour's in the batch.
    assert_eq!(
        f.envelope.as_deref(),
        Some(hex::encode([100u8 + 97; 16]).as_str())
    );
}

/// A valid sender signature with no `disclosed` in the sender's export: the sender's log is
/// the false one (it withheld or rewrote the entry its own checkpoint covers), and the
/// finding is against the sender.
#[test]
fn a_valid_sender_signature_without_disclosed_blames_the_sender() {
    let (mut fed, _, disclosed, _, receipt) = delivered();
    // The police drop the `disclosed` and the `receipt` and sign the rest again: a log that
    // never mentions the envelope.
    let entries: Vec<Vec<u8>> = fed.nodes[POLICE]
        .entries
        .iter()
        .enumerate()
        .filter(|(i, _)| *i as u64 != disclosed && *i as u64 != receipt)
        .map(|(_, e)| e.clone())
        .collect();
    resign(fed.node(POLICE), entries);
    let report = run(&fed);
    assert!(!report.is_clean());
    assert!(
        report.findings.iter().all(|f| f.node == POLICE),
        "{}",
        render_text(&report)
    );
    assert!(
        report.with_rule(Rule::RewrittenLog).count()
            + report.with_rule(Rule::TruncatedExport).count()
            >= 1,
        "{}",
        render_text(&report)
    );
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.severity == Severity::Critical),
        "{}",
        render_text(&report)
    );
}

// ---------------------------------------------------------------------------------------
// Any one of these forgeries, on any delivery of a random history
// ---------------------------------------------------------------------------------------

/// Who forges, and how.
#[derive(Clone, Copy, Debug)]
enum Forgery {
    /// The sender exports a prefix ending before the `disclosed`.
    SenderPrefix,
    /// The sender rewrites its `disclosed` as a refusal.
    SenderRewrite,
    /// The receiver exports a prefix ending before the `received`.
    ReceiverPrefix,
    /// The receiver rewrites its `received` as a refusal.
    ReceiverRewrite,
    /// The receiver logs a `received` of an envelope it signed itself.
    ReceiverForgesEnvelope,
    /// The receiver logs a `received` under a sender checkpoint it signed itself.
    ReceiverForgesCheckpoint,
    /// The sender logs a receipt under a receiver checkpoint it signed itself.
    SenderForgesReceipt,
}

impl Forgery {
    const ALL: [Forgery; 7] = [
        Forgery::SenderPrefix,
        Forgery::SenderRewrite,
        Forgery::ReceiverPrefix,
        Forgery::ReceiverRewrite,
        Forgery::ReceiverForgesEnvelope,
        Forgery::ReceiverForgesCheckpoint,
        Forgery::SenderForgesReceipt,
    ];

    /// Whether the sender's log is the false one.
    fn by_sender(self) -> bool {
        matches!(
            self,
            Forgery::SenderPrefix | Forgery::SenderRewrite | Forgery::SenderForgesReceipt
        )
    }
}

/// The demo, then `sends` more deliveries between the police and the centre (`true`: from
/// the police). Returns the federation and, per delivery, its header and the indices of its
/// `disclosed` and `received`.
fn history(sends: &[bool]) -> (Fed, Vec<(DisclosureHeader, u64, u64)>) {
    let mut fed = Fed::demo();
    let mut done = Vec::new();
    for (i, &from_police) in sends.iter().enumerate() {
        let id = 0x70 + u8::try_from(i).unwrap();
        let (from, to, basis) = if from_police {
            (POLICE, CSW, agreement(&["csw-referral"]))
        } else {
            (CSW, POLICE, agreement(&["police-investigation"]))
        };
        let (categories, purpose) = if from_police {
            (
                &[Category::Identity, Category::Referral][..],
                Purpose::Assistance,
            )
        } else {
            (
                &[Category::CaseSummary][..],
                Purpose::CriminalInvestigationAndProsecution,
            )
        };
        let day = 13 + u64::try_from(i).unwrap();
        let h = fed.header(
            id,
            from,
            to,
            SUBJECT_ADULT,
            categories,
            purpose,
            None,
            t(day * DAY),
        );
        let disclosed = fed.disclose(&h, basis.clone());
        fed.deliver(&h, basis, disclosed);
        let received = fed.nodes[to].tree.size() - 1;
        done.push((h, disclosed, received));
    }
    (fed, done)
}

fn refusal_for(h: &DisclosureHeader) -> streha_core::RefusalReason {
    streha_core::RefusalReason::NotInAgreement {
        category: h.categories.iter().next().unwrap(),
        role: streha_core::Role::Court,
        purpose: h.purpose,
    }
}

fn forge(fed: &mut Fed, forgery: Forgery, h: &DisclosureHeader, disclosed: u64, received: u64) {
    let (sender, receiver) = (h.sender.to_string(), h.recipient.to_string());
    match forgery {
        Forgery::SenderPrefix => {
            export_prefix(fed.node(&sender), usize::try_from(disclosed).unwrap());
        }
        Forgery::SenderRewrite => {
            let entry = AuditEntry::Refused {
                header: h.clone(),
                reason: refusal_for(h),
                at: Timestamp(h.created_at.0 + 20),
            };
            rewrite(fed.node(&sender), disclosed, &entry);
        }
        Forgery::ReceiverPrefix => {
            export_prefix(fed.node(&receiver), usize::try_from(received).unwrap());
        }
        Forgery::ReceiverRewrite => {
            let entry = AuditEntry::ReceiveRefused {
                header: h.clone(),
                reason: refusal_for(h),
                ciphertext_hash: fed.seal(h),
                at: Timestamp(h.created_at.0 + 500),
            };
            rewrite(fed.node(&receiver), received, &entry);
        }
        Forgery::ReceiverForgesEnvelope => {
            let mut invented = h.clone();
            invented.envelope_id = streha_core::EnvelopeId::from_bytes([0xee; 16]);
            let me = &fed.nodes[&receiver];
            let envelope = streha_crypto::danger::seal_with_ephemeral(
                &me.signing_key,
                &me.encryption_key.public_key(),
                &invented.encode(),
                &streha_core::Record::new().encode(),
                [0xee; 32],
            )
            .unwrap();
            let kept = fed.nodes[&sender].kept_checkpoint();
            let at = Timestamp(fed_latest(fed, &receiver) + 1);
            fed.node(&receiver).commit(&[Fed::received_entry(
                &invented,
                agreement(&["csw-referral"]),
                &envelope,
                disclosed,
                kept,
                at,
            )]);
        }
        Forgery::ReceiverForgesCheckpoint => {
            let mut invented = h.clone();
            invented.envelope_id = streha_core::EnvelopeId::from_bytes([0xef; 16]);
            let envelope = fed.envelope(&invented);
            let size = fed.nodes[&sender].tree.size() + 1;
            let kept = fed.nodes[&receiver].kept(size, Hash::from_bytes([0xef; 32]));
            let at = Timestamp(fed_latest(fed, &receiver) + 1);
            fed.node(&receiver).commit(&[Fed::received_entry(
                &invented,
                agreement(&["csw-referral"]),
                &envelope,
                size - 1,
                kept,
                at,
            )]);
        }
        Forgery::SenderForgesReceipt => {
            let size = fed.nodes[&receiver].tree.size() + 1;
            let kept = fed.nodes[&sender].kept(size, Hash::from_bytes([0xf0; 32]));
            let at = Timestamp(fed_latest(fed, &sender) + 1);
            fed.node(&sender)
                .commit(&[Fed::receipt_entry(h, size - 1, kept, at)]);
        }
    }
}

/// The latest entry time of `node`'s log.
fn fed_latest(fed: &Fed, node: &str) -> u64 {
    fed.nodes[node]
        .entries
        .iter()
        .filter_map(|e| AuditEntry::decode(e).ok())
        .map(|e| e.at().0)
        .max()
        .unwrap_or(0)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(40))]

    /// In a random history, any one forgery of any one delivery is caught with a critical
    /// finding against the side that forged, and neither an error nor a critical finding
    /// against the honest side.
    #[test]
    fn any_single_forgery_is_caught_against_the_false_side(
        sends in proptest::collection::vec(proptest::bool::ANY, 1..4),
        pick in 0usize..16,
        kind in 0usize..Forgery::ALL.len(),
    ) {
        let (mut fed, done) = history(&sends);
        assert!(run(&fed).is_clean(), "{}", render_text(&run(&fed)));
        let (h, disclosed, received) = done[pick % done.len()].clone();
        let forgery = Forgery::ALL[kind];
        forge(&mut fed, forgery, &h, disclosed, received);
        let report = run(&fed);
        let (liar, honest) = if forgery.by_sender() {
            (h.sender.to_string(), h.recipient.to_string())
        } else {
            (h.recipient.to_string(), h.sender.to_string())
        };
        proptest::prop_assert!(
            report
                .findings
                .iter()
                .any(|f| f.node == liar && f.severity == Severity::Critical),
            "{forgery:?}: no critical finding at {liar}:\n{}",
            render_text(&report)
        );
        proptest::prop_assert!(
            report
                .findings
                .iter()
                .all(|f| f.node != honest || f.severity < Severity::Error),
            "{forgery:?}: the honest {honest} is blamed:\n{}",
            render_text(&report)
        );
    }
}
