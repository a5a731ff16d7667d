//! An agency's application on `streha-client`: intake of a child, the legal
//! representative's consent (Art. 18.3, 38.5), a disclosure of a psychological assessment to
//! another agency, and its receipt.
//!
//! ```text
//! streha-example-intake CLIENT_PROFILE RECIPIENT_AGENCY
//! ```
//!
//! Exit status: 0 delivered; 1 anything else (printed on standard error).

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use streha_client::{
    AgeStatus, AgencyId, Category, CategorySet, Client, ClientConfig, ClientError, DeliveryState,
    DisclosableCategory, Grantor, NewConsent, OfficerId, Purpose, PurposeSet, Recipient,
    RepresentativeId,
};

/// A year, for the consent's validity.
const YEAR_MS: u64 = 365 * 24 * 3600 * 1000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(profile), Some(recipient)) = (args.next(), args.next()) else {
        eprintln!("usage: streha-example-intake CLIENT_PROFILE RECIPIENT_AGENCY");
        return ExitCode::FAILURE;
    };
    match run(PathBuf::from(profile), recipient.to_string_lossy().as_ref()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(profile: PathBuf, recipient: &str) -> Result<(), Box<dyn std::error::Error>> {
    // The profile names the node and the key files; every key is checked as it is loaded.
    let config = ClientConfig::from_profile(&profile)?;
    // Pins the node's key and verifies the roster it serves against the roster key.
    let client = Client::connect(config).await?;
    let result = intake(&client, recipient.parse()?).await;
    client.close().await;
    result
}

async fn intake(client: &Client, recipient: AgencyId) -> Result<(), Box<dyn std::error::Error>> {
    // Age unknown, but reasons to believe a child: a child for every rule (Art. 36).
    let guardian: RepresentativeId = "guardian-0042".parse()?;
    let (subject, index) = client
        .register_subject(AgeStatus::PresumedChild, vec![guardian.clone()])
        .await?;
    println!("subject {subject} registered (log index {index}); keep the id with the file");

    // Only the representative's consent counts for a child (Art. 18.3, 38.5).
    let now = streha_client::now();
    let (consent, _) = client
        .grant_consent(NewConsent {
            subject,
            granted_by: Grantor::Representative(guardian),
            recipients: vec![Recipient::Agency(recipient.clone())],
            categories: CategorySet::of(&[Category::Psychological]),
            purposes: PurposeSet::of(&[Purpose::Assistance]),
            valid_from: now,
            expires_at: now.saturating_add_millis(YEAR_MS),
            evidence_hash: [0; 32], // in a real system: the hash of the signed consent form
            recorded_by: "intake-officer-7".parse::<OfficerId>()?,
            recorded_at: now,
        })
        .await?;
    println!("consent {consent} recorded");

    // A protection category cannot be named here: the builder takes DisclosableCategory.
    let disclosure = client
        .disclosure(subject, recipient.clone(), Purpose::Assistance)
        .field(
            DisclosableCategory::Psychological,
            "assessment",
            "needs trauma counselling",
        )?
        .consent(consent);
    let submitted = match client.submit(disclosure).await {
        Ok(submitted) => submitted,
        Err(ClientError::Refused { reason, log_index }) => {
            return Err(format!(
                "refused by the policy ({}), logged at index {log_index}: {reason}",
                reason.article()
            )
            .into());
        }
        Err(other) => return Err(other.into()),
    };
    println!(
        "disclosed as envelope {}, logged at index {}",
        submitted.envelope, submitted.index
    );

    match client
        .await_delivery(submitted.envelope, Duration::from_secs(30))
        .await?
    {
        DeliveryState::Delivered {
            receipt_index,
            receiver_index,
        } => {
            println!(
                "delivered: {recipient} logged it at index {receiver_index}; its receipt is at \
                 index {receipt_index} here"
            );
            Ok(())
        }
        other => Err(format!("not delivered within 30 s: {other:?}").into()),
    }
}
