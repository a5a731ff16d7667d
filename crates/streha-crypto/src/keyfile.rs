//! The text key-file format of `spec/keys.md`.
//!
//! ```text
//! streha-key v1
//! kind: agency-signing
//! part: secret
//! key: <standard padded base64 of the 32-byte seed or public key>
//! public: <64 lowercase hex: the public key>      (secret files only)
//! fingerprint: <64 lowercase hex: BLAKE3 of the public key>
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use zeroize::Zeroizing;

use crate::ed25519::{
    AgencySigningPublicKey, AgencySigningSecretKey, ApplicationPublicKey, ApplicationSecretKey,
    Ed25519PublicKey, Ed25519Role, Ed25519SecretKey, NodeIdentityPublicKey, NodeIdentitySecretKey,
    OfficerPublicKey, OfficerSecretKey, RosterPublicKey, RosterSecretKey,
};
use crate::error::CryptoError;
use crate::fingerprint::Fingerprint;
use crate::kind::{KeyKind, KeyPart};
use crate::x25519::{AgencyEncryptionPublicKey, AgencyEncryptionSecretKey};

/// The largest key file [`KeyFile::parse`] reads, in bytes. A real one is under 300.
pub const MAX_KEY_FILE_LEN: usize = 4096;

/// The first line of every version-1 key file.
const HEADER: &str = "streha-key v1";

/// Why a key file was refused. Every malformed input gives one of these, never a panic.
///
/// Line numbers count from 1. Messages never contain key material or any text of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The input is longer than [`MAX_KEY_FILE_LEN`].
    #[error("key file is {len} bytes, over the {max}-byte limit: this is not a Streha key file")]
    TooLarge {
        /// Length of the input in bytes.
        len: usize,
        /// [`MAX_KEY_FILE_LEN`].
        max: usize,
    },
    /// The input bytes are not UTF-8.
    #[error("key file is not UTF-8 text: this is not a Streha key file")]
    NotUtf8,
    /// A line holds a control character (a carriage return, a tab, a NUL, …).
    #[error(
        "line {line} contains a control character: key files are plain text with LF line \
         endings (was the file converted to CRLF or edited?)"
    )]
    ControlCharacter {
        /// The line.
        line: usize,
    },
    /// The first line is not a `streha-key` header.
    #[error("not a Streha key file: the first line must be `streha-key v1`")]
    NotAKeyFile,
    /// The first line is a `streha-key` header of another version.
    #[error("unsupported key-file version: this build reads `streha-key v1` only; upgrade Streha")]
    UnsupportedVersion,
    /// A line is not the field expected at that position (fields have a fixed order and
    /// appear once each).
    #[error(
        "line {line}: expected `{expected}: …` (fields appear once each, in the order of spec/keys.md)"
    )]
    UnexpectedLine {
        /// The line.
        line: usize,
        /// The field expected there.
        expected: &'static str,
    },
    /// The file ends before a required field.
    #[error("key file is truncated: line {line} should be `{expected}: …`")]
    MissingLine {
        /// The line where the field should be.
        line: usize,
        /// The missing field.
        expected: &'static str,
    },
    /// A line follows the final `fingerprint:` line (an empty line counts).
    #[error("line {line}: unexpected line after `fingerprint:`, which ends a key file")]
    ExtraLine {
        /// The line.
        line: usize,
    },
    /// The `kind:` value is not one of the kinds.
    #[error(
        "line {line}: unknown key kind; expected node-identity, agency-signing, \
         agency-encryption, roster, application or officer"
    )]
    UnknownKind {
        /// The line.
        line: usize,
    },
    /// The `part:` value is not `secret` or `public`.
    #[error("line {line}: `part:` must be `secret` or `public`")]
    UnknownPart {
        /// The line.
        line: usize,
    },
    /// A value is not the expected encoding of exactly 32 bytes.
    #[error(
        "line {line}: `{field}:` is not {encoding} of exactly 32 bytes (was the value cut or altered?)"
    )]
    BadEncoding {
        /// The line.
        line: usize,
        /// The field.
        field: &'static str,
        /// The expected encoding.
        encoding: &'static str,
    },
    /// The 32 bytes of a public key file are not a valid public key.
    #[error("the key in this {kind} key file is invalid: {source}")]
    InvalidKey {
        /// The kind the file declares.
        kind: KeyKind,
        /// Why the key is invalid.
        source: CryptoError,
    },
    /// A secret file's `public:` line is not the public key of its secret key.
    #[error(
        "the `public:` line does not match the secret key: the file is corrupt or was edited; \
         restore it from a backup"
    )]
    PublicMismatch,
    /// The `fingerprint:` line is not BLAKE3 of the public key.
    #[error(
        "the `fingerprint:` line does not match the key: the file is corrupt or was edited; \
         restore it from a backup"
    )]
    FingerprintMismatch,
    /// The file holds a key of another kind than the caller asked for.
    #[error("this is a {found} key file, but a {expected} key was expected: check the file name")]
    WrongKind {
        /// The kind asked for.
        expected: KeyKind,
        /// The kind in the file.
        found: KeyKind,
    },
    /// The file holds the other part of the key pair than the caller asked for.
    #[error("this is a {found}-key file, but a {expected} key was expected: check the file name")]
    WrongPart {
        /// The part asked for.
        expected: KeyPart,
        /// The part in the file.
        found: KeyPart,
    },
}

