"""A YAML syntax error, said where the mistake is and in plain words.

PyYAML's errors name the token the parser stumbled on (`expected <block end>, but found '?'`),
at the place it stumbled, which is often lines after the mistake: an unclosed `[` is noticed at
the next key, a quote left open at the next quote. `explain` turns its marks (`problem_mark`,
where it stumbled; `context_mark`, where the construct it was reading began) into one line that
points at the mistake itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

__all__ = ["YamlProblem", "explain", "yaml_problem"]

# PyYAML's token names, as an operator would call them.
_TOKEN_WORDS = {
    "?": "a key",
    "<block mapping start>": "a key",
    "<block sequence start>": "a list item (-)",
    "-": "a list item (-)",
    "<scalar>": "a value",
    "<block end>": "the end of the indented block",
    "<stream end>": "the end of the file",
    "<document start>": "the start of the document",
    ":": "':'",
    ",": "','",
    "{": "'{'",
    "}": "'}'",
    "[": "'['",
    "]": "']'",
}

_CLOSERS = {"flow sequence": ("list", "[", "]"), "flow mapping": ("mapping", "{", "}")}


@dataclass(frozen=True)
class YamlProblem:
    """Where a YAML file is broken (1-based line and column) and what is wrong there."""

    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return self.where_and_what()

    def where_and_what(self, label: str = "") -> str:
        """`line 4, column 9: <label>: <message>` (without the label when it is empty)."""
        what = f"{label}: {self.message}" if label else self.message
        return f"line {self.line}, column {self.column}: {what}"


def explain(text: str, error: yaml.MarkedYAMLError) -> YamlProblem:
    """The mistake behind PyYAML's `error` on reading `text`, said plainly.

    `text` is the document PyYAML read; `error` the MarkedYAMLError it raised (a scanner, parser
    or constructor error). Never raises: an error of a kind not recognised keeps PyYAML's own
    words, at the place PyYAML gives.
    """
    lines = text.splitlines()
    problem, context = error.problem_mark, error.context_mark
    found = _found_token(error.problem or "")

    # The token read just before the stumble: a value running over lines is often the mistake.
    last = _last_token_before(text, problem) if problem is not None else None
    open_quote = _quote_left_open(last)
    if open_quote is not None:
        start, end = open_quote
        return YamlProblem(start.line + 1, start.column + 1,
                           f"the quote opened here is only closed at line {end.line + 1}, "
                           f"column {end.column}; close it on its own line")

    what = (error.context or "").removeprefix("while parsing a ").removeprefix("while scanning a ")
    if what in _CLOSERS and context is not None and problem is not None:
        name, opener, closer = _CLOSERS[what]
        if problem.line != context.line:
            return YamlProblem(context.line + 1, context.column + 1,
                               f"the {name} opened with {opener} here is not closed with {closer}")
        return YamlProblem(problem.line + 1, problem.column + 1,
                           f"expected ',' or {closer} in the {name} opened at column "
                           f"{context.column + 1}, found {_word(found)}")

    if what == "simple key" and context is not None:
        shown = _line_text(lines, context.line, context.column)
        return YamlProblem(context.line + 1, context.column + 1,
                           f"{shown!r} has no ':' after its key; write `key: value`")

    if what == "quoted scalar" and context is not None:
        return YamlProblem(context.line + 1, context.column + 1,
                           "the quote opened here is never closed")

    run_on = _multiline_plain(last, problem)
    if error.problem == "mapping values are not allowed here" and run_on is not None:
        return YamlProblem(run_on.line + 1, run_on.column + 1,
                           f"{_line_text(lines, run_on.line, run_on.column)!r} runs on into line "
                           f"{problem.line + 1} as one value: a key without ':' here, or line "
                           f"{problem.line + 1} indented deeper than this one")

    if error.problem == "mapping values are not allowed here" and problem is not None:
        return YamlProblem(problem.line + 1, problem.column + 1,
                           "a ':' where no key can start: put a value that holds ': ' in quotes, "
                           "or indent this line like the keys above it")

    if error.problem and "expected <block end>" in error.problem and problem is not None:
        column = context.column if context is not None else None
        return _misaligned(lines, problem, column, found)

    if error.problem and "expected '<document start>'" in error.problem and problem is not None:
        return _misaligned(lines, problem, None, found)

    if "found character '\\t'" in (error.problem or "") and problem is not None:
        return YamlProblem(problem.line + 1, problem.column + 1,
                           "a tab: YAML is indented with spaces only")

    mark = problem or context
    words = ": ".join(part for part in (error.context, error.problem) if part) or "syntax error"
    if mark is None:
        return YamlProblem(1, 1, words)
    return YamlProblem(mark.line + 1, mark.column + 1, words)


def _found_token(problem: str) -> str | None:
    """The token PyYAML names last in its problem (`… but found '?'` → `?`)."""
    for marker in ("but found ", "but got "):
        if marker in problem:
            return problem.rsplit(marker, 1)[1].strip().strip("'")
    return None


def _word(token: str | None) -> str:
    if token is None:
        return "something else"
    return _TOKEN_WORDS.get(token, repr(token))


def _line_text(lines: list[str], line: int, column: int) -> str:
    text = lines[line][column:].rstrip() if line < len(lines) else ""
    return text if len(text) <= 40 else text[:37] + "..."


def _misaligned(lines: list[str], problem: yaml.Mark, block_column: int | None,
                found: str | None) -> YamlProblem:
    """A line whose indentation fits no block open above it. The mistake is on it or on a line
    above, back to the last line at the block's own indentation (which the parser took as a
    sibling of the block's keys); the answer names that range."""
    content = [index for index in range(problem.line)
               if index < len(lines) and lines[index].split("#", 1)[0].strip()]
    first = content[0] if content else problem.line   # top level: from the first line
    if block_column is not None:
        first = next((index for index in reversed(content)
                      if _indent(lines[index]) <= block_column), first)
    shown = _line_text(lines, problem.line, problem.column)
    message = f"{_word(found)} {shown!r} does not line up with the lines above it"
    if first < problem.line:
        message += f"; check the indentation of lines {first + 1}-{problem.line + 1}"
    return YamlProblem(problem.line + 1, problem.column + 1, message)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _last_token_before(text: str, problem: yaml.Mark) -> yaml.Token | None:
    """The last token PyYAML's scanner reads before `problem` (None if none)."""
    last = None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.index >= problem.index:
                break
            last = token
    except yaml.YAMLError:
        pass
    return last


