"""The peer: moto's EC2 server, driven with the nearest equivalents of localecs's calls.

A batch detach's nearest EC2 call is DetachVolume (one volume from one instance), ShowJob's is
DescribeVolumes for one volume. moto answers synchronously, so a pool of AttachVolume for every
volume followed by DetachVolume for every volume stays valid when replayed in a loop as long
as the pool is much longer than the number of connections.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import boto3

from bench.signer import raw_request

REGION = "us-east-1"
VERSION = "2016-11-15"
# moto routes by the credential scope and does not check signatures.
_AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIDBENCHMARK/20260101/us-east-1/ec2/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=00"
)


@dataclass(frozen=True)
class MotoPools:
    attach_detach: list[bytes]
    describe: list[bytes]


def prepare(endpoint: str, host: str, volumes: int) -> MotoPools:
    ec2 = boto3.client(
        "ec2",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="AKIDBENCHMARK",
        aws_secret_access_key="bench",
    )
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instances: list[str] = []
    while len(instances) < volumes:
        count = min(100, volumes - len(instances))
        reply = ec2.run_instances(ImageId=image, MinCount=count, MaxCount=count)
        instances += [i["InstanceId"] for i in reply["Instances"]]
    volume_ids = [
        ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=10)["VolumeId"]
        for _ in range(volumes)
    ]
    pairs = list(zip(volume_ids, instances, strict=True))
    attach = [
        _call(host, "AttachVolume", VolumeId=v, InstanceId=i, Device="/dev/sdf") for v, i in pairs
    ]
    detach = [_call(host, "DetachVolume", VolumeId=v, InstanceId=i) for v, i in pairs]
    describe = [_call(host, "DescribeVolumes", **{"VolumeId.1": v}) for v in volume_ids]
    return MotoPools(attach + detach, describe)


def _call(host: str, action: str, **params: str) -> bytes:
    body = urlencode({"Action": action, "Version": VERSION, **params}).encode()
    return raw_request(
        host,
        "POST",
        "/",
        body=body,
        content_type="application/x-www-form-urlencoded; charset=utf-8",
        extra_headers={"authorization": _AUTH, "x-amz-date": "20260101T000000Z"},
    )
