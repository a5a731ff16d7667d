//! V2: the policy replayed over one log, in log order, from the log's own events.
//!
//! The replay rebuilds what the node knew when it decided — its subjects (age status,
//! `adult_since`, representatives, re-keying) and its consent registry (grants and
//! revocations) — from the entries before each `disclosed`, and decides it as the sending
//! node does, with [`streha_core::decide_to_send`]: at the header's `created_at` and at the
//! entry's logged `at`, with urgent-danger approvals verified against the roster's officer
//! keys (`spec/protocol.md` §6, "The time of decision"). A re-keyed subject's successor is
//! registered in the log at its first use and is not linked to the old id: the replay treats
//! its registration as any other.

//!
//! Each entry is judged under the roster version in force at its position: the one the last
//! `roster_changed` before it names (by version and hash), looked up among the rosters the
//! verifier can check ([`RosterSet`]). Under a version it cannot check, a decision is not
//! judged and says so (`roster_unverifiable`). Times come from [`Times`]: a falsely dated
//! entry (V1.8) is judged at the time its position allows, never by re-sorting stated times.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use streha_core::{
    AgeStatus, AuditEntryRef, Basis, BasisRef, Category, CategoryGroup, CategorySet, ConsentGrant,
    ConsentId, ConsentTerms, ConsentView, Decision, DisclosureHeader, DisclosureHeaderRef,
    DisclosureRequest, EnvelopeId, Grantor, NotInForce, PolicyContext, Purpose, Recipient,
    RefusalReason, Subject, SubjectId, Timestamp, WitnessAlarmKind, decide, decide_to_send,
};

use crate::borrowed::{BasisText, agency_named, basis_kind, same_basis};
use crate::directory::{Directory, approval_verifies};
use crate::finding::{Finding, Rule};
use crate::integrity::CheckedLog;
use crate::report::{ConsentRefusalRow, ConsentRow, DisclosureRow, RefusalRow};
use crate::rosters::RosterSet;
use crate::times::Times;

/// A `disclosed` entry, with what the replay made of it.
pub(crate) struct DisclosedRec {
    pub(crate) index: u64,
    /// Owned: the policy decides on an owned header, and V3 matches the `received` with it.
    pub(crate) header: DisclosureHeader,
    pub(crate) ciphertext_hash: [u8; 32],
    /// The decision the receiver should have reached on the sender's evidence: the same
    /// state, but the carried grant without its revocation (the receiver cannot know it).
    /// `None` if the sender's roster in force could not be checked.
    pub(crate) receiver_view: Option<Result<Basis, RefusalReason>>,
    /// Position of its row in the node's summary.
    pub(crate) row: usize,
}

/// A `received` entry.
pub(crate) struct ReceivedRec<'a> {
    pub(crate) index: u64,
    pub(crate) header: &'a DisclosureHeaderRef<'a>,
    pub(crate) basis: &'a BasisRef<'a>,
    pub(crate) ciphertext_hash: [u8; 32],
    pub(crate) sender_log_index: Option<u64>,
}

/// A `receipt` entry.
pub(crate) struct ReceiptRec<'a> {
    pub(crate) index: u64,
    pub(crate) envelope: EnvelopeId,
    pub(crate) recipient: &'a str,
    pub(crate) receiver_log_index: u64,
    pub(crate) receiver_tree_size: u64,
}

/// What the replay of one log produced for the cross-node checks and the report.
#[derive(Default)]
pub(crate) struct Replayed<'a> {
    pub(crate) disclosed: Vec<DisclosedRec>,
    pub(crate) received: Vec<ReceivedRec<'a>>,
    /// `receive_refused` entries: envelope id → index.
    pub(crate) receive_refused: BTreeMap<EnvelopeId, u64>,
    pub(crate) receipts: Vec<ReceiptRec<'a>>,
    pub(crate) rows: Vec<DisclosureRow>,
    /// Every `refused` and `receive_refused` entry, for the report.
    pub(crate) refusals: Vec<RefusalRow>,
    /// Every consent granted (and its revocation), for the report.
    pub(crate) consents: Vec<ConsentRow>,
    /// Every consent grant the node refused to record, for the report.
    pub(crate) consent_refusals: Vec<ConsentRefusalRow>,
    /// The last roster version the node adopted, if it logged one.
    pub(crate) roster_version: Option<u64>,
}

impl Replayed<'_> {
    /// The `disclosed` entry of envelope `id`, if this log holds one.
    pub(crate) fn disclosed_index(&self) -> HashMap<EnvelopeId, usize> {
        let mut map = HashMap::with_capacity(self.disclosed.len());
        for (i, d) in self.disclosed.iter().enumerate() {
            map.entry(d.header.envelope_id).or_insert(i);
        }
        map
    }
}

