//! Key files (`spec/keys.md`): round trips for every kind, and refusal of malformed input.

use proptest::prelude::*;
use streha_crypto::{
    AgencyEncryptionPublicKey, AgencyEncryptionSecretKey, AgencySigningPublicKey,
    AgencySigningSecretKey, AnySecretKey, ApplicationPublicKey, ApplicationSecretKey, KeyFile,
    KeyFileError, KeyKind, KeyPart, MAX_KEY_FILE_LEN, NodeIdentityPublicKey, NodeIdentitySecretKey,
    OfficerPublicKey, OfficerSecretKey, RosterPublicKey, RosterSecretKey,
};

/// One key of each kind, as `(kind, secret key file, public key file)`.
fn one_of_each() -> Vec<(KeyKind, String, String)> {
    macro_rules! files {
        ($kind:ident, $key:expr) => {{
            let key = $key;
            (
                KeyKind::$kind,
                key.to_key_file().to_string(),
                key.public_key().to_key_file(),
            )
        }};
    }
    vec![
        files!(NodeIdentity, NodeIdentitySecretKey::generate()),
        files!(AgencySigning, AgencySigningSecretKey::generate()),
        files!(AgencyEncryption, AgencyEncryptionSecretKey::generate()),
        files!(Roster, RosterSecretKey::generate()),
        files!(Application, ApplicationSecretKey::generate()),
        files!(Officer, OfficerSecretKey::generate()),
    ]
}

#[test]
fn round_trip_every_kind() {
    for (kind, secret_file, public_file) in one_of_each() {
        let secret = KeyFile::parse(&secret_file).unwrap();
        let public = KeyFile::parse(&public_file).unwrap();
        assert_eq!((secret.kind(), secret.part()), (kind, KeyPart::Secret));
        assert_eq!((public.kind(), public.part()), (kind, KeyPart::Public));
        assert_eq!(secret.fingerprint(), public.fingerprint());
        // Canonical: writing what was read gives the same text.
        assert_eq!(secret.to_key_file().as_str(), secret_file);
        assert_eq!(public.to_key_file().as_str(), public_file);
        assert_eq!(
            KeyFile::parse_bytes(secret_file.as_bytes())
                .unwrap()
                .fingerprint(),
            secret.fingerprint()
        );
        let KeyFile::Secret(any) = secret else {
            panic!("not a secret")
        };
        let KeyFile::Public(any_public) = public else {
            panic!("not public")
        };
        assert_eq!(any.public_key(), any_public);
        assert_eq!(any.kind(), kind);
        assert_eq!(any_public.kind(), kind);
    }
}

