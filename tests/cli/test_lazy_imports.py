"""zcontacts.lazy_imports: a deferred module is not run by an import of it, and works once used."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_app_imports_without_running_the_deferred_modules_which_work_when_used() -> None:
    out = _run(
        """
        import sys
        from zcontacts.lazy_imports import defer
        defer("yaml", "pdb")
        import zcontacts.app  # Litestar imports yaml and pdb
        import yaml
        print("yaml.reader" in sys.modules, "bdb" in sys.modules)
        print(yaml.safe_dump({"a": 1}).strip())
        from yaml import safe_load
        import yaml.constructor
        print(safe_load("b: 2"), yaml.constructor.SafeConstructor.__name__)
        print(sys.modules["yaml"].__name__, callable(sys.modules["pdb"].post_mortem))
        """
    )
    assert out.splitlines() == ["False False", "a: 1", "{'b': 2} SafeConstructor", "yaml True"]


def test_a_module_already_imported_or_missing_is_left_alone() -> None:
    out = _run(
        """
        import json, sys
        from zcontacts.lazy_imports import defer
        defer("json", "zcontacts_no_such_module")
        print(sys.modules["json"] is json, "zcontacts_no_such_module" in sys.modules)
        try:
            import zcontacts_no_such_module
        except ImportError:
            print("missing")
        """
    )
    assert out.splitlines() == ["True False", "missing"]
