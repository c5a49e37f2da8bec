#!/usr/bin/env python3
"""Generates each service crate's wire types from botocore's models.

For every `crates/<crate>/wire.toml` (the service's botocore model name and the operations the
crate serves), writes `crates/<crate>/src/wire.rs`: one Rust struct per structure shape the
operations' inputs and outputs reach (serde names as on the wire, required members plain,
the others `Option`), the values of every enum shape, and a schema (`flotilla_front::schema`)
of every shape, which the front door uses to type query parameters and to write answers in any
protocol. Never a whole model: only what the listed operations reach.

The botocore version is pinned (`BOTOCORE` below, the same as `.ci/run` installs) and named in
each generated file's header; re-running on a clean tree changes nothing.

It also writes `crates/front/src/partition.rs`: the regions of the `aws` partition, as botocore's
endpoint data names them, which the front door serves.

Where a crate also has a field ledger (`ledger.toml`, scripts/ledger.py), the members it refuses
are written as `REFUSED`, which the crate checks every request against.

Usage: scripts/wire-gen.py            write the files
       scripts/wire-gen.py --check    exit 1 if a file is not what the generator writes
"""

from __future__ import annotations

import argparse
import glob
import html
import os
import re
import sys
import tomllib

BOTOCORE = "1.43.11"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUST_KEYWORDS = {
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try",
}


def snake(name: str) -> str:
    """`taskDefinitionArn` -> `task_definition_arn`, `IPv4Address` -> `ipv4_address`."""
    out = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    out = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", out)
    out = out.replace("-", "_").lower()
    return f"r#{out}" if out in RUST_KEYWORDS else out


def screaming(name: str) -> str:
    return snake(name).removeprefix("r#").upper()


def first_sentence(doc: str) -> str:
    text = html.unescape(re.sub(r"<[^>]+>", "", doc or "")).strip()
    text = re.sub(r"\s+", " ", text)
    match = re.match(r"(.+?\.)(\s|$)", text)
    sentence = match.group(1) if match else text
    return sentence if len(sentence) <= 200 else sentence[:197].rstrip() + "..."


def xml_name(member: str, ref: dict) -> str:
    """The member's name in XML answers and query-protocol parameters: its `locationName`."""
    return ref.get("locationName", member)


def ec2_name(member: str, ref: dict) -> str:
    """The member's name in EC2 parameters, as botocore's EC2 serializer writes it: its
    `queryName`, else its `locationName` with a capital first letter, else its name."""
    if "queryName" in ref:
        return ref["queryName"]
    if "locationName" in ref:
        return ref["locationName"][:1].upper() + ref["locationName"][1:]
    return member


