"""What the awsvpc benchmark scripts share (awsvpc_bench.py, crosshost_bench.py): waiting for a
URL to answer, and botocore clients of a server from its data directory's root key."""

from __future__ import annotations

import configparser
import os
import subprocess
import time
import urllib.request

import botocore.session
from botocore.config import Config


def wait_http(url: str, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if time.time() > deadline:
                raise SystemExit(f"{url} did not answer")
            time.sleep(0.1)


def clients(endpoint: str, data_dir: str, *services: str) -> tuple:
    """One client per service, with the root key in `data_dir`/credentials."""
    credentials = configparser.ConfigParser()
    credentials.read(os.path.join(data_dir, "credentials"))
    key = credentials["default"]
    session = botocore.session.get_session()
    return tuple(session.create_client(
        service, endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=key["aws_access_key_id"], aws_secret_access_key=key["aws_secret_access_key"],
        config=Config(retries={"total_max_attempts": 3}),
    ) for service in services)


def remove_subnet_bridges(subnet_id: str) -> None:
    """Removes this machine's bridges of a subnet: one per slice, `fl`, the id's last 8
    characters and the slice's 4 hex digits (the CNI bridge plugin keeps them for a next task)."""
    prefix = "fl" + subnet_id[-8:]
    listed = subprocess.run(["ip", "-o", "link", "show", "type", "bridge"], capture_output=True, text=True).stdout
    for line in listed.splitlines():
        name = line.split(": ")[1].split("@")[0] if ": " in line else ""
        if name.startswith(prefix):
            subprocess.run(["ip", "link", "del", name], capture_output=True)


def run(bench) -> int:
    """Starts `bench`, runs it and closes it whatever happened: the run's exit code."""
    try:
        bench.start()
        return bench.run()
    finally:
        bench.close()
