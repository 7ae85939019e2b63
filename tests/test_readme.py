"""The README's examples run: the pytest cassette example, as written, in a fresh test session
(and, with the other role, the miss that says which role to use)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def readme_block(after: str, lang: str = "python") -> str:
    """The first ``lang`` code block of the README after the line containing ``after``."""
    text = README.read_text(encoding="utf-8")
    start = text.index(after)
    found = re.compile(rf"```{lang}\n(.*?)```", re.S).search(text, start)
    assert found is not None, f"no {lang} block after {after!r}"
    return found.group(1)


PYTEST_EXAMPLE = "**Turn it into a cassette and a CI test:**"


def _session(pytester: pytest.Pytester, code: str) -> pytest.RunResult:
    example = re.search(r'@pytest.mark.cassette\("([^"]+)"', code)
    assert example is not None
    shutil.copytree(ROOT / example.group(1), pytester.path / example.group(1))
    pytester.makepyfile(test_example=code)
    return pytester.runpytest("-p", "no:cacheprovider")


def test_the_pytest_cassette_example_passes_as_written(pytester: pytest.Pytester) -> None:
    _session(pytester, readme_block(PYTEST_EXAMPLE)).assert_outcomes(passed=1)


def test_the_example_with_the_other_role_misses_and_names_the_right_one(
    pytester: pytest.Pytester,
) -> None:
    code = readme_block(PYTEST_EXAMPLE).replace('role="gateway"', 'role="upstream"')
    result = _session(pytester, code)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(['*client leg (what the recorded client sent)*role="gateway"*'])


def test_the_in_process_variant_in_its_comment_passes(pytester: pytest.Pytester) -> None:
    """The example's comment says how to replay without a socket: that line, put in place of
    the client, passes too (it named ``httpx.Client``, which anthropic 2 refuses)."""
    code = readme_block(PYTEST_EXAMPLE)
    variant = re.search(r"# in-process, no socket: (anthropic\.Anthropic\(.*\))\n", code)
    assert variant is not None and "..." not in variant.group(1)
    client = re.search(r"client = anthropic\.Anthropic\(base_url=cassette\.url.*\)\n", code)
    assert client is not None
    code = code.replace(client.group(0), f"client = {variant.group(1)}\n")
    _session(pytester, "import httpx2\n" + code).assert_outcomes(passed=1)