def _quote_left_open(last: yaml.Token | None) -> tuple[yaml.Mark, yaml.Mark] | None:
    """The start and end of `last` when it is a quoted value running over several lines: a quote
    left open, which PyYAML only notices at the next quote. None otherwise."""
    if (isinstance(last, yaml.ScalarToken) and last.style in ("'", '"')
            and last.end_mark.line > last.start_mark.line):
        return last.start_mark, last.end_mark
    return None


def _multiline_plain(last: yaml.Token | None, problem: yaml.Mark | None) -> yaml.Mark | None:
    """The start of `last` when it is an unquoted value running on from an earlier line into
    `problem`'s line (a key without its ':', or a line indented deeper than the one above)."""
    if problem is not None and (isinstance(last, yaml.ScalarToken) and last.style is None
            and last.start_mark.line < problem.line):
        return last.start_mark
    return None


# ---- the config file's YAML problem, in one line ------------------------------------------

class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def yaml_problem(path: Path, text: str, fast_error: Exception) -> str:
    """One line naming where the config file at `path` is broken, `fast_error` being what the
    fast reader (yaml-rs) raised on its `text`. PyYAML, slow but precise (it gives the line of
    a duplicate key too), reads the broken file again to say where."""
    try:
        yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        return _marked_problem(path, text, error)
    except yaml.YAMLError as error:
        return f"{path}: YAML error: {error}"
    except RecursionError:
        # Lists or mappings nested deeper than PyYAML's recursion can follow (yaml-rs stops
        # at a depth of 256): yaml-rs's place, said plainly.
        where = str(fast_error).strip().splitlines()[0]
        return f"{path}: YAML error: {where}: lists or mappings nested too deeply"
    reason = " ".join(str(fast_error).split())  # PyYAML took it: yaml-rs's own words, on one line
    return f"{path}: YAML error: {reason}"


def _marked_problem(path: Path, text: str, error: yaml.MarkedYAMLError) -> str:
    return f"{path}: {explain(text, error).where_and_what('YAML error')}"
