//! Requests from the agency's own applications (ALPN `streha-app/1`).

use streha_core::{
    AuditEntry, ConsentGrant, ConsentRevocation, ConsentView, Decision, DisclosureHeader,
    DisclosureRequest, EnvelopeId, PolicyContext, Subject, SubjectId, check_grant, decide_to_send,
};
use streha_crypto::Envelope;
use streha_store::Transaction;
use streha_wire::app::{
    AppRequest, AppResponse, ConsentStatus, DeliveryState, HoldReason, InboxItem, MAX_PAGE,
};
use streha_wire::peer::ProvenEntry;

use streha_wire::text::sanitized;

use crate::at_rest::{self, Place};
use crate::failure::Failure;
use crate::metrics::Metrics;
use crate::paging::Page;
use crate::shared::Shared;
use crate::state::{
    self, CONSENT_INDEX, CONSENTS, HELD, Held, HoldClass, INBOX, INBOX_ORDER, InboxRecord,
    OUTBOUND, OUTBOUND_INDEX, Outbound, OutboundIndex, PENDING_SUBJECTS, RECEIVED, SENT,
    SUBJECT_CONSENTS, SUBJECTS, StoredConsent, VIOLATIONS,
};

/// Answers one application request. Never panics; every failure becomes an error response.
pub(crate) async fn handle(shared: &Shared, request: AppRequest) -> AppResponse {
    match dispatch(shared, request).await {
        Ok(response) => response,
        Err(failure) => AppResponse::Error(failure.to_remote()),
    }
}

