"""Where events come from: the simulator, file replay, adapters for real systems."""
