//! Known-answer vectors of `spec/envelope.md` and `spec/keys.md`, pinned byte for byte.
//!
//! The vectors are computed from fixed seeds. If the code's output changes, these tests fail.
//! After an intended change of the format (which needs a new version), regenerate with
//! `STREHA_WRITE_VECTORS=1 cargo test -p streha-crypto --test spec_vectors` and review the
//! diff of `spec/vectors/`.
//!
//! The `*_follow_the_spec` tests redo every step from the JSON with the primitive libraries
//! only (x25519, BLAKE3, ChaCha20-Poly1305, Ed25519), as an implementer with only `spec/`
//! would.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use serde::{Deserialize, Serialize};
use streha_crypto::danger::seal_with_ephemeral;
use streha_crypto::{
    AgencyEncryptionSecretKey, AgencySigningPublicKey, AgencySigningSecretKey, AnyPublicKey,
    AnySecretKey, ApplicationSecretKey, Envelope, EnvelopeError, Fingerprint, KeyFile, KeyKind,
    NodeIdentitySecretKey, OfficerSecretKey, RosterSecretKey, SEALING_KEY_CONTEXT,
    SIGNATURE_DOMAIN,
};

// ---------------------------------------------------------------------------------------
// The JSON shapes. Bytes are lowercase hex.

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeVectors {
    description: String,
    spec: String,
    sealing_key_context: String,
    signature_domain: String,
    nonce: String,
    cases: Vec<EnvelopeCase>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeCase {
    name: String,
    sender_seed: String,
    sender_public_key: String,
    sender_fingerprint: String,
    sender_short_fingerprint: String,
    recipient_secret: String,
    recipient_public_key: String,
    recipient_fingerprint: String,
    recipient_short_fingerprint: String,
    ephemeral_secret: String,
    ephemeral_public_key: String,
    context: String,
    plaintext: String,
    shared_secret: String,
    key_material: String,
    sealing_key: String,
    header_encoding: String,
    aad: String,
    ciphertext: String,
    ciphertext_hash: String,
    signature_input: String,
    signature: String,
    envelope_encoding: String,
    rejections: Vec<Rejection>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rejection {
    name: String,
    envelope_encoding: String,
    recipient_secret: String,
    expected_sender: String,
    error: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyVectors {
    description: String,
    spec: String,
    keys: Vec<KeyCase>,
    signature_example: SignatureExample,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyCase {
    kind: String,
    algorithm: String,
    seed: String,
    public_key: String,
    fingerprint: String,
    short_fingerprint: String,
    secret_key_file: String,
    public_key_file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pkcs8_der: Option<String>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureExample {
    kind: String,
    seed: String,
    message: String,
    signature: String,
}

// ---------------------------------------------------------------------------------------
// Fixed inputs.

const SENDER_SEED: [u8; 32] = [0x01; 32];
const RECIPIENT_SECRET: [u8; 32] = [0x02; 32];
const OTHER_SENDER_SEED: [u8; 32] = [0x05; 32];
const OTHER_RECIPIENT_SECRET: [u8; 32] = [0x06; 32];

struct CaseInput {
    name: &'static str,
    ephemeral_secret: [u8; 32],
    context: Vec<u8>,
    plaintext: Vec<u8>,
}

fn case_inputs() -> Vec<CaseInput> {
    vec![
        CaseInput {
            name: "basic",
            ephemeral_secret: [0x03; 32],
            context: b"streha test vector context (in real use: a DisclosureHeader)".to_vec(),
            plaintext: b"streha test vector plaintext: the record fields".to_vec(),
        },
        CaseInput {
            name: "empty plaintext, 200-byte context (two-byte length prefix)",
            ephemeral_secret: [0x04; 32],
            context: (0..200u8).collect(),
            plaintext: Vec::new(),
        },
    ]
}

fn key_seed(kind: KeyKind) -> [u8; 32] {
    match kind {
        KeyKind::NodeIdentity => [0x10; 32],
        KeyKind::AgencySigning => SENDER_SEED,
        KeyKind::AgencyEncryption => RECIPIENT_SECRET,
        KeyKind::Roster => [0x11; 32],
        KeyKind::Application => [0x12; 32],
        KeyKind::Officer => [0x13; 32],
    }
}

const SIGNATURE_MESSAGE: &[u8] = b"streha test vector message";

// ---------------------------------------------------------------------------------------
// Generation (through the crate) and comparison with the files.

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spec/vectors")
}

fn check_or_write(file: &str, json: String) {
    let path = vectors_dir().join(file);
    if std::env::var_os("STREHA_WRITE_VECTORS").is_some() {
        // Atomically, so the tests reading the file in parallel never see half of it.
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, &json).unwrap();
        std::fs::rename(&temporary, &path).unwrap();
        return;
    }
    let stored = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(
        stored == json,
        "{} differs from what the code produces now. If the change is intended (a format \
         change needs a new version), regenerate with STREHA_WRITE_VECTORS=1 and review the diff.",
        path.display()
    );
}

fn to_json<T: Serialize>(value: &T) -> String {
    let mut json = serde_json::to_string_pretty(value).unwrap();
    json.push('\n');
    json
}

fn x25519_public(secret: [u8; 32]) -> [u8; 32] {
    x25519_dalek::x25519(secret, x25519_dalek::X25519_BASEPOINT_BYTES)
}

fn flip(bytes: &[u8], index: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[index] ^= 0x01;
    out
}

fn error_name(error: &EnvelopeError) -> &'static str {
    match error {
        EnvelopeError::UnsupportedVersion(_) => "unsupported-version",
        EnvelopeError::UnexpectedSender => "unexpected-sender",
        EnvelopeError::WrongRecipient => "wrong-recipient",
        EnvelopeError::TamperedCiphertext => "tampered-ciphertext",
        EnvelopeError::TamperedHeader => "tampered-header",
        EnvelopeError::BadSignature => "bad-signature",
        other => panic!("not a named open() failure: {other:?}"),
    }
}

fn build_envelope_vectors() -> EnvelopeVectors {
    let sender = AgencySigningSecretKey::from_seed_bytes(SENDER_SEED);
    let recipient = AgencyEncryptionSecretKey::from_seed_bytes(RECIPIENT_SECRET);
    let cases = case_inputs()
        .into_iter()
        .map(|input| {
            let envelope = seal_with_ephemeral(
                &sender,
                &recipient.public_key(),
                &input.context,
                &input.plaintext,
                input.ephemeral_secret,
            )
            .unwrap();
            let encoding = envelope.to_bytes();
            let header = envelope.header.to_bytes();
            assert_eq!(
                envelope.header.ephemeral,
                x25519_public(input.ephemeral_secret)
            );

            // Intermediate values, computed from the spec's formulas.
            let shared =
                x25519_dalek::x25519(input.ephemeral_secret, recipient.public_key().to_bytes());
            let mut material = shared.to_vec();
            material.extend_from_slice(&envelope.header.ephemeral);
            material.extend_from_slice(recipient.public_key().as_bytes());
            let sealing_key = blake3::derive_key(SEALING_KEY_CONTEXT, &material);
            let mut signature_input = SIGNATURE_DOMAIN.to_vec();
            signature_input.extend_from_slice(&u32::try_from(header.len()).unwrap().to_be_bytes());
            signature_input.extend_from_slice(&header);
            signature_input.extend_from_slice(&envelope.ciphertext_hash);

            // Rejections: one per check of open(), in order.
            let sender_public = sender.public_key();
            let other_sender =
                AgencySigningSecretKey::from_seed_bytes(OTHER_SENDER_SEED).public_key();
            let header_len = header.len();
            let ciphertext_start = encoding.len() - 96 - envelope.ciphertext.len();
            let mut wrong_version = encoding.clone();
            wrong_version[0] = 2;
            let rejection_inputs: Vec<(&str, Vec<u8>, [u8; 32], AgencySigningPublicKey)> = vec![
                ("version 2", wrong_version, RECIPIENT_SECRET, sender_public),
                (
                    "another expected sender",
                    encoding.clone(),
                    RECIPIENT_SECRET,
                    other_sender,
                ),
                (
                    "another recipient",
                    encoding.clone(),
                    OTHER_RECIPIENT_SECRET,
                    sender_public,
                ),
                (
                    "first ciphertext byte flipped",
                    flip(&encoding, ciphertext_start),
                    RECIPIENT_SECRET,
                    sender_public,
                ),
                (
                    "first ciphertext hash byte flipped",
                    flip(&encoding, encoding.len() - 96),
                    RECIPIENT_SECRET,
                    sender_public,
                ),
                (
                    "last context byte flipped",
                    flip(&encoding, header_len - 1),
                    RECIPIENT_SECRET,
                    sender_public,
                ),
                (
                    "first ephemeral key byte flipped",
                    flip(&encoding, 65),
                    RECIPIENT_SECRET,
                    sender_public,
                ),
                (
                    "last signature byte flipped",
                    flip(&encoding, encoding.len() - 1),
                    RECIPIENT_SECRET,
                    sender_public,
                ),
            ];
            let rejections = rejection_inputs
                .into_iter()
                .map(|(name, bytes, recipient_secret, expected)| {
                    let error = Envelope::from_bytes(&bytes)
                        .and_then(|e| {
                            e.open(
                                &AgencyEncryptionSecretKey::from_seed_bytes(recipient_secret),
                                &expected,
                            )
                        })
                        .unwrap_err();
                    Rejection {
                        name: name.to_owned(),
                        envelope_encoding: hex::encode(&bytes),
                        recipient_secret: hex::encode(recipient_secret),
                        expected_sender: hex::encode(expected.to_bytes()),
                        error: error_name(&error).to_owned(),
                    }
                })
                .collect();

            EnvelopeCase {
                name: input.name.to_owned(),
                sender_seed: hex::encode(SENDER_SEED),
                sender_public_key: hex::encode(sender.public_key().to_bytes()),
                sender_fingerprint: sender.fingerprint().to_hex(),
                sender_short_fingerprint: sender.fingerprint().short(),
                recipient_secret: hex::encode(RECIPIENT_SECRET),
                recipient_public_key: hex::encode(recipient.public_key().to_bytes()),
                recipient_fingerprint: recipient.fingerprint().to_hex(),
                recipient_short_fingerprint: recipient.fingerprint().short(),
                ephemeral_secret: hex::encode(input.ephemeral_secret),
                ephemeral_public_key: hex::encode(envelope.header.ephemeral),
                context: hex::encode(&input.context),
                plaintext: hex::encode(&input.plaintext),
                shared_secret: hex::encode(shared),
                key_material: hex::encode(&material),
                sealing_key: hex::encode(sealing_key),
                header_encoding: hex::encode(&header),
                aad: hex::encode(&header),
                ciphertext: hex::encode(&envelope.ciphertext),
                ciphertext_hash: hex::encode(envelope.ciphertext_hash),
                signature_input: hex::encode(&signature_input),
                signature: hex::encode(envelope.signature.to_bytes()),
                envelope_encoding: hex::encode(&encoding),
                rejections,
            }
        })
        .collect();
    EnvelopeVectors {
        description: "Streha sealed envelope v1 known-answer vectors: fixed seeds and a fixed \
                      ephemeral key. Bytes are lowercase hex. Each rejection names the first \
                      check of spec/envelope.md (Opening) that fails."
            .to_owned(),
        spec: "spec/envelope.md".to_owned(),
        sealing_key_context: SEALING_KEY_CONTEXT.to_owned(),
        signature_domain: hex::encode(SIGNATURE_DOMAIN),
        nonce: hex::encode([0u8; 12]),
        cases,
    }
}

fn build_key_vectors() -> KeyVectors {
    let keys = KeyKind::ALL
        .into_iter()
        .map(|kind| {
            let seed = key_seed(kind);
            let (secret, pkcs8): (AnySecretKey, Option<Vec<u8>>) = match kind {
                KeyKind::NodeIdentity => {
                    let k = NodeIdentitySecretKey::from_seed_bytes(seed);
                    let der = k.to_pkcs8_der().to_vec();
                    (AnySecretKey::NodeIdentity(k), Some(der))
                }
                KeyKind::AgencySigning => {
                    let k = AgencySigningSecretKey::from_seed_bytes(seed);
                    let der = k.to_pkcs8_der().to_vec();
                    (AnySecretKey::AgencySigning(k), Some(der))
                }
                KeyKind::AgencyEncryption => (
                    AnySecretKey::AgencyEncryption(AgencyEncryptionSecretKey::from_seed_bytes(
                        seed,
                    )),
                    None,
                ),
                KeyKind::Roster => {
                    let k = RosterSecretKey::from_seed_bytes(seed);
                    let der = k.to_pkcs8_der().to_vec();
                    (AnySecretKey::Roster(k), Some(der))
                }
                KeyKind::Application => {
                    let k = ApplicationSecretKey::from_seed_bytes(seed);
                    let der = k.to_pkcs8_der().to_vec();
                    (AnySecretKey::Application(k), Some(der))
                }
                KeyKind::Officer => {
                    let k = OfficerSecretKey::from_seed_bytes(seed);
                    let der = k.to_pkcs8_der().to_vec();
                    (AnySecretKey::Officer(k), Some(der))
                }
            };
            let public = secret.public_key();
            KeyCase {
                kind: kind.as_str().to_owned(),
                algorithm: format!("{:?}", kind.algorithm()).to_lowercase(),
                seed: hex::encode(seed),
                public_key: hex::encode(public.to_bytes()),
                fingerprint: public.fingerprint().to_hex(),
                short_fingerprint: public.fingerprint().short(),
                secret_key_file: secret.to_key_file().to_string(),
                public_key_file: public.to_key_file(),
                pkcs8_der: pkcs8.map(hex::encode),
            }
        })
        .collect();
    let signer = AgencySigningSecretKey::from_seed_bytes(SENDER_SEED);
    KeyVectors {
        description: "Streha key files v1 and fingerprints: one key of each kind from a fixed \
                      seed. Bytes are lowercase hex."
            .to_owned(),
        spec: "spec/keys.md".to_owned(),
        keys,
        signature_example: SignatureExample {
            kind: KeyKind::AgencySigning.as_str().to_owned(),
            seed: hex::encode(SENDER_SEED),
            message: hex::encode(SIGNATURE_MESSAGE),
            signature: hex::encode(signer.sign(SIGNATURE_MESSAGE).to_bytes()),
        },
    }
}

#[test]
fn envelope_vectors_are_current() {
    check_or_write("envelope.json", to_json(&build_envelope_vectors()));
}

#[test]
fn key_vectors_are_current() {
    check_or_write("keys.json", to_json(&build_key_vectors()));
}

// ---------------------------------------------------------------------------------------
// Reading the files with the primitives only, following the spec.

fn read<T: for<'de> Deserialize<'de>>(file: &str) -> T {
    let path = vectors_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn h(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap()
}

fn h32(text: &str) -> [u8; 32] {
    h(text).try_into().unwrap()
}

/// Unsigned LEB128, as postcard writes a length.
fn varint(mut value: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while value >= 0x80 {
        out.push(u8::try_from(value & 0x7f).unwrap() | 0x80);
        value >>= 7;
    }
    out.push(u8::try_from(value).unwrap());
    out
}

#[test]
fn envelope_vectors_follow_the_spec() {
    let vectors: EnvelopeVectors = read("envelope.json");
    assert_eq!(
        vectors.sealing_key_context,
        "streha 2026-11-23 envelope v1 sealing key"
    );
    assert_eq!(
        h(&vectors.signature_domain),
        b"streha envelope v1 signature\0"
    );
    assert_eq!(vectors.cases.len(), 2);
    for case in &vectors.cases {
        // Keys (spec/keys.md).
        let sender = ed25519_dalek::SigningKey::from_bytes(&h32(&case.sender_seed));
        let sender_public = sender.verifying_key().to_bytes();
        assert_eq!(sender_public.to_vec(), h(&case.sender_public_key));
        assert_eq!(
            blake3::hash(&sender_public).to_hex().as_str(),
            case.sender_fingerprint
        );
        let recipient_public = x25519_public(h32(&case.recipient_secret));
        assert_eq!(recipient_public.to_vec(), h(&case.recipient_public_key));
        assert_eq!(
            blake3::hash(&recipient_public).to_hex().as_str(),
            case.recipient_fingerprint
        );
        let ephemeral_public = x25519_public(h32(&case.ephemeral_secret));
        assert_eq!(ephemeral_public.to_vec(), h(&case.ephemeral_public_key));

        // Header layout (spec/envelope.md, "Header").
        let context = h(&case.context);
        let mut header = vec![1u8];
        header.extend_from_slice(&sender_public);
        header.extend_from_slice(&recipient_public);
        header.extend_from_slice(&ephemeral_public);
        header.extend_from_slice(&varint(context.len()));
        header.extend_from_slice(&context);
        assert_eq!(header, h(&case.header_encoding));
        assert_eq!(header, h(&case.aad));

        // Sealing key: the recipient's side of the agreement gives the same secret.
        let shared = x25519_dalek::x25519(h32(&case.recipient_secret), ephemeral_public);
        assert_eq!(
            shared,
            x25519_dalek::x25519(h32(&case.ephemeral_secret), recipient_public)
        );
        assert_eq!(shared.to_vec(), h(&case.shared_secret));
        let material = [shared, ephemeral_public, recipient_public].concat();
        assert_eq!(material, h(&case.key_material));
        let key = blake3::derive_key(&vectors.sealing_key_context, &material);
        assert_eq!(key.to_vec(), h(&case.sealing_key));

        // AEAD with the all-zero nonce and the header as associated data.
        let cipher = ChaCha20Poly1305::new(&key.into());
        let ciphertext = h(&case.ciphertext);
        let plaintext = cipher
            .decrypt(
                &Nonce::default(),
                Payload {
                    msg: &ciphertext,
                    aad: &header,
                },
            )
            .unwrap();
        assert_eq!(plaintext, h(&case.plaintext));
        let resealed = cipher
            .encrypt(
                &Nonce::default(),
                Payload {
                    msg: &plaintext,
                    aad: &header,
                },
            )
            .unwrap();
        assert_eq!(resealed, ciphertext);

        // Commitment and signature.
        let ciphertext_hash = blake3::hash(&ciphertext);
        assert_eq!(
            ciphertext_hash.as_bytes().to_vec(),
            h(&case.ciphertext_hash)
        );
        let mut signature_input = h(&vectors.signature_domain);
        signature_input.extend_from_slice(&u32::try_from(header.len()).unwrap().to_be_bytes());
        signature_input.extend_from_slice(&header);
        signature_input.extend_from_slice(ciphertext_hash.as_bytes());
        assert_eq!(signature_input, h(&case.signature_input));
        let signature = ed25519_dalek::Signature::from_slice(&h(&case.signature)).unwrap();
        sender
            .verifying_key()
            .verify_strict(&signature_input, &signature)
            .unwrap();

        // Envelope layout.
        let mut encoding = header.clone();
        encoding.extend_from_slice(&varint(ciphertext.len()));
        encoding.extend_from_slice(&ciphertext);
        encoding.extend_from_slice(ciphertext_hash.as_bytes());
        encoding.extend_from_slice(&signature.to_bytes());
        assert_eq!(encoding, h(&case.envelope_encoding));

        // And the crate opens it.
        let envelope = Envelope::from_bytes(&encoding).unwrap();
        let opened = envelope
            .open(
                &AgencyEncryptionSecretKey::from_seed_bytes(h32(&case.recipient_secret)),
                &AgencySigningPublicKey::from_bytes(sender_public).unwrap(),
            )
            .unwrap();
        assert_eq!(opened.as_slice(), plaintext.as_slice());

        // Each rejection fails with the named check.
        assert_eq!(case.rejections.len(), 8);
        for rejection in &case.rejections {
            let error = Envelope::from_bytes(&h(&rejection.envelope_encoding))
                .and_then(|e| {
                    e.open(
                        &AgencyEncryptionSecretKey::from_seed_bytes(h32(
                            &rejection.recipient_secret
                        )),
                        &AgencySigningPublicKey::from_bytes(h32(&rejection.expected_sender))
                            .unwrap(),
                    )
                })
                .unwrap_err();
            assert_eq!(error_name(&error), rejection.error, "{}", rejection.name);
        }
    }
}

#[test]
fn key_vectors_follow_the_spec() {
    let vectors: KeyVectors = read("keys.json");
    assert_eq!(vectors.keys.len(), KeyKind::ALL.len());
    for (case, kind) in vectors.keys.iter().zip(KeyKind::ALL) {
        assert_eq!(case.kind, kind.as_str());
        let seed = h32(&case.seed);
        let public = match case.algorithm.as_str() {
            "ed25519" => ed25519_dalek::SigningKey::from_bytes(&seed)
                .verifying_key()
                .to_bytes(),
            "x25519" => x25519_public(seed),
            other => panic!("unknown algorithm {other}"),
        };
        assert_eq!(public.to_vec(), h(&case.public_key));
        let fingerprint = blake3::hash(&public);
        assert_eq!(fingerprint.to_hex().as_str(), case.fingerprint);
        let short = &case.fingerprint[..16];
        assert_eq!(
            case.short_fingerprint,
            format!(
                "{}:{}:{}:{}",
                &short[0..4],
                &short[4..8],
                &short[8..12],
                &short[12..16]
            )
        );

        // The key-file layout of spec/keys.md.
        let secret_file = format!(
            "streha-key v1\nkind: {}\npart: secret\nkey: {}\npublic: {}\nfingerprint: {}\n",
            case.kind,
            BASE64.encode(seed),
            case.public_key,
            case.fingerprint
        );
        assert_eq!(secret_file, case.secret_key_file);
        let public_file = format!(
            "streha-key v1\nkind: {}\npart: public\nkey: {}\nfingerprint: {}\n",
            case.kind,
            BASE64.encode(public),
            case.fingerprint
        );
        assert_eq!(public_file, case.public_key_file);

        // The crate reads both files back to the same key.
        match KeyFile::parse(&case.secret_key_file).unwrap() {
            KeyFile::Secret(secret) => {
                assert_eq!(secret.kind(), kind);
                assert_eq!(secret.public_key().to_bytes(), public);
            }
            KeyFile::Public(_) => panic!("secret file parsed as public"),
        }
        match KeyFile::parse(&case.public_key_file).unwrap() {
            KeyFile::Public(key) => {
                assert_eq!(key.kind(), kind);
                assert_eq!(key.to_bytes(), public);
                assert_eq!(
                    key.fingerprint(),
                    Fingerprint::from_bytes(*fingerprint.as_bytes())
                );
                assert!(matches!(
                    (kind, key),
                    (KeyKind::AgencyEncryption, AnyPublicKey::AgencyEncryption(_))
                        | (KeyKind::NodeIdentity, AnyPublicKey::NodeIdentity(_))
                        | (KeyKind::AgencySigning, AnyPublicKey::AgencySigning(_))
                        | (KeyKind::Roster, AnyPublicKey::Roster(_))
                        | (KeyKind::Application, AnyPublicKey::Application(_))
                        | (KeyKind::Officer, AnyPublicKey::Officer(_))
                ));
            }
            KeyFile::Secret(_) => panic!("public file parsed as secret"),
        }

        // PKCS#8 v2 (RFC 8410 / RFC 5958) for the Ed25519 kinds.
        match (&case.pkcs8_der, kind.algorithm()) {
            (Some(der), streha_crypto::Algorithm::Ed25519) => {
                use ed25519_dalek::pkcs8::DecodePrivateKey as _;
                let key = ed25519_dalek::SigningKey::from_pkcs8_der(&h(der)).unwrap();
                assert_eq!(key.to_bytes(), seed);
            }
            (None, streha_crypto::Algorithm::X25519) => {}
            other => panic!("unexpected pkcs8 entry for {kind}: {other:?}"),
        }
    }

    let example = &vectors.signature_example;
    let signer = ed25519_dalek::SigningKey::from_bytes(&h32(&example.seed));
    let signature = ed25519_dalek::Signature::from_slice(&h(&example.signature)).unwrap();
    signer
        .verifying_key()
        .verify_strict(&h(&example.message), &signature)
        .unwrap();
    // Ed25519 is deterministic: signing again gives the same bytes.
    use ed25519_dalek::Signer as _;
    assert_eq!(
        signer.sign(&h(&example.message)).to_bytes().to_vec(),
        h(&example.signature)
    );
}
