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
        ('CASSETTE, colour="red"', "*unknown cassette marker options: colour"),
        # a ValueError deep in the engine, with its traceback; a typo named without a hint
        ('CASSETTE, role="client"', "*cassette role must be 'upstream' or 'gateway', not 'client'"),
        ('CASSETTE, rol="gateway"', "*unknown cassette marker options: rol (did you mean role?)"),
        ('CASSETTE, timing="slow"', "*timing must be instant, recorded or xN*"),
    ],
)
def test_bad_markers_fail_clearly(pytester: pytest.Pytester, marker: str, message: str) -> None:
    """In one line: the test's mistake, not the plugin's code or a traceback."""
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
    assert "def cassette(" not in result.stdout.str() and "Error" not in result.stdout.str()


def test_fixture_without_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(cassette):\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*needs @pytest.mark.cassette*"])


FAULTED = """
import anthropic, httpx2

def claude(cassette):
    return anthropic.Anthropic(api_key="x", base_url="http://replay", max_retries=0,
                               http_client=httpx2.Client(transport=cassette.transport))

@pytest.mark.cassette(CASSETTE, faults=["1=truncate@3", "error@2:overloaded", "status:529"])
def test_matrix(cassette):
    body = dict(BODY1)
    body.pop("stream")
    if cassette.fault is None:
        with claude(cassette).messages.stream(**body) as s:
            assert s.get_final_message().stop_reason == "end_turn"
        claude(cassette).messages.create(**BODY0)
    elif cassette.fault == "1=truncate@3":
        with claude(cassette).messages.stream(**body) as s:
            assert s.get_final_message().stop_reason is None
    elif cassette.fault == "status:529":
        with pytest.raises(anthropic.OverloadedError):
            claude(cassette).messages.create(**BODY0)
    else:
        with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
            with claude(cassette).messages.stream(**body) as s:
                s.get_final_message()
"""


def test_faults_make_one_test_per_fault_plus_the_clean_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HEADER + FAULTED)
    result = pytester.runpytest("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*test_matrix?clean? PASSED*",
            "*test_matrix?1=truncate@3? PASSED*",
            "*test_matrix?error@2:overloaded? PASSED*",
            "*test_matrix?status:529? PASSED*",
        ]
    )


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        ('"truncate@3"', "*cassette faults must be a list of fault specs*"),
        ('["truncate@3", "explode@1"]', "*unknown fault 'explode@1'*"),
    ],
)
def test_faults_that_do_not_parse_stop_collection(
    pytester: pytest.Pytester, faults: str, message: str
) -> None:
    pytester.makepyfile(
        HEADER + f"\n@pytest.mark.cassette(CASSETTE, faults={faults})\ndef test_x(cassette): pass\n"
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])


def test_a_fault_that_does_not_fit_fails_its_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        HEADER
        + """
@pytest.mark.cassette(CASSETTE, faults=["0=truncate@2"], strict=False)
def test_x(cassette):
    pass
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*interaction 0 is not a stream*"])
    result.stdout.no_fnmatch_line("*During handling*")
