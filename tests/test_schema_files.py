"""schemas/*.json at the repository root must match the Pydantic models (regenerate with
``templates-hub schema --out schemas/``)."""

from __future__ import annotations

import json
from pathlib import Path

from templates_hub.cli import main
from templates_hub.schemas import json_schemas

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
FIX = "regenerate them with `templates-hub schema --out schemas/`"


def test_the_set_of_schema_files_matches_the_models():
    expected = set(json_schemas())  # recipe.schema.json appears once templates_hub.recipe imports
    on_disk = {p.name for p in SCHEMAS.glob("*.json")}
    assert on_disk == expected, f"missing {sorted(expected - on_disk)}, extra {sorted(on_disk - expected)}: {FIX}"


def test_schema_files_are_not_stale(cli_runner):
    result = cli_runner.invoke(main, ["schema", "--out", str(SCHEMAS), "--check"])
    assert result.exit_code == 0, f"{result.output}\n{FIX}"
    for name, schema in json_schemas().items():
        assert json.loads((SCHEMAS / name).read_text(encoding="utf-8")) == schema, f"{name} is stale: {FIX}"


def test_schema_files_describe_the_canonical_rows():
    conversation = json.loads((SCHEMAS / "conversation.schema.json").read_text(encoding="utf-8"))
    assert conversation["required"] == ["messages"]
    message = conversation["$defs"]["Message"]
    assert set(message["properties"]) == {"role", "content", "tool_calls", "reasoning", "train"}
    assert message["properties"]["role"]["enum"] == ["system", "user", "assistant", "tool"]
    assert message["additionalProperties"] is False


def test_check_exits_1_on_a_stale_or_missing_file(cli_runner, tmp_path):
    assert cli_runner.invoke(main, ["schema", "--out", str(tmp_path)]).exit_code == 0
    assert cli_runner.invoke(main, ["schema", "--out", str(tmp_path), "--check"]).exit_code == 0
    (tmp_path / "message.schema.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "kto.schema.json").unlink()
    result = cli_runner.invoke(main, ["schema", "--out", str(tmp_path), "--check"])
    assert result.exit_code == 1
    assert "message.schema.json" in result.output and "kto.schema.json" in result.output
