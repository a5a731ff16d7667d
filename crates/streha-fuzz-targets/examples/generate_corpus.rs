//! Writes the seed corpora of the fuzz targets: small valid inputs made with the real
//! encoders and the fixed keys of `streha_fuzz_targets::fixed`, and near-valid variants
//! (one byte flipped, truncated, a trailing byte, …).
//!
//! ```text
//! cargo run -p streha-fuzz-targets --example generate_corpus [-- <fuzz dir>]
//! ```
//!
//! Deterministic: the same build writes the same files, named `seed-<what>`. Files the
//! fuzzer added (named by their SHA-1) are left alone. Every written seed is also run
//! through its target, so a seed that fails is caught here.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use streha_audit::{
    Checkpoint, CosignatureSigner, LogBundle, MemoryTree, NoteSigner, SignedNote,
    consistency_proof, inclusion_proof, prove_entry, sign_checkpoint,
};
use streha_core::{
    AgeStatus, AgencyId, AgreementClause, Approvals, AuditEntry, Basis, Category, CategorySet,
    ClauseId, ConsentGrant, ConsentId, ConsentRevocation, ConsentTerms, DisclosableCategory,
    DisclosureHeader, EnvelopeId, ExchangeAgreement, Field, Grantor, OfficerId, Purpose,
    PurposeSet, Recipient, Record, RefusalReason, RepresentativeId, Role, SignatureBytes,
    SubjectId, Timestamp, UrgentApproval, ViolationKind,
};
use streha_crypto::{
    AgencyEncryptionSecretKey, AgencySigningSecretKey, ApplicationSecretKey, Envelope,
    NodeIdentitySecretKey, OfficerSecretKey, RosterSecretKey, danger,
};
use streha_fuzz_targets::{MERKLE_TREE_SIZE, TARGETS, fixed, merkle_entry, merkle_mode};
use streha_wire::app::{AppRequest, AppResponse, DeliveryState};
use streha_wire::peer::{Delivery, PeerRequest, PeerResponse, ProvenEntry, Receipt, SubjectFacts};
use streha_wire::{AgencyEntry, ErrorCode, OfficerEntry, RemoteError, Roster, frame};

type Seeds = BTreeMap<String, Vec<u8>>;

fn main() {
    let fuzz_dir = std::env::args().nth(1).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz"),
        PathBuf::from,
    );
    let mut all: BTreeMap<&str, Seeds> = BTreeMap::new();
    all.insert("core_decode", core_decode());
    all.insert("envelope", envelopes());
    all.insert("key_file", key_files());
    all.insert("log_bundle", bundles());
    all.insert("merkle_proof", merkle_proofs());
    all.insert("node_request", node_requests());
    all.insert("policy_decide", policy());
    all.insert("roster", rosters());
    all.insert("signed_note", notes());
    all.insert("tlog_proof", tlog_proofs());
    all.insert("tlog_witness_request", witness_requests());
    all.insert("wire_frame", frames());

    let mut total = 0usize;
    for (name, target) in TARGETS {
        let seeds = all.get(name).expect("seeds for every target");
        let dir = fuzz_dir.join("corpus").join(name);
        fs::create_dir_all(&dir).expect("create the corpus directory");
        for (what, bytes) in seeds {
            target(bytes);
            fs::write(dir.join(format!("seed-{what}")), bytes).expect("write a seed");
            total += bytes.len();
        }
        println!("{name}: {} seeds", seeds.len());
    }
    println!("{total} bytes in all");
}