/// Any secret key, as read from a key file of unknown kind.
#[derive(Debug)]
pub enum AnySecretKey {
    /// `node-identity`.
    NodeIdentity(NodeIdentitySecretKey),
    /// `agency-signing`.
    AgencySigning(AgencySigningSecretKey),
    /// `agency-encryption`.
    AgencyEncryption(AgencyEncryptionSecretKey),
    /// `roster`.
    Roster(RosterSecretKey),
    /// `application`.
    Application(ApplicationSecretKey),
    /// `officer`.
    Officer(OfficerSecretKey),
}

/// Any public key, as read from a key file of unknown kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnyPublicKey {
    /// `node-identity`.
    NodeIdentity(NodeIdentityPublicKey),
    /// `agency-signing`.
    AgencySigning(AgencySigningPublicKey),
    /// `agency-encryption`.
    AgencyEncryption(AgencyEncryptionPublicKey),
    /// `roster`.
    Roster(RosterPublicKey),
    /// `application`.
    Application(ApplicationPublicKey),
    /// `officer`.
    Officer(OfficerPublicKey),
}

/// A parsed key file: a secret or a public key of any kind.
///
/// To read a key of a known kind, prefer the typed constructors
/// (`AgencySigningSecretKey::from_key_file`, …), which refuse a file of another kind.
#[derive(Debug)]
pub enum KeyFile {
    /// A secret-key file (`part: secret`).
    Secret(AnySecretKey),
    /// A public-key file (`part: public`).
    Public(AnyPublicKey),
}

/// Calls `$body` with `$key` bound to the key inside any variant of `$enum`.
macro_rules! each_kind {
    ($value:expr, $enum:ident, $key:ident => $body:expr) => {
        match $value {
            $enum::NodeIdentity($key) => $body,
            $enum::AgencySigning($key) => $body,
            $enum::AgencyEncryption($key) => $body,
            $enum::Roster($key) => $body,
            $enum::Application($key) => $body,
            $enum::Officer($key) => $body,
        }
    };
}

impl AnySecretKey {
    /// The kind of the key.
    #[must_use]
    pub fn kind(&self) -> KeyKind {
        self.public_key().kind()
    }

    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> AnyPublicKey {
        match self {
            Self::NodeIdentity(k) => AnyPublicKey::NodeIdentity(k.public_key()),
            Self::AgencySigning(k) => AnyPublicKey::AgencySigning(k.public_key()),
            Self::AgencyEncryption(k) => AnyPublicKey::AgencyEncryption(k.public_key()),
            Self::Roster(k) => AnyPublicKey::Roster(k.public_key()),
            Self::Application(k) => AnyPublicKey::Application(k.public_key()),
            Self::Officer(k) => AnyPublicKey::Officer(k.public_key()),
        }
    }

    /// The fingerprint of the public key.
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        each_kind!(self, Self, k => k.fingerprint())
    }

    /// The secret key file (see [`KeyFile`]).
    #[must_use]
    pub fn to_key_file(&self) -> Zeroizing<String> {
        each_kind!(self, Self, k => k.to_key_file())
    }
}

impl AnyPublicKey {
    /// The kind of the key.
    #[must_use]
    pub fn kind(&self) -> KeyKind {
        match self {
            Self::NodeIdentity(_) => KeyKind::NodeIdentity,
            Self::AgencySigning(_) => KeyKind::AgencySigning,
            Self::AgencyEncryption(_) => KeyKind::AgencyEncryption,
            Self::Roster(_) => KeyKind::Roster,
            Self::Application(_) => KeyKind::Application,
            Self::Officer(_) => KeyKind::Officer,
        }
    }