async fn dispatch(shared: &Shared, request: AppRequest) -> Result<AppResponse, Failure> {
    match request {
        AppRequest::RegisterSubject {
            subject,
            age_status,
            representatives,
        } => register_subject(shared, subject, age_status, representatives).await,
        AppRequest::RecordAgeStatus {
            subject,
            age_status,
        } => {
            update_subject(shared, subject, |s, at| {
                s.record_age_status(age_status, at)?;
                Ok(vec![AuditEntry::AgeStatusRecorded {
                    subject,
                    age_status,
                    at,
                }])
            })
            .await
        }
        AppRequest::AddRepresentative {
            subject,
            representative,
        } => {
            update_subject(shared, subject, |s, at| {
                s.add_representative(representative.clone())?;
                Ok(vec![AuditEntry::RepresentativeRegistered {
                    subject,
                    representative,
                    at,
                }])
            })
            .await
        }
        AppRequest::GrantConsent(grant) => grant_consent(shared, *grant).await,
        AppRequest::RevokeConsent(revocation) => revoke_consent(shared, revocation).await,
        AppRequest::ListConsents { subject } => list_consents(shared, subject),
        AppRequest::ConsentsPage {
            subject,
            after,
            limit,
        } => Ok(AppResponse::Consents(consents_page(
            shared, subject, after, limit,
        )?)),
        AppRequest::Submit(envelope) => submit(shared, *envelope).await,
        AppRequest::DeliveryStatus { envelope } => delivery_status(shared, envelope),
        AppRequest::Inbox { after, limit } => inbox(shared, after, limit),
        AppRequest::Fetch { envelope } => {
            let record: InboxRecord = state::load(&shared.store, INBOX, envelope.as_bytes())?
                .ok_or_else(|| {
                    Failure::NotFound(format!("envelope {envelope} is not in the inbox"))
                })?;
            let opened = at_rest::open(
                shared,
                Place::Inbox,
                record.about,
                envelope,
                record.sealed_envelope,
            )?;
            Ok(AppResponse::Envelope(Box::new(opened)))
        }
        AppRequest::ReportViolation {
            envelope,
            kind,
            found,
        } => report_violation(shared, envelope, kind, found).await,
        AppRequest::Roster => {
            let roster = shared.roster();
            let note = roster
                .signed_note()
                .ok_or_else(|| Failure::Internal("the roster in use has no signed form".into()))?;
            Ok(AppResponse::Note(note.to_owned()))
        }
        AppRequest::Checkpoint => {
            let checkpoint = shared
                .store
                .latest_checkpoint()
                .ok_or_else(|| Failure::NotFound("the log is empty: no checkpoint yet".into()))?;
            Ok(AppResponse::Note(crate::witness::with_cosignatures(
                shared,
                checkpoint.size,
                &checkpoint.note,
            )?))
        }
        AppRequest::ProveEntry { index } => {
            Ok(AppResponse::Entry(Box::new(prove_entry(shared, index)?)))
        }
        AppRequest::ProveEntryInEpoch { epoch, index } => {
            let current = crate::epochs::current(shared);
            if epoch == 0 || epoch > current {
                return Err(Failure::NotFound(format!(
                    "this node's log has no epoch {epoch}: it is in epoch {current}"
                )));
            }
            Ok(AppResponse::Entry(Box::new(crate::epochs::prove_at(
                shared,
                state::LogPosition { epoch, index },
            )?)))
        }
        AppRequest::ProveConsistency { old, new } => Ok(AppResponse::Consistency(
            shared.store.consistency_proof(old, new)?,
        )),
        AppRequest::Entries { start, limit } => {
            let end = shared
                .store
                .tree_size()
                .min(start.saturating_add(u64::from(limit.min(MAX_PAGE))));
            let mut page = Page::new(limit);
            for index in start..end {
                let entry = shared
                    .store
                    .entry(index)?
                    .ok_or_else(|| Failure::Internal(format!("log entry {index} is missing")))?;
                if !page.offer(entry) {
                    break;
                }
            }
            Ok(AppResponse::Entries(page.into_items()))
        }
        AppRequest::Checkpoints { start, limit } => {
            let mut page = Page::new(limit);
            let notes = shared
                .store
                .checkpoints_from(start, usize::try_from(limit.min(MAX_PAGE)).unwrap_or(0))?;
            for note in notes {
                if !page.offer(cosigned_note(shared, note)?) {
                    break;
                }
            }
            Ok(AppResponse::Checkpoints(page.into_items()))
        }
        AppRequest::CheckpointsAfter { after, limit } => {
            let mut page = Page::new(limit);
            let notes = shared
                .store
                .checkpoints_after(after, usize::try_from(limit.min(MAX_PAGE)).unwrap_or(0))?;
            for (size, note) in notes {
                let note = crate::witness::with_cosignatures(shared, size, &note)?;
                if !page.offer(note) {
                    break;
                }
            }
            Ok(AppResponse::Checkpoints(page.into_items()))
        }
        AppRequest::PublishedCheckpoint => {
            let (_, note) = crate::witness::published_checkpoint(shared)?.ok_or_else(|| {
                Failure::NotFound(format!(
                    "no checkpoint is cosigned by {} other node(s) yet",
                    shared.witness.quorum
                ))
            })?;
            Ok(AppResponse::Note(note))
        }
        AppRequest::ProvePublished { index } => {
            let (size, note) = crate::witness::published_checkpoint(shared)?
                .ok_or_else(|| Failure::NotFound("no checkpoint is published yet".into()))?;
            if index >= size {
                return Err(Failure::NotFound(format!(
                    "entry {index} is beyond the published checkpoint (size {size})"
                )));
            }
            let entry = shared
                .store
                .entry(index)?
                .ok_or_else(|| Failure::Internal(format!("log entry {index} is missing")))?;
            Ok(AppResponse::Entry(Box::new(ProvenEntry {
                entry,
                index,
                proof: shared.store.inclusion_proof(index, size)?,
                checkpoint: note,
            })))
        }
        AppRequest::AwaitDelivery {
            envelope,
            timeout_ms,
        } => await_delivery(shared, envelope, timeout_ms).await,
        AppRequest::HeldDeliveries { after, limit } => held_deliveries(shared, after, limit),
        AppRequest::WitnessEvidence { start, limit } => Ok(AppResponse::Evidence(
            crate::witness::evidence_page(shared, start, limit)?,
        )),
        AppRequest::AdoptedRosters { start, limit } => {
            // Keys are the prefix and the version big-endian: scanned in version order.
            let take = usize::try_from(limit)
                .unwrap_or(usize::MAX)
                .min(streha_wire::limits::MAX_ROSTERS_PAGE);
            let skip = usize::try_from(start).unwrap_or(usize::MAX);
            let mut page = Vec::with_capacity(take);
            for (_, note) in shared
                .store
                .scan(state::NODE_META, state::ROSTER_NOTE_PREFIX)?
                .into_iter()
                .skip(skip)
                .take(take)
            {
                page.push(
                    String::from_utf8(note)
                        .map_err(|_| Failure::Internal("a kept roster note is not UTF-8".into()))?,
                );
            }
            Ok(AppResponse::Rosters(page))
        }
        AppRequest::RekeySubject {
            subject,
            new_subject,
            salt,
        } => rekey_subject(shared, subject, new_subject, salt).await,
        _ => Err(Failure::BadRequest(
            "this node does not support that request; upgrade the node".into(),
        )),
    }
}

/// The subject `id`, registering it in the log first if it is the pending successor of a
/// re-keyed subject (see [`PENDING_SUBJECTS`]).
async fn load_subject(shared: &Shared, id: SubjectId) -> Result<Option<Subject>, Failure> {
    if let Some(subject) = state::load(&shared.store, SUBJECTS, id.as_bytes())? {
        return Ok(Some(subject));
    }
    let Some(successor) = state::load::<Subject>(&shared.store, PENDING_SUBJECTS, id.as_bytes())?
    else {
        return Ok(None);
    };
    let mut tx = Transaction::new();
    tx.append(
        AuditEntry::SubjectRegistered {
            subject: id,
            age_status: successor.age_status(),
            at: shared.now(),
        }
        .encode(),
    )
    .put(SUBJECTS, id.as_bytes().to_vec(), state::encode(&successor))
    .remove(PENDING_SUBJECTS, id.as_bytes().to_vec())
    .require_present(PENDING_SUBJECTS, id.as_bytes());
    match shared.commit(tx).await {
        // A concurrent request registered it first.
        Ok(_) | Err(Failure::Conflict(_)) => {}
        Err(e) => return Err(e),
    }
    Ok(state::load(&shared.store, SUBJECTS, id.as_bytes())?)
}