/// Adds `bytes` and near-valid variants of it under `what`.
fn with_variants(seeds: &mut Seeds, what: &str, bytes: Vec<u8>) {
    if bytes.len() > 1 {
        let mut flipped = bytes.clone();
        let mid = bytes.len() / 2;
        flipped[mid] ^= 0x01;
        seeds.insert(format!("{what}-flip-mid"), flipped);
        let mut last = bytes.clone();
        *last.last_mut().expect("not empty") ^= 0x80;
        seeds.insert(format!("{what}-flip-last"), last);
        seeds.insert(
            format!("{what}-truncated"),
            bytes[..bytes.len() - 1].to_vec(),
        );
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    seeds.insert(format!("{what}-trailing"), trailing);
    seeds.insert(what.to_owned(), bytes);
}

fn agency(name: &str) -> AgencyId {
    AgencyId::new(name).expect("valid")
}

fn officer(name: &str) -> OfficerId {
    OfficerId::new(name).expect("valid")
}

fn header(categories: &[Category], purpose: Purpose, approvals: usize) -> DisclosureHeader {
    let mut list = Approvals::new();
    for i in 0..approvals {
        list.insert(UrgentApproval {
            officer: officer(&format!("officer-{}", (b'a' + i as u8) as char)),
            signature: SignatureBytes::from_bytes([i as u8; 64]),
        })
        .expect("distinct officers");
    }
    DisclosureHeader {
        envelope_id: EnvelopeId::from_bytes([0xe1; 16]),
        sender: agency("police-a"),
        recipient: agency("shelter-a"),
        subject: SubjectId::from_bytes([0x51; 16]),
        categories: CategorySet::of(categories),
        purpose,
        consent: Some(ConsentId::from_bytes([0xc1; 16])),
        created_at: Timestamp(5_000),
        approvals: list,
    }
}

fn record() -> Record {
    Record::new()
        .with(Field::text(DisclosableCategory::Identity, "given_name", "A").expect("valid"))
        .expect("valid")
        .with(Field::bytes(DisclosableCategory::Medical, "scan", vec![1, 2, 3]).expect("valid"))
        .expect("valid")
}

fn grant() -> ConsentGrant {
    ConsentGrant::new(ConsentTerms {
        id: ConsentId::from_bytes([0xc1; 16]),
        subject: SubjectId::from_bytes([0x51; 16]),
        granted_by: Grantor::Representative(RepresentativeId::new("rep-a").expect("valid")),
        recipients: vec![
            Recipient::Agency(agency("shelter-a")),
            Recipient::Role(Role::Health),
        ],
        categories: CategorySet::of(&[Category::Medical, Category::Psychological]),
        purposes: PurposeSet::of(&[Purpose::Assistance]),
        valid_from: Timestamp(1_000),
        expires_at: Timestamp(9_000),
        evidence_hash: [0xee; 32],
        recorded_by: officer("officer-a"),
        recorded_at: Timestamp(1_000),
    })
    .expect("valid")
}

fn envelope(context: &[u8], plaintext: &[u8], to_other: bool) -> Envelope {
    let recipient = if to_other {
        fixed::other_recipient()
    } else {
        fixed::recipient()
    };
    danger::seal_with_ephemeral(
        fixed::sender(),
        &recipient.public_key(),
        context,
        plaintext,
        [0x77; 32],
    )
    .expect("seals")
}

fn entries() -> Vec<AuditEntry> {
    let h = header(
        &[Category::Identity, Category::Medical],
        Purpose::Assistance,
        0,
    );
    let basis = Basis::ConsentAndAgreement {
        consent: ConsentId::from_bytes([0xc1; 16]),
        clauses: vec![ClauseId::new("clause-a").expect("valid")],
    };
    vec![
        AuditEntry::SubjectRegistered {
            subject: SubjectId::from_bytes([0x51; 16]),
            age_status: AgeStatus::PresumedChild,
            at: Timestamp(1_000),
        },
        AuditEntry::ConsentGranted { grant: grant() },
        AuditEntry::ConsentRevoked {
            revocation: ConsentRevocation {
                consent: ConsentId::from_bytes([0xc1; 16]),
                revoked_at: Timestamp(8_000),
                recorded_by: officer("officer-b"),
            },
        },
        AuditEntry::Disclosed {
            header: h.clone(),
            basis: basis.clone(),
            urgent_review: false,
            ciphertext_hash: [0xaa; 32],
            at: Timestamp(5_000),
        },
        AuditEntry::Refused {
            header: header(&[Category::ShelterLocation], Purpose::Assistance, 0),
            reason: RefusalReason::ProtectionCategory {
                category: Category::ShelterLocation,
            },
            at: Timestamp(5_001),
        },
        AuditEntry::Received {
            header: header(&[Category::Investigation], Purpose::UrgentDanger, 2),
            basis: Basis::Agreement(vec![ClauseId::new("clause-b").expect("valid")]),
            ciphertext_hash: [0xbb; 32],
            sender_signature: Box::new(streha_core::EnvelopeSignature {
                sender_key: fixed::sender().public_key().to_bytes(),
                recipient_key: fixed::recipient().public_key().to_bytes(),
                ephemeral: [0x0e; 32],
                signature: SignatureBytes::from_bytes([0x5e; 64]),
            }),
            sender_log_index: 3,
            sender_tree_size: 4,
            sender_root_hash: [0x40; 32],
            sender_checkpoint_signature: SignatureBytes::from_bytes([0x5c; 64]),
            at: Timestamp(5_002),
        },
        AuditEntry::Violation {
            envelope: EnvelopeId::from_bytes([0xe1; 16]),
            sender: agency("police-a"),
            kind: ViolationKind::CategoryMismatch,
            declared: CategorySet::of(&[Category::Identity]),
            found: CategorySet::of(&[Category::Identity, Category::Medical]),
            ciphertext_hash: [0xcc; 32],
            at: Timestamp(5_003),
        },
    ]
}

fn log_checkpoint(tree: &MemoryTree, size: u64, cosign: bool) -> String {
    let checkpoint = Checkpoint::new(
        fixed::LOG_ORIGIN,
        size,
        tree.root_at(size).expect("in the tree"),
    )
    .expect("valid checkpoint");
    let mut note = sign_checkpoint(&checkpoint, fixed::log_signer());
    if cosign {
        let cosignature = fixed::witness()
            .cosign(note.body(), 1_700_000_000)
            .expect("cosigns");
        note.add_signature(cosignature)
            .expect("room for a cosignature");
    }
    note.to_text()
}

fn proven_entry() -> ProvenEntry {
    let encoded: Vec<Vec<u8>> = entries().iter().map(AuditEntry::encode).collect();
    let tree = MemoryTree::from_entries(&encoded);
    let size = tree.size();
    ProvenEntry {
        entry: encoded[1].clone(),
        index: 1,
        proof: inclusion_proof(1, size, &tree).expect("in the tree"),
        checkpoint: log_checkpoint(&tree, size, false),
    }
}

fn core_decode() -> Seeds {
    let mut seeds = Seeds::new();
    for (i, entry) in entries().iter().enumerate() {
        with_variants(
            &mut seeds,
            &format!("entry-{i}-{}", entry.kind_name()),
            entry.encode(),
        );
    }
    with_variants(
        &mut seeds,
        "header",
        header(
            &[Category::Identity, Category::Medical],
            Purpose::Assistance,
            0,
        )
        .encode(),
    );
    with_variants(
        &mut seeds,
        "header-urgent",
        header(&[Category::Investigation], Purpose::UrgentDanger, 3).encode(),
    );
    with_variants(&mut seeds, "record", record().encode());
    seeds.insert("record-empty".into(), Record::new().encode());
    // A record field tagged with a protection category (0x33): never decodable.
    let mut protection = record().encode();
    if let Some(tag) = protection.iter().position(|&b| b == 0x01) {
        protection[tag] = 0x33;
    }
    seeds.insert("record-protection-tag".into(), protection);
    seeds
}

fn envelopes() -> Seeds {
    let mut seeds = Seeds::new();
    let context = header(
        &[Category::Identity, Category::Medical],
        Purpose::Assistance,
        0,
    )
    .encode();
    let plaintext = record().encode();
    with_variants(
        &mut seeds,
        "disclosure",
        envelope(&context, &plaintext, false).to_bytes(),
    );
    seeds.insert("empty".into(), envelope(&[], &[], false).to_bytes());
    seeds.insert(
        "to-other-recipient".into(),
        envelope(&context, &plaintext, true).to_bytes(),
    );
    seeds.insert(
        "big-context".into(),
        envelope(&[0x42; 300], &[0x17; 200], false).to_bytes(),
    );
    // Context length 0 written as the over-long varint 0x80 0x00.
    let short = envelope(&[], b"x", false).to_bytes();
    let mut overlong = short[..97].to_vec();
    overlong.extend_from_slice(&[0x80, 0x00]);
    overlong.extend_from_slice(&short[98..]);
    seeds.insert("overlong-length".into(), overlong);
    let mut version = short.clone();
    version[0] = 2;
    seeds.insert("version-2".into(), version);
    // Signed by someone else than the fixed sender.
    let foreign = danger::seal_with_ephemeral(
        fixed::other_sender(),
        &fixed::recipient().public_key(),
        &context,
        &plaintext,
        [0x78; 32],
    )
    .expect("seals");
    seeds.insert("other-sender".into(), foreign.to_bytes());
    seeds
}

fn key_files() -> Seeds {
    let mut seeds = Seeds::new();
    let files: Vec<(&str, String, String)> = vec![
        {
            let k = AgencySigningSecretKey::from_seed_bytes([1; 32]);
            (
                "agency-signing",
                k.to_key_file().to_string(),
                k.public_key().to_key_file(),
            )
        },
        {
            let k = NodeIdentitySecretKey::from_seed_bytes([2; 32]);
            (
                "node-identity",
                k.to_key_file().to_string(),
                k.public_key().to_key_file(),
            )
        },
        {
            let k = RosterSecretKey::from_seed_bytes([3; 32]);
            (
                "roster",
                k.to_key_file().to_string(),
                k.public_key().to_key_file(),
            )
        },
        {
            let k = ApplicationSecretKey::from_seed_bytes([4; 32]);
            (
                "application",
                k.to_key_file().to_string(),
                k.public_key().to_key_file(),
            )
        },
        {
            let k = OfficerSecretKey::from_seed_bytes([5; 32]);
            (
                "officer",
                k.to_key_file().to_string(),
                k.public_key().to_key_file(),
            )
        },
        {
            let k = AgencyEncryptionSecretKey::from_seed_bytes([6; 32]);
            (
                "agency-encryption",
                k.to_key_file().to_string(),
                k.public_key().to_key_file(),
            )
        },
    ];
    for (kind, secret, public) in files {
        seeds.insert(format!("{kind}-secret"), secret.clone().into_bytes());
        seeds.insert(format!("{kind}-public"), public.clone().into_bytes());
        seeds.insert(
            format!("{kind}-secret-crlf"),
            secret.replace('\n', "\r\n").into_bytes(),
        );
        seeds.insert(
            format!("{kind}-public-no-final-newline"),
            public.trim_end().as_bytes().to_vec(),
        );
        let upper: Vec<String> = secret
            .lines()
            .map(|l| match l.strip_prefix("public: ") {
                Some(hex) => format!("public: {}", hex.to_ascii_uppercase()),
                None => l.to_owned(),
            })
            .collect();
        seeds.insert(
            format!("{kind}-secret-upper-hex"),
            (upper.join("\n") + "\n").into_bytes(),
        );
        let mut bad_fp = public.clone().into_bytes();
        let at = bad_fp.len() - 2;
        bad_fp[at] = if bad_fp[at] == b'0' { b'1' } else { b'0' };
        seeds.insert(format!("{kind}-public-bad-fingerprint"), bad_fp);
        seeds.insert(
            format!("{kind}-public-extra-line"),
            format!("{public}\n").into_bytes(),
        );
    }
    seeds
}

fn roster() -> Roster {
    let member = |name: &str, role: Role, seed: u8, officers: usize| AgencyEntry {
        id: agency(name),
        role,
        address: format!("{name}.example:4433"),
        node_key: NodeIdentitySecretKey::from_seed_bytes([seed; 32]).public_key(),
        signing_key: AgencySigningSecretKey::from_seed_bytes([seed + 1; 32]).public_key(),
        encryption_key: AgencyEncryptionSecretKey::from_seed_bytes([seed + 2; 32]).public_key(),
        officers: (0..officers)
            .map(|i| OfficerEntry {
                id: officer(&format!("officer-{i}")),
                key: OfficerSecretKey::from_seed_bytes([seed + 3 + i as u8; 32]).public_key(),
            })
            .collect(),
    };
    let agreement = ExchangeAgreement::new(vec![
        AgreementClause::new(
            ClauseId::new("police-case").expect("valid"),
            Role::Police,
            CategorySet::of(&[Category::Identity, Category::CaseSummary]),
            PurposeSet::of(&[Purpose::CriminalInvestigationAndProsecution]),
        )
        .expect("valid"),
        AgreementClause::new(
            ClauseId::new("shelter-referral").expect("valid"),
            Role::LicensedNgo,
            CategorySet::of(&[Category::Identity, Category::Referral]),
            PurposeSet::of(&[Purpose::IdentificationAndReferral, Purpose::Assistance]),
        )
        .expect("valid"),
    ])
    .expect("valid");
    Roster::new(
        "fuzz.example",
        3,
        Timestamp(1_700_000_000_000),
        vec![
            member("police-a", Role::Police, 0x60, 2),
            member("shelter-a", Role::LicensedNgo, 0x70, 0),
            member("prosecution-a", Role::Prosecution, 0x80, 1),
        ],
        agreement,
    )
    .expect("valid roster")
}

fn rosters() -> Seeds {
    let mut seeds = Seeds::new();
    let roster = roster();
    let signed = roster.sign(fixed::roster_key()).expect("signs");
    let body = roster.to_body().expect("body");
    seeds.insert("signed".into(), signed.clone().into_bytes());
    seeds.insert("unsigned-body".into(), body.clone().into_bytes());
    seeds.insert(
        "signed-version-edited".into(),
        signed
            .replacen("version = 3", "version = 4", 1)
            .into_bytes(),
    );
    let other = roster
        .sign(&RosterSecretKey::from_seed_bytes([0x34; 32]))
        .expect("signs");
    seeds.insert("signed-by-other-key".into(), other.into_bytes());
    seeds.insert(
        "body-duplicate-agency".into(),
        body.replacen("id = \"shelter-a\"", "id = \"police-a\"", 1)
            .into_bytes(),
    );
    seeds.insert(
        "body-bad-format".into(),
        body.replacen("streha-roster/v1", "streha-roster/v2", 1)
            .into_bytes(),
    );
    let small = Roster::new(
        "f.example",
        1,
        Timestamp(0),
        Vec::new(),
        ExchangeAgreement::default(),
    )
    .expect("valid");
    seeds.insert(
        "signed-empty".into(),
        small.sign(fixed::roster_key()).expect("signs").into_bytes(),
    );
    let valid_until = roster
        .clone()
        .with_expiry(Some(Timestamp(1_800_000_000_000)))
        .expect("a validity period");
    seeds.insert(
        "signed-with-expiry".into(),
        valid_until
            .sign(fixed::roster_key())
            .expect("signs")
            .into_bytes(),
    );
    seeds.insert(
        "body-empty-validity".into(),
        body.replacen("issued_at", "expires_at = 0\nissued_at", 1)
            .into_bytes(),
    );
    seeds
}

fn notes() -> Seeds {
    let mut seeds = Seeds::new();
    let tree = MemoryTree::from_entries((0..5u64).map(merkle_entry));
    seeds.insert(
        "checkpoint".into(),
        log_checkpoint(&tree, 5, false).into_bytes(),
    );
    seeds.insert(
        "checkpoint-cosigned".into(),
        log_checkpoint(&tree, 5, true).into_bytes(),
    );
    seeds.insert(
        "checkpoint-empty-tree".into(),
        log_checkpoint(&tree, 0, true).into_bytes(),
    );
    let checkpoint = Checkpoint::new(fixed::LOG_ORIGIN, 5, tree.root())
        .expect("valid")
        .with_extension("ext one")
        .expect("valid");
    let note = sign_checkpoint(&checkpoint, fixed::log_signer());
    seeds.insert("checkpoint-extension".into(), note.to_text().into_bytes());
    seeds.insert("checkpoint-body".into(), checkpoint.to_body().into_bytes());
    let tampered = log_checkpoint(&tree, 5, true).replacen("\n5\n", "\n6\n", 1);
    seeds.insert("checkpoint-size-edited".into(), tampered.into_bytes());
    let plain = SignedNote::sign("hello\n", fixed::log_signer()).expect("signs");
    seeds.insert("plain-note".into(), plain.to_text().into_bytes());
    seeds.insert(
        "vkey-log".into(),
        fixed::log_signer().verifier().to_vkey().into_bytes(),
    );
    seeds.insert(
        "vkey-witness".into(),
        fixed::witness().verifier().to_vkey().into_bytes(),
    );
    seeds.insert(
        "vkey-go-example".into(),
        b"PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW".to_vec(),
    );
    seeds
}

fn merkle_proofs() -> Seeds {
    let mut seeds = Seeds::new();
    let tree = streha_fuzz_targets::merkle_tree();
    let pairs = [
        (0u64, 1u64),
        (2, 5),
        (6, 7),
        (4, 8),
        (100, 255),
        (299, 300),
        (0, 300),
    ];
    for (a, b) in pairs {
        // Inclusion of entry a in the tree of size b, the real root.
        let mut bytes = vec![merkle_mode::IN_TREE];
        bytes.extend_from_slice(&a.to_le_bytes());
        bytes.extend_from_slice(&b.to_le_bytes());
        let entry = merkle_entry(a);
        bytes.push(u8::try_from(entry.len()).expect("short entry"));
        bytes.extend_from_slice(&entry);
        bytes.extend_from_slice(&inclusion_proof(a, b, tree).expect("in tree").to_bytes());
        with_variants(&mut seeds, &format!("inclusion-{a}-{b}"), bytes);
        // Consistency of size a with size b, the real roots.
        let mut bytes = vec![merkle_mode::IN_TREE | merkle_mode::CONSISTENCY];
        bytes.extend_from_slice(&a.to_le_bytes());
        bytes.extend_from_slice(&b.to_le_bytes());
        bytes.extend_from_slice(&consistency_proof(a, b, tree).expect("in tree").to_bytes());
        with_variants(&mut seeds, &format!("consistency-{a}-{b}"), bytes);
        // The same with the old root given raw.
        let mut bytes =
            vec![merkle_mode::IN_TREE | merkle_mode::CONSISTENCY | merkle_mode::RAW_FIRST];
        bytes.extend_from_slice(&a.to_le_bytes());
        bytes.extend_from_slice(&b.to_le_bytes());
        bytes.extend_from_slice(tree.root_at(a).expect("in tree").as_bytes());
        bytes.extend_from_slice(&consistency_proof(a, b, tree).expect("in tree").to_bytes());
        seeds.insert(format!("consistency-raw-old-{a}-{b}"), bytes);
    }
    // Huge sizes, raw leaf and root: only "no panic" applies.
    let mut bytes = vec![merkle_mode::RAW_FIRST | merkle_mode::RAW_SECOND];
    bytes.extend_from_slice(&(u64::MAX - 1).to_le_bytes());
    bytes.extend_from_slice(&u64::MAX.to_le_bytes());
    bytes.extend_from_slice(&[0x11; 64]);
    bytes.push(63);
    bytes.extend_from_slice(&[0x22; 63 * 32]);
    seeds.insert("inclusion-huge".into(), bytes);
    let mut bytes =
        vec![merkle_mode::CONSISTENCY | merkle_mode::RAW_FIRST | merkle_mode::RAW_SECOND];
    bytes.extend_from_slice(&(1u64 << 62).to_le_bytes());
    bytes.extend_from_slice(&u64::MAX.to_le_bytes());
    bytes.extend_from_slice(&[0x33; 64]);
    bytes.push(64);
    bytes.extend_from_slice(&[0x44; 64 * 32]);
    seeds.insert("consistency-huge".into(), bytes);
    const { assert!(MERKLE_TREE_SIZE >= 300) };
    seeds
}

fn bundles() -> Seeds {
    let mut seeds = Seeds::new();
    let mut encoded: Vec<Vec<u8>> = entries().iter().map(AuditEntry::encode).collect();
    encoded.extend((0..3u64).map(merkle_entry));
    let tree = MemoryTree::from_entries(&encoded);
    let checkpoints = vec![
        log_checkpoint(&tree, 3, false),
        log_checkpoint(&tree, 7, true),
        log_checkpoint(&tree, 8, false),
    ];
    let bundle = LogBundle::new(fixed::LOG_ORIGIN, encoded.clone(), checkpoints.clone());
    with_variants(&mut seeds, "bundle", bundle.encode().expect("encodes"));
    let tail = LogBundle::new(
        fixed::LOG_ORIGIN,
        encoded.clone(),
        checkpoints[..1].to_vec(),
    );
    seeds.insert("unsigned-tail".into(), tail.encode().expect("encodes"));
    let small = MemoryTree::from_entries([b"a"]);
    let one = LogBundle::new(
        fixed::LOG_ORIGIN,
        vec![b"a".to_vec()],
        vec![log_checkpoint(&small, 1, true)],
    );
    with_variants(&mut seeds, "one-entry", one.encode().expect("encodes"));
    let mut edited = encoded;
    edited[2][1] ^= 1;
    let forked = LogBundle::new(fixed::LOG_ORIGIN, edited, checkpoints);
    seeds.insert("entry-edited".into(), forked.encode().expect("encodes"));
    seeds
}

fn frames() -> Seeds {
    let mut seeds = Seeds::new();
    let context = header(
        &[Category::Identity, Category::Medical],
        Purpose::Assistance,
        0,
    )
    .encode();
    let sealed = envelope(&context, &record().encode(), false);
    let proven = proven_entry();
    let reason = RefusalReason::ProtectionCategory {
        category: Category::ShelterLocation,
    };
    let mut put = |what: &str, bytes: Vec<u8>| {
        seeds.insert(what.to_owned(), bytes);
    };
    put(
        "app-checkpoint",
        frame::encode(&AppRequest::Checkpoint).expect("encodes"),
    );
    put(
        "app-submit",
        frame::encode(&AppRequest::Submit(Box::new(sealed.clone()))).expect("encodes"),
    );
    put(
        "app-grant-consent",
        frame::encode(&AppRequest::GrantConsent(Box::new(grant()))).expect("encodes"),
    );
    put(
        "app-register-subject",
        frame::encode(&AppRequest::RegisterSubject {
            subject: SubjectId::from_bytes([0x51; 16]),
            age_status: AgeStatus::Child,
            representatives: vec![RepresentativeId::new("rep-a").expect("valid")],
        })
        .expect("encodes"),
    );
    put(
        "app-inbox",
        frame::encode(&AppRequest::Inbox {
            after: Some(EnvelopeId::from_bytes([0xe1; 16])),
            limit: 256,
        })
        .expect("encodes"),
    );
    put(
        "app-rekey",
        frame::encode(&AppRequest::RekeySubject {
            subject: SubjectId::from_bytes([0x51; 16]),
            new_subject: SubjectId::from_bytes([0x52; 16]),
            salt: [9; 32],
        })
        .expect("encodes"),
    );
    put(
        "app-report-violation",
        frame::encode(&AppRequest::ReportViolation {
            envelope: EnvelopeId::from_bytes([0xe1; 16]),
            kind: ViolationKind::UndecodableContent,
            found: CategorySet::new(),
        })
        .expect("encodes"),
    );
    put(
        "resp-note",
        frame::encode(&AppResponse::Note(proven.checkpoint.clone())).expect("encodes"),
    );
    put(
        "resp-entry",
        frame::encode(&AppResponse::Entry(Box::new(proven.clone()))).expect("encodes"),
    );
    put(
        "resp-envelope",
        frame::encode(&AppResponse::Envelope(Box::new(sealed.clone()))).expect("encodes"),
    );
    put(
        "resp-refused",
        frame::encode(&AppResponse::Refused {
            reason: reason.clone(),
            index: 7,
        })
        .expect("encodes"),
    );
    put(
        "resp-delivery",
        frame::encode(&AppResponse::Delivery(DeliveryState::Queued {
            attempts: 2,
            last_error: Some("peer down".into()),
        }))
        .expect("encodes"),
    );
    put(
        "resp-error",
        frame::encode(&AppResponse::Error(RemoteError::new(
            ErrorCode::BadRequest,
            "bad",
        )))
        .expect("encodes"),
    );
    let delivery = Delivery {
        envelope: sealed,
        disclosed: proven.clone(),
        subject: SubjectFacts {
            age_status: AgeStatus::Adult,
            adult_since: Some(Timestamp(500)),
            representatives: vec![RepresentativeId::new("rep-a").expect("valid")],
        },
        consent: Some(proven.clone()),
    };
    let deliver = frame::encode(&PeerRequest::Deliver(Box::new(delivery))).expect("encodes");
    put("peer-deliver", deliver.clone());
    put(
        "peer-receipt",
        frame::encode(&PeerResponse::Receipt(Box::new(Receipt {
            received: proven,
        })))
        .expect("encodes"),
    );
    put(
        "peer-refused",
        frame::encode(&PeerResponse::Refused(reason)).expect("encodes"),
    );
    put(
        "peer-roster-answer",
        frame::encode(&PeerResponse::Roster(Box::new(
            streha_wire::peer::RosterAnswer {
                version: 3,
                hash: [0x33; 32],
                note: Some(roster().sign(fixed::roster_key()).expect("signs")),
            },
        )))
        .expect("encodes"),
    );
    put("truncated", deliver[..deliver.len() - 1].to_vec());
    let mut oversized = deliver.clone();
    oversized[..4].copy_from_slice(&u32::MAX.to_be_bytes());
    put("oversized-prefix", oversized);
    let mut version = deliver;
    version[4] = 2;
    put("version-2", version);
    put("empty-payload", vec![0, 0, 0, 0]);
    seeds
}

/// Pseudo-random bytes: the policy target reads any bytes as structure.
fn policy() -> Seeds {
    let mut seeds = Seeds::new();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..48usize {
        let len = 16 + (i * 37) % 400;
        let bytes = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        seeds.insert(format!("random-{i:02}"), bytes);
    }
    seeds.insert("zeros".into(), vec![0; 256]);
    seeds.insert("ones".into(), vec![0xff; 256]);
    seeds
}

/// The peer's `disclosed` entry of a delivery to the node under test, proven in a one-entry
/// log of the peer under a checkpoint signed by the peer's node key: the evidence the node
/// requires before it decides.
fn peer_disclosed(header: &DisclosureHeader, ciphertext_hash: [u8; 32]) -> ProvenEntry {
    let entry = AuditEntry::Disclosed {
        header: header.clone(),
        basis: Basis::Agreement(vec![ClauseId::new("police-identification").expect("valid")]),
        urgent_review: false,
        ciphertext_hash,
        at: header.created_at,
    }
    .encode();
    let tree = MemoryTree::from_entries([&entry]);
    let origin = format!("fuzz.example/streha/{}", streha_fuzz_targets::PEER_AGENCY);
    let signer = NoteSigner::new(
        &origin,
        NodeIdentitySecretKey::from_seed_bytes(streha_fuzz_targets::PEER_NODE_SEED)
            .as_dalek()
            .clone(),
    )
    .expect("key name");
    let checkpoint = Checkpoint::new(origin.as_str(), 1, tree.root()).expect("checkpoint");
    ProvenEntry {
        entry,
        index: 0,
        proof: inclusion_proof(0, 1, &tree).expect("in the tree"),
        checkpoint: sign_checkpoint(&checkpoint, &signer).to_text(),
    }
}

/// Peer requests to the node under test (frame payloads, without the length prefix): a
/// delivery the agreement allows, one needing a consent it lacks, one declaring a
/// protection category, and witnessing and gossip requests.
fn node_requests() -> Seeds {
    use streha_core::{
        AgeStatus, AgencyId, Approvals, Category, CategorySet, DisclosableCategory,
        DisclosureHeader, EnvelopeId, Field, Purpose, Record, SubjectId, Timestamp,
    };
    let mut seeds = Seeds::new();
    let payload = |request: &PeerRequest| frame::encode(request).expect("encode")[4..].to_vec();
    let deliver = |n: u8, categories: &[Category], purpose: Purpose| {
        let mut record = Record::new();
        for category in categories {
            if let Ok(c) = DisclosableCategory::try_from(*category) {
                record
                    .insert(Field::text(c, "f", "v").expect("field"))
                    .expect("insert");
            }
        }
        let header = DisclosureHeader {
            envelope_id: EnvelopeId::from_bytes([n; 16]),
            sender: AgencyId::new(streha_fuzz_targets::PEER_AGENCY).expect("agency"),
            recipient: AgencyId::new(streha_fuzz_targets::NODE_AGENCY).expect("agency"),
            subject: SubjectId::from_bytes([0x5b; 16]),
            categories: categories.iter().copied().collect::<CategorySet>(),
            purpose,
            consent: None,
            created_at: Timestamp(1_763_856_000_000),
            approvals: Approvals::new(),
        };
        let envelope = danger::seal_with_ephemeral(
            fixed::sender(),
            &fixed::recipient().public_key(),
            &header.encode(),
            &record.encode(),
            [n; 32],
        )
        .expect("seal");
        let disclosed = peer_disclosed(&header, envelope.ciphertext_hash);
        PeerRequest::Deliver(Box::new(Delivery {
            envelope,
            disclosed,
            subject: SubjectFacts {
                age_status: AgeStatus::Adult,
                adult_since: Some(Timestamp(0)),
                representatives: vec![],
            },
            consent: None,
        }))
    };
    with_variants(
        &mut seeds,
        "deliver-identity",
        payload(&deliver(
            1,
            &[Category::Identity],
            Purpose::IdentificationAndReferral,
        )),
    );
    with_variants(
        &mut seeds,
        "deliver-medical-no-consent",
        payload(&deliver(2, &[Category::Medical], Purpose::Assistance)),
    );
    with_variants(
        &mut seeds,
        "deliver-protection",
        payload(&deliver(
            3,
            &[Category::ProtectionMeasures],
            Purpose::IdentificationAndReferral,
        )),
    );
    with_variants(
        &mut seeds,
        "gossip",
        payload(&PeerRequest::Gossip(vec!["x\n\n".into()])),
    );
    for (what, version) in [("roster-version-older", 0), ("roster-version-newer", 99)] {
        with_variants(
            &mut seeds,
            what,
            payload(&PeerRequest::RosterVersion(
                streha_wire::peer::RosterOffer {
                    version,
                    hash: [0x11; 32],
                },
            )),
        );
    }
    seeds
}

/// `tlog-proof` texts about the fixed log of the `tlog_proof` target: real proofs (with the
/// entry in `extra`, as the target reads it; with and without the witness's cosignature;
/// against older checkpoints; of the witness's own log) and near-valid ones (another index,
/// an edited hash, size or extra, a forged or self-made cosignature, an untrusted origin).
fn tlog_proofs() -> Seeds {
    use ed25519_dalek::SigningKey;
    use streha_fuzz_targets::{TLOG_COSIGNED_AT, TLOG_TREE_SIZE, tlog_entry, tlog_tree};

    let tree = tlog_tree();
    let police = fixed::log_signer();
    let police_cosigner =
        CosignatureSigner::new(fixed::LOG_ORIGIN, SigningKey::from_bytes(&fixed::LOG_SEED))
            .expect("key name");
    let shelter = NoteSigner::new(
        fixed::WITNESS_NAME,
        SigningKey::from_bytes(&fixed::WITNESS_SEED),
    )
    .expect("key name");
    let note = |signer: &NoteSigner, size: u64, cosigners: &[&CosignatureSigner]| {
        let checkpoint = Checkpoint::new(
            signer.name().as_str(),
            size,
            tree.root_at(size).expect("in the tree"),
        )
        .expect("valid checkpoint");
        let mut note = sign_checkpoint(&checkpoint, signer);
        for cosigner in cosigners {
            let line = cosigner
                .cosign(note.body(), TLOG_COSIGNED_AT)
                .expect("cosigns");
            note.add_signature(line).expect("room");
        }
        note.to_text()
    };
    let proof = |index: u64, note: &str, extra: bool| {
        let proof = prove_entry(index, note, tree).expect("proves");
        if extra {
            proof.with_extra(tlog_entry(index)).expect("small extra")
        } else {
            proof
        }
        .to_text()
        .into_bytes()
    };
    let mut seeds = Seeds::new();
    let full = note(police, TLOG_TREE_SIZE, &[fixed::witness()]);
    for index in [0, 5, 12, TLOG_TREE_SIZE - 1] {
        with_variants(
            &mut seeds,
            &format!("police-{index}-of-{TLOG_TREE_SIZE}-cosigned"),
            proof(index, &full, true),
        );
    }
    seeds.insert(
        "police-7-of-21-cosigned-no-extra".into(),
        proof(7, &full, false),
    );
    let unwitnessed = note(police, 13, &[]);
    with_variants(&mut seeds, "police-6-of-13", proof(6, &unwitnessed, true));
    let one = note(police, 1, &[fixed::witness()]);
    seeds.insert("police-0-of-1".into(), proof(0, &one, true));
    let own = note(&shelter, 16, &[&police_cosigner]);
    with_variants(&mut seeds, "shelter-9-of-16-cosigned", proof(9, &own, true));
    let selfie = note(police, 8, &[&police_cosigner, fixed::witness()]);
    seeds.insert(
        "police-3-of-8-self-cosigned".into(),
        proof(3, &selfie, true),
    );

    let good = String::from_utf8(proof(5, &full, true)).expect("text");
    seeds.insert(
        "wrong-index".into(),
        good.replacen("\nindex 5\n", "\nindex 4\n", 1).into_bytes(),
    );
    let other_extra = String::from_utf8(proof(4, &full, true)).expect("text");
    let extra_line = other_extra.lines().nth(1).expect("extra line").to_owned();
    let own_extra = good.lines().nth(1).expect("extra line").to_owned();
    seeds.insert(
        "extra-of-another-entry".into(),
        good.replacen(&own_extra, &extra_line, 1).into_bytes(),
    );
    let hash_line = good.lines().nth(3).expect("a hash line").to_owned();
    let mut edited = hash_line.clone().into_bytes();
    edited[0] = if edited[0] == b'A' { b'B' } else { b'A' };
    seeds.insert(
        "hash-edited".into(),
        good.replacen(&hash_line, &String::from_utf8(edited).expect("ascii"), 1)
            .into_bytes(),
    );
    seeds.insert(
        "size-edited".into(),
        good.replacen("\n21\n", "\n20\n", 1).into_bytes(),
    );
    seeds.insert(
        "hash-dropped".into(),
        good.replacen(&format!("{hash_line}\n"), "", 1).into_bytes(),
    );
    let mut forged = SignedNote::parse(&note(police, TLOG_TREE_SIZE, &[])).expect("note");
    forged
        .add_signature(
            fixed::witness()
                .cosign("another body\n", TLOG_COSIGNED_AT)
                .expect("cosigns"),
        )
        .expect("room");
    seeds.insert(
        "forged-cosignature".into(),
        proof(5, &forged.to_text(), true),
    );
    let stranger = NoteSigner::new(
        "fuzz.example/streha/stranger",
        SigningKey::from_bytes(&[0x99; 32]),
    )
    .expect("key name");
    seeds.insert(
        "untrusted-origin".into(),
        proof(2, &note(&stranger, 9, &[fixed::witness()]), true),
    );
    seeds.insert("crlf".into(), good.replace('\n', "\r\n").into_bytes());
    seeds
}

/// `add-checkpoint` bodies for the fixed log of the `tlog_witness_request` target: from
/// size 0 and with a proof, with a genuine checkpoint and with a stranger's, and near-valid
/// variants.
fn witness_requests() -> Seeds {
    use streha_witness::protocol::format_add_checkpoint;
    let origin = streha_fuzz_targets::WITNESS_LOG_ORIGIN;
    let key = ed25519_dalek::SigningKey::from_bytes(&[0x77; 32]);
    let signer = NoteSigner::new(origin, key).expect("name");
    let mut tree = MemoryTree::new();
    for i in 0..7u8 {
        tree.append_entry(&[i]);
    }
    let note = |size: u64| {
        sign_checkpoint(
            &Checkpoint::new(origin, size, tree.root_at(size).expect("size")).expect("checkpoint"),
            &signer,
        )
        .to_text()
    };
    let mut seeds = Seeds::new();
    let empty = consistency_proof(0, 0, &tree).expect("proof");
    with_variants(
        &mut seeds,
        "first",
        format_add_checkpoint(0, &empty, &note(3)).into_bytes(),
    );
    with_variants(
        &mut seeds,
        "growth",
        format_add_checkpoint(3, &consistency_proof(3, 7, &tree).expect("proof"), &note(7))
            .into_bytes(),
    );
    with_variants(
        &mut seeds,
        "stale",
        format_add_checkpoint(5, &empty, &note(7)).into_bytes(),
    );
    seeds.insert("empty".into(), Vec::new());
    seeds.insert("old-only".into(), b"old 0\n".to_vec());
    seeds
}
