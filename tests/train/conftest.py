from train_testlib import make_config, write_config  # noqa: F401  (fixtures shared with tests/distributed)