/// Art. 18.5: closes `old`, keeps `new` (age status and `adult_since` carried over) as a
/// pending successor that is registered in the log at its first use, logs only a salted
/// commitment to the new id, and crypto-shreds what this node keeps about the old id: its
/// data key is destroyed first (see `at_rest`), so every copy of the envelopes about it —
/// inbox and queue, live, in sled's freed pages, in database backups — becomes unreadable;
/// then the inbox rows are deleted and the queued disclosures held (never sent).
async fn rekey_subject(
    shared: &Shared,
    old: SubjectId,
    new: SubjectId,
    salt: [u8; 32],
) -> Result<AppResponse, Failure> {
    let _guard = shared.registry_lock.write().await;
    let mut subject: Subject =
        state::load(&shared.store, SUBJECTS, old.as_bytes())?.ok_or_else(|| {
            Failure::NotFound(format!("subject {old} is not registered at this node"))
        })?;
    if shared.store.get(SUBJECTS, new.as_bytes())?.is_some()
        || shared
            .store
            .get(PENDING_SUBJECTS, new.as_bytes())?
            .is_some()
    {
        return Err(Failure::Conflict(
            "the new subject id is already in use; draw another".into(),
        ));
    }
    let (successor, record) = subject.rekey(new, &salt).map_err(subject_error)?;
    let at = shared.now();
    let mut tx = Transaction::new();
    tx.append(
        AuditEntry::SubjectRekeyed {
            old,
            new_commitment: record.new_commitment,
            at,
        }
        .encode(),
    )
    .put(SUBJECTS, old.as_bytes().to_vec(), state::encode(&subject))
    .put(
        PENDING_SUBJECTS,
        new.as_bytes().to_vec(),
        state::encode(&successor),
    )
    .require_absent(SUBJECTS, new.as_bytes())
    .require_absent(PENDING_SUBJECTS, new.as_bytes());

    // The key is destroyed only once the re-keying (and the record that it shreds the key)
    // is committed: a key missing without a logged re-keying is an integrity failure. A
    // crash in between leaves the key to the next start, which completes the shredding
    // before serving (`at_rest::verify_vault`).
    at_rest::record_shredding(&mut tx, old, at);
    let mut deleted = 0usize;
    for (key, value) in shared.store.scan(INBOX, &[])? {
        let Ok(record) = postcard::from_bytes::<InboxRecord>(&value) else {
            continue;
        };
        if record.about == old {
            let Ok(id) = <[u8; 16]>::try_from(key.as_slice()) else {
                continue;
            };
            let order = inbox_order_key(record.received_at, EnvelopeId::from_bytes(id));
            // The content goes; where it was logged stays, the answer to a repeated
            // delivery (kept in `RECEIVED` already if written before `crate::migrate`).
            if let Some(position) = state::order_position(&shared.store, &order)? {
                tx.put(RECEIVED, key.clone(), position.encode());
            }
            tx.remove(INBOX, key.clone()).remove(INBOX_ORDER, order);
            deleted += 1;
        }
    }
    let mut held = 0usize;
    for (key, value) in shared.store.scan(OUTBOUND, &[])? {
        let about_old =
            postcard::from_bytes::<Outbound>(&value).is_ok_and(|item| item.about == old);
        if about_old {
            tx.put(
                HELD,
                key,
                state::encode(&Held {
                    reason: "the subject was re-keyed (Art. 18.5); not sent".into(),
                    since: at,
                    class: HoldClass::Rekeyed,
                }),
            );
            held += 1;
        }
    }
    let committed = shared.commit(tx).await?;
    let shredded = at_rest::shred(shared, old)?;
    tracing::info!(shredded, deleted, held, "subject re-keyed");
    Ok(logged(&committed))
}

/// An entry of this node's log with its inclusion proof against the latest checkpoint.
pub(crate) fn prove_entry(shared: &Shared, index: u64) -> Result<ProvenEntry, Failure> {
    let checkpoint = shared
        .store
        .latest_checkpoint()
        .ok_or_else(|| Failure::NotFound("the log is empty".into()))?;
    if index >= checkpoint.size {
        return Err(Failure::NotFound(format!(
            "entry {index} is beyond the latest checkpoint (size {})",
            checkpoint.size
        )));
    }
    let entry = shared
        .store
        .entry(index)?
        .ok_or_else(|| Failure::Internal(format!("log entry {index} is missing")))?;
    let proof = shared.store.inclusion_proof(index, checkpoint.size)?;
    Ok(ProvenEntry {
        entry,
        index,
        proof,
        checkpoint: crate::witness::with_cosignatures(shared, checkpoint.size, &checkpoint.note)?,
    })
}

/// A stored checkpoint note of this node's log with the witness cosignatures the node holds
/// for it. A note that does not parse is served as stored (the client will refuse it).
fn cosigned_note(shared: &Shared, note: String) -> Result<String, Failure> {
    let size = streha_audit::SignedNote::parse(&note)
        .ok()
        .and_then(|n| streha_audit::Checkpoint::parse_body(n.body()).ok())
        .map(|c| c.size());
    match size {
        Some(size) => crate::witness::with_cosignatures(shared, size, &note),
        None => Ok(note),
    }
}

