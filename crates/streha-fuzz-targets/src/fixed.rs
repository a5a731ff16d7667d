//! The fixed keys and names the targets verify against, and the seed-corpus generator signs
//! with. **Public test keys**: the seeds are written here in the clear.
//!
//! A fuzzer cannot forge an Ed25519 signature, so it explores signed inputs by mutating the
//! valid ones of the seed corpus; the targets then check that whatever still verifies is
//! exactly what these keys signed.

use std::sync::LazyLock;

use ed25519_dalek::SigningKey;
use streha_audit::{CosignatureSigner, NoteSigner, NoteVerifier};
use streha_crypto::{AgencyEncryptionSecretKey, AgencySigningSecretKey, RosterSecretKey};

/// Seed of the envelope sender's agency signing key.
pub const SENDER_SEED: [u8; 32] = [0x11; 32];
/// Seed of a second agency signing key (an envelope from another sender than expected).
pub const OTHER_SENDER_SEED: [u8; 32] = [0x12; 32];
/// Seed of the envelope recipient's agency encryption key.
pub const RECIPIENT_SEED: [u8; 32] = [0x22; 32];
/// Seed of another agency's encryption key (an envelope for someone else).
pub const OTHER_RECIPIENT_SEED: [u8; 32] = [0x23; 32];
/// Seed of the national authority's roster key.
pub const ROSTER_SEED: [u8; 32] = [0x33; 32];
/// Seed of the log's node identity key, which signs its checkpoints.
pub const LOG_SEED: [u8; 32] = [0x44; 32];
/// Seed of the witness key, which cosigns checkpoints.
pub const WITNESS_SEED: [u8; 32] = [0x55; 32];

/// The origin of the fixed log (and its key name, as a node names its checkpoint key).
pub const LOG_ORIGIN: &str = "fuzz.example/streha/police-a";
/// The witness's key name.
pub const WITNESS_NAME: &str = "fuzz.example/streha/shelter-a";

/// The envelope sender's agency signing key.
pub fn sender() -> &'static AgencySigningSecretKey {
    static KEY: LazyLock<AgencySigningSecretKey> =
        LazyLock::new(|| AgencySigningSecretKey::from_seed_bytes(SENDER_SEED));
    &KEY
}

/// A second agency signing key: envelopes signed with it verify under it, never under
/// [`sender`].
pub fn other_sender() -> &'static AgencySigningSecretKey {
    static KEY: LazyLock<AgencySigningSecretKey> =
        LazyLock::new(|| AgencySigningSecretKey::from_seed_bytes(OTHER_SENDER_SEED));
    &KEY
}

/// The agency signing keys the seed corpus signs envelopes with.
pub fn signing_keys() -> [&'static AgencySigningSecretKey; 2] {
    [sender(), other_sender()]
}

/// The envelope recipient's agency encryption key.
pub fn recipient() -> &'static AgencyEncryptionSecretKey {
    static KEY: LazyLock<AgencyEncryptionSecretKey> =
        LazyLock::new(|| AgencyEncryptionSecretKey::from_seed_bytes(RECIPIENT_SEED));
    &KEY
}

/// Another agency's encryption key: nothing sealed to [`recipient`] may open with it.
pub fn other_recipient() -> &'static AgencyEncryptionSecretKey {
    static KEY: LazyLock<AgencyEncryptionSecretKey> =
        LazyLock::new(|| AgencyEncryptionSecretKey::from_seed_bytes(OTHER_RECIPIENT_SEED));
    &KEY
}

/// The national authority's roster key.
pub fn roster_key() -> &'static RosterSecretKey {
    static KEY: LazyLock<RosterSecretKey> =
        LazyLock::new(|| RosterSecretKey::from_seed_bytes(ROSTER_SEED));
    &KEY
}

/// The signer of the roster note (key name `streha-roster`).
pub fn roster_note_signer() -> &'static NoteSigner {
    static SIGNER: LazyLock<NoteSigner> = LazyLock::new(|| {
        NoteSigner::new(
            streha_wire::roster::ROSTER_KEY_NAME,
            roster_key().as_dalek().clone(),
        )
        .expect("valid key name")
    });
    &SIGNER
}

/// The log's checkpoint signer (Ed25519, key name [`LOG_ORIGIN`]).
pub fn log_signer() -> &'static NoteSigner {
    static SIGNER: LazyLock<NoteSigner> = LazyLock::new(|| {
        NoteSigner::new(LOG_ORIGIN, SigningKey::from_bytes(&LOG_SEED)).expect("valid key name")
    });
    &SIGNER
}

/// The witness's cosigner (`cosignature/v1`, key name [`WITNESS_NAME`]).
pub fn witness() -> &'static CosignatureSigner {
    static SIGNER: LazyLock<CosignatureSigner> = LazyLock::new(|| {
        CosignatureSigner::new(WITNESS_NAME, SigningKey::from_bytes(&WITNESS_SEED))
            .expect("valid key name")
    });
    &SIGNER
}

/// The verifiers the note, checkpoint and bundle targets trust: the log's key and the
/// witness's.
pub fn note_verifiers() -> &'static [NoteVerifier] {
    static VERIFIERS: LazyLock<Vec<NoteVerifier>> =
        LazyLock::new(|| vec![log_signer().verifier(), witness().verifier()]);
    &VERIFIERS
}

/// The fixed Ed25519 note signer with this key name, if any.
pub(crate) fn note_signer_for(name: &str) -> Option<&'static NoteSigner> {
    [log_signer(), roster_note_signer()]
        .into_iter()
        .find(|s| s.name().as_str() == name)
}

/// The fixed cosigner with this key name, if any.
pub(crate) fn cosigner_for(name: &str) -> Option<&'static CosignatureSigner> {
    Some(witness()).filter(|s| s.name().as_str() == name)
}