    /// The 32 bytes of the key.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 32] {
        each_kind!(self, Self, k => k.to_bytes())
    }

    /// The fingerprint of the key.
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        each_kind!(self, Self, k => k.fingerprint())
    }

    /// The public key file.
    #[must_use]
    pub fn to_key_file(&self) -> String {
        each_kind!(self, Self, k => k.to_key_file())
    }
}

impl KeyFile {
    /// Parses a key file of any kind and part (`spec/keys.md`).
    ///
    /// Checks everything the file states: header, field order, encodings, that a public key
    /// is a valid point, that a secret file's `public:` line is the key derived from its
    /// secret, and the fingerprint. Secret bytes decoded on the way are held in zeroizing
    /// buffers; the input text is the caller's to zeroize.
    ///
    /// # Errors
    /// A [`KeyFileError`] naming the first problem; never a panic, whatever the input.
    pub fn parse(text: &str) -> Result<Self, KeyFileError> {
        let raw = RawKeyFile::parse(text)?;
        Ok(match (raw.part, raw.kind) {
            (KeyPart::Secret, kind) => KeyFile::Secret(match kind {
                KeyKind::NodeIdentity => AnySecretKey::NodeIdentity(raw.ed25519_secret()?),
                KeyKind::AgencySigning => AnySecretKey::AgencySigning(raw.ed25519_secret()?),
                KeyKind::AgencyEncryption => AnySecretKey::AgencyEncryption(raw.x25519_secret()?),
                KeyKind::Roster => AnySecretKey::Roster(raw.ed25519_secret()?),
                KeyKind::Application => AnySecretKey::Application(raw.ed25519_secret()?),
                KeyKind::Officer => AnySecretKey::Officer(raw.ed25519_secret()?),
            }),
            (KeyPart::Public, kind) => KeyFile::Public(match kind {
                KeyKind::NodeIdentity => AnyPublicKey::NodeIdentity(raw.ed25519_public()?),
                KeyKind::AgencySigning => AnyPublicKey::AgencySigning(raw.ed25519_public()?),
                KeyKind::AgencyEncryption => AnyPublicKey::AgencyEncryption(raw.x25519_public()?),
                KeyKind::Roster => AnyPublicKey::Roster(raw.ed25519_public()?),
                KeyKind::Application => AnyPublicKey::Application(raw.ed25519_public()?),
                KeyKind::Officer => AnyPublicKey::Officer(raw.ed25519_public()?),
            }),
        })
    }

    /// [`parse`](Self::parse) for raw bytes (e.g. a file's contents).
    ///
    /// # Errors
    /// [`KeyFileError::TooLarge`], [`KeyFileError::NotUtf8`], or any error of `parse`.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, KeyFileError> {
        Self::parse(text_of(bytes)?)
    }

    /// The kind of the key.
    #[must_use]
    pub fn kind(&self) -> KeyKind {
        match self {
            Self::Secret(k) => k.kind(),
            Self::Public(k) => k.kind(),
        }
    }

    /// Which part of the key pair the file holds.
    #[must_use]
    pub fn part(&self) -> KeyPart {
        match self {
            Self::Secret(_) => KeyPart::Secret,
            Self::Public(_) => KeyPart::Public,
        }
    }

    /// The fingerprint of the (public) key.
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        match self {
            Self::Secret(k) => k.fingerprint(),
            Self::Public(k) => k.fingerprint(),
        }
    }

    /// The key file again, in canonical form.
    #[must_use]
    pub fn to_key_file(&self) -> Zeroizing<String> {
        match self {
            Self::Secret(k) => k.to_key_file(),
            Self::Public(k) => Zeroizing::new(k.to_key_file()),
        }
    }
}

fn text_of(bytes: &[u8]) -> Result<&str, KeyFileError> {
    if bytes.len() > MAX_KEY_FILE_LEN {
        return Err(KeyFileError::TooLarge {
            len: bytes.len(),
            max: MAX_KEY_FILE_LEN,
        });
    }
    core::str::from_utf8(bytes).map_err(|_| KeyFileError::NotUtf8)
}