fn logged(committed: &streha_store::Committed) -> AppResponse {
    AppResponse::Logged {
        index: committed.first_index,
    }
}

fn subject_error(error: streha_core::SubjectError) -> Failure {
    Failure::BadRequest(error.to_string())
}

async fn register_subject(
    shared: &Shared,
    id: SubjectId,
    age_status: streha_core::AgeStatus,
    representatives: Vec<streha_core::RepresentativeId>,
) -> Result<AppResponse, Failure> {
    let _guard = shared.registry_lock.write().await;
    if shared.store.get(SUBJECTS, id.as_bytes())?.is_some() {
        return Err(Failure::Conflict(format!(
            "subject {id} is already registered"
        )));
    }
    let at = shared.now();
    let mut subject = Subject::new(id, age_status);
    let mut tx = Transaction::new();
    tx.append(
        AuditEntry::SubjectRegistered {
            subject: id,
            age_status,
            at,
        }
        .encode(),
    );
    for representative in representatives {
        subject
            .add_representative(representative.clone())
            .map_err(subject_error)?;
        tx.append(
            AuditEntry::RepresentativeRegistered {
                subject: id,
                representative,
                at,
            }
            .encode(),
        );
    }
    tx.put(SUBJECTS, id.as_bytes().to_vec(), state::encode(&subject))
        .require_absent(SUBJECTS, id.as_bytes());
    Ok(logged(&shared.commit(tx).await?))
}

async fn update_subject<F>(
    shared: &Shared,
    id: SubjectId,
    change: F,
) -> Result<AppResponse, Failure>
where
    F: FnOnce(
        &mut Subject,
        streha_core::Timestamp,
    ) -> Result<Vec<AuditEntry>, streha_core::SubjectError>,
{
    let _guard = shared.registry_lock.write().await;
    let mut subject: Subject = load_subject(shared, id)
        .await?
        .ok_or_else(|| Failure::NotFound(format!("subject {id} is not registered at this node")))?;
    let entries = change(&mut subject, shared.now()).map_err(subject_error)?;
    let mut tx = Transaction::new();
    for entry in entries {
        tx.append(entry.encode());
    }
    tx.put(SUBJECTS, id.as_bytes().to_vec(), state::encode(&subject));
    Ok(logged(&shared.commit(tx).await?))
}

async fn grant_consent(shared: &Shared, grant: ConsentGrant) -> Result<AppResponse, Failure> {
    let _guard = shared.registry_lock.write().await;
    let id = grant.id();
    let subject: Subject = load_subject(shared, grant.subject())
        .await?
        .ok_or_else(|| {
            Failure::NotFound(format!(
                "subject {} is not registered at this node; register it first",
                grant.subject()
            ))
        })?;
    shared.check_skew("consent recorded_at", grant.recorded_at())?;
    if shared.store.get(CONSENTS, id.as_bytes())?.is_some() {
        return Err(Failure::Conflict(format!("consent {id} already exists")));
    }
    // The policy's check of the grant (a child's own consent, an unregistered representative,
    // a closed id, an agency outside the roster): refused now, and the refusal logged like a
    // refused disclosure, rather than recorded, listed as in force and refused at every send.
    // The roster is read under the registry lock, which a roster adoption takes exclusively.
    let roster = shared.roster();
    if let Err(reason) = check_grant(roster.policy_view(), &subject, &grant) {
        tracing::info!(consent = %id, reason = %reason, "consent refused by policy");
        shared.metrics.refused("grant", &reason);
        let mut tx = Transaction::new();
        tx.append(
            AuditEntry::ConsentRefused {
                grant,
                reason: reason.clone(),
                at: shared.now(),
            }
            .encode(),
        );
        let committed = shared.commit(tx).await?;
        return Ok(AppResponse::Refused {
            reason,
            index: committed.first_index,
        });
    }
    let mut subject_key = grant.subject().as_bytes().to_vec();
    subject_key.extend_from_slice(id.as_bytes());
    let mut tx = Transaction::new();
    tx.append(
        AuditEntry::ConsentGranted {
            grant: grant.clone(),
        }
        .encode(),
    )
    .put(
        CONSENTS,
        id.as_bytes().to_vec(),
        state::encode(&StoredConsent {
            grant,
            revoked_at: None,
        }),
    )
    .put(SUBJECT_CONSENTS, subject_key, Vec::new())
    .require_absent(CONSENTS, id.as_bytes());
    state::put_position(
        &mut tx,
        CONSENT_INDEX,
        id.as_bytes().to_vec(),
        crate::epochs::current(shared),
    );
    Ok(logged(&shared.commit(tx).await?))
}

