#!/usr/bin/env python3
"""The field ledger: what this server does with every input member of every operation it serves.

For every `crates/<crate>/ledger.toml` (beside the crate's `wire.toml`), every input member path
of every operation in `wire.toml`, as botocore's model has it, must be listed with a verdict:

  "honoured: tests/e2e/clusters.rs::create_is_idempotent"   it works; the named test shows it
  "refused"                                                 refused: "... is not supported yet"
  "refused until #14"                                       refused until that issue brings it
  "accepted: <why>"                                         a decided exception (stored, no
                                                            effect yet; the reason says until when)

Paths: members joined by `.`, `[]` after a list, `{}` after a map, and one `=VALUE` path per value
of an enum member (`containerDefinitions[].portMappings[].protocol=udp`). A structure already on
the path is not entered again. Children of a refused member are refused with it.

Usage: scripts/ledger.py --check     every path listed, no stale one, every named test exists,
                                     docs/ledger.md current (exit 1 otherwise)
       scripts/ledger.py --render    write docs/ledger.md
       scripts/ledger.py --missing   print the TOML lines of unlisted paths (verdict "TODO")
       scripts/ledger.py --refused   print the refused paths as JSON (for the e2e ledger test)
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERDICT = re.compile(r"^(honoured: (?P<test>\S+::\w+)|refused|refused until #\d+|accepted: .+)$")


def load_model(service: str) -> dict:
    import botocore.session

    loader = botocore.session.get_session().get_component("data_loader")
    return loader.load_service_model(service, "service-2")


def walk(shapes: dict, name: str, path: str, on_path: frozenset, out: list) -> None:
    shape = shapes[name]
    kind = shape["type"]
    if kind == "structure":
        if name in on_path:
            return
        for member, spec in shape.get("members", {}).items():
            child = f"{path}.{member}" if path else member
            out.append(child)
            walk(shapes, spec["shape"], child, on_path | {name}, out)
    elif kind == "list":
        walk(shapes, shape["member"]["shape"], path + "[]", on_path, out)
    elif kind == "map":
        walk(shapes, shape["value"]["shape"], path + "{}", on_path, out)
    elif "enum" in shape:
        out.extend(f"{path}={value}" for value in shape["enum"])


def model_paths(model: dict, operation: str) -> list[str]:
    out: list[str] = []
    spec = model["operations"][operation].get("input")
    if spec:
        walk(model["shapes"], spec["shape"], "", frozenset(), out)
    return out


class Ledger:
    def __init__(self, crate_dir: str):
        self.crate = os.path.basename(crate_dir)
        with open(os.path.join(crate_dir, "wire.toml"), "rb") as f:
            wire = tomllib.load(f)
        self.service = wire["model"]
        self.operations = wire["operations"]
        self.path = os.path.join(crate_dir, "ledger.toml")
        self.entries: dict[str, dict[str, str]] = {}
        if os.path.exists(self.path):
            with open(self.path, "rb") as f:
                self.entries = tomllib.load(f).get("operations", {})
        self.model = load_model(self.service)

    def problems(self) -> list[str]:
        out = []
        for op in self.operations:
            listed = self.entries.get(op, {})
            paths = model_paths(self.model, op)
            for path in paths:
                if path not in listed:
                    out.append(f"{self.crate} {op}: {path} is not in the ledger")
            for path, verdict in listed.items():
                if path not in paths:
                    out.append(f"{self.crate} {op}: {path} is not a member path of the model")
                match = VERDICT.match(verdict)
                if not match:
                    out.append(f"{self.crate} {op}: {path}: unknown verdict {verdict!r}")
                elif match.group("test") and not test_exists(match.group("test")):
                    out.append(f"{self.crate} {op}: {path}: no test {match.group('test')}")
            for parent in self.refused_roots(op):
                for path, verdict in listed.items():
                    if path.startswith(parent + ".") or path.startswith(parent + "[") \
                            or path.startswith(parent + "{") or path.startswith(parent + "="):
                        if not verdict.startswith("refused"):
                            out.append(f"{self.crate} {op}: {path} is under refused {parent}")
        for op in self.entries:
            if op not in self.operations:
                out.append(f"{self.crate}: {op} is not an operation of wire.toml")
        return out

    def refused_roots(self, op: str) -> list[str]:
        """Refused paths whose parent is not refused: each is refused by its own name."""
        listed = self.entries.get(op, {})
        refused = [p for p, v in listed.items() if v.startswith("refused")]
        roots = []
        for path in refused:
            parent = parent_of(path)
            if parent is None or not listed.get(parent, "").startswith("refused"):
                roots.append(path)
        return roots

    def missing_lines(self) -> list[str]:
        lines = []
        for op in self.operations:
            listed = self.entries.get(op, {})
            missing = [p for p in model_paths(self.model, op) if p not in listed]
            if missing:
                lines.append(f"\n[operations.{op}]")
                lines.extend(f'"{p}" = "TODO"' for p in missing)
        return lines


def parent_of(path: str) -> str | None:
    """The member path one level up: `a.b[].c` → `a.b`, `a.b=X` → `a.b`, `a` → None."""
    if "=" in path:
        return re.sub(r"(\[\]|\{\})+$", "", path.split("=", 1)[0])
    trimmed = re.sub(r"(\[\]|\{\})+$", "", path)
    if trimmed != path:
        return trimmed if trimmed else None
    if "." not in path:
        return None
    return re.sub(r"(\[\]|\{\})+$", "", path.rsplit(".", 1)[0])


def test_exists(reference: str) -> bool:
    file, name = reference.rsplit("::", 1)
    full = os.path.join(ROOT, file)
    if not os.path.exists(full):
        return False
    text = open(full, encoding="utf-8").read()
    return re.search(rf"\bfn {re.escape(name)}\s*\(", text) is not None or \
        re.search(rf"\bdef {re.escape(name)}\s*\(", text) is not None


def ledgers() -> list[Ledger]:
    dirs = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(ROOT, "crates", "*", "wire.toml")))
    return [Ledger(d) for d in dirs]


def render(all_ledgers: list[Ledger]) -> str:
    out = [
        "# The field ledger",
        "",
        "<!-- @generated by scripts/ledger.py --render from crates/*/ledger.toml; do not edit -->",
        "",
        "What Flotilla does with every input member of every operation it serves, as botocore's",
        "model names them (`[]` a list's items, `{}` a map's values, `=VALUE` one value of an enum).",
        "**honoured**: it works, and the named test shows it; **refused**: the request is refused with",
        "`InvalidParameterException` (ECS: or `ClientException`) saying the member is not supported yet,",
        "and nothing is stored; **refused until #N**: the same, until that issue brings it;",
        "**accepted**: a decided exception, explained. Members under a refused member are refused",
        "with it and not listed here.",
        "",
    ]
    for ledger in all_ledgers:
        if not ledger.entries:
            continue
        out.append(f"## {ledger.model['metadata'].get('serviceFullName', ledger.service)}")
        out.append("")
        for op in ledger.operations:
            listed = ledger.entries.get(op, {})
            if not listed:
                out.append(f"### {op}\n\nNo input members.\n")
                continue
            out.append(f"### {op}")
            out.append("")
            out.append("| member | verdict |")
            out.append("|---|---|")
            roots = set(ledger.refused_roots(op))
            for path in model_paths(ledger.model, op):
                verdict = listed.get(path, "")
                if verdict.startswith("refused") and path not in roots:
                    continue
                shown = verdict
                match = VERDICT.match(verdict)
                if match and match.group("test"):
                    shown = f"honoured (`{match.group('test')}`)"
                out.append(f"| `{path}` | {shown} |")
            out.append("")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser()
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--check", action="store_true")
    group.add_argument("--render", action="store_true")
    group.add_argument("--missing", action="store_true")
    group.add_argument("--refused", action="store_true")
    args = parser.parse_args()
    all_ledgers = ledgers()
    doc = os.path.join(ROOT, "docs", "ledger.md")
    if args.render:
        with open(doc, "w") as f:
            f.write(render(all_ledgers))
        print("wrote docs/ledger.md")
        return 0
    if args.missing:
        for ledger in all_ledgers:
            lines = ledger.missing_lines()
            if lines:
                print(f"# {ledger.path}")
                print("\n".join(lines))
        return 0
    if args.refused:
        out = {}
        for ledger in all_ledgers:
            out[ledger.crate] = {op: ledger.refused_roots(op) for op in ledger.operations}
        print(json.dumps(out, indent=1))
        return 0
    problems = [p for ledger in all_ledgers for p in ledger.problems()]
    current = open(doc).read() if os.path.exists(doc) else ""
    if current != render(all_ledgers):
        problems.append("docs/ledger.md is stale (run scripts/ledger.py --render)")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} ledger problem(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
