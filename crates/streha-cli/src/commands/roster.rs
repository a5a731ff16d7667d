//! `streha roster …`: the federation roster (`spec/protocol.md` §8).
//!
//! The roster is edited as its unsigned TOML body (`init`, `add`, `remove`, and the
//! exchange agreement by hand) and published as a C2SP signed note signed with the national
//! authority's roster key (`sign`). `verify` and `show` read the published form.

use std::path::{Path, PathBuf};

use serde_json::json;
use streha_audit::SignedNote;
use streha_core::{
    AgencyId, AgreementClause, CategorySet, ExchangeAgreement, OfficerId, PurposeSet, Role,
    Timestamp,
};
use streha_crypto::{AnyPublicKey, AnySecretKey, KeyKind, RosterPublicKey, RosterSecretKey};
use streha_wire::roster::MAX_ROSTER_LEN;
use streha_wire::{AgencyEntry, OfficerEntry, Roster, RosterError};

use crate::cli::{
    RosterAddArgs, RosterClauseAddArgs, RosterClauseRemoveArgs, RosterInitArgs, RosterRemoveArgs,
    RosterShowArgs, RosterSignArgs, RosterVerifyArgs, ValidFor,
};
use crate::error::CliError;
use crate::util::{self, PUBLIC_MODE};

/// Reads a roster body (unsigned TOML). A signed note given instead is a usage error that
/// says which file to edit.
pub(crate) fn read_body(path: &Path) -> Result<Roster, CliError> {
    let text = util::read_text(path, MAX_ROSTER_LEN, "roster body")?;
    if SignedNote::parse(&text).is_ok() {
        return Err(CliError::usage(format!(
            "{} is a signed roster; edit the roster body (the TOML file given to `streha \
             roster sign`) and sign it again",
            path.display()
        )));
    }
    Roster::from_unsigned_body(&text).map_err(|e| {
        let at = error_line(&text, &e).map_or_else(String::new, |line| format!("line {line}: "));
        CliError::usage(format!(
            "{}: {at}{e}; fix the file (spec/protocol.md §8; `streha roster add|remove|clause` \
             edit it for you) or start one with `streha roster init`",
            path.display()
        ))
    })
}

/// The line of the body a validation error is about, found by the value it names (a TOML
/// error names its line itself).
fn error_line(text: &str, error: &RosterError) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    // The `nth` line (from 0) after line `from` whose key is `key` and, if given, whose value
    // is `value`.
    let find = |from: usize, key: &str, value: Option<&str>, nth: usize| -> Option<usize> {
        lines
            .iter()
            .enumerate()
            .skip(from)
            .filter(|(_, l)| {
                let Some((k, v)) = l.split_once('=') else {
                    return false;
                };
                k.trim() == key && value.is_none_or(|value| v.trim() == format!("{value:?}"))
            })
            .nth(nth)
            .map(|(i, _)| i)
    };
    let agency_line = |agency: &AgencyId| find(0, "id", Some(agency.as_str()), 0);
    let line = match error {
        RosterError::FederationName { .. } => find(0, "federation", None, 0),
        RosterError::UnsupportedFormat(_) => find(0, "format", None, 0),
        RosterError::BadAddress { agency, .. } => find(agency_line(agency)?, "address", None, 0),
        RosterError::DuplicateAgency(agency) => find(0, "id", Some(agency.as_str()), 1),
        RosterError::DuplicateOfficer { agency, officer } => {
            find(agency_line(agency)?, "id", Some(officer.as_str()), 1)
        }
        RosterError::DuplicateKey { agency, field, .. } => {
            let start = agency_line(agency)?;
            match field
                .strip_prefix("officers.")
                .and_then(|f| f.strip_suffix(".key"))
            {
                Some(officer) => find(find(start, "id", Some(officer), 0)?, "key", None, 0),
                None => find(start, field, None, 0),
            }
        }
        _ => None,
    }?;
    Some(line + 1)
}

/// Writes a roster body.
pub(crate) fn write_body(path: &Path, roster: &Roster, force: bool) -> Result<(), CliError> {
    let body = roster
        .to_body()
        .map_err(|e| anyhow::anyhow!("cannot write the roster body: {e}"))?;
    util::write_file(path, body.as_bytes(), PUBLIC_MODE, force)
}

