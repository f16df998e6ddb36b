"""A model-based (stateful) test of the attachment rules: random sequences of SDK calls against
the live service, each checked against a small pure-Python model of contract sections 7 and 8.

The model predicts, for every call, either acceptance (and the attachments that result) or the
exact rejection (HTTP status and error code), in the order localecs checks them when several
rules apply at once. After every step the live state (disk attachments and status, each
server's block devices and status) must equal the model's.

The fleet (4 servers with their system disks, 2 shared disks, 1 plain disk) is created once per
store; every example starts from the same canonical state (CANONICAL_*), restored through the
API in `teardown`. It already holds a shared disk on two servers, the plain disk on one, and a
stopped server with an empty system slot, so that every rule can be reached from the first step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.internal.conjecture import engine as hypothesis_engine
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.support import sdk

# Names in the model (and in hypothesis's printed steps); the test maps them to real ids.
SERVERS = ("srv0", "srv1", "srv2", "srv3")
SYSTEM_DISKS = {f"sys{i}": server for i, server in enumerate(SERVERS)}  # disk -> its owner
OWN_SYSTEM_DISK = {server: disk for disk, server in SYSTEM_DISKS.items()}
DATA_DISKS = {"shared-a": True, "shared-b": True, "plain": False}  # disk -> multiattach
VOLUMES = (*DATA_DISKS, *SYSTEM_DISKS)
GHOST_SERVER = "ghost-srv"  # an id that names no server (404 Ecs.0114)
GHOST_VOLUME = "ghost-vol"  # an id that names no disk (404 EVS.5404)
GHOST_IDS = {
    GHOST_SERVER: "00000000-0000-4000-8000-00000000beef",
    GHOST_VOLUME: "00000000-0000-4000-8000-00000000d15c",
}
SYSTEM_DEVICE = "/dev/vda"
ACTIVE, SHUTOFF = "ACTIVE", "SHUTOFF"

# Where every example starts: server -> status, and server -> {disk: in the system slot}.
CANONICAL_STATUS = {"srv0": ACTIVE, "srv1": ACTIVE, "srv2": ACTIVE, "srv3": SHUTOFF}
CANONICAL_DISKS: dict[str, dict[str, bool]] = {
    "srv0": {"sys0": True, "shared-a": False},
    "srv1": {"sys1": True, "shared-a": False, "plain": False},
    "srv2": {"sys2": True},
    "srv3": {"shared-b": False},  # its system disk is off
}


@dataclass(frozen=True)
class Rejected:
    status: int
    code: str


def bad_request(code: str) -> Rejected:
    return Rejected(400, code)


DUPLICATE = bad_request("Ecs.0005")  # also an empty serverinfo / server list
NO_SERVER = Rejected(404, "Ecs.0114")
NO_VOLUME = Rejected(404, "EVS.5404")


@dataclass
class Model:
    """The rules, as localecs orders them. Each operation returns the rejection it predicts, or
    None after applying the accepted change."""

    status: dict[str, str] = field(default_factory=lambda: dict(CANONICAL_STATUS))
    # disk -> {server holding it: whether it sits in the system slot (bootIndex 0)}
    attached: dict[str, dict[str, bool]] = field(
        default_factory=lambda: {
            disk: {s: disks[disk] for s, disks in CANONICAL_DISKS.items() if disk in disks}
            for disk in VOLUMES
        }
    )

    def shared(self, disk: str) -> bool:
        return DATA_DISKS.get(disk, False)

    def disks_of(self, server: str) -> dict[str, bool]:
        return {d: boot[server] for d, boot in self.attached.items() if server in boot}

    def system_slot_taken(self, server: str) -> bool:
        return any(self.disks_of(server).values())

    def _detach_refusal(self, disk: str, server: str) -> Rejected | None:
        """Per listed server: attached at all (0111), then its state allows it (0100)."""
        if server not in self.attached[disk]:
            return bad_request("Ecs.0111")
        if self.attached[disk][server] and self.status[server] != SHUTOFF:
            return bad_request("Ecs.0100")  # the system disk comes off only while SHUTOFF
        return None

    def batch_attach(self, disk: str, servers: Sequence[str]) -> Rejected | None:
        if not servers or len(set(servers)) < len(servers):
            return DUPLICATE  # body validation comes first
        if disk == GHOST_VOLUME:
            return NO_VOLUME
        if not self.shared(disk):
            return bad_request("Ecs.0103")  # batch attach needs a shared disk
        if GHOST_SERVER in servers:
            return NO_SERVER  # every server is looked up before any is checked
        if any(s in self.attached[disk] for s in servers):
            return bad_request("Ecs.0057")
        # > 16 holders (Ecs.0118) cannot happen with 4 servers; ACTIVE and SHUTOFF both attach.
        self.attached[disk].update(dict.fromkeys(servers, False))
        return None

    def batch_detach(self, disk: str, servers: Sequence[str]) -> Rejected | None:
        if not servers or len(set(servers)) < len(servers):
            return DUPLICATE
        if disk == GHOST_VOLUME:
            return NO_VOLUME
        if GHOST_SERVER in servers:
            return NO_SERVER
        # Contract 7.4: every listed server must hold the disk (step 3) before any server's
        # state is checked (step 4), whatever the order of the list.
        if any(server not in self.attached[disk] for server in servers):
            return bad_request("Ecs.0111")
        for server in servers:
            refusal = self._detach_refusal(disk, server)
            if refusal is not None:
                return refusal
        for server in servers:
            del self.attached[disk][server]
        return None

    def attach(self, server: str, disk: str, device: str | None) -> Rejected | None:
        if server == GHOST_SERVER:
            return NO_SERVER  # the path's server is looked up before the disk
        if disk == GHOST_VOLUME:
            return NO_VOLUME
        holders = self.attached[disk]
        if server in holders:
            return bad_request("Ecs.0057")
        if not self.shared(disk) and holders:
            return bad_request("Ecs.0103")  # a non-shared disk that is in use
        if device == SYSTEM_DEVICE and self.system_slot_taken(server):
            return bad_request("Ecs.0005")  # that device is taken on this server
        if device == SYSTEM_DEVICE and self.shared(disk):
            return bad_request("Ecs.0005")  # a shared disk is never a system disk (7.3)
        holders[server] = device == SYSTEM_DEVICE
        return None

    def detach(self, server: str, disk: str, force: bool) -> Rejected | None:
        if server == GHOST_SERVER:
            return NO_SERVER
        if disk == GHOST_VOLUME:
            return NO_VOLUME
        if force and self.attached[disk].get(server):
            return bad_request("Ecs.0102")  # a system disk is never force-detached
        refusal = self._detach_refusal(disk, server)
        if refusal is not None:
            return refusal
        del self.attached[disk][server]
        return None

    def power(self, servers: Sequence[str], on: bool) -> Rejected | None:
        if not servers or len(set(servers)) < len(servers):
            return DUPLICATE
        if GHOST_SERVER in servers:
            return NO_SERVER
        # localecs starts an ACTIVE server and stops a SHUTOFF one without complaint (a no-op):
        # check_can_power refuses only servers that are neither, or that are mid-operation.
        for server in servers:
            self.status[server] = ACTIVE if on else SHUTOFF
        return None


def one_in(n: int) -> st.SearchStrategy[bool]:
    """True about once in n draws (st.integers would favour its bounds)."""
    return st.sampled_from([False] * (n - 1) + [True])


def prefer(data: st.DataObject, preferred: Sequence[str], label: str) -> list[str]:
    """`preferred` (the servers for which the call can succeed) half the time, else every
    server."""
    if not preferred:
        return [*SERVERS]
    use_preferred: bool = data.draw(st.booleans(), label=label)
    return list(preferred) if use_preferred else [*SERVERS]


def draw_servers(data: st.DataObject, preferred: Sequence[str]) -> list[str]:
    """Servers for a batch call, in random order, half the time from `preferred` only;
    sometimes with a duplicate, an unknown server, or none at all."""
    if data.draw(one_in(25), label="empty"):
        return []
    pool = prefer(data, preferred, "preferred servers")
    servers = data.draw(st.lists(st.sampled_from(pool), min_size=1, unique=True), label="picked")
    if data.draw(one_in(10), label="unknown"):
        servers.insert(data.draw(st.integers(0, len(servers))), GHOST_SERVER)
    if data.draw(one_in(8), label="duplicate"):
        repeated = data.draw(st.sampled_from(servers))
        servers.insert(data.draw(st.integers(0, len(servers))), repeated)
    return servers


def draw_server(data: st.DataObject, preferred: Sequence[str], unknown: bool = True) -> str:
    if unknown and data.draw(one_in(12), label="unknown"):
        return GHOST_SERVER
    return data.draw(st.sampled_from(prefer(data, preferred, "preferred servers")), label="server")


# Disks for batch calls (mostly shared ones) and for single calls (any, sometimes unknown).
batch_disks = st.sampled_from(
    ("shared-a", "shared-b", "shared-a", "shared-b", "plain", "sys0", GHOST_VOLUME)
)
single_disks = st.sampled_from((*DATA_DISKS, *DATA_DISKS, *DATA_DISKS, *SYSTEM_DISKS, GHOST_VOLUME))


def draw_held_disk(data: st.DataObject, held: Sequence[str], others: st.SearchStrategy[str]) -> str:
    """A disk to detach: mostly one that some server holds, else any from `others`."""
    if held and not data.draw(one_in(4), label="any disk"):
        return data.draw(st.sampled_from(held), label="disk")
    return data.draw(others, label="disk")


@dataclass(frozen=True)
class Live:
    """The SDK clients and the real ids behind the model's names."""

    ecs: sdk.EcsClient
    evs: sdk.EvsClient
    ids: dict[str, str]  # model name -> real id (servers, disks and the two ghosts)

    @classmethod
    def create(cls, ecs: sdk.EcsClient, evs: sdk.EvsClient) -> Live:
        servers = sdk.create_servers(ecs, count=len(SERVERS), name=sdk.unique("model"))
        ids = dict(zip(SERVERS, servers, strict=True))
        for disk, owner in SYSTEM_DISKS.items():
            ids[disk] = sdk.system_disk_id(ecs, ids[owner])
        for disk, shared in DATA_DISKS.items():
            ids[disk] = sdk.create_volume(evs, shared=shared, name=sdk.unique(disk))
        live = cls(ecs, evs, {**ids, **GHOST_IDS})
        live.restore_canonical()
        return live

    def name(self, real_id: str) -> str:
        return next((name for name, i in self.ids.items() if i == real_id), real_id)

    def real(self, names: Sequence[str]) -> list[str]:
        return [self.ids[n] for n in names]

    def server_status(self, server: str) -> str:
        return str(sdk.show_server(self.ecs, self.ids[server]).status)

    def disks_of(self, server: str) -> dict[str, bool]:
        """The server's block devices: disk name -> whether it is in the system slot."""
        devices = sdk.block_devices(self.ecs, self.ids[server]).volume_attachments
        return {self.name(d.volume_id): d.boot_index == 0 for d in devices}

    def restore_canonical(self) -> None:
        """Brings the fleet back to the canonical state, from what the API reports."""
        status = {s: self.server_status(s) for s in SERVERS}
        to_stop = [s for s in SERVERS if status[s] == ACTIVE != CANONICAL_STATUS[s]]
        stray: dict[str, list[str]] = {}  # disk -> servers holding it outside that state
        for server in SERVERS:
            for disk, boot in self.disks_of(server).items():
                if CANONICAL_DISKS[server].get(disk) is not boot:
                    stray.setdefault(disk, []).append(server)
                    if boot and status[server] == ACTIVE and server not in to_stop:
                        to_stop.append(server)  # a system-slot disk comes off only SHUTOFF
        if to_stop:
            job = self.power(to_stop, on=False)
            assert_job(job, "batchStopServers", "stopServer", self.real(to_stop))
        for disk, servers in stray.items():
            job = sdk.batch_detach(self.ecs, self.ids[disk], self.real(servers))
            assert_job(job, "batchDetachVolumes", "detachVolume", self.real(servers))
        for server, disks in CANONICAL_DISKS.items():
            for disk in disks.keys() - self.disks_of(server).keys():
                device = SYSTEM_DEVICE if disks[disk] else None
                job = sdk.attach(self.ecs, self.ids[server], self.ids[disk], device)
                assert_job(job, "attachVolume")
        to_start = [s for s in SERVERS if self.server_status(s) != ACTIVE == CANONICAL_STATUS[s]]
        if to_start:
            job = self.power(to_start, on=True)
            assert_job(job, "batchStartServers", "startServer", self.real(to_start))

    def power(self, servers: Sequence[str], on: bool) -> Any:
        call = sdk.start_servers if on else sdk.stop_servers
        return call(self.ecs, self.real(servers))


