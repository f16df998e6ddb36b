"""The data plane: what actually puts a disk on a server. Control-plane code calls only base.Driver."""
