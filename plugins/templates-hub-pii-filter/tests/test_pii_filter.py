"""The pii filter, loaded through its ``templates_hub`` entry point (skipped when not installed)."""

from __future__ import annotations

import pickle

import pytest

pytest.importorskip("templates_hub_pii_filter")

from templates_hub_pii_filter.detectors import find_card, find_email, find_iban, find_phone, luhn_ok  # noqa: E402

from templates_hub.errors import ConfigError  # noqa: E402
from templates_hub.filters import apply_filters, build_filter  # noqa: E402
from templates_hub.schemas import features  # noqa: E402


@pytest.fixture
def pii(monkeypatch):
    """Load only this plugin's entry point (entry points are not loaded automatically under pytest)."""
    from templates_hub import plugins

    monkeypatch.setenv("TEMPLATES_HUB_LOAD_PLUGINS", "pii")
    plugins.load_plugins()
    plugins.load_entrypoint_plugins()
    yield plugins
    plugins.unregister_plugin("pii")


def conv(user, answer="Thanks, noted."):
    msg = dict(tool_calls=None, reasoning=None, train=None)
    return {"messages": [{"role": "user", "content": user, **msg}, {"role": "assistant", "content": answer, **msg}],
            "tools": None}


def run(rows, **params):
    from datasets import Dataset

    data = Dataset.from_list([{**r, "_row": i + 1} for i, r in enumerate(rows)], features=features("sft"))
    result = apply_filters(data, [{"name": "pii", **params}])
    reasons = {r.row: r.reason for r in result.rejects}
    return [reasons.get(i + 1) for i in range(len(rows))]


def test_loaded_through_the_entry_point(pii):
    entry = pii.get_registry("filters").entry("pii")
    assert entry.plugin == "pii"
    assert pii.DISTRIBUTIONS["pii"][0] == "templates-hub-pii-filter"
    assert "pii" in {d["name"] for d in pii.describe_plugins()}


def test_detects_each_kind_of_personal_data(pii):
    rows = [
        conv("Mail me at jane.doe@example.com please"),
        conv("Call +1 415 555 0132 tomorrow"),
        conv("My card is 4111 1111 1111 1111"),
        conv("Pay to GB82 WEST 1234 5698 7654 32"),
        conv("What is my password again?"),
        conv("我的身份证号是多少？"),
        conv("What is 12345 × 9?", "12345 × 9 = 111105."),
    ]
    got = run(rows)
    assert got[0] == "e-mail address in messages[0] (user): ja****************om"
    assert got[1].startswith("phone number in messages[0] (user)")
    assert got[2].startswith("card number in messages[0] (user)")
    assert got[3].startswith("IBAN in messages[0] (user)")
    assert got[4] == "sensitive term 'password' in messages[0] (user)"
    assert got[5] == "sensitive term '身份证号' in messages[0] (user)"
    assert got[6] is None


def test_parameters(pii, tmp_path):
    rows = [conv("Mail me at jane.doe@example.com"), conv("Project Bluebird ships soon"), conv("my password")]
    assert run(rows, detect=["words"])[0] is None
    assert run(rows, roles=["assistant"]) == [None, None, None]
    words = tmp_path / "terms.txt"
    words.write_text("project bluebird\n", encoding="utf-8")
    assert run(rows, detect=["words"], words_file=str(words))[1] == "sensitive term 'project bluebird' in messages[0] (user)"
    assert run(rows, detect=["words"], builtin_words=False, custom_words=["bluebird"])[2] is None
    with pytest.raises(ConfigError, match="filters\\[0\\].detect"):
        build_filter({"name": "pii", "detect": ["ssn"]}, where="filters[0]")
    with pytest.raises(ConfigError, match="unknown parameter"):
        build_filter({"name": "pii", "detekt": ["email"]})
    flt = build_filter({"name": "pii", "custom_words": ["x-ray"]})
    assert pickle.loads(pickle.dumps(flt)).check(conv("an x-ray image")) is not None


def test_numbers_that_are_not_personal_data():
    assert find_phone("The answer is 123456789.") is None  # no separators
    assert find_phone("It cost 1 000 000 000 yen") is None  # thousands separators
    assert find_phone("On 2024-03-05 at 10:30") is None
    assert find_phone("(020) 7946 0958") and find_phone("138-0013-8000")
    assert find_card("4111 1111 1111 1112") is None and luhn_ok("4111111111111111")
    assert find_iban("GB82 WEST 1234 5698 7654 33") is None  # wrong check digits
    assert find_iban("DE89370400440532013000") == "DE89370400440532013000"
    assert find_email("a@b") is None and find_email("x@mail.example.org") == "x@mail.example.org"
