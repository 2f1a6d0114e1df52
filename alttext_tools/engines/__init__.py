"""Where vision models run: llama.cpp in process (`llama`), an OpenAI-compatible server (`openai`)."""
