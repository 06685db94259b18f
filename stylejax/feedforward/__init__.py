"""Feed-forward style networks: training data, the training loop, inference."""
