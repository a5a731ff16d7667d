//! Key kinds (the `kind:` line of a key file) and parts (`secret` / `public`).

use core::fmt;

/// What a key is for. Each kind is one role of `spec/keys.md` and one pair of Rust types.
///
/// The string form ([`KeyKind::as_str`]) is the `kind:` value of a key file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyKind {
    /// Ed25519: a node's identity for QUIC/TLS, checkpoints, receipts and cosignatures.
    NodeIdentity,
    /// Ed25519: an agency signs the envelopes it seals.
    AgencySigning,
    /// X25519: envelopes are sealed to an agency's encryption key.
    AgencyEncryption,
    /// Ed25519: the national authority signs the roster.
    Roster,
    /// Ed25519: an application enrolled with its node.
    Application,
    /// Ed25519: an officer approving an urgent-danger disclosure.
    Officer,
}

impl KeyKind {
    /// Every kind, in the order of `spec/keys.md`.
    pub const ALL: [KeyKind; 6] = [
        KeyKind::NodeIdentity,
        KeyKind::AgencySigning,
        KeyKind::AgencyEncryption,
        KeyKind::Roster,
        KeyKind::Application,
        KeyKind::Officer,
    ];

    /// The key-file name of the kind, e.g. `agency-signing`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyKind::NodeIdentity => "node-identity",
            KeyKind::AgencySigning => "agency-signing",
            KeyKind::AgencyEncryption => "agency-encryption",
            KeyKind::Roster => "roster",
            KeyKind::Application => "application",
            KeyKind::Officer => "officer",
        }
    }

    /// The kind named `name` (exactly as [`KeyKind::as_str`] writes it), if any.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// The signature or key-agreement algorithm of keys of this kind.
    #[must_use]
    pub const fn algorithm(self) -> Algorithm {
        match self {
            KeyKind::AgencyEncryption => Algorithm::X25519,
            _ => Algorithm::Ed25519,
        }
    }

    /// The Rust type name of the secret key of this kind (used by `Debug`).
    pub(crate) const fn secret_type_name(self) -> &'static str {
        match self {
            KeyKind::NodeIdentity => "NodeIdentitySecretKey",
            KeyKind::AgencySigning => "AgencySigningSecretKey",
            KeyKind::AgencyEncryption => "AgencyEncryptionSecretKey",
            KeyKind::Roster => "RosterSecretKey",
            KeyKind::Application => "ApplicationSecretKey",
            KeyKind::Officer => "OfficerSecretKey",
        }
    }

    /// The Rust type name of the public key of this kind (used by `Debug`).
    pub(crate) const fn public_type_name(self) -> &'static str {
        match self {
            KeyKind::NodeIdentity => "NodeIdentityPublicKey",
            KeyKind::AgencySigning => "AgencySigningPublicKey",
            KeyKind::AgencyEncryption => "AgencyEncryptionPublicKey",
            KeyKind::Roster => "RosterPublicKey",
            KeyKind::Application => "ApplicationPublicKey",
            KeyKind::Officer => "OfficerPublicKey",
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The algorithm behind a [`KeyKind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    /// Ed25519 signatures (RFC 8032), verified strictly.
    Ed25519,
    /// X25519 key agreement (RFC 7748).
    X25519,
}

/// Which half of a key pair a key file holds: the `part:` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyPart {
    /// The 32-byte secret seed (the public key is derived from it).
    Secret,
    /// The 32-byte public key.
    Public,
}

impl KeyPart {
    /// The key-file name of the part: `secret` or `public`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyPart::Secret => "secret",
            KeyPart::Public => "public",
        }
    }
}

impl fmt::Display for KeyPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_distinct() {
        for kind in KeyKind::ALL {
            assert_eq!(KeyKind::from_name(kind.as_str()), Some(kind));
            assert!(kind.secret_type_name().ends_with("SecretKey"));
            assert!(kind.public_type_name().ends_with("PublicKey"));
        }
        assert_eq!(KeyKind::from_name("Agency-Signing"), None);
        assert_eq!(KeyKind::from_name(""), None);
        assert_eq!(KeyKind::AgencyEncryption.algorithm(), Algorithm::X25519);
        assert_eq!(KeyKind::Officer.algorithm(), Algorithm::Ed25519);
    }
}
