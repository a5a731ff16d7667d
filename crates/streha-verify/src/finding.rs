//! Findings: what the verifier saw that breaks the log's proof or the law, one precise record
//! each — the node, the entry or checkpoint, the rule, its article, and what was seen.

use std::fmt;

use serde::{Serialize, Serializer};

/// How serious a finding is. Ordered from the least to the most serious.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// A note: nothing is wrong, but the reader should know (an undelivered disclosure, a
    /// counterpart log not supplied, an urgent-danger disclosure flagged for review).
    /// Notes go to [`Report::notes`](crate::Report::notes), never to the findings.
    Info,
    /// Something a node would not have done, or that weakens the proof, without showing
    /// an unlawful disclosure (an unknown cosigner, entries no checkpoint covers).
    Warning,
    /// An inconsistency that breaks the proof of lawfulness of an entry (a logged basis the
    /// replay does not reproduce, an entry in the wrong log).
    Error,
    /// The log's integrity is broken, or the law was broken: a rewritten or forked log, a
    /// forged signature, a protection category disclosed, a disclosure without a lawful
    /// basis, one side of a disclosure missing from the logs.
    Critical,
}

impl Severity {
    /// The stable lowercase name (`info`, `warning`, `error`, `critical`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Severity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

macro_rules! rules {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $code:literal, $check:literal, $severity:ident, $article:literal, $title:literal;
    )+) => {
        /// The rule a finding is about. Each has a stable code (its JSON form), the check of
        /// `spec/verification.md` that raises it, a severity, the article of Law No. 04/L-218
        /// it protects (empty for the log's own integrity rules) and a short title.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum Rule {
            $( $(#[$doc])* $variant, )+
        }

        impl Rule {
            /// Every rule, in the order of `spec/verification.md`.
            pub const ALL: &'static [Rule] = &[$(Rule::$variant),+];

            /// The stable snake_case code, e.g. `protection_category_disclosed`.
            #[must_use]
            pub const fn code(self) -> &'static str {
                match self { $(Rule::$variant => $code,)+ }
            }

            /// The check of `spec/verification.md` that raises it, e.g. `V2.1`.
            #[must_use]
            pub const fn check(self) -> &'static str {
                match self { $(Rule::$variant => $check,)+ }
            }

            /// Its severity. [`Severity::Info`] rules are notes.
            #[must_use]
            pub const fn severity(self) -> Severity {
                match self { $(Rule::$variant => Severity::$severity,)+ }
            }

            /// The article(s) of Law No. 04/L-218 the rule protects, or `""` for a rule of the
            /// audit log's own integrity (`spec/audit-log.md`).
            #[must_use]
            pub const fn article(self) -> &'static str {
                match self { $(Rule::$variant => $article,)+ }
            }

            /// A short title for people.
            #[must_use]
            pub const fn title(self) -> &'static str {
                match self { $(Rule::$variant => $title,)+ }
            }
        }
    };
}

