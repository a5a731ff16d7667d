//! A federation whose roster names one independent witness (an oversight body's
//! `streha witness serve`, C2SP tlog-witness over HTTP on 127.0.0.1): the nodes submit
//! their checkpoints to it, the published checkpoint waits for its cosignature, and the
//! offline verifier counts it apart from the peers.

mod common;

use std::time::Duration;

use common::*;
use streha_audit::{CosignatureSigner, NoteVerifier, SignedNote};
use streha_core::AgeStatus;
use streha_crypto::NodeIdentitySecretKey;
use streha_wire::IndependentWitness;

const WITNESS: &str = "dpa.example/streha-witness";

/// Names of the cosigners of `note` among `verifiers`.
fn signers(note: &str, verifiers: &[NoteVerifier]) -> Vec<String> {
    SignedNote::parse(note)
        .unwrap()
        .verify(verifiers)
        .map(|v| v.signer_names())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_roster_named_independent_witness_cosigns_and_publication_waits_for_it() {
    let mut federation = Federation::new();
    // The oversight body's witness: its key, its address, its configuration (it follows
    // every agency of the signed roster).
    let key = NodeIdentitySecretKey::generate();
    let verifier = CosignatureSigner::new(WITNESS, key.as_dalek().clone())
        .unwrap()
        .verifier();
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let witness_dir = federation.dir.path().join("witness");
    std::fs::create_dir_all(&witness_dir).unwrap();
    std::fs::write(witness_dir.join("witness.key"), key.to_key_file()).unwrap();
    let config = witness_dir.join("witness.toml");
    std::fs::write(
        &config,
        format!(
            "name = \"{WITNESS}\"\nkey = \"witness.key\"\nlisten = \"{addr}\"\n\
             state_dir = \"state\"\nroster = \"../roster.note\"\nroster_key = \"../roster.pub\"\n"
        ),
    )
    .unwrap();
    // The national authority names it in the roster; every node requires one peer and the
    // independent witness before it publishes.
    let roster = federation
        .roster_of(federation.members.iter().map(Member::entry).collect())
        .with_witnesses(vec![IndependentWitness {
            vkey: verifier.to_vkey(),
            url: format!("http://{addr}"),
        }])
        .unwrap();
    federation.publish(roster.clone());
    for member in &federation.members {
        let path = member.dir.join("node.toml");
        let text = std::fs::read_to_string(&path).unwrap().replace(
            "quorum = 1\n",
            "quorum = { peers = 1, independent = 1 }\nsubmit_timeout_ms = 2000\n",
        );
        std::fs::write(&path, text).unwrap();
    }

    // The witness is not running yet: peers cosign, nothing is published.
    let _police = federation.start(POLICE);
    let _shelter = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    let police = federation.client(POLICE).await;
    for _ in 0..3 {
        shelter
            .register_subject(AgeStatus::Adult, vec![])
            .await
            .unwrap();
    }
    police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let shelter_member = federation.member(SHELTER);
    let peers_cosigned = eventually(Duration::from_secs(30), || async {
        (metric(
            shelter_member,
            "streha_cosignatures_total{witness=\"police\"}",
        ) >= 1
            && metric(
                shelter_member,
                "streha_independent_witness_answers_total{answer=\"unreachable\"}",
            ) >= 1)
            .then_some(())
    })
    .await;
    assert!(
        peers_cosigned.is_some(),
        "the police cosigns; the independent witness is tried and unreachable"
    );
    assert!(
        shelter.published_checkpoint().await.is_err(),
        "without the independent witness, nothing is published"
    );

    // The witness starts: the checkpoints get its cosignature and are published.
    let _witness = start_witness(&config);
    let published = eventually(Duration::from_secs(30), || async {
        shelter.published_checkpoint().await.ok()
    })
    .await
    .expect("published once the independent witness cosigns");
    let (checkpoint, _) = published;
    assert_eq!(
        signers(checkpoint.note(), std::slice::from_ref(&verifier)),
        vec![WITNESS.to_owned()]
    );
    assert!(
        metric(
            shelter_member,
            "streha_independent_witness_answers_total{answer=\"cosigned\"}"
        ) >= 1
    );

    // The DPO's check: cosigned exports verify with two witnesses of which one independent;
    // not with two independent ones.
    let wait = Duration::from_secs(30);
    let bundles = vec![
        police.export_cosigned_bundle(wait).await.unwrap(),
        shelter.export_cosigned_bundle(wait).await.unwrap(),
    ];
    let roster = streha_wire::Roster::open(
        &std::fs::read_to_string(federation.dir.path().join("roster.note")).unwrap(),
        &federation.roster_key.public_key(),
    )
    .unwrap();
    let options = streha_verify::VerifyOptions::new()
        .min_witnesses(2)
        .min_independent(1);
    let report = streha_verify::verify(&bundles, &roster, &options);
    assert!(
        report.findings.is_empty(),
        "{}",
        streha_verify::render_text(&report)
    );
    let report = streha_verify::verify(
        &bundles,
        &roster,
        &streha_verify::VerifyOptions::new().min_independent(2),
    );
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.rule == streha_verify::Rule::InsufficientWitnesses),
        "{}",
        streha_verify::render_text(&report)
    );
}
