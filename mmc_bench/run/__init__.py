"""Running one experiment: the Hydra app, the runner, the training engine and what they write."""