struct ConsentState<'g> {
    /// The logged grant, borrowed from the decoded log; owned only when V1.8 moved its
    /// `recorded_at`.
    grant: Cow<'g, ConsentGrant>,
    revoked_at: Option<Timestamp>,
}

/// The node's state as rebuilt from its log.
struct State<'a, 'r, 'g> {
    /// One directory per roster of `rosters`, same order.
    dirs: &'a [Directory<'r>],
    rosters: &'a RosterSet,
    /// The roster in force (index into `dirs`), `None` if the node adopted one the verifier
    /// cannot check.
    current: Option<usize>,
    /// The version and hash of the roster in force when it cannot be checked.
    unverifiable: Option<(u64, [u8; 32])>,
    /// The last version the node logged adopting.
    adopted: Option<u64>,
    node_name: String,
    subjects: HashMap<SubjectId, Subject>,
    consents: HashMap<ConsentId, ConsentState<'g>>,
    by_subject: HashMap<SubjectId, Vec<ConsentId>>,
}

/// What the replay of one log needs besides the log.
pub(crate) struct Context<'a, 'r> {
    /// The roster node whose log it is (index into `keys`).
    pub(crate) node: usize,
    /// The nodes of every roster version (V1's directory).
    pub(crate) keys: &'a Directory<'r>,
    /// The checked roster versions, and one directory each.
    pub(crate) rosters: &'a RosterSet,
    pub(crate) dirs: &'a [Directory<'r>],
}