#[test]
fn typed_readers_round_trip_and_refuse_other_kinds_and_parts() {
    let signing = AgencySigningSecretKey::from_seed_bytes([1; 32]);
    let text = signing.to_key_file();
    let back = AgencySigningSecretKey::from_key_file(&text).unwrap();
    assert_eq!(back.public_key(), signing.public_key());
    assert_eq!(
        AgencySigningSecretKey::from_key_file_bytes(text.as_bytes())
            .unwrap()
            .public_key(),
        signing.public_key()
    );
    let public_text = signing.public_key().to_key_file();
    assert_eq!(
        AgencySigningPublicKey::from_key_file(&public_text),
        Ok(signing.public_key())
    );
    assert_eq!(
        AgencySigningPublicKey::from_key_file_bytes(public_text.as_bytes()),
        Ok(signing.public_key())
    );

    // Same bytes, other roles: refused by kind.
    let wrong_kind = |expected| KeyFileError::WrongKind {
        expected,
        found: KeyKind::AgencySigning,
    };
    assert_eq!(
        RosterSecretKey::from_key_file(&text).unwrap_err(),
        wrong_kind(KeyKind::Roster)
    );
    assert_eq!(
        NodeIdentitySecretKey::from_key_file(&text).unwrap_err(),
        wrong_kind(KeyKind::NodeIdentity)
    );
    assert_eq!(
        OfficerSecretKey::from_key_file(&text).unwrap_err(),
        wrong_kind(KeyKind::Officer)
    );
    assert_eq!(
        ApplicationSecretKey::from_key_file(&text).unwrap_err(),
        wrong_kind(KeyKind::Application)
    );
    assert_eq!(
        AgencyEncryptionSecretKey::from_key_file(&text).unwrap_err(),
        wrong_kind(KeyKind::AgencyEncryption)
    );
    assert_eq!(
        RosterPublicKey::from_key_file(&public_text).unwrap_err(),
        wrong_kind(KeyKind::Roster)
    );
    assert_eq!(
        NodeIdentityPublicKey::from_key_file(&public_text).unwrap_err(),
        wrong_kind(KeyKind::NodeIdentity)
    );
    assert_eq!(
        OfficerPublicKey::from_key_file(&public_text).unwrap_err(),
        wrong_kind(KeyKind::Officer)
    );
    assert_eq!(
        ApplicationPublicKey::from_key_file(&public_text).unwrap_err(),
        wrong_kind(KeyKind::Application)
    );
    assert_eq!(
        AgencyEncryptionPublicKey::from_key_file(&public_text).unwrap_err(),
        wrong_kind(KeyKind::AgencyEncryption)
    );

    // Right kind, other part.
    assert_eq!(
        AgencySigningSecretKey::from_key_file(&public_text).unwrap_err(),
        KeyFileError::WrongPart {
            expected: KeyPart::Secret,
            found: KeyPart::Public
        }
    );
    assert_eq!(
        AgencySigningPublicKey::from_key_file(&text).unwrap_err(),
        KeyFileError::WrongPart {
            expected: KeyPart::Public,
            found: KeyPart::Secret
        }
    );

    let encryption = AgencyEncryptionSecretKey::from_seed_bytes([2; 32]);
    let text = encryption.to_key_file();
    assert_eq!(
        AgencyEncryptionSecretKey::from_key_file(&text)
            .unwrap()
            .public_key(),
        encryption.public_key()
    );
    assert_eq!(
        AgencyEncryptionSecretKey::from_key_file_bytes(text.as_bytes())
            .unwrap()
            .public_key(),
        encryption.public_key()
    );
    let public_text = encryption.public_key().to_key_file();
    assert_eq!(
        AgencyEncryptionPublicKey::from_key_file(&public_text),
        Ok(encryption.public_key())
    );
    assert_eq!(
        AgencyEncryptionPublicKey::from_key_file_bytes(public_text.as_bytes()),
        Ok(encryption.public_key())
    );
    assert_eq!(
        AgencySigningSecretKey::from_key_file(&text).unwrap_err(),
        KeyFileError::WrongKind {
            expected: KeyKind::AgencySigning,
            found: KeyKind::AgencyEncryption
        }
    );
}

fn secret_text() -> String {
    AgencySigningSecretKey::from_seed_bytes([1; 32])
        .to_key_file()
        .to_string()
}

fn public_text() -> String {
    AgencySigningSecretKey::from_seed_bytes([1; 32])
        .public_key()
        .to_key_file()
}

fn replace_line(text: &str, line: usize, with: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[line - 1] = with.to_owned();
    lines.join("\n") + "\n"
}

fn parse_err(text: &str) -> KeyFileError {
    KeyFile::parse(text).expect_err("malformed key file accepted")
}

