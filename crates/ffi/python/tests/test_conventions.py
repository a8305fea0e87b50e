"""The C ABI conventions as seen from Python: errors, strings, threads."""

import threading

import pytest

import nemo_relay
from nemo_relay import RelayError, Status, _api, _ffi, _loader


def test_normalize_json_returns_compact_text():
    assert nemo_relay.normalize_json(' [1, {"k" : "v"} ] ') == '[1,{"k":"v"}]'


@pytest.mark.parametrize(
    "call, code, fragment",
    [
        (lambda: nemo_relay.normalize_json("{"), Status.INVALID_JSON, "not valid JSON"),
        (lambda: nemo_relay.normalize_json(b'"\xff"'), Status.INVALID_UTF8, "UTF-8"),
        (lambda: _api._normalize_raw(None), Status.NULL_POINTER, "`json`"),
        (lambda: nemo_relay.normalize_json("1\x002"), Status.INVALID_ARGUMENT, "NUL byte"),
        (_api._debug_panic, Status.PANIC, "nemo_relay_debug_panic was called"),
    ],
    ids=["invalid-json", "invalid-utf8", "null-input", "nul-in-str", "panic"],
)
def test_failures_raise_relay_error_with_code(call, code, fragment):
    with pytest.raises(RelayError) as info:
        call()
    assert info.value.code == code
    assert isinstance(info.value.code, Status)
    assert fragment in info.value.message
    assert f"NEMO_RELAY_STATUS_{code.name}" in str(info.value)


def test_success_clears_the_last_error():
    lib = _ffi.lib()
    with pytest.raises(RelayError):
        nemo_relay.normalize_json("{")
    assert lib.nemo_relay_last_error_code() == Status.INVALID_JSON
    nemo_relay.normalize_json("null")
    assert lib.nemo_relay_last_error() is None
    assert lib.nemo_relay_last_error_code() == Status.OK


def test_unknown_codes_stay_integers():
    err = RelayError(4242, "from a newer library")
    assert err.code == 4242 and not isinstance(err.code, Status)
    assert "NemoRelayStatus(4242)" in str(err)


def test_library_strings_round_trip_and_free():
    lib = _ffi.lib()
    ptr = lib.nemo_relay_string_new(b"hello world", 5)
    assert _ffi.take_string(ptr) == "hello"
    lib.nemo_relay_string_free(None)  # NULL is a no-op


def test_last_error_is_per_thread():
    results = {}

    def worker(index):
        text = "{" if index % 2 else "[1]"
        for _ in range(200):
            try:
                nemo_relay.normalize_json(text)
                outcome = Status.OK
            except RelayError as err:
                outcome = err.code
            expected = Status.INVALID_JSON if index % 2 else Status.OK
            if outcome != expected:
                results[index] = outcome
                return

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {}


def test_loader_honours_env_and_reports_missing_files(tmp_path):
    found = _loader.find_library()  # whatever this test run is configured with
    assert found.name == _loader.library_file_name()
    with pytest.raises(FileNotFoundError, match="NEMO_RELAY_LIB"):
        _loader.find_library({"NEMO_RELAY_LIB": str(tmp_path / "missing.so")})
    with pytest.raises(FileNotFoundError, match="cargo build -p nemo-relay-ffi"):
        _loader.find_library({"CARGO_TARGET_DIR": str(tmp_path)})
    assert _loader.find_library({"NEMO_RELAY_LIB": str(found)}) == found
