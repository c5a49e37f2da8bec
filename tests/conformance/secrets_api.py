"""Secrets Manager through botocore's own client, as AWS answers it.

Secrets created, read and updated; versions and staging labels (AWSCURRENT, AWSPREVIOUS,
custom labels, idempotent retries); binary values; deletion with a recovery window, restore and
forced deletion; ListSecrets' filters, sorting and pages; tags; what is refused (custom KMS keys,
rotation, replicas) and AWS's errors; and a user whose policy allows one secret by its ARN
pattern reading it by name while being denied another.

Usage: secrets_api.py --endpoint URL --credentials FILE --region REGION
Exits 0 when every check held, 1 otherwise (each failure is listed).
"""

from __future__ import annotations

import argparse
import json
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
        self.sm = self.client("secretsmanager")
        # Names of this run, so a second run against one server does not collide.
        self.run = uuid.uuid4().hex[:8]

    def client(self, service: str, key: tuple[str, str] | None = None):
        key = key or self.root
        return self.session.create_client(
            service, endpoint_url=self.endpoint, region_name=self.region,
            aws_access_key_id=key[0], aws_secret_access_key=key[1],
            config=Config(retries={"total_max_attempts": 1}),
        )

    def name(self, base: str) -> str:
        return f"{base}-{self.run}"

    def expect(self, what: str, ok: bool, detail: object = "") -> None:
        if not ok:
            self.failures.append(f"{what}: {detail}")

    def expect_error(self, what: str, code: str, call, **params) -> str:
        try:
            call(**params)
        except ClientError as error:
            got = error.response["Error"]["Code"]
            message = error.response["Error"].get("Message", "")
            self.expect(what, got == code, f"expected {code}, got {got}: {message}")
            return message
        self.expect(what, False, f"expected {code}, the call succeeded")
        return ""

    def create_and_read(self) -> None:
        sm, name = self.sm, self.name("app/db")
        created = sm.create_secret(Name=name, SecretString="s3cr3t", Description="the database")
        arn = created["ARN"]
        self.expect("ARN form", arn.startswith(
            f"arn:aws:secretsmanager:{self.region}:") and f":secret:{name}-" in arn
            and len(arn.rsplit("-", 1)[1]) == 6, arn)
        self.expect("a first version", len(created.get("VersionId", "")) >= 32, created)
        for secret_id in (name, arn, arn[:-7]):
            got = sm.get_secret_value(SecretId=secret_id)
            self.expect(f"read by {secret_id}", got["SecretString"] == "s3cr3t"
                        and got["VersionStages"] == ["AWSCURRENT"] and got["ARN"] == arn, got)
        described = sm.describe_secret(SecretId=name)
        self.expect("describe", described["Description"] == "the database"
                    and described["Name"] == name and "DeletedDate" not in described
                    and list(described["VersionIdsToStages"].values()) == [["AWSCURRENT"]],
                    described)
        self.expect("no value in describe", "s3cr3t" not in json.dumps(described, default=str),
                    described)
        updated = sm.update_secret(SecretId=name, Description="moved", SecretString="n3w")
        self.expect("update makes a version", updated.get("VersionId") is not None, updated)
        self.expect("update's value", sm.get_secret_value(SecretId=name)["SecretString"] == "n3w")
        self.expect("update's description",
                    sm.describe_secret(SecretId=name)["Description"] == "moved")
        only_meta = sm.update_secret(SecretId=name, Description="again")
        self.expect("a description alone makes no version", "VersionId" not in only_meta,
                    only_meta)
        empty = sm.create_secret(Name=self.name("empty"))
        self.expect("a secret without a value has no version", "VersionId" not in empty, empty)
        self.expect_error("no value to read", "ResourceNotFoundException", sm.get_secret_value,
                          SecretId=self.name("empty"))
        self.expect_error("same name", "ResourceExistsException", sm.create_secret, Name=name,
                          SecretString="x")
        self.expect_error("unknown", "ResourceNotFoundException", sm.get_secret_value,
                          SecretId=self.name("nothing"))
        self.expect_error("both values", "InvalidParameterException", sm.create_secret,
                          Name=self.name("both"), SecretString="a", SecretBinary=b"b")
        self.expect_error("bad name", "InvalidParameterException", sm.create_secret,
                          Name="no spaces allowed", SecretString="a")

    def versions_and_stages(self) -> None:
        sm, name = self.sm, self.name("rotating")
        first = sm.create_secret(Name=name, SecretString="v1")["VersionId"]
        token = str(uuid.uuid4())
        second = sm.put_secret_value(SecretId=name, SecretString="v2", ClientRequestToken=token)
        self.expect("the token is the version id", second["VersionId"] == token, second)
        self.expect("new is current", second["VersionStages"] == ["AWSCURRENT"], second)
        again = sm.put_secret_value(SecretId=name, SecretString="v2", ClientRequestToken=token)
        self.expect("a retry answers the same version", again["VersionId"] == token, again)
        self.expect_error("a token reused for another value", "ResourceExistsException",
                          sm.put_secret_value, SecretId=name, SecretString="v3",
                          ClientRequestToken=token)
        previous = sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")
        self.expect("AWSPREVIOUS", previous["SecretString"] == "v1"
                    and previous["VersionId"] == first, previous)
        by_id = sm.get_secret_value(SecretId=name, VersionId=first)
        self.expect("by id", by_id["SecretString"] == "v1", by_id)
        pending = sm.put_secret_value(SecretId=name, SecretString="v3",
                                      VersionStages=["AWSPENDING"])["VersionId"]
        self.expect("a pending version leaves the current one",
                    sm.get_secret_value(SecretId=name)["SecretString"] == "v2")
        message = self.expect_error(
            "moving AWSCURRENT needs RemoveFromVersionId", "InvalidParameterException",
            sm.update_secret_version_stage, SecretId=name, VersionStage="AWSCURRENT",
            MoveToVersionId=pending)
        self.expect("the message names the holder", token in message, message)
        sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT",
                                       MoveToVersionId=pending, RemoveFromVersionId=token)
        self.expect("promoted", sm.get_secret_value(SecretId=name)["SecretString"] == "v3")
        self.expect("the old current is previous", sm.get_secret_value(
            SecretId=name, VersionStage="AWSPREVIOUS")["VersionId"] == token)
        self.expect_error("AWSCURRENT cannot just go", "InvalidParameterException",
                          sm.update_secret_version_stage, SecretId=name,
                          VersionStage="AWSCURRENT", RemoveFromVersionId=pending)
        sm.update_secret_version_stage(SecretId=name, VersionStage="AWSPENDING",
                                       RemoveFromVersionId=pending)
        listed = sm.list_secret_version_ids(SecretId=name)
        stages = {v["VersionId"]: v["VersionStages"] for v in listed["Versions"]}
        self.expect("listed versions", stages == {pending: ["AWSCURRENT"],
                                                  token: ["AWSPREVIOUS"]}, stages)
        deprecated = sm.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)
        self.expect("deprecated versions on request", len(deprecated["Versions"]) == 3,
                    deprecated["Versions"])
        paged = sm.list_secret_version_ids(SecretId=name, MaxResults=1)
        self.expect("a page", len(paged["Versions"]) == 1 and "NextToken" in paged, paged)
        rest = sm.list_secret_version_ids(SecretId=name, MaxResults=1,
                                          NextToken=paged["NextToken"])
        self.expect("the next page", len(rest["Versions"]) == 1
                    and rest["Versions"] != paged["Versions"], rest)

    def binary_values(self) -> None:
        sm, name = self.sm, self.name("blob")
        sm.create_secret(Name=name, SecretBinary=b"\x00\x01binary\xff")
        got = sm.get_secret_value(SecretId=name)
        self.expect("binary back", got.get("SecretBinary") == b"\x00\x01binary\xff"
                    and "SecretString" not in got, got)
        sm.put_secret_value(SecretId=name, SecretBinary=b"two")
        self.expect("binary put", sm.get_secret_value(SecretId=name)["SecretBinary"] == b"two")
        sm.update_secret(SecretId=name, SecretBinary=b"three")
        self.expect("binary update",
                    sm.get_secret_value(SecretId=name)["SecretBinary"] == b"three")

    def deletion_and_restore(self) -> None:
        sm, name = self.sm, self.name("doomed")
        sm.create_secret(Name=name, SecretString="bye")
        deleted = sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
        described = sm.describe_secret(SecretId=name)
        window = deleted["DeletionDate"] - described["DeletedDate"]
        self.expect("seven days", abs(window.total_seconds() - 7 * 86400) < 5, window)
        self.expect_error("read while deleted", "InvalidRequestException", sm.get_secret_value,
                          SecretId=name)
        self.expect_error("put while deleted", "InvalidRequestException", sm.put_secret_value,
                          SecretId=name, SecretString="x")
        self.expect_error("create over it", "InvalidRequestException", sm.create_secret,
                          Name=name, SecretString="x")
        names = [s["Name"] for s in sm.list_secrets()["SecretList"]]
        self.expect("hidden from lists", name not in names, names)
        names = [s["Name"] for s in sm.list_secrets(IncludePlannedDeletion=True)["SecretList"]]
        self.expect("listed on request", name in names, names)
        sm.restore_secret(SecretId=name)
        self.expect("restored", sm.get_secret_value(SecretId=name)["SecretString"] == "bye")
        self.expect_error("window too short", "InvalidParameterException", sm.delete_secret,
                          SecretId=name, RecoveryWindowInDays=3)
        self.expect_error("window and force", "InvalidParameterException", sm.delete_secret,
                          SecretId=name, RecoveryWindowInDays=7, ForceDeleteWithoutRecovery=True)
        sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        self.expect_error("gone at once", "ResourceNotFoundException", sm.describe_secret,
                          SecretId=name)
        sm.create_secret(Name=name, SecretString="again")
        self.expect("the name is free", sm.get_secret_value(SecretId=name)["SecretString"]
                    == "again")

    def listing(self) -> None:
        sm = self.sm
        for suffix, description in (("list-b", "bravo"), ("list-a", "alpha"), ("list-c", None)):
            params = {"Name": self.name(suffix), "SecretString": "x"}
            if description:
                params["Description"] = description
            sm.create_secret(**params)
        mine = [{"Key": "name", "Values": [self.name("list-")[:-9]]}]

        def names(**params):
            out = []
            for page in sm.get_paginator("list_secrets").paginate(**params):
                out += [s["Name"] for s in page["SecretList"] if s["Name"].endswith(self.run)]
            return out

        by_name = names(Filters=mine, SortBy="name", SortOrder="asc")
        self.expect("sorted by name", by_name == sorted(by_name) and len(by_name) == 3, by_name)
        desc = names(Filters=mine, SortBy="name", SortOrder="desc")
        self.expect("descending", desc == list(reversed(by_name)), desc)
        described = names(Filters=[{"Key": "description", "Values": ["alph"]}])
        self.expect("description filter", described == [self.name("list-a")], described)
        negated = names(Filters=mine + [{"Key": "description", "Values": ["!alpha"]}])
        self.expect("a negated value", self.name("list-a") not in negated
                    and self.name("list-b") in negated, negated)
        paged = sm.list_secrets(MaxResults=1)
        self.expect("a page of one", len(paged["SecretList"]) == 1 and "NextToken" in paged,
                    paged)
        entry = paged["SecretList"][0]
        self.expect("entries carry stages", "SecretVersionsToStages" in entry
                    and "CreatedDate" in entry, entry)
        self.expect_error("a made-up token", "InvalidNextTokenException", sm.list_secrets,
                          NextToken="nonsense")
        self.expect_error("primary-region filter", "InvalidParameterException", sm.list_secrets,
                          Filters=[{"Key": "primary-region", "Values": ["us-east-1"]}])

    def tags(self) -> None:
        sm, name = self.sm, self.name("tagged")
        sm.create_secret(Name=name, SecretString="x", Tags=[{"Key": "team", "Value": "red"}])
        sm.tag_resource(SecretId=name, Tags=[{"Key": "env", "Value": "prod"},
                                             {"Key": "team", "Value": "blue"}])
        tags = {t["Key"]: t["Value"] for t in sm.describe_secret(SecretId=name)["Tags"]}
        self.expect("tags", tags == {"team": "blue", "env": "prod"}, tags)
        sm.untag_resource(SecretId=name, TagKeys=["team"])
        tags = {t["Key"]: t["Value"] for t in sm.describe_secret(SecretId=name)["Tags"]}
        self.expect("untagged", tags == {"env": "prod"}, tags)
        listed = sm.list_secrets(Filters=[{"Key": "tag-key", "Values": ["env"]},
                                          {"Key": "name", "Values": [name]}])["SecretList"]
        self.expect("tag-key filter", [s["Name"] for s in listed] == [name], listed)
        self.expect_error("reserved prefix", "InvalidParameterException", sm.tag_resource,
                          SecretId=name, Tags=[{"Key": "aws:x", "Value": "y"}])

    def refusals(self) -> None:
        sm, name = self.sm, self.name("refused")
        message = self.expect_error("KmsKeyId", "InvalidParameterException", sm.create_secret,
                                    Name=name, SecretString="x", KmsKeyId="alias/mine")
        self.expect("the message names KmsKeyId", "KmsKeyId" in message, message)
        self.expect_error("nothing stored by a refusal", "ResourceNotFoundException",
                          sm.describe_secret, SecretId=name)
        message = self.expect_error("replicas", "InvalidParameterException", sm.create_secret,
                                    Name=name, SecretString="x",
                                    AddReplicaRegions=[{"Region": "eu-west-1"}])
        self.expect("the message names AddReplicaRegions", "AddReplicaRegions" in message,
                    message)
        sm.create_secret(Name=name, SecretString="x")
        message = self.expect_error("rotation", "InvalidParameterException", sm.rotate_secret,
                                    SecretId=name, RotateImmediately=True)
        self.expect("the message says not supported", "not supported" in message, message)
        self.expect_error("sorting by last access", "InvalidParameterException", sm.list_secrets,
                          SortBy="last-accessed-date")

    def policies(self) -> None:
        """A user allowed `secret:<name>-*` reads it by name and by ARN, and not another."""
        sm, iam = self.sm, self.client("iam")
        allowed, other = self.name("team/allowed"), self.name("team/other")
        arn = sm.create_secret(Name=allowed, SecretString="yes")["ARN"]
        sm.create_secret(Name=other, SecretString="no")
        user = self.name("reader")
        iam.create_user(UserName=user)
        prefix = arn.rsplit(":", 1)[0]
        iam.put_user_policy(UserName=user, PolicyName="read-one", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                           "Resource": f"{prefix}:{allowed}-??????"}]}))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        reader = self.client("secretsmanager", (key["AccessKeyId"], key["SecretAccessKey"]))
        import time
        for _ in range(50):  # a new key is usable at once here; AWS may take seconds
            try:
                got = reader.get_secret_value(SecretId=allowed)
                break
            except ClientError as error:
                if error.response["Error"]["Code"] != "UnrecognizedClientException":
                    raise
                time.sleep(0.1)
        self.expect("allowed by name", got["SecretString"] == "yes", got)
        self.expect("allowed by ARN",
                    reader.get_secret_value(SecretId=arn)["SecretString"] == "yes")
        self.expect_error("another secret", "AccessDeniedException", reader.get_secret_value,
                          SecretId=other)
        self.expect_error("another action", "AccessDeniedException", reader.describe_secret,
                          SecretId=allowed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--credentials", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--only", action="append", help="run only these checks")
    args = parser.parse_args()
    check = Check(args.endpoint, read_credentials(args.credentials), args.region)
    names = args.only or ["create_and_read", "versions_and_stages", "binary_values",
                          "deletion_and_restore", "listing", "tags", "refusals", "policies"]
    for name in names:
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
