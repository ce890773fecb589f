//! The engine seam: what the ALSA sequencer backend offers to the layers above it.
