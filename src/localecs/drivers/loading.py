"""Choosing the driver: the simulated one, or a factory named by its import path."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from sqlalchemy import Engine

from localecs.drivers.base import Driver
from localecs.drivers.simulated import SimulatedDriver

SIMULATED = "simulated"


class DriverLoadError(Exception):
    pass


def load_driver(spec: str, engine: Engine, latency: float | Callable[[], float]) -> Driver:
    """`simulated`, or `package.module:factory` where `factory()` returns a Driver.

    A factory takes no arguments: a real data plane reads its own configuration (endpoints,
    credentials) from its environment, which keeps its secrets out of localecs's settings.
    """
    if spec == SIMULATED:
        return SimulatedDriver(engine, latency=latency)
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise DriverLoadError(f"--driver must be 'simulated' or 'module:factory', not {spec!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise DriverLoadError(f"cannot load driver {spec!r}: {error}") from error
    driver: Driver = factory()
    return driver
