"""Look inside a model: attention, embeddings, tokens, projections."""
