//! The signed roster: sign/open round trip and every refusal.

use proptest::prelude::*;
use streha_core::{
    AgencyId, AgreementClause, Category, CategorySet, ClauseId, ExchangeAgreement, OfficerId,
    Purpose, PurposeSet, Role, Timestamp,
};
use streha_crypto::{
    AgencyEncryptionSecretKey, AgencySigningSecretKey, NodeIdentitySecretKey, OfficerSecretKey,
    RosterSecretKey,
};
use streha_wire::{AgencyEntry, OfficerEntry, Roster, RosterError};

fn agency(name: &str, role: Role, seed: u8) -> AgencyEntry {
    AgencyEntry {
        id: AgencyId::new(name).unwrap(),
        role,
        address: format!("127.0.0.1:{}", 7400 + u16::from(seed)),
        node_key: NodeIdentitySecretKey::from_seed_bytes([seed; 32]).public_key(),
        signing_key: AgencySigningSecretKey::from_seed_bytes([seed + 100; 32]).public_key(),
        encryption_key: AgencyEncryptionSecretKey::from_seed_bytes([seed + 200; 32]).public_key(),
        officers: vec![],
    }
}

fn agreement() -> ExchangeAgreement {
    let clause = AgreementClause::new(
        ClauseId::new("police-to-prosecution").unwrap(),
        Role::Prosecution,
        [Category::Identity, Category::CaseSummary]
            .into_iter()
            .collect::<CategorySet>(),
        [Purpose::CriminalInvestigationAndProsecution]
            .into_iter()
            .collect::<PurposeSet>(),
    )
    .unwrap();
    ExchangeAgreement::new(vec![clause]).unwrap()
}

fn roster(version: u64) -> Roster {
    let mut police = agency("police-prishtina", Role::Police, 1);
    police.officers.push(OfficerEntry {
        id: OfficerId::new("officer-1").unwrap(),
        key: OfficerSecretKey::from_seed_bytes([50; 32]).public_key(),
    });
    Roster::new(
        "kosovo-demo.example",
        version,
        Timestamp(1_763_856_000_000),
        vec![
            police,
            agency("shelter-prishtina", Role::LicensedNgo, 2),
            agency("prosecution-prishtina", Role::Prosecution, 3),
        ],
        agreement(),
    )
    .unwrap()
}

fn authority() -> RosterSecretKey {
    RosterSecretKey::from_seed_bytes([9; 32])
}

#[test]
fn signed_roster_round_trips() {
    let roster = roster(3);
    let note = roster.sign(&authority()).unwrap();
    let opened = Roster::open(&note, &authority().public_key()).unwrap();
    assert_eq!(opened.version(), 3);
    assert_eq!(opened.agencies(), roster.agencies());
    assert_eq!(opened.agreement(), roster.agreement());
    assert_eq!(opened.signed_note(), Some(note.as_str()));
    let police = opened
        .agency(&AgencyId::new("police-prishtina").unwrap())
        .unwrap();
    assert_eq!(
        opened.agency_by_node_key(&police.node_key).unwrap().id,
        police.id
    );
    assert_eq!(opened.policy_view().role_of(&police.id), Some(Role::Police));
}

#[test]
fn tampered_unsigned_and_foreign_rosters_are_refused() {
    let note = roster(1).sign(&authority()).unwrap();
    let tampered = note.replacen("127.0.0.1:7401", "10.6.6.6:7401", 1);
    assert!(matches!(
        Roster::open(&tampered, &authority().public_key()),
        Err(RosterError::Signature(_))
    ));
    let body = roster(1).to_body().unwrap();
    assert!(matches!(
        Roster::open(&body, &authority().public_key()),
        Err(RosterError::Signature(_))
    ));
    let other = RosterSecretKey::from_seed_bytes([10; 32]);
    assert!(matches!(
        Roster::open(&note, &other.public_key()),
        Err(RosterError::Signature(_))
    ));
}