rules! {
    // V1: each log on its own.
    /// A bundle's origin is not the log origin of any agency in the roster.
    UnknownLog = "unknown_log", "V1.1", Critical, "",
        "log of no agency in the roster";
    /// Two bundles of the same log were supplied (the longer one is replayed; their
    /// checkpoints are compared for forks).
    DuplicateLog = "duplicate_log", "V1.1", Info, "",
        "several bundles of one log";
    /// A bundle holds no checkpoint: nothing vouches for its entries.
    NoCheckpoint = "no_checkpoint", "V1.2", Critical, "",
        "no signed checkpoint";
    /// A checkpoint note does not parse, or its body is not a checkpoint.
    MalformedCheckpoint = "malformed_checkpoint", "V1.2", Critical, "",
        "malformed checkpoint";
    /// A checkpoint carries no valid signature by the node's identity key under its origin.
    CheckpointNotSigned = "checkpoint_not_signed", "V1.2", Critical, "",
        "checkpoint not signed by the node";
    /// A checkpoint names another origin than its bundle.
    CheckpointOriginMismatch = "checkpoint_origin_mismatch", "V1.2", Critical, "",
        "checkpoint of another log";
    /// A signature line by a roster node's key (its name and key id) that does not verify.
    ForgedCosignature = "forged_cosignature", "V1.3", Critical, "",
        "forged witness cosignature";
    /// A signature line by a key the roster does not hold — under a name that is no roster
    /// node's, or under a node's name with another key id. Ignored, as C2SP signed-note
    /// says verifiers ignore signatures by unknown keys (an independent witness's
    /// cosignature is one); a note.
    UnknownCosigner = "unknown_cosigner", "V1.3", Info, "",
        "signature by a key not in the roster (ignored)";
    /// The latest checkpoint has fewer distinct witnesses than required.
    InsufficientWitnesses = "insufficient_witnesses", "V1.3", Warning, "",
        "too few witnesses";
    /// A checkpoint signs more entries than the bundle holds: entries were removed.
    CheckpointBeyondEntries = "checkpoint_beyond_entries", "V1.4", Critical, "",
        "signed entries missing";
    /// A checkpoint is smaller than the one before it in the bundle.
    CheckpointOutOfOrder = "checkpoint_out_of_order", "V1.4", Error, "",
        "checkpoints out of order";
    /// The tree recomputed from the entries does not have the signed root: entries were
    /// changed, removed or inserted.
    RootMismatch = "root_mismatch", "V1.4", Critical, "",
        "entries differ from what the log signed";
    /// Two signed checkpoints of one log cannot both be prefixes of one tree.
    InconsistentCheckpoints = "inconsistent_checkpoints", "V1.5", Critical, "",
        "inconsistent checkpoints";
    /// Two signed checkpoints of the same size with different roots: the log forked.
    Fork = "fork", "V1.5", Critical, "",
        "forked log";
    /// Entries after the last valid checkpoint: no signature covers them.
    UnsignedEntries = "unsigned_entries", "V1.6", Warning, "",
        "entries no checkpoint covers";
    /// An entry does not decode as an audit entry.
    UndecodableEntry = "undecodable_entry", "V1.7", Critical, "",
        "undecodable entry";
    /// An entry's time lies before a time logged before it by more than the protocol's
    /// clock-skew bound (or a disclosure's header is dated that far from its logging):
    /// backdated.
    TimeBackwards = "time_backwards", "V1.8", Critical, "",
        "entry dated back";
    /// An entry's time lies after a time logged after it, after a witness cosigned a
    /// checkpoint that holds it, or after the report's generation time, by more than the
    /// clock-skew bound: dated ahead.
    TimeAhead = "time_ahead", "V1.8", Critical, "",
        "entry dated ahead";
    /// An input bundle could not be read or decoded: its log was not verified.
    UnreadableBundle = "unreadable_bundle", "V1.0", Critical, "",
        "unreadable bundle";

    // V2: the policy replayed over each log.
    /// A protection category in a disclosed or received header.
    ProtectionCategoryDisclosed = "protection_category_disclosed", "V2.1", Critical, "Art. 18.4, 18.6",
        "protection category disclosed";
    /// A consent the subject gave while a child or presumed child was used.
    ChildOwnConsent = "child_own_consent", "V2.2", Critical, "Art. 18.3, 36, 38.5",
        "a child's own consent used";
    /// A consent by a representative who was not registered for the subject was used.
    ConsentNotFromRepresentative = "consent_not_from_representative", "V2.2", Critical, "Art. 18.3, 38.5",
        "consent not from a registered representative";
    /// A consent revoked at or before the disclosure was used.
    RevokedConsentUsed = "revoked_consent_used", "V2.3", Critical, "Art. 18.3",
        "revoked consent used";
    /// A consent expired, not yet valid or not yet recorded at the disclosure was used.
    ConsentNotInForce = "consent_not_in_force", "V2.3", Critical, "Art. 18.3",
        "consent not in force used";
    /// An urgent-danger disclosure without two distinct verified approving officers.
    UrgentWithoutTwoApprovers = "urgent_without_two_approvers", "V2.4", Critical, "Art. 45.3",
        "urgent danger without two approvers";
    /// The replayed decision refuses a logged disclosure (any other rule of the policy).
    DisclosureWithoutBasis = "disclosure_without_basis", "V2.5", Critical, "Art. 18.2, 18.3",
        "disclosure without a lawful basis";
    /// The replayed decision allows the disclosure on another basis than logged.
    BasisMismatch = "basis_mismatch", "V2.5", Error, "Art. 18.2, 18.3",
        "logged basis not reproduced";
    /// A disclosure logged by a node that is not its sender, or a reception by a node that is
    /// not its recipient.
    ForeignEntry = "foreign_entry", "V2.6", Error, "",
        "entry in the wrong log";
    /// One envelope disclosed or received twice in one log.
    DuplicateEnvelope = "duplicate_envelope", "V2.6", Error, "",
        "envelope logged twice";
    /// A subject or consent event that the node would have refused (unknown subject,
    /// duplicate consent, revocation of an unknown consent, …).
    StateEventAnomaly = "state_event_anomaly", "V2.7", Warning, "Art. 18.3, 38.5",
        "subject or consent event out of order";
    /// The receiving node refused a disclosure the sender allowed.
    ReceiverRefused = "receiver_refused", "V2.8", Warning, "Art. 18.2",
        "receiver refused a disclosure";
    /// The receiving application found other content than the header declared.
    ContentViolation = "content_violation", "V2.8", Error, "Art. 18.2, 18.3",
        "content did not match its header";
    /// A node's witness saw another log fork.
    WitnessAlarm = "witness_alarm", "V2.8", Critical, "",
        "witness alarm";
    /// The node ran on a roster document other than the one supplied, under the same version.
    RosterMismatch = "roster_mismatch", "V2.9", Error, "Art. 18.2",
        "roster differs from the one supplied";
    /// The node's last adopted roster version is not the newest one supplied (its entries
    /// are judged under the versions it adopted).
    RosterVersionDiffers = "roster_version_differs", "V2.9", Info, "Art. 18.2",
        "roster version differs";
    /// An entry was decided under a roster version (named by a `roster_changed` entry) that
    /// no supplied or carried signed roster matches: it cannot be judged.
    RosterUnverifiable = "roster_unverifiable", "V2.9", Error, "Art. 18.2",
        "decided under a roster the verifier cannot check";
    /// The node logged adopting a roster version not newer than one it had adopted: a node
    /// never goes back to an older roster (`protocol.md` §8), so a later clause removal
    /// cannot be undone by claiming the older version again.
    RosterRollback = "roster_rollback", "V2.9", Critical, "Art. 18.2",
        "older roster adopted again";
    /// A bundle carries a roster note that the roster key did not sign (or of another
    /// federation): it is ignored.
    RosterNotSigned = "roster_not_signed", "V2.9", Warning, "",
        "carried roster not signed by the roster key";
    /// An urgent-danger disclosure, flagged for review.
    UrgentReview = "urgent_review", "V2.4", Info, "Art. 45.3",
        "urgent danger: review";

    // V3: matching the logs against each other.
    /// A `received` with no `disclosed` in the sender's log.
    ReceivedWithoutDisclosed = "received_without_disclosed", "V3.1", Critical, "Art. 18.2",
        "received but never logged as disclosed";
    /// A `received` and its `disclosed` differ (ciphertext hash or header).
    DisclosureMismatch = "disclosure_mismatch", "V3.1", Critical, "Art. 18.2",
        "received differs from disclosed";
    /// A `received` names another sender log index than its `disclosed`.
    SenderIndexMismatch = "sender_index_mismatch", "V3.1", Error, "",
        "wrong sender log index";
    /// A `received` whose kept envelope signature does not verify, or is by another key
    /// than the sender's signing key in the roster: the sender never signed what the
    /// receiver says it received, and the receiver's log is false.
    ForgedEnvelopeSignature = "forged_envelope_signature", "V3.1", Critical, "",
        "received envelope not signed by its sender";
    /// The receiver's logged basis is not the one the sender's evidence gives.
    ReceiverBasisMismatch = "receiver_basis_mismatch", "V3.2", Error, "Art. 18.2, 18.3",
        "receiver's basis not reproduced";
    /// The receiver accepted a disclosure the policy refuses on the sender's evidence.
    ReceivedWithoutBasis = "received_without_basis", "V3.2", Critical, "Art. 18.2, 18.3",
        "received without a lawful basis";
    /// A `receipt` with no `disclosed` of that envelope to that recipient before it.
    ReceiptWithoutDisclosed = "receipt_without_disclosed", "V3.3", Error, "",
        "receipt without disclosure";
    /// A `receipt` names an entry of the receiver's log that is not the `received` of the
    /// envelope.
    ReceiptEntryMismatch = "receipt_entry_mismatch", "V3.3", Critical, "Art. 18.2",
        "receipt names the wrong entry";
    /// A `disclosed` the receiver logged as received, but whose receipt the sender has not
    /// logged (yet).
    DeliveredWithoutReceipt = "delivered_without_receipt", "V3.4", Info, "",
        "received, receipt not logged";
    /// A `disclosed` with neither a `received` nor a `receipt`: still queued or held.
    Undelivered = "undelivered", "V3.4", Info, "",
        "not delivered";
    /// A witness's log records cosigning a root of this log at a size where this bundle's
    /// entries give another root: the log was rewritten after it was cosigned.
    RewrittenAfterCosigning = "rewritten_after_cosigning", "V3.7", Critical, "",
        "log rewritten after a witness cosigned it";
    /// A witness's log records cosigning this log at a size beyond its bundle's entries.
    CosignedBeyondExport = "cosigned_beyond_export", "V3.7", Critical, "",
        "bundle ends before a size a witness cosigned";
    /// A later log epoch's valid declaration of entries its previous epoch lost on a
    /// restore (`spec/audit-log.md` §9): evidence of an honest restore, not an alarm.
    DeclaredLoss = "declared_loss", "V1.9", Warning, "",
        "entries declared lost on restore";
    /// A later log epoch that does not begin with a `log_restored` declaration.
    UndeclaredEpoch = "undeclared_epoch", "V1.9", Critical, "",
        "new log epoch without a declaration";
    /// A `log_restored` declaration that does not hold: not the node's, of another log,
    /// proving no loss, hiding a checkpoint of the previous epoch that another bundle shows,
    /// or restoring a tree that is not the previous epoch's.
    ForgedRestoreDeclaration = "forged_restore_declaration", "V1.9", Critical, "",
        "false declaration of a restore";
    /// A later log epoch whose earlier epoch's bundle was not supplied: its entries are
    /// replayed without the state the node carried over, so the findings that depend on it
    /// are not reported (counted in the finding). The node keeps that bundle
    /// (`epochs/<n>.bundle` in its data directory).
    MissingEpoch = "missing_epoch", "V1.9", Warning, "",
        "earlier log epoch not supplied";
    /// A counterpart log was not supplied, or ends before the entry in question.
    CounterpartMissing = "counterpart_missing", "V3.5", Info, "",
        "counterpart log not supplied";
    /// An entry keeps a checkpoint of another node's log (a `received` the sender's, a
    /// `receipt` the receiver's) that that node did not sign, or that cannot hold the entry
    /// it is said to prove: the log that keeps it is false.
    ForgedCheckpointEvidence = "forged_checkpoint_evidence", "V3.6", Critical, "",
        "checkpoint evidence the other node never signed";
    /// A bundle ends before a checkpoint its node signed, kept in another node's log: the
    /// export withholds entries the node had committed to (or is older than the others).
    TruncatedExport = "truncated_export", "V3.6", Critical, "",
        "export shorter than a checkpoint its node signed";
    /// A bundle's entries do not give the root its node signed for a size, in a checkpoint
    /// kept in another node's log: the node rewrote its log after signing it.
    RewrittenLog = "rewritten_log", "V3.6", Critical, "",
        "log differs from a checkpoint its node signed";
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

/// One finding (or note): where, which rule, which article, and what was seen.
///
/// `seen` names only pseudonymous ids, agency ids, categories, purposes, sizes and hashes:
/// logs hold no names and no record content, and neither does a finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// Its severity (the rule's).
    pub severity: Severity,
    /// The rule.
    pub rule: Rule,
    /// The check of `spec/verification.md` (the rule's).
    pub check: &'static str,
    /// The article(s) of the law (the rule's), or `""`.
    pub article: &'static str,
    /// The node (agency id; the bundle's origin if no agency of the roster has it).
    pub node: String,
    /// The entry index in that node's log, if the finding is about an entry.
    pub entry_index: Option<u64>,
    /// The checkpoint's position in the bundle, if the finding is about a checkpoint.
    pub checkpoint_index: Option<usize>,
    /// The envelope id, if the finding is about a disclosure.
    pub envelope: Option<String>,
    /// The other side, for a cross-node finding: `agency#index`.
    pub counterpart: Option<String>,
    /// What was seen.
    pub seen: String,
}