def assert_job(
    job: Any, job_type: str, sub_type: str | None = None, servers: Sequence[str] = ()
) -> None:
    """An accepted call's job ended SUCCESS; a batch has one sub-job per server (real ids), in
    request order."""
    assert (job.status, job.job_type, job.error_code) == ("SUCCESS", job_type, None), job
    subs = job.entities.sub_jobs or []
    if sub_type is None:
        assert (job.entities.sub_jobs_total, subs) == (0, []), job
        return
    assert job.entities.sub_jobs_total == len(subs) == len(servers), job
    assert [s.entities.server_id for s in subs] == list(servers), job
    assert {(s.status, s.job_type, s.error_code) for s in subs} == {("SUCCESS", sub_type, None)}


class AttachmentRules(RuleBasedStateMachine):
    """Random calls against the live fleet, each judged by the model first."""

    live: ClassVar[Live]  # bound per store by the test (see `bound`)

    @classmethod
    def bound(cls, live: Live) -> type[AttachmentRules]:
        return type("AttachmentRules", (cls,), {"live": live})

    def __init__(self) -> None:
        super().__init__()
        self.model = Model()

    def expect(self, rejection: Rejected | None, action: Callable[[], Any]) -> Any:
        """Runs an SDK call the model has judged: rejected exactly as predicted (None is
        returned), or accepted (the final job is returned)."""
        if rejection is not None:
            sdk.expect_error(action, rejection.status, rejection.code)
            return None
        return action()

    def holders(self, disk: str) -> list[str]:
        return sorted(self.model.attached.get(disk, {}))

    def others(self, disk: str) -> list[str]:
        return [s for s in SERVERS if s not in self.model.attached.get(disk, {})]

    @rule(disk=batch_disks, data=st.data())
    def batch_attach(self, disk: str, data: st.DataObject) -> None:
        self._batch(True, disk, draw_servers(data, self.others(disk)))

    def held_disks(self) -> list[str]:
        """Disks some server holds that can come off: data disks, and disks in the system
        slot of a stopped server; failing those, any disk some server holds."""
        held = {d: h for d, h in self.model.attached.items() if h}
        detachable = [
            d
            for d, holders in held.items()
            if any(not boot or self.model.status[s] == SHUTOFF for s, boot in holders.items())
        ]
        return detachable or list(held)

    @rule(data=st.data())
    def batch_detach(self, data: st.DataObject) -> None:
        disk = draw_held_disk(data, self.held_disks(), batch_disks)
        self._batch(False, disk, draw_servers(data, self.holders(disk)))

    def mixed_servers(self, disk: str, unknown: bool, data: st.DataObject) -> list[str]:
        """A server holding the disk and one that does not, maybe others and an unknown one,
        in random order: requests where several checks fail at once, so the code that comes
        back shows the order of the checks."""
        holders = self.holders(disk) if disk != GHOST_VOLUME else []
        others = [s for s in SERVERS if s not in holders]
        servers = [data.draw(st.sampled_from(group)) for group in (holders, others) if group]
        extra = data.draw(st.lists(st.sampled_from(SERVERS), max_size=2, unique=True))
        servers += [s for s in extra if s not in servers] + ([GHOST_SERVER] if unknown else [])
        return data.draw(st.permutations(servers), label="servers")

    @rule(
        disk=st.sampled_from((*DATA_DISKS, "sys0", GHOST_VOLUME)),
        unknown=st.booleans(),
        data=st.data(),
    )
    def batch_attach_mixed(self, disk: str, unknown: bool, data: st.DataObject) -> None:
        """E.g. a non-shared disk and an unknown server: Ecs.0103 before 404 Ecs.0114."""
        self._batch(True, disk, self.mixed_servers(disk, unknown, data))

    @rule(
        disk=st.sampled_from((*DATA_DISKS, *SYSTEM_DISKS, *SYSTEM_DISKS)),
        unknown=one_in(4),
        data=st.data(),
    )
    def batch_detach_mixed(self, disk: str, unknown: bool, data: st.DataObject) -> None:
        """E.g. the system disk of a running server and a server without it: the first of
        missing attachment decides (Ecs.0111), before any server's state (contract 7.4)."""
        self._batch(False, disk, self.mixed_servers(disk, unknown, data))

    @rule(disk=single_disks, device=st.sampled_from([None, None, SYSTEM_DEVICE]), data=st.data())
    def attach(self, disk: str, device: str | None, data: st.DataObject) -> None:
        self._attach(draw_server(data, self.others(disk)), disk, device)

    def slotless_servers(self) -> list[str]:
        """Servers with nothing in the system slot (their system disk was detached)."""
        return [s for s in SERVERS if not self.model.system_slot_taken(s)]

    def stopped_servers(self) -> list[str]:
        return [s for s in SERVERS if self.model.status[s] == SHUTOFF]

    def stopped_with_system_disk(self) -> list[str]:
        return [s for s in self.stopped_servers() if self.model.system_slot_taken(s)]

    @precondition(lambda self: self.slotless_servers())
    @rule(
        kind=st.sampled_from(["own", "shared", "any"]),
        device=st.sampled_from([SYSTEM_DEVICE] * 3 + [None]),
        data=st.data(),
    )
    def fill_system_slot(self, kind: str, device: str | None, data: st.DataObject) -> None:
        """A disk into an empty system slot: the server's own system disk, a shared disk
        (refused, Ecs.0005) or any other; or, with no device named, as a data disk."""
        server = draw_server(data, self.slotless_servers(), unknown=False)
        if kind == "own":
            disk = OWN_SYSTEM_DISK[server]
        else:
            shared = st.sampled_from([d for d, multiattach in DATA_DISKS.items() if multiattach])
            disk = data.draw(shared if kind == "shared" else single_disks, label="disk")
        self._attach(server, disk, device)

    @rule(force=one_in(4), data=st.data())
    def detach(self, force: bool, data: st.DataObject) -> None:
        disk = draw_held_disk(data, self.held_disks(), single_disks)
        self._detach(draw_server(data, self.holders(disk)), disk, force)

    @precondition(lambda self: self.stopped_servers())
    @rule(force=one_in(4), data=st.data())
    def detach_own_system_disk(self, force: bool, data: st.DataObject) -> None:
        """Accepted while SHUTOFF (mostly drawn from those), refused while ACTIVE (Ecs.0100) or
        forced (Ecs.0102). The `detach` rule reaches system disks too."""
        server = draw_server(data, self.stopped_with_system_disk(), unknown=False)
        self._detach(server, OWN_SYSTEM_DISK[server], force)

    @rule(on=st.booleans(), data=st.data())
    def power(self, on: bool, data: st.DataObject) -> None:
        target = ACTIVE if on else SHUTOFF
        servers = draw_servers(data, [s for s in SERVERS if self.model.status[s] != target])
        job = self.expect(self.model.power(servers, on), lambda: self.live.power(servers, on))
        if job is not None:
            kind = "Start" if on else "Stop"
            assert_job(job, f"batch{kind}Servers", f"{kind.lower()}Server", self.live.real(servers))

    def _batch(self, attach: bool, disk: str, servers: list[str]) -> None:
        live = self.live
        if attach:
            rejection = self.model.batch_attach(disk, servers)
            call, job_type, sub_type = sdk.batch_attach, "batchAttachVolumes", "attachVolume"
        else:
            rejection = self.model.batch_detach(disk, servers)
            call, job_type, sub_type = sdk.batch_detach, "batchDetachVolumes", "detachVolume"
        job = self.expect(rejection, lambda: call(live.ecs, live.ids[disk], live.real(servers)))
        if job is not None:
            assert_job(job, job_type, sub_type, live.real(servers))

    def _attach(self, server: str, disk: str, device: str | None) -> None:
        live = self.live
        job = self.expect(
            self.model.attach(server, disk, device),
            lambda: sdk.attach(live.ecs, live.ids[server], live.ids[disk], device),
        )
        if job is not None:
            assert_job(job, "attachVolume")

    def _detach(self, server: str, disk: str, force: bool) -> None:
        live = self.live
        flag = "1" if force else None
        job = self.expect(
            self.model.detach(server, disk, force),
            lambda: sdk.detach(live.ecs, live.ids[server], live.ids[disk], flag),
        )
        if job is not None:
            assert_job(job, "detachVolume")

    @invariant()
    def disks_match_model(self) -> None:
        for disk in VOLUMES:
            volume = sdk.show_volume(self.live.evs, self.live.ids[disk])
            holders = sorted(self.live.name(a.server_id) for a in volume.attachments)
            expected = self.holders(disk)
            status = "in-use" if expected else "available"
            assert (disk, holders, volume.status) == (disk, expected, status)
            assert volume.multiattach is self.model.shared(disk)

    @invariant()
    def servers_match_model(self) -> None:
        for server in SERVERS:
            assert (server, self.live.disks_of(server)) == (server, self.model.disks_of(server))
            assert (server, self.live.server_status(server)) == (server, self.model.status[server])

    def teardown(self) -> None:
        self.live.restore_canonical()


def test_attachment_rules_match_the_model(
    ecs: sdk.EcsClient, evs: sdk.EvsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every example makes dozens of real API calls, so shrinking a failure can take the full
    # five minutes Hypothesis allows (twice, with both stores). One minute brings the usual
    # failure down to a few steps. (A private constant: if a Hypothesis upgrade renames it,
    # this setattr does nothing and the default applies.)
    monkeypatch.setattr(hypothesis_engine, "MAX_SHRINKING_SECONDS", 60, raising=False)
    run_state_machine_as_test(
        AttachmentRules.bound(Live.create(ecs, evs)),
        settings=settings(
            max_examples=20,
            stateful_step_count=12,
            deadline=None,
            # No explain phase: its line tracing makes every shrinking step several times slower.
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
