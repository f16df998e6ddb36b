"""Authentication of incoming API requests (Huawei Cloud AK/SK request signing)."""