/// Replays the logs of one node's consecutive log epochs, `chain`, oldest first, each with
/// its times as V1.8 found them: one history (`spec/audit-log.md` §9). A node restored with
/// a declared loss keeps its state — subjects, consents, representatives, the roster it
/// adopted, what it sent — so the state rebuilt from one epoch is in force in the next;
/// only the lost entries' effects are unknown. One [`Replayed`] per log, in `chain`'s
/// order; the consent rows of the whole history are the first's.
pub(crate) fn replay<'a>(
    chain: &[(&'a CheckedLog<'a>, &Times)],
    cx: &Context<'_, '_>,
    findings: &mut Vec<Finding>,
    notes: &mut Vec<Finding>,
) -> Vec<Replayed<'a>> {
    let mut state = State {
        dirs: cx.dirs,
        rosters: cx.rosters,
        current: Some(cx.rosters.supplied),
        unverifiable: None,
        adopted: None,
        node_name: String::new(),
        subjects: HashMap::new(),
        consents: HashMap::new(),
        by_subject: HashMap::new(),
    };
    let me = &cx.keys.nodes[cx.node];
    // Keyed by the ids' bytes, looked up only (never iterated: the report's order is the
    // log's).
    let mut disclosed_ids: HashMap<EnvelopeId, u64> = HashMap::new();
    let mut received_ids: HashMap<EnvelopeId, u64> = HashMap::new();
    let mut sent: HashSet<(EnvelopeId, &str)> = HashSet::new();
    let mut consent_rows: HashMap<ConsentId, usize> = HashMap::new();
    let mut consents: Vec<ConsentRow> = Vec::new();
    let mut outs: Vec<Replayed<'a>> = Vec::with_capacity(chain.len());

    for &(log, times) in chain {
        state.node_name.clone_from(&log.name);
        let mut out = Replayed::default();
        for (i, entry) in log.entries.iter().enumerate() {
            let index = i as u64;
            let Some(entry) = entry else { continue };
            match entry {
            AuditEntryRef::SubjectRegistered {
                subject,
                age_status,
                ..
            } => state.register(index, *subject, *age_status, findings),
            AuditEntryRef::AgeStatusRecorded {
                subject,
                age_status,
                at,
            } => {
                // An adult age dated back (V1.8) counts from its position, not before it.
                let at = times.effective(index, *at);
                let result = state
                    .subject_mut(index, *subject, "an age status", findings)
                    .map(|s| s.record_age_status(*age_status, at));
                if let Some(Err(e)) = result {
                    state.anomaly(index, findings, format!("age status of subject {subject}: {e}"));
                }
            }
            AuditEntryRef::RepresentativeRegistered {
                subject,
                representative,
                ..
            } => {
                let result = state
                    .subject_mut(index, *subject, "a representative", findings)
                    .map(|s| s.add_representative(representative.to_owned()));
                if let Some(Err(e)) = result {
                    state.anomaly(index, findings, format!("representative registration: {e}"));
                }
            }
            AuditEntryRef::RepresentativeRemoved {
                subject,
                representative,
                ..
            } => {
                let result = state
                    .subject_mut(index, *subject, "a representative removal", findings)
                    .map(|s| s.remove_representative(&representative.to_owned()));
                match result {
                    Some(Err(e)) => {
                        state.anomaly(index, findings, format!("representative removal: {e}"));
                    }
                    Some(Ok(false)) => state.anomaly(
                        index,
                        findings,
                        format!(
                            "representative `{representative}` removed from subject {subject}, for which it was not registered"
                        ),
                    ),
                    _ => {}
                }
            }
            AuditEntryRef::ConsentGranted { grant } => {
                consent_rows.insert(grant.id(), consents.len());
                consents.push(consent_row(&log.name, index, grant));
                // A grant dated ahead (V1.8) is recorded at its position.
                let recorded_at = times.effective(index, grant.recorded_at());
                let grant = if recorded_at == grant.recorded_at() {
                    Cow::Borrowed(grant)
                } else {
                    Cow::Owned(with_recorded_at(grant, recorded_at))
                };
                state.grant(index, grant, findings);
            }
            AuditEntryRef::ConsentRevoked { revocation } => {
                let id = revocation.consent;
                if let Some(&row) = consent_rows.get(&id)
                    && consents[row].revoked_at.is_none()
                {
                    consents[row].revoked_at = Some(revocation.revoked_at.to_string());
                    consents[row].revoked_index = Some(index);
                    consents[row].revoked_by = Some(revocation.recorded_by.to_string());
                }
                // A revocation dated ahead (V1.8) takes effect where it was logged.
                let revoked_at = times.effective(index, revocation.revoked_at);
                match state.consents.get_mut(&id) {
                    None => state.anomaly(
                        index,
                        findings,
                        format!("revocation of consent {id}, which this log never granted"),
                    ),
                    Some(c) if c.revoked_at.is_some() => {
                        state.anomaly(index, findings, format!("consent {id} revoked twice"));
                    }
                    Some(c) if revocation.revoked_at < c.grant.recorded_at() => state.anomaly(
                        index,
                        findings,
                        format!("consent {id} revoked before it was recorded"),
                    ),
                    Some(c) => c.revoked_at = Some(revoked_at),
                }
            }
            AuditEntryRef::Disclosed {
                header,
                basis,
                urgent_review,
                ciphertext_hash,
                at,
            } => {
                if header.sender != me.agency.id {
                    findings.push(
                        Finding::new(
                            Rule::ForeignEntry,
                            &log.name,
                            format!(
                                "a `disclosed` naming `{}` as sender in the log of `{}`",
                                header.sender, me.agency.id
                            ),
                        )
                        .at_entry(index)
                        .envelope(header.envelope_id),
                    );
                }
                if let Some(first) = disclosed_ids.insert(header.envelope_id, index) {
                    findings.push(
                        Finding::new(
                            Rule::DuplicateEnvelope,
                            &log.name,
                            format!("the envelope was already logged as disclosed at entry {first}: sent twice"),
                        )
                        .at_entry(index)
                        .envelope(header.envelope_id),
                    );
                }
                sent.insert((header.envelope_id, header.recipient.as_str()));
                // The policy decides on an owned header; the record keeps it for V3.
                let header = header.to_owned();
                // A disclosure dated back (V1.8) is decided at the time its position allows.
                let at = times.effective(index, *at);
                let (lawful, receiver_view) = state.check_disclosure(
                    index,
                    &header,
                    at,
                    basis,
                    *urgent_review,
                    findings,
                    notes,
                );
                let row = out.rows.len();
                out.rows.push(DisclosureRow {
                    index,
                    envelope: header.envelope_id.to_string(),
                    subject: header.subject.to_string(),
                    created_at: header.created_at.to_string(),
                    recipient: header.recipient.to_string(),
                    recipient_role: state
                        .roster()
                        .agency(&header.recipient)
                        .map(|a| a.role.to_string()),
                    categories: header.categories.iter().map(|c| c.to_string()).collect(),
                    purpose: header.purpose.to_string(),
                    basis_kind: basis_kind(basis),
                    basis: BasisText(basis).to_string(),
                    urgent: *urgent_review,
                    lawful,
                    status: "undelivered",
                });
                out.disclosed.push(DisclosedRec {
                    index,
                    header,
                    ciphertext_hash: *ciphertext_hash,
                    receiver_view,
                    row,
                });
            }
            AuditEntryRef::Refused { header, reason, at } => {
                out.refusals
                    .push(refusal_row(&log.name, index, "refused", header, reason, *at));
            }
            // A consent the node refused to record (`streha_core::check_grant`): nothing was
            // recorded, so the replayed registry does not change; the report lists it.
            AuditEntryRef::ConsentRefused { grant, reason, at } => {
                out.consent_refusals.push(ConsentRefusalRow {
                    at: at.to_string(),
                    grant: consent_row(&log.name, index, grant),
                    reason: reason.to_string(),
                    article: reason.article(),
                });
            }
            // The start of a new epoch: judged by `epochs` (V1.9), not a policy fact.
            AuditEntryRef::LogRestored { .. } => {}
            AuditEntryRef::Received {
                header,
                basis,
                ciphertext_hash,
                sender_log_index,
                ..
            } => {
                if header.recipient != me.agency.id {
                    findings.push(
                        Finding::new(
                            Rule::ForeignEntry,
                            &log.name,
                            format!(
                                "a `received` naming `{}` as recipient in the log of `{}`",
                                header.recipient, me.agency.id
                            ),
                        )
                        .at_entry(index)
                        .envelope(header.envelope_id),
                    );
                }
                if let Some(category) = protection(header.categories) {
                    findings.push(
                        Finding::new(
                            Rule::ProtectionCategoryDisclosed,
                            &log.name,
                            format!(
                                "received from `{}` about subject {}: the header declares the protection category `{category}` ({})",
                                header.sender, header.subject, header.categories
                            ),
                        )
                        .at_entry(index)
                        .envelope(header.envelope_id),
                    );
                }
                if state.current.is_none() {
                    state.unverifiable_entry(
                        index,
                        "reception",
                        Some(header.envelope_id),
                        findings,
                    );
                } else if agency_named(state.roster(), header.sender.as_str()).is_none() {
                    // No log of a non-member can be matched (V3): judge it here.
                    findings.push(
                        Finding::new(
                            Rule::ReceivedWithoutBasis,
                            &log.name,
                            format!(
                                "received {} about subject {} from `{}`, which is not a member of the roster (Art. 18.2)",
                                header.categories, header.subject, header.sender
                            ),
                        )
                        .at_entry(index)
                        .envelope(header.envelope_id),
                    );
                }
                if let Some(first) = received_ids.insert(header.envelope_id, index) {
                    findings.push(
                        Finding::new(
                            Rule::DuplicateEnvelope,
                            &log.name,
                            format!("the envelope was already logged as received at entry {first}"),
                        )
                        .at_entry(index)
                        .envelope(header.envelope_id),
                    );
                }
                out.received.push(ReceivedRec {
                    index,
                    header,
                    basis,
                    ciphertext_hash: *ciphertext_hash,
                    sender_log_index: Some(*sender_log_index),
                });
            }
            AuditEntryRef::ReceiveRefused {
                header, reason, at, ..
            } => {
                out.refusals.push(refusal_row(
                    &log.name,
                    index,
                    "receive_refused",
                    header,
                    reason,
                    *at,
                ));
                out.receive_refused.insert(header.envelope_id, index);
                findings.push(
                    Finding::new(
                        Rule::ReceiverRefused,
                        &log.name,
                        format!(
                            "`{}` disclosed {} about subject {} for {}, and this node's decision refused it: {reason}",
                            header.sender, header.categories, header.subject, header.purpose
                        ),
                    )
                    .at_entry(index)
                    .envelope(header.envelope_id)
                    .counterpart(header.sender.as_str(), None)
                    .article(reason.article()),
                );
            }
            AuditEntryRef::Receipt {
                envelope,
                recipient,
                receiver_log_index,
                receiver_tree_size,
                ..
            } => {
                if !sent.contains(&(*envelope, recipient.as_str())) {
                    findings.push(
                        Finding::new(
                            Rule::ReceiptWithoutDisclosed,
                            &log.name,
                            format!(
                                "a receipt from `{recipient}` for an envelope this log never disclosed to it"
                            ),
                        )
                        .at_entry(index)
                        .envelope(envelope),
                    );
                }
                out.receipts.push(ReceiptRec {
                    index,
                    envelope: *envelope,
                    recipient: recipient.as_str(),
                    receiver_log_index: *receiver_log_index,
                    receiver_tree_size: *receiver_tree_size,
                });
            }
            AuditEntryRef::Violation {
                envelope,
                sender,
                kind,
                declared,
                found,
                ..
            } => findings.push(
                Finding::new(
                    Rule::ContentViolation,
                    &log.name,
                    format!(
                        "the record from `{sender}` ({kind:?}) carried {found}, its signed header declared {declared}"
                    ),
                )
                .at_entry(index)
                .envelope(envelope)
                .counterpart(sender.as_str(), None),
            ),
            AuditEntryRef::RosterChanged {
                version,
                roster_hash,
                ..
            } => {
                out.roster_version = Some(*version);
                state.roster_changed(index, *version, roster_hash, findings);
            }
            AuditEntryRef::KeyChanged { .. } => {}
            AuditEntryRef::SubjectRekeyed { old, .. } => {
                // Only the old id is closed here. The node keeps the new id as a pending
                // successor and logs its `subject_registered` (age status carried over) at
                // its first use, not with the re-keying: nothing in the log links the two
                // ids, so that registration is replayed as any other (`spec/verification.md`
                // §4, "Linkage of re-keyed ids").
                match state.subjects.get(old) {
                    Some(s) if !s.is_closed() => state.close(*old),
                    Some(_) => state.anomaly(
                        index,
                        findings,
                        format!("subject {old} re-keyed again after it was closed"),
                    ),
                    None => state.anomaly(
                        index,
                        findings,
                        format!("re-keying of subject {old}, which this log never registered"),
                    ),
                }
            }
            AuditEntryRef::WitnessAlarmV1 {
                origin,
                size,
                root_a,
                root_b,
                ..
            } => findings.push(
                Finding::new(
                    Rule::WitnessAlarm,
                    &log.name,
                    format!(
                        "this node, as a witness, was shown a checkpoint of log `{origin}` that contradicts the one of size {size} it had cosigned (a fork, rollback or rewrite; this older entry does not say which): roots {} and {}",
                        hex::encode(root_a),
                        hex::encode(root_b)
                    ),
                )
                .at_entry(index),
            ),
            AuditEntryRef::WitnessAlarm {
                origin,
                kind,
                cosigned_size,
                cosigned_root,
                offered_size,
                offered_root,
                ..
            } => findings.push(
                Finding::new(
                    Rule::WitnessAlarm,
                    &log.name,
                    witness_alarm_text(
                        origin.as_str(),
                        *kind,
                        (*cosigned_size, cosigned_root),
                        (*offered_size, offered_root),
                    ),
                )
                .at_entry(index),
            ),
            // Checked against the witnessed logs' trees in `witnessed` (V3.7).
            AuditEntryRef::WitnessedCheckpoints { .. } => {}
        }
        }
        outs.push(out);
    }
    if let Some(first) = outs.first_mut() {
        first.consents = consents;
    }
    let supplied = &cx.rosters.rosters[cx.rosters.supplied];
    let last_version = outs.iter().rev().find_map(|o| o.roster_version);
    if let Some(version) = last_version
        && version != supplied.version()
        && let Some((log, _)) = chain.last()
    {
        notes.push(Finding::new(
            Rule::RosterVersionDiffers,
            &log.name,
            format!(
                "the node last adopted roster version {version}; the roster supplied is version {}",
                supplied.version()
            ),
        ));
    }
    outs
}

