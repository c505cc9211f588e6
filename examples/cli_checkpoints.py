"""Checkpoints for the example scripts: the options, and on Ctrl-C the command that resumes.

A script adds the options to its parser and, after parsing, asks for the folder::

    import cli_checkpoints

    cli_checkpoints.add_arguments(parser)
    args = parser.parse_args(argv)
    folder = cli_checkpoints.folder(parser, args)   # None: no checkpoints
    trainer = Trainer(..., checkpoint_dir=folder, checkpoint_steps=args.checkpoint_steps,
                      resume=args.resume)
    try:
        trainer.train()
    except KeyboardInterrupt:
        raise cli_checkpoints.interrupted(trainer) from None

``--checkpoint-dir DIR`` saves a checkpoint after every epoch (and every
``--checkpoint-steps N`` steps) to ``DIR/checkpoint.npz``; ``--resume DIR`` continues from
the one there (and goes on saving there), ``--resume FILE`` from that file. Ctrl-C saves one
at the current step, and :mod:`cli_errors` prints where the run stopped and the exact
command that resumes it, then exits with status 130.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from typing import Any

__all__ = ["add_arguments", "folder", "interrupted", "resume_command"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint-dir", default=None, metavar="DIR", help="save a checkpoint each epoch here"
    )
    p.add_argument(
        "--checkpoint-steps", type=int, default=None, metavar="N",
        help="also save one every N steps: a crash then loses at most N steps",
    )  # fmt: skip
    p.add_argument(
        "--resume", default=None, metavar="DIR",
        help="continue from the checkpoint in DIR (or the checkpoint file DIR), saving there",
    )  # fmt: skip


def folder(p: argparse.ArgumentParser, args: argparse.Namespace) -> str | None:
    """Where checkpoints go: ``--checkpoint-dir``, else the folder ``--resume`` names; a
    usage error for ``--checkpoint-steps`` with neither or below 1."""
    where = args.checkpoint_dir
    if where is None and args.resume is not None and os.path.isdir(args.resume):
        where = args.resume
    if args.checkpoint_steps is not None:
        if args.checkpoint_steps < 1:
            p.error(f"--checkpoint-steps must be positive, got {args.checkpoint_steps}")
        if where is None:
            p.error("--checkpoint-steps needs --checkpoint-dir (or --resume DIR): where to save")
    return where


def _python() -> str:
    """``python`` when that is this interpreter on ``PATH``, else this interpreter's path."""
    found = shutil.which("python")
    same = found is not None and os.path.realpath(found) == os.path.realpath(sys.executable)
    return "python" if same else sys.executable


def resume_command(where: str, argv: list[str] | None = None) -> str:
    """This script's command line (``argv``: its arguments, default ``sys.argv[1:]``) with
    ``--resume where`` in place of any ``--resume`` it had."""
    args = list(sys.argv[1:] if argv is None else argv)
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--resume":
            skip = True
        elif not arg.startswith("--resume="):
            kept.append(arg)
    return shlex.join([_python(), sys.argv[0], *kept, "--resume", where])


def interrupted(trainer: Any, argv: list[str] | None = None) -> KeyboardInterrupt:
    """The ``KeyboardInterrupt`` to raise when Ctrl-C stopped ``trainer.train()``: it says
    where the run stopped and, when it saves checkpoints (the Trainer saved one there), the
    command that resumes it."""
    where = (
        f"after {trainer.current_iter} steps (epoch {trainer.current_epoch + 1}, step "
        f"{trainer.epoch_step})"
    )
    if trainer.checkpoint_dir is None:
        return KeyboardInterrupt(f"{where}; nothing saved (no --checkpoint-dir)")
    command = resume_command(trainer.checkpoint_dir, argv)
    return KeyboardInterrupt(
        f"{where}; checkpoint in {trainer.checkpoint_dir}; resume with: {command}"
    )
