"""The Python constants must match the generated header exactly."""

import re
from pathlib import Path

import nemo_relay
from nemo_relay import Status

HEADER = Path(__file__).resolve().parents[2] / "include" / "nemo_relay.h"


def header_status_values():
    text = HEADER.read_text()
    return {
        name: int(value)
        for name, value in re.findall(r"\bNEMO_RELAY_STATUS_([A-Z0-9_]+) = (-?\d+)", text)
    }


def test_status_enum_matches_header():
    assert header_status_values() == {s.name: s.value for s in Status}


def test_abi_version_matches_header_and_library():
    match = re.search(r"#define NEMO_RELAY_ABI_VERSION (\d+)", HEADER.read_text())
    assert match, "header lacks NEMO_RELAY_ABI_VERSION"
    assert nemo_relay.ABI_VERSION == int(match.group(1))
    assert nemo_relay.abi_version() == nemo_relay.ABI_VERSION


def test_version_matches_header():
    match = re.search(r'#define NEMO_RELAY_VERSION "([^"]+)"', HEADER.read_text())
    assert nemo_relay.version() == match.group(1)


def test_status_names_come_from_the_library():
    for status in Status:
        assert nemo_relay.status_name(status) == f"NEMO_RELAY_STATUS_{status.name}"