impl Finding {
    /// A finding of `rule` at `node`.
    pub(crate) fn new(rule: Rule, node: impl Into<String>, seen: impl Into<String>) -> Self {
        Self {
            severity: rule.severity(),
            rule,
            check: rule.check(),
            article: rule.article(),
            node: node.into(),
            entry_index: None,
            checkpoint_index: None,
            envelope: None,
            counterpart: None,
            seen: seen.into(),
        }
    }

    /// The same, about entry `index`.
    pub(crate) fn at_entry(mut self, index: u64) -> Self {
        self.entry_index = Some(index);
        self
    }

    /// The same, under the exact article of a policy refusal (one mapping:
    /// [`RefusalReason::article`](streha_core::RefusalReason::article)); the rule's own
    /// article if the reason names none.
    pub(crate) fn article(mut self, article: &'static str) -> Self {
        if !article.is_empty() {
            self.article = article;
        }
        self
    }

    /// The same, about checkpoint `index` of the bundle.
    pub(crate) fn at_checkpoint(mut self, index: usize) -> Self {
        self.checkpoint_index = Some(index);
        self
    }

    /// The same, about envelope `id`.
    pub(crate) fn envelope(mut self, id: impl fmt::Display) -> Self {
        self.envelope = Some(id.to_string());
        self
    }

