//! The node's peer request handler fed raw bytes, as if they had arrived on a stream from the
//! authenticated node of a roster member (`streha_node::fuzzing::PeerInput`).

use std::sync::OnceLock;

use streha_core::{
    AgencyId, AgreementClause, AuditEntry, Category, ClauseId, ExchangeAgreement, Purpose, Role,
    Timestamp,
};
use streha_crypto::NodeIdentitySecretKey;
use streha_node::fuzzing::PeerInput;
use streha_wire::peer::PeerResponse;
use streha_wire::{AgencyEntry, MAX_FRAME_LEN, Roster, frame};

use crate::fixed;

/// The receiving agency (the node under test).
pub const NODE_AGENCY: &str = "police-a";
/// The sending agency (the authenticated peer).
pub const PEER_AGENCY: &str = "shelter-a";
/// Node identity seed of the node under test.
const NODE_SEED: [u8; 32] = [0x66; 32];
/// Node identity seed of the peer (the corpus signs the peer's checkpoints with it).
pub const PEER_NODE_SEED: [u8; 32] = [0x67; 32];

struct Harness {
    _dir: std::path::PathBuf,
    input: PeerInput,
}

/// The signed roster of the node target: the peer (a licensed NGO, signing with
/// [`fixed::sender`]) and the node (the police, receiving with [`fixed::recipient`]), with
/// a clause letting the police receive identity data for identification.
pub fn node_roster() -> String {
    let entry = |id: &str, role, node: [u8; 32], signing, encryption| AgencyEntry {
        id: AgencyId::new(id).expect("agency id"),
        role,
        address: "127.0.0.1:1".into(),
        node_key: NodeIdentitySecretKey::from_seed_bytes(node).public_key(),
        signing_key: signing,
        encryption_key: encryption,
        officers: vec![],
    };
    let agreement = ExchangeAgreement::new(vec![
        AgreementClause::new(
            ClauseId::new("police-identification").expect("clause id"),
            Role::Police,
            [Category::Identity].into_iter().collect(),
            [Purpose::IdentificationAndReferral].into_iter().collect(),
        )
        .expect("clause"),
    ])
    .expect("agreement");
    Roster::new(
        "fuzz.example",
        1,
        Timestamp(1),
        vec![
            entry(
                PEER_AGENCY,
                Role::LicensedNgo,
                PEER_NODE_SEED,
                fixed::sender().public_key(),
                fixed::other_recipient().public_key(),
            ),
            entry(
                NODE_AGENCY,
                Role::Police,
                NODE_SEED,
                fixed::other_sender().public_key(),
                fixed::recipient().public_key(),
            ),
        ],
        agreement,
    )
    .expect("roster")
    .sign(fixed::roster_key())
    .expect("signed roster")
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("streha-fuzz-node-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let input = PeerInput::open(
            &dir,
            AgencyId::new(NODE_AGENCY).expect("agency id"),
            NodeIdentitySecretKey::from_seed_bytes(NODE_SEED),
            &node_roster(),
            fixed::roster_key().public_key(),
        )
        .expect("the node under test opens");
        Harness { _dir: dir, input }
    })
}

/// Feeds `data` (a frame payload) to the node's peer request handler as from the peer.
///
/// Asserts: the node always answers with a well-formed response frame; a receipt is only
/// ever given for a `received` entry that carries no protection category (Art. 18.4) and
/// comes from the authenticated peer, proven in the node's own log.
pub fn node_request(data: &[u8]) {
    let harness = harness();
    let peer = AgencyId::new(PEER_AGENCY).expect("agency id");
    let response = harness.input.handle(&peer, data);
    let response: PeerResponse = frame::decode(&response, MAX_FRAME_LEN)
        .expect("the node always answers with a well-formed frame");
    if let PeerResponse::Receipt(receipt) = response {
        match AuditEntry::decode(&receipt.received.entry).expect("a receipt's entry decodes") {
            AuditEntry::Received { header, .. } => {
                assert!(
                    header.categories.iter().all(|c| !c.is_protection()),
                    "a protection category was received"
                );
                assert_eq!(header.sender, peer, "received from another sender");
            }
            other => panic!("a receipt proves a `{}` entry", other.kind_name()),
        }
        // The receipt verifies exactly as the sending node checks it.
        let node_key = NodeIdentitySecretKey::from_seed_bytes(NODE_SEED).public_key();
        let verifier = streha_audit::NoteVerifier::new(
            &format!("fuzz.example/streha/{NODE_AGENCY}"),
            *node_key.as_dalek(),
        )
        .expect("verifier");
        let (checkpoint, _) = streha_audit::open_checkpoint(
            &receipt.received.checkpoint,
            std::slice::from_ref(&verifier),
        )
        .expect("the receipt's checkpoint is signed by the node");
        streha_audit::verify_inclusion(
            &streha_audit::leaf_hash(&receipt.received.entry),
            receipt.received.index,
            checkpoint.size(),
            &receipt.received.proof,
            checkpoint.root(),
        )
        .expect("the receipt's entry is proven in the node's log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed corpus reaches the receipt branch: an allowed delivery gets a receipt.
    #[test]
    fn the_identity_seed_is_received() {
        let seed = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../fuzz/corpus/node_request/seed-deliver-identity"),
        )
        .expect("seed");
        let peer = AgencyId::new(PEER_AGENCY).expect("agency id");
        let response: PeerResponse =
            frame::decode(&harness().input.handle(&peer, &seed), MAX_FRAME_LEN).expect("frame");
        assert!(matches!(response, PeerResponse::Receipt(_)), "{response:?}");
        node_request(&seed);
    }
}
