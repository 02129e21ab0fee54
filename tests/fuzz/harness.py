"""Schemathesis against a running zcontacts: every operation of its own OpenAPI document, with positive and
negative (schema-violating) data, plus stateful runs that follow the document's links (create → get → update →
delete, persons and addresses). Counts cases, server errors (5xx) and responses that violate the document (an
undocumented status, content type, header or body). Used by tests/fuzz/test_fuzz.py (a bounded pass) and by
scripts/fuzz (>= 10,000 cases)."""

from __future__ import annotations

import argparse
import collections
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import hypothesis.errors
import hypothesis.stateful
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
ORGANIZATION_HEADER = "X-com-zoho-expense-organizationid"


@dataclass
class Tally:
    """What a fuzzing run saw."""

    cases: int = 0
    server_errors: int = 0
    schema_violations: int = 0
    stateful_steps: int = 0
    aborted_scenarios: int = 0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)  # the first few, for the report

    def record(self, case: Any, response: Any) -> None:
        """Count one call and check its response against the document."""
        self.cases += 1
        self.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.server_errors += 1
            self._keep(
                f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}"
            )
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            violations = [f for f in group.exceptions if type(f).__name__ != "ServerError"]
            if violations:
                self.schema_violations += 1
                self._keep(f"{case.method} {case.formatted_path} {case.query} {response.request.headers} -> {response.status_code}: {violations[0].title}"
                           f" {str(violations[0].message)[:300]}")  # fmt: skip

    def _keep(self, text: str) -> None:
        if len(self.failures) < 20:
            self.failures.append(text)

    def summary(self) -> str:
        """The counts, as scripts/fuzz prints them."""
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(self.statuses.items()))
        return (
            f"cases: {self.cases} (stateful steps: {self.stateful_steps}, "
            f"runs cut short by Hypothesis: {self.aborted_scenarios})\n"
            f"server errors: {self.server_errors}\n"
            f"schema violations: {self.schema_violations}\n"
            f"statuses: {statuses}"
        )


def fuzz(
    base_url: str, organization_id: str, token: str, *, cases: int, stateful_share: float = 0.25
) -> Tally:
    """At least `cases` calls: the stateless share spread over every operation (half positive, half negative
    data), the rest as stateful scenarios along the links."""
    schema = schemathesis.openapi.from_url(f"{base_url}/docs/openapi.json")
    auth = {"Authorization": f"Zoho-oauthtoken {token}", ORGANIZATION_HEADER: organization_id}
    tally = Tally()
    operations = [result.ok() for result in schema.get_all_operations()]
    with requests.Session() as session:
        session.headers.update(auth)
        stateless_target = int(cases * (1 - stateful_share))
        rounds = 0
        while tally.cases < stateless_target and rounds < 20:
            rounds += 1
            per_operation = max(1, (stateless_target - tally.cases) // (2 * len(operations)) + 1)
            for operation in operations:
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    _run_stateless(operation, mode, per_operation, base_url, session, auth, tally)
        stateful_rounds = 0
        while tally.cases < cases and stateful_rounds < 50:
            stateful_rounds += 1
            _run_stateful(schema, max(1, (cases - tally.cases) // 8), base_url, session, auth, tally)
    return tally


def _settings(examples: int) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=False,
        verbosity=hypothesis.Verbosity.quiet,
    )


def _run_stateless(operation: Any, mode: GenerationMode, examples: int, base_url: str, session: requests.Session,
                   auth: dict[str, str], tally: Tally) -> None:  # fmt: skip
    strategy = operation.as_strategy(generation_mode=mode)

    @_settings(examples)
    @hypothesis.given(case=strategy)
    def run(case: Any) -> None:
        hypothesis.assume(is_http(case))
        headers = {**(case.headers or {}), **auth}
        case.headers = headers
        response = case.call(base_url=base_url, session=session, headers=headers)
        tally.record(case, response)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        pass


def is_http(case: Any) -> bool:
    """False for a case whose header values no HTTP/1.1 message can carry (control characters): the server's
    HTTP parser refuses such a request (400, text/plain) before the API sees it, so it tests nothing of ours."""
    return all(
        not any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in str(value))
        for value in (case.headers or {}).values()
    )


def _run_stateful(schema: Any, examples: int, base_url: str, session: requests.Session, auth: dict[str, str],
                  tally: Tally) -> None:  # fmt: skip
    machine = schema.as_state_machine()

    class Machine(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            hypothesis.assume(is_http(case))
            case.headers = {**(case.headers or {}), **auth}
            return {"base_url": base_url, "session": session, "headers": case.headers}

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            tally.stateful_steps += 1
            tally.record(case, response)

    try:
        hypothesis.stateful.run_state_machine_as_test(
            Machine, settings=hypothesis.settings(_settings(examples), stateful_step_count=8)
        )
    except hypothesis.errors.HypothesisException:
        # The server's state changes under the machine (a name taken by an earlier scenario turns a 201 into a
        # 400), which Hypothesis may call flaky data generation; the steps taken so far were counted.
        tally.aborted_scenarios += 1


def main(argv: list[str] | None = None) -> int:
    """scripts/fuzz: start a server on a fresh database, fuzz it, print the counts (exit 1 on any failure)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument(
        "--database-url", default="", help="default: a fresh SQLite file in a temporary folder"
    )
    args = parser.parse_args(argv)

    import tempfile
    from pathlib import Path

    from tests.e2e.server import Server

    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'fuzz.db'}"
        server = Server(database_url=url, workdir=Path(folder)).start()
        try:
            organization_id, token = server.credentials()
            started = time.monotonic()
            tally = fuzz(server.url, organization_id, token, cases=args.cases)
            elapsed = time.monotonic() - started
        finally:
            server.stop()
    sys.stdout.write(f"{tally.summary()}\ntime: {elapsed:.0f} s\n")
    sys.stdout.writelines(f"  {failure}\n" for failure in tally.failures)
    return 0 if tally.server_errors == 0 and tally.schema_violations == 0 and tally.cases >= args.cases else 1


if __name__ == "__main__":
    sys.exit(main())
