//! The federation roster: who the members are, their keys and addresses, and the exchange
//! agreement (Art. 18.2, 45.1) — signed by the national authority's roster key (Art. 7).
//!
//! Form: a C2SP signed note whose body is a TOML document (`spec/protocol.md`, "Roster").
//! The note is signed under the key name [`ROSTER_KEY_NAME`] with the roster key; a roster
//! is accepted only with a valid signature from the configured roster public key, and a node
//! replaces its roster only with a strictly higher `version` of the same federation.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use streha_audit::{NoteSigner, NoteVerifier, SignedNote};
use streha_core::{AgencyId, ExchangeAgreement, Federation, OfficerId, Role, Timestamp};
use streha_crypto::{
    AgencyEncryptionPublicKey, AgencySigningPublicKey, NodeIdentityPublicKey, OfficerPublicKey,
    RosterPublicKey, RosterSecretKey,
};

/// The signed-note key name of roster signatures.
pub const ROSTER_KEY_NAME: &str = "streha-roster";
/// The `format` value of a version-1 roster body.
pub const ROSTER_FORMAT: &str = "streha-roster/v1";
/// The largest roster (signed note) accepted, in bytes.
pub const MAX_ROSTER_LEN: usize = 512 * 1024;
/// The most agencies in a roster.
pub const MAX_ROSTER_AGENCIES: usize = 1024;
/// The most officers per agency.
pub const MAX_OFFICERS: usize = 256;
/// The longest network address, in bytes.
pub const MAX_ADDRESS_LEN: usize = 255;
/// The longest federation name (a DNS domain), in bytes: with `/streha/` and a 64-character
/// agency id an origin stays within 200 bytes (`streha_core::MAX_ORIGIN_LEN` is 255).
pub const MAX_FEDERATION_LEN: usize = 128;

/// Why a roster was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RosterError {
    /// Larger than [`MAX_ROSTER_LEN`].
    #[error("roster of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not a signed note, or not signed by the configured roster key.
    #[error(
        "the roster is not validly signed by the configured roster key: {0}; obtain the roster from the national authority and check the roster key in the configuration"
    )]
    Signature(String),
    /// The body is not a valid roster document.
    #[error("the roster document is malformed: {0}")]
    Malformed(String),
    /// An unknown `format`.
    #[error("unsupported roster format `{0}` (this build reads `{ROSTER_FORMAT}`)")]
    UnsupportedFormat(String),
    /// The federation name is not a DNS domain name ([`MAX_FEDERATION_LEN`] and the rule of
    /// [`Roster::new`]).
    #[error(
        "federation {name:?} is not a DNS domain name: {rule}. The federation is named by a \
         domain it controls (e.g. `trafficking.example.org`): every log origin and log key \
         name is `<domain>/streha/<agency>`, which no other federation can then produce"
    )]
    FederationName {
        /// The name given (at most 80 characters of it).
        name: String,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// Two agencies share an id.
    #[error("agency `{0}` appears twice in the roster")]
    DuplicateAgency(AgencyId),
    /// A key appears twice in the roster (for two agencies, or two roles of one).
    #[error(
        "`{field}` of agency `{agency}` is the same key as `{other_field}` of agency \
         `{other_agency}`; every key in the roster must be unique: each agency, role and \
         officer has its own key pair"
    )]
    DuplicateKey {
        /// The agency whose entry repeats the key.
        agency: AgencyId,
        /// Its field (`node_key`, `signing_key`, `encryption_key`, `officers.<id>.key`).
        field: String,
        /// The agency that already had it.
        other_agency: AgencyId,
        /// Its field.
        other_field: String,
    },
    /// Two officers of one agency share an id.
    #[error("officer `{officer}` appears twice for agency `{agency}`")]
    DuplicateOfficer {
        /// The agency.
        agency: AgencyId,
        /// The officer.
        officer: OfficerId,
    },
    /// An address is empty, too long or has no port.
    #[error(
        "`address` of agency `{agency}` is {address:?}: not host:port; write e.g. \
         10.0.0.1:7401 or node.agency.example:7401 (no spaces, at most 255 characters)"
    )]
    BadAddress {
        /// The agency.
        agency: AgencyId,
        /// The address given (at most 80 characters of it).
        address: String,
    },
    /// Too many agencies or officers.
    #[error("the roster has too many {what} ({count}, at most {max})")]
    TooMany {
        /// What.
        what: &'static str,
        /// How many.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The roster offered is not newer than the one in use.
    #[error(
        "roster version {offered} is not newer than the version {current} in use; a roster can only move forward"
    )]
    NotNewer {
        /// Offered version.
        offered: u64,
        /// Version in use.
        current: u64,
    },
    /// The roster offered is for another federation.
    #[error("the roster is for federation `{offered}`, not `{current}`")]
    OtherFederation {
        /// Offered.
        offered: String,
        /// In use.
        current: String,
    },
    /// Signing failed.
    #[error("cannot sign the roster: {0}")]
    Sign(String),
    /// The validity period is empty: `expires_at` is not after `issued_at`.
    #[error(
        "the roster expires at {expires_at}, not after it was issued ({issued_at}); sign it with a validity period (`streha roster sign --valid-for`)"
    )]
    Validity {
        /// When it was issued.
        issued_at: Timestamp,
        /// When it expires.
        expires_at: Timestamp,
    },
}