class Generator:
    def __init__(self, model: dict, operations: list[str]):
        self.model = model
        self.shapes = model["shapes"]
        self.operations = operations
        self.reached: set[str] = set()

    def reach(self, name: str) -> None:
        if name in self.reached:
            return
        self.reached.add(name)
        shape = self.shapes[name]
        kind = shape["type"]
        if kind == "structure":
            for member in shape.get("members", {}).values():
                self.reach(member["shape"])
        elif kind == "list":
            self.reach(shape["member"]["shape"])
        elif kind == "map":
            self.reach(shape["key"]["shape"])
            self.reach(shape["value"]["shape"])

    def rust_type(self, name: str, boxed: set[str]) -> str:
        shape = self.shapes[name]
        kind = shape["type"]
        if kind == "structure":
            return f"Box<{name}>" if name in boxed else name
        if kind == "list":
            return f"Vec<{self.rust_type(shape['member']['shape'], boxed)}>"
        if kind == "map":
            return f"BTreeMap<String, {self.rust_type(shape['value']['shape'], boxed)}>"
        return {
            "string": "String",
            "integer": "i32",
            "long": "i64",
            "boolean": "bool",
            "double": "f64",
            "float": "f64",
            # Epoch seconds: how AWS JSON and CBOR carry them (query answers write ISO 8601).
            "timestamp": "f64",
            # Base64 text, as AWS JSON carries blobs.
            "blob": "String",
        }[kind]

    def schema_of(self, name: str) -> str:
        shape = self.shapes[name]
        kind = shape["type"]
        if kind == "structure":
            return f"Kind::Struct(&{screaming(name)}_MEMBERS)"
        if kind == "list":
            return f"Kind::List(&{self.schema_static(shape['member']['shape'])})"
        if kind == "map":
            return f"Kind::Map(&{self.schema_static(shape['value']['shape'])})"
        if "enum" in shape:
            return f"Kind::Enum({screaming(name)}_VALUES)"
        return {
            "string": "Kind::String",
            "integer": "Kind::Integer",
            "long": "Kind::Long",
            "boolean": "Kind::Boolean",
            "double": "Kind::Double",
            "float": "Kind::Double",
            "timestamp": "Kind::Timestamp",
            "blob": "Kind::Blob",
        }[kind]

    def schema_static(self, name: str) -> str:
        return f"{screaming(name)}_SCHEMA"

    def recursive(self) -> set[str]:
        """Structures that contain themselves (directly or not) are boxed where they recur."""
        boxed = set()
        for start in self.reached:
            if self.shapes[start]["type"] != "structure":
                continue
            stack, seen = [start], set()
            while stack:
                current = stack.pop()
                shape = self.shapes[current]
                children = []
                if shape["type"] == "structure":
                    children = [m["shape"] for m in shape.get("members", {}).values()]
                elif shape["type"] == "list":
                    children = [shape["member"]["shape"]]
                elif shape["type"] == "map":
                    children = [shape["value"]["shape"]]
                for child in children:
                    if child == start:
                        boxed.add(start)
                    elif child not in seen:
                        seen.add(child)
                        stack.append(child)
        return boxed

    def generate(self, source: str) -> str:
        ops = self.model["operations"]
        for op in self.operations:
            if op not in ops:
                raise SystemExit(f"{source}: no operation {op} in the model")
            for side in ("input", "output"):
                if side in ops[op]:
                    self.reach(ops[op][side]["shape"])
        boxed = self.recursive()
        out = []
        structures = sorted(n for n in self.reached if self.shapes[n]["type"] == "structure")
        enums = sorted(n for n in self.reached if "enum" in self.shapes[n])
        for name in structures:
            shape = self.shapes[name]
            doc = first_sentence(shape.get("documentation", ""))
            if doc:
                out.append(f"/// {doc}")
            out.append("#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]")
            out.append(f"pub struct {name} {{")
            required = set(shape.get("required", []))
            fields = set()
            for member, spec in shape.get("members", {}).items():
                field = snake(member)
                if field in fields:
                    raise SystemExit(f"{name}: two members become field {field}")
                fields.add(field)
                rust = self.rust_type(spec["shape"], boxed)
                mdoc = first_sentence(spec.get("documentation", ""))
                if mdoc:
                    out.append(f"    /// {mdoc}")
                if member in required:
                    out.append(f'    #[serde(rename = "{member}")]')
                    out.append(f"    pub {field}: {rust},")
                else:
                    out.append(
                        f'    #[serde(rename = "{member}", default, skip_serializing_if = "Option::is_none")]'
                    )
                    out.append(f"    pub {field}: Option<{rust}>,")
            out.append("}")
            out.append("")
        for name in enums:
            values = ", ".join(f'"{v}"' for v in self.shapes[name]["enum"])
            out.append(f"/// The values of `{name}`.")
            out.append(f"pub const {screaming(name)}_VALUES: &[&str] = &[{values}];")
            out.append("")
        out.append("// The schema of every shape above, for the front door's protocols.")
        for name in sorted(self.reached):
            shape = self.shapes[name]
            if shape["type"] == "structure":
                members = ", ".join(
                    f'Member {{ name: "{m}", kind: &{self.schema_static(s["shape"])}, '
                    f'xml: "{xml_name(m, s)}", ec2: "{ec2_name(m, s)}" }}'
                    for m, s in shape.get("members", {}).items()
                )
                out.append(f"static {screaming(name)}_MEMBERS: [Member; {len(shape.get('members', {}))}] = [{members}];")
            out.append(f"pub static {self.schema_static(name)}: Kind = {self.schema_of(name)};")
        out.append("")
        out.append("/// The input and output schema of each operation served.")
        out.append("pub static OPERATIONS: &[(&str, &Kind, Option<&Kind>)] = &[")
        for op in self.operations:
            spec = ops[op]
            inp = f"&{self.schema_static(spec['input']['shape'])}" if "input" in spec else "&EMPTY"
            outp = f"Some(&{self.schema_static(spec['output']['shape'])})" if "output" in spec else "None"
            out.append(f'    ("{op}", {inp}, {outp}),')
        out.append("];")
        out.append("")
        out.append("/// The input and output schema of `operation`, if it is served.")
        out.append("pub fn operation_schema(operation: &str) -> Option<(&'static Kind, Option<&'static Kind>)> {")
        out.append("    OPERATIONS.iter().find(|(name, _, _)| *name == operation).map(|(_, input, output)| (*input, *output))")
        out.append("}")
        out.append("")
        out.append("/// The schema of an operation without input.")
        out.append("pub static EMPTY: Kind = Kind::Struct(&[]);")
        return "\n".join(out) + "\n"