/// Issue 18.10: a roster carries a validity period in its signed body; an empty one is
/// refused when built and when opened; a roster without one (signed before they existed)
/// opens and never expires; editing keeps it, a new version drops it.
#[test]
fn a_validity_period_is_signed_and_checked() {
    let issued = Timestamp(1_763_856_000_000);
    let end = Timestamp(1_763_856_000_000 + 90 * 86_400_000);
    let valid = roster(4).with_expiry(Some(end)).unwrap();
    let note = valid.sign(&authority()).unwrap();
    assert!(
        note.contains(&format!("expires_at = {}", end.unix_millis())),
        "{note}"
    );
    let opened = Roster::open(&note, &authority().public_key()).unwrap();
    assert_eq!(opened.expires_at(), Some(end));
    assert!(!opened.is_expired_at(issued));
    assert!(!opened.is_expired_at(Timestamp(end.unix_millis() - 1)));
    assert!(opened.is_expired_at(end), "expires_at is exclusive");
    // The period is signed: moving it breaks the signature.
    let later = note.replacen(
        &format!("expires_at = {}", end.unix_millis()),
        &format!("expires_at = {}", end.unix_millis() + 1),
        1,
    );
    assert!(matches!(
        Roster::open(&later, &authority().public_key()),
        Err(RosterError::Signature(_))
    ));
    // An empty period is refused, built or parsed.
    assert!(matches!(
        roster(4).with_expiry(Some(issued)),
        Err(RosterError::Validity { .. })
    ));
    let body = roster(4).to_body().unwrap().replacen(
        "issued_at",
        &format!("expires_at = {}\nissued_at", issued.unix_millis() - 1),
        1,
    );
    assert!(
        matches!(
            Roster::from_unsigned_body(&body),
            Err(RosterError::Validity { .. })
        ),
        "{body}"
    );
    // Without one: opens, never expires.
    let open_ended = Roster::open(
        &roster(4).sign(&authority()).unwrap(),
        &authority().public_key(),
    )
    .unwrap();
    assert_eq!(open_ended.expires_at(), None);
    assert!(!open_ended.is_expired_at(Timestamp(u64::MAX)));
    // Editing keeps the period; a new version has none until given one.
    let edited = opened
        .without_agency(&AgencyId::new("shelter-prishtina").unwrap())
        .unwrap();
    assert_eq!(edited.expires_at(), Some(end));
    assert_eq!(edited.with_version(5, end).expires_at(), None);
}

#[test]
fn only_newer_rosters_of_the_same_federation_replace() {
    let (v1, v2) = (roster(1), roster(2));
    assert!(v2.check_replaces(&v1).is_ok());
    assert!(matches!(
        v1.check_replaces(&v2),
        Err(RosterError::NotNewer { .. })
    ));
    assert!(matches!(
        v1.check_replaces(&v1),
        Err(RosterError::NotNewer { .. })
    ));
}

#[test]
fn invalid_rosters_are_refused_at_construction() {
    let a = agency("police-prishtina", Role::Police, 1);
    let dup = Roster::new(
        "f.example",
        1,
        Timestamp(0),
        vec![a.clone(), a.clone()],
        agreement(),
    );
    assert!(matches!(dup, Err(RosterError::DuplicateAgency(_))));
    let mut b = agency("other-police", Role::Police, 2);
    b.node_key = a.node_key;
    let shared = Roster::new(
        "f.example",
        1,
        Timestamp(0),
        vec![a.clone(), b],
        agreement(),
    );
    assert!(matches!(shared, Err(RosterError::DuplicateKey { .. })));
    let text = shared.unwrap_err().to_string();
    assert!(
        text.contains("`node_key` of agency `other-police`"),
        "{text}"
    );
    assert!(
        text.contains("`node_key` of agency `police-prishtina`"),
        "{text}"
    );
    let mut c = agency("c", Role::Police, 4);
    c.address = "no-port".into();
    let bad = Roster::new("f.example", 1, Timestamp(0), vec![c], agreement());
    assert!(matches!(bad, Err(RosterError::BadAddress { .. })));
    assert!(bad.unwrap_err().to_string().contains("\"no-port\""));
    assert!(Roster::new("Bad Name", 1, Timestamp(0), vec![], agreement()).is_err());
}

