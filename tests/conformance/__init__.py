"""Real clients nobody here wrote, run unchanged against the emulator."""
