"""Training, validation and prediction loops."""