/// Origins are `<federation domain>/streha/<agency>` (issue 17 point 2): the federation is
/// named by a DNS domain, so two federations never produce the same origin, and a name
/// that is not a domain is refused with the name and the rule broken.
#[test]
fn origins_are_url_style_names_unique_to_the_federation() {
    let police = agency("police-prishtina", Role::Police, 1);
    assert_eq!(
        police.log_origin("kosovo-demo.example"),
        "kosovo-demo.example/streha/police-prishtina"
    );
    let demo = roster(1);
    let origins: Vec<String> = demo
        .agencies()
        .iter()
        .map(|a| a.log_origin(demo.federation()))
        .collect();
    assert_eq!(
        origins,
        [
            "kosovo-demo.example/streha/police-prishtina",
            "kosovo-demo.example/streha/shelter-prishtina",
            "kosovo-demo.example/streha/prosecution-prishtina",
        ]
    );
    // Every origin is a valid checkpoint origin and signed-note key name.
    for origin in &origins {
        streha_core::LogOrigin::new(origin.as_str()).unwrap();
        streha_audit::KeyName::new(origin.as_str()).unwrap();
    }
    // The longest federation and agency names still make a valid origin.
    let longest = format!("{}.{}.{}", "a".repeat(63), "b".repeat(60), "org");
    assert_eq!(longest.len(), streha_wire::roster::MAX_FEDERATION_LEN);
    let long_agency = agency(&format!("a{}", "b".repeat(63)), Role::Police, 5);
    Roster::new(
        &longest,
        1,
        Timestamp(0),
        vec![long_agency.clone()],
        agreement(),
    )
    .unwrap();
    streha_core::LogOrigin::new(long_agency.log_origin(&longest)).unwrap();
    // So does its last epoch, as an origin and a key name.
    let last = long_agency.log_origin_at(&longest, streha_wire::roster::MAX_EPOCH);
    streha_core::LogOrigin::new(last.as_str()).unwrap();
    streha_audit::KeyName::new(last.as_str()).unwrap();

    for (name, rule) in [
        ("kosovo-demo", "one label only"),
        ("test-federation", "one label only"),
        ("", "empty"),
        ("Kosovo.example", "upper-case"),
        ("kosovo.example/x", "other than a-z"),
        ("kosovo example.org", "other than a-z"),
        ("kosovo..example", "empty label"),
        (".kosovo.example", "empty label"),
        ("kosovo.example.", "empty label"),
        ("-kosovo.example", "starts or ends with '-'"),
        ("kosovo-.example", "starts or ends with '-'"),
    ] {
        let err = Roster::new(name, 1, Timestamp(0), vec![], agreement()).unwrap_err();
        assert!(
            matches!(&err, RosterError::FederationName { name: n, .. } if n == name),
            "{name:?}: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(rule), "{name:?}: {text}");
        assert!(text.contains(&format!("{name:?}")), "{text}");
        assert!(text.contains("<domain>/streha/<agency>"), "{text}");
    }
    let too_long = format!("{}.org", "a.".repeat(63));
    assert!(matches!(
        Roster::new(&too_long, 1, Timestamp(0), vec![], agreement()),
        Err(RosterError::FederationName { .. })
    ));
    let long_label = format!("{}.org", "a".repeat(64));
    assert!(
        Roster::new(&long_label, 1, Timestamp(0), vec![], agreement())
            .unwrap_err()
            .to_string()
            .contains("longer than 63")
    );
    // A roster body of the old form (a federation name that is no domain) is refused
    // when opened, naming the field's value.
    let body = roster(1)
        .to_body()
        .unwrap()
        .replace("kosovo-demo.example", "kosovo-demo");
    assert!(matches!(
        Roster::from_unsigned_body(&body),
        Err(RosterError::FederationName { .. })
    ));
}

/// Roster authoring (issue 18 point 7): the agreement's clauses and a clause's categories
/// and purposes may be written in any order and are written back canonically; a fresh body
/// has no `clauses = []` that a clause table would collide with; a typo is reported with
/// its line, the field, the value and the valid names.
#[test]
fn a_body_is_written_as_a_person_would_and_errors_point_at_the_line() {
    let fresh = Roster::new(
        "kosovo-demo.example",
        0,
        Timestamp(0),
        vec![],
        ExchangeAgreement::default(),
    )
    .unwrap()
    .to_body()
    .unwrap();
    assert!(!fresh.contains("clauses"), "{fresh}");
    let clauses = "\n[[agreement.clauses]]\nid = \"z-last\"\nrecipient = \"police\"\n\
                   categories = [\"victim_status\", \"identity\"]\n\
                   purposes = [\"identification_and_referral\"]\n\n\
                   [[agreement.clauses]]\nid = \"a-first\"\nrecipient = \"prosecution\"\n\
                   categories = [\"case_summary\", \"identity\"]\n\
                   purposes = [\"urgent_danger\", \"criminal_investigation_and_prosecution\"]\n";
    let body = format!("{fresh}{clauses}");
    let roster = Roster::from_unsigned_body(&body).unwrap();
    let ids: Vec<&str> = roster
        .agreement()
        .clauses()
        .iter()
        .map(|c| c.id().as_str())
        .collect();
    assert_eq!(ids, ["a-first", "z-last"]);
    let canonical = roster.to_body().unwrap();
    assert!(
        canonical.contains("categories = [\"identity\", \"victim_status\"]"),
        "{canonical}"
    );
    assert!(canonical.find("a-first").unwrap() < canonical.find("z-last").unwrap());
    assert_eq!(Roster::from_unsigned_body(&canonical).unwrap(), roster);

    // A typo: the line, the field as written, the value and the valid names.
    let typo = body.replace(
        "\"victim_status\", \"identity\"",
        "\"victim_stat\", \"identity\"",
    );
    let err = Roster::from_unsigned_body(&typo).unwrap_err().to_string();
    let line = typo
        .lines()
        .position(|l| l.contains("victim_stat\""))
        .unwrap()
        + 1;
    assert!(err.contains(&format!("line {line}, column")), "{err}");
    assert!(
        err.contains("categories = [\"victim_stat\", \"identity\"]"),
        "{err}"
    );
    assert!(
        err.contains("unknown category `victim_stat`; one of: identity"),
        "{err}"
    );
    // The same clause id twice.
    let twice = body.replace("z-last", "a-first");
    let err = Roster::from_unsigned_body(&twice).unwrap_err().to_string();
    assert!(err.contains("a-first"), "{err}");
    // An unknown field: its line.
    let extra = body.replace(
        "recipient = \"police\"",
        "recipient = \"police\"\nrecipients = []",
    );
    let err = Roster::from_unsigned_body(&extra).unwrap_err().to_string();
    assert!(err.contains("`recipients = []`"), "{err}");
}

proptest! {
    /// Two (federation, agency) pairs with the same origin are the same pair.
    #[test]
    fn distinct_federations_or_agencies_never_share_an_origin(
        f1 in "[a-z0-9]{1,8}(\\.[a-z0-9]{1,8}){1,3}",
        f2 in "[a-z0-9]{1,8}(\\.[a-z0-9]{1,8}){1,3}",
        a1 in "[a-z][a-z0-9-]{0,12}",
        a2 in "[a-z][a-z0-9-]{0,12}",
    ) {
        let origin = |f: &str, a: &str| {
            Roster::new(f, 1, Timestamp(0), vec![agency(a, Role::Police, 1)], agreement())
                .unwrap()
                .agencies()[0]
                .log_origin(f)
        };
        prop_assert_eq!(origin(&f1, &a1) == origin(&f2, &a2), f1 == f2 && a1 == a2);
    }
}

#[test]
fn a_body_with_unknown_fields_or_format_is_refused() {
    let body = roster(1).to_body().unwrap();
    let extra = format!("surprise = 1\n{body}");
    assert!(matches!(
        Roster::from_unsigned_body(&extra),
        Err(RosterError::Malformed(_))
    ));
    let other = body.replace("streha-roster/v1", "streha-roster/v9");
    assert!(matches!(
        Roster::from_unsigned_body(&other),
        Err(RosterError::UnsupportedFormat(_))
    ));
    assert_eq!(Roster::from_unsigned_body(&body).unwrap(), roster(1));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        let _ = Roster::open(&text, &authority().public_key());
        let _ = Roster::from_unsigned_body(&text);
    }

    #[test]
    fn edited_signed_rosters_never_open(index in any::<prop::sample::Index>(), c in proptest::char::range('!', '~')) {
        let note = roster(1).sign(&authority()).unwrap();
        let mut chars: Vec<char> = note.chars().collect();
        let i = index.index(chars.len());
        prop_assume!(chars[i] != c);
        chars[i] = c;
        let edited: String = chars.into_iter().collect();
        // Any edit of the body or of the signature breaks it; edits of the key name make
        // the signature unknown. Either way it does not open as a roster.
        prop_assert!(Roster::open(&edited, &authority().public_key()).is_err());
    }
}

