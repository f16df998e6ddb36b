"""Domain rules of ECS/EVS: pure functions over plain values, no I/O."""
