//! C2SP signed notes (`c2sp.org/signed-note`), with Ed25519 signatures (type `0x01`) and
//! timestamped Ed25519 witness cosignatures (type `0x04`, `c2sp.org/tlog-cosignature`).
//!
//! The parser knows nothing about signature types: a signature line is a key name and
//! opaque bytes behind a 4-byte key id. Only a [`NoteVerifier`] matching the line's name and
//! key id interprets the bytes, so a new signature type is a new verifier kind, not a parser
//! change.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

/// The largest note [`SignedNote::parse`] accepts, in bytes (1 MiB).
pub const MAX_NOTE_SIZE: usize = 1 << 20;

/// The most signature lines [`SignedNote::parse`] accepts (C2SP requires at least 16).
pub const MAX_NOTE_SIGNATURES: usize = 100;

/// The em dash and space that start every signature line.
const SIG_PREFIX: &str = "\u{2014} ";

/// Checks the C2SP character rules: valid UTF-8 (given by `&str`) and no ASCII control
/// characters other than newline.
fn check_characters(text: &str) -> Result<(), NoteError> {
    match text.bytes().position(|b| b < 0x20 && b != b'\n') {
        Some(offset) => Err(NoteError::ControlCharacter { offset }),
        None => Ok(()),
    }
}

/// A key name: non-empty, no Unicode white space, no `+` (C2SP signed-note, "Format"), and
/// no ASCII control character (which no note may contain). Validated at construction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyName(String);

impl KeyName {
    /// Validates a key name.
    ///
    /// # Errors
    /// [`KeyNameError`] naming the first offending character.
    pub fn new(name: impl Into<String>) -> Result<Self, KeyNameError> {
        let name = name.into();
        if name.is_empty() {
            return Err(KeyNameError::Empty);
        }
        for (position, c) in name.char_indices() {
            if c.is_whitespace() {
                return Err(KeyNameError::WhiteSpace { position });
            }
            if c == '+' {
                return Err(KeyNameError::Plus { position });
            }
            if c < ' ' {
                return Err(KeyNameError::ControlCharacter { position });
            }
        }
        Ok(Self(name))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for KeyName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Why a string is not a key name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyNameError {
    /// The name is empty.
    #[error("a key name must not be empty")]
    Empty,
    /// The name contains white space.
    #[error("a key name must not contain white space (byte {position})")]
    WhiteSpace {
        /// Byte offset of the character.
        position: usize,
    },
    /// The name contains `+`.
    #[error("a key name must not contain '+' (byte {position})")]
    Plus {
        /// Byte offset of the character.
        position: usize,
    },
    /// The name contains an ASCII control character.
    #[error("a key name must not contain ASCII control characters (byte {position})")]
    ControlCharacter {
        /// Byte offset of the character.
        position: usize,
    },
}

/// The 4-byte key id that starts every signature (big-endian `uint32`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 4]);

impl KeyId {
    /// Wraps 4 bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 4]) -> Self {
        Self(bytes)
    }

    /// The 4 bytes.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; 4] {
        self.0
    }

    /// The id as the big-endian integer the spec calls it.
    #[must_use]
    pub const fn to_u32(self) -> u32 {
        u32::from_be_bytes(self.0)
    }

    /// `SHA-256(key name ‖ 0x0A ‖ signature type ‖ public key)[:4]` (C2SP signed-note,
    /// "Signatures").
    #[must_use]
    pub fn compute(name: &KeyName, signature_type: SignatureType, key: &VerifyingKey) -> Self {
        Self::compute_raw(name.as_str(), signature_type.id(), key.as_bytes())
    }

    fn compute_raw(name: &str, type_id: u8, key: &[u8]) -> Self {
        let digest = Sha256::new()
            .chain_update(name.as_bytes())
            .chain_update([0x0A, type_id])
            .chain_update(key)
            .finalize();
        Self([digest[0], digest[1], digest[2], digest[3]])
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.to_u32())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A signature type of C2SP signed-note ("Signature types") that this crate can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureType {
    /// `0x01`: Ed25519 over the note text.
    Ed25519,
    /// `0x04`: timestamped Ed25519 witness cosignature, `c2sp.org/tlog-cosignature`
    /// (`cosignature/v1`).
    CosignatureV1,
}

impl SignatureType {
    /// The identifier byte.
    #[must_use]
    pub const fn id(self) -> u8 {
        match self {
            Self::Ed25519 => 0x01,
            Self::CosignatureV1 => 0x04,
        }
    }

    /// The type with that identifier byte, if this crate knows it.
    #[must_use]
    pub const fn from_id(id: u8) -> Option<Self> {
        match id {
            0x01 => Some(Self::Ed25519),
            0x04 => Some(Self::CosignatureV1),
            _ => None,
        }
    }
}

/// One signature line of a note: the key name, the key id and the signature bytes after the
/// key id, uninterpreted.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteSignature {
    name: KeyName,
    key_id: KeyId,
    signature: Vec<u8>,
}

impl NoteSignature {
    /// The key name.
    #[must_use]
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The key id.
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The signature bytes after the key id (for a cosignature: timestamp ‖ signature).
    #[must_use]
    pub fn signature_bytes(&self) -> &[u8] {
        &self.signature
    }

    /// The line: `— <name> <base64(key id ‖ signature)>\n`.
    #[must_use]
    pub fn to_line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id.0);
        raw.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, BASE64.encode(raw))
    }

    /// Parses one signature line (the trailing newline is optional), for instance a witness
    /// cosignature received on its own.
    ///
    /// # Errors
    /// [`NoteError::MalformedSignatureLine`] (with line 1) or [`NoteError::ControlCharacter`].
    pub fn from_line(line: &str) -> Result<Self, NoteError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        check_characters(line)?;
        if line.contains('\n') {
            return Err(NoteError::MalformedSignatureLine {
                line: 1,
                reason: "a signature line must not contain a newline",
            });
        }
        parse_signature_line(line, 1)
    }

    fn len_in_note(&self) -> usize {
        // "— " (4 bytes) + name + " " + base64 + "\n".
        4 + self.name.0.len() + 1 + (4 + self.signature.len()).div_ceil(3) * 4 + 1
    }
}