/// An officer who may approve urgent-danger disclosures of their agency (Art. 45.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfficerEntry {
    /// The officer's id (a service number, never a name).
    pub id: OfficerId,
    /// The officer's approval key (text form `officer:<hex>`).
    #[serde(
        serialize_with = "crate::key_field::serialize",
        deserialize_with = "crate::key_field::deserialize"
    )]
    pub key: OfficerPublicKey,
}

/// One member agency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgencyEntry {
    /// The agency's id.
    pub id: AgencyId,
    /// Its role (Art. 6, 33.3).
    pub role: Role,
    /// Where its node listens for peers (`host:port`).
    pub address: String,
    /// Its node identity key (QUIC/TLS, checkpoints, receipts); text form
    /// `node-identity:<hex>`, never a bare value a fingerprint could be mistaken for.
    #[serde(
        serialize_with = "crate::key_field::serialize",
        deserialize_with = "crate::key_field::deserialize"
    )]
    pub node_key: NodeIdentityPublicKey,
    /// Its agency signing key (envelopes); text form `agency-signing:<hex>`.
    #[serde(
        serialize_with = "crate::key_field::serialize",
        deserialize_with = "crate::key_field::deserialize"
    )]
    pub signing_key: AgencySigningPublicKey,
    /// Its agency encryption key (envelopes); text form `agency-encryption:<hex>`.
    #[serde(
        serialize_with = "crate::key_field::serialize",
        deserialize_with = "crate::key_field::deserialize"
    )]
    pub encryption_key: AgencyEncryptionPublicKey,
    /// Officers who may approve its urgent-danger disclosures.
    #[serde(default)]
    pub officers: Vec<OfficerEntry>,
}

impl AgencyEntry {
    /// The officer `id`'s key, if the officer belongs to this agency.
    pub fn officer_key(&self, id: &OfficerId) -> Option<&OfficerPublicKey> {
        self.officers.iter().find(|o| &o.id == id).map(|o| &o.key)
    }

    /// The origin line of this agency's audit log, which is also the key name of its
    /// checkpoint signatures and of its cosignatures as a witness:
    /// `<federation>/streha/<agency>` (`spec/protocol.md` §8), e.g.
    /// `trafficking.example.org/streha/police-prishtina`.
    ///
    /// A C2SP origin is a schema-less URL that names one log wherever it is seen (a witness,
    /// a monitor); the federation's DNS domain makes it so. Neither a domain nor an agency
    /// id contains `/`, so an origin names exactly one (federation, agency) pair: two
    /// federations with different domains never produce the same origin.
    pub fn log_origin(&self, federation: &str) -> String {
        format!("{federation}/streha/{}", self.id)
    }

    /// The origin of this agency's log in `epoch` ([`epoch_origin`] of [`Self::log_origin`]):
    /// the base origin in epoch 1, `<base>/epoch/<n>` from epoch 2 on.
    pub fn log_origin_at(&self, federation: &str, epoch: u64) -> String {
        epoch_origin(&self.log_origin(federation), epoch)
    }