/// Reads the national authority's roster public key.
pub(crate) fn load_roster_key(path: &Path) -> Result<RosterPublicKey, CliError> {
    match util::load_public(path, KeyKind::Roster)? {
        AnyPublicKey::Roster(key) => Ok(key),
        _ => unreachable!("load_public checked the kind"),
    }
}

/// Opens a signed roster under `key`. An unsigned body, a bad signature or another key is a
/// verification error that says what to do.
pub(crate) fn open_signed(path: &Path, key: &RosterPublicKey) -> Result<Roster, CliError> {
    let text = util::read_text(path, MAX_ROSTER_LEN, "roster")?;
    open_signed_text(path, &text, key)
}

/// Opens the signed roster `text`, read from `path`, under `key` (as [`open_signed`]).
pub(crate) fn open_signed_text(
    path: &Path,
    text: &str,
    key: &RosterPublicKey,
) -> Result<Roster, CliError> {
    Roster::open(text, key).map_err(|e| match e {
        RosterError::Signature(_) if Roster::from_unsigned_body(text).is_ok() => {
            CliError::verification(format!(
                "{} is an unsigned roster body, not a signed roster: nodes refuse it; sign it \
                 with `streha roster sign {} --key ROSTER-SECRET-KEY --out roster.note`",
                path.display(),
                path.display()
            ))
        }
        RosterError::Signature(_) => CliError::verification(format!("{}: {e}", path.display())),
        other => CliError::usage(format!("{}: {other}", path.display())),
    })
}

/// The roster entry of an agency from its public key files.
pub(crate) fn agency_entry(
    id: AgencyId,
    role: Role,
    address: String,
    keys: [&Path; 3],
    officers: &[(OfficerId, PathBuf)],
) -> Result<AgencyEntry, CliError> {
    let [node, signing, encryption] = keys;
    let AnyPublicKey::NodeIdentity(node_key) = util::load_public(node, KeyKind::NodeIdentity)?
    else {
        unreachable!("load_public checked the kind")
    };
    let AnyPublicKey::AgencySigning(signing_key) =
        util::load_public(signing, KeyKind::AgencySigning)?
    else {
        unreachable!("load_public checked the kind")
    };
    let AnyPublicKey::AgencyEncryption(encryption_key) =
        util::load_public(encryption, KeyKind::AgencyEncryption)?
    else {
        unreachable!("load_public checked the kind")
    };
    let mut entries = Vec::with_capacity(officers.len());
    for (officer, file) in officers {
        let AnyPublicKey::Officer(key) = util::load_public(file, KeyKind::Officer)? else {
            unreachable!("load_public checked the kind")
        };
        entries.push(OfficerEntry {
            id: officer.clone(),
            key,
        });
    }
    Ok(AgencyEntry {
        id,
        role,
        address,
        node_key,
        signing_key,
        encryption_key,
        officers: entries,
    })
}

/// The three public key files of `agency` in a `streha keygen` directory.
pub(crate) fn keygen_public_files(dir: &Path, agency: &AgencyId) -> [PathBuf; 3] {
    [
        KeyKind::NodeIdentity,
        KeyKind::AgencySigning,
        KeyKind::AgencyEncryption,
    ]
    .map(|kind| dir.join(format!("{agency}.{kind}.pub")))
}

/// Signs `roster` as `version`, issued at `issued_at`, valid for `valid_for` from then: the
/// signed roster and its note.
pub(crate) fn sign_roster(
    roster: &Roster,
    version: u64,
    issued_at: Timestamp,
    valid_for: ValidFor,
    key: &RosterSecretKey,
) -> Result<(Roster, String), CliError> {
    let expires_at = match valid_for {
        ValidFor::Never => None,
        ValidFor::Millis(ms) => Some(Timestamp::from_unix_millis(
            issued_at.unix_millis().saturating_add(ms),
        )),
    };
    let signed = roster
        .with_version(version, issued_at)
        .with_expiry(expires_at)
        .map_err(|e| CliError::usage(e.to_string()))?;
    let note = signed
        .sign(key)
        .map_err(|e| anyhow::anyhow!("cannot sign the roster: {e}"))?;
    Ok((signed, note))
}

