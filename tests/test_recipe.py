"""Recipes: YAML 1.2 scalars, errors with YAML paths and line numbers, overrides, relative paths, schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from templates_hub.errors import ConfigError, UsageError
from templates_hub.export.config import ExportConfig
from templates_hub.recipe import (
    Recipe,
    apply_overrides,
    line_of,
    load_recipe,
    parse_override,
    parse_yaml,
    recipe_from_data,
)

FIXTURES = Path(__file__).parent / "fixtures" / "recipes"


def write(tmp_path: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = "data:\n  path: data.jsonl\n"


# --------------------------------------------------------------------------- errors: paths and lines
def test_every_problem_has_its_yaml_path_and_line():
    with pytest.raises(ConfigError) as err:
        load_recipe(FIXTURES / "bad.yaml")
    problems = dict(err.value.problems)
    assert problems["data.num_proc"] == "must be an integer (got 'no')"
    assert problems["filters[2].min"].startswith("must be >= 0 (got -1)")
    assert "did you mean 'match'" in problems["filters[3].mtach"]
    assert "unknown filter 'no_such_filter'" in problems["filters[4].name"]
    assert "did you mean 'default_system'" in problems["template.default_sytem"]
    assert "'alpaca' or 'sharegpt'" in problems["export.layout"]
    text = str(err.value)
    src = str(FIXTURES / "bad.yaml")
    for line, path in [(5, "data.num_proc"), (11, "filters[2].min"), (14, "filters[3].mtach"),
                       (15, "filters[4].name"), (21, "template.default_sytem"), (24, "export.layout")]:
        assert f"{src}:{line}: {path}: " in text, (line, path, text)
    assert text.index(":5: data.num_proc") < text.index(":24: export.layout")  # in file order


def test_model_validator_problem_is_located(tmp_path):
    path = write(tmp_path, MINIMAL + "split:\n  seed: 1\n  val_size: 1.5\n")
    with pytest.raises(ConfigError) as err:
        load_recipe(path)
    assert err.value.problems == [("split.val_size", "a fraction must be in [0, 1); write a row count as an integer")]
    assert f"{path}:5: split.val_size: a fraction" in str(err.value)


@pytest.mark.parametrize(
    "text,path,line,message",
    [
        ("data: {}\n", "data.path", 1, "required"),
        ("name: x\n", "data", 1, "required key is missing"),
        (MINIMAL + "filterz: []\n", "filterz", 3, "unknown key (did you mean 'filters'?)"),
        (MINIMAL + "filters:\n  - {min: 3}\n", "filters[0].name", 4, "required key is missing"),
        (MINIMAL + "filters:\n  - name: response_length\n    min: 3\n    unit: tokens\n", "filters[0].unit", 6,
         "needs a tokenizer"),
        (MINIMAL + "export:\n  - out_dir: a\n  - layout: csv\n", "export[1].layout", 5, "'alpaca' or 'sharegpt'"),
        (MINIMAL + "preprocess:\n  cutoff_len: 0\n", "preprocess.cutoff_len", 4, "must be >= 1"),
        (MINIMAL + "split:\n  stratify: length\n  bucket_width: 0\n", "split.bucket_width", 5, "must be >= 1"),
    ],
)
def test_located_errors(tmp_path, text, path, line, message):
    file = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_recipe(file)
    assert any(p == path and message in m for p, m in err.value.problems), err.value.problems
    assert f"{file}:{line}: {path}: " in str(err.value)


def test_yaml_syntax_error_and_duplicate_keys(tmp_path):
    with pytest.raises(ConfigError, match=r"recipe.yaml:3: invalid YAML"):
        load_recipe(write(tmp_path, "data:\n  path: a\n  - b\n"))
    with pytest.raises(ConfigError) as err:
        load_recipe(write(tmp_path, "data:\n  path: a.jsonl\nsplit:\n  seed: 1\n  seed: 2\n"))
    assert err.value.problems == [("split.seed", "key written twice (lines 4 and 5); the second would win")]
    assert "recipe.yaml:5: split.seed" in str(err.value)


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        load_recipe(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="a recipe is a mapping"):
        load_recipe(write(tmp_path, "- a\n- b\n"))


# --------------------------------------------------------------------------- YAML 1.2 scalars
def test_yaml_12_scalars():
    data, _ = parse_yaml("a: no\nb: on\nc: 010\nd: 1e-3\ne: 2024-01-02\nf: true\ng: False\nh: 0x1f\ni: .inf\nj: ~\n")
    assert data == {"a": "no", "b": "on", "c": 10, "d": 0.001, "e": "2024-01-02", "f": True, "g": False,
                    "h": 31, "i": float("inf"), "j": None}


def test_yaml_11_boolean_never_becomes_a_number(tmp_path):
    with pytest.raises(ConfigError, match="must be an integer \\(got 'no'\\)"):
        load_recipe(write(tmp_path, MINIMAL + "split:\n  seed: no\n"))
    recipe = load_recipe(write(tmp_path, "name: no\n" + MINIMAL))
    assert recipe.name == "no"


def test_line_of_walks_mappings_and_sequences():
    _, node = parse_yaml("a:\n  b:\n    - x\n    - {c: 1}\n")
    assert line_of(node, ["a", "b", 1, "c"]) == 4
    assert line_of(node, ["a", "missing"]) == 2  # deepest existing node


# --------------------------------------------------------------------------- overrides
def test_apply_overrides_parses_yaml_values_and_creates_paths():
    data = {"data": {"path": "x"}, "filters": [{"name": "response_length", "min": 6}]}
    out = apply_overrides(data, ["split.seed=7", "filters[0].min=3", "filters[1]=empty_turns",
                                 "data.streaming=true", "name=my run", "template.default_system=", "data.options={a: 1}"])
    assert out["split"] == {"seed": 7} and out["filters"][0]["min"] == 3 and out["filters"][1] == "empty_turns"
    assert out["data"]["streaming"] is True and out["name"] == "my run" and out["template"] == {"default_system": None}
    assert out["data"]["options"] == {"a": 1}
    assert data["filters"][0]["min"] == 6 and "split" not in data  # the input is not modified
    assert parse_override("filters[0].words=[a, 'b c']") == (["filters", 0, "words"], ["a", "b c"])


@pytest.mark.parametrize(
    "override,message",
    [
        ("split.seed", "expected KEY=VALUE"),
        ("=3", "expected KEY=VALUE"),
        ("filters[5].min=3", "has 1 entries; index 5 is out of range"),
        ("data.path.x=1", "data.path is not a mapping"),
        ("data[0]=1", "data is not a list"),
        ("a..b=1", "cannot parse key path"),
    ],
)
def test_bad_overrides(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        apply_overrides({"data": {"path": "x"}, "filters": [{"name": "a"}]}, [override])


def test_override_errors_name_the_override(tmp_path):
    file = write(tmp_path, MINIMAL + "split:\n  seed: 1\n")
    with pytest.raises(ConfigError) as err:
        load_recipe(file, ["split.val_size=2.5"])
    assert "--set split.val_size=2.5: split.val_size" in str(err.value)
    recipe = load_recipe(file, ["split.seed=7", "filters[0].name=exact_dedup"])
    assert recipe.split.seed == 7 and recipe.filters[0].name == "exact_dedup"



@pytest.mark.parametrize(
    "override,problem",
    [
        ("colour.x=1", "colour: unknown key"),  # the override made the key; no line of the file is at fault
        ("template.default_system=hi", "template.name: required key is missing"),  # made a template section
        ("tokenizer.path=x", "tokenizer: must be a string"),
    ],
)
def test_problems_of_keys_an_override_created_name_the_override(tmp_path, override, problem):
    file = write(tmp_path, MINIMAL + "split:\n  seed: 1\n")
    with pytest.raises(ConfigError) as err:
        load_recipe(file, [override])
    assert f"--set {override}: {problem}" in str(err.value)
    assert f"{file}:" not in str(err.value)


def test_override_inside_a_bare_name_section(tmp_path):
    file = write(tmp_path, MINIMAL + "filters:\n  - empty_turns\ntemplate: qwen\n")
    recipe = load_recipe(file, ["filters[0].roles=[user]", "template.default_system=Be brief."])
    assert recipe.filters[0].name == "empty_turns" and recipe.filters[0].params() == {"roles": ["user"]}
    assert recipe.template is not None and recipe.template.name == "qwen"
    assert recipe.template.default_system == "Be brief."


def test_override_value_that_yaml_reads_as_a_comment_is_kept_as_text():
    assert parse_override("template.default_system=#1 rule: be brief")[1] == "#1 rule: be brief"
    assert parse_override("split.seed=null # reset")[1] is None
    assert parse_override("split.seed=~")[1] is None

# --------------------------------------------------------------------------- relative paths and sections
def test_relative_paths_resolve_against_the_recipe_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the fixture directory
    recipe = load_recipe(FIXTURES / "valid.yaml")
    assert recipe.data.path == str((FIXTURES / "data" / "tiny.jsonl").resolve())
    assert recipe.filters[1].params()["file"] == str((FIXTURES / "data" / "words.txt").resolve())
    assert recipe.template.name == str(FIXTURES / "templates" / "custom.yaml")  # a file name, even if missing
    assert recipe.tokenizer == "tiny"  # a name, not a path
    assert [e.out_dir for e in recipe.exports()] == [str(FIXTURES / "exports" / "lf"), str(FIXTURES / "exports" / "trl")]
    assert recipe.train.output_dir == str(FIXTURES / "runs" / "tiny")
    assert recipe.name == "valid" and recipe.source == (FIXTURES / "valid.yaml").resolve()
    assert recipe.base_dir == FIXTURES.resolve()
    # overrides are relative to where the command runs
    (tmp_path / "other.jsonl").write_text("{}\n")
    overridden = load_recipe(FIXTURES / "valid.yaml", ["data.path=other.jsonl"])
    assert overridden.data.path == str(tmp_path / "other.jsonl")


def test_hub_ids_and_template_names_are_left_alone(tmp_path):
    recipe = load_recipe(write(tmp_path, "data:\n  path: tatsu-lab/alpaca\ntemplate: qwen\ntokenizer: Qwen/Qwen2.5-0.5B\n"))
    assert recipe.data.path == "tatsu-lab/alpaca" and recipe.template.name == "qwen"
    assert recipe.tokenizer == "Qwen/Qwen2.5-0.5B"


def test_sections_and_helpers(tmp_path):
    recipe = load_recipe(FIXTURES / "valid.yaml")
    assert recipe.preprocess.cutoff_len == 512 and recipe.split.val_size == 2 and recipe.split.seed == 7
    assert all(isinstance(e, ExportConfig) for e in recipe.exports()) and recipe.exports()[1].target == "trl"
    assert [type(f).name for f in recipe.build_filters()] == ["response_length", "blocklist", "exact_dedup"]
    assert recipe.needs_tokenizer() is False
    single = load_recipe(write(tmp_path, MINIMAL + "export:\n  out_dir: out\n"))
    assert isinstance(single.export, ExportConfig) and len(single.exports()) == 1
    options = Recipe.model_validate({"data": {"path": "x"}, "template": {"name": "qwen", "default_system": "S"},
                                     "preprocess": {"mask_history": True}})
    render = options.template.render_options(options.preprocess)
    assert render.default_system == "S" and render.mask_history is True
    assert load_recipe(write(tmp_path, MINIMAL)).split is None  # no split section: no split


def test_dataset_info_source(tmp_path):
    recipe = recipe_from_data({"data": {"dataset_info": ".", "dataset": "alpaca_en_demo"}}, source=tmp_path / "r.yaml")
    assert recipe.data.source is None and recipe.data.dataset_info == str(tmp_path)
    assert recipe.data.load_kwargs()["dataset"] == "alpaca_en_demo"
    with pytest.raises(ConfigError, match="data.dataset_info: required with `dataset`"):
        recipe_from_data({"data": {"dataset": "x"}})


# --------------------------------------------------------------------------- JSON Schema
def test_recipe_json_schema_is_published_and_current(repo_root):
    from templates_hub.schemas import json_schemas

    schema = json_schemas()["recipe.schema.json"]
    assert {"data", "filters", "split", "template", "tokenizer", "preprocess", "export", "train"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False
    published = repo_root / "schemas" / "recipe.schema.json"
    assert published.is_file(), "run `templates-hub schema --out schemas/`"
    current = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    assert published.read_text(encoding="utf-8") == current, "stale: run `templates-hub schema --out schemas/`"


def test_examples_are_valid_recipes(repo_root):
    for path in sorted((repo_root / "examples").glob("*.yaml")):
        load_recipe(path)


def test_docs_cover_every_key(repo_root):
    from templates_hub.recipe import DataConfig, TemplateConfig
    from templates_hub.split import SplitConfig

    text = (repo_root / "docs" / "recipes.md").read_text(encoding="utf-8")
    for model in (Recipe, DataConfig, SplitConfig, TemplateConfig):
        for key in model.model_fields:
            assert f"`{key}`" in text, f"docs/recipes.md does not document {model.__name__}.{key}"