/// What a finding about a disclosure says it was, written when a finding needs it.
struct What<'h>(&'h DisclosureHeader);

impl std::fmt::Display for What<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let h = self.0;
        write!(
            f,
            "disclosed {} about subject {} to `{}` for {} at {}",
            h.categories, h.subject, h.recipient, h.purpose, h.created_at
        )
    }
}

/// The grant with another `recorded_at` (for one dated ahead, V1.8); the grant itself if its
/// terms do not rebuild.
fn with_recorded_at(grant: &ConsentGrant, recorded_at: Timestamp) -> ConsentGrant {
    ConsentGrant::new(ConsentTerms {
        id: grant.id(),
        subject: grant.subject(),
        granted_by: grant.granted_by().clone(),
        recipients: grant.recipients().to_vec(),
        categories: grant.categories(),
        purposes: grant.purposes(),
        valid_from: grant.valid_from(),
        expires_at: grant.expires_at(),
        evidence_hash: *grant.evidence_hash(),
        recorded_by: grant.recorded_by().clone(),
        recorded_at,
    })
    .unwrap_or_else(|_| grant.clone())
}

/// The report's row for a `refused` or `receive_refused` entry.
fn refusal_row(
    node: &str,
    index: u64,
    kind: &'static str,
    header: &DisclosureHeaderRef<'_>,
    reason: &RefusalReason,
    at: Timestamp,
) -> RefusalRow {
    RefusalRow {
        node: node.to_owned(),
        index,
        kind,
        at: at.to_string(),
        envelope: header.envelope_id.to_string(),
        sender: header.sender.to_string(),
        recipient: header.recipient.to_string(),
        subject: header.subject.to_string(),
        categories: header.categories.iter().map(|c| c.to_string()).collect(),
        purpose: header.purpose.to_string(),
        reason: reason.to_string(),
        article: reason.article(),
    }
}

