"""localecs: a self-hosted service that speaks the Huawei Cloud ECS/EVS APIs."""

__version__ = "0.1.0"