def render(config_path: str) -> tuple[str, str]:
    import botocore
    import botocore.session

    if botocore.__version__ != BOTOCORE:
        raise SystemExit(
            f"botocore {botocore.__version__} is installed; the wire types are generated from {BOTOCORE}"
            f" (pip install botocore=={BOTOCORE})"
        )
    with open(config_path, "rb") as f:
        config = tomllib.load(f)
    service = config["model"]
    loader = botocore.session.get_session().get_component("data_loader")
    api_version = loader.determine_latest_version(service, "service-2")
    model = loader.load_service_model(service, "service-2", api_version)
    operations = config["operations"]
    crate_dir = os.path.dirname(config_path)
    rel_config = os.path.relpath(config_path, ROOT)
    header = (
        f"//! Wire types of {model['metadata'].get('serviceFullName', service)} for the operations this crate serves.\n"
        f"//!\n"
        f"//! @generated by scripts/wire-gen.py from botocore {BOTOCORE}'s {service}/{api_version}/service-2.json\n"
        f"//! and {rel_config}; do not edit (run scripts/wire-gen.py).\n\n"
        "#![allow(clippy::all)]\n\n"
        "use std::collections::BTreeMap;\n\n"
        "use flotilla_front::schema::{Kind, Member};\n"
        "use serde::{Deserialize, Serialize};\n\n"
    )
    body = Generator(model, operations).generate(rel_config) + refused_table(crate_dir)
    if "BTreeMap<" not in body:
        header = header.replace("use std::collections::BTreeMap;\n\n", "")
    return os.path.join(crate_dir, "src", "wire.rs"), rustfmt(header + body)


def render_partition() -> tuple[str, str]:
    """`crates/front/src/partition.rs`: the `aws` partition's regions from botocore's endpoints."""
    import json

    import botocore

    with open(os.path.join(os.path.dirname(botocore.__file__), "data", "endpoints.json")) as f:
        endpoints = json.load(f)
    (aws,) = [p for p in endpoints["partitions"] if p["partition"] == "aws"]
    names = sorted(aws["regions"])
    lines = [
        "//! The regions of the `aws` partition: a request signed for any of them is served.",
        "//!",
        f"//! @generated by scripts/wire-gen.py from botocore {BOTOCORE}'s endpoints.json; do not edit.",
        "",
        "/// Every region of the `aws` partition, sorted.",
        "pub const AWS_REGIONS: &[&str] = &[",
    ]
    lines += [f'    "{name}",' for name in names]
    lines.append("];")
    path = os.path.join(ROOT, "crates", "front", "src", "partition.rs")
    return path, rustfmt("\n".join(lines) + "\n")


def refused_table(crate_dir: str) -> str:
    """`REFUSED`: per operation, the members the crate's field ledger refuses (scripts/ledger.py)."""
    if not os.path.exists(os.path.join(crate_dir, "ledger.toml")):
        return ""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import ledger

    book = ledger.Ledger(crate_dir)
    out = [
        "",
        "/// The members the field ledger (`ledger.toml`) refuses, per operation, as",
        "/// `flotilla_front::refusal::refused_member` reads them.",
        "pub static REFUSED: &[(&str, &[&str])] = &[",
    ]
    for op in book.operations:
        roots = book.refused_roots(op)
        if roots:
            paths = ", ".join(f'"{p}"' for p in roots)
            out.append(f'    ("{op}", &[{paths}]),')
    out.append("];")
    out.append("")
    out.append("/// The members the field ledger refuses in `operation`'s requests.")
    out.append("pub fn refused_paths(operation: &str) -> &'static [&'static str] {")
    out.append("    REFUSED.iter().find(|(name, _)| *name == operation).map_or(&[], |(_, paths)| *paths)")
    out.append("}")
    return "\n".join(out) + "\n"


def rustfmt(text: str) -> str:
    """The file as `cargo fmt` leaves it (the repository's rustfmt.toml)."""
    import shutil
    import subprocess

    if shutil.which("rustfmt") is None:
        return text
    done = subprocess.run(
        ["rustfmt", "--edition", "2021", "--config-path", os.path.join(ROOT, "rustfmt.toml")],
        input=text, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"rustfmt failed on the generated code: {done.stderr}")
    return done.stdout


def squeeze(text: str) -> str:
    """The text without what rustfmt changes: whitespace and trailing commas."""
    return re.sub(r",([\]\)}])", r"\1", re.sub(r"\s+", "", text))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help="fail if a generated file is stale")
    args = parser.parse_args()
    import shutil

    formatted = shutil.which("rustfmt") is not None
    if not formatted:
        print("rustfmt not found: generated code is compared ignoring whitespace", file=sys.stderr)
    stale = []
    configs = sorted(glob.glob(os.path.join(ROOT, "crates", "*", "wire.toml")))
    for path, text in [render(config) for config in configs] + [render_partition()]:
        current = open(path).read() if os.path.exists(path) else None
        if current == text or (
            not formatted and current is not None and squeeze(current) == squeeze(text)
        ):
            continue
        if not formatted and not args.check:
            raise SystemExit("rustfmt is needed to write the generated files")
        if args.check:
            stale.append(os.path.relpath(path, ROOT))
        else:
            with open(path, "w") as f:
                f.write(text)
            print(f"wrote {os.path.relpath(path, ROOT)}")
    if stale:
        print("stale generated wire types (run scripts/wire-gen.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
