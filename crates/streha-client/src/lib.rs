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
//!   [`DisclosableCategory`], so protection data (Art. 18.4)
//!   has no way in (and a run-time check besides), two officers' approvals for urgent danger
//!   (Art. 45.3), sealing to the recipient's key from the roster, and submission: the node
//!   decides with the policy, and a refusal reaches the application as
//!   [`ClientError::Refused`] with the exact [`RefusalReason`];
//! - **receives**: lists the inbox and opens envelopes, checking the sender's signature
//!   against the roster and that the content holds exactly the declared categories — a
//!   mismatch is reported to the node, which logs a `violation`;
//! - **verifies the node's audit log**: signed checkpoints (each checked for consistency
//!   with the last one seen), inclusion proofs, consistency proofs, and the whole log as a
//!   verified [`LogBundle`] for an offline audit.
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
//! # Lists come in pages
//!
//! Every list the node answers with is a page, bounded in items and in bytes
//! (`spec/protocol.md` §5): a page shorter than asked is not the end, an empty page is.
//! The `*_page`-style calls ([`Client::inbox`], [`Client::consents_page`],
//! [`Client::held_deliveries`], [`Client::witness_evidence`]) return one page; the
//! collecting calls ([`Client::consents`], [`Client::all_held_deliveries`],
//! [`Client::all_witness_evidence`], [`Client::export_bundle`]) page until an empty page and
//! refuse a node whose pages do not move past their cursor. Texts from the node (error
//! messages, hold reasons) are at most 1 KiB and may quote another node: show them through
//! [`streha_wire::text::Untrusted`].
//!
//! # Example
//!
//! Connect, register a child subject with a legal representative, record the
//! representative's consent, disclose a psychological assessment to the shelter, wait for
//! the shelter's signed receipt, and (on the other side) open it.
//!
//! This example runs as a test: its hidden set-up starts two real nodes in process (the
//! demo police and shelter of `keys-example/`, with their stores in a temporary directory
//! and OS-assigned ports on 127.0.0.1, the demo roster re-signed with those ports), and the
//! applications use the demo key files named by each agency's `client.toml`. The demo keys
//! are public: never use them for real records.
//!
//! ```
//! use std::time::Duration;
//!
//! use streha_client::{
//!     AgeStatus, AgencyId, Category, CategorySet, Client, ClientConfig, ClientError,
//!     DeliveryState, DisclosableCategory, Grantor, KeyFilePaths, NewConsent, OfficerId, Purpose,
//!     PurposeSet, Recipient, RepresentativeId,
//! };
//! # use std::path::Path;
//! # use streha_client::streha_crypto::{RosterPublicKey, RosterSecretKey};
//! # use streha_client::streha_wire::Roster;
//! #
//! # /// Copies what `keys-example/<agency>/node.toml` names into `into/` (the secret node
//! # /// key owner-only, as the node requires), loads it, and moves the store and the
//! # /// endpoints to the temporary directory and to OS-assigned loopback ports.
//! # fn demo_node_config(
//! #     demo: &Path,
//! #     into: &Path,
//! #     agency: &str,
//! # ) -> Result<streha_node::NodeConfig, Box<dyn std::error::Error>> {
//! #     use std::os::unix::fs::PermissionsExt;
//! #     std::fs::create_dir_all(into.join(agency))?;
//! #     for file in ["node.toml", &format!("{agency}-app.application.pub")] {
//! #         std::fs::copy(demo.join(agency).join(file), into.join(agency).join(file))?;
//! #     }
//! #     let key = into.join(agency).join(format!("{agency}.node-identity.key"));
//! #     std::fs::copy(demo.join(agency).join(format!("{agency}.node-identity.key")), &key)?;
//! #     std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
//! #     let mut config = streha_node::NodeConfig::load(&into.join(agency).join("node.toml"))?;
//! #     config.listen = "127.0.0.1:0".parse()?;
//! #     config.app_listen = "127.0.0.1:0".parse()?;
//! #     config.metrics_listen = None;
//! #     Ok(config)
//! # }
//! #
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let demo = Path::new("../../keys-example");
//! # let tmp = tempfile::tempdir()?;
//! # std::fs::create_dir_all(tmp.path().join("national-authority"))?;
//! # let roster_pub = "national-authority/national-authority.roster.pub";
//! # std::fs::copy(demo.join(roster_pub), tmp.path().join(roster_pub))?;
//! # std::fs::copy(demo.join("roster.note"), tmp.path().join("roster.note"))?;
//! # let police_node =
//! #     streha_node::RunningNode::start(demo_node_config(demo, tmp.path(), "police-prishtina")?).await?;
//! # let shelter_node =
//! #     streha_node::RunningNode::start(demo_node_config(demo, tmp.path(), "shelter-prishtina")?).await?;
//! # // The demo roster lists fixed ports; sign version 2 with the ports the OS assigned.
//! # let roster_key = RosterPublicKey::from_key_file(&std::fs::read_to_string(demo.join(roster_pub))?)?;
//! # let mut roster = Roster::open(&std::fs::read_to_string(demo.join("roster.note"))?, &roster_key)?;
//! # for (node, agency) in [(&police_node, "police-prishtina"), (&shelter_node, "shelter-prishtina")] {
//! #     let mut entry = roster.agency(&agency.parse()?).ok_or("agency not in the demo roster")?.clone();
//! #     entry.address = node.peer_addr().ok_or("no peer endpoint")?.to_string();
//! #     roster = roster.with_agency(entry)?;
//! # }
//! # let roster = roster.with_version(roster.version() + 1, roster.issued_at().saturating_add_millis(1));
//! # let signer = RosterSecretKey::from_key_file(&std::fs::read_to_string(
//! #     demo.join("national-authority/national-authority.roster.key"),
//! # )?)?;
//! # std::fs::write(tmp.path().join("roster.note"), roster.sign(&signer)?)?;
//! # police_node.reload_roster().await?;
//! # shelter_node.reload_roster().await?;
//! # let police_node_address = police_node.app_addr().ok_or("no application endpoint")?;
//! # let shelter_node_address = shelter_node.app_addr().ok_or("no application endpoint")?;
//! // The police application's keys (as `keys-example/police-prishtina/client.toml` names
//! // them; an application would rather call `ClientConfig::from_profile` on that file).
//! let police_keys = KeyFilePaths {
//!     application: "../../keys-example/police-prishtina/police-prishtina-app.application.key".into(),
//!     signing: "../../keys-example/police-prishtina/police-prishtina.agency-signing.key".into(),
//!     encryption: "../../keys-example/police-prishtina/police-prishtina.agency-encryption.key".into(),
//!     node: "../../keys-example/police-prishtina/police-prishtina.node-identity.pub".into(),
//!     roster: "../../keys-example/national-authority/national-authority.roster.pub".into(),
//! };
//! let config =
//!     ClientConfig::from_key_files(police_node_address, "police-prishtina".parse()?, &police_keys)?;
//! // Pins the node's key, and verifies the roster it serves against the roster key.
//! let police = Client::connect(config).await?;
//!
//! // A presumed child (Art. 36) with a legal representative (Art. 38.5).
//! let guardian: RepresentativeId = "guardian-0042".parse()?;
//! let (subject, _) = police
//!     .register_subject(AgeStatus::PresumedChild, vec![guardian.clone()])
//!     .await?;
//!
//! // The representative consents to psychological information going to the shelter, for
//! // assistance, for a year (Art. 18.3).
//! let now = streha_client::now(); // the core reads no clock; the client does
//! let shelter_id: AgencyId = "shelter-prishtina".parse()?;
//! let (consent, _) = police
//!     .grant_consent(NewConsent {
//!         subject,
//!         granted_by: Grantor::Representative(guardian),
//!         recipients: vec![Recipient::Agency(shelter_id.clone())],
//!         categories: CategorySet::of(&[Category::Psychological]),
//!         purposes: PurposeSet::of(&[Purpose::Assistance]),
//!         valid_from: now,
//!         expires_at: now.saturating_add_millis(365 * 24 * 3600 * 1000),
//!         evidence_hash: [0; 32], // BLAKE3 of the signed consent form
//!         recorded_by: "officer-17".parse::<OfficerId>()?,
//!         recorded_at: now,
//!     })
//!     .await?;
//!
//! // Disclose. A protection category cannot even be named here.
//! let disclosure = police
//!     .disclosure(subject, shelter_id, Purpose::Assistance)
//!     .field(DisclosableCategory::Psychological, "assessment", "needs trauma counselling")?
//!     .consent(consent);
//! let submitted = match police.submit(disclosure).await {
//!     // Acknowledged only once the `disclosed` entry is durable in the node's log.
//!     Ok(submitted) => submitted,
//!     // Refused by the policy: logged as `refused`, and nothing left the agency.
//!     Err(ClientError::Refused { reason, log_index }) => {
//!         return Err(format!("refused ({}), logged at {log_index}: {reason}", reason.article()).into());
//!     }
//!     Err(other) => return Err(other.into()),
//! };
//!
//! // The node delivers it over QUIC; the shelter's node answers with a signed receipt.
//! let state = police.await_delivery(submitted.envelope, Duration::from_secs(10)).await?;
//! let DeliveryState::Delivered { receipt_index, receiver_index } = state else {
//!     return Err(format!("not delivered yet: {state:?}").into());
//! };
//! println!("disclosed at {}, receipt at {receipt_index}; received at {receiver_index}", submitted.index);
//!
//! // At the shelter, with its own application's keys:
//! let shelter_keys = KeyFilePaths {
//!     application: "../../keys-example/shelter-prishtina/shelter-prishtina-app.application.key".into(),
//!     signing: "../../keys-example/shelter-prishtina/shelter-prishtina.agency-signing.key".into(),
//!     encryption: "../../keys-example/shelter-prishtina/shelter-prishtina.agency-encryption.key".into(),
//!     node: "../../keys-example/shelter-prishtina/shelter-prishtina.node-identity.pub".into(),
//!     roster: "../../keys-example/national-authority/national-authority.roster.pub".into(),
//! };
//! let shelter = Client::connect(ClientConfig::from_key_files(
//!     shelter_node_address,
//!     "shelter-prishtina".parse()?,
//!     &shelter_keys,
//! )?)
//! .await?;
//! let inbox = shelter.inbox(None, 50).await?;
//! # assert_eq!(inbox.len(), 1);
//! for entry in inbox {
//!     // Checks the police's signature against the roster, and that the record carries
//!     // exactly the declared categories (a mismatch is reported and logged as a violation).
//!     let opened = shelter.open(entry.envelope).await?;
//!     assert_eq!(opened.record.categories(), opened.header.categories);
//!     // Its receipt is in the shelter node's log, provably.
//!     let proven = shelter.prove_entry(entry.received_index).await?;
//!     println!("received at index {} of a log of {}", proven.index(), proven.checkpoint().size());
//! }
//! # police.close().await;
//! # shelter.close().await;
//! # police_node.shutdown().await;
//! # shelter_node.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Main types
//!
//! | type | what |
//! | --- | --- |
//! | [`ClientConfig`], [`KeyFilePaths`], [`ClientProfile`] | the node's address and key, the agency and its keys; [`ClientConfig::from_profile`] reads them from `client.toml` |
//! | [`Client`] | the connection and every request |
//! | [`DisclosureBuilder`] → [`PreparedDisclosure`] → [`SealedDisclosure`] | a disclosure being built, approved, sealed |
//! | [`sign_urgent_approval`], [`verify_urgent_approval`] | officers' approvals (Art. 45.3) |
//! | [`InboxEntry`], [`OpenedRecord`] | what was received |
//! | [`VerifiedCheckpoint`], [`VerifiedEntry`] | the node's log, verified |
//! | [`ClientError`], [`Fault`], [`ProfileError`] | what went wrong, and whose fault it is |
//! | [`now`] | the time now, as the [`Timestamp`] the API takes |
//! | [`SubjectId`], [`AgencyId`], [`DisclosableCategory`], [`Purpose`], [`RefusalReason`], … | the domain types the API speaks (from `streha_core`), documented here |
//!
//! A standalone program built on this crate is in the repository's
//! `examples/intake/` (`cargo run -p streha-example-intake`).

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
    crate::config::{
        ClientConfig, ClientProfile, DEFAULT_REQUEST_TIMEOUT, KeyFilePaths, MAX_PROFILE_LEN,
        ProfileError,
    },
    crate::consent::NewConsent,
    crate::disclosure::{
        DisclosureBuilder, PreparedDisclosure, Sealable, SealedDisclosure, Submitted,
        envelope_id_at, sign_urgent_approval, verify_urgent_approval,
    },
    crate::error::{ClientError, Fault},
    crate::inbox::{InboxEntry, OpenedRecord},
    crate::proofs::{VerifiedCheckpoint, VerifiedEntry},
    // The crates whose types the API speaks, and the protocol's answers returned as they are.
    streha_audit,
    streha_core,
    streha_crypto,
    streha_wire,
    streha_wire::app::{ConsentStatus, DeliveryState, HeldDelivery, HoldReason, WitnessEvidence},
};

