"""The kind-agnostic training loop (`loop.run`) and what it keeps in a workdir (`run_config`)."""
