"""macOS-only pieces behind small interfaces, each with a Linux twin and a null fallback."""