    /// Whether `origin` is a log origin of this agency in any epoch; its epoch if so.
    pub fn epoch_of(&self, federation: &str, origin: &str) -> Option<u64> {
        let (base, epoch) = split_epoch(origin)?;
        (base == self.log_origin(federation)).then_some(epoch)
    }
}

pub use streha_core::epoch::{FIRST_EPOCH, MAX_EPOCH, epoch_origin, split_epoch};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterDocument {
    format: String,
    federation: String,
    version: u64,
    issued_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<Timestamp>,
    #[serde(default)]
    agencies: Vec<AgencyEntry>,
    #[serde(default)]
    agreement: AgreementBody,
    /// Independent witnesses (absent from the body when there are none, so rosters without
    /// them keep their bytes and signatures).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    witnesses: Vec<IndependentWitness>,
}

/// The exchange agreement as a person writes it in the body: `[[agreement.clauses]]` tables
/// in any order (written back in id order), and no `clauses = []` line when there are none,
/// so that a clause table can be appended to a fresh body.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgreementBody {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    clauses: Vec<streha_core::AgreementClause>,
}

/// A validated roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    federation: String,
    version: u64,
    issued_at: Timestamp,
    expires_at: Option<Timestamp>,
    agencies: Vec<AgencyEntry>,
    agreement: ExchangeAgreement,
    policy_view: Federation,
    note: Option<String>,
    witnesses: Vec<IndependentWitness>,
}

impl Roster {
    /// A roster from its parts, validated (unique agencies, unique keys, addresses, limits).
    ///
    /// `federation` is the federation's DNS domain, lowercase: two or more labels of `a-z`,
    /// `0-9` and `-`, separated by `.`, each 1 to 63 characters and not starting or ending
    /// with `-`; at most [`MAX_FEDERATION_LEN`] in all. It prefixes every log origin
    /// ([`AgencyEntry::log_origin`]).
    ///
    /// # Errors
    /// A [`RosterError`] naming the first problem ([`RosterError::FederationName`] for the
    /// name).
    pub fn new(
        federation: impl Into<String>,
        version: u64,
        issued_at: Timestamp,
        agencies: Vec<AgencyEntry>,
        agreement: ExchangeAgreement,
    ) -> Result<Self, RosterError> {
        let federation = federation.into();
        validate_federation_name(&federation)?;
        if agencies.len() > MAX_ROSTER_AGENCIES {
            return Err(RosterError::TooMany {
                what: "agencies",
                count: agencies.len(),
                max: MAX_ROSTER_AGENCIES,
            });
        }
        let mut ids = BTreeSet::new();
        let mut keys: std::collections::BTreeMap<[u8; 32], (AgencyId, String)> =
            std::collections::BTreeMap::new();
        let mut policy_view = Federation::new(agreement.clone());
        for agency in &agencies {
            if !ids.insert(agency.id.clone()) {
                return Err(RosterError::DuplicateAgency(agency.id.clone()));
            }
            let address = agency.address.as_str();
            let port_ok = address
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if address.len() > MAX_ADDRESS_LEN
                || !port_ok
                || address.chars().any(char::is_whitespace)
            {
                return Err(RosterError::BadAddress {
                    agency: agency.id.clone(),
                    address: address.chars().take(80).collect(),
                });
            }
            if agency.officers.len() > MAX_OFFICERS {
                return Err(RosterError::TooMany {
                    what: "officers",
                    count: agency.officers.len(),
                    max: MAX_OFFICERS,
                });
            }
            let mut officers = BTreeSet::new();
            let mut agency_keys = vec![
                (agency.node_key.to_bytes(), "node_key".to_owned()),
                (agency.signing_key.to_bytes(), "signing_key".to_owned()),
                (
                    agency.encryption_key.to_bytes(),
                    "encryption_key".to_owned(),
                ),
            ];
            for officer in &agency.officers {
                if !officers.insert(officer.id.clone()) {
                    return Err(RosterError::DuplicateOfficer {
                        agency: agency.id.clone(),
                        officer: officer.id.clone(),
                    });
                }
                agency_keys.push((
                    officer.key.to_bytes(),
                    format!("officers.{}.key", officer.id),
                ));
            }
            for (key, field) in agency_keys {
                if let Some((other_agency, other_field)) = keys.get(&key) {
                    return Err(RosterError::DuplicateKey {
                        agency: agency.id.clone(),
                        field,
                        other_agency: other_agency.clone(),
                        other_field: other_field.clone(),
                    });
                }
                keys.insert(key, (agency.id.clone(), field));
            }
            policy_view
                .add_agency(agency.id.clone(), agency.role)
                .map_err(|e| RosterError::Malformed(e.to_string()))?;
        }
        Ok(Self {
            federation,
            version,
            issued_at,
            expires_at: None,
            agencies,
            agreement,
            policy_view,
            note: None,
            witnesses: Vec::new(),
        })
    }

