//! Envelopes at rest, sealed under their subject's erasable data key (Art. 18.5).
//!
//! Every envelope this node keeps — received ones in the inbox, its own in the delivery
//! queue — is stored sealed under a random key of the subject it is about, kept in the
//! store's [`KeyVault`](streha_store::KeyVault). Re-keying a subject destroys that key, and
//! with it every copy of those envelopes: in the live database, in sled's freed pages, and in
//! any backup of the database that does not also hold the vault. The associated data binds
//! each sealed envelope to its place and envelope id.

use streha_core::{EnvelopeId, SubjectId};
use streha_crypto::{DataKey, Envelope};

use crate::failure::Failure;
use crate::shared::Shared;

/// Where a sealed envelope is kept.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Place {
    /// A received envelope.
    Inbox,
    /// This node's own, waiting for its receipt.
    Queue,
}

fn aad(place: Place, id: EnvelopeId) -> Vec<u8> {
    let tag: &[u8] = match place {
        Place::Inbox => b"streha node inbox v1\n",
        Place::Queue => b"streha node queue v1\n",
    };
    let mut aad = tag.to_vec();
    aad.extend_from_slice(id.as_bytes());
    aad
}

/// The data key of `subject`, made (and stored durably) at its first use.
fn key_of(shared: &Shared, subject: SubjectId) -> Result<DataKey, Failure> {
    if let Some(bytes) = shared.vault.get(subject.as_bytes()) {
        return Ok(DataKey::from_bytes(*bytes));
    }
    let fresh = DataKey::generate()
        .map_err(|e| Failure::Internal(format!("cannot make a data key: {e}")))?;
    let bytes = shared
        .vault
        .insert_if_absent(subject.as_bytes(), &fresh.to_bytes())
        .map_err(Failure::from)?;
    Ok(DataKey::from_bytes(*bytes))
}

/// Seals `envelope` (about `subject`) for keeping at `place`.
pub(crate) fn seal(
    shared: &Shared,
    place: Place,
    subject: SubjectId,
    id: EnvelopeId,
    envelope: &Envelope,
) -> Result<Vec<u8>, Failure> {
    key_of(shared, subject)?
        .seal(&aad(place, id), &crate::state::encode(envelope))
        .map_err(|e| Failure::Internal(format!("cannot seal an envelope at rest: {e}")))
}

/// Opens an envelope kept at `place`. An envelope whose subject's key was destroyed is gone.
pub(crate) fn open(
    shared: &Shared,
    place: Place,
    subject: SubjectId,
    id: EnvelopeId,
    sealed: &[u8],
) -> Result<Envelope, Failure> {
    let Some(bytes) = shared.vault.get(subject.as_bytes()) else {
        return Err(Failure::NotFound(format!(
            "envelope {id} was shredded: its subject was re-keyed (Art. 18.5)"
        )));
    };
    let plain = DataKey::from_bytes(*bytes)
        .open(&aad(place, id), sealed)
        .map_err(|e| Failure::Internal(format!("a stored envelope does not open: {e}")))?;
    postcard::from_bytes(&plain)
        .map_err(|_| Failure::Internal("a stored envelope does not decode".into()))
}

/// Destroys the data key of `subject`: what is kept about it becomes unreadable everywhere.
pub(crate) fn shred(shared: &Shared, subject: SubjectId) -> Result<bool, Failure> {
    shared
        .vault
        .destroy(subject.as_bytes())
        .map_err(Failure::from)
}
