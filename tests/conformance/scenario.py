"""What the scenario scripts share (security_groups.py, awsvpc_service.py, fargate.py): their
command line, botocore clients of the server under test, a list of checks, and the wait for
every task of a cluster to stop before a scenario ends (so nothing of it is left behind)."""

from __future__ import annotations

import argparse
import sys
import time

import botocore.session
from botocore.config import Config

from check_ecs_model import read_credentials


def arguments(description: str, extra=None) -> argparse.Namespace:
    """--endpoint, --credentials, --region, --cluster, and what `extra(parser)` adds."""
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--credentials", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--cluster", default="default")
    if extra:
        extra(parser)
    return parser.parse_args()


def clients(args: argparse.Namespace, *services: str) -> tuple:
    """One botocore client per service, with the root key, tried once (no retries to hide)."""
    key = read_credentials(args.credentials)
    session = botocore.session.get_session()
    return tuple(session.create_client(
        service, endpoint_url=args.endpoint, region_name=args.region,
        aws_access_key_id=key[0], aws_secret_access_key=key[1],
        # DiscoverInstances goes to the data- host unless told not to: data-127.0.0.1 is no name.
        config=Config(retries={"total_max_attempts": 1}, inject_host_prefix=False),
    ) for service in services)


class Checks:
    """A scenario's checks: each printed as it is made, the failed ones kept."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def expect(self, what: str, ok: bool, detail: object = "") -> None:
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            self.failures.append(f"{what}: {detail}")

    def wait_all_stopped(self, ecs, cluster: str, seconds: float = 90) -> None:
        """Waits until every task of `cluster` has stopped (its interface detached)."""
        deadline = time.time() + seconds
        left: list = []
        while time.time() < deadline:
            if not ecs.list_tasks(cluster=cluster, desiredStatus="RUNNING")["taskArns"]:
                arns = ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED")["taskArns"]
                tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
                left = [(t.get("group"), t["lastStatus"]) for t in tasks if t["lastStatus"] != "STOPPED"]
                if not left:
                    return
            time.sleep(0.5)
        self.expect("every task stops", False, left or "tasks still running")

    def finish(self, name: str) -> int:
        for failure in self.failures:
            print(f"FAIL {failure}")
        print(f"{name}: {len(self.failures)} failure(s)")
        return 1 if self.failures else 0


def run(name: str, scenario, checks: Checks, clean_up) -> None:
    """Runs `scenario()`, then `clean_up()` whatever happened, and exits with the checks'
    verdict."""
    try:
        scenario()
    finally:
        clean_up()
    sys.exit(checks.finish(name))
