//! `streha delivery held` and `streha witness evidence` against a real daemon (this binary
//! started under the name `strehad`): a disclosure held because its subject was re-keyed is
//! listed with its class; a node that witnessed no contradiction keeps no evidence.

mod common;

use std::fs;

use serde_json::Value;

use common::*;

#[test]
fn held_deliveries_and_witness_evidence_from_the_command_line() {
    let ws = Workspace::new();
    ws.roster(free_port(), free_port());
    ok(ws.node_init(SHELTER, free_port()));
    // Only the shelter's node runs: a disclosure to the police waits in its queue.
    let _shelter = Daemon::start(&ws.path(&format!("{SHELTER}.toml")));
    let as_shelter = |args: &[&str]| {
        let profile = format!("{SHELTER}-client.toml");
        let mut all = args.to_vec();
        all.extend_from_slice(&["--profile", profile.as_str()]);
        ws.run(&all)
    };

    let none = json(&ok(as_shelter(&["delivery", "held", "--json"])));
    assert_eq!(none["held"], Value::Array(vec![]), "{none}");
    assert!(ok(as_shelter(&["delivery", "held"])).starts_with("0 held"));

    let v = json(&ok(as_shelter(&[
        "subject", "register", "--age", "adult", "--json",
    ])));
    let subject = v["subject"].as_str().unwrap().to_owned();
    fs::write(ws.path("name.txt"), "cli-test name token").unwrap();
    let sent = json(&ok(as_shelter(&[
        "send",
        "--subject",
        &subject,
        "--to",
        POLICE,
        "--purpose",
        "identification_and_referral",
        "--field",
        "identity:name=@name.txt",
        "--json",
    ])));
    let envelope = sent["envelope"].as_str().unwrap().to_owned();
    ok(as_shelter(&[
        "subject",
        "rekey",
        &subject,
        "--salt-out",
        "salt.txt",
    ]));

    let held = json(&ok(as_shelter(&["delivery", "held", "--json"])));
    let list = held["held"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{held}");
    assert_eq!(list[0]["envelope"], envelope.as_str());
    assert_eq!(list[0]["recipient"], POLICE);
    assert_eq!(list[0]["class"], "rekeyed");
    assert!(
        list[0]["reason"].as_str().unwrap().contains("re-keyed"),
        "{held}"
    );
    let text = ok(as_shelter(&["delivery", "held"]));
    assert!(
        text.contains(&envelope) && text.contains("rekeyed"),
        "{text}"
    );

    let evidence = json(&ok(as_shelter(&["witness", "evidence", "--json"])));
    assert_eq!(evidence["evidence"], Value::Array(vec![]), "{evidence}");
    assert!(ok(as_shelter(&["witness", "evidence"])).starts_with("0 evidence"));
}

#[test]
fn admin_backup_of_a_running_node_and_restore_from_the_command_line() {
    let ws = Workspace::new();
    ws.roster(free_port(), free_port());
    ok(ws.node_init(SHELTER, free_port()));
    let shelter = Daemon::start(&ws.path(&format!("{SHELTER}.toml")));
    let data = format!("{SHELTER}-data");
    let backup = json(&ok(ws.run(&[
        "admin",
        "backup",
        "--data-dir",
        &data,
        "--out",
        "shelter.store",
        "--vault-out",
        "shelter.vault",
        "--json",
    ])));
    assert!(
        backup["origin"].as_str().unwrap().ends_with(SHELTER),
        "{backup}"
    );
    assert!(ws.path("shelter.store").is_file() && ws.path("shelter.vault").is_file());
    // Never overwritten; never inside the data directory.
    let err = fails(
        ws.run(&[
            "admin",
            "backup",
            "--data-dir",
            &data,
            "--out",
            "shelter.store",
            "--vault-out",
            "v2",
        ]),
        1,
    );
    assert!(err.contains("exists already"), "{err}");
    let inside = format!("{data}/inside.store");
    let err = fails(
        ws.run(&[
            "admin",
            "backup",
            "--data-dir",
            &data,
            "--out",
            &inside,
            "--vault-out",
            "v3",
        ]),
        1,
    );
    assert!(err.contains("inside the data directory"), "{err}");
    drop(shelter);

    let restored = json(&ok(ws.run(&[
        "admin",
        "restore",
        "--backup",
        "shelter.store",
        "--vault-backup",
        "shelter.vault",
        "--data-dir",
        "restored",
        "--json",
    ])));
    assert_eq!(restored["size"], backup["size"], "{restored}");
    assert_eq!(restored["recovery_mode"], true);
    assert!(ws.path("restored/restored-from-backup").is_file());
    // Not into a directory that holds anything.
    let err = fails(
        ws.run(&[
            "admin",
            "restore",
            "--backup",
            "shelter.store",
            "--vault-backup",
            "shelter.vault",
            "--data-dir",
            "restored",
        ]),
        1,
    );
    assert!(err.contains("not empty"), "{err}");
}