impl fmt::Debug for NoteSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSignature")
            .field("name", &self.name.as_str())
            .field("key_id", &self.key_id)
            .field("len", &self.signature.len())
            .finish()
    }
}

fn parse_signature_line(line: &str, line_no: usize) -> Result<NoteSignature, NoteError> {
    let malformed = |reason| NoteError::MalformedSignatureLine {
        line: line_no,
        reason,
    };
    let rest = line.strip_prefix(SIG_PREFIX).ok_or(malformed(
        "it does not start with an em dash (U+2014) and a space",
    ))?;
    let (name, b64) = rest.split_once(' ').ok_or(malformed(
        "it has no space between the key name and the signature",
    ))?;
    let name = KeyName::new(name).map_err(|_| malformed("the key name is not valid"))?;
    let raw = BASE64
        .decode(b64)
        .map_err(|_| malformed("the signature is not canonical standard base64"))?;
    if raw.len() < 5 {
        return Err(malformed(
            "the signature is shorter than a key id and one byte",
        ));
    }
    Ok(NoteSignature {
        name,
        key_id: KeyId([raw[0], raw[1], raw[2], raw[3]]),
        signature: raw[4..].to_vec(),
    })
}

/// Signs note texts with Ed25519 (signature type `0x01`): a log signing its checkpoints.
pub struct NoteSigner {
    name: KeyName,
    key: SigningKey,
    key_id: KeyId,
}

impl NoteSigner {
    /// A signer for key `name`.
    ///
    /// # Errors
    /// [`KeyNameError`] if `name` is not a valid key name.
    pub fn new(name: &str, key: SigningKey) -> Result<Self, KeyNameError> {
        let name = KeyName::new(name)?;
        let key_id = KeyId::compute(&name, SignatureType::Ed25519, &key.verifying_key());
        Ok(Self { name, key, key_id })
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The key id.
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The matching verifier.
    #[must_use]
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
            signature_type: SignatureType::Ed25519,
            key_id: self.key_id,
        }
    }

    /// Signs a note text (which must end with a newline).
    ///
    /// # Errors
    /// [`NoteError::BodyNotNewlineTerminated`], [`NoteError::ControlCharacter`] or
    /// [`NoteError::TooLarge`].
    pub fn sign(&self, body: &str) -> Result<NoteSignature, NoteError> {
        check_body(body)?;
        Ok(self.sign_unchecked(body))
    }

    pub(crate) fn sign_unchecked(&self, body: &str) -> NoteSignature {
        NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: self.key.sign(body.as_bytes()).to_bytes().to_vec(),
        }
    }
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name.as_str())
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Cosigns checkpoints as a witness: `c2sp.org/tlog-cosignature` `cosignature/v1`,
/// signature type `0x04`.
pub struct CosignatureSigner {
    name: KeyName,
    key: SigningKey,
    key_id: KeyId,
}

impl CosignatureSigner {
    /// A cosigner for key `name`. Use a key of its own: the `cosignature/v1` message does not
    /// commit to the name.
    ///
    /// # Errors
    /// [`KeyNameError`] if `name` is not a valid key name.
    pub fn new(name: &str, key: SigningKey) -> Result<Self, KeyNameError> {
        let name = KeyName::new(name)?;
        let key_id = KeyId::compute(&name, SignatureType::CosignatureV1, &key.verifying_key());
        Ok(Self { name, key, key_id })
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The key id.
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The matching verifier.
    #[must_use]
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
            signature_type: SignatureType::CosignatureV1,
            key_id: self.key_id,
        }
    }

    /// Cosigns a checkpoint body at `timestamp` (POSIX seconds, passed in: this crate reads
    /// no clock). The cosigner states that, as of `timestamp`, this is the largest consistent
    /// tree it has seen for the origin — check consistency before calling.
    ///
    /// # Errors
    /// [`NoteError::TimestampTooLarge`] beyond 2⁶³−1, and the errors of
    /// [`NoteSigner::sign`].
    pub fn cosign(&self, body: &str, timestamp: u64) -> Result<NoteSignature, NoteError> {
        check_body(body)?;
        if timestamp > i64::MAX as u64 {
            return Err(NoteError::TimestampTooLarge { timestamp });
        }
        let sig = self
            .key
            .sign(cosignature_message(body, timestamp).as_bytes());
        let mut signature = Vec::with_capacity(72);
        signature.extend_from_slice(&timestamp.to_be_bytes());
        signature.extend_from_slice(&sig.to_bytes());
        Ok(NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature,
        })
    }
}

impl fmt::Debug for CosignatureSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CosignatureSigner")
            .field("name", &self.name.as_str())
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// `cosignature/v1\ntime <timestamp>\n<body>` (tlog-cosignature, "Ed25519 signed message").
fn cosignature_message(body: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{body}")
}

/// A known public key: its name, key, signature type and key id.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: KeyName,
    key: VerifyingKey,
    signature_type: SignatureType,
    key_id: KeyId,
}

