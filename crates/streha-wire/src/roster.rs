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
    /// A key appears for two agencies or roles.
    #[error("a key of agency `{0}` is also used elsewhere in the roster; every key must be unique")]
    DuplicateKey(AgencyId),
    /// Two officers of one agency share an id.
    #[error("officer `{officer}` appears twice for agency `{agency}`")]
    DuplicateOfficer {
        /// The agency.
        agency: AgencyId,
        /// The officer.
        officer: OfficerId,
    },
    /// An address is empty, too long or has no port.
    #[error("agency `{0}` has an invalid address; write host:port")]
    BadAddress(AgencyId),
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
    /// The officer's approval key.
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
    /// Its node identity key (QUIC/TLS, checkpoints, receipts).
    pub node_key: NodeIdentityPublicKey,
    /// Its agency signing key (envelopes).
    pub signing_key: AgencySigningPublicKey,
    /// Its agency encryption key (envelopes).
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
}

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
    agreement: ExchangeAgreement,
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
        let mut keys = BTreeSet::new();
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
                return Err(RosterError::BadAddress(agency.id.clone()));
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
                agency.node_key.to_bytes(),
                agency.signing_key.to_bytes(),
                agency.encryption_key.to_bytes(),
            ];
            for officer in &agency.officers {
                if !officers.insert(officer.id.clone()) {
                    return Err(RosterError::DuplicateOfficer {
                        agency: agency.id.clone(),
                        officer: officer.id.clone(),
                    });
                }
                agency_keys.push(officer.key.to_bytes());
            }
            for key in agency_keys {
                if !keys.insert(key) {
                    return Err(RosterError::DuplicateKey(agency.id.clone()));
                }
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
            agreement: self.agreement.clone(),
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
        let document: RosterDocument =
            toml::from_str(body).map_err(|e| RosterError::Malformed(e.message().to_owned()))?;
        if document.format != ROSTER_FORMAT {
            return Err(RosterError::UnsupportedFormat(document.format));
        }
        Self::new(
            document.federation,
            document.version,
            document.issued_at,
            document.agencies,
            document.agreement,
        )?
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
        .with_expiry(self.expires_at)
    }
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
