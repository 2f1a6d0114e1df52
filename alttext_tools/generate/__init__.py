"""Alt text from vision models: routing, prompts, the engine calls, cleaning the answers."""