impl NoteVerifier {
    /// An Ed25519 (type `0x01`) verifier.
    ///
    /// # Errors
    /// [`KeyNameError`] if `name` is not a valid key name.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, KeyNameError> {
        Self::with_type(name, key, SignatureType::Ed25519)
    }

    /// A verifier of `cosignature/v1` (type `0x04`) witness cosignatures.
    ///
    /// # Errors
    /// [`KeyNameError`] if `name` is not a valid key name.
    pub fn cosignature_v1(name: &str, key: VerifyingKey) -> Result<Self, KeyNameError> {
        Self::with_type(name, key, SignatureType::CosignatureV1)
    }

    /// A verifier of the given type.
    ///
    /// # Errors
    /// [`KeyNameError`] if `name` is not a valid key name.
    pub fn with_type(
        name: &str,
        key: VerifyingKey,
        signature_type: SignatureType,
    ) -> Result<Self, KeyNameError> {
        let name = KeyName::new(name)?;
        let key_id = KeyId::compute(&name, signature_type, &key);
        Ok(Self {
            name,
            key,
            signature_type,
            key_id,
        })
    }

    /// Parses a verifier key, `<name>+<8 hex digits of key id>+<base64(type ‖ public key)>`
    /// (the `vkey` form of C2SP signed-note and golang.org/x/mod/sumdb/note).
    ///
    /// # Errors
    /// [`VkeyError`] saying which part is wrong.
    pub fn from_vkey(vkey: &str) -> Result<Self, VkeyError> {
        let (name, rest) = vkey.split_once('+').ok_or(VkeyError::Malformed {
            reason: "expected <name>+<key id>+<key>",
        })?;
        let (id_hex, key_b64) = rest.split_once('+').ok_or(VkeyError::Malformed {
            reason: "expected <name>+<key id>+<key>",
        })?;
        let name = KeyName::new(name).map_err(VkeyError::InvalidName)?;
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(VkeyError::Malformed {
                reason: "the key id must be 8 hex digits",
            });
        }
        let stated = KeyId(
            u32::from_str_radix(id_hex, 16)
                .map_err(|_| VkeyError::Malformed {
                    reason: "the key id must be 8 hex digits",
                })?
                .to_be_bytes(),
        );
        let raw = BASE64.decode(key_b64).map_err(|_| VkeyError::Malformed {
            reason: "the key is not canonical standard base64",
        })?;
        let (&type_id, key) = raw.split_first().ok_or(VkeyError::Malformed {
            reason: "the key is empty",
        })?;
        let computed = KeyId::compute_raw(name.as_str(), type_id, key);
        if computed != stated {
            return Err(VkeyError::KeyIdMismatch { stated, computed });
        }
        let signature_type =
            SignatureType::from_id(type_id).ok_or(VkeyError::UnknownSignatureType { type_id })?;
        let key: &[u8; 32] = key.try_into().map_err(|_| VkeyError::Malformed {
            reason: "an Ed25519 public key is 32 bytes",
        })?;
        let key = VerifyingKey::from_bytes(key).map_err(|_| VkeyError::InvalidPublicKey)?;
        Ok(Self {
            name,
            key,
            signature_type,
            key_id: stated,
        })
    }

    /// The verifier key text, `<name>+<key id>+<base64(type ‖ public key)>`.
    #[must_use]
    pub fn to_vkey(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(self.signature_type.id());
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.name, self.key_id, BASE64.encode(raw))
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The key id.
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The public key.
    #[must_use]
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The signature type.
    #[must_use]
    pub fn signature_type(&self) -> SignatureType {
        self.signature_type
    }

    /// Whether `signature` is under this verifier's key name and key id (and so is this
    /// verifier's to check).
    #[must_use]
    pub fn matches(&self, sig: &NoteSignature) -> bool {
        self.name == sig.name && self.key_id == sig.key_id
    }

    /// Checks one signature line over `body` (the note text its signatures cover, ending in
    /// a newline): the line must be under this verifier's key name and key id, and verify.
    /// Returns the cosignature timestamp for a cosignature/v1 key. One verification, for a
    /// caller that checks lines one at a time (a witness that must check each distinct
    /// line once).
    ///
    /// # Errors
    /// [`NoteError::InvalidSignature`] if the line is not this key's or does not verify.
    pub fn verify_signature(
        &self,
        body: &str,
        signature: &NoteSignature,
    ) -> Result<Option<u64>, NoteError> {
        let invalid = || NoteError::InvalidSignature {
            name: signature.name.0.clone(),
            key_id: signature.key_id,
        };
        if !self.matches(signature) {
            return Err(invalid());
        }
        self.check(body, &signature.signature, false)
            .map_err(|()| invalid())
    }

    /// What a signature line under this key asserts over `body` (the note text its
    /// signatures cover): the exact message and Ed25519 signature that [`verify_signature`]
    /// checks with `verify_strict`, and the cosignature timestamp for a cosignature/v1 key.
    /// `None` if the line is not this key's or its bytes are not well formed for the key's
    /// type (such a line never verifies).
    ///
    /// This is for a verifier that checks many independent lines as one batch
    /// (`streha_crypto::verify_batch`) and then applies every other rule with
    /// [`SignedNote::verify_settled`]; the message is the same one either way, so a batch and
    /// a single check can only disagree on the signature equation itself.
    ///
    /// [`verify_signature`]: Self::verify_signature
    #[must_use]
    pub fn signed_input<'b>(
        &self,
        body: &'b str,
        signature: &NoteSignature,
    ) -> Option<SignedInput<'b>> {
        if !self.matches(signature) {
            return None;
        }
        self.input(body, &signature.signature).ok()
    }

    /// The public key's 32 bytes.
    #[must_use]
    pub fn key_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The message, signature and timestamp a signature's bytes assert under this key's type.
    fn input<'b>(&self, body: &'b str, signature: &[u8]) -> Result<SignedInput<'b>, ()> {
        match self.signature_type {
            SignatureType::Ed25519 => Ok(SignedInput {
                message: Cow::Borrowed(body.as_bytes()),
                signature: signature.try_into().map_err(|_| ())?,
                timestamp: None,
            }),
            SignatureType::CosignatureV1 => {
                if signature.len() != 72 {
                    return Err(());
                }
                let (ts, sig) = signature.split_at(8);
                let timestamp = u64::from_be_bytes(ts.try_into().map_err(|_| ())?);
                if timestamp > i64::MAX as u64 {
                    return Err(());
                }
                Ok(SignedInput {
                    message: Cow::Owned(cosignature_message(body, timestamp).into_bytes()),
                    signature: sig.try_into().map_err(|_| ())?,
                    timestamp: Some(timestamp),
                })
            }
        }
    }

    /// Checks the signature bytes over `body`; returns the cosignature timestamp if any.
    /// Ed25519 verification is strict (RFC 8032 canonical encodings, no small-order keys).
    /// With `settled`, the signature equation was already checked (a batch over exactly
    /// [`input`](Self::input)'s message and signature) and only the form is checked here.
    fn check(&self, body: &str, signature: &[u8], settled: bool) -> Result<Option<u64>, ()> {
        let input = self.input(body, signature)?;
        if !settled {
            self.key
                .verify_strict(&input.message, &Signature::from_bytes(&input.signature))
                .map_err(|_| ())?;
        }
        Ok(input.timestamp)
    }
}

