"""The README's settings table is the one the code generates."""

from pathlib import Path

from jenkins_codeartifact.cli import options

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_settings_table_matches_the_code():
    text = README.read_text(encoding="utf-8")
    assert options.markdown_table() in text, "run: python -m jenkins_codeartifact.cli.options, paste into README.md"


def test_readme_gives_the_two_setup_commands_first():
    text = README.read_text(encoding="utf-8")
    assert text.index("make demo") < text.index("## `ca-publish`")
    assert "make test" in text.split("## `ca-publish`")[0]


# --- every link and every command line of the documentation stays valid -------------------------------

import argparse  # noqa: E402
import importlib  # noqa: E402
import re  # noqa: E402
import tomllib  # noqa: E402

import pytest  # noqa: E402

ROOT = README.parent
PAGES = [README, ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
_FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    anchors = set()
    for line in text.splitlines():
        if line.startswith("#"):
            slug = _slug(line.lstrip("#"))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def _links() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = _FENCE.sub("", page.read_text(encoding="utf-8"))
        found += [(str(page.relative_to(ROOT)), target) for target in _LINK.findall(text)]
    return found


@pytest.mark.parametrize(("page", "target"), _links())
def test_every_relative_link_resolves(page: str, target: str) -> None:
    if re.match(r"[a-z]+:", target):
        return  # an external URL: not checked offline
    path, _, anchor = target.partition("#")
    dest = (ROOT / page).parent / path if path else ROOT / page
    assert dest.exists(), f"{page}: link to {target}: {dest.relative_to(ROOT)} does not exist"
    if anchor and dest.suffix == ".md":
        assert anchor in _anchors(dest), f"{page}: link to {target}: no heading with that anchor"


def _commands() -> dict[str, argparse.ArgumentParser]:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    parsers = {}
    for name, entry in scripts.items():
        module = importlib.import_module(entry.split(":")[0])
        build = getattr(module, "parser", None) or module.build_parser
        parsers[name] = build()
    return parsers


def _options(parser: argparse.ArgumentParser) -> tuple[set[str], dict[str, argparse.ArgumentParser]]:
    """Every option string of the parser and its subcommands, and the subcommands by name."""
    flags: set[str] = set()
    subs: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        flags.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                subs[name] = sub
                flags |= _options(sub)[0]
    return flags, subs


def _command_lines() -> list[tuple[str, str]]:
    lines = []
    for page in PAGES:
        for block in _FENCE.findall(page.read_text(encoding="utf-8")):
            for line in block.replace("\\\n", " ").splitlines():
                code = line.split(" #", 1)[0].strip()
                if code:
                    lines.append((str(page.relative_to(ROOT)), code))
    return lines


def test_every_documented_command_line_uses_real_subcommands_and_flags() -> None:
    parsers = _commands()
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M))
    problems = []
    for page, code in _command_lines():
        words = code.replace('"$(', " ").replace(")", " ").split()
        if words[:1] == ["make"] and len(words) > 1 and not words[1].startswith("-"):
            if words[1] not in targets:
                problems.append(f"{page}: `{code}`: no make target {words[1]}")
            continue
        for i, word in enumerate(words):
            if word not in parsers:
                continue
            flags, subs = _options(parsers[word])
            rest = words[i + 1 :]
            if subs and rest and re.fullmatch(r"[a-z][a-z-]*", rest[0]) and rest[0] not in subs:
                problems.append(f"{page}: `{code}`: {word} has no subcommand {rest[0]}")
            problems += [
                f"{page}: `{code}`: {word} has no option {f}" for f in _FLAG.findall(" ".join(rest)) if f not in flags
            ]
            break
    assert not problems, "\n".join(problems)


def test_the_failure_page_states_the_one_io_policy_as_the_code_has_it():
    from jenkins_codeartifact import netpolicy

    text = (ROOT / "docs" / "failures.md").read_text(encoding="utf-8")
    for what, p in netpolicy.POLICIES.items():
        wait = (
            "botocore's own (exponential, jitter)"
            if p.backoff == 0
            else f"50-100 % of {p.backoff:g} s × 2^(N-1), at most {p.backoff_max:g} s"
        )
        row = f"| {what} | {p.connect:g} s / {p.read:g} s | {p.retries} | {wait} |"
        assert row in text, f"docs/failures.md: the row should read {row}"
    assert f"at most {netpolicy.RETRY_AFTER_MAX:g} s" in text
    assert ", ".join(map(str, sorted(netpolicy.RETRYABLE_STATUSES)[:-1])) in text
