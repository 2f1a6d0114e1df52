"""Image sources to model-ready pixels: resolve a src safely, read and hash its bytes, decode, resize."""
