"""The README stands alone: no pointer into a design document it does not ship, and its tables
of categories and of the `lexicon:` key say what the code does, so they cannot drift."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

import api.schemas
from flows import texts
from flows.config import parse_config
from flows.request_parser import _LIST_SECTIONS, CATEGORIES, parse_request

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")

# What people read: the README, the docs, the labelling guide, the files an operator edits.
READ_BY_PEOPLE = [REPO / "README.md", REPO / "tests" / "data" / "LABELLING.md", REPO / "config.yaml",
                  REPO / "flows" / "lexicon.yaml", *sorted((REPO / "docs").rglob("*.md"))]


def section(title: str) -> str:
    """The README's text under the heading `title`, up to the next heading of any level."""
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#+ )", README, re.S | re.M)
    assert match, f"no section {title!r} in the README"
    return match.group(1)


@pytest.mark.parametrize("path", READ_BY_PEOPLE, ids=lambda path: path.name)
def test_no_reference_to_a_design_document_that_is_not_shipped(path):
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"design\s*§", text), f"{path.name} points into the design document"


def test_the_api_page_points_into_no_design_document():
    schemas = [model.model_json_schema() for model in vars(api.schemas).values()
               if isinstance(model, type) and issubclass(model, BaseModel) and model is not BaseModel]
    assert schemas and "design" not in json.dumps(schemas, ensure_ascii=False)


def test_the_categories_table_lists_exactly_the_codes_the_code_knows_with_their_names():
    rows = re.findall(r"^\| `(\w+)` \| (\S+) \| (.+?) \| (.+?) \|$", section("Categories"), re.M)
    assert [code for code, *_ in rows] == list(CATEGORIES)
    assert {code: name for code, name, *_ in rows} == texts.CATEGORY_NAMES
    assert all(meaning.strip() and examples.strip() for _, _, meaning, examples in rows)


def test_the_urgency_rule_is_in_the_readme():
    categories = section("Categories")
    assert "**Urgent**" in categories and "in danger *now*" in categories


def test_the_lexicon_section_names_every_list_that_can_be_extended():
    lexicon = section("`lexicon:`: words for the request parser")
    for name in _LIST_SECTIONS:
        assert f"`{name}`" in lexicon, name
    assert "`categories.<code>`" in lexicon


def test_the_lexicon_example_is_a_valid_config_and_does_what_its_comment_says():
    lexicon = section("`lexicon:`: words for the request parser")
    example = yaml.safe_load(re.search(r"```yaml\n(.*?)```", lexicon, re.S).group(1))
    config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8")) | example
    words = parse_config(config).request_lexicon()
    assert parse_request("下单 小区杨树飞絮满天", words).category == "sanitation"
    assert parse_request("下单 小区杨树飞絮满天").category != "sanitation"
    assert "# 小区杨树飞絮满天: sanitation" in lexicon


def test_the_refused_lexicon_word_of_the_readme_is_refused_in_those_words():
    from flows.config import ConfigError

    config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    config["lexicon"] = {"categories": {"order": ["广场舞"]}}
    with pytest.raises(ConfigError) as caught:
        parse_config(config)
    [problem] = caught.value.problems
    assert " ".join(f"`{problem}`".split()) in " ".join(section("`lexicon:`: words for the request parser").split())
