"""Evaluation: perplexity on any text or chat file, exact-match and multiple-choice accuracy on
question files, and the results of a run per checkpoint (eval.jsonl in the run folder)."""