    /// Signs the roster with the national authority's roster key and returns the signed
    /// note text.
    ///
    /// # Errors
    /// [`RosterError::Sign`] if the document cannot be serialized or signed.
    pub fn sign(&self, key: &RosterSecretKey) -> Result<String, RosterError> {
        let body = self.to_body()?;
        let signer = NoteSigner::new(ROSTER_KEY_NAME, key.as_dalek().clone())
            .map_err(|e| RosterError::Sign(e.to_string()))?;
        let note =
            SignedNote::sign(&body, &signer).map_err(|e| RosterError::Sign(e.to_string()))?;
        Ok(note.to_text())
    }

    /// The roster's TOML body (what the signature covers).
    ///
    /// # Errors
    /// [`RosterError::Sign`] if serialization fails.
    pub fn to_body(&self) -> Result<String, RosterError> {
        let document = RosterDocument {
            format: ROSTER_FORMAT.to_owned(),
            federation: self.federation.clone(),
            version: self.version,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            agencies: self.agencies.clone(),
            agreement: AgreementBody {
                clauses: self.agreement.clauses().to_vec(),
            },
            witnesses: self.witnesses.clone(),
        };
        toml::to_string(&document).map_err(|e| RosterError::Sign(e.to_string()))
    }

    /// Parses the TOML body of a roster without any signature (for `streha roster` editing
    /// before signing; a node never runs on an unsigned roster).
    ///
    /// # Errors
    /// [`RosterError::Malformed`], [`RosterError::UnsupportedFormat`], or a validation error.
    pub fn from_unsigned_body(body: &str) -> Result<Self, RosterError> {
        if body.len() > MAX_ROSTER_LEN {
            return Err(RosterError::TooLarge {
                len: body.len(),
                max: MAX_ROSTER_LEN,
            });
        }
        let document: RosterDocument = toml::from_str(body)
            .map_err(|e| RosterError::Malformed(toml_error_detail(body, &e)))?;
        if document.format != ROSTER_FORMAT {
            return Err(RosterError::UnsupportedFormat(document.format));
        }
        let agreement = ExchangeAgreement::new(document.agreement.clauses)
            .map_err(|e| RosterError::Malformed(format!("`agreement.clauses`: {e}")))?;
        Self::new(
            document.federation,
            document.version,
            document.issued_at,
            document.agencies,
            agreement,
        )?
        .with_witnesses(document.witnesses)?
        .with_expiry(document.expires_at)
    }

    /// Verifies a signed roster note against the roster public key and parses it.
    ///
    /// # Errors
    /// [`RosterError::TooLarge`], [`RosterError::Signature`] (unsigned, badly signed, signed
    /// by another key), then as [`Roster::from_unsigned_body`].
    pub fn open(note_text: &str, roster_key: &RosterPublicKey) -> Result<Self, RosterError> {
        if note_text.len() > MAX_ROSTER_LEN {
            return Err(RosterError::TooLarge {
                len: note_text.len(),
                max: MAX_ROSTER_LEN,
            });
        }
        let note =
            SignedNote::parse(note_text).map_err(|e| RosterError::Signature(e.to_string()))?;
        let verifier = NoteVerifier::new(ROSTER_KEY_NAME, *roster_key.as_dalek())
            .map_err(|e| RosterError::Signature(e.to_string()))?;
        note.verify(std::slice::from_ref(&verifier))
            .map_err(|e| RosterError::Signature(e.to_string()))?;
        let mut roster = Self::from_unsigned_body(note.body())?;
        roster.note = Some(note_text.to_owned());
        Ok(roster)
    }

