"""The Inspect page: attention, embeddings, tokenizer views."""
