"""IAM and STS through botocore's own clients, and IAM policies deciding every request.

The IAM API: users, access keys, groups, roles, inline and managed policies (versions,
attachments), tags and SimulatePrincipalPolicy, with IAM's errors. STS: GetCallerIdentity,
AssumeRole (the trust policy decides, DurationSeconds, role chaining) and GetSessionToken. Then
a policy matrix: users' and assumed roles' keys calling ECS, Logs, IAM and STS, allowed and
denied by Action/Resource, Conditions (ecs:cluster, aws:RequestTag, aws:TagKeys), explicit
denies from groups, attached managed policies and iam:PassRole.

Usage: iam_api.py --endpoint URL --credentials FILE --region REGION
Exits 0 when every check held, 1 otherwise (each failure is listed).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse

import botocore.exceptions
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from check_ecs_model import read_credentials



def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


class Check:
    def __init__(self, endpoint: str, root: tuple[str, str], region: str):
        self.endpoint, self.root, self.region = endpoint, root, region
        self.session = botocore.session.get_session()
        self.failures: list[str] = []
        self.state: str | None = None
        self.iam = self.client("iam")
        self.account = self.client("sts").get_caller_identity()["Account"]

    def client(self, service: str, key: tuple[str, str] | None = None, token: str | None = None):
        key = key or self.root
        return self.session.create_client(
            service, endpoint_url=self.endpoint, region_name=self.region,
            aws_access_key_id=key[0], aws_secret_access_key=key[1], aws_session_token=token,
            config=Config(retries={"total_max_attempts": 1}),
        )

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

    def allowed(self, what: str, call, **params) -> None:
        """The request passed authorization (the service may still refuse it on its own)."""
        got, message = self.error(call, **params)
        self.expect(what, got not in ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation"),
                    f"{got}: {message}")

    def denied(self, what: str, call, action: str, **params) -> None:
        got, message = self.error(call, **params)
        self.expect(what, got in ("AccessDeniedException", "AccessDenied")
                    and f"is not authorized to perform: {action}" in message, f"{got}: {message}")

    def user_with_key(self, name: str, *statements: dict) -> tuple[str, str]:
        self.iam.create_user(UserName=name)
        if statements:
            self.iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy(*statements))
        created = self.iam.create_access_key(UserName=name)["AccessKey"]
        return created["AccessKeyId"], created["SecretAccessKey"]

    # --- the IAM API -------------------------------------------------------------------

    def users_and_keys(self) -> None:
        iam = self.iam
        user = iam.create_user(UserName="alice", Path="/team/", Tags=[{"Key": "team", "Value": "web"}])["User"]
        self.expect("a user's ARN has its path", user["Arn"] == f"arn:aws:iam::{self.account}:user/team/alice", user)
        self.expect("a user id", user["UserId"].startswith("AIDA") and len(user["UserId"]) == 21, user)
        self.expect_error("a name is unique whatever its case", "EntityAlreadyExists", iam.create_user, UserName="ALICE")
        self.expect_error("a name outside IAM's pattern", "ValidationError", iam.create_user, UserName="no spaces")
        got = iam.get_user(UserName="alice")["User"]
        self.expect("GetUser shows the tags", got.get("Tags") == [{"Key": "team", "Value": "web"}], got)
        self.expect_error("an unknown user", "NoSuchEntity", iam.get_user, UserName="nobody")
        me = iam.get_user()["User"]
        self.expect("GetUser without a name is the caller (root)", me["Arn"].endswith(":root"), me)
        iam.create_user(UserName="bob")
        listed = iam.list_users(MaxItems=1)
        self.expect("ListUsers pages", listed["IsTruncated"] and len(listed["Users"]) == 1, listed)
        rest = iam.list_users(Marker=listed["Marker"])
        names = {u["UserName"] for u in listed["Users"] + rest["Users"]}
        self.expect("every user over the pages", {"alice", "bob"} <= names, names)
        self.expect("PathPrefix", [u["UserName"] for u in iam.list_users(PathPrefix="/team/")["Users"]] == ["alice"])
        iam.tag_user(UserName="alice", Tags=[{"Key": "Team", "Value": "api"}, {"Key": "tier", "Value": "1"}])
        tags = iam.list_user_tags(UserName="alice")["Tags"]
        self.expect("a tag key is replaced whatever its case", {"Team": "api", "tier": "1"} == {t["Key"]: t["Value"] for t in tags}, tags)
        iam.untag_user(UserName="alice", TagKeys=["tier"])
        self.expect("untagged", [t["Key"] for t in iam.list_user_tags(UserName="alice")["Tags"]] == ["Team"])

        first = iam.create_access_key(UserName="alice")["AccessKey"]
        self.expect("a key pair", first["AccessKeyId"].startswith("AKIA") and len(first["SecretAccessKey"]) == 40
                    and first["Status"] == "Active" and first["UserName"] == "alice", first["AccessKeyId"])
        iam.create_access_key(UserName="alice")
        self.expect_error("two keys at most", "LimitExceeded", iam.create_access_key, UserName="alice")
        keys = iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]
        self.expect("ListAccessKeys", len(keys) == 2 and all("SecretAccessKey" not in k for k in keys), keys)
        never = iam.get_access_key_last_used(AccessKeyId=first["AccessKeyId"])
        self.expect("a key never used", never["AccessKeyLastUsed"]["ServiceName"] == "N/A", never)
        alice = (first["AccessKeyId"], first["SecretAccessKey"])
        who = self.client("sts", alice).get_caller_identity()
        self.expect("the key is alice", who["Arn"].endswith(":user/team/alice") and who["UserId"] == user["UserId"], who)
        # GetCallerIdentity needs no permission; anything else does (alice has no policy).
        self.denied("a user without policies", self.client("ecs", alice).list_clusters, "ecs:ListClusters")
        used = iam.get_access_key_last_used(AccessKeyId=first["AccessKeyId"])
        self.expect("last used", used["AccessKeyLastUsed"]["ServiceName"] in ("ecs", "sts")
                    and used["UserName"] == "alice", used)
        iam.update_access_key(UserName="alice", AccessKeyId=alice[0], Status="Inactive")
        self.expect_error("an inactive key signs nothing", "InvalidClientTokenId",
                          self.client("sts", alice).get_caller_identity)
        iam.update_access_key(UserName="alice", AccessKeyId=alice[0], Status="Active")
        self.expect("active again", self.error(self.client("sts", alice).get_caller_identity)[0] is None)
        self.expect_error("a key of another user", "NoSuchEntity", iam.delete_access_key, UserName="bob", AccessKeyId=alice[0])
        self.expect_error("a user with keys", "DeleteConflict", iam.delete_user, UserName="alice")
        for k in iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]:
            iam.delete_access_key(UserName="alice", AccessKeyId=k["AccessKeyId"])
        self.expect_error("a deleted key signs nothing", "InvalidClientTokenId",
                          self.client("sts", alice).get_caller_identity)
        iam.delete_user(UserName="alice")
        iam.delete_user(UserName="bob")
        self.expect_error("deleted", "NoSuchEntity", iam.get_user, UserName="alice")

    def groups(self) -> None:
        iam = self.iam
        group = iam.create_group(GroupName="devs")["Group"]
        self.expect("a group", group["Arn"].endswith(":group/devs") and group["GroupId"].startswith("AGPA"), group)
        self.expect_error("a group twice", "EntityAlreadyExists", iam.create_group, GroupName="Devs")
        iam.create_user(UserName="carol")
        iam.add_user_to_group(GroupName="devs", UserName="carol")
        got = iam.get_group(GroupName="devs")
        self.expect("GetGroup lists members", [u["UserName"] for u in got["Users"]] == ["carol"], got)
        self.expect("ListGroupsForUser", [g["GroupName"] for g in iam.list_groups_for_user(UserName="carol")["Groups"]] == ["devs"])
        self.expect("ListGroups", "devs" in [g["GroupName"] for g in iam.list_groups()["Groups"]])
        self.expect_error("a group with members", "DeleteConflict", iam.delete_group, GroupName="devs")
        self.expect_error("a member in a group", "DeleteConflict", iam.delete_user, UserName="carol")
        iam.remove_user_from_group(GroupName="devs", UserName="carol")
        self.expect_error("not a member", "NoSuchEntity", iam.remove_user_from_group, GroupName="devs", UserName="carol")
        iam.delete_group(GroupName="devs")
        iam.delete_user(UserName="carol")

    def roles(self) -> None:
        iam = self.iam
        trust = policy({"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"})
        role = iam.create_role(RoleName="task-role", AssumeRolePolicyDocument=trust, Description="for tasks",
                               MaxSessionDuration=7200, Tags=[{"Key": "app", "Value": "web"}])["Role"]
        self.expect("a role", role["Arn"] == f"arn:aws:iam::{self.account}:role/task-role"
                    and role["RoleId"].startswith("AROA") and role["MaxSessionDuration"] == 7200, role)
        got = iam.get_role(RoleName="task-role")["Role"]
        # botocore decodes the URL-encoded document IAM answers into a dict.
        self.expect("the trust policy as given", got["AssumeRolePolicyDocument"] == json.loads(trust), got)
        self.expect_error("a trust policy without a principal", "MalformedPolicyDocument", iam.create_role,
                          RoleName="bad", AssumeRolePolicyDocument=policy(allow("sts:AssumeRole")))
        self.expect_error("MaxSessionDuration over 12 hours", "ValidationError", iam.create_role,
                          RoleName="long", AssumeRolePolicyDocument=trust, MaxSessionDuration=50000)
        self.expect_error("a role twice", "EntityAlreadyExists", iam.create_role, RoleName="TASK-ROLE", AssumeRolePolicyDocument=trust)
        other = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{self.account}:root"}, "Action": "sts:AssumeRole"})
        iam.update_assume_role_policy(RoleName="task-role", PolicyDocument=other)
        self.expect("UpdateAssumeRolePolicy", iam.get_role(RoleName="task-role")["Role"]["AssumeRolePolicyDocument"] == json.loads(other))
        iam.tag_role(RoleName="task-role", Tags=[{"Key": "tier", "Value": "1"}])
        iam.untag_role(RoleName="task-role", TagKeys=["app"])
        self.expect("role tags", iam.list_role_tags(RoleName="task-role")["Tags"] == [{"Key": "tier", "Value": "1"}])
        self.expect("ListRoles", "task-role" in [r["RoleName"] for r in iam.list_roles()["Roles"]])
        iam.put_role_policy(RoleName="task-role", PolicyName="p", PolicyDocument=policy(allow("logs:*")))
        self.expect_error("a role with policies", "DeleteConflict", iam.delete_role, RoleName="task-role")
        iam.delete_role_policy(RoleName="task-role", PolicyName="p")
        iam.delete_role(RoleName="task-role")
        self.expect_error("deleted", "NoSuchEntity", iam.get_role, RoleName="task-role")

    def inline_policies(self) -> None:
        iam = self.iam
        iam.create_user(UserName="dave")
        iam.create_group(GroupName="ops")
        iam.create_role(RoleName="r", AssumeRolePolicyDocument=policy({"Effect": "Allow", "Principal": {"AWS": self.account}, "Action": "sts:AssumeRole"}))
        document = policy(allow("ecs:List*"))
        for kind, name in (("user", "dave"), ("group", "ops"), ("role", "r")):
            holder = {"user": "UserName", "group": "GroupName", "role": "RoleName"}[kind]
            put = getattr(iam, f"put_{kind}_policy")
            put(**{holder: name}, PolicyName="list", PolicyDocument=document)
            got = getattr(iam, f"get_{kind}_policy")(**{holder: name}, PolicyName="list")
            self.expect(f"{kind} inline policy", got["PolicyDocument"] == json.loads(document) and got[holder] == name, got)
            names = getattr(iam, f"list_{kind}_policies")(**{holder: name})["PolicyNames"]
            self.expect(f"{kind} policy names", names == ["list"], names)
            self.expect_error(f"{kind}: a malformed document", "MalformedPolicyDocument", put,
                              **{holder: name}, PolicyName="bad", PolicyDocument='{"Statement": [{"Effect": "Maybe"}]}')
            self.expect_error(f"{kind}: not JSON", "MalformedPolicyDocument", put,
                              **{holder: name}, PolicyName="bad", PolicyDocument="not json")
            getattr(iam, f"delete_{kind}_policy")(**{holder: name}, PolicyName="list")
            self.expect_error(f"{kind}: deleted", "NoSuchEntity", getattr(iam, f"get_{kind}_policy"), **{holder: name}, PolicyName="list")
        big = policy(*[allow(f"ecs:Describe{'x' * 40}{i}") for i in range(60)])
        self.expect_error("a user's inline policies are at most 2048 characters", "LimitExceeded",
                          iam.put_user_policy, UserName="dave", PolicyName="big", PolicyDocument=big)
        self.expect_error("no such holder", "NoSuchEntity", iam.put_user_policy, UserName="nobody", PolicyName="p", PolicyDocument=document)
        iam.delete_user(UserName="dave")
        iam.delete_group(GroupName="ops")
        iam.delete_role(RoleName="r")

    def managed_policies(self) -> None:
        iam = self.iam
        created = iam.create_policy(PolicyName="ListEcs", Path="/ci/", PolicyDocument=policy(allow("ecs:List*")),
                                    Description="lists", Tags=[{"Key": "a", "Value": "b"}])["Policy"]
        arn = created["Arn"]
        self.expect("a managed policy", arn == f"arn:aws:iam::{self.account}:policy/ci/ListEcs"
                    and created["DefaultVersionId"] == "v1" and created["AttachmentCount"] == 0, created)
        self.expect_error("a name twice", "EntityAlreadyExists", iam.create_policy, PolicyName="ListEcs", PolicyDocument=policy(allow("ecs:*")))
        for n in range(2, 6):
            version = iam.create_policy_version(PolicyArn=arn, PolicyDocument=policy(allow(f"ecs:Describe{n}*")),
                                                SetAsDefault=(n == 3))["PolicyVersion"]
            self.expect("version ids count up", version["VersionId"] == f"v{n}", version)
        self.expect_error("five versions at most", "LimitExceeded", iam.create_policy_version, PolicyArn=arn, PolicyDocument=policy(allow("ecs:*")))
        self.expect("the default", iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v3")
        got = iam.get_policy_version(PolicyArn=arn, VersionId="v3")["PolicyVersion"]
        self.expect("a version's document", got["IsDefaultVersion"] and got["Document"]["Statement"][0]["Action"] == "ecs:Describe3*", got)
        versions = [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]]
        self.expect("versions newest first", versions == ["v5", "v4", "v3", "v2", "v1"], versions)
        self.expect_error("the default version stays", "DeleteConflict", iam.delete_policy_version, PolicyArn=arn, VersionId="v3")
        iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
        for v in ("v2", "v3", "v4", "v5"):
            iam.delete_policy_version(PolicyArn=arn, VersionId=v)
        iam.create_user(UserName="erin")
        iam.create_group(GroupName="ci")
        iam.create_role(RoleName="deployer", AssumeRolePolicyDocument=policy({"Effect": "Allow", "Principal": {"AWS": self.account}, "Action": "sts:AssumeRole"}))
        admin = "arn:aws:iam::aws:policy/AdministratorAccess"
        for kind, name in (("user", "erin"), ("group", "ci"), ("role", "deployer")):
            holder = {"user": "UserName", "group": "GroupName", "role": "RoleName"}[kind]
            getattr(iam, f"attach_{kind}_policy")(**{holder: name}, PolicyArn=arn)
            getattr(iam, f"attach_{kind}_policy")(**{holder: name}, PolicyArn=admin)
            attached = getattr(iam, f"list_attached_{kind}_policies")(**{holder: name})["AttachedPolicies"]
            self.expect(f"{kind} attachments", {a["PolicyArn"] for a in attached} == {arn, admin}, attached)
            only_ci = getattr(iam, f"list_attached_{kind}_policies")(**{holder: name}, PathPrefix="/ci/")["AttachedPolicies"]
            self.expect(f"{kind} attachments by path", [a["PolicyName"] for a in only_ci] == ["ListEcs"], only_ci)
        self.expect("attachment count", iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 3)
        self.expect("AWS managed policies are listed", admin in [p["Arn"] for p in iam.list_policies(Scope="AWS")["Policies"]])
        local = iam.list_policies(Scope="Local", OnlyAttached=True, PathPrefix="/ci/")["Policies"]
        self.expect("ListPolicies filters", [p["PolicyName"] for p in local] == ["ListEcs"], local)
        self.expect_error("an attached policy stays", "DeleteConflict", iam.delete_policy, PolicyArn=arn)
        self.expect_error("an unknown policy", "NoSuchEntity", iam.attach_user_policy, UserName="erin", PolicyArn=arn + "x")
        for kind, name in (("user", "erin"), ("group", "ci"), ("role", "deployer")):
            holder = {"user": "UserName", "group": "GroupName", "role": "RoleName"}[kind]
            for p in (arn, admin):
                getattr(iam, f"detach_{kind}_policy")(**{holder: name}, PolicyArn=p)
        self.expect_error("not attached", "NoSuchEntity", iam.detach_user_policy, UserName="erin", PolicyArn=arn)
        iam.delete_policy(PolicyArn=arn)
        self.expect_error("deleted", "NoSuchEntity", iam.get_policy, PolicyArn=arn)
        iam.delete_user(UserName="erin")
        iam.delete_group(GroupName="ci")
        iam.delete_role(RoleName="deployer")

    def simulate(self) -> None:
        iam = self.iam
        iam.create_user(UserName="sim")
        iam.put_user_policy(UserName="sim", PolicyName="p", PolicyDocument=policy(
            allow("ecs:RunTask", f"arn:aws:ecs:{self.region}:{self.account}:task-definition/web:*",
                  Condition={"ArnEquals": {"ecs:cluster": f"arn:aws:ecs:{self.region}:{self.account}:cluster/prod"}}),
            deny("ecs:DeleteCluster")))
        user_arn = f"arn:aws:iam::{self.account}:user/sim"
        task = f"arn:aws:ecs:{self.region}:{self.account}:task-definition/web:1"
        cluster = lambda name: [{"ContextKeyName": "ecs:cluster", "ContextKeyValues": [f"arn:aws:ecs:{self.region}:{self.account}:cluster/{name}"], "ContextKeyType": "string"}]
        results = iam.simulate_principal_policy(PolicySourceArn=user_arn, ActionNames=["ecs:RunTask"], ResourceArns=[task],
                                                ContextEntries=cluster("prod"))["EvaluationResults"]
        self.expect("allowed on prod", [r["EvalDecision"] for r in results] == ["allowed"], results)
        results = iam.simulate_principal_policy(PolicySourceArn=user_arn, ActionNames=["ecs:RunTask", "ecs:DeleteCluster"],
                                                ResourceArns=[task], ContextEntries=cluster("dev"))["EvaluationResults"]
        self.expect("denied on dev, explicitly for DeleteCluster", [r["EvalDecision"] for r in results] == ["implicitDeny", "explicitDeny"], results)
        extra = iam.simulate_principal_policy(PolicySourceArn=user_arn, ActionNames=["logs:GetLogEvents"],
                                              PolicyInputList=[policy(allow("logs:*"))])["EvaluationResults"]
        self.expect("PolicyInputList adds policies", extra[0]["EvalDecision"] == "allowed", extra)
        self.expect_error("an unknown source", "NoSuchEntity", iam.simulate_principal_policy,
                          PolicySourceArn=f"arn:aws:iam::{self.account}:user/nobody", ActionNames=["ecs:ListClusters"])
        self.expect("nothing changed", self.error(iam.get_user, UserName="sim")[0] is None)
        iam.delete_user_policy(UserName="sim", PolicyName="p")
        iam.delete_user(UserName="sim")

    def sts_sessions(self) -> None:
        iam, sts = self.iam, self.client("sts")
        me = sts.get_caller_identity()
        self.expect("the root", me["Arn"] == f"arn:aws:iam::{me['Account']}:root" and me["UserId"] == me["Account"], me)
        trust = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{self.account}:root"}, "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"sts:ExternalId": "ext-1"}}})
        role = iam.create_role(RoleName="reader", AssumeRolePolicyDocument=trust, MaxSessionDuration=7200)["Role"]
        iam.put_role_policy(RoleName="reader", PolicyName="p", PolicyDocument=policy(allow(["logs:Describe*", "sts:AssumeRole"])))
        self.expect_error("the trust policy's condition", "AccessDenied", sts.assume_role,
                          RoleArn=role["Arn"], RoleSessionName="s1")
        assumed = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1", ExternalId="ext-1", DurationSeconds=7200)
        creds = assumed["Credentials"]
        self.expect("temporary keys", creds["AccessKeyId"].startswith("ASIA") and creds["SessionToken"], creds["AccessKeyId"])
        self.expect("the assumed role", assumed["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{self.account}:assumed-role/reader/s1"
                    and assumed["AssumedRoleUser"]["AssumedRoleId"] == f"{role['RoleId']}:s1", assumed["AssumedRoleUser"])
        key = (creds["AccessKeyId"], creds["SecretAccessKey"])
        as_role = self.client("sts", key, creds["SessionToken"])
        who = as_role.get_caller_identity()
        self.expect("the session's identity", who["Arn"].endswith(":assumed-role/reader/s1") and who["UserId"] == f"{role['RoleId']}:s1", who)
        self.expect_error("a session key needs its token", "InvalidClientTokenId", self.client("sts", key).get_caller_identity)
        self.expect_error("longer than the role allows", "ValidationError", sts.assume_role,
                          RoleArn=role["Arn"], RoleSessionName="s2", ExternalId="ext-1", DurationSeconds=7201)
        self.expect_error("role chaining is one hour at most", "ValidationError", as_role.assume_role,
                          RoleArn=role["Arn"], RoleSessionName="s3", ExternalId="ext-1", DurationSeconds=3601)
        self.expect_error("a session name outside the pattern", "ValidationError", sts.assume_role,
                          RoleArn=role["Arn"], RoleSessionName="has space", ExternalId="ext-1")
        self.expect_error("an unknown role", "AccessDenied", sts.assume_role,
                          RoleArn=f"arn:aws:iam::{self.account}:role/nobody", RoleSessionName="s9")
        token = sts.get_session_token(DurationSeconds=900)["Credentials"]
        as_root_session = self.client("sts", (token["AccessKeyId"], token["SecretAccessKey"]), token["SessionToken"])
        self.expect("a root session is the root", as_root_session.get_caller_identity()["Arn"].endswith(":root"))
        self.expect_error("GetSessionToken: root sessions are an hour at most", "ValidationError", sts.get_session_token, DurationSeconds=7200)
        self.expect_error("no GetSessionToken from a session", "AccessDenied", as_role.get_session_token)
        iam.delete_role_policy(RoleName="reader", PolicyName="p")
        iam.delete_role(RoleName="reader")

    # --- across a restart (tests/e2e/identity.rs restarts the server in between) ----------

    def persist_before(self) -> None:
        iam = self.iam
        key = self.user_with_key("keeper", allow("ecs:ListClusters"))
        trust = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{self.account}:root"}, "Action": "sts:AssumeRole"})
        role = iam.create_role(RoleName="keeper-role", AssumeRolePolicyDocument=trust)["Role"]
        iam.put_role_policy(RoleName="keeper-role", PolicyName="p", PolicyDocument=policy(allow("logs:DescribeLogGroups")))
        creds = self.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="kept")["Credentials"]
        with open(self.state, "w") as out:
            json.dump({"key": key, "session": [creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]]}, out)

    def persist_after(self) -> None:
        with open(self.state) as kept:
            state = json.load(kept)
        key = tuple(state["key"])
        session_key, token = tuple(state["session"][:2]), state["session"][2]
        self.allowed("a user's key and policy after a restart", self.client("ecs", key).list_clusters)
        self.denied("and what it may not do", self.client("logs", key).describe_log_groups, "logs:DescribeLogGroups")
        who = self.client("sts", session_key, token).get_caller_identity()
        self.expect("a session after a restart", who["Arn"].endswith(":assumed-role/keeper-role/kept"), who)
        self.allowed("the session's role policy after a restart", self.client("logs", session_key, token).describe_log_groups)
        self.denied("and what the role may not do", self.client("ecs", session_key, token).list_clusters, "ecs:ListClusters")

    # --- policies deciding requests ------------------------------------------------------

    def policy_matrix(self) -> None:
        iam, region, account = self.iam, self.region, self.account
        cluster_arn = lambda name: f"arn:aws:ecs:{region}:{account}:cluster/{name}"
        ecs_root = self.client("ecs")
        for name in ("prod", "dev"):
            ecs_root.create_cluster(clusterName=name)
        key = self.user_with_key(
            "deployer",
            allow(["ecs:ListClusters", "ecs:DescribeClusters"]),
            allow(["ecs:UpdateService", "ecs:DescribeServices"], f"arn:aws:ecs:{region}:{account}:service/prod/*"),
            allow("ecs:ListTasks", "*", Condition={"ArnEquals": {"ecs:cluster": cluster_arn("prod")}}),
            allow("ecs:CreateCluster", "*", Condition={"StringEquals": {"aws:RequestTag/team": "web"},
                                                      "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}),
            allow("ecs:RegisterTaskDefinition"),
            deny("ecs:DeleteCluster"),
        )
        ecs = self.client("ecs", key)
        self.allowed("an allowed action", ecs.list_clusters)
        self.denied("an action no statement names", ecs.list_task_definitions, "ecs:ListTaskDefinitions")
        self.allowed("a service of prod", ecs.describe_services, cluster="prod", services=["web"])
        self.denied("a service of dev", ecs.describe_services, "ecs:DescribeServices", cluster="dev", services=["web"])
        self.allowed("ecs:cluster condition holds", ecs.list_tasks, cluster="prod")
        self.denied("ecs:cluster condition fails", ecs.list_tasks, "ecs:ListTasks", cluster="dev")
        self.denied("ecs:cluster is the default cluster when none is named", ecs.list_tasks, "ecs:ListTasks")
        self.allowed("the request tag the condition asks for", ecs.create_cluster, clusterName="tagged", tags=[{"key": "team", "value": "web"}])
        self.denied("another tag value", ecs.create_cluster, "ecs:CreateCluster", clusterName="t2", tags=[{"key": "team", "value": "db"}])
        self.denied("a tag key outside the allowed set", ecs.create_cluster, "ecs:CreateCluster", clusterName="t3",
                    tags=[{"key": "team", "value": "web"}, {"key": "cost", "value": "1"}])
        self.denied("no tags", ecs.create_cluster, "ecs:CreateCluster", clusterName="t4")
        message = self.expect_error("an explicit deny", "AccessDeniedException", ecs.delete_cluster, cluster="dev")
        self.expect("the deny is named", "explicit deny" in message, message)

        # iam:PassRole: naming a role for tasks needs it.
        role_arn = f"arn:aws:iam::{account}:role/app-task"
        family = {"family": "passes", "containerDefinitions": [{"name": "c", "image": "flotilla/demo:latest", "memory": 64}],
                  "taskRoleArn": role_arn}
        self.denied("a task role without iam:PassRole", ecs.register_task_definition, "iam:PassRole", **family)
        iam.put_user_policy(UserName="deployer", PolicyName="pass", PolicyDocument=policy(
            allow("iam:PassRole", role_arn, Condition={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}})))
        self.allowed("with iam:PassRole for ecs-tasks", ecs.register_task_definition, **family)

        # Groups: a group's deny wins over the user's allow; leaving the group lifts it.
        iam.create_group(GroupName="frozen")
        iam.put_group_policy(GroupName="frozen", PolicyName="no", PolicyDocument=policy(deny("ecs:List*")))
        iam.add_user_to_group(GroupName="frozen", UserName="deployer")
        self.denied("a group's explicit deny", ecs.list_clusters, "ecs:ListClusters")
        iam.remove_user_from_group(GroupName="frozen", UserName="deployer")
        self.allowed("out of the group", ecs.list_clusters)

        # Managed policies: attaching one allows at once, detaching takes it away.
        logs = self.client("logs", key)
        self.denied("logs before", logs.describe_log_groups, "logs:DescribeLogGroups")
        admin = "arn:aws:iam::aws:policy/AdministratorAccess"
        iam.attach_user_policy(UserName="deployer", PolicyArn=admin)
        self.allowed("logs with AdministratorAccess", logs.describe_log_groups)
        self.expect_error("the user's own deny still wins", "AccessDeniedException", ecs.delete_cluster, cluster="dev")
        iam.detach_user_policy(UserName="deployer", PolicyArn=admin)
        self.denied("logs after detaching", logs.describe_log_groups, "logs:DescribeLogGroups")

        # IAM itself is authorized like any service.
        self.denied("IAM by a user without IAM permissions", self.client("iam", key).list_users, "iam:ListUsers")

        # Assumed roles act with the role's policies, not the caller's.
        trust = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:user/deployer"}, "Action": "sts:AssumeRole"})
        role = iam.create_role(RoleName="log-reader", AssumeRolePolicyDocument=trust)["Role"]
        iam.put_role_policy(RoleName="log-reader", PolicyName="p", PolicyDocument=policy(allow("logs:DescribeLogGroups")))
        sts = self.client("sts", key)
        self.denied("AssumeRole needs the caller's permission", sts.assume_role, "sts:AssumeRole",
                    RoleArn=role["Arn"], RoleSessionName="ci")
        iam.put_user_policy(UserName="deployer", PolicyName="assume", PolicyDocument=policy(allow("sts:AssumeRole", role["Arn"])))
        creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="ci")["Credentials"]
        session = ((creds["AccessKeyId"], creds["SecretAccessKey"]), creds["SessionToken"])
        self.allowed("the role's permission", self.client("logs", *session).describe_log_groups)
        self.denied("not the caller's permissions", self.client("ecs", *session).list_clusters, "ecs:ListClusters")
        other_trust = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:user/someone-else"}, "Action": "sts:AssumeRole"})
        iam.create_role(RoleName="not-mine", AssumeRolePolicyDocument=other_trust)
        iam.put_user_policy(UserName="deployer", PolicyName="assume", PolicyDocument=policy(allow("sts:AssumeRole")))
        self.expect_error("a trust policy that names someone else", "AccessDenied", sts.assume_role,
                          RoleArn=f"arn:aws:iam::{account}:role/not-mine", RoleSessionName="ci")
        iam.delete_role_policy(RoleName="log-reader", PolicyName="p")
        self.denied("a role's policy removed takes effect on live sessions", self.client("logs", *session).describe_log_groups,
                    "logs:DescribeLogGroups")

        # GetSessionToken: the user's permissions, but no IAM.
        token = sts.get_session_token()["Credentials"]
        as_session = ((token["AccessKeyId"], token["SecretAccessKey"]), token["SessionToken"])
        self.allowed("a user session keeps the user's permissions", self.client("ecs", *as_session).list_clusters)
        self.expect_error("a user session calls no IAM", "AccessDenied", self.client("iam", *as_session).get_user)

        # iam:PassRole for the roles of the task definition a task runs.
        ecs_root.register_task_definition(**family)
        ecs_root.register_task_definition(family="plain", containerDefinitions=family["containerDefinitions"])
        runner = self.client("ecs", self.user_with_key("runner", allow("ecs:RunTask")))
        self.denied("RunTask of a definition with a task role needs iam:PassRole", runner.run_task,
                    "iam:PassRole", cluster="prod", taskDefinition="passes")
        self.allowed("RunTask of a definition without roles", runner.run_task, cluster="prod", taskDefinition="plain")

        # aws:ResourceTag and ecs:ResourceTag: the tags of the resource acted on.
        ecs_root.create_cluster(clusterName="scratch-1", tags=[{"key": "env", "value": "scratch"}])
        ecs_root.create_cluster(clusterName="keep-1", tags=[{"key": "env", "value": "prod"}])
        tagger = self.client("ecs", self.user_with_key(
            "tagger", allow("ecs:DeleteCluster", "*", Condition={"StringEquals": {"aws:ResourceTag/env": "scratch"}}),
            allow("ecs:DescribeClusters", "*", Condition={"StringEquals": {"ecs:ResourceTag/env": "prod"}})))
        self.denied("a resource tag that does not match", tagger.delete_cluster, "ecs:DeleteCluster", cluster="keep-1")
        self.allowed("a resource tag that matches", tagger.delete_cluster, cluster="scratch-1")
        self.allowed("ecs:ResourceTag", tagger.describe_clusters, clusters=["keep-1"])
        self.denied("ecs:ResourceTag of an untagged cluster", tagger.describe_clusters, "ecs:DescribeClusters", clusters=["dev"])

        for name in ("prod", "dev", "tagged", "keep-1"):
            ecs_root.delete_cluster(cluster=name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--credentials", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--only", action="append", help="run only these checks")
    parser.add_argument("--state", help="where persist_before leaves what persist_after checks")
    args = parser.parse_args()
    check = Check(args.endpoint, read_credentials(args.credentials), args.region)
    check.state = args.state
    names = args.only or ["users_and_keys", "groups", "roles", "inline_policies", "managed_policies",
                          "simulate", "sts_sessions", "policy_matrix"]
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