#[test]
fn malformed_files_are_refused_with_a_precise_error() {
    let secret = secret_text();
    let public = public_text();
    let lines: Vec<&str> = secret.lines().collect();

    assert_eq!(parse_err(""), KeyFileError::NotAKeyFile);
    assert_eq!(parse_err("\n"), KeyFileError::NotAKeyFile);
    assert_eq!(
        parse_err(&replace_line(&secret, 1, "streha-key")),
        KeyFileError::NotAKeyFile
    );
    assert_eq!(
        parse_err(&replace_line(&secret, 1, "-----BEGIN PRIVATE KEY-----")),
        KeyFileError::NotAKeyFile
    );
    assert_eq!(
        parse_err(&replace_line(&secret, 1, "streha-key v2")),
        KeyFileError::UnsupportedVersion
    );
    assert_eq!(
        parse_err(&replace_line(&secret, 1, "Streha-key v1")),
        KeyFileError::NotAKeyFile
    );

    assert_eq!(
        parse_err(&replace_line(&secret, 2, "kind: agency-sign")),
        KeyFileError::UnknownKind { line: 2 }
    );
    assert_eq!(
        parse_err(&replace_line(&secret, 2, "kind: AGENCY-SIGNING")),
        KeyFileError::UnknownKind { line: 2 }
    );
    assert_eq!(
        parse_err(&replace_line(&secret, 2, "kind:agency-signing")),
        KeyFileError::UnexpectedLine {
            line: 2,
            expected: "kind"
        }
    );
    assert_eq!(
        parse_err(&replace_line(&secret, 3, "part: private")),
        KeyFileError::UnknownPart { line: 3 }
    );

    let bad_base64 = |line: usize| KeyFileError::BadEncoding {
        line,
        field: "key",
        encoding: "padded standard base64",
    };
    assert_eq!(
        parse_err(&replace_line(&secret, 4, "key: not base64!")),
        bad_base64(4)
    );
    assert_eq!(
        parse_err(&replace_line(
            &secret,
            4,
            "key: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ*="
        )),
        bad_base64(4)
    );
    // Unpadded, 31 bytes, 33 bytes.
    assert_eq!(
        parse_err(&replace_line(
            &secret,
            4,
            "key: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"
        )),
        bad_base64(4)
    );
    assert_eq!(
        parse_err(&replace_line(
            &secret,
            4,
            "key: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ=="
        )),
        bad_base64(4)
    );
    assert_eq!(
        parse_err(&replace_line(
            &secret,
            4,
            "key: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"
        )),
        bad_base64(4)
    );
    assert_eq!(
        parse_err(&replace_line(
            &secret,
            4,
            "key: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ=="
        )),
        bad_base64(4)
    );
    assert_eq!(parse_err(&replace_line(&secret, 4, "key: ")), bad_base64(4));

    let bad_hex = |line: usize, field| KeyFileError::BadEncoding {
        line,
        field,
        encoding: "hex",
    };
    assert_eq!(
        parse_err(&replace_line(&secret, 5, "public: 8a88")),
        bad_hex(5, "public")
    );
    assert_eq!(
        parse_err(&replace_line(
            &secret,
            6,
            &format!("fingerprint: {}", "g".repeat(64))
        )),
        bad_hex(6, "fingerprint")
    );
    assert_eq!(
        parse_err(&replace_line(
            &secret,
            6,
            &format!("fingerprint: {}00", &lines[5][13..])
        )),
        bad_hex(6, "fingerprint")
    );

    // A different (valid) key in one line and not the others.
    let other = AgencySigningSecretKey::from_seed_bytes([2; 32]);
    let other_file = other.to_key_file();
    let other_lines: Vec<&str> = other_file.lines().collect();
    assert_eq!(
        parse_err(&replace_line(&secret, 4, other_lines[3])),
        KeyFileError::PublicMismatch
    );
    assert_eq!(
        parse_err(&replace_line(&secret, 5, other_lines[4])),
        KeyFileError::PublicMismatch
    );
    assert_eq!(
        parse_err(&replace_line(&secret, 6, other_lines[5])),
        KeyFileError::FingerprintMismatch
    );
    let other_public = other.public_key().to_key_file();
    assert_eq!(
        parse_err(&replace_line(
            &public,
            4,
            other_public.lines().nth(3).unwrap()
        )),
        KeyFileError::FingerprintMismatch
    );
    assert_eq!(
        parse_err(&replace_line(
            &public,
            5,
            other_public.lines().nth(4).unwrap()
        )),
        KeyFileError::FingerprintMismatch
    );

    // A public key file whose key is not a valid point (the identity, small order).
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let fake = format!(
        "streha-key v1\nkind: officer\npart: public\nkey: {}\nfingerprint: {}\n",
        base64_encode(&identity),
        blake3::hash(&identity).to_hex()
    );
    assert!(matches!(
        parse_err(&fake),
        KeyFileError::InvalidKey {
            kind: KeyKind::Officer,
            ..
        }
    ));
    let fake = fake.replace("kind: officer", "kind: agency-encryption");
    assert!(matches!(
        parse_err(&fake),
        KeyFileError::InvalidKey {
            kind: KeyKind::AgencyEncryption,
            ..
        }
    ));

    // Duplicate, missing, reordered and extra lines.
    let dup = format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n{}\n",
        lines[0], lines[1], lines[1], lines[2], lines[3], lines[4], lines[5]
    );
    assert_eq!(
        parse_err(&dup),
        KeyFileError::UnexpectedLine {
            line: 3,
            expected: "part"
        }
    );
    let missing_public = format!(
        "{}\n{}\n{}\n{}\n{}\n",
        lines[0], lines[1], lines[2], lines[3], lines[5]
    );
    assert_eq!(
        parse_err(&missing_public),
        KeyFileError::UnexpectedLine {
            line: 5,
            expected: "public"
        }
    );
    let truncated = format!("{}\n{}\n{}\n{}\n", lines[0], lines[1], lines[2], lines[3]);
    assert_eq!(
        parse_err(&truncated),
        KeyFileError::MissingLine {
            line: 5,
            expected: "public"
        }
    );
    assert_eq!(
        parse_err("streha-key v1\n"),
        KeyFileError::MissingLine {
            line: 2,
            expected: "kind"
        }
    );
    let swapped = format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n",
        lines[0], lines[2], lines[1], lines[3], lines[4], lines[5]
    );
    assert_eq!(
        parse_err(&swapped),
        KeyFileError::UnexpectedLine {
            line: 2,
            expected: "kind"
        }
    );
    assert_eq!(
        parse_err(&format!("{secret}\n")),
        KeyFileError::ExtraLine { line: 7 }
    );
    assert_eq!(
        parse_err(&format!("{secret}{}\n", lines[5])),
        KeyFileError::ExtraLine { line: 7 }
    );
    assert_eq!(
        parse_err(&format!("{secret}comment: hello\n")),
        KeyFileError::ExtraLine { line: 7 }
    );
    // A public line in a public file is an extra line where the fingerprint should be.
    let public_lines: Vec<&str> = public.lines().collect();
    let with_public = format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n",
        public_lines[0],
        public_lines[1],
        public_lines[2],
        public_lines[3],
        lines[4],
        public_lines[4]
    );
    assert_eq!(
        parse_err(&with_public),
        KeyFileError::UnexpectedLine {
            line: 5,
            expected: "fingerprint"
        }
    );
    let leading_blank = format!("\n{secret}");
    assert_eq!(parse_err(&leading_blank), KeyFileError::NotAKeyFile);

    // Whitespace and control characters.
    assert_eq!(
        parse_err(&secret.replace('\n', "\r\n")),
        KeyFileError::ControlCharacter { line: 1 }
    );
    assert_eq!(
        parse_err(&secret.replace("kind: ", "kind:\t")),
        KeyFileError::ControlCharacter { line: 2 }
    );
    assert_eq!(
        parse_err(&format!("{secret}\0")),
        KeyFileError::ControlCharacter { line: 7 }
    );
    assert_eq!(
        parse_err(&replace_line(&secret, 2, "kind:  agency-signing")),
        KeyFileError::UnknownKind { line: 2 }
    );
    assert_eq!(
        parse_err(&replace_line(&secret, 2, " kind: agency-signing")),
        KeyFileError::UnexpectedLine {
            line: 2,
            expected: "kind"
        }
    );
    assert_eq!(
        parse_err(&replace_line(&secret, 3, "part: secret ")),
        KeyFileError::UnknownPart { line: 3 }
    );

    // Size and encoding.
    let huge = format!("{secret}{}", "x".repeat(MAX_KEY_FILE_LEN));
    assert_eq!(
        parse_err(&huge),
        KeyFileError::TooLarge {
            len: huge.len(),
            max: MAX_KEY_FILE_LEN
        }
    );
    assert_eq!(
        KeyFile::parse_bytes(huge.as_bytes()).unwrap_err(),
        KeyFileError::TooLarge {
            len: huge.len(),
            max: MAX_KEY_FILE_LEN
        }
    );
    let mut not_utf8 = secret.clone().into_bytes();
    not_utf8[20] = 0xff;
    assert_eq!(
        KeyFile::parse_bytes(&not_utf8).unwrap_err(),
        KeyFileError::NotUtf8
    );
    assert_eq!(
        AgencySigningSecretKey::from_key_file_bytes(&not_utf8).unwrap_err(),
        KeyFileError::NotUtf8
    );

    // Accepted variations: no final newline, upper-case hex.
    assert!(KeyFile::parse(secret.trim_end_matches('\n')).is_ok());
    let upper = replace_line(
        &secret,
        6,
        &format!("fingerprint: {}", lines[5][13..].to_uppercase()),
    );
    assert!(KeyFile::parse(&upper).is_ok());
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn errors_and_debug_never_show_key_material() {
    let seed = [0x5e; 32];
    let seed_hex = hex::encode(seed);
    let seed_b64 = base64_encode(&seed);
    let secret = OfficerSecretKey::from_seed_bytes(seed);
    for debug in [format!("{secret:?}"), format!("{secret:#?}")] {
        assert!(!debug.contains(&seed_hex), "{debug}");
        assert!(!debug.contains(&seed_b64), "{debug}");
        assert!(!debug.contains("94, 94"), "{debug}");
        assert!(debug.contains(&secret.fingerprint().short()), "{debug}");
    }
    let encryption = AgencyEncryptionSecretKey::from_seed_bytes(seed);
    let debug = format!("{encryption:?}");
    assert!(
        !debug.contains(&seed_hex) && !debug.contains(&seed_b64),
        "{debug}"
    );

    let text = secret.to_key_file();
    let parsed = KeyFile::parse(&text).unwrap();
    let debug = format!("{parsed:?}");
    assert!(
        !debug.contains(&seed_hex) && !debug.contains(&seed_b64),
        "{debug}"
    );
    let KeyFile::Secret(AnySecretKey::Officer(_)) = parsed else {
        panic!("wrong variant")
    };

    // Every error of a corrupted secret file, rendered, holds no key text.
    for line in 1..=6 {
        for replacement in ["x", "key: x", "public: x", "fingerprint: x", ""] {
            let corrupted = replace_line(&text, line, replacement);
            if let Err(error) = KeyFile::parse(&corrupted) {
                let shown = format!("{error} {error:?}");
                assert!(
                    !shown.contains(&seed_b64) && !shown.contains(&seed_hex),
                    "{shown}"
                );
            }
        }
    }
}

