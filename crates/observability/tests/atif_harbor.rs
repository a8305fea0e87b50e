//! The trajectory files pass Harbor's own ATIF models (PyPI `atif`).
//!
//! Runs `scripts/validate_atif.py` on files written for the shared agent
//! run. Needs `python3` with `pip install atif`; without them the test says
//! so and passes, unless `NEMO_RELAY_REQUIRE_ATIF=1` (set it in CI) makes a
//! missing validator a failure.

mod support;

use std::process::Command;

use nemo_relay_core::Runtime;
use nemo_relay_observability::atif::{AtifConfig, AtifExporter};
use support::{agent_run, scratch_dir};

fn validator_available() -> bool {
    Command::new("python3")
        .args(["-c", "import atif"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn written_trajectories_validate_against_harbors_models() {
    if !validator_available() {
        assert!(
            std::env::var("NEMO_RELAY_REQUIRE_ATIF").is_err(),
            "python3 with the 'atif' package is required (pip install atif)"
        );
        eprintln!("skipping: python3 with the 'atif' package is not installed");
        return;
    }
    let dir = scratch_dir("atif-harbor");
    for include_raw_events in [false, true] {
        let rt = Runtime::new();
        let atif = AtifExporter::new(AtifConfig {
            output_directory: Some(dir.clone()),
            include_raw_events,
            ..Default::default()
        })
        .unwrap();
        atif.register(&rt).unwrap();
        agent_run(&rt);
        atif.shutdown().unwrap();
        assert_eq!(atif.written_files().len(), 1);
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/validate_atif.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "validator failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("2 passed, 0 failed"), "{stdout}");
}
