"""Everything torch.distributed: process groups, parallelisation (FSDP2, DDP, activation checkpointing,
compile) applied from outside the model, and DCP checkpoints."""