/// What one signature line asserts: `signature` is an Ed25519 signature of `message` by the
/// line's key (see [`NoteVerifier::signed_input`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignedInput<'b> {
    /// The signed bytes: the note text, or the cosignature/v1 message around it.
    pub message: Cow<'b, [u8]>,
    /// The 64-byte Ed25519 signature.
    pub signature: [u8; 64],
    /// The cosignature/v1 timestamp; `None` for a plain Ed25519 line.
    pub timestamp: Option<u64>,
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_vkey())
    }
}

/// Why a verifier key does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VkeyError {
    /// The text is not `<name>+<key id>+<key>` with a valid id and key encoding.
    #[error("malformed verifier key: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// The name is not a valid key name.
    #[error("the verifier key's name is not valid: {0}")]
    InvalidName(#[source] KeyNameError),
    /// The stated key id is not the hash of the name and key: a typo or a tampered key.
    #[error("the verifier key states key id {stated}, but its name and key give {computed}")]
    KeyIdMismatch {
        /// The id in the text.
        stated: KeyId,
        /// The id computed from name and key.
        computed: KeyId,
    },
    /// A signature type this crate does not verify.
    #[error(
        "the verifier key has signature type {type_id:#04x}; only 0x01 (Ed25519) and 0x04 (cosignature/v1) are supported"
    )]
    UnknownSignatureType {
        /// The type byte.
        type_id: u8,
    },
    /// The 32 bytes are not an Ed25519 public key.
    #[error("the verifier key's public key is not a valid Ed25519 point")]
    InvalidPublicKey,
}

fn check_body(body: &str) -> Result<(), NoteError> {
    if body.len() > MAX_NOTE_SIZE {
        return Err(NoteError::TooLarge {
            size: body.len(),
            max: MAX_NOTE_SIZE,
        });
    }
    if !body.ends_with('\n') {
        return Err(NoteError::BodyNotNewlineTerminated);
    }
    check_characters(body)
}

/// A note: a text (the body) and one or more signature lines, C2SP signed-note.
///
/// Parsing checks the format only; nothing in the body may be trusted before
/// [`SignedNote::verify`] succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    body: String,
    signatures: Vec<NoteSignature>,
}

impl SignedNote {
    /// Signs `body` (which must end with a newline) and returns the note with that one
    /// signature.
    ///
    /// # Errors
    /// As [`NoteSigner::sign`].
    pub fn sign(body: &str, signer: &NoteSigner) -> Result<Self, NoteError> {
        let sig = signer.sign(body)?;
        let note = Self {
            body: body.to_owned(),
            signatures: vec![sig],
        };
        note.check_size()?;
        Ok(note)
    }

    pub(crate) fn from_parts_unchecked(body: String, signatures: Vec<NoteSignature>) -> Self {
        Self { body, signatures }
    }

