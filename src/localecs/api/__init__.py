"""The HTTP surface: Huawei's paths and JSON, translated to and from the services."""
