import os
import sys

from hypothesis import settings

sys.path.insert(0, os.path.dirname(__file__))

# algo="auto" in the tests reads a pinned decision table, not whatever results/<device-id>/ holds
# today: a fresh `convlab decide` (or a board's table under CONVLAB_DEVICE_ID) must not change what
# the tests exercise. fixtures/decision.json is a copy of the Zen 4 table of 0cb263d; convlab.selection
# reads CONVLAB_DECISION_TABLE at each lookup, subprocesses inherit it. Tests of the table lookup
# itself override it with monkeypatch.
PINNED_DECISION_TABLE = os.path.join(os.path.dirname(__file__), "fixtures", "decision.json")
os.environ["CONVLAB_DECISION_TABLE"] = PINNED_DECISION_TABLE
settings.register_profile("ci", deadline=None, print_blob=True)
settings.load_profile("ci")