    /// Parses a note from untrusted text: at most [`MAX_NOTE_SIZE`] bytes and
    /// [`MAX_NOTE_SIGNATURES`] signatures, no control characters but newline, a body
    /// separated from the signature lines by the last blank line, every signature line
    /// `— <name> <base64 of at least 5 bytes>`.
    ///
    /// # Errors
    /// [`NoteError`] naming what is malformed (and the line, for a signature line).
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        if text.len() > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge {
                size: text.len(),
                max: MAX_NOTE_SIZE,
            });
        }
        check_characters(text)?;
        let split = text.rfind("\n\n").ok_or(NoteError::MissingBlankLine)?;
        let (body, sigs) = (&text[..=split], &text[split + 2..]);
        if sigs.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        let Some(sigs) = sigs.strip_suffix('\n') else {
            return Err(NoteError::UnterminatedSignatureLine);
        };
        let count = sigs.split('\n').count();
        if count > MAX_NOTE_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                count,
                max: MAX_NOTE_SIGNATURES,
            });
        }
        // Line numbers are 1-based over the whole note: body lines, the blank line, then
        // the signatures.
        let first_sig_line = body.bytes().filter(|&b| b == b'\n').count() + 2;
        let signatures = sigs
            .split('\n')
            .enumerate()
            .map(|(i, line)| parse_signature_line(line, first_sig_line + i))
            .collect::<Result<Vec<_>, _>>()?;
        // Two lines under one key name and key id: at most one can be that key's signature
        // of this body, and a verifier would check the same key again for each copy (a note
        // of 100 copies of one line costs 100 verifications). Refused, naming the second.
        let mut seen = std::collections::HashSet::with_capacity(signatures.len());
        for (i, signature) in signatures.iter().enumerate() {
            if !seen.insert((signature.name.as_str(), signature.key_id)) {
                return Err(NoteError::DuplicateSignature {
                    line: first_sig_line + i,
                    name: signature.name.0.clone(),
                    key_id: signature.key_id,
                });
            }
        }
        Ok(Self {
            body: body.to_owned(),
            signatures,
        })
    }

    /// The note text that signatures cover, including its final newline.
    #[must_use]
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The signatures, in order.
    #[must_use]
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Adds a signature (for instance a witness cosignature), keeping every existing line.
    /// A signature with the same key name and id as an existing one replaces it in place.
    /// The signature is not checked here; [`SignedNote::verify`] does that.
    ///
    /// # Errors
    /// [`NoteError::TooManySignatures`] or [`NoteError::TooLarge`] if the note would no longer
    /// parse; the note is then unchanged.
    pub fn add_signature(&mut self, signature: NoteSignature) -> Result<(), NoteError> {
        let existing = self
            .signatures
            .iter()
            .position(|s| s.name == signature.name && s.key_id == signature.key_id);
        let old = match existing {
            Some(i) => Some(std::mem::replace(&mut self.signatures[i], signature)),
            None => {
                if self.signatures.len() >= MAX_NOTE_SIGNATURES {
                    return Err(NoteError::TooManySignatures {
                        count: self.signatures.len() + 1,
                        max: MAX_NOTE_SIGNATURES,
                    });
                }
                self.signatures.push(signature);
                None
            }
        };
        if let Err(e) = self.check_size() {
            match (existing, old) {
                (Some(i), Some(old)) => self.signatures[i] = old,
                _ => {
                    self.signatures.pop();
                }
            }
            return Err(e);
        }
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        self.body.len()
            + 1
            + self
                .signatures
                .iter()
                .map(NoteSignature::len_in_note)
                .sum::<usize>()
    }

    fn check_size(&self) -> Result<(), NoteError> {
        let size = self.encoded_len();
        if size > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge {
                size,
                max: MAX_NOTE_SIZE,
            });
        }
        Ok(())
    }

    /// The note text: body, blank line, signature lines.
    #[must_use]
    pub fn to_text(&self) -> String {
        self.to_string()
    }

    /// Verifies the note against known keys (C2SP signed-note, "Signatures"):
    ///
    /// - a signature whose name and key id match no known key is ignored and kept (see
    ///   [`VerifiedNote::unknown_signatures`]): another party's witness, a rotated key;
    /// - a signature whose name and key id match a known key must verify, or the whole note
    ///   is rejected;
    /// - at least one known key must have signed.
    ///
    /// Success says who signed the body, not that the body is true.
    ///
    /// # Errors
    /// [`NoteError::InvalidSignature`], [`NoteError::NoKnownSignature`] or
    /// [`NoteError::AmbiguousVerifier`].
    pub fn verify(&self, verifiers: &[NoteVerifier]) -> Result<VerifiedNote, NoteError> {
        self.verify_settled(verifiers, |_, _| false)
    }

    /// [`verify`](Self::verify), for a caller that already checked some signature lines'
    /// equations as part of a batch: `settled(i, verifier)` says that line `i` of
    /// [`signatures`](Self::signatures), under `verifier`, was in a batch that verified
    /// (over exactly [`NoteVerifier::signed_input`]'s message and signature). Every other
    /// rule applies as in `verify`, and every line not settled is verified here.
    ///
    /// # Errors
    /// As [`verify`](Self::verify).
    pub fn verify_settled(
        &self,
        verifiers: &[NoteVerifier],
        settled: impl Fn(usize, &NoteVerifier) -> bool,
    ) -> Result<VerifiedNote, NoteError> {
        let mut signers: Vec<VerifiedSignature> = Vec::new();
        let mut unknown = Vec::new();
        for (line, sig) in self.signatures.iter().enumerate() {
            let mut candidates = verifiers.iter().filter(|v| v.matches(sig));
            let Some(verifier) = candidates.next() else {
                unknown.push(sig.clone());
                continue;
            };
            if candidates.any(|other| other != verifier) {
                return Err(NoteError::AmbiguousVerifier {
                    name: sig.name.0.clone(),
                    key_id: sig.key_id,
                });
            }
            let settled = settled(line, verifier);
            let timestamp = verifier
                .check(&self.body, &sig.signature, settled)
                .map_err(|()| NoteError::InvalidSignature {
                    name: sig.name.0.clone(),
                    key_id: sig.key_id,
                })?;
            if !signers
                .iter()
                .any(|s| s.name == sig.name && s.key_id == sig.key_id)
            {
                signers.push(VerifiedSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                    signature_type: verifier.signature_type,
                    timestamp,
                });
            }
        }
        if signers.is_empty() {
            return Err(NoteError::NoKnownSignature {
                signers: unknown.iter().map(|s| s.name.0.clone()).collect(),
            });
        }
        Ok(VerifiedNote {
            body: self.body.clone(),
            signers,
            unknown,
        })
    }
}

impl fmt::Display for SignedNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.body)?;
        f.write_str("\n")?;
        for sig in &self.signatures {
            f.write_str(&sig.to_line())?;
        }
        Ok(())
    }
}

/// A signature that verified under a known key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedSignature {
    /// The key name.
    pub name: KeyName,
    /// The key id.
    pub key_id: KeyId,
    /// The signature type.
    pub signature_type: SignatureType,
    /// For a cosignature: the time the witness states, POSIX seconds (not checked against
    /// any clock here).
    pub timestamp: Option<u64>,
}

/// A note whose body at least one known key signed, and every signature by a known key
/// verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNote {
    body: String,
    signers: Vec<VerifiedSignature>,
    unknown: Vec<NoteSignature>,
}

impl VerifiedNote {
    /// The signed body.
    #[must_use]
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The known keys that signed, once each, in note order.
    #[must_use]
    pub fn signers(&self) -> &[VerifiedSignature] {
        &self.signers
    }

    /// The names of the known keys that signed.
    #[must_use]
    pub fn signer_names(&self) -> Vec<String> {
        self.signers.iter().map(|s| s.name.0.clone()).collect()
    }

    /// Signatures by keys not among the verifiers, kept unverified.
    #[must_use]
    pub fn unknown_signatures(&self) -> &[NoteSignature] {
        &self.unknown
    }
}

