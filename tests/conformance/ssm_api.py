"""Systems Manager Parameter Store through botocore's own client.

String, StringList and SecureString parameters (plain names and hierarchies), versions and
their limit of 100, selectors (`name:3`, `name:label`), labels, SecureString values shown only
WithDecryption, GetParametersByPath and DescribeParameters with their filters and pages, tags,
the members this server refuses (named in the answer), and Parameter Store's errors. Every name
carries a per-run prefix, and each check deletes what it made, so the script can run again
against the same server.

Usage: ssm_api.py --endpoint URL --credentials FILE --region REGION
Exits 0 when every check held, 1 otherwise (each failure is listed).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import uuid

import botocore.exceptions
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from check_ecs_model import read_credentials


class Check:
    def __init__(self, endpoint: str, root: tuple[str, str], region: str):
        self.endpoint, self.root, self.region = endpoint, root, region
        self.session = botocore.session.get_session()
        self.failures: list[str] = []
        self.ssm = self.client("ssm")
        identity = self.client("sts").get_caller_identity()
        self.account, self.caller = identity["Account"], identity["Arn"]
        # "check", not "ssm": a name may not begin with aws or ssm.
        self.prefix = f"check-{uuid.uuid4().hex[:8]}"

    def client(self, service: str):
        return self.session.create_client(
            service, endpoint_url=self.endpoint, region_name=self.region,
            aws_access_key_id=self.root[0], aws_secret_access_key=self.root[1],
            config=Config(retries={"total_max_attempts": 1}),
        )

    def path(self, rest: str = "") -> str:
        """A hierarchical name (or path) of this run."""
        return f"/{self.prefix}{rest}"

    def arn(self, name: str) -> str:
        return f"arn:aws:ssm:{self.region}:{self.account}:parameter/{name.lstrip('/')}"

    def expect(self, what: str, ok: bool, detail: object = "") -> None:
        if not ok:
            self.failures.append(f"{what}: {detail}")

    def error(self, call, **params) -> tuple[str | None, str]:
        try:
            call(**params)
        except ClientError as error:
            return error.response["Error"]["Code"], error.response["Error"].get("Message", "")
        return None, ""

    def expect_error(self, what: str, code: str, call, **params) -> str:
        got, message = self.error(call, **params)
        self.expect(what, got == code, f"expected {code}, got {got}: {message}")
        return message

    def refused(self, what: str, member: str, call, code: str = "ValidationException", **params) -> None:
        got, message = self.error(call, **params)
        self.expect(what, got == code and member in message and "not supported yet" in message,
                    f"expected {code} naming {member}, got {got}: {message}")

    def delete_all(self, *names: str) -> None:
        for start in range(0, len(names), 10):
            self.ssm.delete_parameters(Names=list(names[start:start + 10]))

    # --- the checks the field ledger names ----------------------------------------------

    def put_and_get(self) -> None:
        ssm = self.ssm
        url, items, flat = self.path("/app/url"), self.path("/app/items"), f"{self.prefix}-flat"
        put = ssm.put_parameter(Name=url, Value="http://a.example", Type="String",
                                Description="where the app is", DataType="text", Tier="Standard")
        self.expect("a first version", put.get("Version") == 1 and put.get("Tier") == "Standard", put)
        got = ssm.get_parameter(Name=url)["Parameter"]
        self.expect("GetParameter", (got.get("Name"), got.get("Type"), got.get("Value"), got.get("Version"),
                                     got.get("DataType")) == (url, "String", "http://a.example", 1, "text"), got)
        self.expect("the ARN of a hierarchical name", got.get("ARN") == self.arn(url), got)
        self.expect("a modification date", isinstance(got.get("LastModifiedDate"), datetime.datetime), got)
        self.expect("no selector asked, none shown", "Selector" not in got, got)
        by_arn = ssm.get_parameter(Name=self.arn(url))["Parameter"]
        self.expect("GetParameter by ARN", by_arn.get("Value") == "http://a.example", by_arn)

        ssm.put_parameter(Name=items, Value="a,b,c", Type="StringList")
        listed = ssm.get_parameter(Name=items)["Parameter"]
        self.expect("a StringList", (listed.get("Type"), listed.get("Value")) == ("StringList", "a,b,c"), listed)

        ssm.put_parameter(Name=f"/{flat}", Value="one level", Type="String")
        same = ssm.get_parameter(Name=flat)["Parameter"]
        self.expect("a one-level name with or without its slash is one parameter",
                    same.get("Value") == "one level" and same.get("ARN") == self.arn(flat), same)
        self.expect_error("so it cannot be created twice", "ParameterAlreadyExists", ssm.put_parameter,
                          Name=flat, Value="again", Type="String")

        described = ssm.describe_parameters(
            ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [url]}])["Parameters"]
        self.expect("the description is kept", len(described) == 1
                    and described[0].get("Description") == "where the app is"
                    and described[0].get("Tier") == "Standard", described)

        many = ssm.get_parameters(Names=[url, items, self.path("/missing")])
        self.expect("GetParameters", sorted(p["Name"] for p in many["Parameters"]) == sorted([url, items])
                    and many.get("InvalidParameters") == [self.path("/missing")], many)

        ssm.delete_parameter(Name=url)
        self.expect_error("a deleted parameter", "ParameterNotFound", ssm.get_parameter, Name=url)
        gone = ssm.delete_parameters(Names=[items, flat, self.path("/missing")])
        self.expect("DeleteParameters", sorted(gone.get("DeletedParameters", [])) == sorted([items, flat])
                    and gone.get("InvalidParameters") == [self.path("/missing")], gone)
        ssm.put_parameter(Name=url, Value="again", Type="String")
        self.expect("a name deleted can be created anew at version 1",
                    ssm.get_parameter(Name=url)["Parameter"].get("Version") == 1)
        self.delete_all(url)

    def versions_and_labels(self) -> None:
        ssm = self.ssm
        name = self.path("/versions/p")
        ssm.put_parameter(Name=name, Value="v1", Type="String", Description="first")
        self.expect_error("without Overwrite", "ParameterAlreadyExists", ssm.put_parameter,
                          Name=name, Value="v2", Type="String")
        for n in (2, 3):
            put = ssm.put_parameter(Name=name, Value=f"v{n}", Overwrite=True)
            self.expect(f"version {n}", put.get("Version") == n, put)
        one = ssm.get_parameter(Name=f"{name}:1")["Parameter"]
        self.expect("a version selector", (one.get("Value"), one.get("Version"), one.get("Selector"), one.get("Name"))
                    == ("v1", 1, ":1", name), one)
        self.expect_error("a version that does not exist", "ParameterVersionNotFound", ssm.get_parameter, Name=f"{name}:9")

        labelled = ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=["stable", "9lives", "awsy"])
        self.expect("invalid labels are answered", labelled.get("InvalidLabels") == ["9lives", "awsy"]
                    and labelled.get("ParameterVersion") == 1, labelled)
        stable = ssm.get_parameter(Name=f"{name}:stable")["Parameter"]
        self.expect("a label selector", (stable.get("Value"), stable.get("Selector")) == ("v1", ":stable"), stable)
        moved = ssm.label_parameter_version(Name=name, Labels=["stable"])
        self.expect("a label goes to the latest version without ParameterVersion", moved.get("ParameterVersion") == 3, moved)
        self.expect("and moves there", ssm.get_parameter(Name=f"{name}:stable")["Parameter"].get("Value") == "v3")
        many = ssm.get_parameters(Names=[f"{name}:stable", f"{name}:2", f"{name}:nolabel"])
        self.expect("GetParameters with selectors", sorted(p["Value"] for p in many["Parameters"]) == ["v2", "v3"]
                    and many.get("InvalidParameters") == [f"{name}:nolabel"], many)

        first = ssm.get_parameter_history(Name=name, MaxResults=2)
        versions = [p["Version"] for p in first["Parameters"]]
        self.expect("history pages, oldest first", versions == [1, 2] and "NextToken" in first, first)
        rest = ssm.get_parameter_history(Name=name, MaxResults=2, NextToken=first.get("NextToken", ""))
        self.expect("the last page", [p["Version"] for p in rest["Parameters"]] == [3] and "NextToken" not in rest, rest)
        history = first["Parameters"] + rest["Parameters"]
        self.expect("labels in the history", [h.get("Labels") for h in history] == [[], [], ["stable"]], history)
        self.expect("who changed it", all(h.get("LastModifiedUser") == self.caller for h in history), history)
        self.expect("an Overwrite without Description keeps it", history[-1].get("Description") == "first", history[-1])

        unlabelled = ssm.unlabel_parameter_version(Name=name, ParameterVersion=3, Labels=["stable", "never"])
        self.expect("UnlabelParameterVersion", unlabelled.get("RemovedLabels") == ["stable"]
                    and unlabelled.get("InvalidLabels") == ["never"], unlabelled)
        self.expect_error("a label removed selects nothing", "ParameterNotFound", ssm.get_parameter, Name=f"{name}:stable")
        self.expect_error("labelling a version that does not exist", "ParameterVersionNotFound",
                          ssm.label_parameter_version, Name=name, ParameterVersion=9, Labels=["x"])

        # At most 100 versions: the oldest goes, unless it has a label.
        many_name = self.path("/versions/many")
        for n in range(1, 102):
            ssm.put_parameter(Name=many_name, Value=f"v{n}", Type="String", Overwrite=True)
        kept = []
        token = None
        while True:
            page = ssm.get_parameter_history(Name=many_name, **({"NextToken": token} if token else {}))
            kept += [p["Version"] for p in page["Parameters"]]
            token = page.get("NextToken")
            if not token:
                break
        self.expect("100 versions kept, the oldest dropped", kept == list(range(2, 102)), (kept[:3], len(kept)))
        self.expect_error("the dropped version", "ParameterVersionNotFound", ssm.get_parameter, Name=f"{many_name}:1")
        ssm.label_parameter_version(Name=many_name, ParameterVersion=2, Labels=["pinned"])
        message = self.expect_error("a labelled oldest version is not dropped", "ParameterMaxVersionLimitExceeded",
                                    ssm.put_parameter, Name=many_name, Value="v102", Overwrite=True)
        self.expect("the message names the version", "Version 2" in message, message)
        self.expect("and nothing was stored", ssm.get_parameter(Name=many_name)["Parameter"].get("Version") == 101)
        self.delete_all(name, many_name)

    def secure_strings(self) -> None:
        ssm = self.ssm
        name, secret = self.path("/db/password"), "correct-horse-battery"
        ssm.put_parameter(Name=name, Value=secret, Type="SecureString")
        hidden = ssm.get_parameter(Name=name)["Parameter"]
        self.expect("a SecureString without WithDecryption is not in clear",
                    hidden.get("Type") == "SecureString" and hidden.get("Value") not in (None, "", secret), hidden)
        shown = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        self.expect("WithDecryption", shown.get("Value") == secret, shown.get("Type"))
        ssm.put_parameter(Name=name, Value="second-secret", Overwrite=True)
        first = ssm.get_parameter(Name=f"{name}:1", WithDecryption=True)["Parameter"]
        self.expect("each version keeps its own secret", first.get("Value") == secret, first.get("Version"))
        self.expect("an Overwrite without Type keeps SecureString",
                    ssm.get_parameter(Name=name)["Parameter"].get("Type") == "SecureString")

        many = ssm.get_parameters(Names=[name])["Parameters"]
        self.expect("GetParameters hides it", [p.get("Value") for p in many] != ["second-secret"], "clear")
        many = ssm.get_parameters(Names=[name], WithDecryption=True)["Parameters"]
        self.expect("GetParameters WithDecryption", [p.get("Value") for p in many] == ["second-secret"], "hidden")
        listed = ssm.get_parameters_by_path(Path=self.path("/db"))["Parameters"]
        self.expect("GetParametersByPath hides it", [p.get("Value") for p in listed] != ["second-secret"], "clear")
        listed = ssm.get_parameters_by_path(Path=self.path("/db"), WithDecryption=True)["Parameters"]
        self.expect("GetParametersByPath WithDecryption", [p.get("Value") for p in listed] == ["second-secret"], "hidden")
        history = ssm.get_parameter_history(Name=name)["Parameters"]
        self.expect("the history hides them", not {p.get("Value") for p in history} & {secret, "second-secret"}, "clear")
        self.expect("the default key is named", all(p.get("KeyId") == "alias/aws/ssm" for p in history), history)
        history = ssm.get_parameter_history(Name=name, WithDecryption=True)["Parameters"]
        self.expect("the history WithDecryption", [p.get("Value") for p in history] == [secret, "second-secret"], "hidden")
        described = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"]
        self.expect("DescribeParameters names the key", [p.get("KeyId") for p in described] == ["alias/aws/ssm"], described)

        # A String made a SecureString by an Overwrite is hidden from then on.
        plain = self.path("/db/user")
        ssm.put_parameter(Name=plain, Value="admin", Type="String")
        ssm.put_parameter(Name=plain, Value="root-user", Type="SecureString", Overwrite=True)
        now = ssm.get_parameter(Name=plain)["Parameter"]
        self.expect("a type changed by Overwrite", now.get("Type") == "SecureString" and now.get("Value") != "root-user", now.get("Type"))
        before = ssm.get_parameter(Name=f"{plain}:1")["Parameter"]
        self.expect("the older String version stays a String", (before.get("Type"), before.get("Value")) == ("String", "admin"), before)
        self.delete_all(name, plain)

    def paths_and_describe(self) -> None:
        ssm = self.ssm
        tree = [self.path(f"/tree/{n}") for n in ("a", "b", "c", "deep/d")]
        other = self.path("/treehouse/x")
        for name in tree + [other]:
            ssm.put_parameter(Name=name, Value="v", Type="StringList" if name.endswith("/b") else "String")

        def by_path(**params) -> list[str]:
            names, token = [], None
            while True:
                page = ssm.get_parameters_by_path(**params, **({"NextToken": token} if token else {}))
                names += [p["Name"] for p in page["Parameters"]]
                token = page.get("NextToken")
                if not token:
                    return names

        self.expect("one level", by_path(Path=self.path("/tree")) == tree[:3], by_path(Path=self.path("/tree")))
        self.expect("recursive, with a trailing slash", by_path(Path=self.path("/tree/"), Recursive=True) == tree)
        self.expect("pages of 2", by_path(Path=self.path("/tree"), Recursive=True, MaxResults=2) == tree)
        first = ssm.get_parameters_by_path(Path=self.path("/tree"), Recursive=True, MaxResults=2)
        self.expect("a page says there is more", len(first["Parameters"]) == 2 and "NextToken" in first, first)
        self.expect_error("MaxResults above 10", "ValidationException", ssm.get_parameters_by_path,
                          Path=self.path("/tree"), MaxResults=11)
        self.expect_error("a NextToken this server did not give", "InvalidNextToken", ssm.get_parameters_by_path,
                          Path=self.path("/tree"), NextToken="not-a-token")
        self.expect_error("a path without its leading slash", "ValidationException", ssm.get_parameters_by_path,
                          Path=self.prefix + "/tree")

        def described(filters, **params) -> list[str]:
            names, token = [], None
            while True:
                page = ssm.describe_parameters(ParameterFilters=filters, **params, **({"NextToken": token} if token else {}))
                names += [p["Name"] for p in page["Parameters"]]
                token = page.get("NextToken")
                if not token:
                    return names

        recursive = [{"Key": "Path", "Option": "Recursive", "Values": [self.path("/tree")]}]
        self.expect("Path Recursive", described(recursive) == tree, described(recursive))
        self.expect("Path OneLevel (the default)", described([{"Key": "Path", "Values": [self.path("/tree")]}]) == tree[:3])
        self.expect("pages of 1", described(recursive, MaxResults=1) == tree)
        begins = [{"Key": "Name", "Option": "BeginsWith", "Values": [self.path("/tree")]}]
        self.expect("Name BeginsWith", described(begins) == tree + [other], described(begins))
        equals = [{"Key": "Name", "Values": [tree[3]]}]
        self.expect("Name Equals", described(equals) == [tree[3]], described(equals))
        contains = [{"Key": "Name", "Option": "Contains", "Values": [f"{self.prefix}/tree/b"]}]
        self.expect("Name Contains", described(contains) == [tree[1]], described(contains))
        typed = recursive + [{"Key": "Type", "Option": "Equals", "Values": ["StringList"]}]
        self.expect("Type Equals with Path", described(typed) == [tree[1]], described(typed))
        meta = ssm.describe_parameters(ParameterFilters=equals)["Parameters"][0]
        self.expect("a parameter's metadata", (meta.get("Type"), meta.get("Version"), meta.get("DataType"),
                                               meta.get("ARN"), meta.get("LastModifiedUser"))
                    == ("String", 1, "text", self.arn(tree[3]), self.caller), meta)
        self.expect_error("a Type that does not exist", "InvalidFilterValue", ssm.describe_parameters,
                          ParameterFilters=[{"Key": "Type", "Values": ["Text"]}])
        self.expect_error("an option Path does not take", "InvalidFilterOption", ssm.describe_parameters,
                          ParameterFilters=[{"Key": "Path", "Option": "Equals", "Values": [self.path()]}])
        self.expect_error("Label is no DescribeParameters filter", "InvalidFilterKey", ssm.describe_parameters,
                          ParameterFilters=[{"Key": "Label", "Values": ["x"]}])
        self.expect_error("a filter twice", "InvalidFilterKey", ssm.describe_parameters,
                          ParameterFilters=[{"Key": "Name", "Values": ["a"]}, {"Key": "Name", "Values": ["b"]}])
        self.expect_error("MaxResults above 50", "ValidationException", ssm.describe_parameters, MaxResults=51)
        self.delete_all(*tree, other)

    def tags(self) -> None:
        ssm = self.ssm
        name, flat = self.path("/tagged"), f"{self.prefix}-tagged"
        ssm.put_parameter(Name=name, Value="v", Type="String", Tags=[{"Key": "env", "Value": "prod"}])

        def tags_of(resource: str) -> dict[str, str]:
            found = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=resource)["TagList"]
            return {t["Key"]: t["Value"] for t in found}

        self.expect("tags given at creation", tags_of(name) == {"env": "prod"}, tags_of(name))
        ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=name,
                                 Tags=[{"Key": "team", "Value": "web"}, {"Key": "env", "Value": "dev"}])
        self.expect("AddTagsToResource adds and replaces", tags_of(name) == {"env": "dev", "team": "web"}, tags_of(name))
        ssm.remove_tags_from_resource(ResourceType="Parameter", ResourceId=name, TagKeys=["env", "absent"])
        self.expect("RemoveTagsFromResource", tags_of(name) == {"team": "web"}, tags_of(name))
        ssm.put_parameter(Name=name, Value="v2", Type="String", Overwrite=True)
        self.expect("a new version keeps the tags", tags_of(name) == {"team": "web"}, tags_of(name))

        ssm.put_parameter(Name=flat, Value="v", Type="String")
        ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=f"/{flat}", Tags=[{"Key": "k", "Value": "v"}])
        self.expect("a one-level name tagged with its slash", tags_of(flat) == {"k": "v"}, tags_of(flat))

        self.expect_error("Tags with Overwrite", "ValidationException", ssm.put_parameter, Name=name, Value="v3",
                          Type="String", Overwrite=True, Tags=[{"Key": "a", "Value": "b"}])
        self.expect_error("a parameter that does not exist", "InvalidResourceId", ssm.add_tags_to_resource,
                          ResourceType="Parameter", ResourceId=self.path("/nothing"), Tags=[{"Key": "a", "Value": "b"}])
        fifty = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
        self.expect_error("more than 50 tags", "TooManyTagsError", ssm.add_tags_to_resource,
                          ResourceType="Parameter", ResourceId=name, Tags=fifty)
        self.expect("a refused tagging changes nothing", tags_of(name) == {"team": "web"}, tags_of(name))
        self.expect_error("a reserved key", "ValidationException", ssm.add_tags_to_resource,
                          ResourceType="Parameter", ResourceId=name, Tags=[{"Key": "aws:x", "Value": "v"}])
        self.delete_all(name, flat)
        self.expect_error("a deleted parameter's tags", "InvalidResourceId", ssm.list_tags_for_resource,
                          ResourceType="Parameter", ResourceId=name)

    def refusals(self) -> None:
        ssm = self.ssm
        name = self.path("/refused")
        self.refused("a custom KMS key", "KeyId", ssm.put_parameter, Name=name, Value="v", Type="SecureString",
                     KeyId="alias/mine")
        self.refused("the advanced tier", "Tier", ssm.put_parameter, Name=name, Value="v", Type="String", Tier="Advanced")
        self.refused("intelligent tiering", "Tier", ssm.put_parameter, Name=name, Value="v", Type="String",
                     Tier="Intelligent-Tiering")
        self.refused("parameter policies", "Policies", ssm.put_parameter, Name=name, Value="v", Type="String",
                     Policies='[{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2030-01-01T00:00:00Z"}}]')
        self.refused("AMI parameters", "DataType", ssm.put_parameter, Name=name, Value="ami-12345678", Type="String",
                     DataType="aws:ec2:image")
        self.refused("the deprecated Filters", "Filters", ssm.describe_parameters, Filters=[{"Key": "Name", "Values": ["x"]}])
        self.refused("shared parameters", "Shared", ssm.describe_parameters, Shared=True)
        self.refused("GetParametersByPath filters", "ParameterFilters", ssm.get_parameters_by_path, Path=self.path(),
                     ParameterFilters=[{"Key": "Type", "Values": ["String"]}])
        self.refused("a KeyId filter", "KeyId", ssm.describe_parameters, ParameterFilters=[{"Key": "KeyId", "Values": ["k"]}])
        self.refused("a tag filter", "tag:env", ssm.describe_parameters,
                     ParameterFilters=[{"Key": "tag:env", "Values": ["prod"]}])
        for call in (ssm.list_tags_for_resource, ssm.remove_tags_from_resource, ssm.add_tags_to_resource):
            extra = {"TagKeys": ["a"]} if call == ssm.remove_tags_from_resource else \
                {"Tags": [{"Key": "a", "Value": "b"}]} if call == ssm.add_tags_to_resource else {}
            self.refused(f"{call.__name__} of a document", "ResourceType", call, code="InvalidResourceType",
                         ResourceType="Document", ResourceId="AWS-RunShellScript", **extra)
        self.expect_error("nothing refused was stored", "ParameterNotFound", ssm.get_parameter, Name=name)
        # Members sent empty ask for nothing refused.
        ssm.describe_parameters(Filters=[], Shared=False, MaxResults=1)

    def errors(self) -> None:
        ssm = self.ssm
        missing = self.path("/missing")
        message = self.expect_error("GetParameter of nothing", "ParameterNotFound", ssm.get_parameter, Name=missing)
        self.expect("AWS's words", message == f"Parameter {missing} not found.", message)
        self.expect_error("DeleteParameter of nothing", "ParameterNotFound", ssm.delete_parameter, Name=missing)
        self.expect_error("GetParameterHistory of nothing", "ParameterNotFound", ssm.get_parameter_history, Name=missing)
        self.expect_error("a reserved prefix", "ValidationException", ssm.put_parameter, Name="/aws/mine", Value="v", Type="String")
        self.expect_error("another reserved prefix", "ValidationException", ssm.put_parameter, Name="SSMthing", Value="v", Type="String")
        self.expect_error("a hierarchy without its leading slash", "ValidationException", ssm.put_parameter,
                          Name=f"{self.prefix}/a", Value="v", Type="String")
        self.expect_error("a space in a name", "ValidationException", ssm.put_parameter,
                          Name=self.path("/a b"), Value="v", Type="String")
        self.expect_error("16 levels", "HierarchyLevelLimitExceededException", ssm.put_parameter,
                          Name=self.path("".join(f"/l{i}" for i in range(15))), Value="v", Type="String")
        self.expect_error("a value past 4096 characters", "ValidationException", ssm.put_parameter,
                          Name=self.path("/big"), Value="x" * 4097, Type="String")
        self.expect_error("no Type for a new parameter", "ValidationException", ssm.put_parameter,
                          Name=self.path("/untyped"), Value="v")
        self.expect_error("a Type that does not exist", "ValidationException", ssm.put_parameter,
                          Name=self.path("/typed"), Value="v", Type="Text")
        self.expect_error("a data type that does not exist", "ValidationException", ssm.put_parameter,
                          Name=self.path("/typed"), Value="v", Type="String", DataType="Text")

        pinned = self.path("/pinned")
        self.expect_error("a value outside AllowedPattern", "ParameterPatternMismatchException", ssm.put_parameter,
                          Name=pinned, Value="abc", Type="String", AllowedPattern=r"^\d+$")
        self.expect_error("an AllowedPattern that is no regular expression", "InvalidAllowedPatternException",
                          ssm.put_parameter, Name=pinned, Value="1", Type="String", AllowedPattern="(unclosed")
        ssm.put_parameter(Name=pinned, Value="42", Type="String", AllowedPattern=r"^\d+$")
        self.expect_error("the pattern stays with the parameter", "ParameterPatternMismatchException",
                          ssm.put_parameter, Name=pinned, Value="forty-three", Overwrite=True)
        self.expect("and nothing was stored", ssm.get_parameter(Name=pinned)["Parameter"].get("Value") == "42")
        described = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [pinned]}])["Parameters"]
        self.expect("DescribeParameters shows the pattern", [p.get("AllowedPattern") for p in described] == [r"^\d+$"], described)

        self.expect_error("GetParameters of 11 names", "ValidationException", ssm.get_parameters,
                          Names=[self.path(f"/n{i}") for i in range(11)])
        self.expect_error("DeleteParameters of 11 names", "ValidationException", ssm.delete_parameters,
                          Names=[self.path(f"/n{i}") for i in range(11)])
        ssm.label_parameter_version(Name=pinned, Labels=[f"l{i}" for i in range(10)])
        self.expect_error("an eleventh label on a version", "ParameterVersionLabelLimitExceeded",
                          ssm.label_parameter_version, Name=pinned, Labels=["eleventh"])
        self.expect_error("unlabelling a version that does not exist", "ParameterVersionNotFound",
                          ssm.unlabel_parameter_version, Name=pinned, ParameterVersion=5, Labels=["l1"])
        self.expect_error("labelling a parameter that does not exist", "ParameterNotFound",
                          ssm.label_parameter_version, Name=missing, Labels=["x"])
        self.delete_all(pinned)


CHECKS = ["put_and_get", "versions_and_labels", "secure_strings", "paths_and_describe", "tags", "refusals", "errors"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--credentials", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--only", action="append", choices=CHECKS, help="run only these checks")
    args = parser.parse_args()
    check = Check(args.endpoint, read_credentials(args.credentials), args.region)
    for name in args.only or CHECKS:
        before = len(check.failures)
        try:
            getattr(check, name)()
        except (ClientError, botocore.exceptions.BotoCoreError) as error:
            check.failures.append(f"{name}: unexpected {error!r}")
        print(f"{name}: {'ok' if len(check.failures) == before else 'FAILED'}")
    for failure in check.failures:
        print(f"FAIL {failure}")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