    /// Checks that `self` may replace `current`: same federation, strictly higher version.
    ///
    /// # Errors
    /// [`RosterError::OtherFederation`], [`RosterError::NotNewer`].
    pub fn check_replaces(&self, current: &Roster) -> Result<(), RosterError> {
        if self.federation != current.federation {
            return Err(RosterError::OtherFederation {
                offered: self.federation.clone(),
                current: current.federation.clone(),
            });
        }
        if self.version <= current.version {
            return Err(RosterError::NotNewer {
                offered: self.version,
                current: current.version,
            });
        }
        Ok(())
    }

    /// The federation's name.
    pub fn federation(&self) -> &str {
        &self.federation
    }

    /// The roster's version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// When the national authority issued it.
    pub fn issued_at(&self) -> Timestamp {
        self.issued_at
    }

    /// The end of its validity period (exclusive), if it has one. A roster signed without
    /// one (before rosters had validity periods) never expires.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.expires_at
    }

    /// Whether it has expired at `now`: `now >= expires_at`. An expired roster is still the
    /// newest the holder knows; what a node does with it is `spec/protocol.md` §8's
    /// ("Lifetime").
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|end| now >= end)
    }

    /// The member agencies.
    pub fn agencies(&self) -> &[AgencyEntry] {
        &self.agencies
    }

    /// The exchange agreement.
    pub fn agreement(&self) -> &ExchangeAgreement {
        &self.agreement
    }

    /// The policy's view of the roster (agency roles and the agreement).
    pub fn policy_view(&self) -> &Federation {
        &self.policy_view
    }

    /// The signed note this roster was opened from, if it was.
    pub fn signed_note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    /// The agency `id`.
    pub fn agency(&self, id: &AgencyId) -> Option<&AgencyEntry> {
        self.agencies.iter().find(|a| &a.id == id)
    }

    /// The agency whose node identity key is `key`.
    pub fn agency_by_node_key(&self, key: &NodeIdentityPublicKey) -> Option<&AgencyEntry> {
        self.agencies.iter().find(|a| &a.node_key == key)
    }

    /// Adds or replaces an agency, returning a new validated roster (for `streha roster add`).
    ///
    /// # Errors
    /// As [`Roster::new`].
    pub fn with_agency(&self, agency: AgencyEntry) -> Result<Self, RosterError> {
        let mut agencies: Vec<_> = self
            .agencies
            .iter()
            .filter(|a| a.id != agency.id)
            .cloned()
            .collect();
        agencies.push(agency);
        Self::new(
            self.federation.clone(),
            self.version,
            self.issued_at,
            agencies,
            self.agreement.clone(),
        )?
        .with_witnesses(self.witnesses.clone())?
        .with_expiry(self.expires_at)
    }

    /// Removes an agency, returning a new validated roster.
    ///
    /// # Errors
    /// As [`Roster::new`].
    pub fn without_agency(&self, id: &AgencyId) -> Result<Self, RosterError> {
        Self::new(
            self.federation.clone(),
            self.version,
            self.issued_at,
            self.agencies
                .iter()
                .filter(|a| &a.id != id)
                .cloned()
                .collect(),
            self.agreement.clone(),
        )?
        .with_witnesses(self.witnesses.clone())?
        .with_expiry(self.expires_at)
    }

    /// The same roster under a new version and issue time (to be signed), without a
    /// validity period: a new version gets its own ([`Roster::with_expiry`]).
    pub fn with_version(&self, version: u64, issued_at: Timestamp) -> Self {
        Self {
            version,
            issued_at,
            expires_at: None,
            note: None,
            ..self.clone()
        }
    }

    /// The same roster valid until `expires_at` (exclusive), or without end (`None`).
    ///
    /// # Errors
    /// [`RosterError::Validity`] if `expires_at` is not after the issue time.
    pub fn with_expiry(mut self, expires_at: Option<Timestamp>) -> Result<Self, RosterError> {
        if let Some(end) = expires_at
            && end <= self.issued_at
        {
            return Err(RosterError::Validity {
                issued_at: self.issued_at,
                expires_at: end,
            });
        }
        self.expires_at = expires_at;
        self.note = None;
        Ok(self)
    }

    /// The same roster with another exchange agreement.
    ///
    /// # Errors
    /// As [`Roster::new`].
    pub fn with_agreement(&self, agreement: ExchangeAgreement) -> Result<Self, RosterError> {
        Self::new(
            self.federation.clone(),
            self.version,
            self.issued_at,
            self.agencies.clone(),
            agreement,
        )?
        .with_witnesses(self.witnesses.clone())?
        .with_expiry(self.expires_at)
    }
}