    /// The same, with the other side of a cross-node finding.
    pub(crate) fn counterpart(mut self, agency: &str, index: Option<u64>) -> Self {
        self.counterpart = Some(match index {
            Some(i) => format!("{agency}#{i}"),
            None => agency.to_owned(),
        });
        self
    }

    /// Where: `node`, `node#index` or `node checkpoint k`.
    #[must_use]
    pub fn location(&self) -> String {
        match (self.entry_index, self.checkpoint_index) {
            (Some(i), _) => format!("{}#{i}", self.node),
            (None, Some(c)) => format!("{} checkpoint {c}", self.node),
            (None, None) => self.node.clone(),
        }
    }

    /// The article, or `—` for a rule of the log's integrity.
    #[must_use]
    pub fn article_or_dash(&self) -> &'static str {
        if self.article.is_empty() {
            "\u{2014}"
        } else {
            self.article
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] {} {} ({}, {}): {}",
            self.severity,
            self.location(),
            self.rule,
            self.check,
            self.article_or_dash(),
            self.seen
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_documented() {
        let mut codes: Vec<&str> = Rule::ALL.iter().map(|r| r.code()).collect();
        codes.sort_unstable();
        let before = codes.len();
        codes.dedup();
        assert_eq!(before, codes.len());
        for rule in Rule::ALL {
            assert!(
                rule.code()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
            assert!(rule.check().starts_with('V'));
            assert!(rule.article().is_empty() || rule.article().starts_with("Art. "));
            assert_eq!(
                serde_json::to_string(rule).unwrap(),
                format!("\"{}\"", rule.code())
            );
        }
        assert!(Severity::Critical > Severity::Error && Severity::Warning > Severity::Info);
    }
}
