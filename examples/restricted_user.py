"""An IAM user who may detach disks only from servers tagged team=a, made with the official IAM SDK.

Run `localecs serve`, then, with the values it printed:

    LOCALECS_ENDPOINT=http://127.0.0.1:8080 LOCALECS_ACCESS_KEY=... LOCALECS_SECRET_KEY=... \
    LOCALECS_PROJECT_ID=... python examples/restricted_user.py
"""

from __future__ import annotations

import os
import secrets
import time
from typing import Any

from huaweicloudsdkcore.auth.credentials import BasicCredentials, GlobalCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkecs.v2 import EcsClient
from huaweicloudsdkecs.v2 import model as ecs
from huaweicloudsdkevs.v2 import EvsClient
from huaweicloudsdkevs.v2 import model as evs
from huaweicloudsdkiam.v3 import IamClient
from huaweicloudsdkiam.v3 import model as iam

ENDPOINT = os.environ["LOCALECS_ENDPOINT"]
AK, SK = os.environ["LOCALECS_ACCESS_KEY"], os.environ["LOCALECS_SECRET_KEY"]
PROJECT = os.environ["LOCALECS_PROJECT_ID"]

POLICY = iam.ServicePolicy(
    version="1.1",
    statement=[
        iam.ServiceStatement(
            effect="Allow",
            action=["ecs:cloudServers:list", "evs:volumes:get", "evs:volumes:list"],
        ),
        iam.ServiceStatement(
            effect="Allow",
            action=["ecs:cloudServers:detachVolume"],
            condition={"StringEquals": {"g:ResourceTag/team": ["a"]}},
        ),
    ],
)


def wait(client: Any, job_id: str) -> Any:
    request = ecs.ShowJobRequest(job_id=job_id)
    while (job := client.show_job(request)).status not in ("SUCCESS", "FAIL"):
        time.sleep(0.2)
    return job


def clients(ak: str, sk: str) -> tuple[EcsClient, EvsClient]:
    credentials = BasicCredentials(ak, sk, PROJECT)
    return (
        EcsClient.new_builder().with_credentials(credentials).with_endpoint(ENDPOINT).build(),
        EvsClient.new_builder().with_credentials(credentials).with_endpoint(ENDPOINT).build(),
    )


def root_builds_the_estate(root_ecs: EcsClient, root_evs: EvsClient) -> tuple[str, str, str]:
    """Two servers, tagged team=a and team=b, sharing one disk."""
    servers = []
    for team in ("a", "b"):
        server = ecs.PrePaidServer(
            image_ref="img-ubuntu-22.04",
            flavor_ref="s6.small.1",
            name=f"team-{team}",
            vpcid="vpc-1",
            nics=[ecs.PrePaidServerNic(subnet_id="subnet-1")],
            root_volume=ecs.PrePaidServerRootVolume(volumetype="SSD", size=40),
            server_tags=[ecs.PrePaidServerTag(key="team", value=team)],
        )
        created = root_ecs.create_servers(
            ecs.CreateServersRequest(body=ecs.CreateServersRequestBody(server=server))
        )
        wait(root_ecs, created.job_id)
        servers.append(created.server_ids[0])
    option = evs.CreateVolumeOption(
        availability_zone="cn-north-4a", volume_type="SSD", size=10, multiattach=True
    )
    volume = root_evs.create_volume(
        evs.CreateVolumeRequest(body=evs.CreateVolumeRequestBody(volume=option))
    )
    wait(root_evs, volume.job_id)
    volume_id = volume.volume_ids[0]
    body = ecs.BatchAttachSharableVolumesRequestBody(
        serverinfo=[ecs.BatchAttachSharableVolumesOption(server_id=s) for s in servers]
    )
    attached = root_ecs.batch_attach_sharable_volumes(
        ecs.BatchAttachSharableVolumesRequest(volume_id=volume_id, body=body)
    )
    wait(root_ecs, attached.job_id)
    return servers[0], servers[1], volume_id


def root_creates_the_user(root_iam: IamClient, domain_id: str) -> tuple[str, str]:
    """A user in a group holding the policy on this project; returns the user's new AK/SK."""
    name = f"alice-{secrets.token_hex(3)}"
    user = root_iam.create_user(
        iam.CreateUserRequest(
            body=iam.CreateUserRequestBody(
                user=iam.CreateUserOption(name=name, domain_id=domain_id)
            )
        )
    ).user
    group = root_iam.keystone_create_group(
        iam.KeystoneCreateGroupRequest(
            body=iam.KeystoneCreateGroupRequestBody(
                group=iam.KeystoneCreateGroupOption(name=f"detachers-{secrets.token_hex(3)}")
            )
        )
    ).group
    root_iam.keystone_add_user_to_group(
        iam.KeystoneAddUserToGroupRequest(group_id=group.id, user_id=user.id)
    )
    role = root_iam.create_cloud_service_custom_policy(
        iam.CreateCloudServiceCustomPolicyRequest(
            body=iam.CreateCloudServiceCustomPolicyRequestBody(
                role=iam.ServicePolicyRoleOption(
                    display_name=f"detach-team-a-{secrets.token_hex(3)}",
                    type="XA",
                    description="detach from team=a servers",
                    policy=POLICY,
                )
            )
        )
    ).role
    root_iam.keystone_associate_group_with_project_permission(
        iam.KeystoneAssociateGroupWithProjectPermissionRequest(
            project_id=PROJECT, group_id=group.id, role_id=role.id
        )
    )
    key = root_iam.create_permanent_access_key(
        iam.CreatePermanentAccessKeyRequest(
            body=iam.CreatePermanentAccessKeyRequestBody(
                credential=iam.CreateCredentialOption(user_id=user.id)
            )
        )
    ).credential
    print(f"user {name} has access key {key.access}")
    return key.access, key.secret


def main() -> None:
    anonymous = (
        IamClient.new_builder().with_credentials(GlobalCredentials(AK, SK)).with_endpoint(ENDPOINT)
    )
    domains = anonymous.build().keystone_list_auth_domains(iam.KeystoneListAuthDomainsRequest())
    domain_id = domains.domains[0].id
    root_iam = (
        IamClient.new_builder()
        .with_credentials(GlobalCredentials(AK, SK, domain_id))
        .with_endpoint(ENDPOINT)
        .build()
    )
    team_a, team_b, volume_id = root_builds_the_estate(*clients(AK, SK))
    alice_ecs, _ = clients(*root_creates_the_user(root_iam, domain_id))

    for team, server_id in (("b", team_b), ("a", team_a)):
        body = ecs.VolumeBatchDetachRequest(serverinfo=[server_id])
        try:
            response = alice_ecs.batch_detach_volumes(
                ecs.BatchDetachVolumesRequest(volume_id=volume_id, body=body)
            )
        except ClientRequestException as error:
            print(f"detach from team={team}: {error.status_code} {error.error_code}")
            continue
        print(f"detach from team={team}: {wait(alice_ecs, response.job_id).status}")


if __name__ == "__main__":
    main()