/// Runs `streha roster init`.
pub(crate) fn init(args: &RosterInitArgs) -> Result<(), CliError> {
    let roster = Roster::new(
        args.federation.clone(),
        0,
        util::now(),
        Vec::new(),
        ExchangeAgreement::default(),
    )
    .map_err(|e| CliError::usage(format!("--federation: {e}")))?;
    write_body(&args.out, &roster, args.force)?;
    if args.json {
        return util::print_json(&json!({
            "roster": args.out.display().to_string(),
            "federation": roster.federation(),
            "version": roster.version(),
            "signed": false,
            "agencies": 0,
        }));
    }
    let mut lines = vec![
        format!(
            "Wrote an empty roster body for federation `{}` to {} (version 0, unsigned).",
            args.federation,
            args.out.display()
        ),
        format!(
            "Each agency's log origin (and log key name) will be `{}/streha/<agency>`.",
            args.federation
        ),
    ];
    if is_reserved_test_domain(&args.federation) {
        lines.push(format!(
            "Note: `{}` is under a domain reserved for examples and tests (RFC 2606, 6761): \
             fine for a demo; a real federation uses a domain it controls.",
            args.federation
        ));
    }
    lines.extend([format!(
        "Next: add agencies with `streha roster add {} --agency ID --role ROLE --address \
             HOST:PORT --keys DIR`, the exchange agreement with `streha roster clause add {} \
             --id ID --recipient ROLE --category C --purpose P` (one clause per recipient \
             role, spec/protocol.md §8), then `streha roster sign`.",
        args.out.display(),
        args.out.display()
    )]);
    util::print_lines(&lines)
}

/// Whether `domain` is under a top-level domain reserved for documentation and testing
/// (RFC 2606 `.example`, `.test`, `.invalid`, `.localhost`; RFC 6761 `example.com/net/org`).
fn is_reserved_test_domain(domain: &str) -> bool {
    const RESERVED: [&str; 7] = [
        "example",
        "test",
        "invalid",
        "localhost",
        "example.com",
        "example.net",
        "example.org",
    ];
    RESERVED
        .iter()
        .any(|r| domain == *r || domain.ends_with(&format!(".{r}")))
}

/// Runs `streha roster add`.
pub(crate) fn add(args: &RosterAddArgs) -> Result<(), CliError> {
    let roster = read_body(&args.roster)?;
    let files: [PathBuf; 3] = match (&args.keys, &args.node_key) {
        (Some(dir), _) => keygen_public_files(dir, &args.agency),
        (None, Some(node)) => [
            node.clone(),
            args.signing_key.clone().unwrap_or_default(),
            args.encryption_key.clone().unwrap_or_default(),
        ],
        (None, None) => {
            return Err(CliError::usage(
                "give the agency's public keys: --keys DIR, or --node-key, --signing-key and \
                 --encryption-key",
            ));
        }
    };
    if args.keys.is_some()
        && let Some(missing) = files.iter().find(|f| !f.exists())
    {
        return Err(CliError::usage(format!(
            "{} does not exist: --keys DIR must hold the public key files `streha keygen \
             --agency {}` wrote, or give --node-key, --signing-key and --encryption-key",
            missing.display(),
            args.agency
        )));
    }
    let replaced = roster.agency(&args.agency).is_some();
    let entry = agency_entry(
        args.agency.clone(),
        args.role,
        args.address.clone(),
        [&files[0], &files[1], &files[2]],
        &args.officers,
    )?;
    check_expected_fingerprints(&entry, &args.expect_fingerprints)?;
    let fingerprints = [
        entry.node_key.fingerprint().short(),
        entry.signing_key.fingerprint().short(),
        entry.encryption_key.fingerprint().short(),
    ];
    let entry_json = agency_json(&entry);
    let updated = roster
        .with_agency(entry)
        .map_err(|e| CliError::usage(format!("cannot add {}: {e}", args.agency)))?;
    write_body(&args.roster, &updated, true)?;
    if args.json {
        return util::print_json(&json!({
            "roster": args.roster.display().to_string(),
            "action": if replaced { "replaced" } else { "added" },
            "agency": entry_json,
            "version": updated.version(),
            "signed": false,
            "agencies": updated.agencies().len(),
        }));
    }
    util::print_lines(&[
        format!(
            "{} agency {} ({}, {}) in {}: node {}, signing {}, encryption {}, {} officer(s).",
            if replaced { "Replaced" } else { "Added" },
            args.agency,
            args.role,
            args.address,
            args.roster.display(),
            fingerprints[0],
            fingerprints[1],
            fingerprints[2],
            args.officers.len()
        ),
        if args.expect_fingerprints.is_empty() {
            "Compare the fingerprints with the agency's by another channel before signing \
             (or give them with --expect-fingerprint to have them checked)."
                .into()
        } else {
            format!(
                "The {} fingerprint(s) the agency gave you match.",
                args.expect_fingerprints.len()
            )
        },
    ])
}

