"""Makes the package importable from a checkout without installing it, and
checks at the end of the session that the library released every callback."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def pytest_sessionfinish(session, exitstatus):
    import nemo_relay
    from nemo_relay import _callbacks

    nemo_relay.shutdown()
    live = _callbacks.live_user_data()
    if live and exitstatus == 0:
        print(f"\n{live} callbacks were never released by the library", file=sys.stderr)
        session.exitstatus = 1
