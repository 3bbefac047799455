"""Make the scalar reference ``tests/oracle.py`` importable whatever pytest's import mode, and keep
the tests away from the user's cache folder."""

import os
import sys
import tempfile
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

# Tests never read or fill the user's cache folder (doseesc.cache): a fresh one per session.
os.environ["DOSEESC_CACHE_DIR"] = tempfile.mkdtemp(prefix="doseesc-test-cache-")