async fn revoke_consent(
    shared: &Shared,
    revocation: ConsentRevocation,
) -> Result<AppResponse, Failure> {
    let _guard = shared.registry_lock.write().await;
    let id = revocation.consent;
    let mut stored: StoredConsent = state::load(&shared.store, CONSENTS, id.as_bytes())?
        .ok_or_else(|| Failure::NotFound(format!("consent {id} does not exist at this node")))?;
    if stored.revoked_at.is_some() {
        return Err(Failure::Conflict(format!(
            "consent {id} is already revoked"
        )));
    }
    shared.check_skew("revocation revoked_at", revocation.revoked_at)?;
    if revocation.revoked_at < stored.grant.recorded_at() {
        return Err(Failure::BadRequest(format!(
            "the revocation revoked_at {} is before the consent's recorded_at {}: consent {id} cannot be revoked before it was recorded",
            revocation.revoked_at,
            stored.grant.recorded_at()
        )));
    }
    stored.revoked_at = Some(revocation.revoked_at);
    let mut tx = Transaction::new();
    tx.append(AuditEntry::ConsentRevoked { revocation }.encode())
        .put(CONSENTS, id.as_bytes().to_vec(), state::encode(&stored));
    Ok(logged(&shared.commit(tx).await?))
}

/// All the consents of `subject` in one answer, as long as they fit in one page; beyond
/// that an error that says to page, never a shortened list.
fn list_consents(shared: &Shared, subject: SubjectId) -> Result<AppResponse, Failure> {
    let page = consents_page(shared, subject, None, MAX_PAGE)?;
    let more = match page.last() {
        None => false,
        Some(last) => !consents_page(shared, subject, Some(last.grant.id()), 1)?.is_empty(),
    };
    if more {
        return Err(Failure::BadRequest(format!(
            "subject {subject} has more consents than one answer holds; list them by pages (ConsentsPage, streha-client `consents`)"
        )));
    }
    Ok(AppResponse::Consents(page))
}

/// A page of the consents of `subject`, in consent-id order after `after`: one range read
/// of the subject's index, never the whole registry.
fn consents_page(
    shared: &Shared,
    subject: SubjectId,
    after: Option<streha_core::ConsentId>,
    limit: u32,
) -> Result<Vec<ConsentStatus>, Failure> {
    let mut page = Page::new(limit);
    // The subject's index keys are subject ‖ consent id; the subject's id alone sorts
    // before all of them.
    let mut start = subject.as_bytes().to_vec();
    if let Some(after) = after {
        start.extend_from_slice(after.as_bytes());
    }
    let keys = shared.store.scan_after(
        SUBJECT_CONSENTS,
        Some(&start),
        usize::try_from(limit.min(MAX_PAGE)).unwrap_or(0),
    )?;
    for (key, _) in keys {
        let Some(consent_key) = key.strip_prefix(subject.as_bytes()) else {
            break;
        };
        let stored: StoredConsent = state::load(&shared.store, CONSENTS, consent_key)?
            .ok_or_else(|| Failure::Internal("a consent of the subject index is missing".into()))?;
        // The index in the epoch it was logged in (`spec/audit-log.md` §9).
        let log_index = state::load_position(&shared.store, CONSENT_INDEX, consent_key)?
            .ok_or_else(|| Failure::Internal("a consent has no log index".into()))?
            .index;
        let status = ConsentStatus {
            grant: stored.grant,
            revoked_at: stored.revoked_at,
            log_index,
        };
        if !page.offer(status) {
            break;
        }
    }
    Ok(page.into_items())
}

/// The consent a disclosure about `subject` names, if it is one of that subject's: the
/// only consent the policy consults (`streha_core::PolicyContext`), read by its id, so a
/// submission costs the same however many consents its subject has. Another subject's
/// consent is not passed, exactly as if it were unknown.
pub(crate) fn named_consent(
    shared: &Shared,
    subject: SubjectId,
    consent: Option<streha_core::ConsentId>,
) -> Result<Vec<StoredConsent>, Failure> {
    let Some(consent) = consent else {
        return Ok(Vec::new());
    };
    Ok(
        state::load::<StoredConsent>(&shared.store, CONSENTS, consent.as_bytes())?
            .filter(|stored| stored.grant.subject() == subject)
            .into_iter()
            .collect(),
    )
}