/// The domain types the API speaks, from `streha_core`, documented here so that an
/// application needs no other crate's documentation: ids, categories and purposes, the record,
/// consent terms, refusal reasons, time.
#[doc(inline)]
pub use streha_core::{
    AgeStatus, AgencyId, Category, CategoryGroup, CategorySet, ConsentId, DisclosableCategory,
    EnvelopeId, Field, FieldValue, Grantor, OfficerId, Purpose, PurposeSet, Recipient, Record,
    RefusalReason, RepresentativeId, Role, SubjectId, Timestamp,
};

/// The keys a [`ClientConfig`] holds (from `streha_crypto`), and the verified log types the
/// API returns (from `streha_audit`).
#[doc(inline)]
pub use {
    streha_audit::{Checkpoint, ConsistencyProof, Hash, InclusionProof, LogBundle},
    streha_crypto::{
        AgencyEncryptionSecretKey, AgencySigningSecretKey, ApplicationSecretKey,
        NodeIdentityPublicKey, OfficerSecretKey, RosterPublicKey,
    },
};

/// The time now, from the system clock, as the [`Timestamp`] the API takes (a consent's
/// validity, `recorded_at`, a revocation's time). `streha_core` reads no clock by design;
/// the client, which does IO, offers it. A clock before 1970 reads as 0.
#[must_use]
pub fn now() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Timestamp::from_unix_millis(millis)
}

/// 16 bytes from the operating system's random number generator, for a new id.
pub(crate) fn random_16() -> Result<[u8; 16], ClientError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| ClientError::Randomness)?;
    Ok(bytes)
}
