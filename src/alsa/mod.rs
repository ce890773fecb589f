//! The private ALSA sequencer client and its thread.