/// Why a note could not be parsed, built or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The note exceeds [`MAX_NOTE_SIZE`].
    #[error("the note is {size} bytes, more than the limit of {max}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// An ASCII control character other than newline.
    #[error("the note contains a control character at byte {offset}; only newline is allowed")]
    ControlCharacter {
        /// Byte offset.
        offset: usize,
    },
    /// No blank line separates the text from the signatures.
    #[error("the note has no blank line before its signature lines")]
    MissingBlankLine,
    /// Nothing follows the blank line.
    #[error("the note has no signature lines after the blank line")]
    NoSignatures,
    /// The last signature line does not end with a newline.
    #[error("the note's last signature line does not end with a newline")]
    UnterminatedSignatureLine,
    /// A note text to be signed must end with a newline.
    #[error("a note text must end with a newline")]
    BodyNotNewlineTerminated,
    /// A signature line is malformed.
    #[error("line {line} of the note is not a valid signature line: {reason}")]
    MalformedSignatureLine {
        /// 1-based line number in the note.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// More than [`MAX_NOTE_SIGNATURES`] signatures.
    #[error("the note has {count} signatures, more than the limit of {max}")]
    TooManySignatures {
        /// How many.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A signature by a known key (name and key id match) does not verify: the note was
    /// altered, or the signer is misbehaving. The whole note is rejected.
    #[error(
        "the signature by known key {name} ({key_id}) does not verify; the note was altered or is forged"
    )]
    InvalidSignature {
        /// Key name.
        name: String,
        /// Key id.
        key_id: KeyId,
    },
    /// None of the signatures is by a known key.
    #[error("no signature on the note is by a known key (signed by: {}); check the configured verifier keys", signers.join(", "))]
    NoKnownSignature {
        /// The names on the signatures that were found.
        signers: Vec<String>,
    },
    /// Two different configured verifiers have the same name and key id.
    #[error(
        "two configured verifier keys share name {name} and key id {key_id}; fix the configuration"
    )]
    AmbiguousVerifier {
        /// Key name.
        name: String,
        /// Key id.
        key_id: KeyId,
    },
    /// Two signature lines under the same key name and key id.
    #[error(
        "line {line} of the note repeats a signature by key {name} ({key_id}); a note carries at most one signature per key"
    )]
    DuplicateSignature {
        /// 1-based line number of the second line.
        line: usize,
        /// Key name.
        name: String,
        /// Key id.
        key_id: KeyId,
    },
    /// A cosignature timestamp beyond 2⁶³−1.
    #[error("cosignature timestamp {timestamp} exceeds 2^63-1")]
    TimestampTooLarge {
        /// The timestamp given.
        timestamp: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(seed: u8, name: &str) -> NoteSigner {
        NoteSigner::new(name, SigningKey::from_bytes(&[seed; 32])).unwrap()
    }

    /// The example of golang.org/x/mod/sumdb/note: the same key must give the same key id,
    /// vkey and (deterministic Ed25519) signature line.
    #[test]
    fn go_sumdb_note_interop() {
        let skey = BASE64
            .decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
            .unwrap();
        assert_eq!(skey[0], 0x01);
        let seed: [u8; 32] = skey[1..].try_into().unwrap();
        let s = NoteSigner::new("PeterNeumann", SigningKey::from_bytes(&seed)).unwrap();
        assert_eq!(s.key_id().to_string(), "c74f20a3");
        let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        assert_eq!(s.verifier().to_vkey(), vkey);
        let v = NoteVerifier::from_vkey(vkey).unwrap();
        assert_eq!(v, s.verifier());
        let text = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
        let msg = format!(
            "{text}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
        );
        let note = SignedNote::sign(text, &s).unwrap();
        assert_eq!(note.to_text(), msg);
        let parsed = SignedNote::parse(&msg).unwrap();
        assert_eq!(parsed, note);
        let verified = parsed.verify(&[v]).unwrap();
        assert_eq!(verified.signer_names(), ["PeterNeumann"]);
        assert_eq!(verified.body(), text);
    }

    /// `signed_input` gives exactly what a line's check verifies: the note text for an
    /// Ed25519 line, the cosignature/v1 message (with the timestamp) for a cosignature.
    #[test]
    fn signed_input_is_what_the_single_check_verifies() {
        let s = signer(7, "example.org/log");
        let c = CosignatureSigner::new("example.org/witness", SigningKey::from_bytes(&[8; 32]))
            .unwrap();
        let mut note = SignedNote::sign("body\n", &s).unwrap();
        note.add_signature(c.cosign(note.body(), 1_700_000_000).unwrap())
            .unwrap();
        for (line, verifier) in [(0, s.verifier()), (1, c.verifier())] {
            let sig = &note.signatures()[line];
            let input = verifier.signed_input(note.body(), sig).unwrap();
            let key = VerifyingKey::from_bytes(&verifier.key_bytes()).unwrap();
            key.verify_strict(&input.message, &Signature::from_bytes(&input.signature))
                .unwrap();
            assert_eq!(
                verifier.verify_signature(note.body(), sig).unwrap(),
                input.timestamp
            );
        }
        assert_eq!(
            note.signatures()[1..]
                .iter()
                .map(|sig| c
                    .verifier()
                    .signed_input(note.body(), sig)
                    .unwrap()
                    .timestamp)
                .collect::<Vec<_>>(),
            [Some(1_700_000_000)]
        );
        // Not this key's line: nothing to batch.
        assert!(
            s.verifier()
                .signed_input(note.body(), &note.signatures()[1])
                .is_none()
        );
    }

    /// `verify_settled` skips the equation of the lines the caller settled, and only those:
    /// a forged line not settled fails as in `verify`, and a settled line must still have
    /// the form of its type.
    #[test]
    fn verify_settled_skips_only_the_equation_of_settled_lines() {
        let s = signer(9, "example.org/log");
        let note = SignedNote::sign("body\n", &s).unwrap();
        let mut forged = note.signatures()[0].clone();
        forged.signature[40] ^= 1;
        let forged_note = SignedNote {
            body: note.body.clone(),
            signatures: vec![forged.clone()],
        };
        let verifiers = [s.verifier()];
        assert!(forged_note.verify(&verifiers).is_err());
        assert!(
            forged_note
                .verify_settled(&verifiers, |_, _| false)
                .is_err()
        );
        // What a caller asserts by settling a line is trusted: that is the contract.
        assert!(
            forged_note
                .verify_settled(&verifiers, |line, _| line == 0)
                .is_ok()
        );
        assert!(
            forged_note
                .verify_settled(&verifiers, |line, _| line == 1)
                .is_err()
        );
        let mut short = forged;
        short.signature.truncate(63);
        let short_note = SignedNote {
            body: note.body.clone(),
            signatures: vec![short],
        };
        assert!(short_note.verify_settled(&verifiers, |_, _| true).is_err());
        assert!(note.verify_settled(&verifiers, |_, _| true).is_ok());
    }

    #[test]
    fn key_names() {
        assert_eq!(KeyName::new(""), Err(KeyNameError::Empty));
        assert_eq!(
            KeyName::new("a b"),
            Err(KeyNameError::WhiteSpace { position: 1 })
        );
        assert_eq!(
            KeyName::new("a\u{a0}"),
            Err(KeyNameError::WhiteSpace { position: 1 })
        );
        assert_eq!(KeyName::new("a+b"), Err(KeyNameError::Plus { position: 1 }));
        assert_eq!(
            KeyName::new("a\u{1}"),
            Err(KeyNameError::ControlCharacter { position: 1 })
        );
        assert!(KeyName::new("example.org/log-1").is_ok());
        assert!(NoteSigner::new("bad name", SigningKey::from_bytes(&[1; 32])).is_err());
    }

    #[test]
    fn multiple_signatures_and_unknown_keys() {
        let a = signer(1, "a.example/log");
        let b = signer(2, "b.example/witness");
        let body = "hello\nworld\n";
        let mut note = SignedNote::sign(body, &a).unwrap();
        note.add_signature(b.sign(body).unwrap()).unwrap();
        let text = note.to_text();
        let parsed = SignedNote::parse(&text).unwrap();
        assert_eq!(parsed.signatures().len(), 2);

        let both = parsed.verify(&[a.verifier(), b.verifier()]).unwrap();
        assert_eq!(both.signer_names(), ["a.example/log", "b.example/witness"]);
        let only_b = parsed.verify(&[b.verifier()]).unwrap();
        assert_eq!(only_b.signer_names(), ["b.example/witness"]);
        assert_eq!(only_b.unknown_signatures().len(), 1);

        let c = signer(3, "c.example");
        assert_eq!(
            parsed.verify(&[c.verifier()]),
            Err(NoteError::NoKnownSignature {
                signers: vec!["a.example/log".into(), "b.example/witness".into()]
            })
        );
        assert!(parsed.verify(&[]).is_err());

        // Same name, other key: a different key id, so ignored, not a failure.
        let a_other = signer(9, "a.example/log");
        assert_eq!(
            parsed
                .verify(&[a_other.verifier(), b.verifier()])
                .unwrap()
                .signer_names(),
            ["b.example/witness"]
        );

        // Replacing a signature by the same key keeps one line.
        let mut again = parsed.clone();
        again.add_signature(a.sign(body).unwrap()).unwrap();
        assert_eq!(again.signatures().len(), 2);
    }

    #[test]
    fn tampering_is_rejected() {
        let a = signer(1, "a.example/log");
        let note = SignedNote::sign("x\n1\n", &a).unwrap().to_text();
        let tampered = note.replacen("1\n", "2\n", 1);
        assert_eq!(
            SignedNote::parse(&tampered)
                .unwrap()
                .verify(&[a.verifier()]),
            Err(NoteError::InvalidSignature {
                name: "a.example/log".into(),
                key_id: a.key_id()
            })
        );
        // A known key's bad signature rejects the note even if another known key signed.
        let b = signer(2, "b.example");
        let mut n = SignedNote::parse(&note).unwrap();
        let mut forged = b.sign("other\n").unwrap();
        forged.signature[0] ^= 1;
        n.add_signature(forged).unwrap();
        assert!(matches!(
            n.verify(&[a.verifier(), b.verifier()]),
            Err(NoteError::InvalidSignature { .. })
        ));
    }

    #[test]
    fn a_repeated_signature_line_is_refused_and_each_line_checks_once() {
        let a = signer(1, "a");
        let note = SignedNote::sign("x\n", &a).unwrap().to_text();
        let line = note.split_once("\n\n").unwrap().1;
        let repeated = format!("{note}{}", line.repeat(99));
        assert!(matches!(
            SignedNote::parse(&repeated),
            Err(NoteError::DuplicateSignature { line: 4, .. })
        ));
        // Another signature by the same key (name and id) is a duplicate too.
        let mut other = a.sign("x\n").unwrap();
        other.signature[0] ^= 1;
        let twice = format!("{note}{}", other.to_line());
        assert!(matches!(
            SignedNote::parse(&twice),
            Err(NoteError::DuplicateSignature { .. })
        ));
        let parsed = SignedNote::parse(&note).unwrap();
        let v = a.verifier();
        assert_eq!(v.verify_signature("x\n", &parsed.signatures()[0]), Ok(None));
        assert!(v.verify_signature("y\n", &parsed.signatures()[0]).is_err());
        assert!(
            signer(2, "a")
                .verifier()
                .verify_signature("x\n", &parsed.signatures()[0])
                .is_err()
        );
    }

    #[test]
    fn ambiguous_verifiers() {
        let a = signer(1, "a");
        let note = SignedNote::sign("x\n", &a).unwrap();
        let v = a.verifier();
        // Identical duplicates are harmless.
        assert!(note.verify(&[v.clone(), v.clone()]).is_ok());
        // A colliding (name, id) with another key is refused.
        let mut other = signer(2, "a").verifier();
        other.key_id = v.key_id;
        assert!(matches!(
            note.verify(&[v, other]),
            Err(NoteError::AmbiguousVerifier { .. })
        ));
    }

    #[test]
    fn malformed_notes() {
        let a = signer(1, "a");
        let good = SignedNote::sign("body\n", &a).unwrap().to_text();
        let line = good.split_once("\n\n").unwrap().1.to_owned();
        type Check = fn(&NoteError) -> bool;
        let cases: Vec<(String, Check)> = vec![
            ("body\n".into(), |e| {
                matches!(e, NoteError::MissingBlankLine)
            }),
            ("body\n\n".into(), |e| matches!(e, NoteError::NoSignatures)),
            (good.trim_end().into(), |e| {
                matches!(e, NoteError::UnterminatedSignatureLine)
            }),
            (good.replace('\u{2014}', "-"), |e| {
                matches!(e, NoteError::MalformedSignatureLine { line: 3, .. })
            }),
            ("body\n\n\u{2014} a\n".into(), |e| {
                matches!(e, NoteError::MalformedSignatureLine { .. })
            }),
            ("body\n\n\u{2014} a AAAA\n".into(), |e| {
                matches!(e, NoteError::MalformedSignatureLine { .. })
            }),
            ("body\n\n\u{2014} a !!!!\n".into(), |e| {
                matches!(e, NoteError::MalformedSignatureLine { .. })
            }),
            ("body\n\n\u{2014} a+b AAAAAAA=\n".into(), |e| {
                matches!(e, NoteError::MalformedSignatureLine { .. })
            }),
            (good.replace("body", "bo\tdy"), |e| {
                matches!(e, NoteError::ControlCharacter { offset: 2 })
            }),
            (format!("body\n\n{}", line.repeat(101)), |e| {
                matches!(e, NoteError::TooManySignatures { count: 101, .. })
            }),
            (format!("{}\n\n{line}", "x".repeat(MAX_NOTE_SIZE)), |e| {
                matches!(e, NoteError::TooLarge { .. })
            }),
        ];
        for (text, check) in cases {
            let err = SignedNote::parse(&text).unwrap_err();
            assert!(check(&err), "{text:?}: {err}");
        }
        // 100 signatures by distinct keys parse.
        let hundred: String = (0..100)
            .map(|i| {
                signer(1, &format!("k{i}"))
                    .sign("body\n")
                    .unwrap()
                    .to_line()
            })
            .collect();
        assert!(SignedNote::parse(&format!("body\n\n{hundred}")).is_ok());
        // The text may hold blank lines; the last blank line separates.
        let n = SignedNote::sign("a\n\nb\n", &a).unwrap();
        assert_eq!(SignedNote::parse(&n.to_text()).unwrap().body(), "a\n\nb\n");
        assert!(matches!(
            a.sign("no newline"),
            Err(NoteError::BodyNotNewlineTerminated)
        ));
    }

    #[test]
    fn vkeys() {
        let a = signer(5, "example.org/log");
        let vkey = a.verifier().to_vkey();
        assert_eq!(NoteVerifier::from_vkey(&vkey).unwrap(), a.verifier());
        assert!(matches!(
            NoteVerifier::from_vkey("nonsense"),
            Err(VkeyError::Malformed { .. })
        ));
        let (name, rest) = vkey.split_once('+').unwrap();
        let (id, key) = rest.split_once('+').unwrap();
        let other_id = if id == "00000000" {
            "00000001"
        } else {
            "00000000"
        };
        assert!(matches!(
            NoteVerifier::from_vkey(&format!("{name}+{other_id}+{key}")),
            Err(VkeyError::KeyIdMismatch { .. })
        ));
        assert!(matches!(
            NoteVerifier::from_vkey(&format!("{name}+{}+{key}", &id[..7])),
            Err(VkeyError::Malformed { .. })
        ));
        assert!(matches!(
            NoteVerifier::from_vkey(&format!("bad name+{id}+{key}")),
            Err(VkeyError::InvalidName(_))
        ));
        // Unknown type byte, with a consistent key id.
        let mut raw = vec![0x07];
        raw.extend_from_slice(a.verifier().verifying_key().as_bytes());
        let id = KeyId::compute_raw(name, 0x07, &raw[1..]);
        assert_eq!(
            NoteVerifier::from_vkey(&format!("{name}+{id}+{}", BASE64.encode(&raw))),
            Err(VkeyError::UnknownSignatureType { type_id: 7 })
        );
        // Cosignature keys round-trip with type 0x04.
        let w = CosignatureSigner::new("w.example", SigningKey::from_bytes(&[6; 32])).unwrap();
        let wv = NoteVerifier::from_vkey(&w.verifier().to_vkey()).unwrap();
        assert_eq!(wv.signature_type(), SignatureType::CosignatureV1);
        assert_ne!(
            w.key_id(),
            NoteSigner::new("w.example", SigningKey::from_bytes(&[6; 32]))
                .unwrap()
                .key_id()
        );
    }

    #[test]
    fn cosignatures() {
        let log = signer(1, "example.org/log");
        let w =
            CosignatureSigner::new("witness.example/w1", SigningKey::from_bytes(&[2; 32])).unwrap();
        let body = "example.org/log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let mut note = SignedNote::sign(body, &log).unwrap();
        note.add_signature(w.cosign(body, 1_700_000_000).unwrap())
            .unwrap();
        let parsed = SignedNote::parse(&note.to_text()).unwrap();
        let v = parsed.verify(&[log.verifier(), w.verifier()]).unwrap();
        assert_eq!(v.signers()[1].timestamp, Some(1_700_000_000));
        assert_eq!(v.signers()[1].signature_type, SignatureType::CosignatureV1);
        assert_eq!(v.signers()[0].timestamp, None);
        // An Ed25519 verifier for the same name and key has another key id: ignored.
        let plain = NoteVerifier::new("witness.example/w1", *w.verifier().verifying_key()).unwrap();
        assert_eq!(
            parsed
                .verify(&[log.verifier(), plain])
                .unwrap()
                .signers()
                .len(),
            1
        );
        assert!(matches!(
            w.cosign(body, u64::MAX),
            Err(NoteError::TimestampTooLarge { .. })
        ));
        // A changed timestamp breaks the cosignature.
        let mut sig = w.cosign(body, 5).unwrap();
        sig.signature[7] = 6;
        let mut n2 = SignedNote::sign(body, &log).unwrap();
        n2.add_signature(sig).unwrap();
        assert!(matches!(
            n2.verify(&[w.verifier()]),
            Err(NoteError::InvalidSignature { .. })
        ));
    }

    #[test]
    fn signature_lines() {
        let a = signer(1, "a");
        let sig = a.sign("x\n").unwrap();
        let line = sig.to_line();
        assert_eq!(NoteSignature::from_line(&line).unwrap(), sig);
        assert_eq!(NoteSignature::from_line(line.trim_end()).unwrap(), sig);
        assert!(NoteSignature::from_line(&format!("{line}{line}")).is_err());
        let note = SignedNote::sign("x\n", &a).unwrap();
        assert_eq!(note.encoded_len(), note.to_text().len());
    }

    #[test]
    fn add_signature_limits() {
        let a = signer(1, "a");
        let mut note = SignedNote::sign("x\n", &a).unwrap();
        for i in 1..MAX_NOTE_SIGNATURES {
            let s = signer(1, &format!("k{i}"));
            note.add_signature(s.sign("x\n").unwrap()).unwrap();
        }
        let extra = signer(1, "extra").sign("x\n").unwrap();
        assert!(matches!(
            note.add_signature(extra),
            Err(NoteError::TooManySignatures { .. })
        ));
        assert_eq!(note.signatures().len(), MAX_NOTE_SIGNATURES);
        assert!(SignedNote::parse(&note.to_text()).is_ok());
    }
}
