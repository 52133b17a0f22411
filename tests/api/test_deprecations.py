"""Building the app raises no deprecation warning of our making: Litestar's deprecations
(inferred dependencies, path parameters, untyped ``data``, old ``Parameter(query=...)``) all come
from how our handlers are declared, and stop working in Litestar 3. Checked in a fresh
interpreter, since module-level declarations warn once, at their first import."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.api_support import ROOT

BUILD_AND_REPORT = """
import json, os, sys, sysconfig, warnings

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from api.app import create_app
    from routeur.settings import Settings

    create_app(Settings(_env_file=None, data_dir=sys.argv[1]))

from litestar.exceptions import LitestarDeprecationWarning

libraries = tuple({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], sysconfig.get_paths()["stdlib"]})


def ours(w):
    if issubclass(w.category, LitestarDeprecationWarning):  # raised by Litestar about our handlers
        return True
    # our modules, or code generated for our declarations (a dataclass __init__ is '<string>')
    where = w.filename
    return issubclass(w.category, DeprecationWarning) and not (where.startswith("<frozen") or os.path.abspath(where).startswith(libraries))


print(json.dumps([f"{w.category.__name__} ({w.filename}:{w.lineno}): {w.message}" for w in caught if ours(w)]))
"""


def test_building_the_app_raises_no_deprecation_warning_of_ours(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", BUILD_AND_REPORT, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
