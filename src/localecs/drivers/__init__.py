"""The data plane: what actually puts a disk on a server, behind base.Driver."""