/// The report's row for a `consent_granted` entry (its revocation is filled in later).
fn consent_row(node: &str, index: u64, grant: &ConsentGrant) -> ConsentRow {
    let (granted_by, representative) = match grant.granted_by() {
        Grantor::Subject => ("subject", None),
        Grantor::Representative(r) => ("legal_representative", Some(r.to_string())),
    };
    ConsentRow {
        node: node.to_owned(),
        index,
        consent: grant.id().to_string(),
        subject: grant.subject().to_string(),
        granted_by,
        representative,
        recipients: grant
            .recipients()
            .iter()
            .map(|r| match r {
                Recipient::Agency(a) => a.to_string(),
                Recipient::Role(role) => format!("role:{role}"),
            })
            .collect(),
        categories: grant.categories().iter().map(|c| c.to_string()).collect(),
        purposes: grant.purposes().iter().map(|p| p.to_string()).collect(),
        valid_from: grant.valid_from().to_string(),
        expires_at: grant.expires_at().to_string(),
        recorded_at: grant.recorded_at().to_string(),
        recorded_by: grant.recorded_by().to_string(),
        revoked_at: None,
        revoked_index: None,
        revoked_by: None,
    }
}

/// What a `witness_alarm` entry (tag 16) says, in words: the kind decides the sentence.
fn witness_alarm_text(
    origin: &str,
    kind: WitnessAlarmKind,
    (cosigned_size, cosigned_root): (u64, &[u8; 32]),
    (offered_size, offered_root): (u64, &[u8; 32]),
) -> String {
    let (cosigned, offered) = (hex::encode(cosigned_root), hex::encode(offered_root));
    match kind {
        WitnessAlarmKind::Fork => format!(
            "this node witnessed two trees of size {cosigned_size} for log `{origin}` (a fork): roots {cosigned} and {offered}"
        ),
        WitnessAlarmKind::Rollback => format!(
            "this node had cosigned log `{origin}` at size {cosigned_size} (root {cosigned}) and was then shown a smaller tree of size {offered_size} (root {offered}): a rollback"
        ),
        WitnessAlarmKind::Inconsistent => format!(
            "this node had cosigned log `{origin}` at size {cosigned_size} (root {cosigned}) and was then shown a tree of size {offered_size} (root {offered}) with no valid consistency proof from it: the log was rewritten"
        ),
    }
}

