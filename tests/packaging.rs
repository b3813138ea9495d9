//! The packaging files: the systemd unit checked by `systemd-analyze verify` (skipped with a
//! message when systemd is absent; scripts/install-test-deps.sh installs it), the default config
//! accepted by the server's own checks, and the deb metadata naming what the package installs.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_systemd_unit_verifies_cleanly() {
    let unit = std::fs::read_to_string(root().join("packaging/lineshard.service")).unwrap();
    for needed in [
        "LimitMEMLOCK=infinity",
        "LimitNOFILE=1048576",
        "User=lineshard",
        "ExecStart=/usr/bin/lineshard --config /etc/lineshard/lineshard.toml",
        "TimeoutStopSec=",
    ] {
        assert!(unit.contains(needed), "the unit lacks {needed}");
    }
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "SKIPPED: systemd-analyze is missing (scripts/install-test-deps.sh installs systemd)"
        );
        return;
    }
    // verify also checks that ExecStart's binary exists: point it at the one just built (the
    // only change), under the unit's own name.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lineshard.service");
    let unit = unit.replace("/usr/bin/lineshard", env!("CARGO_BIN_EXE_lineshard"));
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    // Unknown keys and bad values are only warnings for verify's exit status.
    let about_unit: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("lineshard.service"))
        .collect();
    assert!(about_unit.is_empty(), "{text}");
}

#[test]
fn the_packaged_config_is_valid_and_points_at_the_package_paths() {
    let out = Command::new(env!("CARGO_BIN_EXE_lineshard"))
        .args(["--config"])
        .arg(root().join("packaging/lineshard.toml"))
        .arg("--print-config")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("dir = \"/var/lib/lineshard\""), "{text}");
    assert!(text.contains("shutdown-timeout = \"5s\""), "{text}");
}

#[test]
fn the_deb_metadata_installs_the_binary_config_and_unit() {
    let toml: toml::Value =
        toml::from_str(&std::fs::read_to_string(root().join("Cargo.toml")).unwrap()).unwrap();
    let deb = &toml["package"]["metadata"]["deb"];
    let assets = deb["assets"].as_array().unwrap();
    let targets: Vec<&str> = assets.iter().filter_map(|a| a[1].as_str()).collect();
    assert!(targets.contains(&"usr/bin/"), "{targets:?}");
    assert!(
        targets.contains(&"etc/lineshard/lineshard.toml"),
        "{targets:?}"
    );
    assert_eq!(
        deb["systemd-units"]["unit-name"].as_str(),
        Some("lineshard")
    );
    for script in ["postinst", "postrm"] {
        let text = std::fs::read_to_string(root().join("packaging/debian").join(script)).unwrap();
        assert!(text.contains("#DEBHELPER#"), "{script}");
    }
    let postinst = std::fs::read_to_string(root().join("packaging/debian/postinst")).unwrap();
    assert!(postinst.contains("adduser --system"));
    assert!(postinst.contains("/var/lib/lineshard"));
}
