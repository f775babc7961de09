"""Stage grpo: reinforcement learning with verifiable rewards (group relative policy
optimization). rollout.py samples, rewards.py scores, objective.py is the loss, step.py puts
them in the training loop."""
