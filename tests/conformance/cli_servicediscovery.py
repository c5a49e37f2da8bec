"""Cloud Map through the AWS CLI (`aws servicediscovery ...`), as a user types it: a private DNS
namespace, a service with DNS records in the CLI's shorthand, an instance registered, discovered
(with `AWS_DISABLE_HOST_PREFIX_INJECTION=true`, the documented way past the `data-` host),
listed, deregistered, then everything deleted; an unsupported member refused by name.

Usage: cli_servicediscovery.py --endpoint URL --credentials FILE --region R
Exits 0 when every check held, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess

from check_ecs_model import read_credentials


class Cli:
    def __init__(self, endpoint: str, credentials: str, region: str):
        key = read_credentials(credentials)
        self.endpoint = endpoint
        self.env = {**os.environ, "AWS_ACCESS_KEY_ID": key[0], "AWS_SECRET_ACCESS_KEY": key[1],
                    "AWS_DEFAULT_REGION": region, "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
                    "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                    "AWS_MAX_ATTEMPTS": "1"}
        self.env.pop("AWS_PROFILE", None)
        self.failures: list[str] = []

    def expect(self, what: str, ok: bool, detail: object = "") -> None:
        if not ok:
            self.failures.append(f"{what}: {detail}")

    def run(self, *args: str) -> tuple[int, dict, str]:
        """`aws <args> --endpoint-url ... --output json`: exit code, parsed output, stderr."""
        done = subprocess.run(["aws", *args, "--endpoint-url", self.endpoint, "--output", "json"],
                              capture_output=True, text=True, env=self.env, timeout=60)
        output = json.loads(done.stdout) if done.stdout.strip() else {}
        return done.returncode, output, done.stderr

    def ok(self, what: str, *args: str) -> dict:
        code, output, error = self.run(*args)
        self.expect(what, code == 0, error.strip())
        return output

    def walk(self) -> None:
        vpc = self.ok("ec2 describe-vpcs", "ec2", "describe-vpcs")["Vpcs"][0]["VpcId"]
        op = self.ok("create-private-dns-namespace", "servicediscovery", "create-private-dns-namespace",
                     "--name", "cli.local", "--vpc", vpc).get("OperationId", "")
        operation = self.ok("get-operation", "servicediscovery", "get-operation", "--operation-id", op)
        namespace = operation.get("Operation", {}).get("Targets", {}).get("NAMESPACE", "")
        self.expect("the operation succeeded", operation.get("Operation", {}).get("Status") == "SUCCESS", operation)

        code, _, error = self.run("servicediscovery", "create-service", "--name", "checked",
                                  "--namespace-id", namespace,
                                  "--health-check-config", "Type=HTTP,ResourcePath=/,FailureThreshold=1")
        self.expect("Route 53 health checks refused by name", code != 0 and "HealthCheckConfig" in error, error)

        service = self.ok("create-service", "servicediscovery", "create-service", "--name", "api",
                          "--namespace-id", namespace,
                          "--dns-config", "RoutingPolicy=MULTIVALUE,DnsRecords=[{Type=A,TTL=30},{Type=SRV,TTL=30}]",
                          "--health-check-custom-config", "FailureThreshold=1").get("Service", {})
        records = service.get("DnsConfig", {}).get("DnsRecords", [])
        self.expect("the shorthand's records", [(r["Type"], r["TTL"]) for r in records] == [("A", 30), ("SRV", 30)],
                    service)
        service_id = service.get("Id", "")
        self.ok("register-instance", "servicediscovery", "register-instance", "--service-id", service_id,
                "--instance-id", "i-cli", "--attributes", "AWS_INSTANCE_IPV4=10.0.0.5,AWS_INSTANCE_PORT=8080,tier=web")
        code, _, error = self.run("servicediscovery", "register-instance", "--service-id", service_id,
                                  "--instance-id", "i-noport", "--attributes", "AWS_INSTANCE_IPV4=10.0.0.6")
        self.expect("an SRV record needs AWS_INSTANCE_PORT", code != 0 and "AWS_INSTANCE_PORT" in error, error)

        found = self.ok("discover-instances", "servicediscovery", "discover-instances",
                        "--namespace-name", "cli.local", "--service-name", "api",
                        "--query-parameters", "tier=web")
        instances = found.get("Instances", [])
        self.expect("discovered with the prefix turned off", [i["InstanceId"] for i in instances] == ["i-cli"], found)
        self.ok("update-instance-custom-health-status", "servicediscovery", "update-instance-custom-health-status",
                "--service-id", service_id, "--instance-id", "i-cli", "--status", "UNHEALTHY")
        found = self.ok("discover-instances (healthy)", "servicediscovery", "discover-instances",
                        "--namespace-name", "cli.local", "--service-name", "api", "--health-status", "HEALTHY")
        self.expect("an unhealthy instance is not discovered as healthy", found.get("Instances") == [], found)
        listed = self.ok("list-instances", "servicediscovery", "list-instances", "--service-id", service_id)
        self.expect("list-instances", [i["Id"] for i in listed.get("Instances", [])] == ["i-cli"], listed)

        self.ok("deregister-instance", "servicediscovery", "deregister-instance", "--service-id", service_id,
                "--instance-id", "i-cli")
        self.ok("delete-service", "servicediscovery", "delete-service", "--id", service_id)
        self.ok("delete-namespace", "servicediscovery", "delete-namespace", "--id", namespace)
        listed = self.ok("list-namespaces", "servicediscovery", "list-namespaces")
        self.expect("the namespace is gone", all(n["Id"] != namespace for n in listed.get("Namespaces", [])), listed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--credentials", required=True)
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()
    if shutil.which("aws") is None:
        print("FAIL the AWS CLI is not installed (pip install awscli)")
        return 1
    cli = Cli(args.endpoint, args.credentials, args.region)
    cli.walk()
    for failure in cli.failures:
        print(f"FAIL {failure}")
    print(f"Cloud Map through the AWS CLI: {len(cli.failures)} failure(s)")
    return 1 if cli.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