/// A TOML error as `line L, column C: `<that line>`: <what>`: the line shows the field and
/// the value a person wrote.
fn toml_error_detail(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end();
    let Some(span) = error.span() else {
        return message.to_owned();
    };
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_no = text[..line_start].matches('\n').count() + 1;
    let column = text[line_start..start].chars().count() + 1;
    let line: String = text[line_start..]
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .chars()
        .take(120)
        .collect();
    format!("line {line_no}, column {column}: `{line}`: {message}")
}

fn validate_federation_name(name: &str) -> Result<(), RosterError> {
    let bad = |rule| {
        Err(RosterError::FederationName {
            name: name.chars().take(80).collect(),
            rule,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > MAX_FEDERATION_LEN {
        return bad("it is longer than 128 characters");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'))
    {
        return if c.is_ascii_uppercase() {
            bad("it holds an upper-case letter; write the domain in lower case")
        } else {
            bad("it holds a character other than a-z, 0-9, '-' and '.'")
        };
    }
    if !name.contains('.') {
        return bad("it has one label only; a domain has at least two (`example.org`)");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return bad("it has an empty label (a leading, trailing or doubled '.')");
        }
        if label.len() > 63 {
            return bad("a label is longer than 63 characters");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label starts or ends with '-'");
        }
    }
    Ok(())
}

// ----- Independent witnesses ----------------------------------------------------------------

/// The most independent witnesses a roster lists.
pub const MAX_ROSTER_WITNESSES: usize = 16;
/// The longest submission URL of an independent witness, in bytes.
pub const MAX_WITNESS_URL_LEN: usize = 255;

/// A witness outside the federation (an oversight body: the data-protection authority, the
/// Ombudsperson, an international monitor) that every node submits its checkpoints to over
/// C2SP `tlog-witness`, and whose cosignatures every node and every DPO checks. Listed in the
/// signed roster, so that all of them agree on its key:
///
/// ```toml
/// [[witnesses]]
/// vkey = "dpa.example/streha-witness+1a2b3c4d+BPrf…"  # C2SP verifier key, cosignature/v1
/// url = "https://dpa.example/streha-witness"          # submission prefix
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndependentWitness {
    /// Its C2SP verifier key (`<name>+<key id>+<base64 of 0x04 ‖ Ed25519 public key>`): the
    /// key name its cosignatures carry and its Ed25519 key.
    pub vkey: String,
    /// Its submission prefix: checkpoints go to `POST <url>/add-checkpoint`.
    pub url: String,
}

impl IndependentWitness {
    /// The verifier of its cosignatures (cosignature/v1).
    ///
    /// # Errors
    /// [`RosterError::Malformed`] if the verifier key does not parse or is not a
    /// cosignature/v1 key.
    pub fn verifier(&self) -> Result<NoteVerifier, RosterError> {
        let verifier = NoteVerifier::from_vkey(&self.vkey).map_err(|e| {
            RosterError::Malformed(format!("independent witness key `{}`: {e}", self.vkey))
        })?;
        if verifier.signature_type() != streha_audit::SignatureType::CosignatureV1 {
            return Err(RosterError::Malformed(format!(
                "independent witness key `{}` is not a cosignature/v1 key (type 0x04)",
                self.vkey
            )));
        }
        Ok(verifier)
    }

    /// Its name (the key name of its cosignatures).
    pub fn name(&self) -> String {
        self.vkey.split('+').next().unwrap_or_default().to_owned()
    }
}

impl Roster {
    /// The same roster with these independent witnesses, validated: at most
    /// [`MAX_ROSTER_WITNESSES`], each verifier key a cosignature/v1 key, names unique and
    /// none the log origin of an agency, each URL `http://` or `https://`, at most
    /// [`MAX_WITNESS_URL_LEN`] bytes, no white space.
    ///
    /// # Errors
    /// [`RosterError::TooMany`] or [`RosterError::Malformed`] naming the witness.
    pub fn with_witnesses(
        mut self,
        witnesses: Vec<IndependentWitness>,
    ) -> Result<Self, RosterError> {
        if witnesses.len() > MAX_ROSTER_WITNESSES {
            return Err(RosterError::TooMany {
                what: "independent witnesses",
                count: witnesses.len(),
                max: MAX_ROSTER_WITNESSES,
            });
        }
        let mut names = BTreeSet::new();
        for witness in &witnesses {
            let verifier = witness.verifier()?;
            let name = verifier.name().as_str().to_owned();
            if self
                .agencies
                .iter()
                .any(|a| a.epoch_of(&self.federation, &name).is_some())
            {
                return Err(RosterError::Malformed(format!(
                    "independent witness `{name}` has the name of an agency's log"
                )));
            }
            if !names.insert(name.clone()) {
                return Err(RosterError::Malformed(format!(
                    "independent witness `{name}` appears twice"
                )));
            }
            let url = witness.url.as_str();
            let scheme_ok = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"))
                .is_some_and(|rest| !rest.is_empty());
            if !scheme_ok
                || url.len() > MAX_WITNESS_URL_LEN
                || url.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(RosterError::Malformed(format!(
                    "independent witness `{name}` has an invalid url; write http(s)://host[:port][/prefix]"
                )));
            }
        }
        self.witnesses = witnesses;
        self.note = None;
        Ok(self)
    }

    /// The independent witnesses.
    pub fn witnesses(&self) -> &[IndependentWitness] {
        &self.witnesses
    }

    /// The independent witness whose cosignatures carry the key name `name`.
    pub fn witness_named(&self, name: &str) -> Option<&IndependentWitness> {
        self.witnesses.iter().find(|w| w.name() == name)
    }
}

#[cfg(test)]
mod witness_tests {
    use super::*;
    use streha_audit::CosignatureSigner;
    use streha_crypto::RosterSecretKey;

    fn vkey(name: &str, seed: u8) -> String {
        CosignatureSigner::new(name, ed25519_dalek_key(seed))
            .unwrap()
            .verifier()
            .to_vkey()
    }

    fn ed25519_dalek_key(seed: u8) -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
    }

    fn empty() -> Roster {
        Roster::new(
            "fed.example",
            1,
            Timestamp(0),
            vec![],
            ExchangeAgreement::new(vec![]).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn witnesses_round_trip_through_the_signed_roster() {
        let witness = IndependentWitness {
            vkey: vkey("dpa.example/w", 3),
            url: "http://127.0.0.1:7480".into(),
        };
        let roster = empty().with_witnesses(vec![witness.clone()]).unwrap();
        let key = RosterSecretKey::from_seed_bytes([9; 32]);
        let opened = Roster::open(&roster.sign(&key).unwrap(), &key.public_key()).unwrap();
        assert_eq!(opened.witnesses(), &[witness]);
        assert_eq!(
            opened.witness_named("dpa.example/w").unwrap().name(),
            "dpa.example/w"
        );
        // Without witnesses the body has no trace of them.
        assert!(!empty().to_body().unwrap().contains("witnesses"));
    }

    #[test]
    fn bad_witnesses_are_refused() {
        let ok = IndependentWitness {
            vkey: vkey("dpa.example/w", 3),
            url: "https://dpa.example/w".into(),
        };
        let plain = IndependentWitness {
            vkey: NoteVerifier::new("dpa.example/w", ed25519_dalek_key(3).verifying_key())
                .unwrap()
                .to_vkey(),
            ..ok.clone()
        };
        let bad_url = IndependentWitness {
            url: "ftp://x".into(),
            ..ok.clone()
        };
        for witnesses in [vec![plain], vec![bad_url], vec![ok.clone(), ok.clone()]] {
            assert!(matches!(
                empty().with_witnesses(witnesses),
                Err(RosterError::Malformed(_))
            ));
        }
        assert!(matches!(
            empty().with_witnesses(vec![ok; MAX_ROSTER_WITNESSES + 1]),
            Err(RosterError::TooMany { .. })
        ));
    }
}
