"""The stand-in S3 endpoint of bk-05's tests, named as such: moto's server (``python -m
moto.server``, Apache-2.0), an emulation of the S3 API, as its own process on 127.0.0.1.

No real object store can run here (MinIO and Garage are AGPL; Ceph's gateway is a cluster of its
own), and bk-05 talks to S3 through boto3, whose requests moto answers as S3 does: ListObjectsV2
pages, ``NoSuchBucket``, object times.  It accepts any signature: credentials are not judged here.
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass

from tests.servers.base import LOOPBACK, ServerProcess, connectable, free_port, make_tempdir


@dataclass
class S3StandIn:
    server: ServerProcess
    endpoint: str
    access_key_id: str
    secret_access_key: str

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.session.Session(aws_access_key_id=self.access_key_id, aws_secret_access_key=self.secret_access_key,
                                     region_name="us-east-1").client("s3", endpoint_url=self.endpoint)

    def stop(self) -> None:
        self.server.stop()


def launch_s3() -> S3StandIn:
    workdir = make_tempdir("s3")
    port = free_port()
    server = ServerProcess(name="s3-standin", argv=[sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)], workdir=workdir,
                           log=workdir / "server.log", env={"AWS_EC2_METADATA_DISABLED": "true"})
    server.start(lambda: connectable(LOOPBACK, port))
    return S3StandIn(server, f"http://{LOOPBACK}:{port}", f"AKIA{secrets.token_hex(8).upper()}", secrets.token_urlsafe(30))