impl<R: Ed25519Role> Ed25519SecretKey<R> {
    /// The secret key file (`spec/keys.md`), in a zeroizing string.
    #[must_use]
    pub fn to_key_file(&self) -> Zeroizing<String> {
        let public = self.public_key();
        encode(
            R::KIND,
            KeyPart::Secret,
            self.seed(),
            Some(public.as_bytes()),
        )
    }

    /// Reads a secret key file of this kind.
    ///
    /// # Errors
    /// As [`KeyFile::parse`], plus [`KeyFileError::WrongKind`] / [`KeyFileError::WrongPart`]
    /// if the file holds another kind of key or a public key.
    pub fn from_key_file(text: &str) -> Result<Self, KeyFileError> {
        RawKeyFile::parse(text)?.ed25519_secret()
    }

    /// [`from_key_file`](Self::from_key_file) for raw bytes.
    ///
    /// # Errors
    /// As `from_key_file`, plus [`KeyFileError::NotUtf8`].
    pub fn from_key_file_bytes(bytes: &[u8]) -> Result<Self, KeyFileError> {
        Self::from_key_file(text_of(bytes)?)
    }
}

impl<R: Ed25519Role> Ed25519PublicKey<R> {
    /// The public key file (`spec/keys.md`).
    #[must_use]
    pub fn to_key_file(&self) -> String {
        take(encode(R::KIND, KeyPart::Public, self.as_bytes(), None))
    }

    /// Reads a public key file of this kind.
    ///
    /// # Errors
    /// As [`KeyFile::parse`], plus [`KeyFileError::WrongKind`] / [`KeyFileError::WrongPart`]
    /// if the file holds another kind of key or a secret key.
    pub fn from_key_file(text: &str) -> Result<Self, KeyFileError> {
        RawKeyFile::parse(text)?.ed25519_public()
    }

    /// [`from_key_file`](Self::from_key_file) for raw bytes.
    ///
    /// # Errors
    /// As `from_key_file`, plus [`KeyFileError::NotUtf8`].
    pub fn from_key_file_bytes(bytes: &[u8]) -> Result<Self, KeyFileError> {
        Self::from_key_file(text_of(bytes)?)
    }
}

impl AgencyEncryptionSecretKey {
    /// The secret key file (`spec/keys.md`), in a zeroizing string.
    #[must_use]
    pub fn to_key_file(&self) -> Zeroizing<String> {
        let public = self.public_key();
        encode(
            KeyKind::AgencyEncryption,
            KeyPart::Secret,
            self.seed(),
            Some(public.as_bytes()),
        )
    }

    /// Reads an `agency-encryption` secret key file.
    ///
    /// # Errors
    /// As [`KeyFile::parse`], plus [`KeyFileError::WrongKind`] / [`KeyFileError::WrongPart`]
    /// if the file holds another kind of key or a public key.
    pub fn from_key_file(text: &str) -> Result<Self, KeyFileError> {
        RawKeyFile::parse(text)?.x25519_secret()
    }

    /// [`from_key_file`](Self::from_key_file) for raw bytes.
    ///
    /// # Errors
    /// As `from_key_file`, plus [`KeyFileError::NotUtf8`].
    pub fn from_key_file_bytes(bytes: &[u8]) -> Result<Self, KeyFileError> {
        Self::from_key_file(text_of(bytes)?)
    }
}

impl AgencyEncryptionPublicKey {
    /// The public key file (`spec/keys.md`).
    #[must_use]
    pub fn to_key_file(&self) -> String {
        take(encode(
            KeyKind::AgencyEncryption,
            KeyPart::Public,
            self.as_bytes(),
            None,
        ))
    }

    /// Reads an `agency-encryption` public key file.
    ///
    /// # Errors
    /// As [`KeyFile::parse`], plus [`KeyFileError::WrongKind`] / [`KeyFileError::WrongPart`]
    /// if the file holds another kind of key or a secret key.
    pub fn from_key_file(text: &str) -> Result<Self, KeyFileError> {
        RawKeyFile::parse(text)?.x25519_public()
    }

    /// [`from_key_file`](Self::from_key_file) for raw bytes.
    ///
    /// # Errors
    /// As `from_key_file`, plus [`KeyFileError::NotUtf8`].
    pub fn from_key_file_bytes(bytes: &[u8]) -> Result<Self, KeyFileError> {
        Self::from_key_file(text_of(bytes)?)
    }
}

/// Moves a public key file out of its zeroizing wrapper (it holds nothing secret).
fn take(mut text: Zeroizing<String>) -> String {
    core::mem::take(&mut *text)
}

