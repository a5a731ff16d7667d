//! The Streha application library: what an agency's application links to exchange records
//! about victims of trafficking with other authorities, end-to-end encrypted, consent-scoped,
//! and provably logged.
//!
//! # What it does
//!
//! An application holds its agency's signing and encryption keys and its own application
//! key; the agency's node (`strehad`) holds neither and never sees record content. Through
//! one [`Client`] the application:
//!
//! - **connects** to its node over QUIC (ALPN `streha-app/1`, TLS 1.3, both keys pinned, no
//!   certificate authority) and verifies the federation **roster**: signed by the national
//!   authority's roster key, listing this agency with exactly the configured keys;
//! - **registers subjects** under random pseudonymous ids with their age status and legal
//!   representatives (Art. 18.3, 36, 38.5);
//! - **records and revokes consent** (Art. 18.3);
//! - **discloses** a record: a typed builder that takes fields only as
//!   [`DisclosableCategory`](streha_core::DisclosableCategory), so protection data (Art. 18.4)
//!   has no way in (and a run-time check besides), two officers' approvals for urgent danger
//!   (Art. 45.3), sealing to the recipient's key from the roster, and submission: the node
//!   decides with the policy, and a refusal reaches the application as
//!   [`ClientError::Refused`] with the exact [`RefusalReason`](streha_core::RefusalReason);
//! - **receives**: lists the inbox and opens envelopes, checking the sender's signature
//!   against the roster and that the content holds exactly the declared categories — a
//!   mismatch is reported to the node, which logs a `violation`;
//! - **verifies the node's audit log**: signed checkpoints (each checked for consistency
//!   with the last one seen), inclusion proofs, consistency proofs, and the whole log as a
//!   verified [`LogBundle`](streha_audit::LogBundle) for an offline audit.
//!
//! ```text
//!  application ──Client──(QUIC streha-app/1, app key ⇄ pinned node key)──▶ strehad ──▶ peers
//!    builder ─▶ seal (agency signing key, recipient key from roster) ─▶ Submit ─▶ decide, log
//!    inbox ◀─ Fetch ◀─ open (agency encryption key, sender key from roster), check categories
//!    checkpoint / prove_entry / export_bundle ◀─ verified with the node key from the roster
//! ```
//!
//! # What it does not do
//!
//! It does not decide: the policy runs in the node (and again at the receiver), and the
//! client does not second-guess it, except to refuse a protection category before sealing.
//! It stores nothing (subjects, consents and envelopes live in the node) and keeps no
//! secrets beyond the keys in its [`ClientConfig`]. It never logs record content or keys:
//! its `tracing` spans carry pseudonymous ids, categories, purposes and log indices only.
//! It does not retry requests by itself; submitting is idempotent, so an application can.
//!
//! # Example
//!
//! Connect, register a child subject with a legal representative, record the
//! representative's consent, disclose a psychological assessment to the centre for social
//! work, and (on the other side) open it:
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use streha_client::streha_core::{
//!     AgeStatus, Category, CategorySet, DisclosableCategory, Grantor, OfficerId, Purpose,
//!     PurposeSet, Recipient, RepresentativeId, Role, Timestamp,
//! };
//! use streha_client::{Client, ClientConfig, ClientError, KeyFilePaths, NewConsent};
//!
//! # async fn run() -> Result<(), ClientError> {
//! let keys = KeyFilePaths {
//!     application: "keys/police-app.key".into(),
//!     signing: "keys/police-signing.key".into(),
//!     encryption: "keys/police-encryption.key".into(),
//!     node: "keys/police-node.pub".into(),
//!     roster: "keys/roster.pub".into(),
//! };
//! let config = ClientConfig::from_key_files(
//!     "127.0.0.1:7443".parse().unwrap(),
//!     "police-prishtina".parse().unwrap(),
//!     &keys,
//! )?;
//! let police = Client::connect(config).await?;
//!
//! // A presumed child (Art. 36) with a legal representative (Art. 38.5).
//! let guardian: RepresentativeId = "guardian-0042".parse().unwrap();
//! let (subject, _) = police
//!     .register_subject(AgeStatus::PresumedChild, vec![guardian.clone()])
//!     .await?;
//!
//! // The representative consents to psychological information going to social work.
//! let now = Timestamp(1_750_000_000_000);
//! let (consent, _) = police
//!     .grant_consent(NewConsent {
//!         subject,
//!         granted_by: Grantor::Representative(guardian),
//!         recipients: vec![Recipient::Role(Role::CentreForSocialWork)],
//!         categories: CategorySet::of(&[Category::Psychological]),
//!         purposes: PurposeSet::of(&[Purpose::Assistance]),
//!         valid_from: now,
//!         expires_at: now.saturating_add_millis(365 * 24 * 3600 * 1000),
//!         evidence_hash: [0; 32], // BLAKE3 of the signed consent form
//!         recorded_by: "officer-17".parse::<OfficerId>().unwrap(),
//!         recorded_at: now,
//!     })
//!     .await?;
//!
//! // Disclose. A protection category cannot even be named here.
//! let disclosure = police
//!     .disclosure(subject, "csw-prishtina".parse().unwrap(), Purpose::Assistance)
//!     .field(DisclosableCategory::Psychological, "assessment", "…")?
//!     .consent(consent);
//! match police.submit(disclosure).await {
//!     Ok(submitted) => println!("disclosed, logged at {}", submitted.index),
//!     Err(ClientError::Refused { reason, log_index }) => {
//!         println!("refused ({}), logged at {log_index}: {reason}", reason.article())
//!     }
//!     Err(other) => return Err(other),
//! }
//!
//! // At the centre for social work, with its own keys:
//! # let csw_config: ClientConfig = unimplemented!();
//! let csw = Client::connect(csw_config).await?;
//! for entry in csw.inbox(None, 50).await? {
//!     let opened = csw.open(entry.envelope).await?; // checks signature and categories
//!     assert_eq!(opened.record.categories(), opened.header.categories);
//!     // The receipt of the delivery is in the node's log, provably.
//!     let proven = csw.prove_entry(entry.received_index).await?;
//!     println!("received at index {} of a log of {}", proven.index(), proven.checkpoint().size());
//! }
//! # let _ = Duration::from_secs(1);
//! # Ok(())
//! # }
//! ```
//!
//! # Main types
//!
//! | type | what |
//! | --- | --- |
//! | [`ClientConfig`], [`KeyFilePaths`] | the node's address and key, the agency and its keys |
//! | [`Client`] | the connection and every request |
//! | [`DisclosureBuilder`] → [`PreparedDisclosure`] → [`SealedDisclosure`] | a disclosure being built, approved, sealed |
//! | [`sign_urgent_approval`], [`verify_urgent_approval`] | officers' approvals (Art. 45.3) |
//! | [`InboxEntry`], [`OpenedRecord`] | what was received |
//! | [`VerifiedCheckpoint`], [`VerifiedEntry`] | the node's log, verified |
//! | [`ClientError`], [`Fault`] | what went wrong, and whose fault it is |

#![forbid(unsafe_code)]

mod client;
mod config;
mod consent;
mod disclosure;
mod error;
mod inbox;
mod proofs;

#[cfg(test)]
mod fake_node;
#[cfg(test)]
mod test_support;

pub use {
    crate::client::Client,
    crate::config::{ClientConfig, DEFAULT_REQUEST_TIMEOUT, KeyFilePaths},
    crate::consent::NewConsent,
    crate::disclosure::{
        DisclosureBuilder, PreparedDisclosure, Sealable, SealedDisclosure, Submitted,
        sign_urgent_approval, verify_urgent_approval,
    },
    crate::error::{ClientError, Fault},
    crate::inbox::{InboxEntry, OpenedRecord},
    crate::proofs::{VerifiedCheckpoint, VerifiedEntry},
    // The crates whose types the API speaks, and the protocol's answers returned as they are.
    streha_audit,
    streha_core,
    streha_crypto,
    streha_wire,
    streha_wire::app::{ConsentStatus, DeliveryState},
};

/// 16 bytes from the operating system's random number generator, for a new id.
pub(crate) fn random_16() -> Result<[u8; 16], ClientError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| ClientError::Randomness)?;
    Ok(bytes)
}