async fn submit(shared: &Shared, envelope: Envelope) -> Result<AppResponse, Failure> {
    // Held until the entry is committed: a revocation or re-keying committed between reading
    // the registry and logging the decision would otherwise not be seen by it, and a roster
    // adoption (which takes it exclusively over its `roster_changed` entry and the swap)
    // cannot fall between reading the roster and logging a decision made under it. Shared,
    // so that concurrent disclosures still commit together; registry changes wait for them.
    let _guard = shared.registry_lock.read().await;
    let roster = shared.roster();
    let own = shared.own_entry()?;
    // The application signs with the agency key; the node accepts only that key.
    if envelope.header.sender != own.signing_key {
        return Err(Failure::Unauthorized(format!(
            "the envelope is not signed with the signing key of `{}` in the roster; check the application's agency signing key",
            shared.agency
        )));
    }
    envelope
        .verify_signature(&own.signing_key)
        .map_err(|e| Failure::Verification(format!("the envelope does not verify: {e}")))?;
    let header = DisclosureHeader::decode(&envelope.header.context)
        .map_err(|e| Failure::BadRequest(format!("the disclosure header is malformed: {e}")))?;
    let id = header.envelope_id;

    // A retried submission of an accepted envelope gets the same answer.
    if let Some(sent) = state::load_sent(&shared.store, id.as_bytes())? {
        return accepted_again(shared, &envelope, id, sent.disclosed);
    }
    shared.check_disk_reserve()?;
    if header.sender != shared.agency {
        return Err(Failure::Unauthorized(format!(
            "the header names `{}` as sender; this node sends only for `{}`",
            header.sender, shared.agency
        )));
    }
    shared.check_skew("disclosure created_at", header.created_at)?;
    // Past its validity period the roster stays in force, but no disclosure leaves under it
    // except an urgent-danger one, which Art. 45.3 wants made without delay
    // (`spec/protocol.md` §8, "Lifetime"). Not a decision of the policy: nothing is logged.
    if roster.is_expired_at(shared.now()) && header.purpose != streha_core::Purpose::UrgentDanger {
        return Err(Failure::Unavailable(format!(
            "the roster (version {}) expired at {}: no disclosure leaves this node until a newer roster is adopted (urgent-danger disclosures excepted, Art. 45.3); the operator must install the national authority's new roster, or wait for a peer to pass it on, then retry",
            roster.version(),
            roster
                .expires_at()
                .map(|t| t.to_string())
                .unwrap_or_default()
        )));
    }
    if let Some(recipient) = roster.agency(&header.recipient)
        && envelope.header.recipient != recipient.encryption_key
    {
        return Err(Failure::BadRequest(format!(
            "the envelope is sealed to a key that is not the encryption key of `{}` in the roster; refresh the roster and seal again",
            header.recipient
        )));
    }

    let subject: Option<Subject> = load_subject(shared, header.subject).await?;
    let consents = named_consent(shared, header.subject, header.consent)?;
    let views: Vec<ConsentView<'_>> = consents
        .iter()
        .map(|c| ConsentView {
            grant: &c.grant,
            revoked_at: c.revoked_at,
        })
        .collect();
    let context = PolicyContext {
        federation: roster.policy_view(),
        subject: subject.as_ref(),
        consents: &views,
    };
    let request =
        DisclosureRequest::new(&header).with_verified_approvals(|sender, approval, message| {
            crate::receive::approval_verifies(&roster, sender, approval, message)
        });
    // Art. 18.3: decided at the stated `created_at` and at this node's own time, the `at` it
    // logs. `created_at` may lie up to the clock skew in the past; deciding there alone would
    // let a disclosure dated just before a revocation or an expiry leave after it.
    let at = shared.now();
    let decision = decide_to_send(&context, &request, at);
    let ciphertext_hash = envelope.ciphertext_hash;
    match decision {
        Decision::Refused { reason } => {
            tracing::info!(envelope = %id, reason = reason.name(), article = reason.article(), detail = %reason, "disclosure refused by policy");
            shared.metrics.refused("send", &reason);
            let mut tx = Transaction::new();
            tx.append(
                AuditEntry::Refused {
                    header,
                    reason: reason.clone(),
                    at,
                }
                .encode(),
            );
            let committed = shared.commit(tx).await?;
            Ok(AppResponse::Refused {
                reason,
                index: committed.first_index,
            })
        }
        Decision::Allowed {
            basis,
            urgent_review,
        } => {
            let subject = subject.ok_or_else(|| {
                Failure::Internal("the policy allowed a disclosure for an unknown subject".into())
            })?;
            let outbound = Outbound {
                recipient: header.recipient.clone(),
                subject: state::facts_of(&subject),
                consent: header.consent,
                about: header.subject,
                sealed_envelope: at_rest::seal(
                    shared,
                    Place::Queue,
                    header.subject,
                    id,
                    &envelope,
                )?,
                ciphertext_hash,
                disclosed_at: at,
            };
            let mut tx = Transaction::new();
            tx.append(
                AuditEntry::Disclosed {
                    header,
                    basis,
                    urgent_review,
                    ciphertext_hash,
                    at,
                }
                .encode(),
            )
            .put(
                OUTBOUND_INDEX,
                id.as_bytes().to_vec(),
                state::encode(&state::OutboundIndex {
                    recipient: outbound.recipient.clone(),
                    disclosed_at: at,
                }),
            )
            .put_body(OUTBOUND, id.as_bytes().to_vec(), state::encode(&outbound))
            .require_absent(SENT, id.as_bytes());
            state::put_sent_accepted(
                &mut tx,
                id.as_bytes().to_vec(),
                crate::epochs::current(shared),
            );
            at_rest::record_key(shared, &mut tx, outbound.about)?;
            let recipient = outbound.recipient.clone();
            let committed = match shared.commit(tx).await {
                Ok(committed) => committed,
                Err(Failure::Conflict(_)) => {
                    // A concurrent submission of the same envelope won the race.
                    let sent = state::load_sent(&shared.store, id.as_bytes())?
                        .ok_or_else(|| Failure::Internal("lost a submission race".into()))?;
                    return accepted_again(shared, &envelope, id, sent.disclosed);
                }
                Err(e) => return Err(e),
            };
            shared.outbound_arrivals.post(id, recipient, at);
            tracing::info!(envelope = %id, index = committed.first_index, urgent_review, "disclosure accepted and queued");
            Metrics::bump(&shared.metrics.disclosures_accepted);
            shared.outbound_wake.notify_one();
            Ok(AppResponse::Accepted {
                envelope: id,
                index: committed.first_index,
            })
        }
    }
}