fn clause_json(clause: &AgreementClause) -> serde_json::Value {
    json!({
        "id": clause.id().as_str(),
        "recipient": clause.recipient().as_str(),
        "categories": clause.categories().iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "purposes": clause.purposes().iter().map(|p| p.as_str()).collect::<Vec<_>>(),
    })
}

/// Runs `streha roster clause add`.
pub(crate) fn clause_add(args: &RosterClauseAddArgs) -> Result<(), CliError> {
    let roster = read_body(&args.roster)?;
    let clause = AgreementClause::new(
        args.id.clone(),
        args.recipient,
        args.categories.iter().copied().collect::<CategorySet>(),
        args.purposes.iter().copied().collect::<PurposeSet>(),
    )
    .map_err(|e| CliError::usage(e.to_string()))?;
    let replaced = roster
        .agreement()
        .clauses()
        .iter()
        .any(|c| c.id() == &args.id);
    let mut clauses: Vec<AgreementClause> = roster
        .agreement()
        .clauses()
        .iter()
        .filter(|c| c.id() != &args.id)
        .cloned()
        .collect();
    clauses.push(clause.clone());
    let agreement = ExchangeAgreement::new(clauses).map_err(|e| CliError::usage(e.to_string()))?;
    let updated = roster
        .with_agreement(agreement)
        .map_err(|e| CliError::usage(format!("cannot add clause {}: {e}", args.id)))?;
    write_body(&args.roster, &updated, true)?;
    if args.json {
        return util::print_json(&json!({
            "roster": args.roster.display().to_string(),
            "action": if replaced { "replaced" } else { "added" },
            "clause": clause_json(&clause),
            "agreement_clauses": updated.agreement().clauses().len(),
            "signed": false,
        }));
    }
    util::print_lines(&[format!(
        "{} clause {} in {}: {} may receive {} for {} without consent. {} clause(s); sign the \
         roster to publish it.",
        if replaced { "Replaced" } else { "Added" },
        args.id,
        args.roster.display(),
        clause.recipient(),
        clause.categories(),
        clause.purposes(),
        updated.agreement().clauses().len()
    )])
}

/// Runs `streha roster clause remove`.
pub(crate) fn clause_remove(args: &RosterClauseRemoveArgs) -> Result<(), CliError> {
    let roster = read_body(&args.roster)?;
    let clauses = roster.agreement().clauses();
    if !clauses.iter().any(|c| c.id() == &args.id) {
        let ids: Vec<&str> = clauses.iter().map(|c| c.id().as_str()).collect();
        return Err(CliError::usage(format!(
            "clause {} is not in {}; its clauses are: {}",
            args.id,
            args.roster.display(),
            if ids.is_empty() {
                "none".to_owned()
            } else {
                ids.join(", ")
            }
        )));
    }
    let kept: Vec<AgreementClause> = clauses
        .iter()
        .filter(|c| c.id() != &args.id)
        .cloned()
        .collect();
    let agreement = ExchangeAgreement::new(kept).map_err(|e| CliError::usage(e.to_string()))?;
    let updated = roster
        .with_agreement(agreement)
        .map_err(|e| CliError::usage(format!("cannot remove clause {}: {e}", args.id)))?;
    write_body(&args.roster, &updated, true)?;
    if args.json {
        return util::print_json(&json!({
            "roster": args.roster.display().to_string(),
            "action": "removed",
            "clause": args.id.as_str(),
            "agreement_clauses": updated.agreement().clauses().len(),
            "signed": false,
        }));
    }
    util::print_lines(&[format!(
        "Removed clause {} from {}; {} clause(s) left; sign the roster to publish it.",
        args.id,
        args.roster.display(),
        updated.agreement().clauses().len()
    )])
}

