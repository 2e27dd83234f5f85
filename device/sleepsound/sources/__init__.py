"""Where samples come from: sound files and generators, as endless float32 block streams."""