fn a_valid_file() -> impl Strategy<Value = String> {
    prop_oneof![Just(secret_text()), Just(public_text())]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parsing_arbitrary_text_never_panics(text in ".{0,300}") {
        let _ = KeyFile::parse(&text);
        let _ = AgencySigningSecretKey::from_key_file(&text);
        let _ = AgencyEncryptionPublicKey::from_key_file(&text);
    }

    #[test]
    fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = KeyFile::parse_bytes(&bytes);
        let _ = OfficerPublicKey::from_key_file_bytes(&bytes);
    }

    #[test]
    fn parsing_near_valid_text_never_panics(
        prefix_lines in 0usize..7,
        tail in "[a-z0-9:+/= \n-]{0,120}",
    ) {
        let text = secret_text();
        let head: String = text.split_inclusive('\n').take(prefix_lines).collect();
        let _ = KeyFile::parse(&format!("{head}{tail}"));
    }

    #[test]
    fn a_changed_character_is_refused_or_harmless(
        file in a_valid_file(),
        position in any::<prop::sample::Index>(),
        replacement in any::<char>(),
    ) {
        let original = KeyFile::parse(&file).unwrap();
        let mut chars: Vec<char> = file.chars().collect();
        let i = position.index(chars.len());
        chars[i] = replacement;
        let changed: String = chars.into_iter().collect();
        // Either refused, or (hex case, the final newline) the very same key.
        if let Ok(parsed) = KeyFile::parse(&changed) {
            prop_assert_eq!(parsed.to_key_file(), original.to_key_file());
        }
    }

    #[test]
    fn huge_inputs_are_refused_before_reading(extra in 1usize..10_000) {
        let text = "a".repeat(MAX_KEY_FILE_LEN + extra);
        prop_assert_eq!(
            KeyFile::parse(&text).unwrap_err(),
            KeyFileError::TooLarge { len: text.len(), max: MAX_KEY_FILE_LEN }
        );
    }
}