/// Each expected fingerprint must be the fingerprint (full or short form) of one of the
/// entry's keys; otherwise nothing is written (exit 4: the keys are not the ones the agency
/// vouched for by another channel).
fn check_expected_fingerprints(entry: &AgencyEntry, expected: &[String]) -> Result<(), CliError> {
    let mut keys: Vec<(String, streha_crypto::Fingerprint)> = vec![
        ("node-identity".into(), entry.node_key.fingerprint()),
        ("agency-signing".into(), entry.signing_key.fingerprint()),
        (
            "agency-encryption".into(),
            entry.encryption_key.fingerprint(),
        ),
    ];
    keys.extend(
        entry
            .officers
            .iter()
            .map(|o| (format!("officer {}", o.id), o.key.fingerprint())),
    );
    for fingerprint in expected {
        let found = keys
            .iter()
            .any(|(_, f)| f.to_hex() == *fingerprint || f.short() == *fingerprint);
        if !found {
            let have: Vec<String> = keys
                .iter()
                .map(|(kind, f)| format!("{kind} {}", f.short()))
                .collect();
            return Err(CliError::verification(format!(
                "no key of agency {} has the fingerprint {fingerprint} the agency gave you; the \
                 key files read have: {}. Do not add these keys: get the agency's .pub files \
                 again (nothing was written)",
                entry.id,
                have.join(", ")
            )));
        }
    }
    Ok(())
}

/// Runs `streha roster remove`.
pub(crate) fn remove(args: &RosterRemoveArgs) -> Result<(), CliError> {
    let roster = read_body(&args.roster)?;
    if roster.agency(&args.agency).is_none() {
        return Err(CliError::usage(format!(
            "agency {} is not in {}; `streha roster show {}` lists the agencies",
            args.agency,
            args.roster.display(),
            args.roster.display()
        )));
    }
    let updated = roster
        .without_agency(&args.agency)
        .map_err(|e| CliError::usage(format!("cannot remove {}: {e}", args.agency)))?;
    write_body(&args.roster, &updated, true)?;
    if args.json {
        return util::print_json(&json!({
            "roster": args.roster.display().to_string(),
            "action": "removed",
            "agency": args.agency.as_str(),
            "version": updated.version(),
            "signed": false,
            "agencies": updated.agencies().len(),
        }));
    }
    util::print_lines(&[format!(
        "Removed agency {} from {}; sign the roster to publish the change.",
        args.agency,
        args.roster.display()
    )])
}

/// Runs `streha roster sign`.
pub(crate) fn sign(args: &RosterSignArgs) -> Result<(), CliError> {
    let roster = read_body(&args.roster)?;
    let AnySecretKey::Roster(key) = util::load_secret(&args.key, KeyKind::Roster)? else {
        unreachable!("load_secret checked the kind")
    };
    if roster.agencies().is_empty() {
        return Err(CliError::usage(format!(
            "{} lists no agency; add them with `streha roster add` first",
            args.roster.display()
        )));
    }
    let version = match args.roster_version {
        Some(v) => v,
        None => roster.version().checked_add(1).ok_or_else(|| {
            CliError::usage("the roster's version is at its maximum; pass --roster-version")
        })?,
    };
    util::check_target(&args.out, args.force)?;
    let (signed, note) = sign_roster(&roster, version, util::now(), args.valid_for, &key)?;
    util::write_file(&args.out, note.as_bytes(), PUBLIC_MODE, args.force)?;
    // The body follows the signed version, so the next `sign` bumps again.
    write_body(&args.roster, &signed, true)?;
    if args.json {
        return util::print_json(&json!({
            "roster": args.out.display().to_string(),
            "body": args.roster.display().to_string(),
            "federation": signed.federation(),
            "version": signed.version(),
            "issued_at": signed.issued_at().to_string(),
            "expires_at": signed.expires_at().map(|t| t.to_string()),
            "signed": true,
            "agencies": signed.agencies().len(),
            "agreement_clauses": signed.agreement().clauses().len(),
            "roster_key": key.public_key().fingerprint().to_hex(),
        }));
    }
    util::print_lines(&[
        format!(
            "Signed roster version {} of federation `{}` ({} agencies, {} agreement clauses) \
             with roster key {}, valid until {}; wrote {}.",
            signed.version(),
            signed.federation(),
            signed.agencies().len(),
            signed.agreement().clauses().len(),
            key.public_key().fingerprint().short(),
            signed.expires_at().map_or_else(
                || "revoked by a newer version (no end)".to_owned(),
                |t| t.to_string()
            ),
            args.out.display()
        ),
        "Next: give it to at least one node's operator (install it as the roster file, then \
         SIGHUP); nodes pass a newer roster on to their peers. Only a newer version replaces \
         the one in use. Sign the next version before this one expires."
            .into(),
    ])
}

