"""Token prices and costs."""

from __future__ import annotations

import json

import pytest

from recorder import ir
from recorder.report.prices import Price, PriceList


def test_cost_counts_cache_reads_and_writes_apart_from_fresh_input():
    p = Price(input=3, output=15, cache_read=0.3, cache_write=3.75)
    u = ir.Usage(input_tokens=1_000_000, output_tokens=100_000, cache_read_tokens=600_000,
                 cache_creation_tokens=200_000)  # fmt: skip
    # 200k fresh * 3 + 600k * 0.3 + 200k * 3.75 + 100k * 15, per million
    assert p.cost(u) == pytest.approx(0.6 + 0.18 + 0.75 + 1.5)
    assert Price(1, 2).cost(ir.Usage(cache_read_tokens=10, input_tokens=10)) == pytest.approx(1e-5)


def test_models_match_by_glob_and_unknown_models_have_no_price():
    prices = PriceList()
    assert prices.price("claude-sonnet-4-5-20250929") == Price(3, 15, 0.3, 3.75)
    assert prices.price("anthropic/claude-sonnet-4-5") == Price(3, 15, 0.3, 3.75)
    assert prices.price("gpt-4o-mini-2024-07-18") == Price(0.15, 0.6, 0.075)
    assert prices.price("qwen3:32b") is None and prices.cost("qwen3:32b", ir.Usage(1, 1)) is None
    assert prices.cost("gpt-4o", None) is None


def test_a_price_file_comes_first(tmp_path):
    f = tmp_path / "prices.json"
    f.write_text(json.dumps({"qwen3*": {"input": 0, "output": 0},
                             "claude-sonnet-4*": {"input": 1, "output": 2}}))  # fmt: skip
    prices = PriceList.load(f)
    assert prices.cost("qwen3:32b", ir.Usage(100, 100)) == 0
    assert prices.price("claude-sonnet-4-5") == Price(1, 2)
    assert str(f) in prices.source
    y = tmp_path / "p.yaml"
    y.write_text("local-*:\n  input: 0.5\n  output: 1\n")
    assert PriceList.load(y).price("local-x") == Price(0.5, 1)


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("[]", "mapping"),
        ('{"m": {"input": 1}}', "'m' needs"),
        ('{"m": {"input": "a", "output": 1}}', "numbers"),
    ],
)
def test_a_bad_price_file_names_the_entry(tmp_path, content, error):
    f = tmp_path / "p.json"
    f.write_text(content)
    with pytest.raises(ValueError, match=error):
        PriceList.load(f)