/// The answer to a repeated submission: the same acceptance, if it is the same envelope
/// (its `disclosed` entry read from the epoch it was logged in). Accepted in an earlier
/// epoch of the log, it is not accepted again: the answer says so precisely, since
/// `Accepted`'s index counts in the current epoch (`spec/audit-log.md` §9).
fn accepted_again(
    shared: &Shared,
    envelope: &Envelope,
    id: EnvelopeId,
    position: state::LogPosition,
) -> Result<AppResponse, Failure> {
    let entry = AuditEntry::decode(&crate::epochs::entry_at(shared, position)?).ok();
    let index = position.index;
    match entry {
        Some(AuditEntry::Disclosed {
            header,
            ciphertext_hash,
            ..
        }) if header.envelope_id == id && ciphertext_hash == envelope.ciphertext_hash => {
            if position.epoch != crate::epochs::current(shared) {
                return Err(Failure::Conflict(format!(
                    "envelope {id} was accepted already, in epoch {} of this node's log (entry {index}), before the log continued in epoch {} after a declared loss; it is not submitted again (ask its delivery status; prove the entry with ProveEntryInEpoch)",
                    position.epoch,
                    crate::epochs::current(shared)
                )));
            }
            Ok(AppResponse::Accepted {
                envelope: id,
                index,
            })
        }
        _ => Err(Failure::Conflict(format!(
            "envelope id {id} was already used for a different envelope; seal again with a fresh id"
        ))),
    }
}

/// A page of the held deliveries, in envelope-id order, after `after` (exclusive): range
/// reads from the cursor, never the whole list.
fn held_deliveries(
    shared: &Shared,
    after: Option<EnvelopeId>,
    limit: u32,
) -> Result<AppResponse, Failure> {
    let mut page = Page::new(limit);
    let mut cursor = after.map(|after| after.as_bytes().to_vec());
    'pages: loop {
        let batch = shared
            .store
            .scan_after(HELD, cursor.as_deref(), MAX_PAGE as usize)?;
        let Some((last, _)) = batch.last() else {
            break;
        };
        cursor = Some(last.clone());
        for (key, value) in batch {
            let Ok(id) = <[u8; 16]>::try_from(key.as_slice()) else {
                continue;
            };
            let held = state::decode_held(&value).ok_or_else(|| {
                Failure::Internal("a stored held delivery does not decode".into())
            })?;
            let Some(index) = state::load::<OutboundIndex>(&shared.store, OUTBOUND_INDEX, &key)?
            else {
                // Delivered since: no longer waiting.
                continue;
            };
            let item = streha_wire::app::HeldDelivery {
                envelope: EnvelopeId::from_bytes(id),
                recipient: index.recipient,
                class: match held.class {
                    HoldClass::NotInRoster => HoldReason::NotInRoster,
                    HoldClass::Refused => HoldReason::Refused,
                    HoldClass::Rekeyed => HoldReason::Rekeyed,
                    HoldClass::Other => HoldReason::Other,
                },
                // Stored sanitized since the reason could quote a receiver; a hold stored
                // before that is cut and escaped here, or it would break the listing.
                reason: sanitized(&held.reason),
                since: held.since,
            };
            if !page.offer(item) {
                break 'pages;
            }
        }
    }
    Ok(AppResponse::Held(page.into_items()))
}

/// Longest wait [`AppRequest::AwaitDelivery`] accepts.
const MAX_AWAIT_MS: u32 = 60_000;

async fn await_delivery(
    shared: &Shared,
    id: EnvelopeId,
    timeout_ms: u32,
) -> Result<AppResponse, Failure> {
    let deadline = tokio::time::Instant::now()
        + std::time::Duration::from_millis(u64::from(timeout_ms.min(MAX_AWAIT_MS)));
    let subscription = shared.delivery_waiters.subscribe(id);
    loop {
        // Register for the wake-up before looking, so a receipt in between is not missed.
        let done = subscription.notified();
        tokio::pin!(done);
        done.as_mut().enable();
        let state = delivery_status(shared, id)?;
        let finished = !matches!(state, AppResponse::Delivery(DeliveryState::Queued { .. }));
        if finished || tokio::time::timeout_at(deadline, done).await.is_err() {
            return Ok(state);
        }
    }
}

fn delivery_status(shared: &Shared, id: EnvelopeId) -> Result<AppResponse, Failure> {
    // Looked up in this order because a receipt removes the queue entry and records the
    // delivery in one atomic write: an envelope not queued any more is delivered.
    if let Some(held) = state::load_held(&shared.store, id.as_bytes())? {
        return Ok(AppResponse::Delivery(DeliveryState::Held {
            reason: sanitized(&held.reason),
        }));
    }
    if shared.store.get(OUTBOUND_INDEX, id.as_bytes())?.is_some() {
        let attempts = shared
            .attempts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .cloned()
            .unwrap_or_default();
        return Ok(AppResponse::Delivery(DeliveryState::Queued {
            attempts: attempts.count,
            last_error: attempts.last_error,
        }));
    }
    if let Some(delivered) =
        state::load_sent(&shared.store, id.as_bytes())?.and_then(|sent| sent.delivered)
    {
        let receipt = delivered.receipt;
        if receipt.epoch != crate::epochs::current(shared) {
            return Ok(AppResponse::Delivery(
                DeliveryState::DeliveredInEarlierEpoch {
                    epoch: receipt.epoch,
                    receipt_index: receipt.index,
                    receiver_index: delivered.receiver_index,
                },
            ));
        }
        return Ok(AppResponse::Delivery(DeliveryState::Delivered {
            receipt_index: receipt.index,
            receiver_index: delivered.receiver_index,
        }));
    }
    Err(Failure::NotFound(format!(
        "envelope {id} was not accepted by this node"
    )))
}

