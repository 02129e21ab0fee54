"""A database the CLI (and `serve`) cannot open is one line on stderr and exit 2, never a traceback, and the
password in the URL is not shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.e2e.server import free_port
from zcontacts.cli import app


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://zc:s3cret-pw@127.0.0.1:{port}/nowhere",  # nothing listens there
        "sqlite:///{tmp}/a-file/x.db",  # its directory cannot be made: a file is in the way
    ],
)
def test_a_database_that_cannot_be_opened_is_one_line(url: str, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    given = url.format(port=free_port(), tmp=tmp_path)
    for command in (["orgs", "list"], ["serve", "--port", str(free_port())]):
        result = CliRunner().invoke(app, [*command, "--database-url", given])
        assert result.exit_code == 2, (command, result.output)
        assert "error: cannot open the database" in result.output
        assert "Traceback" not in result.output
        assert "s3cret-pw" not in result.output
