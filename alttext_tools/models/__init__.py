"""Which vision models exist and where their files are: presets, Hub downloads, slots, GGUF checks."""