/// Writes a key file. `public` is `Some` exactly for secret files.
fn encode(
    kind: KeyKind,
    part: KeyPart,
    key: &[u8; 32],
    public: Option<&[u8; 32]>,
) -> Zeroizing<String> {
    let public_key = public.unwrap_or(key);
    // Sized once so that the secret never sits in a buffer left behind by a reallocation.
    let mut out = Zeroizing::new(String::with_capacity(512));
    out.push_str(HEADER);
    out.push_str("\nkind: ");
    out.push_str(kind.as_str());
    out.push_str("\npart: ");
    out.push_str(part.as_str());
    out.push_str("\nkey: ");
    BASE64.encode_string(key, &mut out);
    if let Some(public) = public {
        out.push_str("\npublic: ");
        out.push_str(&hex::encode(public));
    }
    out.push_str("\nfingerprint: ");
    out.push_str(&Fingerprint::of_key_bytes(public_key).to_hex());
    out.push('\n');
    out
}

/// A syntactically valid key file, not yet checked against the keys it names.
struct RawKeyFile {
    kind: KeyKind,
    part: KeyPart,
    key: Zeroizing<[u8; 32]>,
    public: Option<[u8; 32]>,
    fingerprint: [u8; 32],
}

/// The lines of a key file, numbered from 1.
struct Lines<'a> {
    lines: core::str::Split<'a, char>,
    number: usize,
}

impl<'a> Lines<'a> {
    fn next_line(&mut self) -> Option<(usize, &'a str)> {
        let line = self.lines.next()?;
        self.number += 1;
        Some((self.number, line))
    }

    /// The value of the next line, which must be `name: value`.
    fn field(&mut self, name: &'static str) -> Result<(usize, &'a str), KeyFileError> {
        let Some((line, text)) = self.next_line() else {
            return Err(KeyFileError::MissingLine {
                line: self.number + 1,
                expected: name,
            });
        };
        text.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(": "))
            .map(|value| (line, value))
            .ok_or(KeyFileError::UnexpectedLine {
                line,
                expected: name,
            })
    }
}

impl RawKeyFile {
    fn parse(text: &str) -> Result<Self, KeyFileError> {
        text_of(text.as_bytes())?;
        for (index, line) in text.split('\n').enumerate() {
            if line.chars().any(char::is_control) {
                return Err(KeyFileError::ControlCharacter { line: index + 1 });
            }
        }
        // One final newline is expected; its absence is forgiven.
        let body = text.strip_suffix('\n').unwrap_or(text);
        let mut lines = Lines {
            lines: body.split('\n'),
            number: 0,
        };

        match lines.next_line() {
            Some((_, HEADER)) => {}
            Some((_, other)) if other.starts_with("streha-key ") => {
                return Err(KeyFileError::UnsupportedVersion);
            }
            _ => return Err(KeyFileError::NotAKeyFile),
        }

        let (line, value) = lines.field("kind")?;
        let kind = KeyKind::from_name(value).ok_or(KeyFileError::UnknownKind { line })?;

        let (line, value) = lines.field("part")?;
        let part = match value {
            "secret" => KeyPart::Secret,
            "public" => KeyPart::Public,
            _ => return Err(KeyFileError::UnknownPart { line }),
        };

        let (line, value) = lines.field("key")?;
        let key = decode_base64_32(value).ok_or(KeyFileError::BadEncoding {
            line,
            field: "key",
            encoding: "padded standard base64",
        })?;

        let public = match part {
            KeyPart::Secret => {
                let (line, value) = lines.field("public")?;
                Some(decode_hex_32(value).ok_or(KeyFileError::BadEncoding {
                    line,
                    field: "public",
                    encoding: "hex",
                })?)
            }
            KeyPart::Public => None,
        };

        let (line, value) = lines.field("fingerprint")?;
        let fingerprint = decode_hex_32(value).ok_or(KeyFileError::BadEncoding {
            line,
            field: "fingerprint",
            encoding: "hex",
        })?;

        if let Some((line, _)) = lines.next_line() {
            return Err(KeyFileError::ExtraLine { line });
        }
        Ok(Self {
            kind,
            part,
            key,
            public,
            fingerprint,
        })
    }