/// Log epochs (`spec/audit-log.md` §9): epoch 1 is the base origin, so logs never restored
/// with loss keep their names; epoch n ≥ 2 is `<base>/epoch/<n>`, and an epoch spelled any
/// other way names no log of the agency.
#[test]
fn epoch_origins_name_one_log_each() {
    use streha_wire::roster::{MAX_EPOCH, epoch_origin, split_epoch};
    let police = agency("police-prishtina", Role::Police, 1);
    let fed = "kosovo-demo.example";
    let base = "kosovo-demo.example/streha/police-prishtina";
    assert_eq!(police.log_origin_at(fed, 1), base);
    assert_eq!(police.log_origin_at(fed, 0), base);
    assert_eq!(police.log_origin_at(fed, 2), format!("{base}/epoch/2"));
    assert_eq!(epoch_origin(base, 17), format!("{base}/epoch/17"));
    for epoch in [1, 2, 3, 10, MAX_EPOCH] {
        let origin = police.log_origin_at(fed, epoch);
        assert_eq!(split_epoch(&origin), Some((base, epoch)));
        assert_eq!(police.epoch_of(fed, &origin), Some(epoch));
    }
    for bad in [
        "/epoch/1",
        "/epoch/02",
        "/epoch/1000001",
        "/epoch/99999999999999999999999",
    ] {
        assert_eq!(split_epoch(&format!("{base}{bad}")), None, "{bad}");
        assert_eq!(police.epoch_of(fed, &format!("{base}{bad}")), None);
    }
    // Another agency's, or another federation's, epochs are not this agency's.
    let shelter = agency("shelter-prishtina", Role::Police, 2);
    assert_eq!(shelter.epoch_of(fed, &police.log_origin_at(fed, 2)), None);
    assert_eq!(
        police.epoch_of("other.example", &police.log_origin_at(fed, 2)),
        None
    );
    // Not an epoch suffix at all: a base in epoch 1 (and no agency's, here).
    assert_eq!(
        split_epoch("a.example/log/epoch/x"),
        Some(("a.example/log/epoch/x", 1))
    );
}
