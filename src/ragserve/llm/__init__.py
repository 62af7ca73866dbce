"""Chat models: any OpenAI-compatible server, or the embedded llama.cpp server."""
