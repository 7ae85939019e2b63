from __future__ import annotations

import shutil

import pytest

from tests.replay.conftest import ANTHROPIC

pytest_plugins = ["pytester"]

HEADER = f"""
import json, httpx, pytest
CASSETTE = {str(ANTHROPIC)!r}
DOC = json.load(open(CASSETTE + "/cassette.json"))
BODY0, BODY1 = (i["upstream"]["request"]["body"] for i in DOC["interactions"])
"""


def test_fixture_serves_url_and_transport_and_passes_when_fully_played(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        HEADER
        + """
@pytest.mark.cassette(CASSETTE)
def test_both(cassette):
    r = httpx.post(cassette.url + "/v1/messages", json=BODY0)
    assert r.json()["content"][0]["text"] == "Hello!"
    with httpx.Client(transport=cassette.transport) as c:
        assert c.post("http://replay/v1/messages", json=BODY1).status_code == 200
"""
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_not_fully_played_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        HEADER
        + """
@pytest.mark.cassette(CASSETTE)
def test_half(cassette):
    with httpx.Client(transport=cassette.transport) as c:
        assert c.post("http://replay/v1/messages", json=BODY0).status_code == 200

@pytest.mark.cassette(CASSETTE, strict=False)
def test_half_lenient(cassette):
    with httpx.Client(transport=cassette.transport) as c:
        assert c.post("http://replay/v1/messages", json=BODY0).status_code == 200
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*NotFullyPlayedError*", "*#1 (POST /v1/messages*was never played*"]
    )


def test_relative_path_and_gateway_role(pytester: pytest.Pytester) -> None:
    shutil.copytree(ANTHROPIC, pytester.path / "cassettes" / "hello")
    pytester.makepyfile(
        HEADER
        + """
@pytest.mark.cassette("cassettes/hello", role="gateway", repeat=True, strict=False)
def test_gateway(cassette):
    with httpx.Client(transport=cassette.transport) as c:
        for _ in range(2):
            r = c.post("http://replay/v1/messages", json=BODY0)
            assert r.json()["content"][0]["text"] == "Hello!"
"""
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ('"cassettes/missing"', "*does not exist (record='none' replays only)*record='once'*"),
        ('"cassettes/missing", record="once"', "*record='once' needs an upstream*"),
        ('CASSETTE, record="all"', "*record mode must be one of*"),
        ('CASSETTE, colour="red"', "*unknown cassette marker options:*colour*"),
    ],
)
def test_bad_markers_fail_clearly(pytester: pytest.Pytester, marker: str, message: str) -> None:
    pytester.makepyfile(
        HEADER
        + f"""
@pytest.mark.cassette({marker})
def test_x(cassette):
    pass
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])


def test_fixture_without_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(cassette):\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*needs @pytest.mark.cassette*"])