/// A page of the inbox in arrival order, after `after`. Each item's header is read from
/// the envelope's `received` entry in the log (its canonical encoding is the envelope's
/// header): listing opens no envelope and reads none of their content.
fn inbox(shared: &Shared, after: Option<EnvelopeId>, limit: u32) -> Result<AppResponse, Failure> {
    let start = match after {
        None => None,
        Some(id) => {
            let record: InboxRecord = state::load(&shared.store, INBOX, id.as_bytes())?
                .ok_or_else(|| Failure::NotFound(format!("envelope {id} is not in the inbox")))?;
            Some(inbox_order_key(record.received_at, id))
        }
    };
    let mut page = Page::new(limit);
    let keys = shared.store.scan_after(
        INBOX_ORDER,
        start.as_deref(),
        usize::try_from(limit.min(MAX_PAGE)).unwrap_or(0),
    )?;
    for (key, value) in keys {
        let (received_at, id_bytes): ([u8; 8], [u8; 16]) = key
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .zip(key.get(8..24).and_then(|b| b.try_into().ok()))
            .ok_or_else(|| Failure::Internal("malformed inbox order key".into()))?;
        // Empty only if written before `crate::migrate` moved the position here.
        let received = if value.is_empty() {
            state::load_position(&shared.store, RECEIVED, &id_bytes)?
        } else {
            Some(state::decode_position(&shared.store, INBOX_ORDER, &value)?)
        }
        .ok_or_else(|| Failure::Internal("a received envelope has no log index".into()))?;
        let id = EnvelopeId::from_bytes(id_bytes);
        let item = InboxItem {
            envelope: id,
            header: received_header(shared, id, received)?,
            // In the epoch it was logged in (`spec/audit-log.md` §9).
            received_index: received.index,
            received_at: streha_core::Timestamp::from_unix_millis(u64::from_be_bytes(received_at)),
        };
        if !page.offer(item) {
            break;
        }
    }
    Ok(AppResponse::Inbox(page.into_items()))
}

/// The encoded header of a received envelope, from its `received` entry (in the epoch it
/// was logged in).
fn received_header(
    shared: &Shared,
    id: EnvelopeId,
    received: state::LogPosition,
) -> Result<Vec<u8>, Failure> {
    let received_index = received.index;
    let entry = crate::epochs::entry_at(shared, received)?;
    match AuditEntry::decode(&entry) {
        Ok(AuditEntry::Received { header, .. }) if header.envelope_id == id => Ok(header.encode()),
        _ => Err(Failure::Internal(format!(
            "log entry {received_index} is not the received entry of envelope {id}"
        ))),
    }
}

/// The key of an envelope in [`INBOX_ORDER`].
pub(crate) fn inbox_order_key(received_at: streha_core::Timestamp, id: EnvelopeId) -> Vec<u8> {
    let mut key = received_at.unix_millis().to_be_bytes().to_vec();
    key.extend_from_slice(id.as_bytes());
    key
}

async fn report_violation(
    shared: &Shared,
    id: EnvelopeId,
    kind: streha_core::ViolationKind,
    found: streha_core::CategorySet,
) -> Result<AppResponse, Failure> {
    let record: InboxRecord = state::load(&shared.store, INBOX, id.as_bytes())?
        .ok_or_else(|| Failure::NotFound(format!("envelope {id} is not in the inbox")))?;
    let envelope = at_rest::open(
        shared,
        Place::Inbox,
        record.about,
        id,
        record.sealed_envelope,
    )?;
    let header = DisclosureHeader::decode(&envelope.header.context)
        .map_err(|_| Failure::Internal("a stored header does not decode".into()))?;
    let mut tx = Transaction::new();
    tx.append(
        AuditEntry::Violation {
            envelope: id,
            sender: header.sender,
            kind,
            declared: header.categories,
            found,
            ciphertext_hash: envelope.ciphertext_hash,
            at: shared.now(),
        }
        .encode(),
    )
    .put(VIOLATIONS, id.as_bytes().to_vec(), Vec::new())
    .require_absent(VIOLATIONS, id.as_bytes());
    match shared.commit(tx).await {
        Ok(committed) => {
            tracing::warn!(envelope = %id, "security event: a received record did not match its header; violation logged");
            Ok(logged(&committed))
        }
        Err(Failure::Conflict(_)) => Err(Failure::Conflict(format!(
            "a violation is already logged for envelope {id}"
        ))),
        Err(e) => Err(e),
    }
}
