"""Gradient training of the same MLP that evolution evolves: data-parallel supervised
learning (SGD, Adam, local SGD) and policy gradient, on the same backends."""