    fn expect(&self, kind: KeyKind, part: KeyPart) -> Result<(), KeyFileError> {
        if self.kind != kind {
            return Err(KeyFileError::WrongKind {
                expected: kind,
                found: self.kind,
            });
        }
        if self.part != part {
            return Err(KeyFileError::WrongPart {
                expected: part,
                found: self.part,
            });
        }
        Ok(())
    }

    fn check(&self, public: &[u8; 32]) -> Result<(), KeyFileError> {
        if self.public.is_some_and(|stated| stated != *public) {
            return Err(KeyFileError::PublicMismatch);
        }
        if Fingerprint::of_key_bytes(public).to_bytes() != self.fingerprint {
            return Err(KeyFileError::FingerprintMismatch);
        }
        Ok(())
    }

    fn ed25519_secret<R: Ed25519Role>(&self) -> Result<Ed25519SecretKey<R>, KeyFileError> {
        self.expect(R::KIND, KeyPart::Secret)?;
        let key = Ed25519SecretKey::from_seed_ref(&self.key);
        self.check(key.public_key().as_bytes())?;
        Ok(key)
    }

    fn ed25519_public<R: Ed25519Role>(&self) -> Result<Ed25519PublicKey<R>, KeyFileError> {
        self.expect(R::KIND, KeyPart::Public)?;
        let key =
            Ed25519PublicKey::from_bytes(*self.key).map_err(|source| KeyFileError::InvalidKey {
                kind: self.kind,
                source,
            })?;
        self.check(key.as_bytes())?;
        Ok(key)
    }

    fn x25519_secret(&self) -> Result<AgencyEncryptionSecretKey, KeyFileError> {
        self.expect(KeyKind::AgencyEncryption, KeyPart::Secret)?;
        let key = AgencyEncryptionSecretKey::from_seed_ref(&self.key);
        self.check(key.public_key().as_bytes())?;
        Ok(key)
    }

    fn x25519_public(&self) -> Result<AgencyEncryptionPublicKey, KeyFileError> {
        self.expect(KeyKind::AgencyEncryption, KeyPart::Public)?;
        let key = AgencyEncryptionPublicKey::from_bytes(*self.key).map_err(|source| {
            KeyFileError::InvalidKey {
                kind: self.kind,
                source,
            }
        })?;
        self.check(key.as_bytes())?;
        Ok(key)
    }
}

/// Standard padded base64 of exactly 32 bytes (44 characters), canonical trailing bits.
fn decode_base64_32(value: &str) -> Option<Zeroizing<[u8; 32]>> {
    if value.len() != 44 {
        return None;
    }
    // Capacity above the decoder's estimate, so the secret is never reallocated.
    let mut decoded = Zeroizing::new(Vec::with_capacity(48));
    BASE64.decode_vec(value, &mut decoded).ok()?;
    let mut out = Zeroizing::new([0u8; 32]);
    if decoded.len() != out.len() {
        return None;
    }
    out.copy_from_slice(&decoded);
    Some(out)
}

/// 64 hex digits (either case).
fn decode_hex_32(value: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(value, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_file() -> String {
        AgencySigningSecretKey::from_seed_bytes([1; 32])
            .to_key_file()
            .to_string()
    }

    #[test]
    fn layout_of_a_secret_file() {
        let text = secret_file();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[0], "streha-key v1");
        assert_eq!(lines[1], "kind: agency-signing");
        assert_eq!(lines[2], "part: secret");
        assert_eq!(lines[3], format!("key: {}", BASE64.encode([1u8; 32])));
        assert!(lines[4].starts_with("public: "));
        assert!(lines[5].starts_with("fingerprint: "));
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn missing_final_newline_is_forgiven() {
        let text = secret_file();
        let trimmed = text.strip_suffix('\n').unwrap();
        assert!(AgencySigningSecretKey::from_key_file(trimmed).is_ok());
    }

    #[test]
    fn base64_must_be_canonical() {
        // 32 bytes leave 4 unused bits in the last character; setting one is refused.
        let text = secret_file();
        let key_line = text.lines().nth(3).unwrap();
        let value = key_line.strip_prefix("key: ").unwrap();
        assert!(value.ends_with("E=")); // 0x01 in the last byte: ...AQE=
        let tweaked = text.replace(value, &value.replace("E=", "F="));
        assert_eq!(
            AgencySigningSecretKey::from_key_file(&tweaked).unwrap_err(),
            KeyFileError::BadEncoding {
                line: 4,
                field: "key",
                encoding: "padded standard base64"
            }
        );
    }
}
