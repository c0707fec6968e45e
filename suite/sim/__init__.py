"""The calibrated simulator: the world, its answer texts, the profile fit."""
