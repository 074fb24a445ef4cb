"""The Hydra config tree, shipped in the wheel as genlab.conf."""
