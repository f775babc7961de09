"""The training loop and what it needs: batching, loss, optimizer, checkpoints."""
