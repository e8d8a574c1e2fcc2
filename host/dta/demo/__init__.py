"""The main job: a whole D-TA fleet on one machine, on embedded defaults."""