/// The lowest-tagged protection category a header declares (`categories`), if any.
pub(crate) fn protection(categories: CategorySet) -> Option<Category> {
    categories.in_group(CategoryGroup::Protection).first()
}

impl<'r, 'g> State<'_, 'r, 'g> {
    /// The roster in force, or the supplied one when it cannot be checked (for names and
    /// roles only: no decision is judged under it).
    fn roster(&self) -> &'r streha_wire::Roster {
        self.dirs[self.current.unwrap_or(self.rosters.supplied)].roster
    }

    /// The `roster_unverifiable` finding for a decision under a roster the verifier cannot
    /// check.
    fn unverifiable_entry(
        &self,
        index: u64,
        what: &str,
        envelope: Option<EnvelopeId>,
        findings: &mut Vec<Finding>,
    ) {
        let mut finding = Finding::new(
            Rule::RosterUnverifiable,
            &self.node_name,
            format!("this {what}: {}", self.unverifiable_text()),
        )
        .at_entry(index);
        if let Some(envelope) = envelope {
            finding = finding.envelope(envelope);
        }
        findings.push(finding);
    }

    /// Why a decision under the roster in force cannot be judged.
    fn unverifiable_text(&self) -> String {
        let (version, hash) = self.unverifiable.unwrap_or_default();
        format!(
            "decided under roster version {version} (hash {}), which no supplied or carried signed roster matches, so it cannot be judged; supply that roster",
            hex::encode(hash)
        )
    }

    fn anomaly(&self, index: u64, findings: &mut Vec<Finding>, seen: String) {
        findings.push(Finding::new(Rule::StateEventAnomaly, &self.node_name, seen).at_entry(index));
    }

    fn subject_mut(
        &mut self,
        index: u64,
        subject: SubjectId,
        what: &str,
        findings: &mut Vec<Finding>,
    ) -> Option<&mut Subject> {
        if !self.subjects.contains_key(&subject) {
            self.anomaly(
                index,
                findings,
                format!("{what} for subject {subject}, which this log never registered"),
            );
        }
        self.subjects.get_mut(&subject)
    }

    /// A `subject_registered`: a new subject with the logged age status. For the successor
    /// of a re-keying (which the log does not identify) that is the carried-over status; an
    /// adult counts as adult since the epoch, where the node keeps the old id's
    /// `adult_since` (`spec/verification.md` §4).
    fn register(
        &mut self,
        index: u64,
        id: SubjectId,
        age_status: AgeStatus,
        findings: &mut Vec<Finding>,
    ) {
        if self.subjects.contains_key(&id) {
            self.anomaly(index, findings, format!("subject {id} registered twice"));
            return;
        }
        self.subjects.insert(id, Subject::new(id, age_status));
    }

    fn close(&mut self, old: SubjectId) {
        if let Some(s) = self.subjects.get_mut(&old) {
            // `Subject` closes only through `rekey`, which needs the new id and the salt the
            // log does not hold; any id and salt close it the same way.
            let stand_in = SubjectId::from_bytes(if old == SubjectId::MIN {
                [1; 16]
            } else {
                [0; 16]
            });
            let _ = s.rekey(stand_in, &[1; 32]);
        }
    }

    fn grant(&mut self, index: u64, grant: Cow<'g, ConsentGrant>, findings: &mut Vec<Finding>) {
        let id = grant.id();
        if self.consents.contains_key(&id) {
            self.anomaly(index, findings, format!("consent {id} granted twice"));
            return;
        }
        match self.subjects.get(&grant.subject()) {
            None => self.anomaly(
                index,
                findings,
                format!(
                    "consent {id} recorded for subject {}, which this log never registered",
                    grant.subject()
                ),
            ),
            Some(s) if s.is_closed() => self.anomaly(
                index,
                findings,
                format!(
                    "consent {id} recorded for subject {}, closed by re-keying",
                    s.id()
                ),
            ),
            // The node's own rule at grant (`streha_core::check_grant`), replayed: a consent
            // it must have refused but recorded is an anomaly. A recipient's membership is
            // judged only under a roster the verifier holds.
            Some(s) => {
                let judged = self.current.is_some();
                match streha_core::check_grant(self.roster().policy_view(), s, &grant) {
                    Ok(()) => {}
                    Err(RefusalReason::ConsentRecipientNotInRoster { .. }) if !judged => {}
                    Err(reason) => self.anomaly(
                        index,
                        findings,
                        format!(
                            "consent {id} recorded, which the node must refuse at grant: {reason}"
                        ),
                    ),
                }
            }
        }
        self.by_subject.entry(grant.subject()).or_default().push(id);
        self.consents.insert(
            id,
            ConsentState {
                grant,
                revoked_at: None,
            },
        );
    }

    /// A `roster_changed`: the roster it names is in force from here on.
    fn roster_changed(
        &mut self,
        index: u64,
        version: u64,
        hash: &[u8; 32],
        findings: &mut Vec<Finding>,
    ) {
        if let Some(last) = self.adopted
            && version < last
        {
            // The newer roster stays in force: the entries after are judged under it.
            findings.push(
                Finding::new(
                    Rule::RosterRollback,
                    &self.node_name,
                    format!(
                        "the node logged adopting roster version {version} after version {last}; a node never goes back to an older roster, so the entries after this one are judged under version {last}"
                    ),
                )
                .at_entry(index),
            );
            return;
        }
        self.adopted = Some(version);
        if let Some(known) = self.rosters.find(version, hash) {
            self.current = Some(known);
            self.unverifiable = None;
            return;
        }
        self.current = None;
        self.unverifiable = Some((version, *hash));
        if let Some(other) = self.rosters.has_version(version) {
            findings.push(
                Finding::new(
                    Rule::RosterMismatch,
                    &self.node_name,
                    format!(
                        "the node adopted roster version {version} with hash {}; the signed roster of that version the verifier holds hashes to {}: the entries after this one cannot be judged",
                        hex::encode(hash),
                        self.rosters.hashes[other].map(hex::encode).unwrap_or_default()
                    ),
                )
                .at_entry(index),
            );
        } else {
            self.unverifiable_entry(index, "roster change", None, findings);
        }
    }

    /// V2.1–V2.5 for one `disclosed` entry. Returns whether it passed, and the receiver's
    /// view of the decision.
    #[allow(clippy::too_many_arguments)]
    fn check_disclosure(
        &self,
        index: u64,
        h: &DisclosureHeader,
        sent_at: Timestamp,
        logged: &BasisRef<'_>,
        urgent_review: bool,
        findings: &mut Vec<Finding>,
        notes: &mut Vec<Finding>,
    ) -> (bool, Option<Result<Basis, RefusalReason>>) {
        // Written only into a finding: most disclosures raise none.
        let what = What(h);
        let mut raised: Vec<Rule> = Vec::new();
        let mut raise =
            |rule: Rule, seen: String, article: &'static str, findings: &mut Vec<Finding>| {
                if !raised.contains(&rule) {
                    raised.push(rule);
                    findings.push(
                        Finding::new(rule, &self.node_name, seen)
                            .at_entry(index)
                            .envelope(h.envelope_id)
                            .article(article),
                    );
                }
            };

        // V2.1: no protection category, whatever else (Art. 18.4, 18.6).
        if let Some(category) = protection(h.categories) {
            raise(
                Rule::ProtectionCategoryDisclosed,
                format!("{what}: the header declares the protection category `{category}`"),
                "",
                findings,
            );
        }

        let subject = self.subjects.get(&h.subject);
        let states: Vec<&ConsentState> = self
            .by_subject
            .get(&h.subject)
            .into_iter()
            .flatten()
            .filter_map(|id| self.consents.get(id))
            .collect();
        let views: Vec<ConsentView<'_>> = states
            .iter()
            .map(|c| ConsentView {
                grant: &c.grant,
                revoked_at: c.revoked_at,
            })
            .collect();
        let roster = self.roster();
        let judged = self.current.is_some();
        let request =
            DisclosureRequest::new(h).with_verified_approvals(|sender, approval, message| {
                approval_verifies(roster, sender, approval, message)
            });
        let context = PolicyContext {
            federation: roster.policy_view(),
            subject,
            consents: &views,
        };
        // As the sending node decides: at `created_at` and at the logged `at` (Art. 18.3).
        let decision = decide_to_send(&context, &request, sent_at);
        if !judged {
            raise(
                Rule::RosterUnverifiable,
                format!("{what}: {}", self.unverifiable_text()),
                "",
                findings,
            );
        }

        // V2.2–V2.4, each checked on its own (the decision names only the first failing
        // rule; a disclosure can break several).
        if let (Some(s), Some(id)) = (subject, h.consent)
            && let Some(c) = states.iter().find(|c| c.grant.id() == id)
        {
            match c.grant.granted_by() {
                Grantor::Subject
                    if s.adult_since()
                        .is_none_or(|since| c.grant.recorded_at() < since) =>
                {
                    raise(
                        Rule::ChildOwnConsent,
                        format!(
                            "{what}: consent {id} was given by the subject, who was a child or presumed child when it was recorded ({}) or is one now ({})",
                            c.grant.recorded_at(),
                            s.age_status()
                        ),
                        "",
                        findings,
                    );
                }
                Grantor::Representative(r) if !s.has_representative(r) => raise(
                    Rule::ConsentNotFromRepresentative,
                    format!(
                        "{what}: consent {id} was given by `{r}`, who is not a registered representative of the subject"
                    ),
                    "",
                    findings,
                ),
                _ => {}
            }
            // In force when the disclosure was dated and when the node logged it.
            let checked = c
                .grant
                .check_in_force(h.created_at, c.revoked_at)
                .map_err(|why| (h.created_at, why))
                .and_then(|()| {
                    c.grant
                        .check_in_force(sent_at, c.revoked_at)
                        .map_err(|why| (sent_at, why))
                });
            match checked {
                Err((when, NotInForce::Revoked { at })) => raise(
                    Rule::RevokedConsentUsed,
                    format!("{what}: consent {id} was revoked at {at} (checked at {when})"),
                    "",
                    findings,
                ),
                Err((when, why)) => raise(
                    Rule::ConsentNotInForce,
                    format!("{what}: consent {id} was not in force at {when}: {why}"),
                    "",
                    findings,
                ),
                Ok(()) => {}
            }
        }
        if judged && h.purpose == Purpose::UrgentDanger && request.approvers().len() < 2 {
            raise(
                Rule::UrgentWithoutTwoApprovers,
                format!(
                    "{what}: {} approval(s) in the header, {} verified against the officer keys of `{}` ({})",
                    h.approvals.len(),
                    request.approvers().len(),
                    h.sender,
                    request
                        .approvers()
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "",
                findings,
            );
        }

        // V2.5: the replayed decision is the logged one.
        match &decision {
            // Under a roster the verifier cannot check, the decision is not judged.
            _ if !judged => {}
            Decision::Allowed {
                basis,
                urgent_review: replayed_urgent,
            } => {
                if !same_basis(basis, logged) || *replayed_urgent != urgent_review {
                    raise(
                        Rule::BasisMismatch,
                        format!(
                            "{what}: logged basis {} (review {urgent_review}); the replay allows it on {basis} (review {replayed_urgent})",
                            BasisText(logged)
                        ),
                        "",
                        findings,
                    );
                }
            }
            Decision::Refused { reason } => {
                let rule = match reason {
                    RefusalReason::ProtectionCategory { .. } => Rule::ProtectionCategoryDisclosed,
                    RefusalReason::ChildOwnConsent { .. } => Rule::ChildOwnConsent,
                    RefusalReason::GrantorNotRegisteredRepresentative { .. } => {
                        Rule::ConsentNotFromRepresentative
                    }
                    RefusalReason::ConsentNotInForce {
                        why: NotInForce::Revoked { .. },
                        ..
                    } => Rule::RevokedConsentUsed,
                    RefusalReason::ConsentNotInForce { .. } => Rule::ConsentNotInForce,
                    RefusalReason::UrgentDangerNeedsTwoApprovers { .. } => {
                        Rule::UrgentWithoutTwoApprovers
                    }
                    _ => Rule::DisclosureWithoutBasis,
                };
                raise(
                    rule,
                    format!("{what}: the replayed decision refuses it: {reason}"),
                    reason.article(),
                    findings,
                );
            }
        }
        let lawful = raised.is_empty();
        if lawful && urgent_review {
            notes.push(
                Finding::new(
                    Rule::UrgentReview,
                    &self.node_name,
                    format!(
                        "{what}: urgent danger, approved by {}",
                        request
                            .approvers()
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                )
                .at_entry(index)
                .envelope(h.envelope_id),
            );
        }

        // What the receiver decides on: the grant it carries, without revocation.
        let carried: Vec<ConsentView<'_>> = states
            .iter()
            .map(|c| ConsentView {
                grant: &c.grant,
                revoked_at: None,
            })
            .collect();
        let receiver_context = PolicyContext {
            consents: &carried,
            ..context
        };
        let receiver_view =
            judged.then(|| match decide(&receiver_context, &request, h.created_at) {
                Decision::Allowed { basis, .. } => Ok(basis),
                Decision::Refused { reason } => Err(reason),
            });
        (lawful, receiver_view)
    }
}