/// Runs `streha roster verify`.
pub(crate) fn verify(args: &RosterVerifyArgs) -> Result<(), CliError> {
    let key = load_roster_key(&args.roster_key)?;
    let roster = open_signed(&args.roster, &key)?;
    if args.json {
        let mut value = summary_json(&roster);
        value["verified"] = json!(true);
        return util::print_json(&value);
    }
    util::print_lines(&[format!(
        "{}: valid roster of federation `{}`, version {}, issued {}, {} agencies, signed by \
         roster key {}.",
        args.roster.display(),
        roster.federation(),
        roster.version(),
        roster.issued_at(),
        roster.agencies().len(),
        key.fingerprint().short()
    )])
}

/// Runs `streha roster show`.
pub(crate) fn show(args: &RosterShowArgs) -> Result<(), CliError> {
    let text = util::read_text(&args.roster, MAX_ROSTER_LEN, "roster")?;
    let (roster, state) = match (&args.roster_key, SignedNote::parse(&text)) {
        (Some(key_file), _) => {
            let key = load_roster_key(key_file)?;
            (
                open_signed(&args.roster, &key)?,
                "signed, signature verified",
            )
        }
        (None, Ok(note)) => (
            Roster::from_unsigned_body(note.body())
                .map_err(|e| CliError::usage(format!("{}: {e}", args.roster.display())))?,
            "signed, signature NOT checked (pass --roster-key to check it)",
        ),
        (None, Err(_)) => (read_body(&args.roster)?, "unsigned body"),
    };
    if args.json {
        let mut value = summary_json(&roster);
        value["state"] = json!(state);
        return util::print_json(&value);
    }
    let mut lines = vec![
        format!("roster: {} ({state})", args.roster.display()),
        format!("federation: {}", roster.federation()),
        format!("version: {}", roster.version()),
        format!("issued: {}", roster.issued_at()),
        format!(
            "expires: {}",
            roster
                .expires_at()
                .map_or_else(|| "never".to_owned(), |t| t.to_string())
        ),
        format!("agencies: {}", roster.agencies().len()),
    ];
    for agency in roster.agencies() {
        lines.push(format!(
            "  {} ({}) at {}: node {}, signing {}, encryption {}",
            agency.id,
            agency.role,
            agency.address,
            agency.node_key.fingerprint().short(),
            agency.signing_key.fingerprint().short(),
            agency.encryption_key.fingerprint().short()
        ));
        for officer in &agency.officers {
            lines.push(format!(
                "    officer {}: {}",
                officer.id,
                officer.key.fingerprint().short()
            ));
        }
    }
    lines.push(format!(
        "agreement clauses: {}",
        roster.agreement().clauses().len()
    ));
    for clause in roster.agreement().clauses() {
        lines.push(format!(
            "  {}: to {} — {} for {}",
            clause.id(),
            clause.recipient(),
            clause.categories(),
            clause.purposes()
        ));
    }
    util::print_lines(&lines)
}

/// An agency's entry for `--json`: ids, role, address, and the keys' full fingerprints.
fn agency_json(a: &AgencyEntry) -> serde_json::Value {
    json!({
        "id": a.id.as_str(),
        "role": a.role.as_str(),
        "address": a.address,
        "node_key": a.node_key.fingerprint().to_hex(),
        "signing_key": a.signing_key.fingerprint().to_hex(),
        "encryption_key": a.encryption_key.fingerprint().to_hex(),
        "officers": a.officers.iter().map(|o| json!({
            "id": o.id.as_str(),
            "key": o.key.fingerprint().to_hex(),
        })).collect::<Vec<_>>(),
    })
}

fn summary_json(roster: &Roster) -> serde_json::Value {
    json!({
        "federation": roster.federation(),
        "version": roster.version(),
        "issued_at": roster.issued_at().to_string(),
        "expires_at": roster.expires_at().map(|t| t.to_string()),
        "agencies": roster.agencies().iter().map(agency_json).collect::<Vec<_>>(),
        "agreement": roster.agreement().clauses().iter().map(|c| json!({
            "id": c.id().as_str(),
            "recipient": c.recipient().as_str(),
            "categories": c.categories().iter().map(|x| x.as_str()).collect::<Vec<_>>(),
            "purposes": c.purposes().iter().map(|x| x.as_str()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}
